//! Builds a chess probe suite from the built-in opening book and the games
//! of PGN files, the way `suites/chess-default.suite` was made:
//!
//! ```text
//! cargo run -p qarena-probe --example chess_suite -- \
//!     --pgn games.pgn --seed 1 -o suites/chess-default.suite
//! ```
//!
//! Options: `--pgn FILE` (repeatable), `--per-opening N` (1), `--plies A-B`
//! (2-8, random plies after each opening), `--per-game N` (8), `--seed S`
//! (1), `--note TEXT` (repeatable, extra header lines), `-o FILE`.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use qarena_probe::chess_suites::{combine, from_games, from_openings, games_from_pgn};

struct Args {
    pgn: Vec<PathBuf>,
    per_opening: usize,
    plies: (u32, u32),
    per_game: usize,
    seed: u64,
    notes: Vec<String>,
    output: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        pgn: Vec::new(),
        per_opening: 1,
        plies: (2, 8),
        per_game: 8,
        seed: 1,
        notes: Vec::new(),
        output: PathBuf::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("`{v}` is not a number"))
        };
        match flag.as_str() {
            "--pgn" => a.pgn.push(PathBuf::from(value()?)),
            "--per-opening" => a.per_opening = number(value()?)? as usize,
            "--per-game" => a.per_game = number(value()?)? as usize,
            "--seed" => a.seed = number(value()?)?,
            "--note" => a.notes.push(value()?),
            "--plies" => {
                let v = value()?;
                let (lo, hi) = v.split_once('-').ok_or(format!("--plies `{v}`: A-B"))?;
                a.plies = (number(lo.into())? as u32, number(hi.into())? as u32);
            }
            "-o" | "--output" => a.output = PathBuf::from(value()?),
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if a.output.as_os_str().is_empty() {
        return Err("-o FILE is required".into());
    }
    Ok(a)
}

fn run() -> Result<(), String> {
    let a = parse_args()?;
    let name = a
        .output
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "chess".into());
    let book = qarena_chess::load_openings(None, None).map_err(|e| e.to_string())?;
    let openings = from_openings(
        "openings",
        &book,
        a.plies.0..=a.plies.1,
        a.per_opening,
        a.seed,
    )
    .map_err(|e| e.to_string())?;
    let mut games = Vec::new();
    for path in &a.pgn {
        let text = fs_err::read_to_string(path).map_err(|e| e.to_string())?;
        games
            .extend(games_from_pgn(&text, &path.display().to_string()).map_err(|e| e.to_string())?);
    }
    let played = from_games("games", &games, a.per_game, a.seed).map_err(|e| e.to_string())?;
    let suite = combine(&name, &[&openings, &played]).map_err(|e| e.to_string())?;
    let pgn_names: Vec<String> = a
        .pgn
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let mut comments = vec![
        format!(
            "{} chess positions, none in check, none repeated: {} from the built-in opening book \
             (openings/default.epd, {} per opening, {}-{} random legal plies after it) and {} from {} \
             stored games ({} per game, one from each of that many equal bands of the game's plies, \
             never the final position); seed {}.",
            suite.len(),
            openings.len(),
            a.per_opening,
            a.plies.0,
            a.plies.1,
            suite.len() - openings.len(),
            games.len(),
            a.per_game,
            a.seed
        ),
        format!(
            "Made with: cargo run -p qarena-probe --example chess_suite -- {} --per-opening {} \
             --plies {}-{} --per-game {} --seed {} -o <this file>",
            pgn_names
                .iter()
                .map(|n| format!("--pgn {n}"))
                .collect::<Vec<_>>()
                .join(" "),
            a.per_opening,
            a.plies.0,
            a.plies.1,
            a.per_game,
            a.seed
        ),
    ];
    comments.extend(a.notes.iter().cloned());
    suite
        .save_with_comments(&a.output, &comments)
        .map_err(|e| e.to_string())?;
    println!(
        "{}: {} positions ({} from openings, {} from {} games), sha256 {}",
        a.output.display(),
        suite.len(),
        openings.len(),
        suite.len() - openings.len(),
        games.len(),
        suite.sha256()
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chess_suite: {e}");
            ExitCode::from(2)
        }
    }
}
