//! The one error type of this crate. Every variant carries the input that was
//! rejected, cut to a bounded snippet so that an engine printing megabytes of
//! garbage cannot turn one error message into megabytes of log.

/// Longest piece of engine output quoted inside an error, in characters.
const SNIPPET_CHARS: usize = 200;

/// Why engine output (or a command we were asked to send) was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A non-empty line arrived where a response must start with `=` or `?`.
    #[error("engine printed {line:?} where a GTP response starting with '=' or '?' was expected")]
    Garbage { line: String },

    /// The digits after `=`/`?` are not a valid `u32` id, or run into other text.
    #[error("malformed GTP response id in {line:?} (an id is decimal digits right after '='/'?', at most {max})", max = u32::MAX)]
    BadId { line: String },

    /// A response grew beyond the reader's byte limit; the rest of it is skipped.
    #[error(
        "GTP response longer than {limit} bytes (at line {line:?}); rest of the response skipped"
    )]
    TooLong { limit: usize, line: String },

    /// A command we were asked to send is empty or contains control characters.
    #[error("GTP command {command:?} is empty or contains a control character or newline")]
    BadCommand { command: String },

    /// A move reply is empty, has several tokens, or is not a vertex/pass/resign.
    #[error("expected one move (vertex, 'pass' or 'resign'), engine replied {text:?}")]
    BadMove { text: String },

    /// A `final_score` reply is not of the form `B+3.5`, `W+R`, `0`, `Draw`.
    #[error("cannot read a game result from {text:?} (expected e.g. 'B+3.5', 'W+R', '0')")]
    BadScore { text: String },

    /// A vertex list (`final_status_list`) holds a token that is not a vertex.
    #[error("expected GTP vertices separated by spaces or newlines, engine replied {text:?}")]
    BadVertexList { text: String },

    /// A `kata-genmove_analyze` reply ended without its `play <move>` line.
    #[error("kata-genmove_analyze reply has no 'play <move>' line: {text:?}")]
    MissingPlay { text: String },
}

/// A bounded, char-boundary-safe excerpt of `text` for error messages.
pub(crate) fn snippet(text: &str) -> String {
    match text.char_indices().nth(SNIPPET_CHARS) {
        None => text.to_owned(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_keeps_short_text_and_cuts_long_text_on_a_char_boundary() {
        assert_eq!(snippet("B+3.5"), "B+3.5");
        let long = "é".repeat(500);
        let cut = snippet(&long);
        assert_eq!(cut.chars().count(), SNIPPET_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn messages_name_the_input() {
        let err = ParseError::Garbage {
            line: "hello".into(),
        };
        assert!(err.to_string().contains("\"hello\""));
    }
}
