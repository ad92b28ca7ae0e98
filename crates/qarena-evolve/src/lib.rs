//! Survival tournaments: quantization strategies discovered by generation
//! and competition rather than designed by hand.
//!
//! * [`genome`]: a strategy as a structured genome over a model's
//!   catalogue (tensors grouped by role and layer range, one gene per
//!   group), its exact cost under a budget, random sampling, mutation and
//!   crossover, all repaired or rejected so every genome is valid and
//!   within budget; lossless to and from strategy TOML.
//! * [`evolve`]: the probe-screened loop: generate, build, probe, detect
//!   failures, select survivors by survival score, repeat; every genome
//!   stored; resumable.
//! * [`native`]: the in-process screen of KataGo genomes (quantized in
//!   memory, evaluated by qarena's own forward pass).
//! * [`llm`]: the screen of language-model genomes (quantized in memory,
//!   next-token KL against the original on a screening text).
//! * [`check`]: the best genome on positions the evolution never saw, and
//!   hand recipes on both position sets, for a comparison on equal terms.
//! * [`games`]: the game stage: the best survivors in SPRT-gated matches
//!   against the original, a league with hand recipes, and Bradley–Terry
//!   ratings over all their games.

pub mod check;
pub mod evolve;
pub mod games;
pub mod genome;
pub mod llm;
pub mod native;

pub use check::{check, versus, CheckSuites, RegretRow, UnseenRegret, Versus};
pub use evolve::{
    best_alive, evolve, evolve_llm, export_best, rank, screen_shard, survival_score, Ending,
    EvolveError, EvolveSettings, EvolveSummary, Limits, ScoreWeights, ScreenKind,
    ShardScreenSummary, QUALITY_FLOOR, SCORE_WEIGHTS,
};
pub use games::{play_games, ratings, GameStage, GameStageSummary, PlayerRating, Recipe};
pub use genome::{Budget, Gene, GeneSpace, Genome, GenomeError, Layout, Operator};
pub use llm::{LlmOutcome, LlmScreen};
pub use native::{NativeOutcome, NativeScreen};
