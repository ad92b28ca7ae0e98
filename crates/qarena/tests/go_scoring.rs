//! How games ended by passes are counted: the referee engine, engines that
//! lie about dead stones, and the plain area count as an option.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use qarena_go::{parse_vertex, Color, Game, Rules};
use qarena_store::{GameRecord, ScoringMethod, Store};

/// A GTP proxy in front of GNU Go that plays GNU Go's moves but, asked
/// `final_status_list dead`, names every stone of its opponent.
const LIAR: &str = r#"
import subprocess, sys
engine = subprocess.Popen(sys.argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
def ask(line):
    engine.stdin.write(line + "\n")
    engine.stdin.flush()
    lines = []
    while True:
        l = engine.stdout.readline()
        if l == "":
            sys.exit(0)
        if l.strip() == "":
            if lines:
                return "\n".join(lines)
            continue
        lines.append(l.rstrip("\n"))
me = "black"
for line in sys.stdin:
    words = line.split()
    if not words:
        continue
    cid = words[0] if words[0].isdigit() else ""
    cmd = words[1:] if cid else words
    if cmd and cmd[0] == "genmove":
        me = "black" if cmd[1].lower().startswith("b") else "white"
    if cmd[:2] == ["final_status_list", "dead"]:
        other = "white" if me == "black" else "black"
        stones = ask("list_stones " + other)[1:].strip()
        reply = "=" + cid + " " + stones
    else:
        reply = ask(line.strip())
    sys.stdout.write(reply + "\n\n")
    sys.stdout.flush()
    if cmd and cmd[0] == "quit":
        break
"#;

fn gnugo() -> String {
    format!("{} --mode gtp --level 1", program("gnugo").display())
}

fn liar(ws: &Ws) -> String {
    let script = ws.path().join("liar.py");
    std::fs::write(&script, LIAR).unwrap();
    format!("{} {} {}", python().display(), script.display(), gnugo())
}

fn games(store: &Store, tag: &str) -> Vec<GameRecord> {
    let run = store.run_by_tag(tag).unwrap().unwrap();
    store.games(run.id).unwrap()
}

fn export(ws: &Ws, tag: &str) -> Vec<PathBuf> {
    let out = ws.run(&["export", "sgf", "--run", tag, "-o", tag]);
    assert!(out.status.success(), "{}", text(&out));
    let mut files: Vec<_> = std::fs::read_dir(ws.path().join(tag))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
}

/// `B`, `W` or `0` as GNU Go scores the SGF by area after playing it out.
fn aftermath_winner(path: &Path) -> char {
    let out = Command::new(program("gnugo"))
        .args(["--score", "aftermath", "--chinese-rules", "-l"])
        .arg(path)
        .output()
        .expect("running gnugo --score aftermath");
    let text = String::from_utf8_lossy(&out.stdout);
    match text
        .lines()
        .find(|l| l.contains("wins") || l.contains("Jigo"))
    {
        Some(l) if l.starts_with("Black") => 'B',
        Some(l) if l.starts_with("White") => 'W',
        Some(_) => '0',
        None => panic!("no score from gnugo for {}: {text}", path.display()),
    }
}

fn match_args<'a>(a: &'a str, b: &'a str, games: &'a str, tag: &'a str) -> Vec<&'a str> {
    vec![
        "match",
        "--engine-a",
        a,
        "--engine-b",
        b,
        "--games",
        games,
        "--board-size",
        "9",
        "--komi",
        "7",
        "--run-tag",
        tag,
    ]
}

#[test]
fn the_referee_decides_when_an_engine_lies_about_dead_stones() {
    let ws = Ws::new();
    let liar = liar(&ws);
    let honest = gnugo();
    // A copy of GNU Go under its own name, so leftovers can be found.
    let referee_bin = ws.path().join("gnugo-referee");
    std::fs::copy(program("gnugo"), &referee_bin).unwrap();
    let referee = format!("{} --mode gtp", referee_bin.display());
    let mut args = match_args(&liar, &honest, "4", "liar-ref");
    args.extend(["--referee", &referee]);
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let games = games(&store, "liar-ref");
    let files = export(&ws, "liar-ref");
    assert_eq!(games.len(), 4);
    let mut refereed = 0;
    for (g, file) in games.iter().zip(&files) {
        if g.termination != "two_passes" {
            continue;
        }
        let scoring = g
            .scoring
            .as_ref()
            .expect("a game ended by passes is scored");
        assert_eq!(
            scoring.method,
            ScoringMethod::Referee,
            "game {}",
            g.game_index
        );
        let claims = scoring.claims.as_ref().unwrap();
        assert!(claims["referee"]["dead"].is_array(), "{claims}");
        let result = g.result.as_deref().unwrap();
        assert_eq!(
            result.chars().next().unwrap(),
            aftermath_winner(file),
            "game {}: {result} ({claims})",
            g.game_index
        );
        let sgf = std::fs::read_to_string(file).unwrap();
        assert!(sgf.contains("scoring: referee"), "{sgf}");
        refereed += 1;
    }
    assert!(refereed >= 3, "only {refereed} games ended by passes");
    // The referee kept a transcript beside the engines' and is gone.
    let logs: Vec<String> = std::fs::read_dir(ws.path().join("runs/liar-ref/logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(logs.iter().any(|l| l.contains("referee")), "{logs:?}");
    assert!(processes_with("gnugo-referee").is_empty());
}

#[test]
fn without_a_referee_a_lie_gives_a_disputed_game_the_liar_does_not_win() {
    let ws = Ws::new();
    let liar = liar(&ws);
    let honest = gnugo();
    let out = ws.run(&match_args(&liar, &honest, "4", "liar"));
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let games = games(&store, "liar");
    let files = export(&ws, "liar");
    let run = store.run_by_tag("liar").unwrap().unwrap();
    let events = store.events(run.id).unwrap();
    let mut disputed = 0;
    for (g, file) in games.iter().zip(&files) {
        if g.termination != "two_passes" {
            continue;
        }
        let scoring = g.scoring.as_ref().unwrap();
        assert_eq!(
            scoring.method,
            ScoringMethod::Disputed,
            "game {}",
            g.game_index
        );
        disputed += 1;
        let claims = scoring.claims.as_ref().unwrap();
        assert!(claims["a"]["result"].is_string() && claims["b"]["result"].is_string());
        // Either the candidates named different winners and the game has
        // no result, or the winner is the one GNU Go scores.
        match g.result.as_deref() {
            Some("?") => {
                assert_eq!(g.winner, None);
                assert!(scoring.dead_stones.is_none());
            }
            Some(r) => assert_eq!(r.chars().next().unwrap(), aftermath_winner(file), "{r}"),
            None => panic!("no result"),
        }
    }
    assert!(disputed >= 3, "only {disputed} games ended by passes");
    assert!(
        events
            .iter()
            .any(|e| e.kind.as_str() == "score_mismatch" && e.message.contains("disputed")),
        "a dispute is recorded as an event"
    );
}

#[test]
fn area_scoring_counts_every_stone_as_alive() {
    let ws = Ws::new();
    let g = gnugo();
    let mut args = match_args(&g, &g, "2", "area");
    args.extend(["--scoring", "area"]);
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    for game in games(&store, "area") {
        if game.termination != "two_passes" {
            continue;
        }
        let scoring = game.scoring.as_ref().unwrap();
        assert_eq!(scoring.method, ScoringMethod::Area);
        assert_eq!(scoring.dead_stones.as_deref(), Some(&[][..]));
        assert_eq!(scoring.claims, None, "engines are not asked");
        let mut board = Game::new(9, 7.0, Rules::default()).unwrap();
        for m in store.game_moves(game.id).unwrap() {
            let mv = parse_vertex(&m.mv, 9).unwrap();
            board
                .play(Color::parse(m.color.as_str()).unwrap(), mv)
                .unwrap();
        }
        assert_eq!(
            game.result.as_deref(),
            Some(qarena_go::format_result(board.area_score()).as_str())
        );
    }
    let run = store.run_by_tag("area").unwrap().unwrap();
    assert_eq!(run.settings["match"]["go"]["scoring"], "area");
}

#[test]
fn a_silent_engine_is_scored_by_the_referee_named_in_the_config() {
    let ws = Ws::new();
    // The referee is a copy of GNU Go beside the config, named relative to it.
    let dir = ws.path().join("cfg");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(program("gnugo"), dir.join("gnugo-judge")).unwrap();
    let toml = format!(
        r#"
games = 2
[engine_a]
name = "random"
command = "{} --mode random --seed 5"
[engine_b]
name = "gnugo"
command = "{}"
[go]
board_size = 7
komi = 7
referee = "./gnugo-judge --mode gtp"
"#,
        fake_engine().display(),
        gnugo()
    );
    std::fs::write(dir.join("m.toml"), toml).unwrap();
    let out = ws.run(&["match", "--config", "cfg/m.toml", "--run-tag", "silent"]);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let games = games(&store, "silent");
    assert!(games.iter().any(|g| g.termination == "two_passes"));
    for g in games.iter().filter(|g| g.termination == "two_passes") {
        let scoring = g.scoring.as_ref().unwrap();
        assert_eq!(scoring.method, ScoringMethod::Referee);
        let claims = scoring.claims.as_ref().unwrap();
        assert!(claims["a"]["unknown"]
            .as_str()
            .unwrap()
            .contains("not supported"));
        assert!(claims["referee"]["dead"].is_array());
    }
    assert!(processes_with("gnugo-judge").is_empty());
}
