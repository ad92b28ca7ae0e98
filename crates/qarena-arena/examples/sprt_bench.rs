//! Does an SPRT match slow down as it grows? Games a minute of a resumed
//! match with `--sprt`, between two fake GTP engines on 9×9, with a long
//! run already stored against a named reference run in the same invocation:
//! the same match resumed with a short run stored.
//!
//! The runner checks the SPRT after every finished game; the check must not
//! cost more the more games the run holds. Each run is created by playing
//! one real game, then filled with synthetic finished games (colour-swapped
//! pairs, ~45 moves and an SGF record each, as a one-visit KataGo match
//! stores), then resumed until it has played `PLAY` more games; the rate is
//! taken between the 20th game and the last, after the resume's start-up.
//!
//! ```text
//! cargo build --release -p qarena-fake-engine
//! cargo run --release -p qarena-arena --example sprt_bench [-- STORED_REF STORED_BIG PLAY]
//! ```
//! (defaults 1000, 30000 and 400). The fake engine is found next to the
//! example's own folder (`target/release/qarena-fake-engine`), or at
//! `QARENA_FAKE_ENGINE`.
#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use qarena_arena::{
    run_match, EngineConfig, MatchConfig, MatchRequest, Observer, Protocol, RunNote, RunStart,
    RunTag,
};
use qarena_stats::{SprtModel, SprtParams};
use qarena_store::{
    EngineSlot, MoveColor, NewGame, NewMove, RecordFormat, RunKind, Slot, Store, Termination,
};

/// Counts finished games, notes when each ended, and asks the run to stop
/// once `stop_after` games have ended.
#[derive(Debug)]
struct Clock {
    ended: AtomicU32,
    stop_after: u32,
    times: Mutex<Vec<Instant>>,
    stop: Arc<AtomicBool>,
}

impl Observer for Clock {
    fn note(&self, note: RunNote<'_>) {
        if let RunNote::GameEnded { .. } = note {
            self.times.lock().unwrap().push(Instant::now());
            if self.ended.fetch_add(1, Ordering::SeqCst) + 1 >= self.stop_after {
                self.stop.store(true, Ordering::SeqCst);
            }
        }
    }
}

fn fake_engine() -> PathBuf {
    if let Some(p) = std::env::var_os("QARENA_FAKE_ENGINE") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    // target/release/examples/sprt_bench -> target/release/qarena-fake-engine
    let p = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("qarena-fake-engine"))
        .unwrap();
    if !p.exists() {
        eprintln!(
            "sprt_bench: no fake engine at {}: run `cargo build --release -p qarena-fake-engine` \
             first, or set QARENA_FAKE_ENGINE",
            p.display()
        );
        std::process::exit(2);
    }
    p
}

/// Plays or resumes the run in `dir` until `stop_after` games have ended
/// in this call; returns the instants at which they ended.
fn play(dir: &Path, start: RunStart, games: u32, stop_after: u32) -> Vec<Instant> {
    let fake = fake_engine();
    let engine = |name: &str, seed: u32| {
        EngineConfig::from_command(
            name,
            &format!("{} --seed {seed}", fake.display()),
            Protocol::Gtp,
        )
    };
    let mut config = MatchConfig::new(engine("fake-a", 1), engine("fake-b", 2));
    config.games = games;
    config.concurrency = 2;
    config.go.board_size = 9;
    config.go.move_cap = 60;
    config.sprt = Some(SprtParams::new(-0.5, 0.5, 1e-9, 1e-9, SprtModel::Logistic).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let clock = Arc::new(Clock {
        ended: AtomicU32::new(0),
        stop_after,
        times: Mutex::new(Vec::new()),
        stop: stop.clone(),
    });
    let request = MatchRequest {
        tag: RunTag::parse("bench").unwrap(),
        db: dir.join("bench.sqlite"),
        runs_dir: dir.join("runs"),
        config,
        argv: Vec::new(),
        start,
        kind: RunKind::Match,
        variant_params: None,
        variants: [None, None],
        point_index: 0,
        shard: None,
        observer: clock.clone(),
    };
    run_match(request, stop).unwrap();
    let times = clock.times.lock().unwrap().clone();
    times
}

/// Fills the run with finished synthetic games up to index `stored`.
fn fill(dir: &Path, stored: u32) {
    let store = Store::open(&dir.join("bench.sqlite")).unwrap();
    let run = store.run_by_tag("bench").unwrap().unwrap().id;
    let engines = store.engines(run).unwrap();
    let id = |slot: Slot| {
        engines
            .iter()
            .find(|e| e.slot == EngineSlot::Player(slot))
            .unwrap()
            .id
    };
    let (a, b) = (id(Slot::A), id(Slot::B));
    // The creating call may have left a game aborted by its stop request.
    store.delete_aborted_games(run, 0).unwrap();
    let finished: Vec<i64> = store
        .finished_games(run)
        .unwrap()
        .into_iter()
        .map(|(_, g)| g)
        .collect();
    for g in (0..i64::from(stored)).filter(|g| !finished.contains(g)) {
        let n = 40 + g % 11;
        let (black, white) = if g % 2 == 0 { (a, b) } else { (b, a) };
        let moves: Vec<String> = (0..n)
            .map(|ply| format!("{}{}", (b'A' + (ply * 7 % 8) as u8) as char, 1 + ply % 9))
            .collect();
        let record = format!(
            "(;GM[1]FF[4]SZ[9]KM[7]{})",
            moves
                .iter()
                .map(|m| format!(";B[{}]", m.to_lowercase()))
                .collect::<String>()
        );
        store
            .insert_game(&NewGame {
                run,
                point_index: 0,
                game_index: g,
                pair_index: Some(g / 2),
                opening: None,
                seed: Some(g),
                black_engine: black,
                white_engine: white,
                result: Some(["B+R", "W+R", "0"][(g % 3) as usize].into()),
                winner: [Some(Slot::A), Some(Slot::B), None][(g * 7 % 3) as usize],
                score: None,
                termination: Termination::Resign,
                record,
                record_format: RecordFormat::Sgf,
                started_at: "2026-01-01T00:00:00.000Z".into(),
                ended_at: "2026-01-01T00:00:01.000Z".into(),
                duration_ms: 1000,
                variant_params: None,
                settings: None,
                moves: moves
                    .into_iter()
                    .enumerate()
                    .map(|(ply, mv)| NewMove {
                        ply: ply as i64,
                        color: if ply % 2 == 0 {
                            MoveColor::Black
                        } else {
                            MoveColor::White
                        },
                        mv,
                        time_ms: 3,
                    })
                    .collect(),
                self_evals: Vec::new(),
                costs: Vec::new(),
            })
            .unwrap();
    }
}

/// Games a minute of a resumed SPRT match with `stored` games already in
/// the run.
fn rate(stored: u32, play_n: u32) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let total = stored + play_n + 10;
    play(dir.path(), RunStart::New, total, 1);
    let t = Instant::now();
    fill(dir.path(), stored);
    eprintln!(
        "sprt_bench: {stored} games stored in {:.1} s; resuming for {play_n} games",
        t.elapsed().as_secs_f64()
    );
    let times = play(dir.path(), RunStart::Resume, total, play_n);
    assert!(
        times.len() >= play_n as usize,
        "the resumed run stopped after {} games (an SPRT decision?)",
        times.len()
    );
    let from = 20.min(times.len() - 2);
    let span = times[times.len() - 1] - times[from];
    (times.len() - 1 - from) as f64 * 60.0 / span.as_secs_f64()
}

fn main() {
    let args: Vec<u32> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse().unwrap_or_else(|_| {
                eprintln!("usage: sprt_bench [STORED_REF STORED_BIG PLAY] (whole numbers)");
                std::process::exit(2)
            })
        })
        .collect();
    let reference = args.first().copied().unwrap_or(1000);
    let big = args.get(1).copied().unwrap_or(30_000);
    let play_n = args.get(2).copied().unwrap_or(400).max(40);
    let r = rate(reference, play_n);
    let b = rate(big, play_n);
    println!(
        "SPRT match, two fake GTP engines, 9x9, -j 2: reference run with {reference} games \
         stored {r:.0} games/min; with {big} stored {b:.0} games/min; ratio {:.2}",
        b / r
    );
}
