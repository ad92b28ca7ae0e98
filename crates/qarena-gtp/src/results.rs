//! Typed readings of the short replies: `genmove`, `final_score`,
//! `list_commands`, `final_status_list`.
//!
//! Vertex checks here are about *shape* only (letters then a row number);
//! whether a point exists on the board and the move is legal is the Go rules
//! crate's job.

use serde::{Deserialize, Serialize};

use crate::error::{snippet, ParseError};

/// `true` for a GTP vertex shape: 1–2 ASCII letters then a row number
/// 1–99 without leading zero (`D4`, `t19`, `AB27` on huge boards).
pub fn is_vertex(token: &str) -> bool {
    let letters = token.bytes().take_while(u8::is_ascii_alphabetic).count();
    let digits = &token[letters..];
    (1..=2).contains(&letters)
        && (1..=2).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// Normalise one move token: `pass`/`resign` lowercase, vertices uppercase.
/// `None` if the token is neither.
pub fn normalize_move(token: &str) -> Option<String> {
    if token.eq_ignore_ascii_case("pass") {
        Some("pass".to_owned())
    } else if token.eq_ignore_ascii_case("resign") {
        Some("resign".to_owned())
    } else if is_vertex(token) {
        Some(token.to_ascii_uppercase())
    } else {
        None
    }
}

/// Read a `genmove` reply: exactly one move token, normalised.
pub fn parse_genmove(text: &str) -> Result<String, ParseError> {
    let mut tokens = text.split_whitespace();
    match (tokens.next(), tokens.next()) {
        (Some(token), None) => normalize_move(token),
        _ => None,
    }
    .ok_or_else(|| ParseError::BadMove {
        text: snippet(text),
    })
}

/// The engine's list of supported commands, one per non-blank line.
pub fn parse_list_commands(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Read a vertex list such as the reply to `final_status_list dead`: vertices
/// separated by spaces or newlines (GNU Go puts one dragon per line), in any
/// case; an empty reply is an empty list. Every token must have a vertex's
/// shape, otherwise the whole list is rejected. Vertices come back uppercase,
/// in the engine's order.
pub fn parse_vertex_list(text: &str) -> Result<Vec<String>, ParseError> {
    text.split_whitespace()
        .map(|token| {
            is_vertex(token)
                .then(|| token.to_ascii_uppercase())
                .ok_or_else(|| ParseError::BadVertexList {
                    text: snippet(text),
                })
        })
        .collect()
}

/// A game result as an engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FinalScore {
    /// `'B'` or `'W'`; `None` for a draw (jigo).
    pub winner: Option<char>,
    /// Points won by; `Some(0.0)` for a draw, `None` for resignation, time,
    /// forfeit, or a margin that is not a finite non-negative number.
    pub margin: Option<f32>,
}

/// Read a `final_score` reply (or an SGF `RE` value): `B+3.5`, `W+12`, `0`,
/// `Draw`, `B+R`, `W+Resign`, `B+T`, `W+F`. Only the first token counts, so
/// trailing commentary some engines append is ignored.
pub fn parse_final_score(text: &str) -> Result<FinalScore, ParseError> {
    let bad = || ParseError::BadScore {
        text: snippet(text),
    };
    let token = text.split_whitespace().next().ok_or_else(bad)?;
    const DRAW: FinalScore = FinalScore {
        winner: None,
        margin: Some(0.0),
    };
    if token.eq_ignore_ascii_case("draw") || token.eq_ignore_ascii_case("jigo") {
        return Ok(DRAW);
    }
    if let Ok(number) = token.parse::<f32>() {
        // A bare number is only meaningful as zero; "3.5" alone names no winner.
        return if number == 0.0 { Ok(DRAW) } else { Err(bad()) };
    }
    let (side, margin) = token.split_once('+').ok_or_else(bad)?;
    let winner = match side.to_ascii_uppercase().as_str() {
        "B" | "BLACK" => 'B',
        "W" | "WHITE" => 'W',
        _ => return Err(bad()),
    };
    let margin = margin
        .parse::<f32>()
        .ok()
        .filter(|m| m.is_finite() && *m >= 0.0);
    if margin == Some(0.0) {
        // "B+0" is a tie however it is spelled; a winner with no margin would
        // contradict itself downstream.
        return Ok(DRAW);
    }
    Ok(FinalScore {
        winner: Some(winner),
        margin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genmove_normalises_case() {
        assert_eq!(parse_genmove("E5"), Ok("E5".into()));
        assert_eq!(parse_genmove(" c4 \n"), Ok("C4".into()));
        assert_eq!(parse_genmove("PASS"), Ok("pass".into()));
        assert_eq!(parse_genmove("Resign"), Ok("resign".into()));
        assert_eq!(parse_genmove("t19"), Ok("T19".into()));
    }

    #[test]
    fn genmove_rejects_empty_multi_token_and_non_moves() {
        for bad in [
            "", "  ", "D4 D5", "play D4", "D0", "D04", "4D", "hello", "D", "ABC1",
        ] {
            assert_eq!(
                parse_genmove(bad),
                Err(ParseError::BadMove { text: bad.into() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn list_commands_from_transcript_excerpt() {
        let text = "protocol_version\nname\nversion\nknown_command\nlist_commands\nquit\nkata-genmove_analyze\n";
        let commands = parse_list_commands(text);
        assert_eq!(commands.len(), 7);
        assert_eq!(commands[0], "protocol_version");
        assert!(commands.iter().any(|c| c == "kata-genmove_analyze"));
        assert!(parse_list_commands("").is_empty());
        assert_eq!(parse_list_commands(" a \r\n\n b"), vec!["a", "b"]);
    }

    fn score(winner: Option<char>, margin: Option<f32>) -> Result<FinalScore, ParseError> {
        Ok(FinalScore { winner, margin })
    }

    #[test]
    fn final_scores_with_margins() {
        assert_eq!(parse_final_score("W+1.0"), score(Some('W'), Some(1.0)));
        assert_eq!(parse_final_score("B+3.5"), score(Some('B'), Some(3.5)));
        assert_eq!(parse_final_score("W+12"), score(Some('W'), Some(12.0)));
        assert_eq!(parse_final_score("b+0.5"), score(Some('B'), Some(0.5)));
        assert_eq!(
            parse_final_score("B+4.0 (upper bound)"),
            score(Some('B'), Some(4.0))
        );
    }

    #[test]
    fn final_scores_without_margins() {
        assert_eq!(parse_final_score("B+R"), score(Some('B'), None));
        assert_eq!(parse_final_score("W+Resign"), score(Some('W'), None));
        assert_eq!(parse_final_score("B+T"), score(Some('B'), None));
        assert_eq!(parse_final_score("W+F"), score(Some('W'), None));
        assert_eq!(parse_final_score("W+"), score(Some('W'), None));
        assert_eq!(parse_final_score("B+-3"), score(Some('B'), None));
        assert_eq!(parse_final_score("B+nan"), score(Some('B'), None));
    }

    #[test]
    fn vertex_lists_on_one_or_many_lines() {
        assert_eq!(parse_vertex_list(""), Ok(vec![]));
        assert_eq!(parse_vertex_list(" \n "), Ok(vec![]));
        assert_eq!(
            parse_vertex_list("J9\nE4\nA1 b1"),
            Ok(vec!["J9".into(), "E4".into(), "A1".into(), "B1".into()])
        );
        assert_eq!(
            parse_vertex_list("c3  d4\r\n"),
            Ok(vec!["C3".into(), "D4".into()])
        );
        for bad in ["pass", "A1 resign", "A1, B2", "A0", "dead: A1"] {
            assert_eq!(
                parse_vertex_list(bad),
                Err(ParseError::BadVertexList { text: bad.into() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn draws() {
        for draw in ["0", "0.0", "Draw", "DRAW", "jigo", "B+0", "W+0.0"] {
            assert_eq!(parse_final_score(draw), score(None, Some(0.0)), "{draw:?}");
        }
    }

    #[test]
    fn final_score_garbage_is_an_error_naming_it() {
        for bad in ["", "hello", "3.5", "X+3", "+3", "B3.5"] {
            assert_eq!(
                parse_final_score(bad),
                Err(ParseError::BadScore { text: bad.into() }),
                "{bad:?}"
            );
        }
    }
}
