//! KataGo's `kata-genmove_analyze` reply: the engine's own evaluation at move
//! time (the *self-eval*), followed by the move it played.
//!
//! The reply is one or more report lines, then `play <move>`. A report line is
//! a flat token stream: entries `info move V key value … pv V…` (optionally
//! followed by `pvVisits`/`pvEdgeVisits` counts and `movesOwnership` maps),
//! then optional `rootInfo key value …`, `ownership <floats>` and
//! `ownershipStdev <floats>` sections. Only the last report counts: it is the
//! state of the search when the move was chosen.
//!
//! Parsing is tolerant by design, because the move matters more than the
//! statistics: keys may come in any order, unknown keys are skipped, a value
//! that does not parse leaves its field `None`, and an entry with no `move`
//! is dropped. Only a missing or malformed `play` line is an error.
//! Values are KataGo's: winrate and lcb in 0..1, scores in points, all from
//! the side to move (unless the engine was configured otherwise).

use serde::{Deserialize, Serialize};

use crate::error::{snippet, ParseError};
use crate::results::{is_vertex, parse_genmove};

/// One candidate move of a KataGo report (`info move …`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    /// Normalised vertex or `pass`.
    pub mv: String,
    pub visits: Option<u64>,
    pub edge_visits: Option<u64>,
    pub winrate: Option<f64>,
    pub score_lead: Option<f64>,
    /// KataGo prints the lead here too (legacy behaviour), so it usually
    /// equals `score_lead`.
    pub score_mean: Option<f64>,
    pub score_stdev: Option<f64>,
    pub prior: Option<f64>,
    pub lcb: Option<f64>,
    pub utility: Option<f64>,
    /// Rank in KataGo's preference; 0 is the move it would play.
    pub order: Option<u32>,
    /// Set when root symmetry pruning lists this move as a mirror of another;
    /// its statistics are then *copies* of that move's.
    pub is_symmetry_of: Option<String>,
    /// Principal variation, starting with `mv`.
    pub pv: Vec<String>,
}

/// The `rootInfo` section: statistics of the whole search tree.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RootInfo {
    pub visits: Option<u64>,
    pub winrate: Option<f64>,
    pub score_lead: Option<f64>,
    pub utility: Option<f64>,
}

/// The parsed reply of `kata-genmove_analyze`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GenmoveAnalyze {
    /// Candidates of the last report, in the order printed (by `order`).
    pub candidates: Vec<Candidate>,
    /// Winrate of the played move's candidate, else of the `order 0` one
    /// (else the first); side to move, 0..1.
    pub root_winrate: Option<f64>,
    /// Score lead of the same candidate, in points for the side to move.
    pub root_score_lead: Option<f64>,
    /// Sum of candidate visits, not counting symmetry copies (whose visits
    /// duplicate another entry's). `None` if no candidate reports visits.
    /// The search's own total is `root_info.visits` when `rootInfo` was asked for.
    pub total_visits: Option<u64>,
    /// `rootInfo` of the last report, if the engine printed one.
    pub root_info: Option<RootInfo>,
    /// The move from the `play` line: vertex, `pass` or `resign`.
    pub mv: String,
}

/// Parse the text of a `kata-genmove_analyze` response.
pub fn parse_genmove_analyze(text: &str) -> Result<GenmoveAnalyze, ParseError> {
    let mut played = None;
    let mut report = Report::default();
    for line in text.lines() {
        let mut tokens = line.split_whitespace();
        match tokens.next() {
            None => {}
            Some("play") => {
                let rest = line.trim_start().strip_prefix("play").unwrap_or_default();
                played = Some(parse_genmove(rest).map_err(|_| ParseError::BadMove {
                    text: snippet(line.trim()),
                })?);
            }
            Some(_) => {
                let parsed = parse_report(line);
                if !parsed.candidates.is_empty() {
                    report = parsed;
                } else if report.root.is_none() {
                    // A rootInfo printed on a line of its own still belongs to
                    // the report before it.
                    report.root = parsed.root;
                }
            }
        }
    }
    let mv = played.ok_or_else(|| ParseError::MissingPlay {
        text: snippet(text),
    })?;

    let chosen = report
        .candidates
        .iter()
        .find(|c| c.mv.eq_ignore_ascii_case(&mv))
        .or_else(|| report.candidates.iter().find(|c| c.order == Some(0)))
        .or_else(|| report.candidates.first());
    let distinct = report
        .candidates
        .iter()
        .filter(|c| c.is_symmetry_of.is_none());
    let total_visits = distinct
        .filter_map(|c| c.visits)
        .fold(None, |sum: Option<u64>, v| {
            Some(sum.unwrap_or(0).saturating_add(v))
        });

    Ok(GenmoveAnalyze {
        root_winrate: chosen.and_then(|c| c.winrate),
        root_score_lead: chosen.and_then(|c| c.score_lead),
        total_visits,
        candidates: report.candidates,
        root_info: report.root,
        mv,
    })
}

#[derive(Debug, Default)]
struct Report {
    candidates: Vec<Candidate>,
    root: Option<RootInfo>,
}

/// Where in a report line the token stream currently is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Section {
    /// Before the first keyword.
    Start,
    /// Key/value pairs of the current `info` entry.
    Entry,
    /// Moves after `pv`, until the first token that is not a move.
    Pv,
    /// Key/value pairs after `rootInfo`.
    Root,
    /// Numbers of an array section (`ownership`, `pvVisits`, …) to ignore.
    Array,
}

/// Keywords that open a section whose payload is a run of numbers.
const ARRAY_KEYWORDS: &[&str] = &[
    "ownership",
    "ownershipStdev",
    "pvVisits",
    "pvEdgeVisits",
    "movesOwnership",
    "movesOwnershipStdev",
];

fn parse_report(line: &str) -> Report {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let mut report = Report::default();
    let mut current: Option<Candidate> = None;
    let mut section = Section::Start;
    let mut i = 0;
    while let Some(&token) = tokens.get(i) {
        match token {
            "info" => {
                finish(&mut report, current.take());
                current = Some(Candidate::default());
                section = Section::Entry;
                i += 1;
                continue;
            }
            "rootInfo" => {
                finish(&mut report, current.take());
                report.root.get_or_insert_with(RootInfo::default);
                section = Section::Root;
                i += 1;
                continue;
            }
            "pv" if current.is_some() => {
                section = Section::Pv;
                i += 1;
                continue;
            }
            _ if ARRAY_KEYWORDS.contains(&token) => {
                section = Section::Array;
                i += 1;
                continue;
            }
            _ => {}
        }
        match section {
            Section::Start => i += 1,
            Section::Pv => match (crate::results::normalize_move(token), &mut current) {
                (Some(mv), Some(candidate)) if mv != "resign" => {
                    candidate.pv.push(mv);
                    i += 1;
                }
                // Not a move: the PV is over and this token is a key again.
                _ => section = Section::Entry,
            },
            Section::Array => {
                if token.parse::<f64>().is_ok() {
                    i += 1;
                } else {
                    // An unknown keyword after the numbers: resume whatever
                    // section the array was attached to.
                    section = if current.is_some() {
                        Section::Entry
                    } else if report.root.is_some() {
                        Section::Root
                    } else {
                        Section::Start
                    };
                    if section == Section::Start {
                        i += 1;
                    }
                }
            }
            Section::Entry | Section::Root => {
                if !token.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    // A stray number (e.g. the tail of an unknown array): skip it.
                    i += 1;
                    continue;
                }
                let value = tokens.get(i + 1).copied();
                match (section, &mut current, &mut report.root) {
                    (Section::Entry, Some(candidate), _) => set_entry(candidate, token, value),
                    (Section::Root, _, Some(root)) => set_root(root, token, value),
                    _ => {}
                }
                i += if value.is_some() { 2 } else { 1 };
            }
        }
    }
    finish(&mut report, current);
    report
}

fn finish(report: &mut Report, candidate: Option<Candidate>) {
    if let Some(candidate) = candidate.filter(|c| !c.mv.is_empty()) {
        report.candidates.push(candidate);
    }
}

fn set_entry(candidate: &mut Candidate, key: &str, value: Option<&str>) {
    let Some(value) = value else { return };
    match key {
        "move" => {
            if let Some(mv) = crate::results::normalize_move(value) {
                candidate.mv = mv;
            }
        }
        "visits" => candidate.visits = count(value),
        "edgeVisits" => candidate.edge_visits = count(value),
        "winrate" => candidate.winrate = real(value),
        "scoreLead" => candidate.score_lead = real(value),
        "scoreMean" => candidate.score_mean = real(value),
        "scoreStdev" => candidate.score_stdev = real(value),
        "prior" => candidate.prior = real(value),
        "lcb" => candidate.lcb = real(value),
        "utility" => candidate.utility = real(value),
        "order" => candidate.order = count(value).and_then(|n| u32::try_from(n).ok()),
        "isSymmetryOf" if is_vertex(value) || value.eq_ignore_ascii_case("pass") => {
            candidate.is_symmetry_of = crate::results::normalize_move(value);
        }
        _ => {}
    }
}

fn set_root(root: &mut RootInfo, key: &str, value: Option<&str>) {
    let Some(value) = value else { return };
    match key {
        "visits" => root.visits = count(value),
        "winrate" => root.winrate = real(value),
        "scoreLead" => root.score_lead = real(value),
        "utility" => root.utility = real(value),
        _ => {}
    }
}

/// A finite float; KataGo can print `nan`/`inf` in degenerate searches, and
/// those must not reach statistics (or JSON, which cannot hold them).
fn real(value: &str) -> Option<f64> {
    value.parse::<f64>().ok().filter(|v| v.is_finite())
}

/// A non-negative whole number, also when printed with a decimal point
/// (`21.0`), as the Sabaki-compatible `analyze` variants do.
fn count(value: &str) -> Option<u64> {
    if let Ok(n) = value.parse::<u64>() {
        return Some(n);
    }
    let v = real(value)?;
    // The upper bound keeps the cast exact and in range.
    (v >= 0.0 && v.fract() == 0.0 && v < 9.0e15).then_some(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `kata-genmove_analyze b 10 rootInfo true maxmoves 3` reply of the
    /// recorded KataGo 1.17.2 session (g170-b6c96, 9×9, maxVisits 32).
    const TRANSCRIPT: &str = "info move D4 visits 21 edgeVisits 21 utility -0.031356 winrate 0.490267 scoreMean 0.265231 scoreStdev 13.4797 scoreLead 0.265231 scoreSelfplay -0.32873 prior 0.231364 lcb 0.445325 utilityLcb -0.157192 weight 21 order 0 pv D4 E2 C4 F7 G6 info move F3 visits 7 edgeVisits 7 utility -0.0366935 winrate 0.491256 scoreMean -0.116733 scoreStdev 12.9107 scoreLead -0.116733 scoreSelfplay -0.593437 prior 0.0995068 lcb 0.434197 utilityLcb -0.196457 weight 7 order 1 pv F3 D6 E6 info move C6 visits 7 edgeVisits 7 utility -0.0366935 winrate 0.491256 scoreMean -0.116733 scoreStdev 12.9107 scoreLead -0.116733 scoreSelfplay -0.593437 prior 0.0995068 lcb 0.434197 utilityLcb -0.196457 weight 7 isSymmetryOf F3 order 2 pv C6 F4 F5 rootInfo visits 32 utility -0.0464316 winrate 0.486439 scoreMean 0.120626 scoreStdev 13.3069 scoreLead 0.120626 scoreSelfplay -0.454493 weight 32 rawStWrError -1 rawStScoreError -1 rawVarTimeLeft -1\nplay D4";

    #[test]
    fn transcript_reply() {
        let got = parse_genmove_analyze(TRANSCRIPT).unwrap();
        assert_eq!(got.mv, "D4");
        assert_eq!(got.candidates.len(), 3);
        let d4 = &got.candidates[0];
        assert_eq!(
            d4,
            &Candidate {
                mv: "D4".into(),
                visits: Some(21),
                edge_visits: Some(21),
                winrate: Some(0.490267),
                score_lead: Some(0.265231),
                score_mean: Some(0.265231),
                score_stdev: Some(13.4797),
                prior: Some(0.231364),
                lcb: Some(0.445325),
                utility: Some(-0.031356),
                order: Some(0),
                is_symmetry_of: None,
                pv: vec!["D4", "E2", "C4", "F7", "G6"]
                    .into_iter()
                    .map(String::from)
                    .collect(),
            }
        );
        assert_eq!(got.candidates[1].mv, "F3");
        assert_eq!(got.candidates[1].pv, vec!["F3", "D6", "E6"]);
        assert_eq!(got.candidates[2].is_symmetry_of.as_deref(), Some("F3"));
        assert_eq!(got.candidates[2].order, Some(2));
        assert_eq!(got.root_winrate, Some(0.490267));
        assert_eq!(got.root_score_lead, Some(0.265231));
        // 21 + 7; C6's 7 visits are a symmetry copy of F3's.
        assert_eq!(got.total_visits, Some(28));
        assert_eq!(
            got.root_info,
            Some(RootInfo {
                visits: Some(32),
                winrate: Some(0.486439),
                score_lead: Some(0.120626),
                utility: Some(-0.0464316),
            })
        );
    }

    #[test]
    fn transcript_reply_through_the_response_reader() {
        let mut reader = crate::ResponseReader::new();
        let mut wire = vec!["="];
        wire.extend(TRANSCRIPT.lines());
        for line in wire {
            assert_eq!(reader.push(line), None);
        }
        let response = reader.push("").unwrap().unwrap();
        assert!(response.success);
        assert_eq!(response.text, TRANSCRIPT);
        assert_eq!(parse_genmove_analyze(&response.text).unwrap().mv, "D4");
    }

    #[test]
    fn only_the_last_report_counts() {
        let text = "info move C6 visits 106 winrate 0.488849 order 0 pv C6 G6 info move D6 visits 73 winrate 0.478041 order 1 pv D6 E2\n\
                    info move D6 visits 180 winrate 0.47539 scoreLead 0.0129836 order 0 pv D6 G5 info move C6 visits 229 winrate 0.479871 order 1 pv C6 G6\n\
                    play D6";
        let got = parse_genmove_analyze(text).unwrap();
        assert_eq!(got.mv, "D6");
        assert_eq!(got.candidates.len(), 2);
        assert_eq!(got.candidates[0].visits, Some(180));
        assert_eq!(got.root_winrate, Some(0.47539));
        assert_eq!(got.total_visits, Some(409));
        assert_eq!(got.root_info, None);
    }

    #[test]
    fn ownership_and_pv_visits_sections_are_skipped() {
        let text = "info move E5 visits 10 winrate 0.6 order 0 pv E5 pass pvVisits 10 4 movesOwnership 0.1 -0.2 0.3 info move D4 visits 3 winrate 0.4 order 1 pv D4 pvEdgeVisits 3 rootInfo visits 14 winrate 0.58 ownership 0.5 -0.5 1e-05 -3.2e-06 ownershipStdev 0.1 0.2 0.3 0.4\nplay e5";
        let got = parse_genmove_analyze(text).unwrap();
        assert_eq!(got.mv, "E5");
        assert_eq!(got.candidates.len(), 2);
        assert_eq!(got.candidates[0].pv, vec!["E5", "pass"]);
        assert_eq!(got.candidates[1].pv, vec!["D4"]);
        assert_eq!(got.candidates[1].winrate, Some(0.4));
        let root = got.root_info.unwrap();
        assert_eq!(root.visits, Some(14));
        assert_eq!(root.winrate, Some(0.58));
    }

    #[test]
    fn keys_in_any_order_and_unknown_keys() {
        let text = "info order 0 newStat 3 winrate 0.7 move q16 visits 5.0 pv Q16 D4 futureKey 1 2 info move D4 pv D4\nplay Q16";
        let got = parse_genmove_analyze(text).unwrap();
        assert_eq!(got.candidates[0].mv, "Q16");
        assert_eq!(got.candidates[0].visits, Some(5));
        assert_eq!(got.candidates[0].winrate, Some(0.7));
        assert_eq!(got.candidates[0].pv, vec!["Q16", "D4"]);
        assert_eq!(got.candidates[1].mv, "D4");
        assert_eq!(got.root_winrate, Some(0.7));
    }

    #[test]
    fn played_move_is_preferred_over_order_zero_for_root_values() {
        let text = "info move D4 winrate 0.5 order 0 pv D4 info move C3 winrate 0.4 order 1 pv C3\nplay C3";
        let got = parse_genmove_analyze(text).unwrap();
        assert_eq!(got.root_winrate, Some(0.4));
        let text = "info move D4 winrate 0.1 scoreLead -30 order 0 pv D4\nplay resign";
        let got = parse_genmove_analyze(text).unwrap();
        assert_eq!(got.mv, "resign");
        assert_eq!(got.root_winrate, Some(0.1));
        assert_eq!(got.root_score_lead, Some(-30.0));
    }

    #[test]
    fn non_finite_and_garbled_values_become_none() {
        let text =
            "info move D4 visits -3 winrate nan scoreLead inf prior x order 0 pv D4\nplay pass";
        let got = parse_genmove_analyze(text).unwrap();
        let c = &got.candidates[0];
        assert_eq!(
            (c.visits, c.winrate, c.score_lead, c.prior),
            (None, None, None, None)
        );
        assert_eq!(got.total_visits, None);
        assert_eq!(got.mv, "pass");
    }

    #[test]
    fn play_without_any_report_is_fine() {
        let got = parse_genmove_analyze("play PASS").unwrap();
        assert_eq!(got.mv, "pass");
        assert!(got.candidates.is_empty());
        assert_eq!(got.root_winrate, None);
    }

    #[test]
    fn missing_or_bad_play_line_is_an_error() {
        let no_play = "info move D4 visits 21 order 0 pv D4 E2";
        assert_eq!(
            parse_genmove_analyze(no_play),
            Err(ParseError::MissingPlay {
                text: no_play.into()
            })
        );
        assert!(matches!(
            parse_genmove_analyze(""),
            Err(ParseError::MissingPlay { .. })
        ));
        assert_eq!(
            parse_genmove_analyze("info move D4 pv D4\nplay D4 E5"),
            Err(ParseError::BadMove {
                text: "play D4 E5".into()
            })
        );
        assert!(matches!(
            parse_genmove_analyze("play"),
            Err(ParseError::BadMove { .. })
        ));
    }
}
