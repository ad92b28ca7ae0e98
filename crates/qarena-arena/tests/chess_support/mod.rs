//! Shared helpers for the chess end-to-end tests: finding real engines,
//! starting them, and replaying PGN with an independent library
//! (python-chess).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use qarena_arena::chess::{play_chess_game, ChessGameMeta, ChessSettings, UciEngine};
use qarena_arena::{GameOutcome, Slot, Timeouts};
use qarena_engine::EngineSpec;
use shakmaty::fen::Fen;
use shakmaty::uci::UciMove;
use shakmaty::{CastlingMode, Chess, Position};

/// Stockfish: `$QARENA_STOCKFISH`, else `stockfish` on `PATH`, else the
/// location Debian's `stockfish` package installs to.
pub fn stockfish() -> PathBuf {
    if let Some(p) = std::env::var_os("QARENA_STOCKFISH") {
        return PathBuf::from(p);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let cand = dir.join("stockfish");
            if cand.is_file() {
                return cand;
            }
        }
    }
    let debian = PathBuf::from("/usr/games/stockfish");
    assert!(
        debian.is_file(),
        "Stockfish not found: set QARENA_STOCKFISH, put `stockfish` on PATH, \
         or `apt-get install stockfish`"
    );
    debian
}

/// The fake engine binary next to this test's own build output; built with
/// `cargo build -p qarena-fake-engine` the first time it is missing.
pub fn fake_engine() -> PathBuf {
    static BUILT: Mutex<bool> = Mutex::new(false);
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = dir.join("qarena-fake-engine");
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if !bin.is_file() && !*built {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
        let status = Command::new(cargo)
            .args(["build", "-p", "qarena-fake-engine"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build -p qarena-fake-engine");
        assert!(status.success(), "cargo build -p qarena-fake-engine failed");
        *built = true;
    }
    assert!(
        bin.is_file(),
        "{} missing after cargo build -p qarena-fake-engine",
        bin.display()
    );
    bin
}

/// `$QARENA_PYTHON`, else the repository's `.venv/bin/python`.
pub fn python() -> PathBuf {
    let p = std::env::var_os("QARENA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    assert!(
        p.is_file(),
        "python interpreter {} not found: set QARENA_PYTHON to a python with \
         `chess` installed (pip install chess), or create .venv at the repo root",
        p.display()
    );
    p
}

pub fn timeouts(move_secs: f64) -> Timeouts {
    Timeouts {
        startup: 10.0,
        mv: move_secs,
        command: 5.0,
    }
}

pub fn sf_options() -> BTreeMap<String, String> {
    let mut o = BTreeMap::new();
    o.insert("Threads".to_string(), "1".to_string());
    o.insert("Hash".to_string(), "16".to_string());
    o
}

pub fn start(
    label: &str,
    argv: Vec<String>,
    t: Timeouts,
    options: &BTreeMap<String, String>,
) -> UciEngine {
    let stop = Arc::new(AtomicBool::new(false));
    match UciEngine::start(EngineSpec::new(label, argv), t, options, stop) {
        Ok(e) => e,
        Err(f) => panic!("starting {label}: {f}"),
    }
}

pub fn start_sf(label: &str) -> UciEngine {
    start(
        label,
        vec![stockfish().display().to_string()],
        timeouts(10.0),
        &sf_options(),
    )
}

pub fn start_fake(label: &str, args: &[&str], t: Timeouts) -> UciEngine {
    let mut argv = vec![
        fake_engine().display().to_string(),
        "--protocol".into(),
        "uci".into(),
    ];
    argv.extend(args.iter().map(|s| s.to_string()));
    start(label, argv, t, &BTreeMap::new())
}

pub fn meta(game_index: u32) -> ChessGameMeta<'static> {
    ChessGameMeta {
        names: ["engine-a", "engine-b"],
        date: "2026-11-23".to_string(),
        game_name: format!("chess test game {}", game_index + 1),
        round: game_index + 1,
        pair_index: game_index / 2,
        game_index,
    }
}

/// Plays games `first_game..first_game+n` as the runner would: game 2k has
/// slot A as White, game 2k+1 slot B.
pub fn play_games(
    a: &mut UciEngine,
    b: &mut UciEngine,
    settings: &ChessSettings,
    first_game: u32,
    n: u32,
) -> Vec<(Slot, GameOutcome)> {
    (first_game..first_game + n)
        .map(|gi| {
            let first = if gi % 2 == 0 { Slot::A } else { Slot::B };
            let out = play_chess_game([&mut *a, &mut *b], first, Some(settings), &meta(gi));
            (first, out)
        })
        .collect()
}

/// Replays the outcome's moves from its opening FEN with shakmaty and
/// returns the final position; panics on an illegal move.
pub fn replay(o: &GameOutcome) -> Chess {
    let fen = o.opening.as_deref().expect("opening FEN recorded");
    let mut pos: Chess = fen
        .parse::<Fen>()
        .expect("opening is a FEN")
        .into_position(CastlingMode::Standard)
        .expect("opening is legal");
    for (i, m) in o.moves.iter().enumerate() {
        let expected = if pos.turn() == shakmaty::Color::White {
            "w"
        } else {
            "b"
        };
        assert_eq!(m.color, expected, "ply {i}: colour");
        let mv =
            m.mv.parse::<UciMove>()
                .unwrap_or_else(|_| panic!("ply {i}: `{}` is not UCI", m.mv))
                .to_move(&pos)
                .unwrap_or_else(|_| {
                    panic!(
                        "ply {i}: `{}` is illegal in {}",
                        m.mv,
                        Fen::from_position(pos.clone(), shakmaty::EnPassantMode::Legal)
                    )
                });
        pos.play_unchecked(&mv);
    }
    pos
}

/// Checks result, winner and slot agree: `first` played White.
pub fn assert_result_consistent(first: Slot, o: &GameOutcome) {
    let white_won = o.winner == Some(first);
    let black_won = o.winner == Some(first.other());
    match o.result.as_deref() {
        Some("1-0") => assert!(white_won, "{:?} {:?}", o.result, o.winner),
        Some("0-1") => assert!(black_won, "{:?} {:?}", o.result, o.winner),
        Some("1/2-1/2") => assert_eq!(o.winner, None),
        None => assert_eq!(o.winner, None),
        other => panic!("unexpected result {other:?}"),
    }
    assert_eq!(o.record_format, "pgn");
}

const CHECK_PGN: &str = r#"
import sys, chess, chess.pgn
path = sys.argv[1]
n = 0
problems = []
with open(path, encoding="utf-8") as f:
    while True:
        game = chess.pgn.read_game(f)
        if game is None:
            break
        n += 1
        h = game.headers
        tag = f"game {n} ({h.get('Event')})"
        if game.errors:
            problems.append(f"{tag}: parse errors {game.errors}")
            continue
        for key in ["Event", "Site", "Date", "Round", "White", "Black", "Result"]:
            if key not in h:
                problems.append(f"{tag}: missing tag {key}")
        board = game.board()
        plies = 0
        for mv in game.mainline_moves():
            if not board.is_legal(mv):
                problems.append(f"{tag}: illegal move {mv} at ply {plies}")
                break
            board.push(mv)
            plies += 1
        if str(plies) != h.get("PlyCount"):
            problems.append(f"{tag}: PlyCount {h.get('PlyCount')} but {plies} plies")
        term = h.get("QarenaTermination")
        res = h.get("Result")
        if res not in ("1-0", "0-1", "1/2-1/2", "*"):
            problems.append(f"{tag}: bad result {res}")
        checks = {
            "checkmate": lambda: board.is_checkmate() and res == ("0-1" if board.turn == chess.WHITE else "1-0"),
            "stalemate": lambda: board.is_stalemate() and res == "1/2-1/2",
            "insufficient_material": lambda: board.is_insufficient_material() and res == "1/2-1/2",
            "fifty_moves": lambda: board.halfmove_clock >= 100 and res == "1/2-1/2",
            "repetition": lambda: board.is_repetition(3) and res == "1/2-1/2",
            "adjudicated_draw": lambda: res == "1/2-1/2",
            "move_cap": lambda: res == "1/2-1/2",
            "adjudicated_resign": lambda: res in ("1-0", "0-1"),
            "aborted": lambda: res == "*",
        }
        if term in checks and not checks[term]():
            problems.append(f"{tag}: termination {term} with result {res} does not match the final position {board.fen()}")
        if term != "checkmate" and board.is_checkmate():
            problems.append(f"{tag}: final position is mate but termination is {term}")
print(n)
if problems:
    print("\n".join(problems), file=sys.stderr)
    sys.exit(1)
"#;

/// Writes `pgn` to a file and has python-chess parse and replay every
/// game; returns the number of games it read.
pub fn python_check_pgn(pgn: &str) -> usize {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("games.pgn");
    let mut f = std::fs::File::create(&path).expect("create pgn");
    f.write_all(pgn.as_bytes()).expect("write pgn");
    drop(f);
    let out = Command::new(python())
        .arg("-c")
        .arg(CHECK_PGN)
        .arg(&path)
        .output()
        .expect("running python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python-chess rejected the PGN:\n{stderr}\n--- PGN ---\n{pgn}"
    );
    stdout.trim().parse().expect("game count from python")
}
