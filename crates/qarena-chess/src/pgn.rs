//! Writing PGN: one game per record, export of many records as one file.
//!
//! Invariants:
//! - Output is import-format PGN that independent readers accept: the Seven
//!   Tag Roster first and in order, tag values escaped, comments free of
//!   `}`, movetext wrapped at 80 columns, the result token last.
//! - Moves are SAN computed by shakmaty from the actual position, so the
//!   record replays exactly the game that was refereed.

/// One move of the movetext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgnMove {
    pub san: String,
    /// Text of a `{…}` comment after the move.
    pub comment: Option<String>,
}

/// A game ready to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgnGame {
    /// Tags in output order; the caller puts the Seven Tag Roster first.
    pub tags: Vec<(String, String)>,
    /// Full-move number of the first move, and whether Black makes it.
    pub first_move_number: u32,
    pub black_starts: bool,
    pub moves: Vec<PgnMove>,
    /// A comment after the last move saying how the game ended.
    pub final_comment: Option<String>,
    /// `1-0`, `0-1`, `1/2-1/2` or `*`.
    pub result: String,
}

const WIDTH: usize = 80;

/// Renders the game as PGN text ending in a newline.
pub fn write_pgn(game: &PgnGame) -> String {
    let mut out = String::new();
    for (key, value) in &game.tags {
        out.push_str(&format!("[{key} \"{}\"]\n", escape_tag(value)));
    }
    out.push('\n');

    let mut tokens: Vec<String> = Vec::new();
    let mut number = game.first_move_number.max(1);
    let mut black = game.black_starts;
    let mut need_number = true;
    for mv in &game.moves {
        // A move number stays on the line of its move.
        if !black {
            tokens.push(format!("{number}. {}", mv.san));
        } else if need_number {
            tokens.push(format!("{number}... {}", mv.san));
        } else {
            tokens.push(mv.san.clone());
        }
        need_number = false;
        if let Some(c) = &mv.comment {
            push_comment(&mut tokens, c);
            // A comment interrupts the move pair; PGN repeats the number.
            need_number = true;
        }
        if black {
            number += 1;
        }
        black = !black;
    }
    if let Some(c) = &game.final_comment {
        push_comment(&mut tokens, c);
    }
    tokens.push(game.result.clone());

    let mut line = String::new();
    for t in tokens {
        if !line.is_empty() && line.len() + 1 + t.len() > WIDTH {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&t);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// Splits a comment into words so wrapping can break inside it.
fn push_comment(tokens: &mut Vec<String>, text: &str) {
    let clean: String = text
        .chars()
        .map(|c| {
            if c == '}' || c == '{' || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let words: Vec<&str> = clean.split_whitespace().collect();
    if words.is_empty() {
        return;
    }
    let last = words.len() - 1;
    for (i, w) in words.iter().enumerate() {
        let mut t = String::new();
        if i == 0 {
            t.push('{');
        }
        t.push_str(w);
        if i == last {
            t.push('}');
        }
        tokens.push(t);
    }
}

fn escape_tag(value: &str) -> String {
    let mut s = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            c if c.is_control() => s.push(' '),
            c => s.push(c),
        }
    }
    s
}

/// Joins single-game PGN records into one file, one blank line between
/// games (what `qarena export pgn` writes).
pub fn export_pgn(records: &[String]) -> String {
    let mut out = String::new();
    for r in records {
        let r = r.trim();
        if r.is_empty() {
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(r);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(san: &str, comment: Option<&str>) -> PgnMove {
        PgnMove {
            san: san.to_string(),
            comment: comment.map(str::to_string),
        }
    }

    #[test]
    fn numbers_comments_and_wrapping() {
        let mut moves = vec![
            mv("e5", Some("+0.10/5 0.01s")),
            mv("Nf3", None),
            mv("Nc6", None),
        ];
        for _ in 0..30 {
            moves.push(mv("Nf3", Some("+0.31/12 0.05s")));
        }
        let g = PgnGame {
            tags: vec![("Event".into(), "a \"b\" \\c".into())],
            first_move_number: 1,
            black_starts: true,
            moves,
            final_comment: Some("White {wins}".into()),
            result: "1-0".into(),
        };
        let text = write_pgn(&g);
        assert!(text.starts_with(
            "[Event \"a \\\"b\\\" \\\\c\"]\n\n1... e5 {+0.10/5 0.01s} 2. Nf3 Nc6 3. Nf3"
        ));
        assert!(text.lines().all(|l| l.len() <= WIDTH), "{text}");
        assert!(text.trim_end().ends_with("{White wins} 1-0"), "{text}");
        assert!(text.contains("3... Nf3"), "{text}");
    }

    #[test]
    fn export_separates_games() {
        let out = export_pgn(&[
            "[A \"1\"]\n\n*\n".into(),
            String::new(),
            "[B \"2\"]\n\n*".into(),
        ]);
        assert_eq!(out, "[A \"1\"]\n\n*\n\n[B \"2\"]\n\n*\n");
    }
}
