//! Per-point results and metrics: W/D/L and Elo from the games (with
//! qarena-stats, pentanomial when every game is paired), and per-game
//! averages of judge and self-evaluation metrics summarised over games
//! (the game is the independent unit) as mean ± 1.96 standard errors.

use std::collections::{BTreeMap, HashMap};

use qarena_stats::{mean, EloReport, Wdl};
use qarena_store::{tally_games, Slot};

use crate::data::Loaded;

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

#[derive(Default)]
struct GameAcc {
    loss_w: Vec<f64>,
    loss_s: Vec<f64>,
    loss_cp: Vec<f64>,
    blunders: usize,
    judged: usize,
    self_w: Vec<f64>,
    ent: Vec<f64>,
    over: Vec<f64>,
    selfs: usize,
}

/// Computes every point's statistics.
pub fn point_stats(d: &Loaded) -> Vec<PointStats> {
    // (game, side) -> accumulators.
    let mut acc: HashMap<(i64, Slot), GameAcc> = HashMap::new();
    let mut judge_before: HashMap<(i64, i64), f64> = HashMap::new();
    if let Some(j) = &d.judge {
        for r in &j.rows {
            let Some(side) = d.side_of(r.mover) else {
                continue;
            };
            let a = acc.entry((r.game, side)).or_default();
            a.judged += 1;
            a.blunders += usize::from(r.blunder);
            a.loss_w.extend(r.loss_winrate);
            a.loss_s.extend(r.loss_score);
            a.loss_cp.extend(r.loss_cp);
            if let Some(b) = r.before_winrate {
                judge_before.insert((r.game, r.ply), b);
            }
        }
    }
    for s in &d.self_rows {
        let Some(side) = d.side_of(s.engine) else {
            continue;
        };
        let a = acc.entry((s.game, side)).or_default();
        a.selfs += 1;
        a.self_w.extend(s.winrate);
        a.ent.extend(s.entropy);
        if let (Some(w), Some(b)) = (s.winrate, judge_before.get(&(s.game, s.ply))) {
            a.over.push(w - b);
        }
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
                let Some(a) = acc.get(&(g.id.0, c)) else {
                    continue;
                };
                m.moves_judged += a.judged;
                m.self_evals += a.selfs;
                lw.extend(mean(&a.loss_w));
                ls.extend(mean(&a.loss_s));
                lc.extend(mean(&a.loss_cp));
                if a.judged > 0 {
                    br.push(a.blunders as f64 / a.judged as f64);
                }
                sw.extend(mean(&a.self_w));
                en.extend(mean(&a.ent));
                oc.extend(mean(&a.over));
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
