#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stderr)] // test code
//! The project's NNUE forward pass against Stockfish 15.1's own `eval` on
//! its own net: every bucket's PSQT, positional and total contribution
//! and the NNUE evaluation, as Stockfish prints them, for positions of
//! every bucket and both sides to move.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::{program, Ws};
use qarena_models::nnue_eval::{format_aligned, trace_rows, Board, NnueNet, NORMALIZE_TO_PAWN};

const FENS: &[&str] = &[
    "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1",
    "r1bqkbnr/pppp1ppp/2n5/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 2 3",
    "r1bqkb1r/pppp1ppp/2n2n2/4p3/2B1P3/5N2/PPPP1PPP/RNBQK2R b KQkq - 4 4",
    "r2q1rk1/ppp2ppp/2np1n2/2b1p1B1/2B1P1b1/2NP1N2/PPP2PPP/R2Q1RK1 w - - 6 8",
    "2kr3r/ppp2ppp/2n5/2b1p3/4P1b1/2NP4/PPP2PPP/R1B1K2R b KQ - 1 12",
    "8/pp3kpp/2p5/3p4/3P4/2P3P1/PP3K1P/8 w - - 0 30",
    "8/5k2/8/3K4/8/8/6P1/8 b - - 0 50",
    "r4rk1/1pp2ppp/p1n5/4p3/4P1q1/2P2N2/PP3PPP/R2QR1K1 b - - 3 16",
    "6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 40",
    "3q1rk1/5ppp/8/8/8/8/5PPP/3Q1RK1 b - - 0 35",
    "4k3/8/8/8/8/8/8/4K2R w K - 0 1",
    "rnb1kbnr/pppp1ppp/8/4p3/5PPq/8/PPPPP2P/RNBQKBNR w KQkq - 1 3",
    "7k/8/8/8/8/8/8/K7 b - - 0 1",
    "8/8/4k3/3p4/3P4/4K3/5N2/8 w - - 0 1",
    "8/2r5/4k3/3p4/3P4/4K3/5N2/8 b - - 0 1",
    "r1bq1rk1/pp2ppbp/2np1np1/8/3NP3/2N1BP2/PPPQ2PP/R3KB1R w KQ - 3 9",
];

/// Stockfish's `eval` for `fen`: the bucket rows and the NNUE evaluation
/// line's number (None in check).
fn stockfish_eval(net: &std::path::Path, fen: &str) -> Option<(Vec<[String; 3]>, String)> {
    let mut child = Command::new(program("stockfish"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        let mut i = child.stdin.take().unwrap();
        writeln!(i, "setoption name EvalFile value {}", net.display()).unwrap();
        writeln!(i, "position fen {fen}").unwrap();
        writeln!(i, "eval").unwrap();
        writeln!(i, "quit").unwrap();
    }
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut rows = Vec::new();
    let mut nnue = None;
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("NNUE evaluation") {
            nnue = rest.split_whitespace().next().map(str::to_string);
        }
        let cells: Vec<&str> = line.split('|').collect();
        if cells.len() >= 5 && cells[1].trim().parse::<usize>().is_ok() {
            // "|  0         |  -  0.04   |  +  0.43   |  +  0.39   |"
            let cell = |c: &str| c.trim_end().trim_start_matches("  ").trim_end().to_string();
            rows.push([cell(cells[2]), cell(cells[3]), cell(cells[4])]);
        }
    }
    child.wait().unwrap();
    nnue.map(|n| (rows, n))
}

/// Positions of random legal play from the start (seeded), not in check,
/// spread over the game's length and so over the buckets.
fn random_positions(n: usize, seed: u64) -> Vec<String> {
    use shakmaty::{fen::Fen, Chess, EnPassantMode, Position};
    let mut z = seed;
    let mut next = |m: usize| {
        z = z
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((z >> 33) as usize) % m.max(1)
    };
    let mut out = Vec::new();
    while out.len() < n {
        let mut pos = Chess::default();
        let plies = 8 + next(150);
        for _ in 0..plies {
            let moves = pos.legal_moves();
            if moves.is_empty() {
                break;
            }
            let m = moves[next(moves.len())].clone();
            pos.play_unchecked(&m);
        }
        if !pos.is_check() && !pos.legal_moves().is_empty() {
            out.push(Fen::from_position(pos, EnPassantMode::Legal).to_string());
        }
    }
    out
}

#[test]
fn the_forward_pass_evaluates_every_bucket_as_stockfish_does() {
    let ws = Ws::new();
    let net = common::export_stockfish_net(&ws);
    let model = qarena_models::Model::load(&net).unwrap();
    let started = std::time::Instant::now();
    let nn = NnueNet::from_model(&model).unwrap();
    eprintln!("net ready in {:.1} s", started.elapsed().as_secs_f64());
    let mut compared = 0;
    let random = random_positions(40, 17);
    let mut buckets = std::collections::BTreeSet::new();
    for fen in FENS
        .iter()
        .copied()
        .chain(random.iter().map(String::as_str))
    {
        let board = Board::from_fen(fen).unwrap();
        let Some((rows, nnue)) = stockfish_eval(&net, fen) else {
            continue; // in check: Stockfish does not evaluate
        };
        assert_eq!(rows.len(), 8, "{fen}");
        let ours = trace_rows(&nn, &board);
        for (b, (theirs, mine)) in rows.iter().zip(&ours).enumerate() {
            let norm = |s: &str| s.split_whitespace().collect::<String>();
            for k in 0..3 {
                assert_eq!(
                    norm(&mine[k]),
                    norm(&theirs[k]),
                    "{fen}: bucket {b} column {k}"
                );
            }
        }
        let v = nn.evaluate(&board);
        let white = if board.white_to_move { v } else { -v };
        let printed = format!("{:+.2}", f64::from(white) / f64::from(NORMALIZE_TO_PAWN));
        assert_eq!(printed, nnue, "{fen}: NNUE evaluation");
        compared += 1;
        buckets.insert(board.bucket());
        eprintln!(
            "{fen}: bucket {} NNUE {nnue} ({})",
            board.bucket(),
            format_aligned(v)
        );
    }
    assert!(compared >= 50, "{compared}");
    assert_eq!(buckets.len(), 8, "positions of every bucket: {buckets:?}");
    // Bad input is refused with a reason.
    for bad in [
        "",
        "8/8/8 w",
        "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNX w",
        "8/8/8/8/8/8/8/8 w",
    ] {
        assert!(Board::from_fen(bad).is_err(), "{bad}");
    }
}

/// [`random_positions`] as boards.
fn random_boards(n: usize, seed: u64) -> Vec<Board> {
    random_positions(n, seed)
        .iter()
        .map(|f| Board::from_fen(f).unwrap())
        .collect()
}

/// Mean absolute difference of two nets' evaluations, in internal units.
fn eval_error(a: &NnueNet, b: &NnueNet, boards: &[Board]) -> f64 {
    boards
        .iter()
        .map(|x| f64::from((a.evaluate(x) - b.evaluate(x)).abs().min(2000)))
        .sum::<f64>()
        / boards.len() as f64
}

#[test]
fn error_compensating_rounding_of_the_feature_transformer_beats_rounding_to_nearest() {
    let ws = Ws::new();
    let net = common::export_stockfish_net(&ws);
    let model = qarena_models::Model::load(&net).unwrap();
    let original = NnueNet::from_model(&model).unwrap();
    // Calibration and evaluation positions from different seeds.
    // (Binary, sparse inputs: a king bucket's 704 features need many
    // positions before their co-occurrences say much.)
    let calib = random_boards(40_000, 101);
    let held_out = random_boards(300, 202);
    let index = model.tensor_index("ft.weight").unwrap();
    let info = model.catalogue()[index].clone();
    let values = model.try_tensor_values(index).unwrap();
    let spec = qarena_quant::QuantSpec::new("levels15".parse().unwrap());
    let variant = |q: &[f32]| {
        let mut m = qarena_models::Model::load(&net).unwrap();
        m.set_tensor_values(index, q).unwrap();
        NnueNet::from_model(&m).unwrap()
    };
    let rtn = qarena_quant::quantize_tensor(&info, &values, &spec).unwrap();
    let started = std::time::Instant::now();
    let hessians = qarena_models::nnue_eval::ft_hessians(&calib);
    let gptq = qarena_models::nnue_eval::gptq_feature_transformer(
        &model,
        &spec,
        &hessians,
        &qarena_quant::GptqSettings {
            damp: 0.1,
            ..qarena_quant::GptqSettings::default()
        },
    )
    .unwrap();
    eprintln!(
        "GPTQ of the feature transformer: {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(gptq.bytes, rtn.bytes);
    assert!(gptq
        .values
        .iter()
        .all(|v| v.fract() == 0.0 && v.abs() <= 32767.0));
    let (e_rtn, e_gptq) = (
        eval_error(&original, &variant(&rtn.values), &held_out),
        eval_error(&original, &variant(&gptq.values), &held_out),
    );
    eprintln!("ft ±15 levels: mean |Δ eval| nearest {e_rtn:.1}, GPTQ {e_gptq:.1} (internal units)");
    let corrected = |q: &[f32]| {
        let b = qarena_models::nnue_eval::ft_bias_correction(&model, q, &calib).unwrap();
        let mut m = qarena_models::Model::load(&net).unwrap();
        m.set_tensor_values(index, q).unwrap();
        let bi = m.tensor_index("ft.bias").unwrap();
        m.set_tensor_values(bi, &b).unwrap();
        NnueNet::from_model(&m).unwrap()
    };
    let (c_rtn, c_gptq) = (
        eval_error(&original, &corrected(&rtn.values), &held_out),
        eval_error(&original, &corrected(&gptq.values), &held_out),
    );
    eprintln!("with bias correction: nearest {c_rtn:.1}, GPTQ {c_gptq:.1}");
    assert!(c_rtn < e_rtn && c_gptq <= e_gptq, "{c_rtn} {c_gptq}");
    assert!(e_gptq < 0.9 * e_rtn, "GPTQ {e_gptq} vs nearest {e_rtn}");
}

#[test]
fn error_compensating_rounding_of_fc_0_beats_rounding_to_nearest() {
    let ws = Ws::new();
    let net = common::export_stockfish_net(&ws);
    let model = qarena_models::Model::load(&net).unwrap();
    let original = NnueNet::from_model(&model).unwrap();
    let calib = random_boards(20_000, 303);
    let held_out = random_boards(300, 202);
    let started = std::time::Instant::now();
    let hessians = qarena_models::nnue_eval::fc0_hessians(&original, &calib);
    eprintln!("fc_0 Hessians: {:.1} s", started.elapsed().as_secs_f64());
    // fc_0 of every stack at ±7 levels per output row (the notes' fc4).
    let spec = qarena_quant::QuantSpec::new("levels7".parse().unwrap());
    let settings = qarena_quant::GptqSettings {
        damp: 0.1,
        ..qarena_quant::GptqSettings::default()
    };
    let (mut rtn, mut gptq) = (
        qarena_models::Model::load(&net).unwrap(),
        qarena_models::Model::load(&net).unwrap(),
    );
    for (b, h) in hessians.iter().enumerate() {
        let name = format!("stack{b}.fc_0.weight");
        let index = model.tensor_index(&name).unwrap();
        let info = model.catalogue()[index].clone();
        let values = model.try_tensor_values(index).unwrap();
        let r = qarena_quant::quantize_tensor(&info, &values, &spec).unwrap();
        let g = qarena_quant::quantize_gptq(&info, &values, &spec, h, &settings).unwrap();
        assert_eq!(r.bytes, g.bytes);
        rtn.set_tensor_values(index, &r.values).unwrap();
        gptq.set_tensor_values(index, &g.values).unwrap();
    }
    let (e_rtn, e_gptq) = (
        eval_error(&original, &NnueNet::from_model(&rtn).unwrap(), &held_out),
        eval_error(&original, &NnueNet::from_model(&gptq).unwrap(), &held_out),
    );
    eprintln!(
        "fc_0 ±7 levels: mean |Δ eval| nearest {e_rtn:.1}, GPTQ {e_gptq:.1} (internal units)"
    );
    assert!(e_gptq < 0.9 * e_rtn, "GPTQ {e_gptq} vs nearest {e_rtn}");
}
