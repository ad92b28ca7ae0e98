//! Engine runs over position suites: the tactics check of the gate and the
//! generators of the opening and tactical suites. What counts as solved,
//! balanced or tactical is decided in `qarena-chess`; this module starts
//! the engines, asks the questions and maps their faults to [`SuiteError`].
//!
//! Invariants:
//! - Each tactical position starts from a fresh game (`ucinewgame` +
//!   `isready`), so a single-threaded engine at a fixed node count gives the
//!   same answer whatever the order of the suite: the check is deterministic.
//! - Every engine started here is shut down or killed before returning.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use qarena_chess::{Generated, TacticalPosition, TacticsReport, TwoLines, GENERATE_NODES};
use qarena_engine::EngineSpec;
use qarena_uci::{format_go, format_position, GoLimit};

use super::uci_client::{GoDeadline, UciEngine};
use crate::failure::Failure;
use crate::settings::Timeouts;

/// Why a suite run or a generator failed. Messages name the engine and,
/// once searching, the position.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("engine option `{option}` for {engine}: expected NAME=VALUE")]
    OptionWithoutValue { engine: String, option: String },
    #[error("engine option `{option}` for {engine}: empty name")]
    OptionWithoutName { engine: String, option: String },
    #[error("the tactical node limit must be positive")]
    ZeroNodes,
    #[error("the generator depth must be positive")]
    ZeroDepth,
    /// `engine` is the label and program, or the program alone.
    #[error("starting {engine}: {failure}")]
    Start {
        engine: String,
        failure: Box<Failure>,
    },
    #[error("{engine} on {id} ({place}): {failure}")]
    Position {
        engine: String,
        id: String,
        place: String,
        failure: Box<Failure>,
    },
    #[error("evaluating `{fen}` with `{program}`: {failure}")]
    Evaluate {
        fen: String,
        program: String,
        failure: Box<Failure>,
    },
    #[error("searching `{fen}` with `{program}`: {failure}")]
    Search {
        fen: String,
        program: String,
        failure: Box<Failure>,
    },
    #[error("{engine}: the search thread died")]
    ThreadDied { engine: String },
    #[error(transparent)]
    Chess(#[from] qarena_chess::Error),
}

/// A UCI engine for [`run_tactics`]: how to start it and its options.
#[derive(Debug, Clone)]
pub struct TacticsEngine {
    pub spec: EngineSpec,
    /// `setoption` values, e.g. `EvalFile` → the variant's net.
    pub options: BTreeMap<String, String>,
}

impl TacticsEngine {
    /// An engine from its argv and `NAME=VALUE` option strings.
    pub fn new(label: &str, argv: Vec<String>, options: &[String]) -> Result<Self, SuiteError> {
        let mut map = BTreeMap::new();
        for o in options {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| SuiteError::OptionWithoutValue {
                    engine: label.to_string(),
                    option: o.clone(),
                })?;
            if k.trim().is_empty() {
                return Err(SuiteError::OptionWithoutName {
                    engine: label.to_string(),
                    option: o.clone(),
                });
            }
            map.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(TacticsEngine {
            spec: EngineSpec::new(label, argv),
            options: map,
        })
    }
}

/// One engine's `bestmove` for every position, each from a fresh game.
fn best_moves(
    engine: &TacticsEngine,
    suite: &[TacticalPosition],
    nodes: u64,
    timeouts: Timeouts,
    stop: Arc<AtomicBool>,
) -> Result<Vec<String>, SuiteError> {
    let who = format!("{} (`{}`)", engine.spec.label, engine.spec.program());
    let mut uci = UciEngine::start(engine.spec.clone(), timeouts, &engine.options, stop).map_err(
        |failure| SuiteError::Start {
            engine: who.clone(),
            failure: Box::new(failure),
        },
    )?;
    let go = format_go(&GoLimit::Nodes(nodes));
    let deadline = GoDeadline {
        hard: timeouts.mv(),
        stop_after: None,
    };
    let mut moves = Vec::with_capacity(suite.len());
    for p in suite {
        let reply = uci
            .new_game(None)
            .and_then(|()| uci.go(&format_position(Some(&p.fen), &[]), &go, deadline));
        match reply {
            Ok(r) => moves.push(r.bestmove),
            Err(failure) => {
                uci.kill();
                return Err(SuiteError::Position {
                    engine: who,
                    id: p.id.clone(),
                    place: p.source.clone(),
                    failure: Box::new(failure),
                });
            }
        }
    }
    uci.shutdown();
    Ok(moves)
}

/// Searches every position with both engines at `nodes` nodes (the two
/// engines run side by side, one process each) and compares their moves
/// with the suite's best moves. Errors name the engine and the position.
pub fn run_tactics(
    suite: &[TacticalPosition],
    variant: &TacticsEngine,
    reference: &TacticsEngine,
    nodes: u64,
    timeouts: Timeouts,
    stop: Arc<AtomicBool>,
) -> Result<TacticsReport, SuiteError> {
    if nodes == 0 {
        return Err(SuiteError::ZeroNodes);
    }
    let (variant_moves, reference_moves) = std::thread::scope(|s| {
        let stop_v = Arc::clone(&stop);
        let v = s.spawn(move || best_moves(variant, suite, nodes, timeouts, stop_v));
        let r = best_moves(reference, suite, nodes, timeouts, Arc::clone(&stop));
        let v = v.join().unwrap_or_else(|_| {
            Err(SuiteError::ThreadDied {
                engine: variant.spec.label.clone(),
            })
        });
        (v, r)
    });
    let (variant_moves, reference_moves) = (variant_moves?, reference_moves?);
    Ok(TacticsReport::from_moves(
        suite,
        &variant_moves,
        &reference_moves,
    ))
}

/// Starts the generator's engine; the error names the program.
fn start_generator(
    label: &str,
    engine_argv: Vec<String>,
    timeouts: Timeouts,
) -> Result<(UciEngine, String), SuiteError> {
    let program = engine_argv.first().cloned().unwrap_or_default();
    let spec = EngineSpec::new(label, engine_argv);
    let stop = Arc::new(AtomicBool::new(false));
    match UciEngine::start(spec, timeouts, &BTreeMap::new(), stop) {
        Ok(engine) => Ok((engine, program)),
        Err(failure) => Err(SuiteError::Start {
            engine: format!("`{program}`"),
            failure: Box::new(failure),
        }),
    }
}

/// Builds a balanced opening suite with the engine `engine_argv` (see
/// [`qarena_chess::generate_openings`]), writes it to `out` and returns
/// how many positions it holds.
pub fn generate_openings(
    engine_argv: Vec<String>,
    plies: u32,
    max_eval_cp: i32,
    count: usize,
    seed: u64,
    out: &Path,
    timeouts: Timeouts,
) -> Result<usize, SuiteError> {
    let (mut engine, program) = start_generator("openings-generate", engine_argv, timeouts)?;
    let suite = qarena_chess::generate_openings(plies, max_eval_cp, count, seed, |fen| {
        engine
            .evaluate(fen, GENERATE_NODES, timeouts.mv())
            .map_err(|failure| SuiteError::Evaluate {
                fen: fen.to_string(),
                program: program.clone(),
                failure: Box::new(failure),
            })
    });
    engine.shutdown();
    let suite = suite?;
    qarena_chess::write_openings(out, &suite)?;
    Ok(suite.count)
}

/// Builds a tactical suite with the engine `engine_argv` searching to
/// `depth` (see [`qarena_chess::generate_tactics`]), writes it to `out`
/// and returns how many positions it holds.
pub fn generate_tactics(
    engine_argv: Vec<String>,
    count: usize,
    seed: u64,
    depth: u32,
    out: &Path,
    timeouts: Timeouts,
) -> Result<usize, SuiteError> {
    if depth == 0 {
        return Err(SuiteError::ZeroDepth);
    }
    let (mut engine, program) = start_generator("tactics-generate", engine_argv, timeouts)?;
    let go = format_go(&GoLimit::Depth(depth));
    let deadline = GoDeadline {
        hard: timeouts.mv(),
        stop_after: None,
    };
    let suite: Result<Generated, SuiteError> =
        qarena_chess::generate_tactics(count, seed, depth, |fen| {
            let reply = engine
                .new_game(Some(2))
                .and_then(|()| engine.go(&format_position(Some(fen), &[]), &go, deadline))
                .map_err(|failure| SuiteError::Search {
                    fen: fen.to_string(),
                    program: program.clone(),
                    failure: Box::new(failure),
                })?;
            let (Some(first), Some(second)) = (reply.lines.get(&1), reply.lines.get(&2)) else {
                return Ok(None);
            };
            Ok(Some(TwoLines {
                first_move: first.pv.first().cloned(),
                best: first.score,
                second: second.score,
                bestmove: reply.bestmove.clone(),
            }))
        });
    engine.shutdown();
    let suite = suite?;
    qarena_chess::write_tactics(out, &suite)?;
    Ok(suite.count)
}
