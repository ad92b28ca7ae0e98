//! Engine command templates: shell-like splitting and `{model}` / `{config}`
//! placeholders.
//!
//! A template is split into argv *before* placeholders are substituted, so a
//! model path with spaces stays one argument. No shell is involved.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a command template could not be turned into argv.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("engine command is empty")]
    Empty,
    #[error("engine command `{0}` has an unterminated quote")]
    UnterminatedQuote(String),
    #[error("engine command `{template}` uses placeholder {{{name}}} but no value was given for it (set `{name} = ...` in the engine's config)")]
    MissingPlaceholder { template: String, name: String },
}

/// Splits a command line like a POSIX shell would for words: whitespace
/// separates, single quotes are literal, double quotes allow `\"` and `\\`,
/// a backslash outside quotes escapes the next character.
pub fn split_command(line: &str) -> Result<Vec<String>, CommandError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(x) => cur.push(x),
                        None => return Err(CommandError::UnterminatedQuote(line.to_string())),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(x @ ('"' | '\\' | '$' | '`')) => cur.push(x),
                            Some(x) => {
                                cur.push('\\');
                                cur.push(x);
                            }
                            None => return Err(CommandError::UnterminatedQuote(line.to_string())),
                        },
                        Some(x) => cur.push(x),
                        None => return Err(CommandError::UnterminatedQuote(line.to_string())),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(x) = chars.next() {
                    cur.push(x);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err(CommandError::Empty);
    }
    Ok(words)
}

/// Quotes one word so [`split_command`] reads it back unchanged (single
/// quotes; a `'` inside becomes `'\''`). Plain words stay as they are.
pub fn quote_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,@%{}".contains(c));
    if plain {
        return word.to_string();
    }
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Rewrites a command line whose program is relative (`./prog`, `../prog`)
/// to name it under `base` (a config file's folder). The program word is
/// re-quoted, so a folder with spaces stays one argument; the rest of the
/// line is kept as written. A line that does not split is left alone (its
/// error is reported where it is used).
pub fn rebase_program(command: &str, base: &Path) -> String {
    let Ok(words) = split_command(command) else {
        return command.to_string();
    };
    let prog = &words[0];
    if !(prog.starts_with("./") || prog.starts_with("../")) {
        return command.to_string();
    }
    let mut line = quote_word(&base.join(prog).display().to_string());
    for w in &words[1..] {
        line.push(' ');
        line.push_str(&quote_word(w));
    }
    line
}

/// Splits `template` and replaces `{name}` placeholders inside each word.
pub fn expand_command(
    template: &str,
    values: &BTreeMap<String, String>,
) -> Result<Vec<String>, CommandError> {
    let words = split_command(template)?;
    let mut out = Vec::with_capacity(words.len());
    for w in words {
        let mut s = String::new();
        let mut rest = w.as_str();
        while let Some(start) = rest.find('{') {
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 1..start + len];
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            s.push_str(&rest[..start]);
            if valid {
                match values.get(name) {
                    Some(v) => s.push_str(v),
                    None => {
                        return Err(CommandError::MissingPlaceholder {
                            template: template.to_string(),
                            name: name.to_string(),
                        })
                    }
                }
            } else {
                s.push_str(&rest[start..start + len + 1]);
            }
            rest = &rest[start + len + 1..];
        }
        s.push_str(rest);
        out.push(s);
    }
    Ok(out)
}

/// Makes a path absolute without touching the filesystem beyond `current_dir`.
/// Engines get absolute paths: Stockfish, for one, treats a bare file name as
/// "use the embedded net".
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// The model file an engine command names, if any: the value of a `-model`
/// style flag, or an argument with a known network extension.
pub fn model_in_argv(argv: &[String]) -> Option<String> {
    const FLAGS: [&str; 4] = ["-model", "--model", "-m", "--weights"];
    const EXTS: [&str; 6] = [
        ".bin.gz",
        ".txt.gz",
        ".nnue",
        ".safetensors",
        ".gguf",
        ".pb.gz",
    ];
    for (i, a) in argv.iter().enumerate().skip(1) {
        if FLAGS.contains(&a.as_str()) {
            if let Some(v) = argv.get(i + 1) {
                return Some(v.clone());
            }
        }
        if let Some((_, v)) = a.split_once('=') {
            if EXTS.iter().any(|e| v.ends_with(e)) {
                return Some(v.to_string());
            }
        }
    }
    argv.iter()
        .skip(1)
        .find(|a| EXTS.iter().any(|e| a.ends_with(e)))
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_command(r#"gnugo --mode gtp  --level 1"#).unwrap(),
            ["gnugo", "--mode", "gtp", "--level", "1"]
        );
        assert_eq!(
            split_command(r#"a 'b c' "d \"e\"" f\ g"#).unwrap(),
            ["a", "b c", "d \"e\"", "f g"]
        );
        assert!(matches!(split_command("  "), Err(CommandError::Empty)));
        assert!(matches!(
            split_command("a 'b"),
            Err(CommandError::UnterminatedQuote(_))
        ));
    }

    #[test]
    fn rebased_program_in_a_folder_with_spaces_stays_one_word() {
        let base = Path::new("/tmp/my configs/it's here");
        let line = rebase_program("./engine --model 'a b.nnue' {model}", base);
        assert_eq!(
            split_command(&line).unwrap(),
            [
                "/tmp/my configs/it's here/./engine",
                "--model",
                "a b.nnue",
                "{model}"
            ]
        );
        assert_eq!(rebase_program("gnugo --mode gtp", base), "gnugo --mode gtp");
        assert_eq!(rebase_program("'./x y' z", Path::new("/b")), "'/b/./x y' z");
    }

    #[test]
    fn quoted_words_split_back_unchanged() {
        for w in [
            "",
            "a b",
            "it's",
            "\\",
            "\"q\"",
            "tab\there",
            "{model}",
            "é ü",
        ] {
            assert_eq!(split_command(&quote_word(w)).unwrap_or_default(), [w]);
        }
    }

    #[test]
    fn expands_placeholders_per_word() {
        let mut v = BTreeMap::new();
        v.insert("model".to_string(), "/m dir/net.bin.gz".to_string());
        let argv = expand_command("katago gtp -model {model} -x a{model}b {other-thing", &v);
        assert!(argv.is_ok());
        let argv = argv.unwrap();
        assert_eq!(argv[3], "/m dir/net.bin.gz");
        assert_eq!(argv[5], "a/m dir/net.bin.gzb");
        assert_eq!(argv[6], "{other-thing");
        let err = expand_command("katago -config {config}", &v).unwrap_err();
        assert!(err.to_string().contains("{config}"), "{err}");
    }

    #[test]
    fn finds_model_arguments() {
        let a = |s: &str| split_command(s).unwrap();
        assert_eq!(
            model_in_argv(&a("katago gtp -model net.bin.gz -config c.cfg")).as_deref(),
            Some("net.bin.gz")
        );
        assert_eq!(
            model_in_argv(&a("sf EvalFile=/x/y.nnue")).as_deref(),
            Some("/x/y.nnue")
        );
        assert_eq!(model_in_argv(&a("gnugo --mode gtp")), None);
    }
}
