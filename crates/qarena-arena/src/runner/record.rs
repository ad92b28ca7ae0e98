//! Recording a finished game: the game with its moves and self-evaluations
//! in one transaction, its events, the live counts and the progress note.

use std::sync::atomic::Ordering;

use qarena_stats::Outcome;
use qarena_store::{NewEvent, NewGame, NewGameCost, NewMove, NewSelfEval};

use super::worker::{GameCost, Shared};
use super::{lock, Fatal, RunNote};
use crate::failure::Termination;
use crate::game::{GameOutcome, Slot};

pub(super) fn record_game(
    sh: &Shared<'_>,
    gi: u32,
    first: Slot,
    o: &GameOutcome,
    (started_at, ended_at, duration_ms): (String, String, i64),
    costs: [GameCost; 2],
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
        costs: [Slot::A, Slot::B]
            .into_iter()
            .filter(|s| {
                costs[s.index()].cpu_seconds.is_some() || costs[s.index()].peak_rss_bytes.is_some()
            })
            .map(|s| NewGameCost {
                engine: ids[s.index()],
                cpu_seconds: costs[s.index()].cpu_seconds,
                peak_rss_bytes: costs[s.index()]
                    .peak_rss_bytes
                    .and_then(|b| i64::try_from(b).ok()),
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
    // The SPRT reads the live tally: it holds every game of the run (the
    // resumed ones are counted in at the start) and keeps its pentanomial
    // as games arrive, so this check costs the same at any match length.
    let sprt = sh.cfg.sprt.as_ref().and_then(|params| {
        let r = t.tally.sprt_pairs(params)?;
        Some((params, r, t.tally.complete_pairs()))
    });
    drop(t);
    if let Some((params, r, pairs)) = sprt {
        if r.verdict != qarena_stats::SprtVerdict::Continue
            && !sh.drain.swap(true, Ordering::SeqCst)
        {
            let _ = sh.store.record_event(&NewEvent {
                run: sh.run,
                game_index: Some(i64::from(gi)),
                engine: None,
                kind: qarena_store::EventKind::Warning,
                message: format!(
                    "SPRT {params}: {} after {pairs} pairs (LLR {:.3}); no new games start",
                    r.verdict, r.llr
                ),
                stderr_tail: None,
            });
        }
    }
    let wdl = lock(&sh.live).tally.wdl();
    let msg = format!(
        "{} {}-{}-{} {}",
        sh.names[0], wdl.wins, wdl.draws, wdl.losses, sh.names[1]
    );
    sh.req.observer.note(RunNote::GameEnded {
        index: gi,
        total: sh.cfg.games,
        result: o.result.as_deref(),
        termination: o.termination,
        counts: &msg,
    });
}
