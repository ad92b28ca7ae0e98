//! Match statistics for qarena: how strong is a variant against its
//! baseline, and how sure are we?
//!
//! * [`elo_wdl`] / [`elo_penta`]: logistic Elo, normalized Elo, LOS and
//!   score with confidence intervals from W/D/L counts (trinomial) or from
//!   pairs of games on one opening with colours swapped (pentanomial,
//!   [`penta_from_pairs`]).
//! * [`sprt_wdl`] / [`sprt_penta`]: the GSPRT of chess engine testing, in
//!   logistic or normalized Elo ([`SprtParams::parse`]).
//! * [`Tally`]: finished games to W/D/L and pairs, with the one rule that
//!   picks pentanomial or trinomial counts; [`MeanCi`]: a per-game mean
//!   with its 95% interval.
//! * [`check_gate`]: acceptance rules such as "scores at least 45% and
//!   loses less than 50 Elo with 95% confidence", on the point estimates,
//!   the interval or an SPRT ([`GateBasis`]).
//! * [`PairedCounts`]: two language-model variants on the same
//!   multiple-choice items; [`mcnemar_exact`], [`paired_bootstrap`] /
//!   [`paired_diff_wald`] (interval of the accuracy difference) and
//!   [`paired_sequential`] (early stopping item by item).
//!
//! Invariant: no function here panics on any counts, and no report or
//! result holds NaN or an infinity; where the data cannot support a number
//! the [`Estimate`] says so in words. The formulas follow fishtest
//! (`stat_util.py`, `LLRcalc.py`) and fastchess (`elo_wdl.cpp`,
//! `elo_pentanomial.cpp`, `sprt.cpp`); `docs/statistics.md` lists them with
//! the simulation results that check their coverage and error rates.

mod elo;
mod error;
mod gate;
pub mod normal;
mod paired;
mod rating;
mod sprt;
mod tally;

pub use elo::{
    elo_from_score, elo_penta, elo_wdl, penta_from_pairs, score_from_elo, try_penta_from_pairs,
    wilson, Counts, EloReport, Estimate, Penta, Wdl, NELO_SCALE,
};
pub use error::StatsError;
pub use gate::{check_gate, plan_gate, Gate, GateBasis, GateOutcome, GatePlan, GateVerdict};
pub use paired::{
    mcnemar_exact, paired_bootstrap, paired_diff_wald, paired_sequential, DiffCi, McNemar,
    PairedCounts, SequentialResult, SequentialSettings, SequentialVerdict,
};
pub use rating::{bradley_terry, RatedGame, Rating, Ratings};
pub use sprt::{sprt_penta, sprt_wdl, SprtModel, SprtParams, SprtResult, SprtVerdict};
pub use tally::{mean, Counted, MeanCi, Outcome, RatioCi, Tally, Z95};
