//! The summary of a match (or sweep point): its tally, terminations and
//! timing, built from the stored games, and its text rendering: results from engine A's point of view
//! with Elo and its 95% interval (pentanomial when complete pairs exist).

use std::fmt::Write;

use std::collections::BTreeMap;
use std::path::PathBuf;

use qarena_stats::{EloReport, Tally};
use qarena_store::{tally_games, GameRecord, RunStatus};
use serde::Serialize;

/// The results of one match (or sweep point), from slot A's point of view.
#[derive(Debug, Clone)]
pub struct MatchSummary {
    pub tag: String,
    pub engine_a: String,
    pub engine_b: String,
    /// Every stored game of the point: W/D/L, aborted games, pairs.
    pub tally: Tally,
    /// Games per termination, by its stored name.
    pub terminations: BTreeMap<&'static str, u32>,
    pub elapsed_s: f64,
    pub games_per_minute: f64,
    pub status: RunStatus,
    pub run_folder: PathBuf,
    /// The SPRT result at the end, when the match ran one.
    pub sprt: Option<qarena_stats::SprtResult>,
}

impl MatchSummary {
    pub fn score_a(&self) -> Option<f64> {
        self.tally.score()
    }
}

/// `--json` and the run folder's summary keep their flat shape: counts
/// named after the slots, and the scores of A in each complete pair.
impl Serialize for MatchSummary {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let wdl = self.tally.wdl();
        let mut st = ser.serialize_struct("MatchSummary", 14)?;
        st.serialize_field("tag", &self.tag)?;
        st.serialize_field("engine_a", &self.engine_a)?;
        st.serialize_field("engine_b", &self.engine_b)?;
        st.serialize_field("games", &self.tally.games())?;
        st.serialize_field("wins_a", &wdl.wins)?;
        st.serialize_field("wins_b", &wdl.losses)?;
        st.serialize_field("draws", &wdl.draws)?;
        st.serialize_field("aborted", &self.tally.aborted())?;
        st.serialize_field("terminations", &self.terminations)?;
        st.serialize_field("pairs", &self.tally.pairs())?;
        st.serialize_field("elapsed_s", &self.elapsed_s)?;
        st.serialize_field("games_per_minute", &self.games_per_minute)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("run_folder", &self.run_folder)?;
        if let Some(sprt) = &self.sprt {
            st.serialize_field("sprt", sprt)?;
        } else {
            st.skip_field("sprt")?;
        }
        st.end()
    }
}

/// Builds the summary of one point of a run from its stored games (slot A's
/// point of view). Timing fields are left at zero.
pub fn from_games(
    tag: &str,
    engine_a: &str,
    engine_b: &str,
    games: &[GameRecord],
    point_index: i64,
) -> MatchSummary {
    let of_point = || games.iter().filter(|g| g.point_index == point_index);
    let mut terminations = BTreeMap::new();
    for g in of_point() {
        *terminations.entry(g.termination.as_str()).or_default() += 1;
    }
    MatchSummary {
        tag: tag.to_string(),
        engine_a: engine_a.to_string(),
        engine_b: engine_b.to_string(),
        tally: tally_games(of_point()),
        terminations,
        elapsed_s: 0.0,
        games_per_minute: 0.0,
        status: RunStatus::Running,
        run_folder: PathBuf::new(),
        sprt: None,
    }
}

/// Elo statistics for a summary: pentanomial over complete pairs when every
/// finished game belongs to one, trinomial otherwise.
pub fn elo_report(s: &MatchSummary) -> EloReport {
    s.tally.counted().elo(0.95)
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
        s.tally.games(),
        s.tally.wdl().wins,
        s.tally.wdl().draws,
        s.tally.wdl().losses,
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
    if s.tally.aborted() > 0 {
        let _ = writeln!(
            out,
            "aborted games (replayed on resume): {}",
            s.tally.aborted()
        );
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
