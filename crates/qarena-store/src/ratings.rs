//! Ratings of named players over stored games: one Bradley–Terry fit
//! (`qarena_stats::bradley_terry`) for a run's players (sweep points,
//! baseline, anchors) and for an evolution's game stage.

use std::collections::HashMap;

use qarena_stats::{RatedGame, Rating};

use crate::{Result, RunId, Slot, Store};

/// Fits ratings of named players from `(player a, player b, score of a)`
/// games, anchored at `anchor` (Elo 0, listed among the players even
/// without games), with 95% intervals; best first. Games of a player
/// against itself carry no information and are skipped; empty without
/// games.
pub(crate) fn fit_named(
    anchor: &str,
    games: impl IntoIterator<Item = (String, String, f64)>,
) -> Vec<(String, Rating)> {
    let mut players: Vec<String> = vec![anchor.to_string()];
    let mut index: HashMap<String, usize> = HashMap::from([(anchor.to_string(), 0)]);
    let mut id = |p: String| -> usize {
        *index.entry(p.clone()).or_insert_with(|| {
            players.push(p);
            players.len() - 1
        })
    };
    let rated: Vec<RatedGame> = games
        .into_iter()
        .filter(|(a, b, _)| a != b)
        .map(|(a, b, score)| RatedGame {
            a: id(a),
            b: id(b),
            score,
        })
        .collect();
    if rated.is_empty() {
        return Vec::new();
    }
    // Every game has two distinct, known players and a score in [0, 1], so
    // the fit cannot refuse them.
    let Ok(fit) = qarena_stats::bradley_terry(players.len(), &rated, 0, 0.95) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Rating)> = players.into_iter().zip(fit.ratings).collect();
    out.sort_by(|a, b| b.1.elo.total_cmp(&a.1.elo));
    out
}

impl Store {
    /// Bradley–Terry ratings over every finished game of a run (all sweep
    /// points and anchor matches), players named by their engine's label
    /// (a point's name, the baseline's, an anchor's), anchored at `anchor`
    /// (Elo 0); best first. Empty when the run has no game between two
    /// different players.
    pub fn run_ratings(&self, run: RunId, anchor: &str) -> Result<Vec<(String, Rating)>> {
        let engines = self.engines(run)?;
        let label = |id: crate::EngineId| {
            engines
                .iter()
                .find(|e| e.id == id)
                .map(|e| (e.label.clone(), e.slot.player()))
        };
        let mut games = Vec::new();
        for g in self.games(run)? {
            let Some(outcome) = g.outcome_of_a() else {
                continue;
            };
            let (Some((black, bs)), Some((white, _))) =
                (label(g.black_engine), label(g.white_engine))
            else {
                continue;
            };
            let (a, b) = if bs == Some(Slot::A) {
                (black, white)
            } else {
                (white, black)
            };
            games.push((a, b, outcome.score()));
        }
        Ok(fit_named(anchor, games))
    }
}
