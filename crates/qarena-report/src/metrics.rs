//! Per-point results and metrics: W/D/L and Elo from the games (with
//! qarena-stats, pentanomial when every game is paired), and per-game
//! averages of judge and self-evaluation metrics summarised over games
//! (the game is the independent unit) as mean ± 1.96 standard errors.

use std::collections::{BTreeMap, HashMap};

use qarena_stats::{elo_penta, elo_wdl, penta_from_pairs, EloReport, Wdl};

use crate::data::Loaded;

/// A mean over games with its 95% interval (normal approximation).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MeanCi {
    pub n: usize,
    pub mean: f64,
    /// `None` with fewer than two games.
    pub half_width: Option<f64>,
}

impl MeanCi {
    pub fn of(xs: &[f64]) -> Option<MeanCi> {
        let xs: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
        let n = xs.len();
        if n == 0 {
            return None;
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let half_width = (n >= 2).then(|| {
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            1.96 * (var / n as f64).sqrt()
        });
        Some(MeanCi {
            n,
            mean,
            half_width,
        })
    }
    pub fn lower(&self) -> Option<f64> {
        self.half_width.map(|h| self.mean - h)
    }
    pub fn upper(&self) -> Option<f64> {
        self.half_width.map(|h| self.mean + h)
    }
    /// `0.123 ± 0.045` with `digits` decimals (scaled by `scale`).
    pub fn fmt(&self, digits: usize, scale: f64) -> String {
        match self.half_width {
            Some(h) => format!(
                "{:.*} ± {:.*}",
                digits,
                self.mean * scale,
                digits,
                h * scale
            ),
            None => format!("{:.*}", digits, self.mean * scale),
        }
    }
}

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
    pub terminations: BTreeMap<String, u64>,
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

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Computes every point's statistics.
pub fn point_stats(d: &Loaded) -> Vec<PointStats> {
    // (game, side) -> accumulators.
    let mut acc: HashMap<(i64, char), GameAcc> = HashMap::new();
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
        let mut wdl = Wdl::default();
        let mut terminations = BTreeMap::new();
        let mut aborted = 0;
        let mut by_pair: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
        for g in d.games.iter().filter(|g| g.point_index == p.index) {
            *terminations.entry(g.termination.clone()).or_insert(0) += 1;
            if g.termination == "aborted" {
                aborted += 1;
                continue;
            }
            let sc = match g.winner.as_deref() {
                Some("a") => {
                    wdl.wins += 1;
                    1.0
                }
                Some("b") => {
                    wdl.losses += 1;
                    0.0
                }
                _ => {
                    wdl.draws += 1;
                    0.5
                }
            };
            if let Some(pi) = g.pair_index {
                by_pair.entry(pi).or_default().push(sc);
            }
        }
        let pairs: Vec<(f64, f64)> = by_pair
            .into_values()
            .filter(|v| v.len() == 2)
            .map(|v| (v[0], v[1]))
            .collect();
        let games = wdl.games();
        let elo = (games > 0).then(|| {
            if !pairs.is_empty() && 2 * pairs.len() as u64 == games {
                elo_penta(&penta_from_pairs(&pairs), 0.95)
            } else {
                elo_wdl(&wdl, 0.95)
            }
        });
        let side = |c: char| -> SideMetrics {
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
            aborted,
            wdl,
            pairs: pairs.len(),
            elo,
            terminations,
            variant: side('a'),
            baseline: side('b'),
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
    fn mean_ci_matches_hand_computation() {
        let m = MeanCi::of(&[1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!(m.n, 4);
        assert!((m.mean - 2.5).abs() < 1e-12);
        // sd = sqrt(5/3), se = sd / 2
        let h = 1.96 * (5.0f64 / 3.0).sqrt() / 2.0;
        assert!((m.half_width.unwrap() - h).abs() < 1e-12);
        assert_eq!(MeanCi::of(&[0.5]).unwrap().half_width, None);
        assert!(MeanCi::of(&[]).is_none());
        assert!(MeanCi::of(&[f64::NAN]).is_none());
        assert_eq!(m.fmt(2, 1.0), format!("2.50 ± {h:.2}"));
    }

    #[test]
    fn pearson_signs() {
        assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[1.0, 2.0]), None);
    }
}
