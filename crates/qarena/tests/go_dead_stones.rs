//! Games that end with dead stones on the board: GNU Go passes without
//! capturing them, so the winner depends on removing them first. GNU Go's
//! own scorer (`gnugo --score aftermath`, which plays the position out) is
//! the independent judge of every exported game.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

/// `B`, `W` or `0` (jigo) as GNU Go scores the SGF at `path` by area after
/// playing the position out.
pub fn aftermath_winner(path: &Path) -> char {
    let out = Command::new(program("gnugo"))
        .args(["--score", "aftermath", "--chinese-rules", "-l"])
        .arg(path)
        .output()
        .expect("running gnugo --score aftermath");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("wins") || l.contains("Jigo"))
        .unwrap_or_else(|| panic!("no score from gnugo for {}: {}", path.display(), text));
    if line.starts_with("Black wins") {
        'B'
    } else if line.starts_with("White wins") {
        'W'
    } else {
        '0'
    }
}

#[test]
fn gnugo_games_ended_with_dead_stones_get_the_winner_gnugo_scores() {
    let ws = Ws::new();
    let gnugo = format!("{} --mode gtp --level 1", program("gnugo").display());
    let out = ws.run(&[
        "match",
        "--engine-a",
        &gnugo,
        "--engine-b",
        &gnugo,
        "--name-a",
        "g1",
        "--name-b",
        "g1b",
        "--games",
        "10",
        "-j",
        "2",
        "--board-size",
        "9",
        "--komi",
        "7",
        "--run-tag",
        "dead",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let run = store.run_by_tag("dead").unwrap().unwrap();
    let games = store.games(run.id).unwrap();
    assert_eq!(games.len(), 10);
    let out = ws.run(&["export", "sgf", "--run", "dead", "-o", "sgf"]);
    assert!(out.status.success(), "{}", text(&out));
    let mut files: Vec<_> = std::fs::read_dir(ws.path().join("sgf"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 10);
    let mut disagreements = Vec::new();
    let mut scored = 0;
    for (g, file) in games.iter().zip(&files) {
        let sgf = std::fs::read_to_string(file).unwrap();
        let result = g.result.clone().unwrap_or_default();
        assert!(
            sgf.contains(&format!("RE[{result}]")),
            "{}: the SGF result is not the stored {result}",
            file.display()
        );
        if g.termination != "two_passes" {
            continue;
        }
        scored += 1;
        let ours = result.chars().next().unwrap_or('?');
        let theirs = aftermath_winner(file);
        if ours != theirs {
            disagreements.push(format!(
                "game {}: qarena {result}, gnugo --score aftermath {theirs}",
                g.game_index + 1
            ));
        }
    }
    assert!(scored >= 8, "only {scored} games ended by passes");
    assert!(
        disagreements.is_empty(),
        "{} of {scored} winners differ from GNU Go's scoring:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
}
