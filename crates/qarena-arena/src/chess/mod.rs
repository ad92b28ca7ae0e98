//! Chess over UCI: settings, the engine client, the referee of one game,
//! openings, adjudication and PGN.
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

mod adjudication;
mod openings;
mod pgn;
mod referee;
pub mod tactics;
mod uci_client;

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use adjudication::{Adjudication, Adjudicator, Verdict};
pub use openings::{
    generate_openings, load_openings, opening_index, parse_epd, parse_pgn_openings, Opening,
};
pub use pgn::{export_pgn, write_pgn, PgnGame, PgnMove};
pub use referee::{play_chess_game, ChessGameMeta};
pub use tactics::{
    generate_tactics, load_tactics, parse_tactics, run_tactics, TacticalFailure, TacticalPosition,
    TacticsEngine, TacticsReport,
};
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
    pub fn validate(&self) -> Result<(), String> {
        if !(self.node_jitter.is_finite() && (0.0..1.0).contains(&self.node_jitter)) {
            return Err(format!(
                "chess.node_jitter must be in [0, 1), got {}",
                self.node_jitter
            ));
        }
        match self.limit {
            Limit::Nodes(0) | Limit::Depth(0) | Limit::MovetimeMs(0) => {
                return Err(format!("chess.limit {} must be positive", self.limit))
            }
            _ => {}
        }
        if self.multipv == Some(0) {
            return Err("chess.multipv must be at least 1".to_string());
        }
        load_openings(self).map(drop)
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

/// The order in which pairs walk through the opening suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OpeningOrder {
    #[default]
    Sequential,
    Random,
}

/// How long an engine may search one move, and so how long qarena waits:
/// nodes/depth → the match's move timeout; movetime → movetime + slack;
/// clock → the mover's remaining time + margin + slack.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Nodes(u64),
    Depth(u32),
    MovetimeMs(u64),
    /// A game clock kept by qarena.
    Tc(TimeControl),
}

impl Default for Limit {
    fn default() -> Self {
        Limit::Nodes(1000)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Nodes(n) => write!(f, "nodes={n}"),
            Limit::Depth(d) => write!(f, "depth={d}"),
            Limit::MovetimeMs(ms) => write!(f, "movetime={ms}"),
            Limit::Tc(tc) => write!(f, "tc={tc}"),
        }
    }
}

impl FromStr for Limit {
    type Err = String;

    /// `nodes=1000`, `depth=8`, `movetime=100` (ms) or `tc=10+0.1`.
    fn from_str(s: &str) -> Result<Limit, String> {
        let (key, value) = s.split_once('=').ok_or_else(|| {
            format!("limit `{s}`: expected nodes=N, depth=N, movetime=MS or tc=BASE+INC")
        })?;
        let num = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("limit `{s}`: `{v}` is not a whole number"))
        };
        match key.trim() {
            "nodes" => Ok(Limit::Nodes(num(value)?)),
            "depth" => Ok(Limit::Depth(
                u32::try_from(num(value)?).map_err(|_| format!("limit `{s}`: depth too large"))?,
            )),
            "movetime" | "movetime_ms" => Ok(Limit::MovetimeMs(num(value)?)),
            "tc" => Ok(Limit::Tc(value.parse()?)),
            other => Err(format!(
                "limit `{s}`: unknown kind `{other}` (nodes, depth, movetime, tc)"
            )),
        }
    }
}

/// `[moves/]base[+increment]`, seconds (fractions allowed), e.g. `10+0.1`
/// or `40/60`. Written the same way into the PGN `TimeControl` tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeControl {
    /// Moves per period (`movestogo`); the base time is added again after each.
    pub moves: Option<u32>,
    pub base_ms: u64,
    pub increment_ms: u64,
}

impl FromStr for TimeControl {
    type Err = String;

    fn from_str(s: &str) -> Result<TimeControl, String> {
        let bad =
            || format!("time control `{s}`: expected [moves/]seconds[+increment], e.g. 10+0.1");
        let (moves, rest) = match s.trim().split_once('/') {
            Some((m, r)) => (Some(m.trim().parse::<u32>().map_err(|_| bad())?), r),
            None => (None, s.trim()),
        };
        let (base, inc) = match rest.split_once('+') {
            Some((b, i)) => (b, Some(i)),
            None => (rest, None),
        };
        let ms = |v: &str| -> Result<u64, String> {
            let secs: f64 = v.trim().parse().map_err(|_| bad())?;
            if !(0.0..=1e9).contains(&secs) {
                return Err(bad());
            }
            Ok((secs * 1000.0).round() as u64)
        };
        let tc = TimeControl {
            moves: moves.filter(|&m| m > 0),
            base_ms: ms(base)?,
            increment_ms: inc.map(ms).transpose()?.unwrap_or(0),
        };
        if tc.base_ms == 0 && tc.increment_ms == 0 {
            return Err(format!("time control `{s}` gives no time at all"));
        }
        Ok(tc)
    }
}

impl fmt::Display for TimeControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = |ms: u64| {
            if ms.checked_rem(1000) == Some(0) {
                (ms / 1000).to_string()
            } else {
                let s = format!("{:.3}", ms as f64 / 1000.0);
                s.trim_end_matches('0').to_string()
            }
        };
        if let Some(m) = self.moves {
            write!(f, "{m}/")?;
        }
        write!(f, "{}", secs(self.base_ms))?;
        if self.increment_ms > 0 {
            write!(f, "+{}", secs(self.increment_ms))?;
        }
        Ok(())
    }
}

impl TryFrom<String> for TimeControl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<TimeControl> for String {
    fn from(tc: TimeControl) -> String {
        tc.to_string()
    }
}

/// A warning when a deterministic limit (nodes or depth without jitter)
/// would replay games: more games than 2 × distinct openings.
pub fn determinism_warning(settings: &ChessSettings, games: u32) -> Option<String> {
    if !settings.is_deterministic() {
        return None;
    }
    let distinct = match load_openings(settings) {
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
    fn limits_parse_and_print() {
        assert_eq!("nodes=1000".parse::<Limit>(), Ok(Limit::Nodes(1000)));
        assert_eq!("movetime=50".parse::<Limit>(), Ok(Limit::MovetimeMs(50)));
        let tc: Limit = "tc=10+0.1".parse().unwrap();
        assert_eq!(tc.to_string(), "tc=10+0.1");
        let tc: TimeControl = "40/60".parse().unwrap();
        assert_eq!(
            (tc.moves, tc.base_ms, tc.increment_ms),
            (Some(40), 60_000, 0)
        );
        assert_eq!(tc.to_string(), "40/60");
        assert!("tc=abc".parse::<Limit>().is_err());
        assert!("tc=0".parse::<Limit>().is_err());
        assert!("speed=1".parse::<Limit>().is_err());
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
