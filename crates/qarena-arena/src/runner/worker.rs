//! The workers: each holds its own pair of engine processes, takes game
//! indices from the shared queue and plays them until the queue is empty
//! or the run stops.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use qarena_engine::{EngineSpec, TranscriptBudget, DEFAULT_TRANSCRIPT_CAP};
use qarena_stats::Tally;
use qarena_store::{EngineId, EventKind, NewEvent, RecordFormat, RunId, Store};

use super::record::record_game;
use super::{lock, Fatal, MatchRequest, RUN_TRANSCRIPT_BUDGET};
use crate::chess::{play_chess_game, ChessGameMeta, UciEngine};
use crate::failure::{Failure, Termination};
use crate::game::{GameOutcome, Slot};
use crate::go::{play_go_game, GoGameMeta, GtpEngine};
use crate::runfolder::RunFolder;
use crate::settings::{MatchConfig, Protocol};

/// A started engine of either protocol.
pub(super) enum Player {
    Gtp(GtpEngine),
    Uci(UciEngine),
}

impl Player {
    fn name_version(&self) -> (Option<String>, Option<String>) {
        match self {
            Player::Gtp(g) => (g.name.clone(), g.version.clone()),
            Player::Uci(u) => (u.name.clone(), None),
        }
    }
    fn stderr_tail(&self) -> String {
        match self {
            Player::Gtp(g) => g.stderr_tail(),
            Player::Uci(u) => u.stderr_tail(),
        }
    }
    fn process(&self) -> &qarena_engine::Engine {
        match self {
            Player::Gtp(g) => g.process(),
            Player::Uci(u) => u.process(),
        }
    }
    fn transcript_capped(&self) -> bool {
        match self {
            Player::Gtp(g) => g.transcript_capped(),
            Player::Uci(u) => u.transcript_capped(),
        }
    }
    fn kill(self) {
        match self {
            Player::Gtp(g) => g.kill(),
            Player::Uci(u) => u.kill(),
        }
    }
    fn shutdown(self) {
        match self {
            Player::Gtp(g) => g.shutdown(),
            Player::Uci(u) => u.shutdown(),
        }
    }
}

pub(super) struct Shared<'a> {
    pub(super) store: Store,
    pub(super) run: RunId,
    pub(super) cfg: &'a MatchConfig,
    pub(super) req: &'a MatchRequest,
    pub(super) folder: RunFolder,
    pub(super) argv: [Vec<String>; 2],
    pub(super) engine_ids: [EngineId; 2],
    pub(super) queue: Mutex<VecDeque<u32>>,
    pub(super) restarts: [AtomicU32; 2],
    pub(super) user_stop: Arc<AtomicBool>,
    /// Set by the user's stop or by a fatal engine failure: workers stop.
    pub(super) stop: Arc<AtomicBool>,
    /// Set when an SPRT reached its verdict: no new games, but games in
    /// progress finish.
    pub(super) drain: AtomicBool,
    pub(super) fatal: Mutex<Option<Fatal>>,
    pub(super) live: Mutex<Live>,
    pub(super) names: [String; 2],
    pub(super) engine_info_saved: [AtomicBool; 2],
    /// Bytes all transcripts of this run may still write.
    pub(super) transcripts: TranscriptBudget,
    /// Per slot: a transcript limit was reached and the event is recorded.
    pub(super) transcript_capped: [AtomicBool; 2],
    /// Go: the opening book, read and checked before the first game.
    pub(super) go_book: Option<Arc<Vec<qarena_go::GoOpening>>>,
}

/// The live counts behind the progress line.
#[derive(Default)]
pub(super) struct Live {
    /// Every finished game of the point, stored before or now.
    pub(super) tally: Tally,
    /// Finished games played by this invocation (for games per minute).
    pub(super) played_now: u32,
}

fn start_player(sh: &Shared<'_>, worker: usize, slot: Slot) -> Result<Player, Failure> {
    let ec = if slot == Slot::A {
        &sh.cfg.engine_a
    } else {
        &sh.cfg.engine_b
    };
    let mut spec = EngineSpec::new(
        format!("{}[{}]", ec.name, slot.as_str()),
        sh.argv[slot.index()].clone(),
    );
    spec.cwd = ec.cwd.clone();
    spec.transcript_budget = Some(sh.transcripts.clone());
    spec.transcript = Some(sh.folder.logs().join(format!(
        "p{}-w{}-{}.log",
        sh.req.point_index,
        worker,
        slot.as_str()
    )));
    match ec.protocol {
        Protocol::Gtp => {
            let mut g = GtpEngine::start(spec, sh.cfg.timeouts, sh.stop.clone())?;
            for cmd in &ec.init {
                g.expect_ok(cmd)?;
            }
            Ok(Player::Gtp(g))
        }
        Protocol::Uci => Ok(Player::Uci(UciEngine::start(
            spec,
            sh.cfg.timeouts,
            &ec.options,
            sh.stop.clone(),
        )?)),
    }
}

pub(super) fn worker(sh: &Shared<'_>, w: usize) {
    let mut players: [Option<Player>; 2] = [None, None];
    loop {
        if sh.stop.load(Ordering::SeqCst) || sh.drain.load(Ordering::SeqCst) {
            break;
        }
        let Some(gi) = lock(&sh.queue).pop_front() else {
            break;
        };
        let started_at = qarena_store::now_rfc3339();
        let t0 = Instant::now();
        // Game 2k and 2k+1 form a pair: same opening, colours swapped.
        let first = if gi % 2 == 0 { Slot::A } else { Slot::B };
        let mut outcome = None;
        for slot in [Slot::A, Slot::B] {
            if players[slot.index()].is_none() {
                match start_player(sh, w, slot) {
                    Ok(p) => {
                        save_engine_info(sh, slot, &p);
                        players[slot.index()] = Some(p);
                    }
                    Err(f) => {
                        outcome = Some(start_failure_outcome(sh, slot, f, first, gi));
                        break;
                    }
                }
            }
        }
        let cpu_before = players
            .each_ref()
            .map(|p| p.as_ref().and_then(|p| p.process().cpu_seconds()));
        let outcome = match outcome {
            Some(o) => o,
            None => play_one(sh, &mut players, gi, first),
        };
        let ended_at = qarena_store::now_rfc3339();
        let duration_ms = t0.elapsed().as_millis() as i64;
        let costs = game_costs(&players, cpu_before);
        record_game(
            sh,
            gi,
            first,
            &outcome,
            (started_at, ended_at, duration_ms),
            costs,
        );
        note_transcript_caps(sh, &players, gi);
        if let Some((slot, f)) = &outcome.fault {
            let tail = players[slot.index()]
                .as_ref()
                .map(|p| p.stderr_tail())
                .unwrap_or_default();
            if let Some(p) = players[slot.index()].take() {
                p.kill();
            }
            let n = sh.restarts[slot.index()].fetch_add(1, Ordering::SeqCst) + 1;
            let allowed = sh.cfg.restarts;
            let _ = sh.store.record_event(&NewEvent {
                run: sh.run,
                game_index: Some(i64::from(gi)),
                engine: Some(sh.engine_ids[slot.index()]),
                kind: qarena_store::EventKind::Restart,
                message: format!(
                    "engine '{}' killed after: {f}; restart {n} of {allowed} allowed",
                    sh.names[slot.index()]
                ),
                stderr_tail: (!tail.is_empty()).then_some(tail),
            });
            if n > allowed || matches!(f, Failure::Rejected { .. } | Failure::Spawn { .. }) {
                let msg = format!(
                    "engine '{}' failed {n} times (last: {f}); stopping the run — the finished games are kept, `--resume {}` continues it. Raise `restarts` in the config to tolerate more faults.",
                    sh.names[slot.index()],
                    sh.req.tag
                );
                *lock(&sh.fatal) = Some(Fatal::Engine(msg));
                sh.stop.store(true, Ordering::SeqCst);
            }
        }
        if outcome.termination == Termination::Aborted {
            break;
        }
    }
    for p in players.into_iter().flatten() {
        p.shutdown();
    }
}

/// What each engine process cost during the game just played: the CPU time
/// it used since `cpu_before` and its peak memory so far. A process that
/// died (or a slot never started) has no figures.
fn game_costs(players: &[Option<Player>; 2], cpu_before: [Option<f64>; 2]) -> [GameCost; 2] {
    [Slot::A, Slot::B].map(|slot| {
        let Some(p) = players[slot.index()].as_ref() else {
            return GameCost::default();
        };
        let e = p.process();
        GameCost {
            cpu_seconds: e
                .cpu_seconds()
                .zip(cpu_before[slot.index()])
                .map(|(after, before)| (after - before).max(0.0)),
            peak_rss_bytes: e.peak_rss_bytes(),
        }
    })
}

/// One engine process's cost during one game.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct GameCost {
    pub(super) cpu_seconds: Option<f64>,
    pub(super) peak_rss_bytes: Option<u64>,
}

/// Records one event per slot when an engine's transcript first reaches a
/// limit: the evidence of that engine is incomplete from then on.
fn note_transcript_caps(sh: &Shared<'_>, players: &[Option<Player>; 2], gi: u32) {
    for slot in [Slot::A, Slot::B] {
        let capped = players[slot.index()]
            .as_ref()
            .is_some_and(Player::transcript_capped);
        if capped && !sh.transcript_capped[slot.index()].swap(true, Ordering::SeqCst) {
            let _ = sh.store.record_event(&NewEvent {
                run: sh.run,
                game_index: Some(i64::from(gi)),
                engine: Some(sh.engine_ids[slot.index()]),
                kind: qarena_store::EventKind::Warning,
                message: format!(
                    "engine '{}': transcript limit reached ({} MiB per engine, {} MiB per run); later engine lines are not logged",
                    sh.names[slot.index()],
                    DEFAULT_TRANSCRIPT_CAP >> 20,
                    RUN_TRANSCRIPT_BUDGET >> 20
                ),
                stderr_tail: None,
            });
        }
    }
}

/// Records the name and version the engine reported, once per slot; the
/// engine row itself (command, model, hash) was written before the games.
fn save_engine_info(sh: &Shared<'_>, slot: Slot, p: &Player) {
    if sh.engine_info_saved[slot.index()].swap(true, Ordering::SeqCst) {
        return;
    }
    let (name, version) = p.name_version();
    let _ = sh.store.set_engine_identity(
        sh.engine_ids[slot.index()],
        name.as_deref(),
        version.as_deref(),
    );
}

/// The outcome of a game that could not start because an engine failed to
/// start: the engine loses, and the record says why.
fn start_failure_outcome(
    sh: &Shared<'_>,
    slot: Slot,
    f: Failure,
    first: Slot,
    gi: u32,
) -> GameOutcome {
    let term = f.termination();
    let aborted = term == Termination::Aborted;
    // `first` is Black in Go and White in chess.
    let loser_first = slot == first;
    let chess = sh.cfg.protocol() == Protocol::Uci;
    let result = (!aborted).then(|| {
        match (chess, loser_first) {
            (false, true) => "W+F",
            (false, false) => "B+F",
            (true, true) => "0-1",
            (true, false) => "1-0",
        }
        .to_string()
    });
    let why = format!("engine '{}' failed to start: {f}", sh.names[slot.index()]);
    let first_name = &sh.names[first.index()];
    let second_name = &sh.names[first.other().index()];
    let game_name = format!(
        "{} point {} game {}",
        sh.req.tag,
        sh.req.point_index,
        gi + 1
    );
    let date: String = qarena_store::now_rfc3339().chars().take(10).collect();
    let (record, record_format) = if chess {
        let res = result.as_deref().unwrap_or("*");
        let text = format!(
            "[Event \"{game_name}\"]\n[Site \"qarena\"]\n[Date \"{}\"]\n[Round \"{}\"]\n[White \"{first_name}\"]\n[Black \"{second_name}\"]\n[Result \"{res}\"]\n[Termination \"abandoned\"]\n[PlyCount \"0\"]\n\n{{{}}} {res}\n",
            date.replace('-', "."),
            gi + 1,
            why.replace(['{', '}'], "")
        );
        (text, RecordFormat::Pgn)
    } else {
        let sgf = qarena_go::SgfGame {
            size: sh.cfg.go.board_size,
            komi: sh.cfg.go.komi,
            rules: None,
            black: Some(first_name.clone()),
            white: Some(second_name.clone()),
            result: result.clone(),
            date: Some(date),
            root_comment: Some(format!("termination: {term}; {why}")),
            game_name: Some(game_name),
            moves: Vec::new(),
        };
        (qarena_go::write_sgf(&sgf), RecordFormat::Sgf)
    };
    GameOutcome {
        result,
        winner: (!aborted).then_some(slot.other()),
        score: None,
        termination: term,
        moves: Vec::new(),
        self_evals: Vec::new(),
        events: if aborted {
            Vec::new()
        } else {
            vec![crate::game::GameEvent {
                kind: if term == Termination::Timeout {
                    EventKind::Timeout
                } else {
                    EventKind::Crash
                },
                slot: Some(slot),
                message: why,
                stderr_tail: None,
            }]
        },
        record,
        record_format,
        opening: None,
        seed: None,
        fault: (!aborted).then_some((slot, f)),
        scoring: None,
    }
}

fn play_one(
    sh: &Shared<'_>,
    players: &mut [Option<Player>; 2],
    gi: u32,
    first: Slot,
) -> GameOutcome {
    let date = qarena_store::now_rfc3339()
        .chars()
        .take(10)
        .collect::<String>();
    let game_name = format!(
        "{} point {} game {}",
        sh.req.tag,
        sh.req.point_index,
        gi + 1
    );
    let [pa, pb] = players;
    match (pa.as_mut(), pb.as_mut()) {
        (Some(Player::Gtp(a)), Some(Player::Gtp(b))) => {
            let opening = sh
                .go_book
                .as_deref()
                .map(|book| &book[sh.cfg.go.opening_index(book.len(), gi / 2)]);
            let meta = GoGameMeta {
                names: [&sh.names[0], &sh.names[1]],
                seed: gi + 1,
                date,
                game_name,
                opening,
            };
            play_go_game([a, b], first, &sh.cfg.go, &meta)
        }
        (Some(Player::Uci(a)), Some(Player::Uci(b))) => {
            let meta = ChessGameMeta {
                names: [&sh.names[0], &sh.names[1]],
                date,
                game_name,
                round: gi + 1,
                pair_index: gi / 2,
                game_index: gi,
            };
            play_chess_game([a, b], first, sh.cfg.chess.as_ref(), &meta)
        }
        _ => start_failure_outcome(
            sh,
            Slot::A,
            Failure::BadResponse {
                label: sh.names[0].clone(),
                detail: "engines speak different protocols".to_string(),
            },
            first,
            gi,
        ),
    }
}
