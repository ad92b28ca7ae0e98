//! GTP framing: turning a stream of stdout lines into [`Response`]s, and
//! turning a command into one safe line.
//!
//! A response is `=` (success) or `?` (failure), an optional numeric id glued
//! to that sign, the text, and an empty line that ends it. KataGo prints a
//! bare `=` header (no space) before streaming analysis lines, and `= ` with a
//! trailing space for an empty success; both are accepted.
//!
//! Invariants of [`ResponseReader`]: it holds at most one partial response;
//! after any error it is back at a response boundary (or skipping to one), so
//! the next well-formed response parses normally; its buffer never exceeds the
//! configured byte limit.

use serde::{Deserialize, Serialize};

use crate::error::{snippet, ParseError};

/// Default cap on one response's text. Generous on purpose: a long
/// `kata-genmove_analyze` with a short report interval and ownership maps can
/// legitimately reach megabytes; anything beyond this is a runaway engine.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// One complete GTP response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// The id echoed by the engine (`=12 …`), if the command carried one.
    pub id: Option<u32>,
    /// `true` for `=`, `false` for `?`.
    pub success: bool,
    /// Everything after the sign and id, lines joined with `\n`, outer
    /// whitespace trimmed. For failures this is the engine's error message.
    pub text: String,
}

#[derive(Debug)]
enum State {
    /// Between responses: blank lines are skipped, anything else must be a header.
    Idle,
    /// Inside a response, collecting its lines.
    Collecting {
        id: Option<u32>,
        success: bool,
        text: String,
    },
    /// After an error inside a response: drop lines up to the terminating empty
    /// line, so the tail of a broken response is not reported as garbage.
    Skipping,
}

/// Incremental GTP response parser: feed it stdout lines one at a time.
#[derive(Debug)]
pub struct ResponseReader {
    state: State,
    max_bytes: usize,
}

impl Default for ResponseReader {
    fn default() -> Self {
        Self::new()
    }
}

impl ResponseReader {
    /// A reader with the [`DEFAULT_MAX_RESPONSE_BYTES`] limit.
    pub fn new() -> Self {
        Self::with_max_bytes(DEFAULT_MAX_RESPONSE_BYTES)
    }

    /// A reader that rejects responses whose text exceeds `max_bytes`.
    pub fn with_max_bytes(max_bytes: usize) -> Self {
        ResponseReader {
            state: State::Idle,
            max_bytes,
        }
    }

    /// Forget any partial response; the next non-blank line must be a header.
    /// Use it after an error or after restarting the engine.
    pub fn reset(&mut self) {
        self.state = State::Idle;
    }

    /// `true` when no response is in progress (the reader is at a boundary).
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Idle)
    }

    /// The text collected so far for the response in progress, e.g. the
    /// streamed `info` lines of `kata-analyze`, which only ends when we send
    /// another command.
    pub fn partial_text(&self) -> Option<&str> {
        match &self.state {
            State::Collecting { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Feed one stdout line (with or without its line terminator).
    ///
    /// Returns `Some(Ok(response))` when `line` completes a response,
    /// `Some(Err(_))` for a line that cannot be part of a well-formed stream,
    /// and `None` when more lines are needed.
    pub fn push(&mut self, line: &str) -> Option<Result<Response, ParseError>> {
        // Pipes on some platforms deliver "\r\n"; the '\r' is not content.
        let line = line.trim_end_matches(['\n', '\r']);
        match &mut self.state {
            State::Idle => {
                if line.trim().is_empty() {
                    return None;
                }
                match parse_header(line) {
                    Ok((id, success, first)) => {
                        if first.len() > self.max_bytes {
                            self.state = State::Skipping;
                            return Some(Err(ParseError::TooLong {
                                limit: self.max_bytes,
                                line: snippet(line),
                            }));
                        }
                        self.state = State::Collecting {
                            id,
                            success,
                            text: first.to_owned(),
                        };
                        None
                    }
                    Err(err @ ParseError::BadId { .. }) => {
                        // The header was a response, just a broken one: its
                        // body follows and must not be reported line by line.
                        self.state = State::Skipping;
                        Some(Err(err))
                    }
                    Err(err) => Some(Err(err)),
                }
            }
            State::Collecting { id, success, text } => {
                if line.is_empty() {
                    let response = Response {
                        id: *id,
                        success: *success,
                        text: text.trim().to_owned(),
                    };
                    self.state = State::Idle;
                    return Some(Ok(response));
                }
                if text.len() + 1 + line.len() > self.max_bytes {
                    self.state = State::Skipping;
                    return Some(Err(ParseError::TooLong {
                        limit: self.max_bytes,
                        line: snippet(line),
                    }));
                }
                text.push('\n');
                text.push_str(line);
                None
            }
            State::Skipping => {
                if line.is_empty() {
                    self.state = State::Idle;
                }
                None
            }
        }
    }
}

/// Split a header line into (id, success, rest of the line).
fn parse_header(line: &str) -> Result<(Option<u32>, bool, &str), ParseError> {
    let success = match line.as_bytes().first() {
        Some(b'=') => true,
        Some(b'?') => false,
        _ => {
            return Err(ParseError::Garbage {
                line: snippet(line),
            })
        }
    };
    // The sign is one ASCII byte, so slicing after it is on a char boundary.
    let rest = &line[1..];
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        // "= text" or a bare "=". A sign glued to non-digit text ("=foo") is
        // off-spec but unambiguous, so it is read as text rather than lost.
        return Ok((None, success, rest));
    }
    let (number, after) = rest.split_at(digits);
    let id_ends_cleanly = after.is_empty() || after.starts_with(char::is_whitespace);
    match number.parse::<u32>() {
        Ok(id) if id_ends_cleanly => Ok((Some(id), success, after)),
        _ => Err(ParseError::BadId {
            line: snippet(line),
        }),
    }
}

/// Format one command line: `"12 genmove b"`, or `"genmove b"` without an id.
///
/// No trailing newline. Tabs, newlines and other control characters cannot
/// travel inside a GTP command (a newline would start a second command), so
/// they become word breaks, and runs of whitespace collapse to one space —
/// which is how GTP engines tokenise commands anyway. Use [`check_command`]
/// first to reject such input instead of repairing it.
pub fn format_command(id: Option<u32>, command: &str) -> String {
    let cleaned = command
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|word| !word.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    match id {
        Some(id) if !cleaned.is_empty() => format!("{id} {cleaned}"),
        Some(id) => id.to_string(),
        None => cleaned,
    }
}

/// Reject a command that is blank or contains control characters (newlines
/// included), i.e. one that [`format_command`] would have to alter.
pub fn check_command(command: &str) -> Result<(), ParseError> {
    if command.trim().is_empty() || command.chars().any(char::is_control) {
        return Err(ParseError::BadCommand {
            command: snippet(command),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(reader: &mut ResponseReader, lines: &[&str]) -> Vec<Result<Response, ParseError>> {
        lines.iter().filter_map(|l| reader.push(l)).collect()
    }

    fn ok(id: Option<u32>, success: bool, text: &str) -> Result<Response, ParseError> {
        Ok(Response {
            id,
            success,
            text: text.into(),
        })
    }

    #[test]
    fn single_line_replies_from_the_katago_transcript() {
        let mut r = ResponseReader::new();
        let got = feed(
            &mut r,
            &[
                "= KataGo",
                "",
                "= 1.17.2+g170-b6c96-s175M",
                "",
                "= ",
                "",
                "= E5",
                "",
            ],
        );
        assert_eq!(
            got,
            vec![
                ok(None, true, "KataGo"),
                ok(None, true, "1.17.2+g170-b6c96-s175M"),
                ok(None, true, ""),
                ok(None, true, "E5"),
            ]
        );
        assert!(r.is_idle());
    }

    #[test]
    fn failures_carry_the_engine_message() {
        let mut r = ResponseReader::new();
        let got = feed(
            &mut r,
            &[
                "? Could not parse vertex: 'Z99'",
                "",
                "? illegal move",
                "",
                "?7 unknown command",
                "",
            ],
        );
        assert_eq!(
            got,
            vec![
                ok(None, false, "Could not parse vertex: 'Z99'"),
                ok(None, false, "illegal move"),
                ok(Some(7), false, "unknown command"),
            ]
        );
    }

    #[test]
    fn ids_are_echoed_with_and_without_text() {
        let mut r = ResponseReader::new();
        let got = feed(&mut r, &["=12 C4", "", "=3", "", "=0 ", ""]);
        assert_eq!(
            got,
            vec![
                ok(Some(12), true, "C4"),
                ok(Some(3), true, ""),
                ok(Some(0), true, "")
            ]
        );
    }

    #[test]
    fn multi_line_replies_keep_inner_lines_and_trim_outer_whitespace() {
        let mut r = ResponseReader::new();
        let got = feed(
            &mut r,
            &[
                "= MoveNum: 4 HASH: 69EC3D789AA70B58DEE4EE08BE62B119\r",
                "   A B C D E F G H J\r",
                " 9 . . . . . . . . .\r",
                "Next player: Black\r",
                "\r",
            ],
        );
        assert_eq!(
            got,
            vec![ok(
                None,
                true,
                "MoveNum: 4 HASH: 69EC3D789AA70B58DEE4EE08BE62B119\n   A B C D E F G H J\n 9 . . . . . . . . .\nNext player: Black"
            )]
        );
    }

    #[test]
    fn bare_header_then_streamed_lines_as_kata_genmove_analyze_prints() {
        let mut r = ResponseReader::new();
        assert_eq!(r.push("=5"), None);
        assert_eq!(r.partial_text(), Some(""));
        assert_eq!(r.push("info move D4 visits 21 order 0 pv D4 E2"), None);
        assert_eq!(r.push("play D4"), None);
        assert_eq!(
            r.push(""),
            Some(ok(
                Some(5),
                true,
                "info move D4 visits 21 order 0 pv D4 E2\nplay D4"
            ))
        );
    }

    #[test]
    fn blank_lines_before_a_response_are_skipped_but_garbage_is_reported() {
        let mut r = ResponseReader::new();
        assert_eq!(r.push(""), None);
        assert_eq!(r.push("   "), None);
        assert_eq!(
            r.push("GTP ready, beginning main protocol loop"),
            Some(Err(ParseError::Garbage {
                line: "GTP ready, beginning main protocol loop".into()
            }))
        );
        // Still usable afterwards.
        assert_eq!(feed(&mut r, &["= ok", ""]), vec![ok(None, true, "ok")]);
    }

    #[test]
    fn whitespace_only_line_inside_a_response_is_content_not_a_terminator() {
        let mut r = ResponseReader::new();
        let got = feed(&mut r, &["= a", "  ", "b", ""]);
        assert_eq!(got, vec![ok(None, true, "a\n  \nb")]);
    }

    #[test]
    fn bad_ids_are_errors_and_the_broken_body_is_skipped() {
        for header in ["=12abc rest", "=99999999999 x", "?4294967296"] {
            let mut r = ResponseReader::new();
            let got = feed(&mut r, &[header, "body line", "", "= fine", ""]);
            assert_eq!(
                got,
                vec![
                    Err(ParseError::BadId {
                        line: header.into()
                    }),
                    ok(None, true, "fine")
                ],
                "header {header:?}"
            );
        }
        let mut r = ResponseReader::new();
        assert_eq!(
            feed(&mut r, &["=4294967295 max", ""]),
            vec![ok(Some(u32::MAX), true, "max")]
        );
    }

    #[test]
    fn sign_glued_to_text_is_read_as_text() {
        let mut r = ResponseReader::new();
        assert_eq!(feed(&mut r, &["=foo", ""]), vec![ok(None, true, "foo")]);
    }

    #[test]
    fn oversized_response_is_rejected_then_skipped_to_its_end() {
        let mut r = ResponseReader::with_max_bytes(10);
        let got = feed(&mut r, &["= 12345", "67890", "more", "", "= short", ""]);
        assert_eq!(
            got,
            vec![
                Err(ParseError::TooLong {
                    limit: 10,
                    line: "67890".into()
                }),
                ok(None, true, "short")
            ]
        );
        let mut r = ResponseReader::with_max_bytes(3);
        assert!(matches!(
            r.push("= 1234"),
            Some(Err(ParseError::TooLong { .. }))
        ));
        assert_eq!(
            feed(&mut r, &["x", "", "= 1", ""]),
            vec![ok(None, true, "1")]
        );
    }

    #[test]
    fn reset_discards_a_partial_response() {
        let mut r = ResponseReader::new();
        assert_eq!(r.push("= half"), None);
        assert!(!r.is_idle());
        r.reset();
        assert!(r.is_idle());
        assert_eq!(
            feed(&mut r, &["= whole", ""]),
            vec![ok(None, true, "whole")]
        );
    }

    #[test]
    fn format_command_with_and_without_id() {
        assert_eq!(format_command(Some(12), "genmove b"), "12 genmove b");
        assert_eq!(format_command(None, "genmove b"), "genmove b");
        assert_eq!(format_command(Some(0), "  boardsize   9 "), "0 boardsize 9");
    }

    #[test]
    fn format_command_cannot_inject_a_second_command() {
        assert_eq!(
            format_command(Some(1), "play b D4\nquit"),
            "1 play b D4 quit"
        );
        assert_eq!(format_command(None, "komi\t7.5\r\n\u{7}"), "komi 7.5");
    }

    #[test]
    fn check_command_rejects_what_format_would_repair() {
        assert_eq!(check_command("genmove b"), Ok(()));
        for bad in ["", "   ", "play b D4\nquit", "komi\t7", "a\u{0}b"] {
            assert_eq!(
                check_command(bad),
                Err(ParseError::BadCommand {
                    command: bad.into()
                })
            );
        }
    }
}
