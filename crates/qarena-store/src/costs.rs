//! Typed reads of what engines cost while they played
//! (`game_cost_metrics`, migrations 8 and 11): speed as measured and as the engine
//! reported it, CPU time and peak memory, one row per game and engine.
//! Callers summarise the rows over games (the game is the independent unit).

use rusqlite::Row;

use crate::{EngineId, EngineSlot, GameId, Result, RunId, Store, VariantId};

/// One engine's cost in one game (`game_cost_metrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct GameCostMetrics {
    pub run: RunId,
    pub point_index: i64,
    pub game: GameId,
    pub engine: EngineId,
    pub slot: EngineSlot,
    pub variant: Option<VariantId>,
    /// Moves this engine played in the game.
    pub moves: u64,
    /// Wall time per move as qarena measured it, in milliseconds.
    pub avg_move_ms: Option<f64>,
    /// Nodes per second over the search time the engine reported (UCI).
    pub nodes_per_second: Option<f64>,
    /// Visits the engine reported per second of measured move time (KataGo).
    pub visits_per_second: Option<f64>,
    /// CPU time of the engine process per move, in milliseconds.
    pub cpu_ms_per_move: Option<f64>,
    /// The engine process's peak resident memory so far at the game's end.
    pub peak_rss_bytes: Option<i64>,
}

impl GameCostMetrics {
    /// The speed the engine reported: nodes per second, else visits per
    /// second, with the unit's name.
    pub fn reported_speed(&self) -> Option<(f64, &'static str)> {
        self.nodes_per_second
            .map(|v| (v, "nodes/s"))
            .or(self.visits_per_second.map(|v| (v, "visits/s")))
    }
}

fn cost_from_row(r: &Row<'_>) -> rusqlite::Result<GameCostMetrics> {
    Ok(GameCostMetrics {
        run: r.get(0)?,
        point_index: r.get(1)?,
        game: r.get(2)?,
        engine: r.get(3)?,
        slot: r.get(4)?,
        variant: r.get(5)?,
        moves: r.get::<_, Option<u64>>(6)?.unwrap_or(0),
        avg_move_ms: r.get(7)?,
        nodes_per_second: r.get(8)?,
        visits_per_second: r.get(9)?,
        cpu_ms_per_move: r.get(10)?,
        peak_rss_bytes: r.get(11)?,
    })
}

impl Store {
    /// Per game and engine of `run`: speed, CPU time and peak memory,
    /// ordered by point, game and engine.
    pub fn game_cost_metrics(&self, run: RunId) -> Result<Vec<GameCostMetrics>> {
        self.call("reading per-game engine costs", |c| {
            let mut stmt = c.prepare(
                "SELECT run_id, point_index, game_id, engine_id, slot, variant_id, moves,
                        avg_move_ms, nodes_per_second, visits_per_second, cpu_ms_per_move,
                        peak_rss_bytes
                 FROM game_cost_metrics WHERE run_id = ?1
                 ORDER BY point_index, game_id, engine_id",
            )?;
            let rows = stmt.query_map([run], cost_from_row)?;
            rows.collect()
        })
    }
}

/// What one side of one point cost over its games: means with 95%
/// intervals over games (the game is the unit), and the time per move
/// against the other side's in the same games (paired by game).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PointCost {
    /// Games with a row for this side.
    pub games: usize,
    /// Wall time per move (ms).
    pub move_ms: Option<qarena_stats::MeanCi>,
    /// This side's time per move over the other side's, paired by game.
    pub move_ms_ratio: Option<qarena_stats::RatioCi>,
    /// The speed the engine reported, and its unit (`nodes/s`, `visits/s`).
    pub reported_speed: Option<(qarena_stats::MeanCi, &'static str)>,
    /// CPU time per move (ms).
    pub cpu_ms: Option<qarena_stats::MeanCi>,
    /// Peak resident memory of the engine process, MiB: mean over games
    /// and the largest seen.
    pub peak_rss_mib: Option<qarena_stats::MeanCi>,
    pub peak_rss_mib_max: Option<f64>,
}

impl PointCost {
    /// The cost of `side` (a player slot) at `point` from the per-game rows
    /// of a run; `None` when that side has no row there.
    pub fn of(rows: &[GameCostMetrics], point: i64, side: crate::Slot) -> Option<PointCost> {
        use qarena_stats::{MeanCi, RatioCi};
        let at = |s: crate::Slot| {
            rows.iter()
                .filter(move |r| r.point_index == point && r.slot.player() == Some(s))
        };
        let mine: Vec<&GameCostMetrics> = at(side).collect();
        if mine.is_empty() {
            return None;
        }
        let collect = |f: &dyn Fn(&GameCostMetrics) -> Option<f64>| -> Vec<f64> {
            mine.iter().filter_map(|r| f(r)).collect()
        };
        // Paired by game: both sides' time per move in the same game.
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for r in &mine {
            let other = at(side.other()).find(|o| o.game == r.game);
            if let (Some(x), Some(y)) = (r.avg_move_ms, other.and_then(|o| o.avg_move_ms)) {
                a.push(x);
                b.push(y);
            }
        }
        let unit = mine.iter().find_map(|r| r.reported_speed().map(|s| s.1));
        let speeds = collect(&|r| {
            r.reported_speed()
                .filter(|s| Some(s.1) == unit)
                .map(|s| s.0)
        });
        let rss = collect(&|r| r.peak_rss_bytes.map(|b| b as f64 / 1048576.0));
        Some(PointCost {
            games: mine.len(),
            move_ms: MeanCi::of(&collect(&|r| r.avg_move_ms)),
            move_ms_ratio: RatioCi::paired(&a, &b),
            reported_speed: unit.and_then(|u| MeanCi::of(&speeds).map(|m| (m, u))),
            cpu_ms: MeanCi::of(&collect(&|r| r.cpu_ms_per_move)),
            peak_rss_mib_max: rss.iter().copied().reduce(f64::max),
            peak_rss_mib: MeanCi::of(&rss),
        })
    }
}
