//! Rule tests on hand-made positions and random playouts.

use super::*;
use crate::vertex::parse_vertex;
use crate::zobrist::SplitMix64;

/// Builds a position from a diagram (`X` Black, `O` White, `.` empty, top
/// row first). White stones are placed first and Black last, so the
/// resulting position is recorded with White to move.
fn setup(rows: &[&str], komi: f32, rules: Rules) -> Game {
    let size = u8::try_from(rows.len()).expect("diagram fits a board");
    let mut game = Game::new(size, komi, rules).expect("valid size");
    for color in [Color::White, Color::Black] {
        let symbol = if color == Color::Black { 'X' } else { 'O' };
        for (y, row) in rows.iter().enumerate() {
            let cells: Vec<char> = row.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(
                cells.len(),
                rows.len(),
                "diagram row {y} has the wrong width"
            );
            for (x, &c) in cells.iter().enumerate() {
                if c == symbol {
                    let p = Point::new(x as u8, y as u8);
                    game.play(color, Move::Play(p))
                        .expect("diagram stones are legal");
                }
            }
        }
    }
    assert_eq!(game.captures(Color::Black) + game.captures(Color::White), 0);
    game
}

fn at(game: &Game, vertex: &str) -> Move {
    parse_vertex(vertex, game.size()).expect("test vertex")
}

fn point(game: &Game, vertex: &str) -> Point {
    match at(game, vertex) {
        Move::Play(p) => p,
        Move::Pass => panic!("not a point"),
    }
}

#[test]
fn rejects_bad_sizes_and_komi() {
    assert_eq!(
        Game::new(1, 0.0, Rules::default()).unwrap_err(),
        GoError::InvalidSize(1)
    );
    assert_eq!(
        Game::new(26, 0.0, Rules::default()).unwrap_err(),
        GoError::InvalidSize(26)
    );
    assert!(matches!(
        Game::new(9, f32::NAN, Rules::default()),
        Err(GoError::InvalidKomi(_))
    ));
    for size in MIN_SIZE..=MAX_SIZE {
        let game = Game::new(size, 7.5, Rules::default()).unwrap();
        assert_eq!(game.size(), size);
        assert_eq!(
            game.legal_moves(Color::Black).len(),
            usize::from(size) * usize::from(size)
        );
    }
}

#[test]
fn off_board_and_occupied() {
    let mut game = Game::new(9, 7.5, Rules::default()).unwrap();
    assert_eq!(
        game.play(Color::Black, Move::Play(Point::new(9, 0))),
        Err(IllegalMove::OffBoard)
    );
    assert_eq!(
        game.play(Color::Black, Move::Play(Point::new(255, 255))),
        Err(IllegalMove::OffBoard)
    );
    assert_eq!(game.stone(Point::new(200, 3)), None);
    let e5 = at(&game, "E5");
    game.play(Color::Black, e5).unwrap();
    assert_eq!(game.to_move(), Color::White);
    assert_eq!(game.play(Color::White, e5), Err(IllegalMove::Occupied));
    assert_eq!(game.moves().len(), 1);
    assert_eq!(
        game.to_move(),
        Color::White,
        "a rejected move changes nothing"
    );
}

#[test]
fn single_stone_capture_in_the_centre() {
    let mut game = setup(
        &[
            ". . . . .",
            ". . X . .",
            ". X O X .",
            ". . . . .",
            ". . . . .",
        ],
        0.0,
        Rules::default(),
    );
    let c3 = point(&game, "C3");
    assert_eq!(game.stone(c3), Some(Color::White));
    game.play(Color::Black, at(&game, "C2")).unwrap();
    assert_eq!(game.stone(c3), None);
    assert_eq!(game.captures(Color::Black), 1);
    assert_eq!(game.captures(Color::White), 0);
}

#[test]
fn group_capture() {
    let mut game = setup(
        &[
            ". X X . .",
            "X O O X .",
            ". X O X .",
            ". . . . .",
            ". . . . .",
        ],
        0.0,
        Rules::default(),
    );
    game.play(Color::Black, at(&game, "C2")).unwrap();
    assert_eq!(game.captures(Color::Black), 3);
    for v in ["B4", "C4", "C3"] {
        assert_eq!(game.stone(point(&game, v)), None, "{v} should be captured");
    }
    // The captured points are liberties again: White may play inside.
    assert_eq!(game.is_legal(Color::White, at(&game, "B4")), Ok(()));
}

#[test]
fn edge_and_corner_captures() {
    let mut game = setup(
        &[
            "O X . X O X .",
            ". . . . . . .",
            ". . . . . . .",
            ". . . . . . .",
            ". . . . . . .",
            "X . . . . . .",
            "O . . . . . .",
        ],
        0.0,
        Rules::default(),
    );
    // Top-left corner: A7 has only the liberty A6.
    game.play(Color::Black, at(&game, "A6")).unwrap();
    assert_eq!(game.stone(point(&game, "A7")), None);
    assert_eq!(game.captures(Color::Black), 1);
    // Top edge: E7 between D7 and F7 has only the liberty E6.
    game.play(Color::Black, at(&game, "E6")).unwrap();
    assert_eq!(game.stone(point(&game, "E7")), None);
    assert_eq!(game.captures(Color::Black), 2);
    // Bottom-left corner: A1 under A2 has only the liberty B1.
    game.play(Color::Black, at(&game, "B1")).unwrap();
    assert_eq!(game.stone(point(&game, "A1")), None);
    assert_eq!(game.captures(Color::Black), 3);
}

#[test]
fn suicide_is_illegal_by_default() {
    let mut game = setup(
        &[
            ". X . . .",
            "X . . . .",
            ". . . . .",
            ". . . . .",
            ". . . . .",
        ],
        0.0,
        Rules::default(),
    );
    assert_eq!(
        game.play(Color::White, at(&game, "A5")),
        Err(IllegalMove::Suicide)
    );
    assert!(!game.legal_moves(Color::White).contains(&at(&game, "A5")));
    assert!(game.legal_moves(Color::Black).contains(&at(&game, "A5")));
}

#[test]
fn capturing_is_not_suicide() {
    let mut game = setup(
        &[
            ". X O . .",
            "X O . . .",
            "O . . . .",
            ". . . . .",
            ". . . . .",
        ],
        0.0,
        Rules::default(),
    );
    // White A5 has no liberties of its own but captures the black stones
    // B5 and A4, each in atari.
    game.play(Color::White, at(&game, "A5")).unwrap();
    assert_eq!(game.captures(Color::White), 2);
    assert_eq!(game.stone(point(&game, "A5")), Some(Color::White));
}

#[test]
fn multi_stone_suicide_when_allowed() {
    let diagram = [
        "O . X . .",
        "X X . . .",
        ". . . . .",
        ". . . . .",
        ". . . . .",
    ];
    let mut strict = setup(&diagram, 0.0, Rules::default());
    assert_eq!(
        strict.play(Color::White, at(&strict, "B5")),
        Err(IllegalMove::Suicide)
    );

    let rules = Rules {
        suicide_allowed: true,
        superko: Superko::None,
    };
    let mut game = setup(&diagram, 0.0, rules);
    game.play(Color::White, at(&game, "B5")).unwrap();
    assert_eq!(game.stone(point(&game, "A5")), None);
    assert_eq!(game.stone(point(&game, "B5")), None);
    assert_eq!(
        game.captures(Color::Black),
        2,
        "suicided stones count for the opponent"
    );
    assert_eq!(game.to_move(), Color::Black);
}

#[test]
fn single_stone_suicide_repeats_the_position_under_superko() {
    // With suicide allowed, a lone suicide leaves the board unchanged, which
    // positional superko forbids and no superko allows.
    let diagram = [". X .", "X . .", ". . ."];
    let mut game = setup(&diagram, 0.0, Rules::tromp_taylor());
    assert_eq!(
        game.play(Color::White, at(&game, "A3")),
        Err(IllegalMove::Superko)
    );
    let rules = Rules {
        suicide_allowed: true,
        superko: Superko::None,
    };
    let mut game = setup(&diagram, 0.0, rules);
    game.play(Color::White, at(&game, "A3")).unwrap();
    assert_eq!(game.stone(point(&game, "A3")), None);
    assert_eq!(game.captures(Color::Black), 1);
}

const KO: [&str; 5] = [
    ". X O . .",
    "X O . O .",
    ". X O . .",
    ". . . . .",
    ". . . . .",
];

#[test]
fn simple_ko_under_every_superko_rule() {
    for superko in [Superko::None, Superko::Positional, Superko::Situational] {
        let rules = Rules {
            suicide_allowed: false,
            superko,
        };
        let mut game = setup(&KO, 0.0, rules);
        game.play(Color::Black, at(&game, "C4")).unwrap();
        assert_eq!(game.captures(Color::Black), 1);
        let retake = at(&game, "B4");
        assert_eq!(
            game.is_legal(Color::White, retake),
            Err(IllegalMove::Ko),
            "{superko:?}"
        );
        assert_eq!(game.play(Color::White, retake), Err(IllegalMove::Ko));
        assert!(!game.legal_moves(Color::White).contains(&retake));
        // The ban binds White only: Black may fill the ko.
        assert_eq!(game.is_legal(Color::Black, retake), Ok(()));
        // After a ko threat and an answer, the retake is legal.
        game.play(Color::White, at(&game, "E1")).unwrap();
        game.play(Color::Black, at(&game, "E2")).unwrap();
        game.play(Color::White, retake).unwrap();
        assert_eq!(game.captures(Color::White), 1);
        // Now Black is banned from retaking at once.
        assert_eq!(
            game.is_legal(Color::Black, at(&game, "C4")),
            Err(IllegalMove::Ko)
        );
    }
}

#[test]
fn positional_superko_forbids_retaking_after_passes() {
    let mut game = setup(&KO, 0.0, Rules::default());
    game.play(Color::Black, at(&game, "C4")).unwrap();
    game.play(Color::White, Move::Pass).unwrap();
    game.play(Color::Black, Move::Pass).unwrap();
    assert_eq!(game.consecutive_passes(), 2);
    // The passes lifted the simple-ko ban, but the retake recreates the
    // position before Black's capture.
    let retake = at(&game, "B4");
    assert_eq!(game.play(Color::White, retake), Err(IllegalMove::Superko));
    assert_eq!(game.consecutive_passes(), 2);

    let rules = Rules {
        suicide_allowed: false,
        superko: Superko::None,
    };
    let mut game = setup(&KO, 0.0, rules);
    game.play(Color::Black, at(&game, "C4")).unwrap();
    game.play(Color::White, Move::Pass).unwrap();
    game.play(Color::Black, Move::Pass).unwrap();
    game.play(Color::White, retake).unwrap();
    assert_eq!(game.consecutive_passes(), 0);
}

#[test]
fn situational_superko_considers_the_player_to_move() {
    // The diagram's position was reached with White to move (Black placed
    // the last stone). Black now captures out of turn, both pass, and White
    // retakes: the stones repeat, but with Black to move, which is new.
    let situational = Rules {
        suicide_allowed: false,
        superko: Superko::Situational,
    };
    for (rules, expected) in [
        (situational, Ok(())),
        (Rules::default(), Err(IllegalMove::Superko)),
    ] {
        let mut game = setup(&KO, 0.0, rules);
        assert_eq!(game.to_move(), Color::White);
        game.play(Color::Black, at(&game, "C4")).unwrap();
        game.play(Color::White, Move::Pass).unwrap();
        game.play(Color::Black, Move::Pass).unwrap();
        assert_eq!(
            game.play(Color::White, at(&game, "B4")),
            expected,
            "{rules:?}"
        );
    }

    // In turn, the same retake repeats the situation too.
    let mut game = setup(&KO, 0.0, situational);
    game.play(Color::White, Move::Pass).unwrap();
    game.play(Color::Black, at(&game, "C4")).unwrap();
    game.play(Color::White, Move::Pass).unwrap();
    game.play(Color::Black, Move::Pass).unwrap();
    assert_eq!(
        game.play(Color::White, at(&game, "B4")),
        Err(IllegalMove::Superko)
    );
}

#[test]
fn area_score_of_an_empty_board_is_minus_komi() {
    let game = Game::new(5, 6.5, Rules::default()).unwrap();
    assert_eq!(game.area_score(), -6.5);
    assert_eq!(format_result(game.area_score()), "W+6.5");
}

#[test]
fn area_score_of_a_split_board() {
    let game = setup(
        &[". X O .", ". X O .", ". X O .", ". X O ."],
        0.0,
        Rules::default(),
    );
    assert_eq!(game.area_score(), 0.0);
    assert_eq!(format_result(game.area_score()), "0");
}

#[test]
fn area_score_counts_shared_points_for_nobody() {
    // B5 is a liberty shared by a black and a white group (seki-like): it
    // touches both colours and counts for neither. D5 and E5 are White's,
    // rows 1-2 are Black's.
    let game = setup(
        &[
            "X . O . .",
            "X X O O O",
            "X X X X X",
            ". . . . .",
            ". . . . .",
        ],
        6.5,
        Rules::default(),
    );
    // Black: 8 stones + 10 points; White: 4 stones + 2 points.
    assert_eq!(game.area_score(), 18.0 - 6.0 - 6.5);
    assert_eq!(format_result(game.area_score()), "B+5.5");
}

#[test]
fn area_score_with_a_seki() {
    // The lone black B5 and the white group share their only liberties,
    // A5 and C5; whoever plays either puts itself in atari, so neither
    // does (seki). Both points touch both colours and count for nobody.
    let mut game = setup(
        &[
            ". X . O X",
            "O O O O X",
            "X X X X X",
            ". . . . .",
            ". . . . .",
        ],
        0.5,
        Rules::default(),
    );
    // Black: 8 stones + 10 points; White: 5 stones.
    assert_eq!(game.area_score(), 18.0 - 5.0 - 0.5);
    assert_eq!(format_result(game.area_score()), "B+12.5");
    // Check it is a seki: playing a shared liberty loses the group.
    let mut probe = game.clone();
    probe.play(Color::White, at(&probe, "A5")).unwrap();
    probe.play(Color::Black, at(&probe, "C5")).unwrap();
    assert_eq!(probe.captures(Color::Black), 6);
    game.play(Color::Black, at(&game, "A5")).unwrap();
    game.play(Color::White, at(&game, "C5")).unwrap();
    assert_eq!(game.captures(Color::White), 2);
}

#[test]
fn format_result_styles() {
    assert_eq!(format_result(3.5), "B+3.5");
    assert_eq!(format_result(-0.5), "W+0.5");
    assert_eq!(format_result(0.0), "0");
    assert_eq!(format_result(-0.0), "0");
    assert_eq!(format_result(12.0), "B+12");
    assert_eq!(format_result(f32::NAN), "?");
}

#[test]
fn replay_names_the_first_illegal_move() {
    let b = Move::Play(Point::new(0, 0));
    let err = Game::replay(
        9,
        7.5,
        Rules::default(),
        &[(Color::Black, b), (Color::White, b)],
    )
    .unwrap_err();
    assert_eq!(
        err,
        GoError::IllegalMove {
            number: 2,
            color: Color::White,
            vertex: "A9".to_string(),
            source: IllegalMove::Occupied,
        }
    );
    assert!(err.to_string().contains("move 2 (white A9)"), "{err}");
}

/// Checks everything a legal position must satisfy.
fn check_invariants(game: &Game, stones_played: [u32; 2]) {
    let board = &game.board;
    let mut scratch = Scratch::new(board.cells.len());
    let mut hash = 0u64;
    let mut on_board = [0u32; 2];
    for (i, cell) in board.cells.iter().enumerate() {
        if let Some(color) = cell {
            assert!(
                board.has_liberty(i, &mut scratch),
                "group without liberties:\n{game}"
            );
            hash ^= stone_key(*color, i % board.size, i / board.size);
            on_board[color.index()] += 1;
        }
    }
    assert_eq!(hash, board.hash, "incremental hash drifted");
    for color in [Color::Black, Color::White] {
        // Without suicide, every stone played is on the board or captured.
        assert_eq!(
            stones_played[color.index()],
            on_board[color.index()] + game.captures(color.opposite()),
            "stone count for {color}"
        );
    }
    let score = game.area_score();
    let limit = (board.size * board.size) as f32 + game.komi().abs();
    assert!(score.is_finite() && score.abs() <= limit, "score {score}");
}

/// A move that fills one of the mover's own single-point eyes; random
/// playouts skip these so games end in a reasonable number of moves.
fn fills_own_eye(game: &Game, color: Color, mv: Move) -> bool {
    let Move::Play(p) = mv else { return false };
    let Some(i) = game.index(p) else { return false };
    game.board
        .neighbors(i)
        .iter()
        .all(|j| game.board.cells[j] == Some(color))
}

#[test]
fn random_playouts_stay_legal() {
    let rule_sets = [
        Rules::default(),
        Rules {
            suicide_allowed: false,
            superko: Superko::Situational,
        },
        Rules {
            suicide_allowed: false,
            superko: Superko::None,
        },
    ];
    let mut rng = SplitMix64::new(2024);
    let mut total_captures = 0;
    for game_number in 0..24 {
        let rules = rule_sets[game_number % rule_sets.len()];
        let mut game = Game::new(9, 7.5, rules).unwrap();
        let mut played = [0u32; 2];
        let mut moves = 0;
        while game.consecutive_passes() < 2 {
            moves += 1;
            // Without superko, random play can cycle for ever (two kos and
            // passes in between), so those games are cut off; with superko
            // every game must end on its own.
            let cut_off = moves > 600;
            assert!(
                !cut_off || rules.superko == Superko::None,
                "playout {game_number} ({rules:?}) did not end:\n{game}"
            );
            let color = game.to_move();
            let legal = game.legal_moves(color);
            for mv in &legal {
                assert_eq!(game.is_legal(color, *mv), Ok(()));
            }
            let candidates: Vec<Move> = legal
                .into_iter()
                .filter(|&mv| !fills_own_eye(&game, color, mv))
                .collect();
            let mv = if candidates.is_empty() || cut_off {
                Move::Pass
            } else {
                candidates[(rng.next_u64() % candidates.len() as u64) as usize]
            };
            let before = game.moves().len();
            game.play(color, mv).unwrap();
            assert_eq!(game.moves().len(), before + 1);
            if mv != Move::Pass {
                played[color.index()] += 1;
            }
            check_invariants(&game, played);
        }
        total_captures += game.captures(Color::Black) + game.captures(Color::White);
    }
    assert!(total_captures > 0, "playouts should exercise captures");
}
