//! The match runner: plays the games of a run on K workers, each with its own
//! pair of engine processes, and commits every finished game to the store.
//!
//! `start` opens (or resumes) the run and registers its engines, `worker`
//! plays games, `record` stores each finished game; this module ties them
//! together and builds the summary.
//!
//! Invariants:
//! - a game reaches the database in one transaction, when it ends; a game in
//!   progress at shutdown is stored as `aborted` and replayed on resume;
//! - on resume, only game indices without a finished game are played, so no
//!   game is ever duplicated;
//! - an engine process never outlives the worker that started it (engines are
//!   killed on fault, on shutdown and on drop; `kill_all` sweeps the rest);
//! - a run has one owner: the run folder is claimed (`owner.lock`, see
//!   [`crate::runfolder`]) before the run is created, marked running or has
//!   its aborted games deleted, and stays claimed until the last write;
//! - the runner never prints: what the user should see goes to the
//!   request's [`Observer`].

mod record;
mod start;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use qarena_engine::TranscriptBudget;
use qarena_store::{NewEvent, RunId, RunKind, RunStatus, Store, VariantId};

pub use start::{claim_error, resolve_argv};

use crate::failure::Termination;
use crate::runfolder::RunTag;
use crate::settings::{MatchConfig, Protocol};
use crate::summary::MatchSummary;
use worker::{worker, Live, Shared};

/// Bytes all engine transcripts of one match (one sweep point) may write
/// together; each engine process may write
/// [`qarena_engine::DEFAULT_TRANSCRIPT_CAP`].
pub const RUN_TRANSCRIPT_BUDGET: u64 = 1 << 30;

/// Why a run could not be carried out. The CLI maps these to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad input: config, command, run tag, paths (exit code 2).
    #[error("{0}")]
    Input(String),
    /// An engine failed beyond recovery (exit code 3).
    #[error("{0}")]
    Engine(String),
    #[error(transparent)]
    Store(#[from] qarena_store::StoreError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
}

/// Why the workers were stopped before the run was done.
#[derive(Debug)]
enum Fatal {
    /// An engine failed beyond its restart budget.
    Engine(String),
    /// A finished game could not be stored (disk full, read-only...).
    Store(qarena_store::StoreError),
}

/// How a run starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStart {
    /// A new run; its tag must be free.
    New,
    /// Continue the stored run with this tag: its stored config wins over
    /// the request's, and only games without a stored result are played.
    Resume,
    /// One point of a sweep, played into the sweep's run: engines get
    /// per-point slots, the run's status and its claim stay with the sweep.
    SweepPoint(RunId),
}

/// What a running match tells its caller, which decides how to show it
/// (the CLI draws a progress bar on a terminal and one line per game
/// otherwise).
#[derive(Debug, Clone, Copy)]
pub enum RunNote<'a> {
    /// Games are about to start: `done` of `total` are already finished.
    Started { total: u32, done: u32 },
    /// Something the user should know (also stored as an event).
    Warning(&'a str),
    /// A line of progress outside the games (e.g. a sweep's variant built).
    Info(&'a str),
    /// A game ended and is stored; `counts` is the running W-D-L line.
    GameEnded {
        index: u32,
        total: u32,
        result: Option<&'a str>,
        termination: Termination,
        counts: &'a str,
    },
    /// The workers stopped.
    Finished,
}

/// Receives a run's [`RunNote`]s, from any worker thread.
pub trait Observer: Send + Sync + std::fmt::Debug {
    fn note(&self, note: RunNote<'_>);
}

/// An observer that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Observer for Quiet {
    fn note(&self, _: RunNote<'_>) {}
}

/// What to run.
#[derive(Debug, Clone)]
pub struct MatchRequest {
    pub tag: RunTag,
    pub db: PathBuf,
    pub runs_dir: PathBuf,
    pub config: MatchConfig,
    pub argv: Vec<String>,
    pub start: RunStart,
    pub kind: RunKind,
    /// Extra JSON stored on every game (e.g. the variant parameters of a sweep point).
    pub variant_params: Option<serde_json::Value>,
    /// The catalogued variant each slot (A, B) plays, linked to its engine
    /// when the engine is registered (`engines.variant_id`); `None` for an
    /// engine that plays no catalogued variant.
    pub variants: [Option<VariantId>; 2],
    pub point_index: i64,
    /// Play only this shard's colour-swapped pairs (`--shard K/N`); the
    /// run records it, and a resume continues the same shard.
    pub shard: Option<qarena_store::Shard>,
    /// Where progress and warnings go.
    pub observer: Arc<dyn Observer>,
}

/// Runs (or resumes) a match and returns its summary.
pub fn run_match(
    mut req: MatchRequest,
    user_stop: Arc<AtomicBool>,
) -> Result<MatchSummary, RunError> {
    let store = Store::open(&req.db)?;
    let (run, _owner) = start::open_run(&store, &mut req)?;
    let cfg = req.config.clone();
    if cfg.protocol() == Protocol::Uci {
        let chess = cfg.chess.clone().unwrap_or_default();
        chess.check().map_err(|e| RunError::Input(e.to_string()))?;
        if let Some(w) = crate::chess::determinism_warning(&chess, cfg.games) {
            req.observer.note(RunNote::Warning(&w));
            store.record_event(&NewEvent {
                run,
                game_index: None,
                engine: None,
                kind: qarena_store::EventKind::Warning,
                message: w,
                stderr_tail: None,
            })?;
        }
    }
    let go_book = if cfg.protocol() == Protocol::Gtp {
        cfg.go
            .load_openings()
            .map_err(|e| RunError::Input(format!("go.openings: {e}")))?
    } else {
        None
    };
    let argv = [
        start::resolve_argv(&cfg.engine_a)?,
        start::resolve_argv(&cfg.engine_b)?,
    ];

    let folder = start::create_folder(&req)?;
    start::write_config(&folder, &req, &cfg)?;
    let engine_ids = start::register_engines(&store, run, &folder, &req, &cfg, &argv)?;
    let (pending, done, total) = start::pending_games(&store, run, &req, cfg.games)?;
    req.observer.note(RunNote::Started {
        total,
        done: u32::try_from(done).unwrap_or(total),
    });

    let stop = Arc::new(AtomicBool::new(false));
    let shared = Shared {
        store: store.clone(),
        run,
        cfg: &cfg,
        req: &req,
        folder: folder.clone(),
        argv,
        engine_ids,
        queue: Mutex::new(pending),
        restarts: [AtomicU32::new(0), AtomicU32::new(0)],
        user_stop: user_stop.clone(),
        stop: stop.clone(),
        drain: AtomicBool::new(false),
        fatal: Mutex::new(None),
        live: Mutex::new(Live::default()),
        names: [cfg.engine_a.name.clone(), cfg.engine_b.name.clone()],
        engine_info_saved: [AtomicBool::new(false), AtomicBool::new(false)],
        transcripts: TranscriptBudget::new(RUN_TRANSCRIPT_BUDGET),
        transcript_capped: [AtomicBool::new(false), AtomicBool::new(false)],
        go_book,
    };
    // Count already-finished games into the tally so the summary covers the run.
    {
        let done = crate::summary::from_games("", "", "", &store.games(run)?, req.point_index);
        // A resumed run whose SPRT already decided starts no new game.
        if let Some(params) = &cfg.sprt {
            if done
                .tally
                .sprt_pairs(params)
                .is_some_and(|r| r.verdict != qarena_stats::SprtVerdict::Continue)
            {
                shared.drain.store(true, Ordering::SeqCst);
            }
        }
        lock(&shared.live).tally = done.tally;
    }

    // Forward the user's Ctrl-C to the workers' stop flag.
    let started = Instant::now();
    let workers = cfg.concurrency.min(cfg.games as usize).max(1);
    std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            while !shared.stop.load(Ordering::SeqCst) {
                if shared.user_stop.load(Ordering::SeqCst) {
                    shared.stop.store(true, Ordering::SeqCst);
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let sh = &shared;
                s.spawn(move || worker(sh, w))
            })
            .collect();
        for h in handles {
            let _ = h.join();
        }
        shared.stop.store(true, Ordering::SeqCst);
        let _ = watcher.join();
    });
    qarena_engine::kill_all();
    req.observer.note(RunNote::Finished);

    let fatal = lock(&shared.fatal).take();
    let interrupted = user_stop.load(Ordering::SeqCst);
    let status = if fatal.is_some() {
        RunStatus::Failed
    } else if interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    if !matches!(req.start, RunStart::SweepPoint(_)) || status == RunStatus::Failed {
        store.set_run_status(run, status)?;
    }
    let played_now = lock(&shared.live).played_now;
    let mut summary = summarize(&store, run, &req, &cfg)?;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    if summary.elapsed_s > 0.0 {
        summary.games_per_minute = f64::from(played_now) * 60.0 / summary.elapsed_s;
    }
    summary.status = status;
    summary.run_folder = folder.root.clone();
    if let Some(params) = &cfg.sprt {
        let pairs = summary.tally.pairs();
        let r = qarena_stats::sprt_penta(&qarena_stats::penta_from_pairs(&pairs), params);
        let note = format!(
            "SPRT {params}: {} (LLR {:.3}, bounds [{:.3}, {:.3}], {} pairs)",
            r.verdict,
            r.llr,
            r.lower_bound,
            r.upper_bound,
            pairs.len()
        );
        store.set_run_notes(run, Some(&note))?;
        summary.sprt = Some(r);
    }
    folder
        .write_json(
            &folder
                .results()
                .join(format!("point-{}.json", req.point_index)),
            &summary,
        )
        .map_err(|e| start::io("writing the results summary", e))?;
    match fatal {
        Some(Fatal::Engine(msg)) => Err(RunError::Engine(msg)),
        Some(Fatal::Store(e)) => Err(RunError::Store(e)),
        None => Ok(summary),
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn summarize(
    store: &Store,
    run: RunId,
    req: &MatchRequest,
    cfg: &MatchConfig,
) -> Result<MatchSummary, RunError> {
    let games = store.games(run)?;
    Ok(crate::summary::from_games(
        &req.tag,
        &cfg.engine_a.name,
        &cfg.engine_b.name,
        &games,
        req.point_index,
    ))
}
