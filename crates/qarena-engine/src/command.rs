//! Engine command templates: shell-like splitting, `{model}` / `{config}`
//! placeholders, and finding the program a command names.
//!
//! A template is split into argv *before* placeholders are substituted, so a
//! model path with spaces stays one argument. No shell is involved.
//!
//! Program lookup searches `PATH` and then `/usr/games` (where Debian puts
//! GNU Go and Stockfish, often missing from `PATH`), and only accepts a
//! regular file with an execute bit, so a typo is reported before anything
//! is spawned.

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
    #[error("program `{program}` not found or not executable — check the command `{template}` (install the engine or give its full path)")]
    ProgramNotFound { template: String, program: String },
}

/// Folders searched after `PATH`: Debian installs games (GNU Go, Stockfish)
/// here and many `PATH`s leave it out.
const EXTRA_PROGRAM_DIRS: [&str; 1] = ["/usr/games"];

/// The executable `program` names: itself when it contains a `/` (relative
/// to the current directory), otherwise the first executable regular file of
/// that name in `PATH` or `/usr/games`.
pub fn find_program(program: &str) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains('/') {
        let p = PathBuf::from(program);
        return is_executable(&p).then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .filter(|d| !d.as_os_str().is_empty())
        .chain(EXTRA_PROGRAM_DIRS.iter().map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Expands `template` ([`expand_command`]) and replaces the program with the
/// path [`find_program`] finds, so the argv can be spawned as it is.
pub fn resolve_command(
    template: &str,
    values: &BTreeMap<String, String>,
) -> Result<Vec<String>, CommandError> {
    let mut argv = expand_command(template, values)?;
    // `split_command` never returns an empty list.
    let Some(program) = argv.first_mut() else {
        return Err(CommandError::Empty);
    };
    match find_program(program) {
        Some(found) => {
            *program = found.display().to_string();
            Ok(argv)
        }
        None => Err(CommandError::ProgramNotFound {
            template: template.to_string(),
            program: program.clone(),
        }),
    }
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
    fn finds_programs_on_path_and_refuses_missing_ones() {
        let sh = find_program("sh").expect("sh is on PATH");
        assert!(sh.is_absolute() && sh.ends_with("sh"), "{}", sh.display());
        assert_eq!(find_program("/bin/sh"), Some(PathBuf::from("/bin/sh")));
        assert_eq!(find_program("qarena-no-such-program-xyz"), None);
        assert_eq!(find_program(""), None);
        // A file without an execute bit is not a program.
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        assert_eq!(find_program(&plain.display().to_string()), None);
        // Nor is a folder.
        assert_eq!(find_program(&dir.path().display().to_string()), None);
    }

    #[test]
    fn resolve_command_names_the_missing_program() {
        let v = BTreeMap::new();
        let argv = resolve_command("sh -c 'exit 0'", &v).unwrap();
        assert!(argv[0].ends_with("/sh"), "{argv:?}");
        assert_eq!(argv[1..], ["-c", "exit 0"]);
        let err = resolve_command("qarena-no-such-program-xyz --x", &v).unwrap_err();
        assert!(
            matches!(&err, CommandError::ProgramNotFound { program, .. } if program == "qarena-no-such-program-xyz"),
            "{err}"
        );
        assert!(err.to_string().contains("--x"), "{err}");
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
