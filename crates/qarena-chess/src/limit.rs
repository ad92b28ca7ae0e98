//! Search limits per move and game clocks, as written in configs, on the
//! command line and in the PGN `TimeControl` tag.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Error;

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
    type Err = Error;

    /// `nodes=1000`, `depth=8`, `movetime=100` (ms) or `tc=10+0.1`.
    fn from_str(s: &str) -> Result<Limit, Error> {
        let text = || s.to_string();
        let (key, value) = s
            .split_once('=')
            .ok_or_else(|| Error::LimitSyntax { text: text() })?;
        let num = |v: &str| {
            v.trim().parse::<u64>().map_err(|_| Error::LimitNumber {
                text: text(),
                value: v.to_string(),
            })
        };
        match key.trim() {
            "nodes" => Ok(Limit::Nodes(num(value)?)),
            "depth" => Ok(Limit::Depth(
                u32::try_from(num(value)?).map_err(|_| Error::DepthTooLarge { text: text() })?,
            )),
            "movetime" | "movetime_ms" => Ok(Limit::MovetimeMs(num(value)?)),
            "tc" => Ok(Limit::Tc(value.parse()?)),
            other => Err(Error::LimitKind {
                text: text(),
                kind: other.to_string(),
            }),
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
    type Err = Error;

    fn from_str(s: &str) -> Result<TimeControl, Error> {
        let bad = || Error::TimeControlSyntax {
            text: s.to_string(),
        };
        let (moves, rest) = match s.trim().split_once('/') {
            Some((m, r)) => (Some(m.trim().parse::<u32>().map_err(|_| bad())?), r),
            None => (None, s.trim()),
        };
        let (base, inc) = match rest.split_once('+') {
            Some((b, i)) => (b, Some(i)),
            None => (rest, None),
        };
        let ms = |v: &str| -> Result<u64, Error> {
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
            return Err(Error::NoTime {
                text: s.to_string(),
            });
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
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        s.parse()
    }
}

impl From<TimeControl> for String {
    fn from(tc: TimeControl) -> String {
        tc.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_and_print() {
        assert_eq!("nodes=1000".parse::<Limit>().ok(), Some(Limit::Nodes(1000)));
        assert_eq!(
            "movetime=50".parse::<Limit>().ok(),
            Some(Limit::MovetimeMs(50))
        );
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
    fn messages_quote_the_input() {
        let msg = |s: &str| s.parse::<Limit>().unwrap_err().to_string();
        assert_eq!(
            msg("nodes"),
            "limit `nodes`: expected nodes=N, depth=N, movetime=MS or tc=BASE+INC"
        );
        assert_eq!(msg("nodes=x"), "limit `nodes=x`: `x` is not a whole number");
        assert_eq!(
            msg("depth=99999999999"),
            "limit `depth=99999999999`: depth too large"
        );
        assert_eq!(
            msg("speed=1"),
            "limit `speed=1`: unknown kind `speed` (nodes, depth, movetime, tc)"
        );
        assert_eq!(
            msg("tc=abc"),
            "time control `abc`: expected [moves/]seconds[+increment], e.g. 10+0.1"
        );
        assert_eq!(msg("tc=0"), "time control `0` gives no time at all");
    }
}
