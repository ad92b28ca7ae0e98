use super::benson::{calculate_area, AreaOptions};
use super::board::{Board, Cell};
use super::*;
use crate::zobrist::SplitMix64;
use crate::{Game, Point, Rules};

/// A board set up stone by stone in reading order, as KataGo's
/// `Board::parseBoard` does (`x` Black, `o` White, anything else empty).
fn parse_board(rows: &[&str]) -> Board {
    let ys = rows.len();
    let xs = rows.first().map_or(0, |r| r.len());
    let mut board = Board::new(xs, ys);
    for (y, row) in rows.iter().enumerate() {
        for (x, c) in row.chars().enumerate() {
            let color = match c {
                'x' => Color::Black,
                'o' => Color::White,
                _ => continue,
            };
            let loc = board.loc(x, y);
            board.play(Some(loc), color);
            board.ko_loc = 0;
        }
    }
    board
}

/// KataGo's ladder test output: for every stone, 1 if laddered, searching
/// on the same board stone after stone.
fn ladder_map(board: &mut Board, two_libs: bool) -> Vec<String> {
    let mut buf = Vec::new();
    let mut working = Vec::new();
    let mut rows = Vec::new();
    for y in 0..board.y_size {
        let mut row = String::new();
        for x in 0..board.x_size {
            let loc = board.loc(x, y);
            if board.colors[loc] == Cell::Empty {
                row.push('.');
                continue;
            }
            let laddered = if two_libs {
                board.ladder_captured_attacker_first(loc, &mut buf, &mut working)
            } else {
                board.ladder_captured(loc, true, &mut buf)
            };
            row.push(if laddered { '1' } else { '0' });
        }
        rows.push(row);
    }
    rows
}

fn area_map(board: &Board, options: AreaOptions) -> Vec<String> {
    let area = calculate_area(board, options);
    (0..board.y_size)
        .map(|y| {
            (0..board.x_size)
                .map(|x| match area[board.loc(x, y)] {
                    Some(Color::Black) => 'X',
                    Some(Color::White) => 'O',
                    None => '.',
                })
                .collect()
        })
        .collect()
}

#[test]
fn ladders_match_katago_test_suite() {
    for &(name, two_libs, rows, expected) in KATAGO_LADDER_CASES {
        let mut board = parse_board(rows);
        let before = board.colors.clone();
        let got = ladder_map(&mut board, two_libs);
        assert_eq!(got, expected, "{name}");
        assert_eq!(
            board.colors, before,
            "{name}: the searches must undo their moves"
        );
    }
}

#[test]
fn pass_alive_area_matches_katago_test_suite() {
    let safe = [false, true, true, true];
    let unsafe_big = [false, false, true, true];
    let stones = [false, false, false, true];
    for &(name, rows, expected) in KATAGO_AREA_CASES {
        let board = parse_board(rows);
        let ys = rows.len();
        for mode in 0..8 {
            let options = AreaOptions {
                non_pass_alive_stones: stones[mode / 2],
                safe_big_territories: safe[mode / 2],
                unsafe_big_territories: unsafe_big[mode / 2],
                multi_stone_suicide_legal: mode % 2 == 1,
            };
            let got = area_map(&board, options);
            assert_eq!(
                got,
                expected[mode * ys..(mode + 1) * ys],
                "{name}, mode {mode}"
            );
        }
    }
}

/// Moves that build the position in `rows` (`x` Black, `o` White), the
/// colours alternating from Black and the side that runs out of stones
/// passing, ending with `to_move` to move.
fn moves_for(rows: &[&str], to_move: Color) -> Vec<(Color, Move)> {
    let mut black = Vec::new();
    let mut white = Vec::new();
    for (y, row) in rows.iter().enumerate() {
        for (x, c) in row.chars().enumerate() {
            let p = Move::Play(Point::new(x as u8, y as u8));
            match c {
                'x' => black.push(p),
                'o' => white.push(p),
                _ => {}
            }
        }
    }
    let mut moves = Vec::new();
    let (mut b, mut w) = (black.into_iter(), white.into_iter());
    loop {
        let (nb, nw) = (b.next(), w.next());
        if nb.is_none() && nw.is_none() {
            break;
        }
        moves.push((Color::Black, nb.unwrap_or(Move::Pass)));
        moves.push((Color::White, nw.unwrap_or(Move::Pass)));
    }
    if to_move == Color::White {
        moves.push((Color::Black, Move::Pass));
    }
    moves
}

fn at(inputs: &NetInputs, channel: usize, x: usize, y: usize) -> f32 {
    inputs.spatial_at(channel, x, y)
}

fn channel_sum(inputs: &NetInputs, channel: usize) -> f32 {
    let n = usize::from(inputs.size);
    inputs.spatial[channel * n * n..(channel + 1) * n * n]
        .iter()
        .sum()
}

fn play(x: u8, y: u8) -> Move {
    Move::Play(Point::new(x, y))
}

#[test]
fn stones_and_liberties() {
    let moves = [
        (Color::Black, play(0, 0)),
        (Color::White, play(1, 0)),
        (Color::Black, play(4, 4)),
        (Color::White, play(8, 4)),
    ];
    let inputs = v7_inputs(9, 7.5, &KataRules::default(), &moves).unwrap();
    assert_eq!(inputs.to_move, Color::Black);
    assert_eq!(inputs.spatial.len(), V7_SPATIAL * 81);
    assert_eq!(channel_sum(&inputs, 0), 81.0);
    // Own (Black) and opponent stones.
    assert_eq!(at(&inputs, 1, 0, 0), 1.0);
    assert_eq!(at(&inputs, 1, 4, 4), 1.0);
    assert_eq!(at(&inputs, 2, 1, 0), 1.0);
    assert_eq!(at(&inputs, 2, 8, 4), 1.0);
    assert_eq!(channel_sum(&inputs, 1) + channel_sum(&inputs, 2), 4.0);
    // One liberty, two, three; four liberties get no mark.
    assert_eq!(at(&inputs, 3, 0, 0), 1.0);
    assert_eq!(at(&inputs, 4, 1, 0), 1.0);
    assert_eq!(at(&inputs, 5, 8, 4), 1.0);
    for c in 3..=5 {
        assert_eq!(at(&inputs, c, 4, 4), 0.0);
    }
    assert_eq!(
        channel_sum(&inputs, 3) + channel_sum(&inputs, 4) + channel_sum(&inputs, 5),
        3.0
    );
    // The last moves, newest first, all plays.
    assert_eq!(at(&inputs, 9, 8, 4), 1.0);
    assert_eq!(at(&inputs, 10, 4, 4), 1.0);
    assert_eq!(at(&inputs, 11, 1, 0), 1.0);
    assert_eq!(at(&inputs, 12, 0, 0), 1.0);
    assert_eq!(channel_sum(&inputs, 13), 0.0);
    assert_eq!(inputs.global[..5], [0.0; 5]);
    // Occupied points are illegal.
    assert!(!inputs.legal[0]);
    assert!(inputs.legal[2]);
}

/// White's stone at (4,4) has two liberties; Black, to move, ataris from
/// below and White's extensions each get only two liberties again, all the
/// way to the edge.
const LADDER: [&str; 5] = [
    ".........",
    ".o.......",
    ".........",
    "....xx...",
    "...xo....",
];

#[test]
fn textbook_ladder_marks_the_chain_and_the_working_move() {
    let mut moves = moves_for(&LADDER, Color::White);
    // White's tenuki, far from the ladder's path; Black to move.
    moves.push((Color::White, play(1, 7)));
    let inputs = v7_inputs(9, 7.5, &KataRules::default(), &moves).unwrap();
    assert_eq!(inputs.to_move, Color::Black);
    assert_eq!(at(&inputs, 14, 4, 4), 1.0);
    assert_eq!(at(&inputs, 17, 4, 5), 1.0, "the atari from below works");
    assert_eq!(
        at(&inputs, 17, 5, 4),
        0.0,
        "the atari from the right lets White out"
    );
    assert_eq!(channel_sum(&inputs, 17), 1.0);
    // The same ladder stood one move ago (White's tenuki is the last move).
    assert_eq!(at(&inputs, 15, 4, 4), 1.0);

    // Before Black's (5,3) the stone escaped either way.
    let early = [
        (Color::Black, play(3, 4)),
        (Color::White, play(4, 4)),
        (Color::Black, play(4, 3)),
        (Color::White, play(1, 1)),
    ];
    let inputs = v7_inputs(9, 7.5, &KataRules::default(), &early).unwrap();
    assert_eq!(channel_sum(&inputs, 14), 0.0);
    assert_eq!(channel_sum(&inputs, 17), 0.0);
}

#[test]
fn ladder_breaker_removes_the_ladder_features() {
    let mut moves = moves_for(&LADDER, Color::White);
    // White's stone on the ladder's path.
    moves.push((Color::White, play(6, 6)));
    let inputs = v7_inputs(9, 7.5, &KataRules::default(), &moves).unwrap();
    assert_eq!(at(&inputs, 14, 4, 4), 0.0);
    assert_eq!(channel_sum(&inputs, 17), 0.0);
    // One move ago, before the breaker, the ladder worked.
    assert_eq!(at(&inputs, 15, 4, 4), 1.0);
}

#[test]
fn stone_in_atari_that_cannot_escape_is_laddered() {
    // White's (1,0) can only extend to the corner, which is suicide.
    let moves = [
        (Color::Black, play(2, 0)),
        (Color::White, play(1, 0)),
        (Color::Black, play(0, 1)),
        (Color::White, play(8, 8)),
        (Color::Black, play(1, 1)),
    ];
    let inputs = v7_inputs(9, 7.5, &KataRules::default(), &moves).unwrap();
    assert_eq!(inputs.to_move, Color::White);
    assert_eq!(at(&inputs, 3, 1, 0), 1.0);
    assert_eq!(at(&inputs, 14, 1, 0), 1.0);
    assert!(!inputs.legal[0], "the corner is suicide for White");
}

/// Black's group has two eyes, one of them holding a dead White stone.
const TWO_EYES: [&str; 3] = [".ox.xo", "xxxxxo", "oooooo"];

#[test]
fn pass_alive_group_owns_its_eyes() {
    let moves = moves_for(&TWO_EYES, Color::Black);
    let inputs = v7_inputs(9, 7.5, &KataRules::default(), &moves).unwrap();
    assert_eq!(inputs.to_move, Color::Black);
    // Black's pass-alive area: its stones, both eyes and the dead stone.
    for (x, y) in [(0, 0), (1, 0), (3, 0), (2, 0), (4, 0), (0, 1), (4, 1)] {
        assert_eq!(at(&inputs, 18, x, y), 1.0, "({x},{y})");
        assert_eq!(at(&inputs, 19, x, y), 0.0, "({x},{y})");
    }
    assert_eq!(
        at(&inputs, 2, 1, 0),
        1.0,
        "the dead stone is still White's stone"
    );
    assert_eq!(channel_sum(&inputs, 18), 10.0);
    // Everything else: White's stones and the open board only White touches.
    assert_eq!(channel_sum(&inputs, 19), 71.0);

    // From White's side the channels swap.
    let mut moves = moves;
    moves.push((Color::Black, Move::Pass));
    let inputs = v7_inputs(9, 7.5, &KataRules::default(), &moves).unwrap();
    assert_eq!(inputs.to_move, Color::White);
    assert_eq!(channel_sum(&inputs, 19), 10.0);
    assert_eq!(at(&inputs, 19, 1, 0), 1.0);
}

#[test]
fn history_after_passes() {
    let rules = KataRules::default();
    let moves = [(Color::Black, play(2, 2)), (Color::White, Move::Pass)];
    let inputs = v7_inputs(9, 7.5, &rules, &moves).unwrap();
    assert_eq!(inputs.to_move, Color::Black);
    assert_eq!(inputs.global[..5], [1.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(at(&inputs, 10, 2, 2), 1.0);
    assert_eq!(channel_sum(&inputs, 9), 0.0);
    assert_eq!(inputs.global[14], 1.0, "a second pass would end the game");

    let moves = [
        (Color::Black, play(2, 2)),
        (Color::White, Move::Pass),
        (Color::Black, play(6, 6)),
    ];
    let inputs = v7_inputs(9, 7.5, &rules, &moves).unwrap();
    assert_eq!(inputs.to_move, Color::White);
    assert_eq!(inputs.global[..5], [0.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(at(&inputs, 9, 6, 6), 1.0);
    assert_eq!(at(&inputs, 11, 2, 2), 1.0);
    assert_eq!(inputs.global[14], 0.0);

    // Two passes end the game: only the last move is shown.
    let moves = [
        (Color::Black, play(2, 2)),
        (Color::White, Move::Pass),
        (Color::Black, Move::Pass),
    ];
    let inputs = v7_inputs(9, 7.5, &rules, &moves).unwrap();
    assert_eq!(inputs.global[..5], [1.0, 0.0, 0.0, 0.0, 0.0]);
    assert_eq!(channel_sum(&inputs, 11), 0.0);
    assert_eq!(inputs.global[14], 1.0);

    // Moving out of turn resets the history, as KataGo's GTP does.
    let moves = [(Color::Black, play(2, 2)), (Color::Black, play(6, 6))];
    let inputs = v7_inputs(9, 7.5, &rules, &moves).unwrap();
    assert_eq!(inputs.to_move, Color::White);
    assert_eq!(at(&inputs, 9, 6, 6), 1.0);
    assert_eq!(channel_sum(&inputs, 10) + channel_sum(&inputs, 11), 0.0);
}

#[test]
fn komi_is_seen_from_the_side_to_move() {
    let rules = KataRules::default();
    let inputs = v7_inputs(9, 7.5, &rules, &[]).unwrap();
    assert_eq!(inputs.to_move, Color::Black);
    assert_eq!(inputs.global[5], -7.5 / 20.0);
    // 81 points: draws need odd komi; -7.5 is 1.5 above -9.
    assert_eq!(inputs.global[18], -0.5);
    let inputs = v7_inputs(9, 7.5, &rules, &[(Color::Black, play(4, 4))]).unwrap();
    assert_eq!(inputs.to_move, Color::White);
    assert_eq!(inputs.global[5], 7.5 / 20.0);
    assert_eq!(inputs.global[18], 0.5);
    // 361 points: komi 7 can be drawn, the wave is at its zero.
    let inputs = v7_inputs(19, 7.0, &rules, &[(Color::Black, play(3, 3))]).unwrap();
    assert_eq!(inputs.global[18], 0.0);
    // Komi is clipped to the board area plus 20.
    let inputs = v7_inputs(2, 100.0, &rules, &[(Color::Black, play(0, 0))]).unwrap();
    assert_eq!(inputs.global[5], 24.0 / 20.0);
    // Rules: positional superko, suicide illegal, area scoring.
    assert_eq!(inputs.global[6..12], [1.0, 0.5, 0.0, 0.0, 0.0, 0.0]);
}

#[test]
fn ko_point_is_banned() {
    let moves = [
        (Color::Black, play(1, 0)),
        (Color::White, play(2, 0)),
        (Color::Black, play(0, 1)),
        (Color::White, play(3, 1)),
        (Color::Black, play(1, 2)),
        (Color::White, play(2, 2)),
        (Color::Black, play(6, 6)),
        (Color::White, play(1, 1)),
        (Color::Black, play(2, 1)),
    ];
    let inputs = v7_inputs(9, 7.5, &KataRules::default(), &moves).unwrap();
    assert_eq!(inputs.to_move, Color::White);
    assert_eq!(at(&inputs, 6, 1, 1), 1.0);
    assert_eq!(channel_sum(&inputs, 6), 1.0);
    assert!(!inputs.legal[9 + 1]);
    // Retaking at once is an error.
    let mut retake = moves.to_vec();
    retake.push((Color::White, play(1, 1)));
    let err = v7_inputs(9, 7.5, &KataRules::default(), &retake).unwrap_err();
    assert!(
        matches!(err, GoError::IllegalMove { number: 10, .. }),
        "{err}"
    );
}

#[test]
fn legal_mask_agrees_with_the_referee_on_random_games() {
    let mut rng = SplitMix64::new(11);
    for game_index in 0..60 {
        let size = [5u8, 7, 9][game_index % 3];
        let mut game = Game::new(size, 7.5, Rules::default()).unwrap();
        let length = 20 + (rng.next_u64() % 120) as usize;
        for _ in 0..length {
            let color = game.to_move();
            let legal = game.legal_moves(color);
            let pick = (rng.next_u64() % (legal.len() as u64 + 2)) as usize;
            let mv = legal.get(pick).copied().unwrap_or(Move::Pass);
            if mv == Move::Pass && game.consecutive_passes() >= 1 {
                break;
            }
            game.play(color, mv).unwrap();
            let inputs = v7_inputs(size, 7.5, &KataRules::default(), game.moves()).unwrap();
            let n = usize::from(size);
            let mut expected = vec![false; n * n];
            for m in game.legal_moves(game.to_move()) {
                if let Move::Play(p) = m {
                    expected[usize::from(p.y) * n + usize::from(p.x)] = true;
                }
            }
            assert_eq!(inputs.legal, expected, "game {game_index}\n{game}");
            assert_eq!(inputs.to_move, game.to_move());
            for y in 0..n {
                for x in 0..n {
                    let p = Point::new(x as u8, y as u8);
                    let own = game.stone(p) == Some(inputs.to_move);
                    let other = game.stone(p) == Some(inputs.to_move.opposite());
                    assert_eq!(at(&inputs, 1, x, y) == 1.0, own);
                    assert_eq!(at(&inputs, 2, x, y) == 1.0, other);
                }
            }
        }
    }
}

#[test]
fn rules_parse_and_reject() {
    assert_eq!(
        KataRules::parse("koPOSITIONALscoreAREAtaxNONEsui0").unwrap(),
        KataRules::default()
    );
    let tt = KataRules::parse("koPOSITIONALscoreAREA").unwrap();
    assert!(tt.multi_stone_suicide_legal());
    let japanese = KataRules::parse("koSIMPLEscoreTERRITORYsui0").unwrap();
    assert_eq!(japanese.tax(), TaxRule::Seki);
    assert_eq!(japanese, KataRules::parse("japanese").unwrap());
    let fpok = KataRules::parse("koSITUATIONALscoreAREAtaxNONEsui1fpok1button0whb0").unwrap();
    assert!(matches!(
        KataRules::parse("koSPIGHT"),
        Err(KataRulesError::Unsupported(_))
    ));
    assert!(fpok.friendly_pass_ok());
    assert_eq!(fpok.ko(), KoRule::Situational);
    assert!(matches!(
        KataRules::parse("koPOSITIONALscoreAREAtaxSEKI"),
        Err(KataRulesError::Unsupported(_))
    ));
    assert!(matches!(
        KataRules::parse("button1"),
        Err(KataRulesError::Unsupported(_))
    ));
    assert!(matches!(
        KataRules::parse("whbN"),
        Err(KataRulesError::Unsupported(_))
    ));
    assert!(matches!(
        KataRules::parse("koFOO"),
        Err(KataRulesError::Parse(_))
    ));
    assert!(matches!(
        KataRules::parse(""),
        Err(KataRulesError::Parse(_))
    ));
}

#[test]
fn territory_and_other_rules_set_their_globals() {
    let rules = KataRules::parse("koSIMPLEscoreTERRITORYtaxSEKIsui0").unwrap();
    let moves = [
        (Color::Black, play(2, 2)),
        (Color::White, play(6, 6)),
        (Color::Black, play(3, 3)),
    ];
    let inputs = v7_inputs(9, 6.5, &rules, &moves).unwrap();
    // White to move; komi 6.5 plus one point for Black's extra stone.
    assert_eq!(inputs.global[5], 7.5 / 20.0);
    assert_eq!(inputs.global[6..12], [0.0, 0.0, 0.0, 1.0, 1.0, 0.0]);
    assert_eq!(
        inputs.global[18], 0.0,
        "no parity wave under territory scoring"
    );
    assert_eq!(channel_sum(&inputs, 18) + channel_sum(&inputs, 19), 0.0);

    let rules = KataRules::parse("koSITUATIONALscoreAREAtaxNONEsui1").unwrap();
    let inputs = v7_inputs(9, 7.5, &rules, &[]).unwrap();
    assert_eq!(inputs.global[6..9], [1.0, -0.5, 1.0]);
}

#[test]
fn bad_input_is_an_error() {
    let rules = KataRules::default();
    assert!(matches!(
        v7_inputs(1, 7.5, &rules, &[]),
        Err(GoError::InvalidSize(1))
    ));
    assert!(matches!(
        v7_inputs(26, 7.5, &rules, &[]),
        Err(GoError::InvalidSize(26))
    ));
    assert!(matches!(
        v7_inputs(9, f32::NAN, &rules, &[]),
        Err(GoError::InvalidKomi(_))
    ));
    let moves = [(Color::Black, play(9, 0))];
    assert!(v7_inputs(9, 7.5, &rules, &moves).is_err());
    let moves = [(Color::Black, play(0, 0)), (Color::White, play(0, 0))];
    assert!(v7_inputs(9, 7.5, &rules, &moves).is_err());
}

/// KataGo's own ladder test positions (`cpp/tests/testboardbasic.cpp`) with
/// its expected results: (name, two-liberty search, board, expected).
const KATAGO_LADDER_CASES: &[(&str, bool, &[&str], &[&str])] = &[
    (
        "Ladders_1_Lib",
        false,
        &[
            "xo.x..oxo",
            "xoxo..o..",
            "xxo......",
            "..o.x....",
            "xo..xox..",
            "o..ooxo..",
            ".....xo..",
            "xoox..xo.",
            ".xxoo.xxo",
        ],
        &[
            "01.0..010",
            "0100..0..",
            "000......",
            "..0.0....",
            "10..000..",
            "0..0000..",
            ".....00..",
            "0000..00.",
            ".1100.001",
        ],
    ),
    (
        "Ladders_2_Libs",
        true,
        &[
            "xo.x..oxo",
            "xo.o..o..",
            "xxo......",
            "..o.x....",
            "xo..xo...",
            "...ooxo..",
            ".....xo..",
            "xoox..xo.",
            ".xx.o.xxo",
        ],
        &[
            "11.1..000",
            "11.0..0..",
            "110......",
            "..0.0....",
            "10..00...",
            "...0010..",
            ".....10..",
            "1110..01.",
            ".11.0.000",
        ],
    ),
    (
        "LaddersKo-1",
        true,
        &[
            "..................",
            "..................",
            "....ox.......ox...",
            "..xooox....xooox..",
            "..xoxox....xoxox..",
            "..xx.x......x.x...",
            "...ox.......ox....",
            "....o.............",
            "..................",
        ],
        &[
            "..................",
            "..................",
            "....10.......00...",
            "..01110....00000..",
            "..01010....00000..",
            "..00.0......0.0...",
            "...00.......00....",
            "....0.............",
            "..................",
        ],
    ),
    (
        "LaddersKo-2",
        true,
        &[
            ".............xo.oo",
            "....x........xxooo",
            "...x.xx.......xxo.",
            "..xoxoxo.......xxo",
            "..xoooxo........xx",
            "...xo......o......",
            "..................",
            "..................",
            ".....x.oo.........",
        ],
        &[
            ".............00.11",
            "....0........00111",
            "...0.00.......001.",
            "..000000.......000",
            "..000000........00",
            "...00......0......",
            "..................",
            "..................",
            ".....0.00.........",
        ],
    ),
    (
        "LaddersKo-2",
        true,
        &[
            "..................",
            "....x.............",
            "...x.xx...........",
            "..xoxoxo..........",
            "..xoooxo..........",
            "...xo......o......",
            ".................x",
            "..................",
            ".....x.oo.........",
        ],
        &[
            "..................",
            "....0.............",
            "...0.00...........",
            "..010100..........",
            "..011100..........",
            "...01......0......",
            ".................0",
            "..................",
            ".....0.00.........",
        ],
    ),
    (
        "LaddersKo-2",
        true,
        &[
            "....xo.......xo...",
            "....xox......xox..",
            "...xo.ox....xo.ox.",
            "...xxoox....xxoox.",
            "..xooox....xooox..",
            ".xo.ox....xo.ox...",
            "..xox......xox....",
            "..xox......xox....",
            "............o.....",
        ],
        &[
            "....01.......01...",
            "....011......011..",
            "...00.10....00.00.",
            "...00110....00000.",
            "..01110....00000..",
            ".00.10....00.00...",
            "..010......000....",
            "..010......000....",
            "............0.....",
        ],
    ),
    (
        "LaddersMultiKo",
        true,
        &[
            ".xxxxxxo.",
            "xoxox.xo.",
            "ooo.oxoo.",
            "..oooo...",
            ".xxxx....",
            "xx.x.xx..",
            "xoxoxox..",
            "xoooooxx.",
            "o.ooo.ox.",
        ],
        &[
            ".0000000.",
            "00000.00.",
            "000.0000.",
            "..0000...",
            ".0000....",
            "00.0.00..",
            "0000000..",
            "00000000.",
            "0.000.00.",
        ],
    ),
    (
        "LaddersBigBoard",
        true,
        &[
            "...................",
            "...................",
            "...................",
            "...x...........x...",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "..............xoo..",
            "...o..........oxx..",
            "...................",
            "...................",
        ],
        &[
            "...................",
            "...................",
            "...................",
            "...0...........0...",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "...................",
            "..............000..",
            "...0..........000..",
            "...................",
            "...................",
        ],
    ),
    (
        "WholeBoardLadder",
        true,
        &[
            "....o..............",
            "o.................o",
            "..................o",
            "...ooxo............",
            "o...oxoooo.o.....o.",
            "oxxxxxxxxxo........",
            "xooo.x....x.......o",
            "x.ooox....xo.......",
            "xoooox....x........",
            "oxxxxxxxxxo.......o",
            "oo...xo..o.........",
            ".o.o.x.o...........",
            "......o............",
            "....o....x.........",
            "o....x...x...xo....",
            ".....x...x...x.....",
            ".....x...x...x.....",
            "....o.xxxxxxxo...o.",
            ".o....ooooooo.o....",
        ],
        &[
            "....0..............",
            "0.................0",
            "..................0",
            "...0000............",
            "0...000000.0.....0.",
            "00000000000........",
            "0000.0....0.......0",
            "0.0000....00.......",
            "000000....0........",
            "00000000000.......0",
            "00...00..0.........",
            ".0.0.0.0...........",
            "......0............",
            "....0....0.........",
            "0....0...0...00....",
            ".....0...0...0.....",
            ".....0...0...0.....",
            "....0.00000000...0.",
            ".0....1111111.0....",
        ],
    ),
    (
        "CubicLadder_not_far_from_max_node_budget",
        true,
        &[
            "...oooooooo.....o.o",
            "xxx.xxxxx...ooooo.o",
            "o.....oo.......xxx.",
            ".......ooo......o..",
            "o.o................",
            "..o......o......o.o",
            "..o.......x.....o..",
            ".........ox........",
            ".......x.x.o.o.....",
            "oxx.....x.o........",
            "ox......xo.........",
            "..xo.....x.........",
            "o...x..............",
            "...................",
            "...................",
            "o...............o..",
            ".........xo.....o..",
            "...oo....xox.x...x.",
            "......x.ooox.x..ooo",
        ],
        &[
            "...00000000.....0.0",
            "000.00000...00000.0",
            "0.....00.......000.",
            ".......000......0..",
            "0.0................",
            "..0......0......0.0",
            "..0.......0.....0..",
            ".........00........",
            ".......0.0.0.0.....",
            "000.....0.0........",
            "00......01.........",
            "..00.....0.........",
            "0...0..............",
            "...................",
            "...................",
            "0...............0..",
            ".........00.....0..",
            "...00....000.0...0.",
            "......0.0000.0..000",
        ],
    ),
    (
        "Failing_polynomial_ladder_due_to_max_node_budget",
        true,
        &[
            "x.oooox.oooox.ooooo",
            "oxxxxooxxxxooxxxxxo",
            "ox..xxox..xxox...xo",
            "o....xox...xox...xo",
            "......ox....ox...xo",
            ".................xo",
            "...............xxoo",
            "...............ooox",
            "................xx.",
            ".................xo",
            ".................xo",
            ".................xo",
            "...............xxoo",
            "...............ooox",
            "................xx.",
            ".................xo",
            ".................xo",
            ".x...x..........x.o",
            "...............ooo.",
        ],
        &[
            "0.00000.00000.00000",
            "0000000000000000000",
            "00..0000..0000...00",
            "0....000...000...00",
            "......00....00...00",
            ".................00",
            "...............0000",
            "...............0000",
            "................00.",
            ".................00",
            ".................00",
            ".................00",
            "...............0000",
            "...............0000",
            "................00.",
            ".................00",
            ".................00",
            ".0...0..........0.0",
            "...............000.",
        ],
    ),
];
/// KataGo's own pass-alive area test positions (`cpp/tests/testboardarea.cpp`):
/// (name, board, expected area for the eight option combinations, in
/// KataGo's order).
const KATAGO_AREA_CASES: &[(&str, &[&str], &[&str])] = &[
    (
        "Area_1",
        &[
            "..o.o.xx.",
            ".oooo.x.x",
            "oo.....xx",
            ".........",
            ".........",
            "x......oo",
            ".xx...o.o",
            "x.x..oo.o",
            ".x.x.o.o.",
        ],
        &[
            "......XXX",
            "......XXX",
            ".......XX",
            ".........",
            ".........",
            ".......OO",
            "......OOO",
            ".....OOOO",
            ".....OOOO",
            "......XXX",
            "......XXX",
            ".......XX",
            ".........",
            ".........",
            ".......OO",
            "......OOO",
            ".....OOOO",
            ".....OOOO",
            "......XXX",
            "......XXX",
            ".......XX",
            ".........",
            ".........",
            ".......OO",
            "......OOO",
            ".....OOOO",
            ".....OOOO",
            "......XXX",
            "......XXX",
            ".......XX",
            ".........",
            ".........",
            ".......OO",
            "......OOO",
            ".....OOOO",
            ".....OOOO",
            "OO.O..XXX",
            "O.....XXX",
            ".......XX",
            ".........",
            ".........",
            ".......OO",
            "X.....OOO",
            ".X...OOOO",
            "X.X..OOOO",
            "OO.O..XXX",
            "O.....XXX",
            ".......XX",
            ".........",
            ".........",
            ".......OO",
            "X.....OOO",
            ".X...OOOO",
            "X.X..OOOO",
            "OOOOO.XXX",
            "OOOOO.XXX",
            "OO.....XX",
            ".........",
            ".........",
            "X......OO",
            "XXX...OOO",
            "XXX..OOOO",
            "XXXX.OOOO",
            "OOOOO.XXX",
            "OOOOO.XXX",
            "OO.....XX",
            ".........",
            ".........",
            "X......OO",
            "XXX...OOO",
            "XXX..OOOO",
            "XXXX.OOOO",
        ],
    ),
    (
        "Area_2",
        &[
            "x.oooooo.",
            "oox..xx.o",
            "o...xox.o",
            "o...x.x.o",
            "oxxx.xx.o",
            "ox..x...o",
            "o.xox...o",
            "o.xxx...o",
            ".ooooooo.",
        ],
        &[
            "OOOOOOOOO",
            "OO...XX.O",
            "O...XXX.O",
            "O...XXX.O",
            "OXXXXXX.O",
            "OXXXX...O",
            "O.XXX...O",
            "O.XXX...O",
            "OOOOOOOOO",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            "OOOOOOOOO",
            "OO...XX.O",
            "O...XXX.O",
            "O...XXX.O",
            "OXXXXXX.O",
            "OXXXX...O",
            "O.XXX...O",
            "O.XXX...O",
            "OOOOOOOOO",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            "OOOOOOOOO",
            "OO...XX.O",
            "O...XXX.O",
            "O...XXX.O",
            "OXXXXXX.O",
            "OXXXX...O",
            "O.XXX...O",
            "O.XXX...O",
            "OOOOOOOOO",
            "........O",
            ".........",
            ".........",
            ".........",
            "....X....",
            ".........",
            ".........",
            ".........",
            "O.......O",
            "OOOOOOOOO",
            "OOX..XX.O",
            "O...XXX.O",
            "O...XXX.O",
            "OXXXXXX.O",
            "OXXXX...O",
            "O.XXX...O",
            "O.XXX...O",
            "OOOOOOOOO",
            "X.OOOOOOO",
            "OOX..XX.O",
            "O...XOX.O",
            "O...X.X.O",
            "OXXXXXX.O",
            "OX..X...O",
            "O.XOX...O",
            "O.XXX...O",
            "OOOOOOOOO",
        ],
    ),
    (
        "Area_2",
        &[
            "..oooooo.",
            "oox..xx.o",
            "o...xox.o",
            "o...x.x.o",
            "oxxx.xx.o",
            "ox..x...o",
            "o.x.x...o",
            "o.xxx...o",
            ".ooooooo.",
        ],
        &[
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            ".........",
            "OO......O",
            ".........",
            ".........",
            ".........",
            "....X....",
            "..XX.....",
            "...X.....",
            ".........",
            "O.......O",
            "OO......O",
            ".........",
            ".........",
            ".........",
            "....X....",
            "..XX.....",
            "...X.....",
            ".........",
            "O.......O",
            "OOOOOOOOO",
            "OOX..XX.O",
            "O...XOX.O",
            "O...X.X.O",
            "OXXXXXX.O",
            "OXXXX...O",
            "O.XXX...O",
            "O.XXX...O",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "OOX..XX.O",
            "O...XOX.O",
            "O...X.X.O",
            "OXXXXXX.O",
            "OXXXX...O",
            "O.XXX...O",
            "O.XXX...O",
            "OOOOOOOOO",
        ],
    ),
    (
        "Area_Rect",
        &["x.ooxxxo.xx.", "oo.ox.xoox.x", "ooxox.xo.ox."],
        &[
            "OOOO.....XXX",
            "OOOO.....XXX",
            "OOOO......XX",
            ".........XXX",
            ".........XXX",
            "..........XX",
            "OOOO.....XXX",
            "OOOO.....XXX",
            "OOOO......XX",
            ".........XXX",
            ".........XXX",
            "..........XX",
            "OOOO.....XXX",
            "OOOO.X...XXX",
            "OOOO.X..O.XX",
            ".........XXX",
            ".....X...XXX",
            ".....X..O.XX",
            "OOOOXXXO.XXX",
            "OOOOXXXOOXXX",
            "OOOOXXXOOOXX",
            "X.OOXXXO.XXX",
            "OO.OXXXOOXXX",
            "OOXOXXXOOOXX",
        ],
    ),
    (
        "Pass_alive_bug-derived_test_case",
        &[
            ".o.ooxxo.",
            "o.o.ooxxo",
            "oooooox.x",
            "oxo.ooxxx",
            "xxooooxx.",
            ".xoooxxx.",
            ".xoooooox",
            "oxxoxxxxx",
            ".xxx.x...",
        ],
        &[
            "OOOOOXXXX",
            "OOOOOOXXX",
            "OOOOOOXXX",
            "OXOOOOXXX",
            "XXOOOOXXX",
            "XXOOOXXXX",
            "XXOOOOOOX",
            "XXXOXXXXX",
            "XXXXXXXXX",
            "OOOOOXXXX",
            "OOOOOOXXX",
            "OOOOOOXXX",
            "OXOOOOXXX",
            "XXOOOOXXX",
            "XXOOOXXXX",
            "XXOOOOOOX",
            "XXXOXXXXX",
            "XXXXXXXXX",
            "OOOOOXXXX",
            "OOOOOOXXX",
            "OOOOOOXXX",
            "OXOOOOXXX",
            "XXOOOOXXX",
            "XXOOOXXXX",
            "XXOOOOOOX",
            "XXXOXXXXX",
            "XXXXXXXXX",
            "OOOOOXXXX",
            "OOOOOOXXX",
            "OOOOOOXXX",
            "OXOOOOXXX",
            "XXOOOOXXX",
            "XXOOOXXXX",
            "XXOOOOOOX",
            "XXXOXXXXX",
            "XXXXXXXXX",
            "OOOOOXXXX",
            "OOOOOOXXX",
            "OOOOOOXXX",
            "OXOOOOXXX",
            "XXOOOOXXX",
            "XXOOOXXXX",
            "XXOOOOOOX",
            "XXXOXXXXX",
            "XXXXXXXXX",
            "OOOOOXXXX",
            "OOOOOOXXX",
            "OOOOOOXXX",
            "OXOOOOXXX",
            "XXOOOOXXX",
            "XXOOOXXXX",
            "XXOOOOOOX",
            "XXXOXXXXX",
            "XXXXXXXXX",
            "OOOOOXXXX",
            "OOOOOOXXX",
            "OOOOOOXXX",
            "OXOOOOXXX",
            "XXOOOOXXX",
            "XXOOOXXXX",
            "XXOOOOOOX",
            "XXXOXXXXX",
            "XXXXXXXXX",
            "OOOOOXXXX",
            "OOOOOOXXX",
            "OOOOOOXXX",
            "OXOOOOXXX",
            "XXOOOOXXX",
            "XXOOOXXXX",
            "XXOOOOOOX",
            "XXXOXXXXX",
            "XXXXXXXXX",
        ],
    ),
    (
        "One_more_simple_test_case",
        &[
            "..ooo..", "..xxx..", "xxxxxxx", ".....x.", "ooooox.", ".o..oxx", ".x..ox.",
        ],
        &[
            ".......", "..XXX..", "XXXXXXX", ".....XX", ".....XX", ".....XX", ".....XX", ".......",
            "..XXX..", "XXXXXXX", ".....XX", ".....XX", ".....XX", ".....XX", ".......", "..XXX..",
            "XXXXXXX", ".....XX", ".....XX", ".....XX", ".....XX", ".......", "..XXX..", "XXXXXXX",
            ".....XX", ".....XX", ".....XX", ".....XX", ".......", "..XXX..", "XXXXXXX", ".....XX",
            ".....XX", ".....XX", ".....XX", ".......", "..XXX..", "XXXXXXX", ".....XX", ".....XX",
            ".....XX", ".....XX", "..OOO..", "..XXX..", "XXXXXXX", ".....XX", "OOOOOXX", ".O..OXX",
            ".X..OXX", "..OOO..", "..XXX..", "XXXXXXX", ".....XX", "OOOOOXX", ".O..OXX", ".X..OXX",
        ],
    ),
    (
        "Bug-derived_test_case,_in_more_colors_and_orientations",
        &[
            ".oxo.oxo.",
            "ooxoooxxo",
            "xxxxxxxxx",
            ".x.x.....",
            "xxxoooooo",
            "..o.xo.o.",
            "ooooooooo",
            "xooxxxoxx",
            ".xox.xox.",
        ],
        &[
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXX.....",
            "XXXOOOOOO",
            "..OOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXX.....",
            "XXXOOOOOO",
            "..OOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXX.....",
            "XXXOOOOOO",
            "..OOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXX.....",
            "XXXOOOOOO",
            "..OOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXX.....",
            "XXXOOOOOO",
            "..OOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXX.....",
            "XXXOOOOOO",
            "..OOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXX.....",
            "XXXOOOOOO",
            "..OOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXXXXXXX",
            "XXXX.....",
            "XXXOOOOOO",
            "..OOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
            "OOOOOOOOO",
        ],
    ),
];
