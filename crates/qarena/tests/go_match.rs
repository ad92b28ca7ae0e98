//! End-to-end Go matches with real engines: GNU Go vs GNU Go, KataGo vs GNU Go.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use common::*;
use qarena_go::{parse_vertex, Color, Game, Rules};

/// Replays a stored game with qarena's rules: every move must be legal.
fn replay_legal(store: &qarena_store::Store, game: &qarena_store::GameRecord, size: u8) {
    let mut g = Game::new(size, 7.0, Rules::default()).unwrap();
    for m in store.game_moves(game.id).unwrap() {
        if m.mv == "resign" {
            continue;
        }
        let c = Color::parse(m.color.as_str()).unwrap();
        let mv = parse_vertex(&m.mv, size).unwrap();
        g.play(c, mv)
            .unwrap_or_else(|e| panic!("game {} ply {}: {e}", game.game_index, m.ply));
    }
}

#[test]
fn gnugo_vs_gnugo_full_games_sgf_replayed_by_sgfmill() {
    let ws = Ws::new();
    let a = gnugo_cmd(1);
    let b = gnugo_cmd(3);
    let out = ws.run(&[
        "match",
        "--engine-a",
        &a,
        "--engine-b",
        &b,
        "--name-a",
        "l1",
        "--name-b",
        "l3",
        "--games",
        "4",
        "-j",
        "2",
        "--run-tag",
        "gg",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("l1 vs l3"), "{stdout}");
    let store = ws.store();
    let run = store.run_by_tag("gg").unwrap().unwrap();
    let games = store.games(run.id).unwrap();
    assert_eq!(games.len(), 4);
    for g in &games {
        assert!(
            ["two_passes", "resign"].contains(&g.termination.as_str()),
            "unexpected termination {}",
            g.termination
        );
        assert!(g.move_count > 10, "suspiciously short game");
        replay_legal(&store, g, 9);
        assert!(g.record.starts_with("(;FF[4]GM[1]"), "{}", g.record);
    }
    // Colours alternate: even games have A as Black.
    let engines = store.engines(run.id).unwrap();
    let a_id = engines.iter().find(|e| e.slot == "a").unwrap().id;
    assert_eq!(games[0].black_engine, a_id);
    assert_eq!(games[1].white_engine, a_id);
    assert!(engines.iter().all(|e| e.name.as_deref() == Some("GNU Go")));

    let out = ws.run(&["export", "sgf", "--run", "gg", "-o", "sgf"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sgfmill_replay(&ws.path().join("sgf")), 4);
    // The run folder holds the resolved config, logs, results and manifests.
    let folder = ws.path().join("runs/gg");
    for f in [
        "configs/match.json",
        "results/point-0.json",
        "manifests/environment.json",
    ] {
        assert!(folder.join(f).is_file(), "missing {f}");
    }
    let logs: Vec<_> = std::fs::read_dir(folder.join("logs")).unwrap().collect();
    assert!(!logs.is_empty());
}

#[test]
fn katago_vs_gnugo_records_self_evals() {
    let (bin, model, cfg) = katago();
    let ws = Ws::new();
    let toml = format!(
        r#"
games = 2
concurrency = 1
[engine_a]
name = "katago"
command = "{} gtp -model {{model}} -config {{config}} -override-config maxVisits=8,allowResignation=false"
model = "{}"
config = "{}"
[engine_b]
name = "gnugo"
command = "{}"
[go]
board_size = 9
komi = 7
"#,
        bin.display(),
        model.display(),
        cfg.display(),
        gnugo_cmd(1)
    );
    std::fs::write(ws.path().join("m.toml"), toml).unwrap();
    let out = ws.run(&["match", "--config", "m.toml", "--run-tag", "kg"]);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let run = store.run_by_tag("kg").unwrap().unwrap();
    let engines = store.engines(run.id).unwrap();
    let kata = engines.iter().find(|e| e.slot == "a").unwrap();
    assert_eq!(kata.name.as_deref(), Some("KataGo"));
    assert_eq!(
        kata.model_sha256.as_deref(),
        Some("f5d32604e3675c480c7c8f6aa579a1ea857135628a0afccc8fa56330fbacd38d")
    );
    let games = store.games(run.id).unwrap();
    assert_eq!(games.len(), 2);
    for g in &games {
        assert_ne!(g.termination, "aborted");
        replay_legal(&store, g, 9);
        let evals = store.game_self_evals(g.id).unwrap();
        let moves = store.game_moves(g.id).unwrap();
        let kata_moves = moves
            .iter()
            .filter(|m| {
                let kata_black = g.black_engine == kata.id;
                (m.color == "B") == kata_black
            })
            .count();
        assert!(!evals.is_empty(), "no self-evals in game {}", g.game_index);
        assert_eq!(evals.len(), kata_moves, "one self-eval per KataGo move");
        for e in &evals {
            assert_eq!(e.engine, kata.id);
            let w = e.winrate.expect("winrate");
            assert!((0.0..=1.0).contains(&w));
            assert!(e.visits.unwrap_or(0) >= 1);
            assert!(e.top_k.is_some());
        }
    }
}

#[test]
fn sprt_stops_a_lopsided_match_early_and_records_the_verdict() {
    let ws = Ws::new();
    let fake = fake_engine();
    let a = format!("{} --mode random --seed 3", fake.display());
    let out = ws.run(&[
        "match",
        "--engine-a",
        &a,
        "--engine-b",
        &gnugo_cmd(1),
        "--games",
        "200",
        "-j",
        "2",
        "--board-size",
        "7",
        "--sprt",
        "elo0=-100,elo1=0,alpha=0.05,beta=0.05",
        "--run-tag",
        "sp",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("SPRT: H0 accepted"), "{stdout}");
    let store = ws.store();
    let run = store.run_by_tag("sp").unwrap().unwrap();
    let n = store.games(run.id).unwrap().len();
    assert!(n < 60, "SPRT should stop long before 200 games, played {n}");
    assert!(run.notes.unwrap_or_default().contains("H0 accepted"));
    // Resuming a decided run starts no new game.
    let out = ws.run(&["match", "--resume", "sp"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(store.games(run.id).unwrap().len(), n);
}
