//! Text rendering of a match summary: results from engine A's point of view
//! with Elo and its 95% interval (pentanomial when complete pairs exist).

use std::fmt::Write;

use qarena_stats::{elo_penta, elo_wdl, penta_from_pairs, EloReport, Wdl};

use std::collections::BTreeMap;
use std::path::PathBuf;

use qarena_store::GameRecord;

use crate::runner::MatchSummary;

/// Builds the summary of one point of a run from its stored games (slot A's
/// point of view). Timing fields are left at zero.
pub fn from_games(
    tag: &str,
    engine_a: &str,
    engine_b: &str,
    games: &[GameRecord],
    point_index: i64,
) -> MatchSummary {
    let mut s = MatchSummary {
        tag: tag.to_string(),
        engine_a: engine_a.to_string(),
        engine_b: engine_b.to_string(),
        games: 0,
        wins_a: 0,
        wins_b: 0,
        draws: 0,
        aborted: 0,
        terminations: BTreeMap::new(),
        pairs: Vec::new(),
        elapsed_s: 0.0,
        games_per_minute: 0.0,
        status: String::new(),
        run_folder: PathBuf::new(),
        sprt: None,
    };
    let mut by_pair: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for g in games.iter().filter(|g| g.point_index == point_index) {
        *s.terminations.entry(g.termination.clone()).or_default() += 1;
        if g.termination == "aborted" {
            s.aborted += 1;
            continue;
        }
        s.games += 1;
        let sc = match g.winner.as_deref() {
            Some("a") => {
                s.wins_a += 1;
                1.0
            }
            Some("b") => {
                s.wins_b += 1;
                0.0
            }
            _ => {
                s.draws += 1;
                0.5
            }
        };
        if let Some(p) = g.pair_index {
            by_pair.entry(p).or_default().push(sc);
        }
    }
    s.pairs = by_pair
        .into_values()
        .filter(|v| v.len() == 2)
        .map(|v| (v[0], v[1]))
        .collect();
    s
}

/// Elo statistics for a summary: pentanomial over complete pairs when every
/// finished game belongs to one, trinomial otherwise.
pub fn elo_report(s: &MatchSummary) -> EloReport {
    let wdl = Wdl {
        wins: u64::from(s.wins_a),
        draws: u64::from(s.draws),
        losses: u64::from(s.wins_b),
    };
    if !s.pairs.is_empty() && 2 * s.pairs.len() as u32 == s.games {
        elo_penta(&penta_from_pairs(&s.pairs), 0.95)
    } else {
        elo_wdl(&wdl, 0.95)
    }
}

pub fn render(s: &MatchSummary) -> String {
    let mut out = String::new();
    let r = elo_report(s);
    let _ = writeln!(out);
    let _ = writeln!(out, "run {}  ({})", s.tag, s.status);
    let _ = writeln!(
        out,
        "{:<22} {:>6} {:>6} {:>6} {:>6} {:>8}  Elo (95% CI, {})",
        "A vs B", "games", "W", "D", "L", "score", r.model
    );
    let score = s
        .score_a()
        .map(|v| format!("{:.1}%", 100.0 * v))
        .unwrap_or_else(|| "-".to_string());
    let _ = writeln!(
        out,
        "{:<22} {:>6} {:>6} {:>6} {:>6} {:>8}  {}",
        format!("{} vs {}", s.engine_a, s.engine_b),
        s.games,
        s.wins_a,
        s.draws,
        s.wins_b,
        score,
        r.elo
    );
    if let Some(los) = r.los {
        let _ = writeln!(
            out,
            "LOS {:.1}%  draw ratio {:.1}%",
            100.0 * los,
            100.0 * r.draw_ratio
        );
    }
    if let Some(r) = &s.sprt {
        let _ = writeln!(
            out,
            "SPRT: {} (LLR {:.3}, bounds [{:.3}, {:.3}])",
            r.verdict, r.llr, r.lower_bound, r.upper_bound
        );
    }
    let terms: Vec<String> = s
        .terminations
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(out, "terminations: {}", terms.join(", "));
    if s.aborted > 0 {
        let _ = writeln!(out, "aborted games (replayed on resume): {}", s.aborted);
    }
    let _ = writeln!(
        out,
        "{:.1} games/min over {:.1} s; run folder {}",
        s.games_per_minute,
        s.elapsed_s,
        s.run_folder.display()
    );
    out
}
