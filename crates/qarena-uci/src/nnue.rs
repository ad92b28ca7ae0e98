//! Did Stockfish really load the network we gave it?
//!
//! Stockfish accepts `setoption name EvalFile value …` silently and still
//! answers `isready`, even for a missing or corrupt file. Only at the next
//! `go`/`eval`/`bench` does it report, through `info string` lines: either
//! `NNUE evaluation using <path> enabled`, or a block of `ERROR: …` lines
//! followed by the process exiting. A harness therefore probes with a tiny
//! search and classifies the strings it saw. Any error wins over a success
//! line, because an engine that printed both is about to exit.

use serde::{Deserialize, Serialize};

/// The verdict on a network load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetLoad {
    /// The engine named the network it evaluates with.
    Enabled { path: String },
    /// The engine rejected the network; these are its error lines.
    Error { lines: Vec<String> },
    /// Neither (e.g. classical evaluation, or another engine).
    Unknown,
}

const ENABLED_PREFIX: &str = "NNUE evaluation using ";

/// Classify `info string` payloads (with or without the `info string ` prefix).
pub fn classify_info_strings(strings: &[String]) -> NetLoad {
    let payloads = strings.iter().map(|s| {
        let s = s.trim();
        s.strip_prefix("info string").map(str::trim).unwrap_or(s)
    });
    let mut errors = Vec::new();
    let mut enabled = None;
    for payload in payloads {
        if payload.contains("ERROR") {
            errors.push(payload.to_owned());
        } else if enabled.is_none() {
            enabled = payload
                .strip_prefix(ENABLED_PREFIX)
                .map(net_path)
                .filter(|path| !path.is_empty());
        }
    }
    match (errors.is_empty(), enabled) {
        (false, _) => NetLoad::Error { lines: errors },
        (true, Some(path)) => NetLoad::Enabled {
            path: path.to_owned(),
        },
        (true, None) => NetLoad::Unknown,
    }
}

/// The path out of what follows "NNUE evaluation using ". Stockfish 15.1 ends
/// the line with " enabled"; later versions append a parenthesised size and
/// architecture instead, e.g. "nn-x.nnue (133MiB, (22528, 3072, 15, 32, 1))".
fn net_path(rest: &str) -> &str {
    let rest = rest.trim();
    let before_enabled = rest
        .strip_suffix("enabled")
        .filter(|path| path.is_empty() || path.ends_with(char::is_whitespace));
    if let Some(path) = before_enabled {
        return path.trim();
    }
    if rest.ends_with(')') {
        // Walk back to the '(' that balances the final ')'.
        let mut depth = 0usize;
        for (at, c) in rest.char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return rest[..at].trim();
                    }
                }
                _ => {}
            }
        }
    }
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stockfish_15_1_embedded_net() {
        let seen = lines(&["NNUE evaluation using nn-ad9b42354671.nnue enabled"]);
        assert_eq!(
            classify_info_strings(&seen),
            NetLoad::Enabled {
                path: "nn-ad9b42354671.nnue".into()
            }
        );
    }

    #[test]
    fn full_lines_and_paths_with_spaces() {
        let seen = lines(&["info string NNUE evaluation using nets/my variant ft6.nnue enabled"]);
        assert_eq!(
            classify_info_strings(&seen),
            NetLoad::Enabled {
                path: "nets/my variant ft6.nnue".into()
            }
        );
    }

    #[test]
    fn later_stockfish_format() {
        let seen = lines(&[
            "NNUE evaluation using nn-1111cefa1111.nnue (133MiB, (22528, 3072, 15, 32, 1))",
            "NNUE evaluation using nn-37f18f62d772.nnue (6MiB, (22528, 128, 15, 32, 1))",
        ]);
        assert_eq!(
            classify_info_strings(&seen),
            NetLoad::Enabled {
                path: "nn-1111cefa1111.nnue".into()
            }
        );
    }

    #[test]
    fn stockfish_15_1_rejecting_a_missing_net() {
        // Captured from `setoption name EvalFile value /nonexistent.nnue`, `go nodes 100`.
        let seen = lines(&[
            "info string ERROR: If the UCI option \"Use NNUE\" is set to true, network evaluation parameters compatible with the engine must be available.",
            "info string ERROR: The option is set to true, but the network file /nonexistent.nnue was not loaded successfully.",
            "info string ERROR: The UCI option EvalFile might need to specify the full path, including the directory name, to the network file.",
            "info string ERROR: The default net can be downloaded from: https://tests.stockfishchess.org/api/nn/nn-ad9b42354671.nnue",
            "info string ERROR: The engine will be terminated now.",
        ]);
        match classify_info_strings(&seen) {
            NetLoad::Error { lines } => {
                assert_eq!(lines.len(), 5);
                assert!(lines[1].contains("/nonexistent.nnue was not loaded"));
                assert!(lines.iter().all(|l| l.starts_with("ERROR: ")));
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn errors_win_over_success() {
        let seen = lines(&["NNUE evaluation using a.nnue enabled", "ERROR: bad"]);
        assert_eq!(
            classify_info_strings(&seen),
            NetLoad::Error {
                lines: lines(&["ERROR: bad"])
            }
        );
    }

    #[test]
    fn nothing_conclusive() {
        assert_eq!(classify_info_strings(&[]), NetLoad::Unknown);
        let seen = lines(&[
            "classical evaluation enabled",
            "NNUE evaluation using  enabled",
        ]);
        assert_eq!(classify_info_strings(&seen), NetLoad::Unknown);
    }
}
