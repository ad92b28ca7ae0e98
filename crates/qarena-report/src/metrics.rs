//! Per-point results and metrics: W/D/L and Elo from the games (with
//! qarena-stats, pentanomial when every game is paired), and the per-game
//! judge and self-evaluation averages of the store's views summarised over
//! a point's finished games (the game is the independent unit) as
//! mean ± 1.96 standard errors.

use std::collections::{BTreeMap, HashMap};

use qarena_stats::{EloReport, Wdl};
use qarena_store::{
    tally_games, EngineSlot, GameId, GameJudgeMetrics, GameOverconfidence, GameSelfMetrics, Slot,
};

use crate::data::{count, Loaded};

pub use qarena_stats::MeanCi;

/// Per-side metrics of one point (side `a` is the variant, `b` the baseline).
#[derive(Debug, Clone, Default)]
pub struct SideMetrics {
    pub moves_judged: usize,
    pub loss_winrate: Option<MeanCi>,
    pub loss_score: Option<MeanCi>,
    pub loss_cp: Option<MeanCi>,
    pub blunder_rate: Option<MeanCi>,
    pub self_evals: usize,
    pub self_winrate: Option<MeanCi>,
    pub entropy: Option<MeanCi>,
    /// Self winrate minus the judge's winrate before the same move, both
    /// from the mover's view: positive means overconfident.
    pub overconfidence: Option<MeanCi>,
}

/// Results of one point.
#[derive(Debug, Clone)]
pub struct PointStats {
    pub index: i64,
    pub games: u64,
    pub aborted: u64,
    pub wdl: Wdl,
    pub pairs: usize,
    pub elo: Option<EloReport>,
    pub terminations: BTreeMap<&'static str, u64>,
    pub variant: SideMetrics,
    pub baseline: SideMetrics,
}

/// Computes every point's statistics.
pub fn point_stats(d: &Loaded) -> Vec<PointStats> {
    // (game, side) -> that side's per-game row of each view.
    let by_side = |game: GameId, slot: EngineSlot| slot.player().map(|side| (game, side));
    let mut judged: HashMap<(GameId, Slot), &GameJudgeMetrics> = HashMap::new();
    let mut over: HashMap<(GameId, Slot), &GameOverconfidence> = HashMap::new();
    if let Some(j) = &d.judge {
        for r in &j.games {
            judged.extend(by_side(r.game, r.slot).map(|k| (k, r)));
        }
        for r in &j.overconfidence {
            over.extend(by_side(r.game, r.slot).map(|k| (k, r)));
        }
    }
    let mut selfs: HashMap<(GameId, Slot), &GameSelfMetrics> = HashMap::new();
    for r in &d.self_games {
        selfs.extend(by_side(r.game, r.slot).map(|k| (k, r)));
    }

    let mut out = Vec::new();
    for p in &d.points {
        let of_point = || d.games.iter().filter(|g| g.point_index == p.index);
        let mut terminations = BTreeMap::new();
        for g in of_point() {
            *terminations.entry(g.termination.as_str()).or_insert(0) += 1;
        }
        let tally = tally_games(of_point());
        let games = tally.games();
        let elo = tally.elo(0.95);
        let side = |c: Slot| -> SideMetrics {
            let mut m = SideMetrics::default();
            let (mut lw, mut ls, mut lc, mut br, mut sw, mut en, mut oc) =
                (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
            for g in d.finished_games(p.index) {
                let key = (g.id, c);
                if let Some(j) = judged.get(&key) {
                    m.moves_judged += count(j.moves_judged);
                    lw.extend(j.avg_loss_winrate);
                    ls.extend(j.avg_loss_score);
                    lc.extend(j.avg_loss_cp);
                    br.extend(j.blunder_rate());
                }
                if let Some(s) = selfs.get(&key) {
                    m.self_evals += count(s.self_evals);
                    sw.extend(s.avg_self_winrate);
                    en.extend(s.avg_policy_entropy);
                }
                if let Some(o) = over.get(&key) {
                    oc.extend(o.avg_self_minus_judge_before);
                }
            }
            m.loss_winrate = MeanCi::of(&lw);
            m.loss_score = MeanCi::of(&ls);
            m.loss_cp = MeanCi::of(&lc);
            m.blunder_rate = MeanCi::of(&br);
            m.self_winrate = MeanCi::of(&sw);
            m.entropy = MeanCi::of(&en);
            m.overconfidence = MeanCi::of(&oc);
            m
        };
        out.push(PointStats {
            index: p.index,
            games,
            aborted: tally.aborted(),
            wdl: tally.wdl(),
            pairs: tally.pairs().len(),
            elo,
            terminations,
            variant: side(Slot::A),
            baseline: side(Slot::B),
        });
    }
    out
}

/// Pearson correlation of two equally long samples (None if undefined).
pub fn pearson(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len();
    if n < 3 || ys.len() != n {
        return None;
    }
    let mx = xs.iter().sum::<f64>() / n as f64;
    let my = ys.iter().sum::<f64>() / n as f64;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in xs.iter().zip(ys) {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    let r = sxy / (sxx * syy).sqrt();
    r.is_finite().then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_signs() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[1.0, 2.0]), None);
    }
}
