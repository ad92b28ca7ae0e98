//! One judge run over the games of a stored run: choose or resume the judge
//! run, start the engine, feed it the games not judged yet, store verdicts
//! game by game, and summarise.
//!
//! Invariants:
//! - The judge run is identified by its settings' `judge` object (engine
//!   command, budget, thresholds); a call with the same object resumes it
//!   and skips every game that already has verdicts there. The subset of
//!   games a call judges ([`JudgeOptions::subset`]) and where its
//!   transcript goes are not part of it: calls on different subsets extend
//!   the same judge run, and its coverage accumulates.
//! - Engine failures (crash, timeout, garbage) kill the process, are
//!   recorded as events on the run, and restart it at most
//!   [`JudgeOptions::restarts`] times; a game that was in flight during two
//!   failures stays unjudged and is listed in [`JudgeReport::failures`].
//! - Store failures are not retried: they end the call with an error.
//! - A stop request ([`JudgeOptions::stop`]) ends the call within about
//!   100 ms of any wait: the engine is killed, games in flight stay
//!   unjudged (not failed), and the report says `interrupted`; the same
//!   call later resumes.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qarena_engine::EngineError;
use qarena_stats::MeanCi;
use qarena_store::{
    EngineId, EngineProtocol, EngineSlot, EventKind, GameId, GameRecord, JudgeRunId, NewEngine,
    NewEvent, RecordFormat, RunRecord, Store,
};
use qarena_uci::GoLimit;
use serde_json::{json, Value};

use crate::chess::{self, PosEval, Uci};
use crate::go::{self, Perspective, VerdictRules};
use crate::katago::{self, GameOutcome, GoJob, KataGo};
use crate::subset::GameSubset;
use crate::JudgeError;

/// How to judge Go games with KataGo's analysis engine.
#[derive(Debug, Clone, PartialEq)]
pub struct GoJudgeSettings {
    /// `katago analysis -model M -config C` (and any flags of the user's);
    /// thread counts and the reporting perspective are appended as
    /// `-override-config`.
    pub argv: Vec<String>,
    /// Visits per analysed position.
    pub max_visits: u32,
    /// `numAnalysisThreads`: positions searched in parallel.
    pub analysis_threads: u32,
    /// `numSearchThreadsPerAnalysisThread`.
    pub search_threads: u32,
    /// `numEigenThreadsPerModel` (CPU builds): threads evaluating the net;
    /// 0 leaves the config's value.
    pub eigen_threads: u32,
    /// Games with a query outstanding at once.
    pub window: usize,
    /// Winrate loss (0..1) from which a move is a blunder.
    pub blunder_winrate: f64,
    /// Candidates kept per position in `top_k`.
    pub top_k: usize,
}

impl GoJudgeSettings {
    /// Defaults: 64 visits, one analysis thread per CPU, blunder at 0.10.
    pub fn new(argv: Vec<String>) -> GoJudgeSettings {
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1);
        GoJudgeSettings {
            argv,
            max_visits: 64,
            analysis_threads: cpus,
            search_threads: 1,
            eigen_threads: cpus,
            window: 2 * cpus as usize,
            blunder_winrate: 0.10,
            top_k: 5,
        }
    }

    /// The command for a directory holding `katago`, `g170-b6c96.bin.gz`
    /// and `analysis.cfg` (the layout of the shared KataGo bundle).
    pub fn katago_dir_argv(dir: &std::path::Path) -> Vec<String> {
        let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
        vec![
            p("katago"),
            "analysis".into(),
            "-model".into(),
            p("g170-b6c96.bin.gz"),
            "-config".into(),
            p("analysis.cfg"),
        ]
    }

    /// The command actually started: `argv` plus the overrides. Winrates
    /// are always reported for Black so verdicts never depend on the config.
    pub fn full_argv(&self) -> Vec<String> {
        let mut over = format!(
            "numAnalysisThreads={},numSearchThreadsPerAnalysisThread={},reportAnalysisWinratesAs=BLACK",
            self.analysis_threads.max(1),
            self.search_threads.max(1)
        );
        if self.eigen_threads > 0 {
            over.push_str(&format!(",numEigenThreadsPerModel={}", self.eigen_threads));
        }
        let mut argv = self.argv.clone();
        argv.push("-override-config".into());
        argv.push(over);
        argv
    }

    fn model_path(&self) -> Option<String> {
        self.argv
            .windows(2)
            .find(|w| w[0] == "-model")
            .map(|w| w[1].clone())
    }
}

/// How to judge chess games with a UCI engine.
#[derive(Debug, Clone, PartialEq)]
pub struct ChessJudgeSettings {
    pub argv: Vec<String>,
    /// `go nodes N` or `go depth N` per position.
    pub limit: GoLimit,
    pub multipv: u32,
    /// Centipawn loss from which a move is a blunder.
    pub blunder_cp: i64,
}

impl ChessJudgeSettings {
    /// Defaults: 20000 nodes, MultiPV 3, blunder at 200 cp.
    pub fn new(argv: Vec<String>) -> ChessJudgeSettings {
        ChessJudgeSettings {
            argv,
            limit: GoLimit::Nodes(20_000),
            multipv: 3,
            blunder_cp: 200,
        }
    }
}

/// Which judge to run.
#[derive(Debug, Clone, PartialEq)]
pub enum JudgeKind {
    Go(GoJudgeSettings),
    Chess(ChessJudgeSettings),
}

/// Where the judge engine's conversation is written (appended).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TranscriptTarget {
    Off,
    /// This file.
    File(PathBuf),
    /// `judge-<judge run id>.log` in this folder (e.g. the run folder's
    /// `logs/`), so every call of one judge run appends to one file.
    Folder(PathBuf),
}

impl TranscriptTarget {
    /// The file for judge run `judge_run`, `None` when off.
    pub fn path(&self, judge_run: JudgeRunId) -> Option<PathBuf> {
        match self {
            TranscriptTarget::Off => None,
            TranscriptTarget::File(p) => Some(p.clone()),
            TranscriptTarget::Folder(dir) => Some(dir.join(format!("judge-{}.log", judge_run.0))),
        }
    }
}

/// Settings of one call of [`judge`].
#[derive(Debug, Clone)]
pub struct JudgeOptions {
    pub kind: JudgeKind,
    /// Deadline of one query, counted from when it is sent: Go, one game's
    /// whole analysis (including its wait behind the other games in
    /// flight); chess, one position's search. Output that is not the
    /// answer (warnings, `info` lines) does not extend it.
    pub timeout: Duration,
    /// Time to start the engine and get its first answer.
    pub startup_timeout: Duration,
    /// Engine restarts allowed after failures in this call.
    pub restarts: u32,
    /// Which games this call judges (all by default).
    pub subset: GameSubset,
    /// Where the engine's traffic is written.
    pub transcript: TranscriptTarget,
    /// When this becomes true (e.g. from
    /// `qarena_engine::install_shutdown_flag`), the call stops cleanly.
    pub stop: Option<Arc<AtomicBool>>,
}

impl JudgeOptions {
    pub fn new(kind: JudgeKind) -> JudgeOptions {
        JudgeOptions {
            kind,
            timeout: Duration::from_secs(120),
            startup_timeout: Duration::from_secs(60),
            restarts: 1,
            subset: GameSubset::all(),
            transcript: TranscriptTarget::Off,
            stop: None,
        }
    }

    /// The settings that define "the same judge": a later call with the
    /// same object resumes the judge run. The subset and the transcript are
    /// left out on purpose, so subsets of one judge accumulate in one judge
    /// run.
    pub fn identity(&self) -> Value {
        match &self.kind {
            JudgeKind::Go(g) => json!({
                "game": "go",
                "engine": "katago-analysis",
                "command": g.argv,
                "max_visits": g.max_visits,
                "rules": "tromp-taylor",
                "blunder_winrate": g.blunder_winrate,
                "top_k": g.top_k,
            }),
            JudgeKind::Chess(c) => json!({
                "game": "chess",
                "engine": "uci",
                "command": c.argv,
                "limit": match c.limit {
                    GoLimit::Nodes(n) => json!({"nodes": n}),
                    GoLimit::Depth(d) => json!({"depth": d}),
                    other => json!(format!("{other:?}")),
                },
                "multipv": c.multipv,
                "blunder_cp": c.blunder_cp,
                "mate_cp": chess::MATE_CP,
            }),
        }
    }

    fn argv(&self) -> Vec<String> {
        match &self.kind {
            JudgeKind::Go(g) => g.full_argv(),
            JudgeKind::Chess(c) => c.argv.clone(),
        }
    }

    fn label(&self) -> &'static str {
        match self.kind {
            JudgeKind::Go(_) => "judge-katago",
            JudgeKind::Chess(_) => "judge-uci",
        }
    }
}

/// Progress after each game.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Games finished in this call (judged or failed).
    pub done: usize,
    /// Games this call set out to judge.
    pub todo: usize,
    pub positions: u64,
    pub elapsed: Duration,
}

/// A game left unjudged.
#[derive(Debug, Clone, PartialEq)]
pub struct GameFailure {
    pub game: GameId,
    pub point_index: i64,
    pub game_index: i64,
    pub reason: String,
}

/// Average judge loss of one engine slot of one sweep point, over games.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotSummary {
    pub point_index: i64,
    pub slot: String,
    pub label: String,
    /// Games with at least one judged move of this slot.
    pub games: usize,
    pub moves: i64,
    pub blunders: i64,
    /// `winrate` (Go, 0..1) or `cp` (chess).
    pub unit: &'static str,
    /// Mean over games of the per-game average loss.
    pub mean_loss: f64,
    /// Half-width of the 95% interval: 1.96 · sd / √games (0 for one game).
    pub ci95: f64,
    /// Go only: the same for the score-lead loss in points.
    pub mean_loss_score: Option<(f64, f64)>,
}

/// What a call of [`judge`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeReport {
    pub run_tag: String,
    pub judge_run: JudgeRunId,
    /// True when an earlier judge run with the same settings was continued.
    pub resumed: bool,
    pub engine_command: Vec<String>,
    pub engine_version: Option<String>,
    /// Games of the run this judge can replay.
    pub games_played: usize,
    /// Games with verdicts in this judge run after the call (with games of
    /// this call's subset that have nothing to judge).
    pub games_judged: usize,
    /// The subset this call was asked to judge.
    pub subset: GameSubset,
    /// Games of the run in the subset (by point and range).
    pub subset_games: usize,
    /// Of those, games judged after the call.
    pub subset_judged: usize,
    /// Unjudged games of the subset left for a later call by the limit.
    pub subset_left: usize,
    /// The file the engine's conversation was appended to.
    pub transcript: Option<PathBuf>,
    /// Games judged by this call.
    pub games_judged_now: usize,
    /// Games skipped because they were judged before.
    pub games_skipped: usize,
    pub failures: Vec<GameFailure>,
    /// Set when the engine failed beyond the restart budget: the error
    /// and what to do about it.
    pub engine_failure: Option<String>,
    /// True when a stop request ended the call early; games not judged yet
    /// are judged by the same call later.
    pub interrupted: bool,
    /// Positions analysed by this call.
    pub positions: u64,
    pub elapsed: Duration,
    pub slots: Vec<SlotSummary>,
}

impl JudgeReport {
    /// Games judged / games played over the whole run (1 when there is
    /// nothing to judge).
    pub fn coverage(&self) -> f64 {
        if self.games_played == 0 {
            1.0
        } else {
            self.games_judged as f64 / self.games_played as f64
        }
    }

    /// Positions analysed per second of wall time in this call.
    pub fn positions_per_second(&self) -> f64 {
        self.positions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Judges every not-yet-judged game of run `run_tag`. See the module docs.
pub fn judge(
    store: &Store,
    run_tag: &str,
    opts: &JudgeOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<JudgeReport, JudgeError> {
    validate(opts)?;
    let started = Instant::now();
    let run = find_run(store, run_tag)?;
    let (format, wanted, hint) = match opts.kind {
        JudgeKind::Go(_) => (RecordFormat::Sgf, "Go", "chess (--uci-engine)"),
        JudgeKind::Chess(_) => (RecordFormat::Pgn, "chess", "Go (--engine/--katago-dir)"),
    };
    let all = store.games(run.id)?;
    let games: Vec<GameRecord> = all
        .iter()
        .filter(|g| g.record_format == format)
        .cloned()
        .collect();
    if games.is_empty() && !all.is_empty() {
        let mut found: Vec<&str> = all.iter().map(|g| g.record_format.as_str()).collect();
        found.sort_unstable();
        found.dedup();
        return Err(JudgeError::WrongGameKind {
            tag: run_tag.to_string(),
            wanted,
            found: format!("its records are {}", found.join(", ")),
            hint,
        });
    }

    let argv = opts.argv();
    let engine_id = store.add_engine(&NewEngine {
        run: run.id,
        slot: EngineSlot::Judge,
        label: opts.label().into(),
        command: argv.clone(),
        protocol: match opts.kind {
            JudgeKind::Go(_) => EngineProtocol::KatagoAnalysis,
            JudgeKind::Chess(_) => EngineProtocol::Uci,
        },
        name: None,
        version: None,
        model_path: match &opts.kind {
            JudgeKind::Go(g) => g.model_path(),
            JudgeKind::Chess(_) => None,
        },
        model_sha256: None,
    })?;
    let identity = opts.identity();
    let existing = store
        .judge_runs(run.id)?
        .into_iter()
        .find(|j| j.settings.get("judge") == Some(&identity));
    let resumed = existing.is_some();
    let judge_run = match existing {
        Some(j) => j.id,
        None => store.create_judge_run(
            run.id,
            engine_id,
            &json!({
                "judge": identity,
                "started_command": argv,
                "games_in_run": games.len(),
                "coverage": "see the judge_coverage view",
                "loss": "mover's view, before minus after, clamped at 0",
            }),
        )?,
    };
    let judged_before: HashSet<GameId> = store
        .judge_moves(judge_run)?
        .into_iter()
        .map(|m| m.game)
        .collect();
    let subset = &opts.subset;
    let in_subset: Vec<&GameRecord> = games.iter().filter(|g| subset.selects(g)).collect();
    if in_subset.is_empty() && !subset.is_all() {
        return Err(empty_subset(&run.tag, subset, &games));
    }
    let transcript = opts.transcript.path(judge_run);

    let mut ctx = Ctx {
        store,
        run: &run,
        engine_id,
        judge_run,
        opts,
        transcript: transcript.clone(),
        limit: subset.limit,
        left_by_limit: 0,
        started,
        done: 0,
        todo: 0,
        judged_now: 0,
        positions: 0,
        failures: Vec::new(),
        engine_failure: None,
        version: None,
        trivially_judged: 0,
        progress,
    };
    let todo: Vec<&GameRecord> = in_subset
        .iter()
        .copied()
        .filter(|g| !judged_before.contains(&g.id))
        .collect();
    let outcome = match &opts.kind {
        JudgeKind::Go(g) => judge_go(&mut ctx, g, &todo),
        JudgeKind::Chess(c) => judge_chess(&mut ctx, c, &todo),
    };
    let interrupted = match outcome {
        Ok(()) => false,
        Err(JudgeError::Interrupted) => true,
        Err(e) => return Err(e),
    };
    if interrupted {
        ctx.event(
            None,
            EventKind::Interrupted,
            format!(
                "judge: stopped on request (Ctrl-C, SIGTERM) after {} of {} games; \
                 run the same judge command again to resume",
                ctx.done, ctx.todo
            ),
            None,
        );
    }

    let judged_now: HashSet<GameId> = store
        .judge_moves(judge_run)?
        .into_iter()
        .map(|m| m.game)
        .collect();
    let subset_judged = in_subset
        .iter()
        .filter(|g| judged_now.contains(&g.id))
        .count();
    let report = JudgeReport {
        run_tag: run.tag.clone(),
        judge_run,
        resumed,
        engine_command: argv,
        engine_version: ctx.version.clone(),
        games_played: games.len(),
        games_judged: (judged_now.len() + ctx.trivially_judged).min(games.len()),
        subset: subset.clone(),
        subset_games: in_subset.len(),
        subset_judged: (subset_judged + ctx.trivially_judged).min(in_subset.len()),
        subset_left: ctx.left_by_limit,
        transcript,
        games_judged_now: ctx.judged_now,
        games_skipped: in_subset.len() - todo.len(),
        failures: ctx.failures,
        engine_failure: ctx.engine_failure,
        interrupted,
        positions: ctx.positions,
        elapsed: started.elapsed(),
        slots: slot_summaries(store, run.id, judge_run, &opts.kind)?,
    };
    Ok(report)
}

fn validate(opts: &JudgeOptions) -> Result<(), JudgeError> {
    let bad = |s: String| Err(JudgeError::Settings(s));
    match &opts.kind {
        JudgeKind::Go(g) => {
            if g.argv.is_empty() {
                return bad("the KataGo command is empty".into());
            }
            if g.max_visits == 0 {
                return bad("visits must be at least 1".into());
            }
            if !(g.blunder_winrate > 0.0 && g.blunder_winrate <= 1.0) {
                return bad(format!(
                    "the blunder threshold {} is not a winrate loss in (0, 1]",
                    g.blunder_winrate
                ));
            }
        }
        JudgeKind::Chess(c) => {
            if c.argv.is_empty() {
                return bad("the UCI engine command is empty".into());
            }
            if c.multipv == 0 {
                return bad("MultiPV must be at least 1".into());
            }
            if c.blunder_cp <= 0 {
                return bad(format!(
                    "the blunder threshold {} cp is not positive",
                    c.blunder_cp
                ));
            }
            match c.limit {
                GoLimit::Nodes(n) if n > 0 => {}
                GoLimit::Depth(d) if d > 0 => {}
                other => {
                    return bad(format!(
                        "the search limit {other:?} is not fixed nodes or depth > 0"
                    ))
                }
            }
        }
    }
    Ok(())
}

struct Ctx<'a> {
    store: &'a Store,
    run: &'a RunRecord,
    engine_id: EngineId,
    judge_run: JudgeRunId,
    opts: &'a JudgeOptions,
    transcript: Option<PathBuf>,
    /// Games this call may send to the engine ([`GameSubset::limit`]).
    limit: Option<usize>,
    /// Games with something to judge that the limit left for later.
    left_by_limit: usize,
    started: Instant,
    done: usize,
    todo: usize,
    judged_now: usize,
    positions: u64,
    failures: Vec<GameFailure>,
    engine_failure: Option<String>,
    version: Option<String>,
    /// Games with nothing to judge (no moves, or only a resignation).
    trivially_judged: usize,
    progress: &'a mut dyn FnMut(&Progress),
}

impl Ctx<'_> {
    /// Keeps the first `limit` jobs (game order) and counts the rest.
    fn apply_limit<T>(&mut self, jobs: &mut VecDeque<T>) {
        if let Some(n) = self.limit.filter(|n| jobs.len() > *n) {
            self.left_by_limit = jobs.len() - n;
            jobs.truncate(n);
        }
    }

    fn event(
        &self,
        game_index: Option<i64>,
        kind: EventKind,
        message: String,
        tail: Option<String>,
    ) {
        // An event that cannot be written must not hide the failure it
        // reports; the report carries the same message.
        let _ = self.store.record_event(&NewEvent {
            run: self.run.id,
            game_index,
            engine: Some(self.engine_id),
            kind,
            message,
            stderr_tail: tail.filter(|t| !t.is_empty()),
        });
    }

    fn stop(&self) -> Option<&AtomicBool> {
        self.opts.stop.as_deref()
    }

    fn tick(&mut self) {
        self.done += 1;
        (self.progress)(&Progress {
            done: self.done,
            todo: self.todo,
            positions: self.positions,
            elapsed: self.started.elapsed(),
        });
    }

    fn fail_game(&mut self, g: &GameRecord, reason: String) {
        self.failures.push(GameFailure {
            game: g.id,
            point_index: g.point_index,
            game_index: g.game_index,
            reason,
        });
        self.tick();
    }

    /// Records an engine failure; returns whether a restart is allowed.
    fn engine_failed(&mut self, err: &JudgeError, tail: String, restarts_left: &mut u32) -> bool {
        let kind = match err {
            JudgeError::Engine(EngineError::Timeout { .. }) => EventKind::Timeout,
            JudgeError::Engine(_) => EventKind::Crash,
            _ => EventKind::BadResponse,
        };
        self.event(None, kind, format!("judge: {err}"), Some(tail));
        if *restarts_left == 0 {
            self.engine_failure = Some(format!("{err} — {}", err.hint()));
            return false;
        }
        *restarts_left -= 1;
        self.event(
            None,
            EventKind::Restart,
            format!("judge: restarting `{}`", self.opts.argv().join(" ")),
            None,
        );
        true
    }
}

fn engine_tail(e: &JudgeError) -> String {
    match e {
        JudgeError::Engine(EngineError::Exited { stderr_tail, .. }) => stderr_tail.clone(),
        _ => String::new(),
    }
}

/// Board size and komi of a Go game: the run's match settings, else the
/// game's own settings, else its SGF.
pub(crate) fn go_setup(run: &RunRecord, g: &GameRecord) -> Result<(u8, f64), JudgeError> {
    let from = |v: Option<&Value>| -> Option<(u8, f64)> {
        let go = v?.get("go")?;
        let size = u8::try_from(go.get("board_size")?.as_u64()?).ok()?;
        let komi = go.get("komi").and_then(Value::as_f64).unwrap_or(7.0);
        Some((size, komi))
    };
    if let Some(s) = from(g.settings.as_ref()).or_else(|| from(run.settings.get("match"))) {
        return Ok(s);
    }
    match qarena_go::parse_sgf(&g.record) {
        Ok(sgf) => Ok((sgf.size, f64::from(sgf.komi))),
        Err(e) => Err(JudgeError::BadRun {
            tag: run.tag.clone(),
            what: format!(
                "game {} has no board size in the run settings and its SGF does not parse: {e}",
                g.game_index
            ),
        }),
    }
}

fn judge_go(
    ctx: &mut Ctx<'_>,
    s: &GoJudgeSettings,
    todo: &[&GameRecord],
) -> Result<(), JudgeError> {
    let rules = VerdictRules {
        blunder_winrate: s.blunder_winrate,
        top_k: s.top_k,
        perspective: Perspective::Black,
    };
    let by_id: BTreeMap<GameId, &GameRecord> = todo.iter().map(|g| (g.id, *g)).collect();
    let mut jobs = VecDeque::new();
    for g in todo {
        let (size, komi) = go_setup(ctx.run, g)?;
        let moves = ctx.store.game_moves(g.id)?;
        let mut pos = go::go_position(size, komi, &moves);
        pos.book = go::book_len(g.opening.as_deref());
        if let Some(why) = &pos.truncated {
            ctx.event(
                Some(g.game_index),
                EventKind::Warning,
                format!(
                    "judge: game {} judged up to its unplayable move ({why})",
                    g.game_index
                ),
                None,
            );
        }
        if pos.moves.is_empty() {
            ctx.trivially_judged += 1;
            continue;
        }
        jobs.push_back(GoJob {
            game: g.id,
            game_index: g.game_index,
            pos,
            attempts: 0,
        });
    }
    ctx.apply_limit(&mut jobs);
    ctx.todo = jobs.len();
    let mut restarts_left = ctx.opts.restarts;
    let argv = s.full_argv();
    while !jobs.is_empty() {
        if crate::wait::stopped(ctx.stop()) {
            return Err(JudgeError::Interrupted);
        }
        let mut kg = match KataGo::start(
            ctx.opts.label(),
            &argv,
            ctx.transcript.clone(),
            ctx.opts.startup_timeout,
            ctx.stop(),
        ) {
            Ok(kg) => kg,
            // A failure while stopping is the stop, not the engine's fault.
            Err(e) if e.is_engine_failure() && crate::wait::stopped(ctx.stop()) => {
                return Err(JudgeError::Interrupted)
            }
            Err(e) if e.is_engine_failure() => {
                let tail = engine_tail(&e);
                if ctx.engine_failed(&e, tail, &mut restarts_left) {
                    continue;
                }
                break;
            }
            Err(e) => return Err(e),
        };
        ctx.version = Some(kg.version.clone());
        ctx.store
            .set_engine_identity(ctx.engine_id, Some("KataGo"), Some(&kg.version))?;
        let timeout = ctx.opts.timeout;
        let stop = ctx.opts.stop.clone();
        let mut done = |job: GoJob, outcome: GameOutcome| -> Result<(), JudgeError> {
            let Some(g) = by_id.get(&job.game) else {
                return Ok(());
            };
            match outcome {
                GameOutcome::Analysed(evals) => {
                    let verdicts = go::verdicts(job.game, &job.pos, &evals, &rules);
                    ctx.store.insert_judge_moves(ctx.judge_run, &verdicts)?;
                    ctx.positions += evals.len() as u64;
                    ctx.judged_now += 1;
                    ctx.tick();
                }
                GameOutcome::Refused(detail) => {
                    let err = JudgeError::GameRefused {
                        label: ctx.opts.label().into(),
                        game: job.game,
                        detail,
                    };
                    ctx.event(
                        Some(job.game_index),
                        EventKind::BadResponse,
                        err.to_string(),
                        None,
                    );
                    ctx.fail_game(g, err.to_string());
                }
            }
            Ok(())
        };
        let result = katago::analyse(
            &mut kg,
            &mut jobs,
            s.window,
            s.max_visits,
            timeout,
            stop.as_deref(),
            &mut done,
        );
        match result {
            Ok(_) => kg.engine.shutdown(None, Duration::from_secs(2)),
            Err(failed) => {
                let (e, back) = *failed;
                kg.engine.kill();
                // Games in flight stay unjudged; a later call judges them.
                // An engine error while stopping is the stop's doing.
                let stopping = crate::wait::stopped(stop.as_deref()) && e.is_engine_failure();
                if stopping || matches!(e, JudgeError::Interrupted) {
                    return Err(JudgeError::Interrupted);
                }
                if !e.is_engine_failure() {
                    return Err(e);
                }
                let tail = kg.engine.stderr_tail();
                let restart = ctx.engine_failed(&e, tail, &mut restarts_left);
                for mut job in back.into_iter().rev() {
                    job.attempts += 1;
                    if job.attempts > 1 || !restart {
                        if let Some(g) = by_id.get(&job.game) {
                            let reason = format!("in flight during two engine failures; last: {e}");
                            ctx.fail_game(g, if restart { reason } else { e.to_string() });
                        }
                    } else {
                        jobs.push_front(job);
                    }
                }
                if !restart {
                    break;
                }
            }
        }
    }
    Ok(())
}

fn judge_chess(
    ctx: &mut Ctx<'_>,
    s: &ChessJudgeSettings,
    todo: &[&GameRecord],
) -> Result<(), JudgeError> {
    let mut jobs = VecDeque::new();
    for g in todo {
        let moves = ctx.store.game_moves(g.id)?;
        let game =
            chess::chess_game(g.opening.as_deref(), &moves).map_err(|what| JudgeError::BadRun {
                tag: ctx.run.tag.clone(),
                what: format!("game {}: {what}", g.game_index),
            })?;
        if let Some(why) = &game.truncated {
            ctx.event(
                Some(g.game_index),
                EventKind::Warning,
                format!(
                    "judge: game {} judged up to its unplayable move ({why})",
                    g.game_index
                ),
                None,
            );
        }
        if game.moves.is_empty() {
            ctx.trivially_judged += 1;
            continue;
        }
        jobs.push_back((*g, game, 0u32));
    }
    ctx.apply_limit(&mut jobs);
    ctx.todo = jobs.len();
    let mut restarts_left = ctx.opts.restarts;
    let opts = ctx.opts;
    let mut engine: Option<Uci> = None;
    while let Some((g, game, attempts)) = jobs.pop_front() {
        if crate::wait::stopped(ctx.stop()) {
            return Err(JudgeError::Interrupted);
        }
        let uci = match engine.as_mut() {
            Some(u) => u,
            None => match Uci::start(
                opts.label(),
                &s.argv,
                ctx.transcript.clone(),
                s.multipv,
                opts.startup_timeout,
                opts.stop.as_deref(),
            ) {
                Ok(u) => {
                    ctx.version = u.name.clone();
                    ctx.store
                        .set_engine_identity(ctx.engine_id, u.name.as_deref(), None)?;
                    engine.insert(u)
                }
                Err(e) if e.is_engine_failure() && crate::wait::stopped(ctx.stop()) => {
                    return Err(JudgeError::Interrupted)
                }
                Err(e) if e.is_engine_failure() => {
                    let tail = engine_tail(&e);
                    if ctx.engine_failed(&e, tail, &mut restarts_left) {
                        jobs.push_front((g, game, attempts));
                        continue;
                    }
                    ctx.fail_game(g, e.to_string());
                    break;
                }
                Err(e) => return Err(e),
            },
        };
        match evaluate_game(uci, &game, s, ctx.opts.timeout) {
            Ok(evals) => {
                let verdicts = chess::verdicts(g.id, &game, &evals, s.blunder_cp);
                ctx.store.insert_judge_moves(ctx.judge_run, &verdicts)?;
                ctx.positions += evals.len() as u64;
                ctx.judged_now += 1;
                ctx.tick();
            }
            Err(e)
                if matches!(e, JudgeError::Interrupted)
                    || (e.is_engine_failure() && crate::wait::stopped(ctx.stop())) =>
            {
                uci.engine.kill();
                return Err(JudgeError::Interrupted);
            }
            Err(e) => {
                let tail = uci.engine.stderr_tail();
                uci.engine.kill();
                engine = None;
                let restart = ctx.engine_failed(&e, tail, &mut restarts_left);
                if restart && attempts == 0 {
                    jobs.push_front((g, game, 1));
                } else {
                    ctx.fail_game(g, e.to_string());
                }
                if !restart {
                    break;
                }
            }
        }
    }
    if let Some(mut u) = engine {
        u.engine.shutdown(Some("quit"), Duration::from_secs(2));
    }
    Ok(())
}

fn evaluate_game(
    uci: &mut Uci,
    game: &chess::ChessGame,
    s: &ChessJudgeSettings,
    timeout: Duration,
) -> Result<Vec<PosEval>, JudgeError> {
    uci.new_game(timeout)?;
    let mut evals = Vec::with_capacity(game.positions());
    for p in 0..game.positions() {
        let eval = match game.terminal.get(p).copied().flatten() {
            Some(cp) => PosEval::terminal(cp),
            None => uci.evaluate(
                game.start_fen.as_deref(),
                &game.moves[..p],
                s.limit,
                timeout,
            )?,
        };
        evals.push(eval);
    }
    Ok(evals)
}

/// Per point and slot: mean over games of the per-game average loss, with
/// a normal 95% interval.
fn slot_summaries(
    store: &Store,
    run: qarena_store::RunId,
    judge_run: JudgeRunId,
    kind: &JudgeKind,
) -> Result<Vec<SlotSummary>, JudgeError> {
    let go = matches!(kind, JudgeKind::Go(_));
    let labels: HashMap<EngineId, String> = store
        .engines(run)?
        .into_iter()
        .map(|e| (e.id, e.label))
        .collect();
    let rows = store.game_judge_metrics(judge_run, run)?;
    // label, moves, blunders, per-game losses, per-game score losses
    type Group = (String, i64, i64, Vec<f64>, Vec<f64>);
    let mut groups: BTreeMap<(i64, String), Group> = BTreeMap::new();
    for m in rows {
        let label = labels.get(&m.engine).cloned().unwrap_or_default();
        let e = groups
            .entry((m.point_index, m.slot.to_string()))
            .or_insert_with(|| (label, 0, 0, Vec::new(), Vec::new()));
        e.1 += i64::try_from(m.moves_judged).unwrap_or(i64::MAX);
        e.2 += i64::try_from(m.blunders).unwrap_or(i64::MAX);
        e.3.extend(if go {
            m.avg_loss_winrate
        } else {
            m.avg_loss_cp
        });
        e.4.extend(m.avg_loss_score);
    }
    Ok(groups
        .into_iter()
        .map(
            |((point_index, slot), (label, moves, blunders, loss, score))| {
                let (mean_loss, ci95) = mean_ci(&loss);
                SlotSummary {
                    point_index,
                    slot,
                    label,
                    games: loss.len(),
                    moves,
                    blunders,
                    unit: if go { "winrate" } else { "cp" },
                    mean_loss,
                    ci95,
                    mean_loss_score: (go && !score.is_empty()).then(|| mean_ci(&score)),
                }
            },
        )
        .collect())
}

/// A subset that selects no game: the error names the points and game
/// indices the run has.
fn empty_subset(tag: &str, subset: &GameSubset, games: &[GameRecord]) -> JudgeError {
    let mut points: Vec<i64> = games.iter().map(|g| g.point_index).collect();
    points.dedup();
    let of_point = |p: i64| {
        let idx: Vec<i64> = games
            .iter()
            .filter(|g| g.point_index == p)
            .map(|g| g.game_index)
            .collect();
        match (idx.iter().min(), idx.iter().max()) {
            (Some(lo), Some(hi)) => format!("point {p} has games {lo}..={hi}"),
            _ => format!("point {p} has no game"),
        }
    };
    let available = match subset.point {
        Some(p) if !points.contains(&p) => format!(
            "its points are {}",
            points
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Some(p) => of_point(p),
        None => points
            .iter()
            .map(|p| of_point(*p))
            .collect::<Vec<_>>()
            .join("; "),
    };
    JudgeError::EmptySubset {
        tag: tag.to_string(),
        subset: subset.to_string(),
        available: if available.is_empty() {
            "it has no game".into()
        } else {
            available
        },
    }
}

/// The stored run tagged `run_tag`, or an error naming the database.
pub(crate) fn find_run(store: &Store, run_tag: &str) -> Result<RunRecord, JudgeError> {
    store
        .run_by_tag(run_tag)?
        .ok_or_else(|| JudgeError::RunNotFound {
            db: store.path().display().to_string(),
            tag: run_tag.to_string(),
        })
}

/// Mean and half-width of the 95% interval over games (0 for one game,
/// NaN for none), as the summary table prints them.
fn mean_ci(xs: &[f64]) -> (f64, f64) {
    MeanCi::of(xs).map_or((f64::NAN, f64::NAN), |m| (m.mean, m.half_width_or_zero()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_ci_matches_hand_computation() {
        let (m, ci) = mean_ci(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        let sd = (5.0f64 / 3.0).sqrt();
        assert!((ci - 1.96 * sd / 2.0).abs() < 1e-12);
        assert_eq!(mean_ci(&[3.0]), (3.0, 0.0));
        assert!(mean_ci(&[]).0.is_nan());
    }

    #[test]
    fn full_argv_appends_overrides() {
        let mut s = GoJudgeSettings::new(vec!["katago".into(), "analysis".into()]);
        s.analysis_threads = 2;
        s.search_threads = 1;
        s.eigen_threads = 0;
        let argv = s.full_argv();
        assert_eq!(argv[2], "-override-config");
        assert_eq!(
            argv[3],
            "numAnalysisThreads=2,numSearchThreadsPerAnalysisThread=1,reportAnalysisWinratesAs=BLACK"
        );
    }
}
