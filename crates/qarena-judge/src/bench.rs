//! Judge throughput against the engine alone, on exactly the same queries.
//!
//! The reference is `katago analysis` by itself: every query of the run is
//! written to a file, the engine reads it on stdin and its answers go to a
//! file, as a user would run it by hand; the time is from starting the
//! process to its exit (start-up included). The judge is then timed on the
//! same games, end to end (start-up, reading games, storing verdicts),
//! into a scratch copy of the run so the real database is not touched.
//!
//! Invariants: both sides use the same command, the same overrides and the
//! same query text (same ids, turns, visits). The reference runs in its own
//! process group with a deadline and the judge's stop flag
//! ([`JudgeOptions::stop`]), so Ctrl-C ends either side at once with
//! [`JudgeError::Interrupted`] and leaves no engine behind.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use qarena_engine::{run_to_completion, EngineError, Input, OutputTo, RunSpec};

use qarena_store::{NewEngine, NewGame, NewMove, NewRun, NewSelfEval, Store};

use crate::go::{self, Response};
use crate::run::{judge, JudgeKind, JudgeOptions};
use crate::JudgeError;

/// Throughput of the engine alone and of the judge on the same positions.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    pub games: usize,
    pub positions: u64,
    pub command: Vec<String>,
    pub reference_secs: f64,
    pub judge_secs: f64,
}

impl BenchReport {
    pub fn reference_positions_per_second(&self) -> f64 {
        self.positions as f64 / self.reference_secs.max(1e-9)
    }
    pub fn judge_positions_per_second(&self) -> f64 {
        self.positions as f64 / self.judge_secs.max(1e-9)
    }
    /// Judge rate / engine-alone rate (1.0 = no overhead).
    pub fn ratio(&self) -> f64 {
        self.judge_positions_per_second() / self.reference_positions_per_second().max(1e-9)
    }
}

/// Runs the reference, then the judge, on every Go game of `run_tag`.
/// `scratch` is an existing empty directory for the query file, the
/// engine's answers and the scratch database; it is left for inspection.
pub fn go_throughput(
    store: &Store,
    run_tag: &str,
    opts: &JudgeOptions,
    scratch: &Path,
) -> Result<BenchReport, JudgeError> {
    let JudgeKind::Go(settings) = &opts.kind else {
        return Err(JudgeError::Settings(
            "the throughput benchmark is for the Go judge (KataGo)".into(),
        ));
    };
    let run = crate::run::find_run(store, run_tag)?;
    let games: Vec<_> = store
        .games(run.id)?
        .into_iter()
        .filter(|g| g.record_format == qarena_store::RecordFormat::Sgf)
        .collect();

    // Copy the run into a scratch database: the judge's part of the
    // benchmark then does exactly what `qarena judge` does.
    let db = scratch.join("bench.sqlite");
    let copy = Store::open(&db)?;
    let run_copy = copy.create_run(&NewRun {
        tag: run.tag.clone(),
        kind: run.kind,
        argv: run.argv.clone(),
        settings: run.settings.clone(),
        software_version: run.software_version.clone(),
    })?;
    let mut engine_map = std::collections::HashMap::new();
    for e in store.engines(run.id)? {
        if e.slot == qarena_store::EngineSlot::Judge {
            continue;
        }
        let id = copy.add_engine(&NewEngine {
            run: run_copy,
            slot: e.slot,
            label: e.label.clone(),
            command: e.command.clone(),
            protocol: e.protocol,
            name: e.name.clone(),
            version: e.version.clone(),
            model_path: e.model_path.clone(),
            model_sha256: e.model_sha256.clone(),
        })?;
        engine_map.insert(e.id, id);
    }
    let mut queries = String::new();
    let mut positions = 0u64;
    for g in &games {
        let moves = store.game_moves(g.id)?;
        let evals = store.game_self_evals(g.id)?;
        let (Some(&black), Some(&white)) = (
            engine_map.get(&g.black_engine),
            engine_map.get(&g.white_engine),
        ) else {
            continue;
        };
        let new_id = copy.insert_game(&NewGame {
            run: run_copy,
            point_index: g.point_index,
            game_index: g.game_index,
            pair_index: g.pair_index,
            opening: g.opening.clone(),
            seed: g.seed,
            black_engine: black,
            white_engine: white,
            result: g.result.clone(),
            winner: g.winner,
            score: g.score,
            termination: g.termination,
            record: g.record.clone(),
            record_format: g.record_format,
            started_at: g.started_at.clone(),
            ended_at: g.ended_at.clone(),
            duration_ms: g.duration_ms,
            variant_params: g.variant_params.clone(),
            settings: g.settings.clone(),
            moves: moves
                .iter()
                .map(|m| NewMove {
                    ply: m.ply,
                    color: m.color,
                    mv: m.mv.clone(),
                    time_ms: m.time_ms,
                })
                .collect(),
            self_evals: evals
                .iter()
                .filter_map(|s| {
                    Some(NewSelfEval {
                        ply: s.ply,
                        engine: *engine_map.get(&s.engine)?,
                        winrate: s.winrate,
                        score_lead: s.score_lead,
                        score_cp: s.score_cp,
                        mate: s.mate,
                        depth: s.depth,
                        nodes: s.nodes,
                        visits: s.visits,
                        time_ms: s.time_ms,
                        pv: s.pv.clone(),
                        top_k: s.top_k.clone(),
                    })
                })
                .collect(),
            costs: Vec::new(),
        })?;
        // The same query text the judge will send for the copied game.
        let (size, komi) = crate::run::go_setup(&run, g)?;
        let mut pos = go::go_position(size, komi, &moves);
        pos.book = go::book_len(g.opening.as_deref());
        if pos.moves.is_empty() {
            continue;
        }
        positions += pos.turns() as u64;
        queries.push_str(&go::query(&format!("g{new_id}"), &pos, settings.max_visits));
        queries.push('\n');
    }
    let query_file = scratch.join("queries.jsonl");
    let answer_file = scratch.join("answers.jsonl");
    fs_err::write(&query_file, &queries)?;

    let argv = settings.full_argv();
    // The judge calls a game hung after `timeout`; the reference gets as
    // much per game, so only a truly stuck engine reaches the deadline.
    let games_with_queries = u32::try_from(queries.lines().count())
        .unwrap_or(u32::MAX)
        .max(1);
    let mut spec = RunSpec::new(
        "bench-reference",
        argv.clone(),
        opts.timeout.saturating_mul(games_with_queries),
    );
    spec.stdin = Input::File(query_file.clone());
    spec.stdout = OutputTo::File(answer_file.clone());
    let not_stopped = AtomicBool::new(false);
    let stop = opts.stop.as_deref().unwrap_or(&not_stopped);
    let reference_start = Instant::now();
    let out = match run_to_completion(&spec, stop) {
        Ok(out) => out,
        Err(EngineError::Stopped { .. }) => return Err(JudgeError::Interrupted),
        Err(e) => return Err(JudgeError::Engine(e)),
    };
    let status = out.status;
    let reference_secs = reference_start.elapsed().as_secs_f64();
    let answers = fs_err::read_to_string(&answer_file)?;
    let answered = answers
        .lines()
        .filter(|l| matches!(go::parse_response(l), Response::Turn(_)))
        .count() as u64;
    if !status.success() || answered != positions {
        return Err(JudgeError::BadResponse {
            label: "bench-reference".into(),
            program: argv[0].clone(),
            detail: format!(
                "{status}; answered {answered} of {positions} positions (answers in {}){}",
                answer_file.display(),
                if out.stderr_tail.trim().is_empty() {
                    String::new()
                } else {
                    format!("; last stderr: {}", out.stderr_tail.trim_end())
                }
            ),
        });
    }

    let judge_start = Instant::now();
    let report = judge(&copy, run_tag, opts, &mut |_| {})?;
    let judge_secs = judge_start.elapsed().as_secs_f64();
    if report.interrupted {
        return Err(JudgeError::Interrupted);
    }
    if let Some(e) = &report.engine_failure {
        return Err(JudgeError::BadResponse {
            label: "bench-judge".into(),
            program: argv[0].clone(),
            detail: e.clone(),
        });
    }
    if report.positions != positions {
        return Err(JudgeError::BadResponse {
            label: "bench-judge".into(),
            program: argv[0].clone(),
            detail: format!(
                "the judge analysed {} positions, the reference {positions}",
                report.positions
            ),
        });
    }
    Ok(BenchReport {
        games: games.len(),
        positions,
        command: argv,
        reference_secs,
        judge_secs,
    })
}
