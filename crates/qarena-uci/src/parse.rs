//! Reading engine output, one line at a time.
//!
//! Tokens are whitespace-separated, but three fields keep the original
//! spacing of the line because their values may contain spaces: `id name`,
//! `id author`, `info string` (rest of the line), and the `name`/`default`/
//! `var` values of `option`. For that the tokenizer keeps each token's byte
//! offset.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An evaluation from the side to move's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Score {
    /// Centipawns.
    Cp(i32),
    /// Mate in N moves; negative when the side to move is getting mated.
    Mate(i32),
}

/// Whether the score is exact or only a bound from an aspiration window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bound {
    #[default]
    Exact,
    Lower,
    Upper,
}

/// One `info` line. Fields the engine did not print are `None`/empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    pub depth: Option<u32>,
    pub seldepth: Option<u32>,
    pub multipv: Option<u32>,
    pub score: Option<Score>,
    pub bound: Bound,
    /// Win/draw/loss per mille (Stockfish with `UCI_ShowWDL`).
    pub wdl: Option<(u32, u32, u32)>,
    pub nodes: Option<u64>,
    pub nps: Option<u64>,
    pub time_ms: Option<u64>,
    /// Hash table fill, per mille.
    pub hashfull: Option<u32>,
    pub tbhits: Option<u64>,
    pub pv: Vec<String>,
    pub currmove: Option<String>,
    /// `info string …`: the rest of the line, spacing preserved.
    pub string: Option<String>,
}

/// One `option` declaration from the `uci` handshake.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UciOption {
    /// May contain spaces (`Clear Hash`).
    pub name: String,
    /// `check`, `spin`, `combo`, `button` or `string`, as printed.
    pub kind: String,
    /// As printed; `Some("")` when `default` is followed by nothing.
    pub default: Option<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// The choices of a `combo`.
    pub vars: Vec<String>,
}

/// What one line of engine output means.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    IdName(String),
    IdAuthor(String),
    UciOk,
    ReadyOk,
    Option(UciOption),
    /// `bestmove e2e4 ponder c7c5`; see [`is_null_move`] for `(none)`/`0000`.
    BestMove {
        mv: String,
        ponder: Option<String>,
    },
    Info(Info),
    /// Anything else (banners, blank lines, garbage), kept verbatim.
    Unknown(String),
}

/// `true` for the spellings engines use for "no move" (mated or stalemated).
pub fn is_null_move(mv: &str) -> bool {
    let mv = mv.trim();
    mv == "0000" || mv.eq_ignore_ascii_case("(none)") || mv.eq_ignore_ascii_case("none")
}

/// A line split into tokens, each with its byte offset in the line.
struct Tokens<'a> {
    line: &'a str,
    tokens: Vec<(usize, &'a str)>,
}

impl<'a> Tokens<'a> {
    fn new(line: &'a str) -> Self {
        let mut tokens = Vec::new();
        let mut start = None;
        for (at, c) in line.char_indices() {
            match (c.is_whitespace(), start) {
                (true, Some(s)) => {
                    tokens.push((s, &line[s..at]));
                    start = None;
                }
                (false, None) => start = Some(at),
                _ => {}
            }
        }
        if let Some(s) = start {
            tokens.push((s, &line[s..]));
        }
        Tokens { line, tokens }
    }

    fn len(&self) -> usize {
        self.tokens.len()
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        self.tokens.get(i).map(|&(_, t)| t)
    }

    fn parse<T: FromStr>(&self, i: usize) -> Option<T> {
        self.get(i)?.parse().ok()
    }

    /// The original text of tokens `from..to`, inner spacing kept; `""` if empty.
    fn span(&self, from: usize, to: usize) -> &'a str {
        if from >= to {
            return "";
        }
        match (self.tokens.get(from), self.tokens.get(to - 1)) {
            (Some(&(start, _)), Some(&(last, token))) => &self.line[start..last + token.len()],
            _ => "",
        }
    }

    /// The original text from token `from` to the end of the line.
    fn rest(&self, from: usize) -> &'a str {
        self.span(from, self.len())
    }
}

/// Read one line of UCI engine output. Never fails: see [`Message::Unknown`].
pub fn parse_line(line: &str) -> Message {
    let line = line.trim_end_matches(['\n', '\r']);
    let tokens = Tokens::new(line);
    let unknown = || Message::Unknown(line.to_owned());
    match tokens.get(0) {
        Some("id") => match tokens.get(1) {
            Some("name") => Message::IdName(tokens.rest(2).to_owned()),
            Some("author") => Message::IdAuthor(tokens.rest(2).to_owned()),
            _ => unknown(),
        },
        Some("uciok") => Message::UciOk,
        Some("readyok") => Message::ReadyOk,
        Some("bestmove") => match tokens.get(1) {
            Some(mv) => Message::BestMove {
                mv: mv.to_owned(),
                ponder: match tokens.get(2) {
                    Some("ponder") => tokens.get(3).map(str::to_owned),
                    _ => None,
                },
            },
            None => unknown(),
        },
        Some("option") => parse_option(&tokens).map_or_else(unknown, Message::Option),
        Some("info") => Message::Info(parse_info(&tokens)),
        _ => unknown(),
    }
}

/// Every word that starts a field of an `info` line.
const INFO_KEYWORDS: &[&str] = &[
    "depth",
    "seldepth",
    "time",
    "nodes",
    "pv",
    "multipv",
    "score",
    "cp",
    "mate",
    "lowerbound",
    "upperbound",
    "wdl",
    "currmove",
    "currmovenumber",
    "hashfull",
    "nps",
    "tbhits",
    "sbhits",
    "cpuload",
    "string",
    "refutation",
    "currline",
];

fn parse_info(tokens: &Tokens<'_>) -> Info {
    let mut info = Info::default();
    let is_keyword = |i: usize| tokens.get(i).is_some_and(|t| INFO_KEYWORDS.contains(&t));
    // Index of the first keyword at or after `i` (or the end of the line).
    let next_keyword = |mut i: usize| {
        while i < tokens.len() && !is_keyword(i) {
            i += 1;
        }
        i
    };
    let mut i = 1;
    while let Some(key) = tokens.get(i) {
        // For a numeric field, a value that does not parse is left unconsumed:
        // it may be the next keyword of a line with a missing value.
        macro_rules! number {
            ($field:expr) => {{
                $field = tokens.parse(i + 1);
                i += if $field.is_some() { 2 } else { 1 };
            }};
        }
        match key {
            "depth" => number!(info.depth),
            "seldepth" => number!(info.seldepth),
            "multipv" => number!(info.multipv),
            "nodes" => number!(info.nodes),
            "nps" => number!(info.nps),
            "time" => number!(info.time_ms),
            "hashfull" => number!(info.hashfull),
            "tbhits" => number!(info.tbhits),
            "score" => {
                let value = tokens.parse::<i32>(i + 2);
                info.score = match (tokens.get(i + 1), value) {
                    (Some("cp"), Some(v)) => Some(Score::Cp(v)),
                    (Some("mate"), Some(v)) => Some(Score::Mate(v)),
                    _ => None,
                };
                i += if info.score.is_some() { 3 } else { 1 };
            }
            "lowerbound" => {
                info.bound = Bound::Lower;
                i += 1;
            }
            "upperbound" => {
                info.bound = Bound::Upper;
                i += 1;
            }
            "wdl" => {
                let w = tokens.parse(i + 1);
                let d = tokens.parse(i + 2);
                let l = tokens.parse(i + 3);
                info.wdl = w.zip(d).zip(l).map(|((w, d), l)| (w, d, l));
                i += if info.wdl.is_some() { 4 } else { 1 };
            }
            "pv" => {
                let end = next_keyword(i + 1);
                info.pv = (i + 1..end)
                    .filter_map(|j| tokens.get(j))
                    .map(str::to_owned)
                    .collect();
                i = end;
            }
            "currmove" => {
                info.currmove = tokens
                    .get(i + 1)
                    .filter(|_| !is_keyword(i + 1))
                    .map(str::to_owned);
                i += if info.currmove.is_some() { 2 } else { 1 };
            }
            "string" => {
                info.string = Some(tokens.rest(i + 1).to_owned());
                break;
            }
            // Variable-length fields we do not keep.
            "refutation" | "currline" => i = next_keyword(i + 1),
            _ => i += 1,
        }
    }
    info
}

/// Words that start a field of an `option` line.
const OPTION_KEYWORDS: &[&str] = &["name", "type", "default", "min", "max", "var"];

fn parse_option(tokens: &Tokens<'_>) -> Option<UciOption> {
    // Split the line into (keyword, first value token, end) sections. Inside
    // the name only `type` ends it, so names may contain words like "max".
    let mut sections: Vec<(&str, usize, usize)> = Vec::new();
    let mut open: Option<(&str, usize)> = None;
    for j in 1..tokens.len() {
        let Some(word) = tokens.get(j) else { break };
        let ends_section = match open {
            Some(("name", _)) => word == "type",
            _ => OPTION_KEYWORDS.contains(&word),
        };
        if ends_section {
            if let Some((key, start)) = open {
                sections.push((key, start, j));
            }
            open = Some((word, j + 1));
        }
    }
    if let Some((key, start)) = open {
        sections.push((key, start, tokens.len()));
    }

    let mut option = UciOption::default();
    let mut has_type = false;
    for (key, start, end) in sections {
        let value = tokens.span(start, end);
        match key {
            "name" => option.name = value.to_owned(),
            "type" => {
                option.kind = value.to_owned();
                has_type = true;
            }
            "default" => option.default = Some(value.to_owned()),
            "min" => option.min = value.parse().ok(),
            "max" => option.max = value.parse().ok(),
            "var" => option.vars.push(value.to_owned()),
            _ => {}
        }
    }
    (!option.name.is_empty() && has_type && !option.kind.is_empty()).then_some(option)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(line: &str) -> UciOption {
        match parse_line(line) {
            Message::Option(o) => o,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    fn info(line: &str) -> Info {
        match parse_line(line) {
            Message::Info(i) => i,
            other => panic!("{line:?} parsed as {other:?}"),
        }
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn handshake_lines_from_stockfish_15_1() {
        assert_eq!(
            parse_line("id name Stockfish 15.1"),
            Message::IdName("Stockfish 15.1".into())
        );
        assert_eq!(
            parse_line("id author the Stockfish developers (see AUTHORS file)\r\n"),
            Message::IdAuthor("the Stockfish developers (see AUTHORS file)".into())
        );
        assert_eq!(parse_line("uciok"), Message::UciOk);
        assert_eq!(parse_line("readyok\r"), Message::ReadyOk);
        let banner = "Stockfish 15.1 by the Stockfish developers (see AUTHORS file)";
        assert_eq!(parse_line(banner), Message::Unknown(banner.into()));
        assert_eq!(parse_line(""), Message::Unknown(String::new()));
    }

    #[test]
    fn options_from_stockfish_15_1() {
        assert_eq!(
            option("option name Hash type spin default 16 min 1 max 33554432"),
            UciOption {
                name: "Hash".into(),
                kind: "spin".into(),
                default: Some("16".into()),
                min: Some(1),
                max: Some(33554432),
                vars: vec![],
            }
        );
        let clear = option("option name Clear Hash type button");
        assert_eq!(
            (clear.name.as_str(), clear.kind.as_str()),
            ("Clear Hash", "button")
        );
        assert_eq!(clear.default, None);
        let log = option("option name Debug Log File type string default ");
        assert_eq!(log.name, "Debug Log File");
        assert_eq!(log.default.as_deref(), Some(""));
        let syzygy = option("option name SyzygyPath type string default <empty>");
        assert_eq!(syzygy.default.as_deref(), Some("<empty>"));
        let nnue = option("option name Use NNUE type check default true");
        assert_eq!(
            (nnue.name.as_str(), nnue.default.as_deref()),
            ("Use NNUE", Some("true"))
        );
        let elo = option("option name UCI_Elo type spin default 1350 min 1350 max 2850");
        assert_eq!((elo.min, elo.max), (Some(1350), Some(2850)));
        let eval = option("option name EvalFile type string default nn-ad9b42354671.nnue");
        assert_eq!(eval.default.as_deref(), Some("nn-ad9b42354671.nnue"));
    }

    #[test]
    fn combo_options_and_names_with_keywords() {
        let combo = option(
            "option name Style type combo default Normal var Solid var Normal var Risky Play",
        );
        assert_eq!(combo.vars, strings(&["Solid", "Normal", "Risky Play"]));
        assert_eq!(combo.default.as_deref(), Some("Normal"));
        let odd = option("option name Max  Depth type spin default 5 min -3 max x");
        assert_eq!(odd.name, "Max  Depth");
        assert_eq!((odd.min, odd.max), (Some(-3), None));
    }

    #[test]
    fn malformed_options_are_unknown() {
        for line in [
            "option",
            "option name type spin",
            "option name Hash",
            "option type spin",
        ] {
            assert_eq!(parse_line(line), Message::Unknown(line.into()), "{line:?}");
        }
    }

    #[test]
    fn bestmove_lines() {
        assert_eq!(
            parse_line("bestmove e2e4 ponder c7c5"),
            Message::BestMove {
                mv: "e2e4".into(),
                ponder: Some("c7c5".into())
            }
        );
        assert_eq!(
            parse_line("bestmove a1a8"),
            Message::BestMove {
                mv: "a1a8".into(),
                ponder: None
            }
        );
        assert_eq!(
            parse_line("bestmove (none)"),
            Message::BestMove {
                mv: "(none)".into(),
                ponder: None
            }
        );
        assert_eq!(
            parse_line("bestmove e7e8q ponder"),
            Message::BestMove {
                mv: "e7e8q".into(),
                ponder: None
            }
        );
        assert_eq!(parse_line("bestmove"), Message::Unknown("bestmove".into()));
    }

    #[test]
    fn null_moves() {
        for null in ["(none)", "0000", "none", "NONE", " (none) "] {
            assert!(is_null_move(null), "{null:?}");
        }
        for mv in ["e2e4", "", "a1a8", "00000"] {
            assert!(!is_null_move(mv), "{mv:?}");
        }
    }

    #[test]
    fn info_lines_from_stockfish_15_1() {
        let line = "info depth 7 seldepth 7 multipv 1 score cp 34 nodes 2000 nps 285714 hashfull 0 tbhits 0 time 7 pv e2e4 c7c5 g1f3 b8c6 c2c3";
        assert_eq!(
            info(line),
            Info {
                depth: Some(7),
                seldepth: Some(7),
                multipv: Some(1),
                score: Some(Score::Cp(34)),
                bound: Bound::Exact,
                wdl: None,
                nodes: Some(2000),
                nps: Some(285714),
                time_ms: Some(7),
                hashfull: Some(0),
                tbhits: Some(0),
                pv: strings(&["e2e4", "c7c5", "g1f3", "b8c6", "c2c3"]),
                currmove: None,
                string: None,
            }
        );
        let mate = info("info depth 1 seldepth 1 multipv 1 score mate 1 nodes 39 nps 19500 hashfull 0 tbhits 0 time 2 pv a1a8");
        assert_eq!(mate.score, Some(Score::Mate(1)));
        let second = info("info depth 4 seldepth 4 multipv 2 score cp 658 nodes 213 nps 106500 hashfull 0 tbhits 0 time 2 pv g1h1 g8f8 a1g1");
        assert_eq!(second.multipv, Some(2));
        assert_eq!(second.pv.len(), 3);
        let wdl = info("info depth 6 seldepth 6 multipv 1 score cp -26 wdl 2 965 33 nodes 548 nps 182666 hashfull 0 tbhits 0 time 3 pv c7c5 g1f3 e7e6 d2d4 c5d4");
        assert_eq!(wdl.score, Some(Score::Cp(-26)));
        assert_eq!(wdl.wdl, Some((2, 965, 33)));
        assert_eq!(wdl.pv.last().map(String::as_str), Some("c5d4"));
        let stalemate = info("info depth 0 score cp 0");
        assert_eq!(
            (stalemate.depth, stalemate.score),
            (Some(0), Some(Score::Cp(0)))
        );
        let current = info("info depth 25 currmove d7d6 currmovenumber 2");
        assert_eq!(current.currmove.as_deref(), Some("d7d6"));
        assert_eq!(current.depth, Some(25));
    }

    #[test]
    fn bounds_and_negative_mates() {
        let lower =
            info("info depth 20 seldepth 28 multipv 1 score cp 35 lowerbound nodes 10 pv e2e4");
        assert_eq!(
            (lower.score, lower.bound),
            (Some(Score::Cp(35)), Bound::Lower)
        );
        let upper = info("info depth 20 score mate -3 upperbound pv g8h8");
        assert_eq!(
            (upper.score, upper.bound),
            (Some(Score::Mate(-3)), Bound::Upper)
        );
    }

    #[test]
    fn info_string_keeps_the_rest_of_the_line() {
        let line = "info string NNUE evaluation using nn-ad9b42354671.nnue enabled";
        assert_eq!(
            info(line).string.as_deref(),
            Some("NNUE evaluation using nn-ad9b42354671.nnue enabled")
        );
        let spaced = info("info depth 3 string  two  spaces  depth 9 \r");
        assert_eq!(spaced.string.as_deref(), Some("two  spaces  depth 9"));
        assert_eq!(spaced.depth, Some(3));
        assert_eq!(info("info string").string.as_deref(), Some(""));
    }

    #[test]
    fn tolerant_info_parsing() {
        // Unknown fields are skipped, bad values leave their field empty
        // without swallowing the next keyword.
        let odd = info("info depth x nodes 5 sbhits 3 cpuload 500 frobnicate 7 score cp nodes 9 refutation d1h5 g6h5 time 4");
        assert_eq!(odd.depth, None);
        assert_eq!(odd.nodes, Some(9));
        assert_eq!(odd.score, None);
        assert_eq!(odd.time_ms, Some(4));
        let overflow = info("info depth 99999999999 score cp 99999999999 nps -1 wdl 1 2");
        assert_eq!(
            (overflow.depth, overflow.score, overflow.nps, overflow.wdl),
            (None, None, None, None)
        );
        assert_eq!(info("info"), Info::default());
        assert_eq!(info("info currmove").currmove, None);
        assert_eq!(info("info currmove depth 3").depth, Some(3));
    }
}
