//! Which games of a run one judge call looks at: one sweep point, a range
//! of game indices, at most N games.
//!
//! A subset is not part of a judge run's identity: calls with the same
//! judge settings and different subsets extend the same judge run, so its
//! coverage accumulates and the views see one judge of the whole run.

use std::fmt;
use std::str::FromStr;

use qarena_store::GameRecord;

/// Game indices `start..end`: `start` included, `end` excluded, as Rust
/// ranges read. Either end may be open (`5..`, `..10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GameRange {
    pub start: i64,
    /// `None`: up to the last game.
    pub end: Option<i64>,
}

/// Why a game range did not parse; the text is quoted in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GameRangeError {
    #[error("game range '{0}' has no '..': write A..B (A included, B excluded), A.. or ..B")]
    NoDots(String),
    #[error(
        "game range '{0}': the end is excluded, `..=` is not accepted; write A..B with B one past the last game"
    )]
    Inclusive(String),
    #[error("game range '{text}': '{bound}' is not a game index (a whole number from 0)")]
    BadBound { text: String, bound: String },
    #[error("game range '{text}' is empty: its end {end} is not after its start {start}")]
    Empty { text: String, start: i64, end: i64 },
}

impl GameRange {
    pub fn contains(&self, game_index: i64) -> bool {
        game_index >= self.start && self.end.is_none_or(|e| game_index < e)
    }
}

impl FromStr for GameRange {
    type Err = GameRangeError;

    fn from_str(s: &str) -> Result<GameRange, GameRangeError> {
        let text = s.trim();
        let Some((a, b)) = text.split_once("..") else {
            return Err(GameRangeError::NoDots(s.to_string()));
        };
        if b.starts_with('=') {
            return Err(GameRangeError::Inclusive(s.to_string()));
        }
        let bound = |t: &str| -> Result<Option<i64>, GameRangeError> {
            let t = t.trim();
            if t.is_empty() {
                return Ok(None);
            }
            match t.parse::<u32>() {
                Ok(n) => Ok(Some(i64::from(n))),
                Err(_) => Err(GameRangeError::BadBound {
                    text: s.to_string(),
                    bound: t.to_string(),
                }),
            }
        };
        let (start, end) = (bound(a)?.unwrap_or(0), bound(b)?);
        if let Some(end) = end.filter(|e| *e <= start) {
            return Err(GameRangeError::Empty {
                text: s.to_string(),
                start,
                end,
            });
        }
        Ok(GameRange { start, end })
    }
}

impl fmt::Display for GameRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.end {
            Some(e) => write!(f, "{}..{e}", self.start),
            None => write!(f, "{}..", self.start),
        }
    }
}

/// The games one call of [`crate::judge`] judges: those of `point` (all
/// points when `None`) whose index is in `games` (all when `None`), and of
/// those not judged yet at most `limit`, in game order (point, then index).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GameSubset {
    pub point: Option<i64>,
    pub games: Option<GameRange>,
    pub limit: Option<usize>,
    /// Only this shard's games (`--shard K/N`): game `i` of point `p` is
    /// shard `(p + i) mod N`'s. Judged into a copy of the database per
    /// shard, `qarena merge` joins the verdicts (the judge runs have the
    /// same settings).
    pub shard: Option<qarena_store::Shard>,
}

impl GameSubset {
    /// The whole run.
    pub fn all() -> GameSubset {
        GameSubset::default()
    }

    /// True when no filter and no limit is set.
    pub fn is_all(&self) -> bool {
        *self == GameSubset::default()
    }

    /// Whether `g` is selected by point and range (the limit aside).
    pub fn selects(&self, g: &GameRecord) -> bool {
        self.point.is_none_or(|p| g.point_index == p)
            && self.games.is_none_or(|r| r.contains(g.game_index))
            && self
                .shard
                .is_none_or(|s| s.owns(g.point_index, g.game_index))
    }
}

impl fmt::Display for GameSubset {
    /// "point 1, games 0..4, at most 2 unjudged games", or "all games".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        match self.point {
            Some(p) => parts.push(format!("point {p}")),
            None => parts.push("every point".to_string()),
        }
        match self.games {
            Some(r) => parts.push(format!("games {r}")),
            None => parts.push("every game".to_string()),
        }
        if let Some(s) = self.shard {
            parts.push(format!("shard {s}"));
        }
        if let Some(n) = self.limit {
            parts.push(format!(
                "at most {n} unjudged game{}",
                if n == 1 { "" } else { "s" }
            ));
        }
        f.write_str(&parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse_with_the_end_excluded() {
        let r: GameRange = "2..5".parse().unwrap();
        assert_eq!(
            r,
            GameRange {
                start: 2,
                end: Some(5)
            }
        );
        assert!(!r.contains(1) && r.contains(2) && r.contains(4) && !r.contains(5));
        assert_eq!(r.to_string(), "2..5");
        let open: GameRange = "3..".parse().unwrap();
        assert!(open.contains(1_000) && !open.contains(2));
        assert_eq!(
            "..4".parse::<GameRange>().unwrap(),
            GameRange {
                start: 0,
                end: Some(4)
            }
        );
        assert_eq!(
            " 0 .. 1 ".parse::<GameRange>().unwrap(),
            GameRange {
                start: 0,
                end: Some(1)
            }
        );
    }

    #[test]
    fn bad_ranges_say_what_is_wrong() {
        let err = |s: &str| s.parse::<GameRange>().unwrap_err().to_string();
        assert!(err("5").contains("has no '..'"), "{}", err("5"));
        assert!(err("1..=4").contains("`..=` is not accepted"));
        assert!(err("a..4").contains("'a' is not a game index"));
        assert!(err("-1..4").contains("'-1' is not a game index"));
        assert!(err("4..4").contains("is empty"));
        assert!(err("5..2").contains("end 2 is not after its start 5"));
    }

    #[test]
    fn subsets_describe_themselves() {
        assert_eq!(GameSubset::all().to_string(), "every point, every game");
        assert!(GameSubset::all().is_all());
        let s = GameSubset {
            point: Some(1),
            games: Some("0..4".parse().unwrap()),
            limit: Some(2),
            shard: None,
        };
        assert_eq!(
            s.to_string(),
            "point 1, games 0..4, at most 2 unjudged games"
        );
        assert!(!s.is_all());
    }
}
