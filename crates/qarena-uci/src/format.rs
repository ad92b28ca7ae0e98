//! Commands we send to a UCI engine, one line each, without the newline.

use serde::{Deserialize, Serialize};

/// How long the engine may search one move.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GoLimit {
    /// `go nodes N`: deterministic for a single-threaded engine.
    Nodes(u64),
    /// `go depth N`.
    Depth(u32),
    /// `go movetime MS`.
    MoveTime(u64),
    /// `go wtime … btime … winc … binc … [movestogo N]`, all in milliseconds.
    Clock {
        wtime_ms: u64,
        btime_ms: u64,
        winc_ms: u64,
        binc_ms: u64,
        movestogo: Option<u32>,
    },
}

/// `go nodes 1000`, `go wtime 60000 btime 60000 winc 1000 binc 1000`, …
pub fn format_go(limit: &GoLimit) -> String {
    match *limit {
        GoLimit::Nodes(n) => format!("go nodes {n}"),
        GoLimit::Depth(d) => format!("go depth {d}"),
        GoLimit::MoveTime(ms) => format!("go movetime {ms}"),
        GoLimit::Clock {
            wtime_ms,
            btime_ms,
            winc_ms,
            binc_ms,
            movestogo,
        } => {
            let mut line =
                format!("go wtime {wtime_ms} btime {btime_ms} winc {winc_ms} binc {binc_ms}");
            if let Some(n) = movestogo {
                line.push_str(&format!(" movestogo {n}"));
            }
            line
        }
    }
}

/// `position startpos [moves …]` or `position fen <fen> [moves …]`.
/// No ` moves` suffix when there are none: some engines reject an empty list.
pub fn format_position(fen: Option<&str>, moves: &[String]) -> String {
    let mut line = match fen.map(one_line).filter(|f| !f.is_empty()) {
        Some(fen) => format!("position fen {fen}"),
        None => "position startpos".to_owned(),
    };
    let moves: Vec<String> = moves
        .iter()
        .map(|m| one_line(m))
        .filter(|m| !m.is_empty())
        .collect();
    if !moves.is_empty() {
        line.push_str(" moves ");
        line.push_str(&moves.join(" "));
    }
    line
}

/// `setoption name Hash value 16`, or `setoption name Clear Hash` for a button.
pub fn format_setoption(name: &str, value: Option<&str>) -> String {
    let mut line = format!("setoption name {}", one_line(name));
    if let Some(value) = value {
        line.push_str(" value ");
        line.push_str(&one_line(value));
    }
    line
}

/// Remove what cannot travel inside one UCI command: a newline would end the
/// command and start another, other control characters confuse tokenisers.
/// Ordinary spaces are kept (file paths and option names may contain them).
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_limits() {
        assert_eq!(format_go(&GoLimit::Nodes(2000)), "go nodes 2000");
        assert_eq!(format_go(&GoLimit::Depth(12)), "go depth 12");
        assert_eq!(format_go(&GoLimit::MoveTime(250)), "go movetime 250");
        let clock = GoLimit::Clock {
            wtime_ms: 60_000,
            btime_ms: 59_500,
            winc_ms: 1000,
            binc_ms: 1000,
            movestogo: None,
        };
        assert_eq!(
            format_go(&clock),
            "go wtime 60000 btime 59500 winc 1000 binc 1000"
        );
        let with_mtg = GoLimit::Clock {
            wtime_ms: 1,
            btime_ms: 2,
            winc_ms: 0,
            binc_ms: 0,
            movestogo: Some(40),
        };
        assert_eq!(
            format_go(&with_mtg),
            "go wtime 1 btime 2 winc 0 binc 0 movestogo 40"
        );
    }

    fn moves(list: &[&str]) -> Vec<String> {
        list.iter().map(|m| m.to_string()).collect()
    }

    #[test]
    fn positions() {
        assert_eq!(format_position(None, &[]), "position startpos");
        assert_eq!(
            format_position(None, &moves(&["e2e4", "e7e5"])),
            "position startpos moves e2e4 e7e5"
        );
        let fen = "6k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1";
        assert_eq!(
            format_position(Some(fen), &[]),
            format!("position fen {fen}")
        );
        assert_eq!(
            format_position(Some(fen), &moves(&["a1a8"])),
            format!("position fen {fen} moves a1a8")
        );
    }

    #[test]
    fn positions_cannot_inject_commands() {
        assert_eq!(
            format_position(None, &moves(&["e2e4\nquit", "", " "])),
            "position startpos moves e2e4 quit"
        );
        assert_eq!(format_position(Some(" \n"), &[]), "position startpos");
    }

    #[test]
    fn setoptions() {
        assert_eq!(
            format_setoption("Hash", Some("16")),
            "setoption name Hash value 16"
        );
        assert_eq!(
            format_setoption("Clear Hash", None),
            "setoption name Clear Hash"
        );
        assert_eq!(
            format_setoption("EvalFile", Some("nets/my variant ft6.nnue")),
            "setoption name EvalFile value nets/my variant ft6.nnue"
        );
        assert_eq!(
            format_setoption("Hash\r\n", Some("16\nquit")),
            "setoption name Hash value 16 quit"
        );
    }
}
