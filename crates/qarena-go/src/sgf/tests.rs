//! SGF writer and reader tests.

use super::*;
use proptest::prelude::*;

fn sample() -> SgfGame {
    let mut g = SgfGame::new(9, 7.5);
    g.rules = Some("Chinese".to_string());
    g.black = Some("int4 [trunk]".to_string());
    g.white = Some("fp32\\ref".to_string());
    g.result = Some("B+3.5".to_string());
    g.date = Some("2024-05-01".to_string());
    g.game_name = Some("sweep 1, game 7".to_string());
    g.root_comment = Some("line one\nline ]two[".to_string());
    g.moves = vec![
        SgfMove {
            color: Color::Black,
            mv: Move::Play(Point::new(2, 2)),
            comment: Some("winrate 0.53 \\ pv: C7 ]".to_string()),
        },
        SgfMove {
            color: Color::White,
            mv: Move::Play(Point::new(6, 6)),
            comment: None,
        },
        SgfMove {
            color: Color::Black,
            mv: Move::Pass,
            comment: None,
        },
        SgfMove {
            color: Color::White,
            mv: Move::Pass,
            comment: Some(String::new()),
        },
    ];
    g
}

#[test]
fn writes_the_documented_layout() {
    let text = write_sgf(&sample());
    assert_eq!(
        text,
        "(;FF[4]GM[1]CA[UTF-8]SZ[9]KM[7.5]RU[Chinese]PB[int4 [trunk\\]]PW[fp32\\\\ref]\
         RE[B+3.5]DT[2024-05-01]GN[sweep 1, game 7]C[line one\nline \\]two[]\n\
         ;B[cc]C[winrate 0.53 \\\\ pv: C7 \\]]\n;W[gg]\n;B[]\n;W[]C[])\n"
    );
}

#[test]
fn round_trips_a_game() {
    let game = sample();
    assert_eq!(parse_sgf(&write_sgf(&game)), Ok(game));
    let minimal = SgfGame::new(25, -3.0);
    assert_eq!(parse_sgf(&write_sgf(&minimal)), Ok(minimal));
}

#[test]
fn replays_into_a_game() {
    let game = sample().to_game(Rules::default()).unwrap();
    assert_eq!(game.moves().len(), 4);
    assert_eq!(game.consecutive_passes(), 2);
    assert_eq!(game.stone(Point::new(2, 2)), Some(Color::Black));
}

#[test]
fn reads_escapes_and_soft_line_breaks() {
    let text = "(;SZ[9]C[a \\] b \\\\ c \\: d soft\\\nbreak\\\r\nx]\n;B[ee]C[say \\\"hi\\\"])";
    let g = parse_sgf(text).unwrap();
    assert_eq!(g.root_comment.as_deref(), Some("a ] b \\ c : d softbreakx"));
    assert_eq!(g.moves[0].comment.as_deref(), Some("say \"hi\""));
    assert_eq!(g.moves[0].mv, Move::Play(Point::new(4, 4)));
}

#[test]
fn follows_the_main_line_through_variations() {
    let text = "
        (;GM[1]FF[4]SZ[9]KM[6.5]
          ;B[aa]
          (;W[bb]C[main]
             (;B[cc];W[dd])
             (;B[ee]C[variation])
          )
          (;W[ff];B[gg])
        )";
    let g = parse_sgf(text).unwrap();
    let points: Vec<Move> = g.moves.iter().map(|m| m.mv).collect();
    assert_eq!(
        points,
        vec![
            Move::Play(Point::new(0, 0)),
            Move::Play(Point::new(1, 1)),
            Move::Play(Point::new(2, 2)),
            Move::Play(Point::new(3, 3)),
        ]
    );
    assert_eq!(g.moves[1].comment.as_deref(), Some("main"));
    assert_eq!(g.komi, 6.5);
}

#[test]
fn tolerates_unknown_properties_and_old_styles() {
    let text = "junk before (;FF[3]GM[1]SZ[19]AP[other:1.0]PlayerBlack[x]PB[Alice]\
                XX[one][two]AB[aa][bb];B[tt];W[]TR[cc];B[ss]BL[30.5])trailing";
    let g = parse_sgf(text).unwrap();
    assert_eq!(g.size, 19);
    assert_eq!(g.komi, 0.0);
    assert_eq!(g.black.as_deref(), Some("Alice"));
    let moves: Vec<Move> = g.moves.iter().map(|m| m.mv).collect();
    assert_eq!(
        moves,
        vec![Move::Pass, Move::Pass, Move::Play(Point::new(18, 18))]
    );
}

#[test]
fn tt_is_a_point_on_large_boards() {
    let g = parse_sgf("(;SZ[21];B[tt];W[uu])").unwrap();
    assert_eq!(g.moves[0].mv, Move::Play(Point::new(19, 19)));
    assert_eq!(g.moves[1].mv, Move::Play(Point::new(20, 20)));
}

#[test]
fn size_defaults_to_19_and_accepts_square_pairs() {
    assert_eq!(parse_sgf("(;B[aa])").unwrap().size, 19);
    assert_eq!(parse_sgf("(;SZ[13:13])").unwrap().size, 13);
}

#[test]
fn errors_name_the_byte_offset() {
    let cases: &[(&str, usize)] = &[
        ("", 0),
        ("no tree here", 12),
        ("(;SZ[9]", 7),
        ("(;SZ[9", 6),
        ("(;SZ 9)", 5),
        ("(B[aa])", 1),
        ("(;B[aa]]", 7),
        ("(;SZ[9];B[jj])", 9),
        ("(;SZ[9];B[a])", 9),
        ("(;SZ[9x9])", 4),
        ("(;SZ[9:13])", 4),
        ("(;SZ[30])", 4),
        ("(;KM[seven])", 4),
        ("(;KM[inf])", 4),
        ("(;GM[2])", 4),
        ("(;SZ[9];W[AA])", 9),
        ("(;C[é]é)", 7),
        ("(;B[aa]()", 8),
    ];
    for &(text, offset) in cases {
        let err = parse_sgf(text).expect_err(text);
        assert_eq!(err.offset(), offset, "{text:?}: {err}");
        assert!(err.to_string().contains(&format!("byte {offset}")), "{err}");
    }
}

#[test]
fn deep_nesting_does_not_overflow() {
    let depth = 200_000;
    let text = format!("{};B[aa]{}", "(;".repeat(depth), ")".repeat(depth));
    assert_eq!(parse_sgf(&text).unwrap().moves.len(), 1);
}

/// SGF-like text: mostly the characters that drive the parser.
fn sgf_like() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "(", ")", ";", "[", "]", "\\", "\n", " ", "B", "W", "SZ", "KM", "C", "aa", "tt", "9", "19",
        "7.5", ":", "é", "GM", "1", "[]",
    ]);
    prop::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
}

fn any_text() -> impl Strategy<Value = Option<String>> {
    prop::option::of(".{0,20}")
}

prop_compose! {
    fn any_game()(
        size in MIN_SIZE..=MAX_SIZE,
        komi in -200i32..200,
        rules in any_text(),
        black in any_text(),
        white in any_text(),
        result in any_text(),
        date in any_text(),
        root_comment in any_text(),
        game_name in any_text(),
        raw_moves in prop::collection::vec(
            (any::<bool>(), any::<bool>(), any::<u8>(), any::<u8>(), any_text()),
            0..40,
        ),
    ) -> SgfGame {
        let moves = raw_moves
            .into_iter()
            .map(|(black, pass, x, y, comment)| SgfMove {
                color: if black { Color::Black } else { Color::White },
                mv: if pass { Move::Pass } else { Move::Play(Point::new(x % size, y % size)) },
                comment,
            })
            .collect();
        SgfGame {
            size,
            komi: komi as f32 / 2.0,
            rules, black, white, result, date, root_comment, game_name, moves,
        }
    }
}

proptest! {
    #[test]
    fn parse_never_panics_on_any_text(text in ".{0,200}") {
        let _ = parse_sgf(&text);
    }

    #[test]
    fn parse_never_panics_on_sgf_like_text(text in sgf_like()) {
        if let Err(err) = parse_sgf(&text) {
            prop_assert!(err.offset() <= text.len());
        }
    }

    #[test]
    fn write_then_parse_is_identity(game in any_game()) {
        prop_assert_eq!(parse_sgf(&write_sgf(&game)), Ok(game));
    }
}
