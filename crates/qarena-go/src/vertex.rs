//! GTP vertices: `D4`-style coordinates and `pass`.
//!
//! GTP names columns with letters `A..Z` skipping `I` (so 25 columns at
//! most) and numbers rows from 1 at the *bottom*, while [`Point`] counts rows
//! from the top. This module is the only place that converts between the two
//! orientations, so the rest of the crate never thinks about it.

use thiserror::Error;

use crate::game::{MAX_SIZE, MIN_SIZE};
use crate::{Move, Point};

/// Why a GTP vertex could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VertexError {
    #[error("empty vertex; expected a point such as D4 or \"pass\"")]
    Empty,
    #[error("board size {0} is not supported; sizes are {MIN_SIZE}..={MAX_SIZE}")]
    InvalidSize(u8),
    #[error("vertex {vertex:?} is not a GTP vertex; expected a column letter (A..Z without I) and a row number, or \"pass\"")]
    Malformed { vertex: String },
    #[error("vertex {vertex:?} is off the {size}x{size} board")]
    OffBoard { vertex: String, size: u8 },
}

/// Column letters in GTP order: `I` is skipped to avoid confusion with `J`.
const COLUMNS: &[u8; 25] = b"ABCDEFGHJKLMNOPQRSTUVWXYZ";

/// Parses a GTP vertex (`D4`, `d4`, `pass`, any case) on a `size`x`size`
/// board.
pub fn parse_vertex(s: &str, size: u8) -> Result<Move, VertexError> {
    if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
        return Err(VertexError::InvalidSize(size));
    }
    let s = s.trim();
    if s.is_empty() {
        return Err(VertexError::Empty);
    }
    if s.eq_ignore_ascii_case("pass") {
        return Ok(Move::Pass);
    }
    let malformed = || VertexError::Malformed {
        vertex: s.to_string(),
    };
    let bytes = s.as_bytes();
    let letter = bytes[0].to_ascii_uppercase();
    let column = COLUMNS
        .iter()
        .position(|&c| c == letter)
        .ok_or_else(malformed)?;
    let digits = &bytes[1..];
    // Cap the length so a long digit string cannot overflow the row number.
    if digits.is_empty() || digits.len() > 3 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(malformed());
    }
    let row = digits
        .iter()
        .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
    let size32 = u32::from(size);
    if column >= usize::from(size) || row == 0 || row > size32 {
        return Err(VertexError::OffBoard {
            vertex: s.to_string(),
            size,
        });
    }
    // Both conversions are in range: column < size <= 25 and 1 <= row <= size.
    let x = column as u8;
    let y = (size32 - row) as u8;
    Ok(Move::Play(Point { x, y }))
}

/// Formats a move as a GTP vertex (`D4`, upper case) or `pass`.
///
/// A point outside the `size`x`size` board cannot be named in GTP; it is
/// written as `?x,y` (SGF orientation) so logs still show what was meant,
/// and [`parse_vertex`] rejects that text.
pub fn format_vertex(mv: Move, size: u8) -> String {
    match mv {
        Move::Pass => "pass".to_string(),
        Move::Play(p) => {
            let on_board = p.x < size && p.y < size && usize::from(size) <= COLUMNS.len();
            if on_board {
                let letter = char::from(COLUMNS[usize::from(p.x)]);
                format!("{letter}{}", size - p.y)
            } else {
                format!("?{},{}", p.x, p.y)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_of_19x19() {
        assert_eq!(
            parse_vertex("A1", 19),
            Ok(Move::Play(Point { x: 0, y: 18 }))
        );
        assert_eq!(
            parse_vertex("t19", 19),
            Ok(Move::Play(Point { x: 18, y: 0 }))
        );
        assert_eq!(
            parse_vertex("J1", 19),
            Ok(Move::Play(Point { x: 8, y: 18 }))
        );
        assert_eq!(parse_vertex(" PASS ", 19), Ok(Move::Pass));
        assert_eq!(format_vertex(Move::Play(Point { x: 3, y: 15 }), 19), "D4");
        assert_eq!(format_vertex(Move::Pass, 9), "pass");
    }

    #[test]
    fn rejects_bad_vertices() {
        assert!(matches!(
            parse_vertex("I5", 19),
            Err(VertexError::Malformed { .. })
        ));
        assert!(matches!(
            parse_vertex("K10", 9),
            Err(VertexError::OffBoard { .. })
        ));
        assert!(matches!(
            parse_vertex("A0", 9),
            Err(VertexError::OffBoard { .. })
        ));
        assert!(matches!(
            parse_vertex("A10", 9),
            Err(VertexError::OffBoard { .. })
        ));
        assert!(matches!(
            parse_vertex("A", 9),
            Err(VertexError::Malformed { .. })
        ));
        assert!(matches!(
            parse_vertex("A+1", 9),
            Err(VertexError::Malformed { .. })
        ));
        assert!(matches!(
            parse_vertex("A99999999999", 9),
            Err(VertexError::Malformed { .. })
        ));
        assert!(matches!(
            parse_vertex("é4", 9),
            Err(VertexError::Malformed { .. })
        ));
        assert_eq!(parse_vertex("", 9), Err(VertexError::Empty));
        assert!(matches!(
            parse_vertex("resign", 9),
            Err(VertexError::Malformed { .. })
        ));
        assert_eq!(parse_vertex("A1", 1), Err(VertexError::InvalidSize(1)));
        assert_eq!(parse_vertex("A1", 26), Err(VertexError::InvalidSize(26)));
    }

    #[test]
    fn round_trip_every_point_of_every_size() {
        for size in MIN_SIZE..=MAX_SIZE {
            for y in 0..size {
                for x in 0..size {
                    let mv = Move::Play(Point { x, y });
                    let text = format_vertex(mv, size);
                    assert!(!text.contains('I'), "{text} uses the skipped letter I");
                    assert_eq!(parse_vertex(&text, size), Ok(mv), "{text} on {size}");
                    assert_eq!(parse_vertex(&text.to_lowercase(), size), Ok(mv));
                }
            }
            assert_eq!(
                parse_vertex(&format_vertex(Move::Pass, size), size),
                Ok(Move::Pass)
            );
        }
    }

    #[test]
    fn off_board_points_format_to_unparseable_text() {
        let text = format_vertex(Move::Play(Point { x: 9, y: 0 }), 9);
        assert!(parse_vertex(&text, 9).is_err());
        let text = format_vertex(Move::Play(Point { x: 200, y: 200 }), 255);
        assert!(parse_vertex(&text, 19).is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parse_vertex_never_panics(s in ".{0,12}", size in any::<u8>()) {
                let _ = parse_vertex(&s, size);
            }

            #[test]
            fn parse_vertex_never_panics_on_vertex_like_text(s in "[A-Za-z][0-9]{0,5}", size in any::<u8>()) {
                if let Ok(Move::Play(p)) = parse_vertex(&s, size) {
                    prop_assert!(p.x < size && p.y < size);
                }
            }
        }
    }
}
