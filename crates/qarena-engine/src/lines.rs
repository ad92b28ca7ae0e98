//! Splitting a byte stream into bounded lines.
//!
//! Invariant: memory held for one line never exceeds `max` plus one read
//! chunk, whatever the engine prints, and a delivered line's text (invalid
//! UTF-8 replaced by U+FFFD) is never longer than `max` bytes. A line that grows past `max` is
//! reported once as [`LineEvent::TooLong`] as soon as the limit is crossed,
//! and its remaining bytes are skipped up to the next newline, so a reader
//! waiting for a reply learns about the problem without waiting for the end
//! of a possibly endless line.

use std::io::{self, Read};

/// Size of one read from the pipe.
const CHUNK: usize = 64 * 1024;

/// What the splitter found in the stream.
#[derive(Debug)]
pub(crate) enum LineEvent {
    /// A complete line, without its `\n` or trailing `\r`.
    Line(String),
    /// A line crossed the limit; `bytes` is how many of its bytes were seen then.
    TooLong { bytes: usize },
    /// The stream ended (the writing side closed it or died).
    Eof,
    /// Reading failed; the stream is abandoned.
    Error(io::Error),
}

/// Reads `src` until end of stream, calling `sink` for each event. Stops
/// early when `sink` returns false (its consumer is gone). Always ends with
/// `Eof` or `Error` unless stopped early.
pub(crate) fn split_lines(mut src: impl Read, max: usize, mut sink: impl FnMut(LineEvent) -> bool) {
    let mut chunk = vec![0u8; CHUNK];
    let mut line: Vec<u8> = Vec::new();
    // Some(n) while skipping the rest of an oversized line, n bytes seen so far.
    let mut skipping: Option<usize> = None;
    loop {
        let n = match src.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                sink(LineEvent::Error(e));
                return;
            }
        };
        let mut rest = &chunk[..n];
        while !rest.is_empty() {
            let newline = rest.iter().position(|&b| b == b'\n');
            let (part, tail) = match newline {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            rest = tail;
            if let Some(seen) = skipping.as_mut() {
                *seen += part.len();
                if newline.is_some() {
                    skipping = None;
                }
                continue;
            }
            if line.len() + part.len() > max {
                let bytes = line.len() + part.len();
                // Release the partial line's memory right away.
                line = Vec::new();
                if newline.is_none() {
                    skipping = Some(bytes);
                }
                if !sink(LineEvent::TooLong { bytes }) {
                    return;
                }
                continue;
            }
            line.extend_from_slice(part);
            if newline.is_some() && !sink(finish(&mut line, max)) {
                return;
            }
        }
    }
    // A last line without a newline still counts: engines that die mid-line
    // may have said something useful.
    if skipping.is_none() && !line.is_empty() && !sink(finish(&mut line, max)) {
        return;
    }
    sink(LineEvent::Eof);
}

/// Turns the collected bytes into text, dropping a trailing `\r`; invalid
/// UTF-8 is replaced rather than rejected, since engine output is untrusted.
/// Each invalid byte becomes a 3-byte U+FFFD, so the limit is checked again
/// on the text: a line of `max` invalid bytes must not become `3 * max`.
fn finish(line: &mut Vec<u8>, max: usize) -> LineEvent {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = String::from_utf8_lossy(line);
    let event = if text.len() > max {
        LineEvent::TooLong { bytes: text.len() }
    } else {
        LineEvent::Line(text.into_owned())
    };
    line.clear();
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], max: usize) -> Vec<String> {
        let mut out = Vec::new();
        split_lines(input, max, |ev| {
            out.push(match ev {
                LineEvent::Line(s) => format!("L:{s}"),
                LineEvent::TooLong { bytes } => format!("T:{bytes}"),
                LineEvent::Eof => "EOF".to_string(),
                LineEvent::Error(e) => format!("E:{e}"),
            });
            true
        });
        out
    }

    #[test]
    fn splits_and_strips_cr() {
        assert_eq!(run(b"= a\r\n\nb\n", 100), ["L:= a", "L:", "L:b", "EOF"]);
    }

    #[test]
    fn delivers_unterminated_last_line() {
        assert_eq!(run(b"x\ny", 100), ["L:x", "L:y", "EOF"]);
    }

    #[test]
    fn oversized_line_is_reported_once_and_skipped() {
        let mut input = vec![b'z'; 300_000];
        input.extend_from_slice(b"\nok\n");
        let out = run(&input, 1000);
        assert_eq!(out.len(), 3, "{out:?}");
        assert!(out[0].starts_with("T:"), "{out:?}");
        assert_eq!(&out[1..], ["L:ok", "EOF"]);
    }

    #[test]
    fn line_exactly_at_limit_passes() {
        assert_eq!(run(b"abcd\nabcde\nx\n", 4), ["L:abcd", "T:5", "L:x", "EOF"]);
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        assert_eq!(run(b"\xff\xfeok\n", 100), ["L:\u{fffd}\u{fffd}ok", "EOF"]);
    }

    #[test]
    fn invalid_utf8_cannot_grow_past_the_limit() {
        // 0xFF becomes U+FFFD (3 bytes): 40 raw bytes would be 120 of text.
        let mut input = vec![0xFFu8; 40];
        input.extend_from_slice(b"\nok\n");
        assert_eq!(run(&input, 100), ["T:120", "L:ok", "EOF"]);
        let mut short = vec![0xFFu8; 33];
        short.push(b'\n');
        assert_eq!(run(&short, 100)[0].len(), 2 + 99);
    }

    #[test]
    fn stops_when_sink_declines() {
        let mut n = 0;
        split_lines(&b"a\nb\nc\n"[..], 10, |_| {
            n += 1;
            false
        });
        assert_eq!(n, 1);
    }
}
