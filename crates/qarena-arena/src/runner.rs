//! The match runner: plays the games of a run on K workers, each with its own
//! pair of engine processes, and commits every finished game to the store.
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
//!   its aborted games deleted, and stays claimed until the last write.

use std::collections::{BTreeMap, VecDeque};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use qarena_engine::{EngineSpec, TranscriptBudget, DEFAULT_TRANSCRIPT_CAP};

/// Bytes all engine transcripts of one match (one sweep point) may write
/// together; each engine process may write [`DEFAULT_TRANSCRIPT_CAP`].
pub const RUN_TRANSCRIPT_BUDGET: u64 = 1 << 30;
use qarena_stats::{Outcome, Tally};
use qarena_store::{
    EngineId, EngineSlot, EventKind, NewEngine, NewEvent, NewGame, NewMove, NewRun, NewSelfEval,
    RecordFormat, RunId, RunKind, RunStatus, Store,
};
use serde::Serialize;

use crate::chess::{play_chess_game, ChessGameMeta, UciEngine};
use crate::failure::{Failure, Termination};
use crate::game::{GameOutcome, Slot};
use crate::go::{play_go_game, GoGameMeta, GtpEngine};
use crate::runfolder::{ClaimError, Environment, RunFolder, RunOwner, RunTag};
use crate::settings::{EngineConfig, MatchConfig, Protocol};

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

/// What to run.
#[derive(Debug, Clone)]
pub struct MatchRequest {
    pub tag: RunTag,
    pub db: PathBuf,
    pub runs_dir: PathBuf,
    pub config: MatchConfig,
    pub argv: Vec<String>,
    /// Continue an existing run (its stored config wins over `config`).
    pub resume: bool,
    pub kind: RunKind,
    /// Extra JSON stored on every game (e.g. the variant parameters of a sweep point).
    pub variant_params: Option<serde_json::Value>,
    pub point_index: i64,
    /// Show a progress bar (when stderr is a terminal) or per-game lines.
    pub progress: bool,
    /// Play into this existing run (a sweep point) instead of creating or
    /// resuming one: engines get per-point slots, the run's status is left
    /// to the caller, which owns the run folder (holds its claim).
    pub existing_run: Option<RunId>,
}

/// The results of one match (or sweep point), from slot A's point of view.
#[derive(Debug, Clone)]
pub struct MatchSummary {
    pub tag: String,
    pub engine_a: String,
    pub engine_b: String,
    /// Every stored game of the point: W/D/L, aborted games, pairs.
    pub tally: Tally,
    /// Games per termination, by its stored name.
    pub terminations: BTreeMap<&'static str, u32>,
    pub elapsed_s: f64,
    pub games_per_minute: f64,
    pub status: RunStatus,
    pub run_folder: PathBuf,
    /// The SPRT result at the end, when the match ran one.
    pub sprt: Option<qarena_stats::SprtResult>,
}

impl MatchSummary {
    pub fn score_a(&self) -> Option<f64> {
        self.tally.score()
    }
}

/// `--json` and the run folder's summary keep their flat shape: counts
/// named after the slots, and the scores of A in each complete pair.
impl Serialize for MatchSummary {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let wdl = self.tally.wdl();
        let mut st = ser.serialize_struct("MatchSummary", 14)?;
        st.serialize_field("tag", &self.tag)?;
        st.serialize_field("engine_a", &self.engine_a)?;
        st.serialize_field("engine_b", &self.engine_b)?;
        st.serialize_field("games", &self.tally.games())?;
        st.serialize_field("wins_a", &wdl.wins)?;
        st.serialize_field("wins_b", &wdl.losses)?;
        st.serialize_field("draws", &wdl.draws)?;
        st.serialize_field("aborted", &self.tally.aborted())?;
        st.serialize_field("terminations", &self.terminations)?;
        st.serialize_field("pairs", &self.tally.pairs())?;
        st.serialize_field("elapsed_s", &self.elapsed_s)?;
        st.serialize_field("games_per_minute", &self.games_per_minute)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("run_folder", &self.run_folder)?;
        if let Some(sprt) = &self.sprt {
            st.serialize_field("sprt", sprt)?;
        } else {
            st.skip_field("sprt")?;
        }
        st.end()
    }
}

/// A started engine of either protocol.
enum Player {
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

struct Shared<'a> {
    store: Store,
    run: RunId,
    cfg: &'a MatchConfig,
    req: &'a MatchRequest,
    folder: RunFolder,
    argv: [Vec<String>; 2],
    engine_ids: [EngineId; 2],
    queue: Mutex<VecDeque<u32>>,
    restarts: [AtomicU32; 2],
    user_stop: Arc<AtomicBool>,
    /// Set by the user's stop or by a fatal engine failure: workers stop.
    stop: Arc<AtomicBool>,
    /// Set when an SPRT reached its verdict: no new games, but games in
    /// progress finish.
    drain: AtomicBool,
    fatal: Mutex<Option<Fatal>>,
    live: Mutex<Live>,
    progress: ProgressBar,
    lines: bool,
    names: [String; 2],
    engine_info_saved: [AtomicBool; 2],
    /// Bytes all transcripts of this run may still write.
    transcripts: TranscriptBudget,
    /// Per slot: a transcript limit was reached and the event is recorded.
    transcript_capped: [AtomicBool; 2],
}

/// The live counts behind the progress line.
#[derive(Default)]
struct Live {
    /// Every finished game of the point, stored before or now.
    tally: Tally,
    /// Finished games played by this invocation (for games per minute).
    played_now: u32,
}

/// Runs (or resumes) a match and returns its summary.
pub fn run_match(
    mut req: MatchRequest,
    user_stop: Arc<AtomicBool>,
) -> Result<MatchSummary, RunError> {
    let store = Store::open(&req.db)?;
    let claim = |req: &MatchRequest| -> Result<RunOwner, RunError> {
        create_folder(req)?.claim(&req.tag).map_err(claim_error)
    };
    // The run folder is claimed before the run is created or touched in
    // the database, and held until this function returns: a second process
    // on the same run, or a prune, sees the owner and leaves the run alone.
    let (run, _owner) = if let Some(run) = req.existing_run {
        req.config.validate().map_err(RunError::Input)?;
        (run, None)
    } else if req.resume {
        let no_run = |req: &MatchRequest| {
            RunError::Input(format!(
                "no run tagged '{}' in {} — `qarena runs list` shows the runs there",
                req.tag,
                req.db.display()
            ))
        };
        let rec = store.run_by_tag(&req.tag)?.ok_or_else(|| no_run(&req))?;
        if let Some(m) = rec.settings.get("match") {
            req.config = serde_json::from_value(m.clone()).map_err(|e| {
                RunError::Input(format!(
                    "run '{}' has settings this version cannot read: {e}",
                    req.tag
                ))
            })?;
        } else {
            return Err(RunError::Input(format!(
                "run '{}' is a {} run, not a match: resume it with the command that made it",
                req.tag, rec.kind
            )));
        }
        let owner = claim(&req)?;
        // A prune may have deleted the run before we owned it.
        if store.run(rec.id)?.is_none() {
            return Err(no_run(&req));
        }
        store.set_run_status(rec.id, RunStatus::Running)?;
        (rec.id, Some(owner))
    } else {
        if store.run_by_tag(&req.tag)?.is_some() {
            return Err(RunError::Input(format!(
                "a run tagged '{}' already exists in {} — use `--resume {}` to finish it or pick another `--run-tag`",
                req.tag,
                req.db.display(),
                req.tag
            )));
        }
        // Everything that can be checked is checked before the run exists.
        req.config.validate().map_err(RunError::Input)?;
        if let Some(c) = &req.config.chess {
            c.validate().map_err(RunError::Input)?;
        }
        resolve_argv(&req.config.engine_a)?;
        resolve_argv(&req.config.engine_b)?;
        let owner = claim(&req)?;
        let run = store.create_run(&NewRun {
            tag: req.tag.to_string(),
            kind: req.kind,
            argv: req.argv.clone(),
            settings: serde_json::json!({ "match": req.config }),
            software_version: env!("CARGO_PKG_VERSION").to_string(),
        })?;
        (run, Some(owner))
    };
    let cfg = req.config.clone();
    if cfg.protocol() == Protocol::Uci {
        let chess = cfg.chess.clone().unwrap_or_default();
        chess.validate().map_err(RunError::Input)?;
        if let Some(w) = crate::chess::determinism_warning(&chess, cfg.games) {
            eprintln!("warning: {w}");
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
    let argv = [resolve_argv(&cfg.engine_a)?, resolve_argv(&cfg.engine_b)?];

    let folder = create_folder(&req)?;
    let io = |what: &str, e: std::io::Error| RunError::Io {
        context: what.to_string(),
        source: e,
    };
    let config_name = if req.existing_run.is_some() {
        format!("point-{}.json", req.point_index)
    } else {
        "match.json".to_string()
    };
    folder
        .write_json(&folder.configs().join(&config_name), &cfg)
        .map_err(|e| io("writing the resolved config", e))?;
    folder
        .write_json(
            &folder.manifests().join("environment.json"),
            &Environment::capture(),
        )
        .map_err(|e| io("writing manifests/environment.json", e))?;

    let mut engine_ids = Vec::new();
    let mut model_manifest = Vec::new();
    for (slot, (ec, av)) in [
        (Slot::A, (&cfg.engine_a, &argv[0])),
        (Slot::B, (&cfg.engine_b, &argv[1])),
    ] {
        let model = ec
            .model
            .as_ref()
            .map(|p| crate::command::absolute(p).display().to_string())
            .or_else(|| crate::command::model_in_argv(av));
        let sha = model.as_deref().and_then(|m| sha256_of(Path::new(m)));
        model_manifest.push(serde_json::json!({"slot": slot.as_str(), "engine": ec.name, "command": av, "model": model, "sha256": sha}));
        engine_ids.push(store.add_engine(&NewEngine {
            run,
            slot: slot_key(&req, slot),
            label: ec.name.clone(),
            command: av.clone(),
            protocol: ec.protocol.into(),
            name: None,
            version: None,
            model_path: model,
            model_sha256: sha,
        })?);
    }
    folder
        .write_json(
            &folder
                .manifests()
                .join(format!("models-point-{}.json", req.point_index)),
            &model_manifest,
        )
        .map_err(|e| io("writing manifests/models.json", e))?;

    // Games already finished are never replayed; aborted ones are.
    store.delete_aborted_games(run, req.point_index)?;
    let finished: std::collections::HashSet<i64> = store
        .finished_games(run)?
        .into_iter()
        .filter(|(p, _)| *p == req.point_index)
        .map(|(_, g)| g)
        .collect();
    let pending: VecDeque<u32> = (0..cfg.games)
        .filter(|g| !finished.contains(&i64::from(*g)))
        .collect();

    let lines = req.progress && !std::io::stderr().is_terminal();
    let progress = if req.progress && !lines {
        let pb = ProgressBar::new(u64::from(cfg.games));
        pb.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} games  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_position(finished.len() as u64);
        pb
    } else {
        ProgressBar::hidden()
    };

    let stop = Arc::new(AtomicBool::new(false));
    let shared = Shared {
        store: store.clone(),
        run,
        cfg: &cfg,
        req: &req,
        folder: folder.clone(),
        argv,
        engine_ids: [engine_ids[0], engine_ids[1]],
        queue: Mutex::new(pending),
        restarts: [AtomicU32::new(0), AtomicU32::new(0)],
        user_stop: user_stop.clone(),
        stop: stop.clone(),
        drain: AtomicBool::new(false),
        fatal: Mutex::new(None),
        live: Mutex::new(Live::default()),
        progress,
        lines,
        names: [cfg.engine_a.name.clone(), cfg.engine_b.name.clone()],
        engine_info_saved: [AtomicBool::new(false), AtomicBool::new(false)],
        transcripts: TranscriptBudget::new(RUN_TRANSCRIPT_BUDGET),
        transcript_capped: [AtomicBool::new(false), AtomicBool::new(false)],
    };
    // Count already-finished games into the tally so the summary covers the run.
    {
        let done = crate::summary::from_games("", "", "", &store.games(run)?, req.point_index);
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
    shared.progress.finish_and_clear();

    let fatal = lock(&shared.fatal).take();
    let interrupted = user_stop.load(Ordering::SeqCst);
    let status = if fatal.is_some() {
        RunStatus::Failed
    } else if interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Completed
    };
    if req.existing_run.is_none() || status == RunStatus::Failed {
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
        .map_err(|e| io("writing the results summary", e))?;
    match fatal {
        Some(Fatal::Engine(msg)) => Err(RunError::Engine(msg)),
        Some(Fatal::Store(e)) => Err(RunError::Store(e)),
        None => Ok(summary),
    }
}

fn create_folder(req: &MatchRequest) -> Result<RunFolder, RunError> {
    RunFolder::create(&req.runs_dir, &req.tag).map_err(|e| RunError::Io {
        context: format!("creating run folder under {}", req.runs_dir.display()),
        source: e,
    })
}

/// A run owned by another process is an input error (exit code 2).
pub fn claim_error(e: ClaimError) -> RunError {
    match e {
        ClaimError::Busy { .. } => RunError::Input(e.to_string()),
        ClaimError::Io { lock, source } => RunError::Io {
            context: format!("locking {}", lock.display()),
            source,
        },
    }
}

/// The engine slot in the store: `a`/`b` for a match, `a3`/`b3` for
/// point 3 of a sweep (each point has its own pair of engines).
fn slot_key(req: &MatchRequest, slot: Slot) -> EngineSlot {
    match (req.existing_run, u32::try_from(req.point_index)) {
        (Some(_), Ok(point)) => EngineSlot::PointPlayer(slot, point),
        _ => EngineSlot::Player(slot),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Expands the command template and checks the program exists, so a typo is
/// an input error before any game starts.
pub fn resolve_argv(ec: &EngineConfig) -> Result<Vec<String>, RunError> {
    let argv = crate::command::resolve_command(&ec.command, &ec.placeholders())
        .map_err(|e| RunError::Input(format!("engine '{}': {e}", ec.name)))?;
    for (flag, p) in [("model", &ec.model), ("config", &ec.config)] {
        if let Some(p) = p {
            if !p.exists() {
                return Err(RunError::Input(format!(
                    "engine '{}': {flag} file {} does not exist",
                    ec.name,
                    p.display()
                )));
            }
        }
    }
    Ok(argv)
}

fn sha256_of(path: &Path) -> Option<String> {
    use sha2::{Digest, Sha256};
    let mut f = std::fs::File::open(path).ok()?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).ok()?;
    Some(format!("{:x}", h.finalize()))
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

fn worker(sh: &Shared<'_>, w: usize) {
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
        let outcome = match outcome {
            Some(o) => o,
            None => play_one(sh, &mut players, gi, first),
        };
        let ended_at = qarena_store::now_rfc3339();
        let duration_ms = t0.elapsed().as_millis() as i64;
        record_game(sh, gi, first, &outcome, started_at, ended_at, duration_ms);
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
            let meta = GoGameMeta {
                names: [&sh.names[0], &sh.names[1]],
                seed: gi + 1,
                date,
                game_name,
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

fn record_game(
    sh: &Shared<'_>,
    gi: u32,
    first: Slot,
    o: &GameOutcome,
    started_at: String,
    ended_at: String,
    duration_ms: i64,
) {
    let ids = sh.engine_ids;
    let (black, white) = (ids[first.index()], ids[first.other().index()]);
    let game = NewGame {
        run: sh.run,
        point_index: sh.req.point_index,
        game_index: i64::from(gi),
        pair_index: Some(i64::from(gi / 2)),
        opening: o.opening.clone(),
        seed: o.seed,
        black_engine: black,
        white_engine: white,
        result: o.result.clone(),
        winner: o.winner,
        score: o.score,
        termination: o.termination,
        record: o.record.clone(),
        record_format: o.record_format,
        started_at,
        ended_at,
        duration_ms,
        variant_params: sh.req.variant_params.clone(),
        settings: None,
        moves: o
            .moves
            .iter()
            .enumerate()
            .map(|(i, m)| NewMove {
                ply: i as i64,
                color: m.color,
                mv: m.mv.clone(),
                time_ms: m.time_ms as i64,
            })
            .collect(),
        self_evals: o
            .self_evals
            .iter()
            .map(|e| NewSelfEval {
                ply: i64::from(e.ply),
                engine: ids[e.slot.unwrap_or(Slot::A).index()],
                winrate: e.winrate,
                score_lead: e.score_lead,
                score_cp: e.score_cp,
                mate: e.mate,
                depth: e.depth,
                nodes: e.nodes,
                visits: e.visits,
                time_ms: e.time_ms,
                pv: e.pv.clone(),
                top_k: e.top_k.clone(),
            })
            .collect(),
    };
    if let Err(e) = sh.store.insert_game_scored(&game, o.scoring.as_ref()) {
        *lock(&sh.fatal) = Some(Fatal::Store(e));
        sh.stop.store(true, Ordering::SeqCst);
        return;
    }
    for ev in &o.events {
        let _ = sh.store.record_event(&NewEvent {
            run: sh.run,
            game_index: Some(i64::from(gi)),
            engine: ev.slot.map(|s| ids[s.index()]),
            kind: ev.kind,
            message: ev.message.clone(),
            stderr_tail: ev.stderr_tail.clone(),
        });
    }
    let mut t = lock(&sh.live);
    if o.termination == Termination::Aborted {
        t.tally.add_aborted();
        let _ = sh.store.record_event(&NewEvent {
            run: sh.run,
            game_index: Some(i64::from(gi)),
            engine: None,
            kind: qarena_store::EventKind::Interrupted,
            message: format!(
                "game {} aborted after {} moves by a stop request",
                gi + 1,
                o.moves.len()
            ),
            stderr_tail: None,
        });
    } else {
        t.played_now += 1;
        let outcome = match o.winner {
            Some(Slot::A) => Outcome::Win,
            Some(Slot::B) => Outcome::Loss,
            None => Outcome::Draw,
        };
        t.tally.add(outcome, Some(i64::from(gi / 2)));
    }
    drop(t);
    if let Some(params) = &sh.cfg.sprt {
        if let Ok(games) = sh.store.games(sh.run) {
            let s = crate::summary::from_games("", "", "", &games, sh.req.point_index);
            if let Some(r) = s.tally.sprt_pairs(params) {
                if r.verdict != qarena_stats::SprtVerdict::Continue
                    && !sh.drain.swap(true, Ordering::SeqCst)
                {
                    let _ = sh.store.record_event(&NewEvent {
                        run: sh.run,
                        game_index: Some(i64::from(gi)),
                        engine: None,
                        kind: qarena_store::EventKind::Warning,
                        message: format!(
                            "SPRT {params}: {} after {} pairs (LLR {:.3}); no new games start",
                            r.verdict,
                            s.tally.pairs().len(),
                            r.llr
                        ),
                        stderr_tail: None,
                    });
                }
            }
        }
    }
    let wdl = lock(&sh.live).tally.wdl();
    let msg = format!(
        "{} {}-{}-{} {}",
        sh.names[0], wdl.wins, wdl.draws, wdl.losses, sh.names[1]
    );
    sh.progress.set_message(msg.clone());
    sh.progress.inc(1);
    if sh.lines {
        eprintln!(
            "game {:>4}/{}: {:<8} {:<14} ({})",
            gi + 1,
            sh.cfg.games,
            o.result.as_deref().unwrap_or("-"),
            o.termination.as_str(),
            msg
        );
    }
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
