//! Ratings of many players from all their games: a Bradley–Terry fit.
//!
//! Each player `i` has a strength `θ_i`; player `i` scores against `j`
//! with expectation `1 / (1 + exp(θ_j − θ_i))` (the logistic Elo model,
//! Elo = θ · 400 / ln 10). Draws count as half a win for each side, as Ordo
//! does. The log-likelihood is maximised by Newton's method with the
//! anchor's strength held at 0, so every rating is relative to the anchor
//! (e.g. the baseline network).
//!
//! A player who won or lost every game has no finite maximum; as BayesElo
//! does, a weak prior keeps the fit finite: every player gets one virtual
//! draw (worth one game) against the anchor. It moves a rating from a few
//! hundred games by a few Elo at most and is reported with the ratings.
//!
//! Intervals come from the observed information (the negative Hessian at
//! the maximum): the variance of each rating relative to the anchor,
//! scaled by the games' dispersion (their squared residuals over what the
//! win/loss model expects, a quasi-likelihood correction): draws carry
//! less variance than a win or a loss, and without the correction the
//! intervals of a drawish league are too wide. They assume independent
//! games; the simulation tests check their coverage.

use crate::error::StatsError;
use crate::normal;

/// One game between two players: `score` is player `a`'s (1 win, 0.5
/// draw, 0 loss).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatedGame {
    pub a: usize,
    pub b: usize,
    pub score: f64,
}

/// A fitted rating.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    /// Elo relative to the anchor.
    pub elo: f64,
    /// Half width of the interval at the fit's confidence (0 for the
    /// anchor).
    pub half_width: f64,
    /// Real games the player took part in (the prior's not counted).
    pub games: u64,
    /// The player's score over those games.
    pub score: f64,
}

impl Rating {
    pub fn lower(&self) -> f64 {
        self.elo - self.half_width
    }
    pub fn upper(&self) -> f64 {
        self.elo + self.half_width
    }
}

/// The ratings of every player, in player order.
#[derive(Debug, Clone, PartialEq)]
pub struct Ratings {
    pub anchor: usize,
    pub confidence: f64,
    pub ratings: Vec<Rating>,
    /// Virtual draws per player against the anchor (the prior).
    pub prior_draws: f64,
    /// Newton iterations used.
    pub iterations: usize,
    /// The dispersion the covariance was scaled by (1 for pure win/loss
    /// games in expectation, below 1 with draws).
    pub dispersion: f64,
}

const ELO_PER_NAT: f64 = 400.0 / std::f64::consts::LN_10;
const PRIOR_DRAWS: f64 = 1.0;
const MAX_ITERATIONS: usize = 200;

/// Fits ratings for `players` players from `games`, anchored at `anchor`
/// (Elo 0), with intervals at `confidence` (e.g. 0.95).
pub fn bradley_terry(
    players: usize,
    games: &[RatedGame],
    anchor: usize,
    confidence: f64,
) -> Result<Ratings, StatsError> {
    if players == 0 || anchor >= players {
        return Err(StatsError::Rating(format!(
            "anchor {anchor} is not one of {players} players"
        )));
    }
    if !(0.5..1.0).contains(&confidence) {
        return Err(StatsError::Rating(format!(
            "confidence {confidence} is not in [0.5, 1)"
        )));
    }
    // Pairwise totals: n[i][j] games, w[i][j] points of i against j.
    let mut n = vec![vec![0.0f64; players]; players];
    let mut w = vec![vec![0.0f64; players]; players];
    let mut played = vec![0u64; players];
    let mut points = vec![0.0f64; players];
    for g in games {
        if g.a >= players || g.b >= players || g.a == g.b {
            return Err(StatsError::Rating(format!(
                "game between players {} and {} of {players}",
                g.a, g.b
            )));
        }
        if !(0.0..=1.0).contains(&g.score) {
            return Err(StatsError::Rating(format!(
                "score {} is not in [0, 1]",
                g.score
            )));
        }
        n[g.a][g.b] += 1.0;
        n[g.b][g.a] += 1.0;
        w[g.a][g.b] += g.score;
        w[g.b][g.a] += 1.0 - g.score;
        played[g.a] += 1;
        played[g.b] += 1;
        points[g.a] += g.score;
        points[g.b] += 1.0 - g.score;
    }
    for i in (0..players).filter(|&i| i != anchor) {
        n[i][anchor] += PRIOR_DRAWS;
        n[anchor][i] += PRIOR_DRAWS;
        w[i][anchor] += PRIOR_DRAWS / 2.0;
        w[anchor][i] += PRIOR_DRAWS / 2.0;
    }
    // Free parameters: every player but the anchor.
    let free: Vec<usize> = (0..players).filter(|&i| i != anchor).collect();
    let mut theta = vec![0.0f64; players];
    let mut iterations = 0;
    let mut hessian = vec![vec![0.0f64; free.len()]; free.len()];
    loop {
        let (grad, h) = derivatives(&theta, &n, &w, &free);
        hessian = h;
        let step = solve(&hessian, &grad).ok_or_else(|| {
            StatsError::Rating("the games do not connect the players".to_string())
        })?;
        let biggest = step.iter().fold(0.0f64, |m, s| m.max(s.abs()));
        // Damped: at most 1 nat (~174 Elo) per iteration.
        let scale = if biggest > 1.0 { 1.0 / biggest } else { 1.0 };
        for (k, &i) in free.iter().enumerate() {
            theta[i] += scale * step[k];
        }
        iterations += 1;
        if biggest < 1e-10 || iterations >= MAX_ITERATIONS {
            break;
        }
    }
    let covariance = invert(&hessian)
        .ok_or_else(|| StatsError::Rating("the games do not connect the players".to_string()))?;
    let dispersion = dispersion(&theta, games);
    let z = normal::quantile(0.5 + confidence / 2.0) * dispersion.sqrt();
    let ratings = (0..players)
        .map(|i| {
            let half_width = match free.iter().position(|&f| f == i) {
                Some(k) => z * covariance[k][k].max(0.0).sqrt() * ELO_PER_NAT,
                None => 0.0,
            };
            Rating {
                elo: theta[i] * ELO_PER_NAT,
                half_width,
                games: played[i],
                score: if played[i] > 0 {
                    points[i] / played[i] as f64
                } else {
                    f64::NAN
                },
            }
        })
        .collect();
    Ok(Ratings {
        anchor,
        confidence,
        ratings,
        prior_draws: PRIOR_DRAWS,
        iterations,
        dispersion,
    })
}

/// Squared residuals of the real games over the variance the model
/// expects of them, kept within [0.25, 4] (1 with no games).
fn dispersion(theta: &[f64], games: &[RatedGame]) -> f64 {
    let (mut residual, mut expected_var) = (0.0, 0.0);
    for g in games {
        let p = expected(theta[g.a], theta[g.b]);
        residual += (g.score - p).powi(2);
        expected_var += p * (1.0 - p);
    }
    if expected_var > 0.0 {
        (residual / expected_var).clamp(0.25, 4.0)
    } else {
        1.0
    }
}

fn expected(ti: f64, tj: f64) -> f64 {
    1.0 / (1.0 + (tj - ti).exp())
}

/// Gradient of the log-likelihood and its negative Hessian (the observed
/// information), over the free players.
fn derivatives(
    theta: &[f64],
    n: &[Vec<f64>],
    w: &[Vec<f64>],
    free: &[usize],
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let players = theta.len();
    let mut grad = vec![0.0; free.len()];
    let mut info = vec![vec![0.0; free.len()]; free.len()];
    let index = |p: usize| free.iter().position(|&f| f == p);
    for (k, &i) in free.iter().enumerate() {
        for j in 0..players {
            if j == i || n[i][j] == 0.0 {
                continue;
            }
            let p = expected(theta[i], theta[j]);
            grad[k] += w[i][j] - n[i][j] * p;
            let v = n[i][j] * p * (1.0 - p);
            info[k][k] += v;
            if let Some(l) = index(j) {
                info[k][l] -= v;
            }
        }
    }
    (grad, info)
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting; `None`
/// when `a` is singular.
fn solve(a: &[Vec<f64>], b: &[f64]) -> Option<Vec<f64>> {
    let m = b.len();
    let mut aug: Vec<Vec<f64>> = a
        .iter()
        .zip(b)
        .map(|(row, &r)| {
            let mut v = row.clone();
            v.push(r);
            v
        })
        .collect();
    for col in 0..m {
        let pivot = (col..m).max_by(|&x, &y| aug[x][col].abs().total_cmp(&aug[y][col].abs()))?;
        if aug[pivot][col].abs() < 1e-12 {
            return None;
        }
        aug.swap(col, pivot);
        for row in 0..m {
            if row != col {
                let f = aug[row][col] / aug[col][col];
                if f != 0.0 {
                    let pivot_row = aug[col].clone();
                    for (x, p) in aug[row][col..].iter_mut().zip(&pivot_row[col..]) {
                        *x -= f * p;
                    }
                }
            }
        }
    }
    Some((0..m).map(|i| aug[i][m] / aug[i][i]).collect())
}

/// The inverse of a square matrix, column by column.
fn invert(a: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let m = a.len();
    let mut columns = Vec::with_capacity(m);
    for c in 0..m {
        let e: Vec<f64> = (0..m).map(|i| if i == c { 1.0 } else { 0.0 }).collect();
        columns.push(solve(a, &e)?);
    }
    Some(
        (0..m)
            .map(|i| (0..m).map(|j| columns[j][i]).collect())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn games(a: usize, b: usize, wins: u32, draws: u32, losses: u32) -> Vec<RatedGame> {
        let mut out = Vec::new();
        for (count, score) in [(wins, 1.0), (draws, 0.5), (losses, 0.0)] {
            out.extend((0..count).map(|_| RatedGame { a, b, score }));
        }
        out
    }

    #[test]
    fn two_players_match_the_score_formula() {
        // 60% over 1000 games: +70.4 Elo, nudged towards 0 by the prior.
        let g = games(1, 0, 500, 200, 300);
        let r = bradley_terry(2, &g, 0, 0.95).unwrap();
        let expect = crate::elo_from_score(600.5 / 1001.0);
        assert!((r.ratings[1].elo - expect).abs() < 1e-6, "{r:?}");
        assert_eq!(r.ratings[0].elo, 0.0);
        assert_eq!(r.ratings[1].games, 1000);
        assert!((r.ratings[1].score - 0.6).abs() < 1e-12);
        assert!(r.ratings[1].half_width > 15.0 && r.ratings[1].half_width < 30.0);
    }

    #[test]
    fn a_perfect_score_stays_finite() {
        let g = games(1, 0, 20, 0, 0);
        let r = bradley_terry(2, &g, 0, 0.95).unwrap();
        assert!(r.ratings[1].elo.is_finite() && r.ratings[1].elo > 300.0);
    }

    #[test]
    fn ratings_are_transitive_through_a_common_opponent() {
        // 1 beats 0 by ~+100, 2 loses to 0 by ~-100: 1 vs 2 never played.
        let mut g = games(1, 0, 640, 0, 360);
        g.extend(games(2, 0, 360, 0, 640));
        let r = bradley_terry(3, &g, 0, 0.95).unwrap();
        assert!((r.ratings[1].elo - 100.0).abs() < 5.0, "{r:?}");
        assert!((r.ratings[2].elo + 100.0).abs() < 5.0, "{r:?}");
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(bradley_terry(2, &[], 2, 0.95).is_err());
        assert!(bradley_terry(
            2,
            &[RatedGame {
                a: 0,
                b: 0,
                score: 1.0
            }],
            0,
            0.95
        )
        .is_err());
        assert!(bradley_terry(
            2,
            &[RatedGame {
                a: 0,
                b: 1,
                score: 2.0
            }],
            0,
            0.95
        )
        .is_err());
        assert!(bradley_terry(2, &[], 0, 1.5).is_err());
    }
}
