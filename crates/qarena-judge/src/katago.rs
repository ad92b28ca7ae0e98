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

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use qarena_engine::{Engine, EngineSpec};
use qarena_store::GameId;

use crate::go::{self, GoPosition, Response, TurnEval};
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
    ) -> Result<KataGo, JudgeError> {
        let mut spec = EngineSpec::new(label, argv.to_vec());
        spec.transcript = transcript;
        let mut engine = Engine::spawn(spec)?;
        engine.write_line(&go::version_query("qarena-version"))?;
        let deadline = Instant::now() + startup_timeout;
        loop {
            let line = engine.read_line(deadline, "query_version (engine start-up)")?;
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
}

/// Analyses `jobs` with a window of `window` games in flight, calling
/// `done` for each game as it completes. Returns the number of positions
/// (turns) analysed. On an engine failure returns the error and the games
/// that were in flight (the rest stay in `jobs`). An error from `done`
/// (the store) is returned as is, with the in-flight games.
pub(crate) fn analyse(
    kg: &mut KataGo,
    jobs: &mut VecDeque<GoJob>,
    window: usize,
    max_visits: u32,
    timeout: Duration,
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
        while inflight.len() < window.max(1) {
            let Some(job) = jobs.pop_front() else { break };
            let id = format!("g{}", job.game);
            let q = go::query(&id, &job.pos, max_visits);
            let turns = job.pos.turns();
            inflight.insert(
                id,
                InFlight {
                    job,
                    evals: vec![None; turns],
                    missing: turns,
                },
            );
            if let Err(e) = kg.engine.write_line(&q) {
                return Err(fail(e.into(), inflight));
            }
        }
        if inflight.is_empty() {
            return Ok(positions);
        }
        let line = match kg
            .engine
            .read_line(Instant::now() + timeout, "analysis results")
        {
            Ok(l) => l,
            Err(e) if !e.is_fatal() => continue,
            Err(e) => return Err(fail(e.into(), inflight)),
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
            // a query that never completes ends in the timeout above.
            _ => {}
        }
    }
}
