//! Zobrist keys for superko detection.
//!
//! Keys come from a fixed-seed splitmix64 stream, so a position hashes to the
//! same value in every process and every run; that keeps superko decisions
//! reproducible. The table is laid out for the largest board
//! ([`MAX_SIZE`]) and indexed by `y * MAX_SIZE + x`, so one table serves all
//! board sizes.

use std::sync::OnceLock;

use crate::game::MAX_SIZE;
use crate::Color;

/// The splitmix64 generator: tiny, fast and well distributed, which is all a
/// Zobrist table (or a reproducible test playout) needs.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

const POINTS: usize = MAX_SIZE as usize * MAX_SIZE as usize;

struct Table {
    stones: Vec<u64>,
    white_to_move: u64,
}

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut rng = SplitMix64::new(0x5141_5245_4E41_474F);
        let stones = (0..2 * POINTS).map(|_| rng.next_u64()).collect();
        Table {
            stones,
            white_to_move: rng.next_u64(),
        }
    })
}

/// Key of a `color` stone at board coordinates (`x`, `y`).
pub(crate) fn stone_key(color: Color, x: usize, y: usize) -> u64 {
    let index = color.index() * POINTS + y * MAX_SIZE as usize + x;
    table().stones.get(index).copied().unwrap_or(0)
}

/// Key mixed into a position hash to tell whose turn it is (situational
/// superko). Black to move contributes nothing.
pub(crate) fn to_move_key(color: Color) -> u64 {
    match color {
        Color::Black => 0,
        Color::White => table().white_to_move,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_stable() {
        let mut seen = std::collections::HashSet::new();
        for color in [Color::Black, Color::White] {
            for y in 0..MAX_SIZE as usize {
                for x in 0..MAX_SIZE as usize {
                    assert!(seen.insert(stone_key(color, x, y)));
                }
            }
        }
        assert!(seen.insert(to_move_key(Color::White)));
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!(a.next_u64(), b.next_u64());
    }
}
