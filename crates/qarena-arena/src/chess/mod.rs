//! Chess over UCI: settings, the engine client, the referee of one game,
//! and the engine runs behind the tactics check and the suite generators.
//! The rules side (positions, suites, limits, adjudication, PGN) lives in
//! `qarena-chess`.
//!
//! qarena is the referee, as in Go: every `bestmove` is checked legal with
//! shakmaty before the opponent sees it, the rules (mate, stalemate,
//! threefold repetition, fifty moves, insufficient material) are applied by
//! qarena, and with a clock qarena keeps the time.
//!
//! Invariants:
//! - Every `go` has a deadline derived from the limit (see [`Limit`]), so
//!   a hung engine costs at most that deadline, never the match.
//! - Both games of a pair use the same opening (chosen by pair index), with
//!   colours swapped by the runner; the per-game jitter seed depends only on
//!   the match seed and the game index, so a resumed run replays the same
//!   conditions.
//! - A game record (PGN) is produced for every outcome, aborted games
//!   included (result `*`).

mod referee;
mod suites;
mod uci_client;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use qarena_chess::Opening;
use serde::{Deserialize, Serialize};

// The types of `ChessSettings` fields, so a config is written with one import.
pub use qarena_chess::{Adjudication, Limit, OpeningOrder, TimeControl};
pub use referee::{play_chess_game, ChessGameMeta};
pub use suites::{generate_openings, generate_tactics, run_tactics, SuiteError, TacticsEngine};
pub use uci_client::{GoDeadline, GoReply, UciEngine};

/// The `[chess]` section of a match config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ChessSettings {
    /// Search limit per move, e.g. `limit = { nodes = 1000 }` or
    /// `limit = { tc = "10+0.1" }`.
    pub limit: Limit,
    /// Per-move node jitter as a fraction (0.1 = ±10 %); 0 = off. Only
    /// applies to a nodes limit.
    pub node_jitter: f64,
    /// Match seed: opening order and per-game jitter seeds derive from it.
    pub seed: u64,
    /// EPD or PGN file; the built-in suite when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openings: Option<PathBuf>,
    pub opening_order: OpeningOrder,
    /// PGN openings: how many plies of each game to use (all when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opening_plies: Option<u32>,
    pub adjudication: Adjudication,
    /// Ask engines for this many principal variations (top-K self-evals).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multipv: Option<u32>,
    /// Extra wait beyond the limit before a missing `bestmove` is a
    /// timeout. Default 1000 ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub move_deadline_slack_ms: Option<u64>,
    /// With a clock: how far past zero a move may arrive before it loses
    /// on time. Default 100 ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_margin_ms: Option<u64>,
}

pub const DEFAULT_SLACK_MS: u64 = 1000;
pub const DEFAULT_TIME_MARGIN_MS: u64 = 100;

impl ChessSettings {
    pub fn slack(&self) -> Duration {
        Duration::from_millis(self.move_deadline_slack_ms.unwrap_or(DEFAULT_SLACK_MS))
    }

    pub fn time_margin(&self) -> Duration {
        Duration::from_millis(self.time_margin_ms.unwrap_or(DEFAULT_TIME_MARGIN_MS))
    }

    /// Checks what serde cannot, and that the openings load, so a match
    /// fails before its first game rather than in every game.
    pub fn check(&self) -> Result<(), ChessSettingsError> {
        if !(self.node_jitter.is_finite() && (0.0..1.0).contains(&self.node_jitter)) {
            return Err(ChessSettingsError::NodeJitter(self.node_jitter));
        }
        match self.limit {
            Limit::Nodes(0) | Limit::Depth(0) | Limit::MovetimeMs(0) => {
                return Err(ChessSettingsError::ZeroLimit(self.limit))
            }
            _ => {}
        }
        if self.multipv == Some(0) {
            return Err(ChessSettingsError::ZeroMultipv);
        }
        self.load_openings()?;
        Ok(())
    }

    /// The opening suite these settings name (parsed once per process).
    pub fn load_openings(&self) -> Result<Arc<Vec<Opening>>, qarena_chess::Error> {
        qarena_chess::load_openings(self.openings.as_deref(), self.opening_plies)
    }

    /// Nodes or depth without jitter: the same opening and colours replay
    /// the same game.
    pub fn is_deterministic(&self) -> bool {
        match self.limit {
            Limit::Nodes(_) => self.node_jitter == 0.0,
            Limit::Depth(_) => true,
            Limit::MovetimeMs(_) | Limit::Tc(_) => false,
        }
    }
}

/// Why a `[chess]` section cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ChessSettingsError {
    #[error("chess.node_jitter must be in [0, 1), got {0}")]
    NodeJitter(f64),
    #[error("chess.limit {0} must be positive")]
    ZeroLimit(Limit),
    #[error("chess.multipv must be at least 1")]
    ZeroMultipv,
    #[error(transparent)]
    Openings(#[from] qarena_chess::Error),
}

/// A warning when a deterministic limit (nodes or depth without jitter)
/// would replay games: more games than 2 × distinct openings.
pub fn determinism_warning(settings: &ChessSettings, games: u32) -> Option<String> {
    if !settings.is_deterministic() {
        return None;
    }
    let distinct = match settings.load_openings() {
        Ok(list) => {
            let set: std::collections::HashSet<_> =
                list.iter().map(|o| (&o.fen, &o.moves)).collect();
            set.len()
        }
        Err(_) => return None,
    };
    let cap = 2 * distinct as u64;
    (u64::from(games) > cap).then(|| {
        format!(
            "{games} games at the deterministic limit {} use only {distinct} distinct openings: \
             games beyond {cap} repeat earlier ones move for move and add no information. \
             Set chess.node_jitter (e.g. 0.1), use a larger opening suite, or play at most {cap} games.",
            settings.limit
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_name_the_setting() {
        let msg = |s: ChessSettings| s.check().unwrap_err().to_string();
        assert_eq!(
            msg(ChessSettings {
                node_jitter: 1.5,
                ..ChessSettings::default()
            }),
            "chess.node_jitter must be in [0, 1), got 1.5"
        );
        assert_eq!(
            msg(ChessSettings {
                limit: Limit::Depth(0),
                ..ChessSettings::default()
            }),
            "chess.limit depth=0 must be positive"
        );
        assert_eq!(
            msg(ChessSettings {
                multipv: Some(0),
                ..ChessSettings::default()
            }),
            "chess.multipv must be at least 1"
        );
        assert!(ChessSettings::default().check().is_ok());
    }

    #[test]
    fn settings_serde_round_trip() {
        let s = ChessSettings {
            limit: Limit::Tc("5+0.05".parse().unwrap()),
            node_jitter: 0.1,
            seed: 7,
            opening_order: OpeningOrder::Random,
            adjudication: Adjudication {
                draw_score_cp: Some(10),
                ..Adjudication::default()
            },
            ..ChessSettings::default()
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""limit":{"tc":"5+0.05"}"#), "{json}");
        let back: ChessSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let empty: ChessSettings = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, ChessSettings::default());
        assert!(serde_json::from_str::<ChessSettings>(r#"{"limits":1}"#).is_err());
    }

    #[test]
    fn determinism_warning_counts_openings() {
        let s = ChessSettings::default();
        assert!(determinism_warning(&s, 400).is_none());
        let w = determinism_warning(&s, 401).unwrap();
        assert!(w.contains("200 distinct openings"), "{w}");
        let jittered = ChessSettings {
            node_jitter: 0.1,
            ..ChessSettings::default()
        };
        assert!(determinism_warning(&jittered, 10_000).is_none());
    }
}
