//! Shared helpers: locating the real engines and the qarena binary, and
//! building small databases of real games.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use qarena_store::{now_rfc3339, NewEngine, NewGame, NewMove, NewRun, RunId, Store};

/// The KataGo binary: `QARENA_KATAGO`, else the shared bundle next to the
/// workspace. Its model and configs sit in the same directory.
pub use qarena_testkit::katago_binary as katago;

pub fn katago_dir() -> PathBuf {
    let k = katago();
    let dir = k
        .parent()
        .expect("katago has a parent directory")
        .to_path_buf();
    for f in ["g170-b6c96.bin.gz", "analysis.cfg", "gtp.cfg"] {
        assert!(
            dir.join(f).is_file(),
            "{} missing next to the KataGo binary",
            f
        );
    }
    dir
}

/// A program from PATH, else from /usr/games (Debian's games packages).
pub fn debian_engine(name: &str) -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    let p = Path::new("/usr/games").join(name);
    assert!(
        p.is_file(),
        "{name} not found in PATH or /usr/games — install Debian's {name} package"
    );
    p
}

/// The qarena binary of this workspace, built if missing.
pub fn qarena() -> PathBuf {
    // `cargo build` below puts it under CARGO_TARGET_DIR when that is set.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let bin = target.join("debug/qarena");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "qarena"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build -p qarena");
        assert!(status.success(), "cargo build -p qarena failed");
    }
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

/// Plays a real 9x9 match into `dir/q.sqlite` under run tag `tag`:
/// KataGo (GTP, 16 visits, with self-evaluations) against GNU Go level 1.
pub fn go_match(dir: &Path, tag: &str, games: u32) -> PathBuf {
    let k = katago_dir();
    let katago = format!(
        "{} gtp -model {} -config {} -override-config maxVisits=16",
        katago().display(),
        k.join("g170-b6c96.bin.gz").display(),
        k.join("gtp.cfg").display()
    );
    let gnugo = format!(
        "{} --mode gtp --level 1 --chinese-rules --capture-all-dead",
        debian_engine("gnugo").display()
    );
    let db = dir.join("q.sqlite");
    let out = Command::new(qarena())
        .args(["match", "--engine-a", &katago, "--engine-b", &gnugo])
        .args(["--games", &games.to_string(), "--board-size", "9"])
        .arg("--db")
        .arg(&db)
        .arg("--runs-dir")
        .arg(dir.join("runs"))
        .args(["--run-tag", tag])
        .output()
        .expect("running qarena match");
    assert!(
        out.status.success(),
        "qarena match failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    db
}

/// A run with one short, legal 9x9 game (no engines needed to store it).
pub fn go_run(store: &Store, tag: &str) -> RunId {
    let run = store
        .create_run(&NewRun {
            tag: tag.into(),
            kind: qarena_store::RunKind::Match,
            argv: vec!["test".into()],
            settings: serde_json::json!({"match": {"go": {"board_size": 9, "komi": 7.0}}}),
            software_version: "test".into(),
        })
        .unwrap();
    let engine = |slot: &str| {
        store
            .add_engine(&NewEngine {
                run,
                slot: slot.parse().unwrap(),
                label: slot.into(),
                command: vec!["gnugo".into()],
                protocol: "gtp".parse().unwrap(),
                name: None,
                version: None,
                model_path: None,
                model_sha256: None,
            })
            .unwrap()
    };
    let (a, b) = (engine("a"), engine("b"));
    let moves = ["E5", "C3", "G3", "pass", "pass"];
    store
        .insert_game(&NewGame {
            run,
            point_index: 0,
            game_index: 0,
            pair_index: Some(0),
            opening: None,
            seed: None,
            black_engine: a,
            white_engine: b,
            result: Some("B+10".into()),
            winner: Some("a".parse().unwrap()),
            score: Some(10.0),
            termination: "two_passes".parse().unwrap(),
            record: "(;GM[1]FF[4]SZ[9]KM[7])".into(),
            record_format: "sgf".parse().unwrap(),
            started_at: now_rfc3339(),
            ended_at: now_rfc3339(),
            duration_ms: 0,
            variant_params: None,
            settings: None,
            moves: moves
                .iter()
                .enumerate()
                .map(|(i, m)| NewMove {
                    ply: i as i64,
                    color: if i % 2 == 0 { "B" } else { "W" }.parse().unwrap(),
                    mv: (*m).into(),
                    time_ms: 1,
                })
                .collect(),
            self_evals: vec![],
            costs: vec![],
        })
        .unwrap();
    run
}

/// A run with one chess game from `fen` (start position if None) with
/// these UCI moves, stored as if played by two engines.
pub fn store_chess_game(store: &Store, tag: &str, fen: Option<&str>, moves: &[String]) -> RunId {
    let run = store
        .create_run(&NewRun {
            tag: tag.into(),
            kind: qarena_store::RunKind::Match,
            argv: vec!["test".into()],
            settings: serde_json::json!({"match": {"protocol": "uci"}}),
            software_version: "test".into(),
        })
        .unwrap();
    let engine = |slot: &str| {
        store
            .add_engine(&NewEngine {
                run,
                slot: slot.parse().unwrap(),
                label: format!("stockfish-{slot}"),
                command: vec!["stockfish".into()],
                protocol: "uci".parse().unwrap(),
                name: None,
                version: None,
                model_path: None,
                model_sha256: None,
            })
            .unwrap()
    };
    let (a, b) = (engine("a"), engine("b"));
    let white_first = fen.and_then(|f| f.split_whitespace().nth(1)) != Some("b");
    store
        .insert_game(&NewGame {
            run,
            point_index: 0,
            game_index: 0,
            pair_index: Some(0),
            opening: fen.map(str::to_string),
            seed: None,
            black_engine: b,
            white_engine: a,
            result: Some("*".into()),
            winner: None,
            score: None,
            termination: "move_cap".parse().unwrap(),
            record: format!("[Event \"test\"]\n\n{} *\n", moves.join(" ")),
            record_format: "pgn".parse().unwrap(),
            started_at: now_rfc3339(),
            ended_at: now_rfc3339(),
            duration_ms: 0,
            variant_params: None,
            settings: None,
            moves: moves
                .iter()
                .enumerate()
                .map(|(i, m)| NewMove {
                    ply: i as i64,
                    color: if (i % 2 == 0) == white_first {
                        "w"
                    } else {
                        "b"
                    }
                    .parse()
                    .unwrap(),
                    mv: m.clone(),
                    time_ms: 1,
                })
                .collect(),
            self_evals: vec![],
            costs: vec![],
        })
        .unwrap();
    run
}
