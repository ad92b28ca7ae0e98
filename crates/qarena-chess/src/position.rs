//! Small conversions between text and shakmaty positions and moves, and
//! the seeded helpers shared by the suites and the referee.

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use shakmaty::fen::Fen;
use shakmaty::uci::UciMove;
use shakmaty::{CastlingMode, Chess, EnPassantMode, Move, Position};

use crate::Error;

/// Parses a FEN (six fields) into a legal standard-chess position.
pub fn parse_fen(fen: &str) -> Result<Chess, Error> {
    let parsed: Fen = fen.trim().parse().map_err(|reason| Error::Fen {
        fen: fen.to_string(),
        reason,
    })?;
    parsed
        .into_position(CastlingMode::Standard)
        .map_err(|reason| Error::Position {
            fen: fen.to_string(),
            reason: Box::new(reason),
        })
}

/// The six-field FEN of a position (en passant square only when legal).
pub fn fen_of(pos: &Chess) -> String {
    Fen::from_position(pos.clone(), EnPassantMode::Legal).to_string()
}

/// The legal move a UCI token names in `pos`, if any.
pub fn legal_move(pos: &Chess, token: &str) -> Option<Move> {
    token.parse::<UciMove>().ok()?.to_move(pos).ok()
}

/// A move in UCI notation (standard castling: `e1g1`).
pub fn uci_of(mv: &Move) -> String {
    UciMove::from_move(mv, CastlingMode::Standard).to_string()
}

/// A well-spread 64-bit hash of two words (splitmix64 finaliser), used to
/// derive independent seeds from a match seed.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_add(b.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `plies` uniformly random legal moves from the start position; `None`
/// when the walk ends the game on the way or at its end. Shared by the
/// opening and tactics generators.
pub fn random_walk(rng: &mut ChaCha8Rng, plies: u32) -> Option<Chess> {
    let mut pos = Chess::default();
    for _ in 0..plies {
        let moves = pos.legal_moves();
        let mv = moves.choose(rng)?.clone();
        pos.play_unchecked(&mv);
    }
    (!pos.is_game_over()).then_some(pos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fen_errors_name_the_fen() {
        let bad = parse_fen("not a fen").unwrap_err().to_string();
        assert!(bad.starts_with("bad FEN `not a fen`: "), "{bad}");
        let impossible = parse_fen("8/8/8/8/8/8/8/8 w - - 0 1")
            .unwrap_err()
            .to_string();
        assert!(
            impossible.starts_with("impossible position `8/8/8/8/8/8/8/8 w - - 0 1`: "),
            "{impossible}"
        );
        let start = parse_fen(&fen_of(&Chess::default())).unwrap();
        let mv = legal_move(&start, "e2e4").unwrap();
        assert_eq!(uci_of(&mv), "e2e4");
        assert!(legal_move(&start, "e2e5").is_none());
        assert!(legal_move(&start, "xyz").is_none());
    }
}
