//! Driving `katago analysis`: a window of games in flight in one process.
//!
//! Invariants:
//! - At most `window` games have a query outstanding; the next game's query
//!   is written as soon as one game has all its turns back, so the engine's
//!   queue never runs dry while work remains.
//! - A game is handed to the caller only with every turn `0..turns` present
//!   (or with the engine's refusal); partial games never leave this module.
//! - On an engine failure the games still in flight are returned to the
//!   caller untouched, so it can kill, restart and requeue them.
//! - Every query has a deadline fixed when it is written (`timeout` after
//!   it); no line moves it, answers to other queries, warnings and chatter
//!   included. The wait always runs to the earliest deadline in flight, so
//!   an engine that prints forever but never finishes a query fails there.
//! - A stop request ends every wait within [`crate::wait::STOP_POLL`];
//!   the games in flight then come back with [`JudgeError::Interrupted`].

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use qarena_engine::{Engine, EngineSpec};
use qarena_store::GameId;

use crate::go::{self, GoPosition, Response, TurnEval};
use crate::wait::{next_line, stopped};
use crate::JudgeError;

/// One game waiting for analysis.
#[derive(Debug, Clone)]
pub(crate) struct GoJob {
    pub game: GameId,
    pub game_index: i64,
    pub pos: GoPosition,
    /// How many times this game was already in flight when the engine failed.
    pub attempts: u32,
}

/// A started analysis engine that has answered `query_version`.
pub(crate) struct KataGo {
    pub engine: Engine,
    pub version: String,
}

impl KataGo {
    pub fn start(
        label: &str,
        argv: &[String],
        transcript: Option<PathBuf>,
        startup_timeout: Duration,
        stop: Option<&AtomicBool>,
    ) -> Result<KataGo, JudgeError> {
        let mut spec = EngineSpec::new(label, argv.to_vec());
        spec.transcript = transcript;
        let mut engine = Engine::spawn(spec)?;
        let sent = Instant::now();
        engine.write_line(&go::version_query("qarena-version"))?;
        let deadline = sent + startup_timeout;
        let what = || "query_version (engine start-up)".to_string();
        loop {
            let line = next_line(&mut engine, deadline, sent, &what, stop)?;
            match go::parse_response(&line) {
                Response::Version { version, .. } => return Ok(KataGo { engine, version }),
                Response::Error { message, .. } => {
                    return Err(JudgeError::BadResponse {
                        label: label.to_string(),
                        program: engine.program().to_string(),
                        detail: format!("refused query_version: {message}"),
                    })
                }
                _ => continue,
            }
        }
    }
}

/// What happened to one game.
pub(crate) enum GameOutcome {
    /// Every turn, indexed by turn number.
    Analysed(Vec<TurnEval>),
    /// The engine refused the query (e.g. an illegal move under its rules).
    Refused(String),
}

struct InFlight {
    job: GoJob,
    evals: Vec<Option<TurnEval>>,
    missing: usize,
    /// When the query was written, and when it must be complete.
    sent: Instant,
    deadline: Instant,
}

/// Analyses `jobs` with a window of `window` games in flight, calling
/// `done` for each game as it completes. Returns the number of positions
/// (turns) analysed. Each query must be complete `timeout` after it was
/// written. On an engine failure (a query past its deadline included)
/// returns the error and the games that were in flight (the rest stay in
/// `jobs`); the same on a stop request, with [`JudgeError::Interrupted`].
/// An error from `done` (the store) is returned as is, with the in-flight
/// games.
pub(crate) fn analyse(
    kg: &mut KataGo,
    jobs: &mut VecDeque<GoJob>,
    window: usize,
    max_visits: u32,
    timeout: Duration,
    stop: Option<&AtomicBool>,
    done: &mut dyn FnMut(GoJob, GameOutcome) -> Result<(), JudgeError>,
) -> Result<u64, Box<(JudgeError, Vec<GoJob>)>> {
    let mut inflight: HashMap<String, InFlight> = HashMap::new();
    let mut positions = 0u64;
    let fail = |e: JudgeError, inflight: HashMap<String, InFlight>| {
        let mut back: Vec<GoJob> = inflight.into_values().map(|f| f.job).collect();
        back.sort_by_key(|j| j.game);
        Box::new((e, back))
    };
    loop {
        if stopped(stop) {
            return Err(fail(JudgeError::Interrupted, inflight));
        }
        while inflight.len() < window.max(1) {
            let Some(job) = jobs.pop_front() else { break };
            let id = format!("g{}", job.game);
            let q = go::query(&id, &job.pos, max_visits);
            let turns = job.pos.turns();
            let sent = Instant::now();
            inflight.insert(
                id,
                InFlight {
                    job,
                    evals: vec![None; turns],
                    missing: turns,
                    sent,
                    deadline: sent + timeout,
                },
            );
            if let Err(e) = kg.engine.write_line(&q) {
                return Err(fail(e.into(), inflight));
            }
        }
        // The query due first sets the wait; nothing below moves its deadline.
        let Some((due_id, due)) = inflight.iter().min_by_key(|(_, f)| f.deadline) else {
            return Ok(positions);
        };
        let (deadline, sent) = (due.deadline, due.sent);
        let what = || {
            format!(
                "analysis query {due_id} (game index {}; {} of {} turns answered)",
                due.job.game_index,
                due.evals.len() - due.missing,
                due.evals.len()
            )
        };
        let line = match next_line(&mut kg.engine, deadline, sent, &what, stop) {
            Ok(l) => l,
            Err(JudgeError::Engine(e)) if !e.is_fatal() => continue,
            Err(e) => return Err(fail(e, inflight)),
        };
        match go::parse_response(&line) {
            Response::Turn(t) => {
                let Some(f) = inflight.get_mut(&t.id) else {
                    continue;
                };
                let turn = t.turn;
                if let Some(slot @ None) = f.evals.get_mut(turn) {
                    *slot = Some(t);
                    f.missing -= 1;
                    positions += 1;
                }
                if f.missing == 0 {
                    let id = format!("g{}", f.job.game);
                    if let Some(f) = inflight.remove(&id) {
                        let evals = f.evals.into_iter().flatten().collect();
                        if let Err(e) = done(f.job, GameOutcome::Analysed(evals)) {
                            return Err(fail(e, inflight));
                        }
                    }
                }
            }
            Response::Error {
                id: Some(id),
                message,
                field,
            } => {
                if let Some(f) = inflight.remove(&id) {
                    let detail = match field {
                        Some(field) => format!("{message} (field `{field}`)"),
                        None => message,
                    };
                    if let Err(e) = done(f.job, GameOutcome::Refused(detail)) {
                        return Err(fail(e, inflight));
                    }
                }
            }
            // Warnings, intermediate results and stray lines change nothing;
            // a query that never completes ends at its deadline above.
            _ => {}
        }
    }
}
