//! The forward pass of a Stockfish 15.1 NNUE network in its own integer
//! arithmetic, so that a net (or a variant of it, in memory) evaluates a
//! position exactly as Stockfish does: HalfKAv2_hm features of both
//! perspectives summed into int16 accumulators (wrapping, as Stockfish's
//! do) and int32 PSQT accumulators; the pairwise clipped product to 1024
//! bytes; the layer stack of the position's bucket (`(pieces − 1) / 4`):
//! fc_0 (1024 → 16), square and plain clipped ReLU of outputs 0–14, fc_1
//! (30 → 32), clipped ReLU, fc_2 (32 → 1) plus fc_0's output 15 as a skip
//! term. Values are from the side to move's point of view, in Stockfish's
//! internal units (`NORMALIZE_TO_PAWN` of them make a pawn in 15.1).

use crate::{Format, Model, ModelError, Result};

use crate::nnue::{FC0_OUT, FC1_IN, FC1_OUT, FEATURES, L1, PSQT_BUCKETS as BUCKETS};

const HALF: usize = L1 / 2;
/// Stockfish's output scale and weight scale bits.
const OUTPUT_SCALE: i32 = 16;
const WEIGHT_SCALE_BITS: i32 = 6;
/// Internal units per pawn in Stockfish 15.1's printed evaluations.
pub const NORMALIZE_TO_PAWN: i32 = 361;

struct Stack {
    fc0_b: Vec<i32>,
    /// `[16][1024]`.
    fc0_w: Vec<i8>,
    fc1_b: Vec<i32>,
    /// `[32][30]`.
    fc1_w: Vec<i8>,
    fc2_b: i32,
    fc2_w: Vec<i8>,
}

/// A net ready to evaluate positions.
pub struct NnueNet {
    ft_bias: Vec<i16>,
    /// Feature-major: `ft[f * 1024 + j]`.
    ft: Vec<i16>,
    /// `psqt[f * 8 + bucket]`.
    psqt: Vec<i32>,
    stacks: Vec<Stack>,
}

impl std::fmt::Debug for NnueNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NnueNet").finish_non_exhaustive()
    }
}

/// A position as the net sees it: pieces on squares (a1 = 0 … h8 = 63)
/// and the side to move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Board {
    /// `(square, piece)`; pieces as Stockfish numbers them: 1–6 white
    /// pawn, knight, bishop, rook, queen, king; 9–14 the black ones.
    pub pieces: Vec<(u8, u8)>,
    pub white_to_move: bool,
}

impl Board {
    /// The board and side to move of a FEN (the other fields are not
    /// needed). Errors name what is wrong.
    pub fn from_fen(fen: &str) -> std::result::Result<Board, String> {
        let mut fields = fen.split_whitespace();
        let placement = fields.next().ok_or("an empty FEN")?;
        let white_to_move = match fields.next().unwrap_or("w") {
            "w" => true,
            "b" => false,
            s => return Err(format!("side to move `{s}` is not w or b")),
        };
        let ranks: Vec<&str> = placement.split('/').collect();
        if ranks.len() != 8 {
            return Err(format!("{} ranks instead of 8", ranks.len()));
        }
        let mut pieces = Vec::new();
        for (i, rank) in ranks.iter().enumerate() {
            let r = 7 - i as u8;
            let mut file = 0u8;
            for c in rank.chars() {
                if let Some(d) = c.to_digit(10) {
                    file += d as u8;
                    continue;
                }
                let kind = match c.to_ascii_lowercase() {
                    'p' => 1,
                    'n' => 2,
                    'b' => 3,
                    'r' => 4,
                    'q' => 5,
                    'k' => 6,
                    _ => return Err(format!("`{c}` is not a piece")),
                };
                if file > 7 {
                    return Err(format!("rank {} has more than 8 squares", r + 1));
                }
                let piece = if c.is_ascii_uppercase() {
                    kind
                } else {
                    kind + 8
                };
                pieces.push((r * 8 + file, piece));
                file += 1;
            }
            if file != 8 {
                return Err(format!("rank {} has {file} squares", r + 1));
            }
        }
        for king in [6, 14] {
            if pieces.iter().filter(|(_, p)| *p == king).count() != 1 {
                return Err("each side needs exactly one king".into());
            }
        }
        if pieces.len() > 32 {
            return Err(format!("{} pieces (at most 32)", pieces.len()));
        }
        Ok(Board {
            pieces,
            white_to_move,
        })
    }

    fn king(&self, white: bool) -> u8 {
        let k = if white { 6 } else { 14 };
        self.pieces
            .iter()
            .find(|(_, p)| *p == k)
            .map_or(0, |(s, _)| *s)
    }

    /// The layer stack and PSQT bucket the position uses.
    pub fn bucket(&self) -> usize {
        (self.pieces.len().max(1) - 1) / 4
    }
}

/// The feature of `piece` on `sq` seen from `white`'s side with its king
/// on `ksq` (HalfKAv2_hm).
fn feature(white: bool, sq: u8, piece: u8, ksq: u8) -> usize {
    let (sq, ksq) = (usize::from(sq), usize::from(ksq));
    // Orient: mirror so the king stands on files e–h, and flip ranks for
    // black.
    let orient = match (white, ksq % 8 < 4) {
        (true, true) => 7,
        (true, false) => 0,
        (false, true) => 63,
        (false, false) => 56,
    };
    let kind = usize::from(piece & 7);
    let ours = (piece < 8) == white;
    // 11 planes of 64: own and their P, N, B, R, Q interleaved, one king
    // plane for both.
    let plane = if kind == 6 {
        10
    } else {
        2 * (kind - 1) + usize::from(!ours)
    };
    // Stockfish's king buckets: 32 of them, mirrored to files a–d, rank 1
    // of white's side holding 28–31 and rank 8 holding 0–3 (the other way
    // round for black).
    let (kr, kf) = (ksq / 8, ksq % 8);
    let kf = if kf < 4 { kf } else { 7 - kf };
    let bucket = if white {
        (7 - kr) * 4 + kf
    } else {
        kr * 4 + kf
    };
    (sq ^ orient) + plane * 64 + bucket * 704
}

/// The index of tensor `name`, or an error naming it.
fn index_of(model: &Model, name: &str) -> Result<usize> {
    model
        .tensor_index(name)
        .ok_or_else(|| ModelError::NotEvaluable {
            path: model.path().to_path_buf(),
            reason: format!("tensor {name} is missing"),
        })
}

fn ints<T: TryFrom<i64>>(model: &Model, name: &str) -> Result<Vec<T>> {
    let index = index_of(model, name)?;
    let values = model.try_tensor_values(index)?;
    values
        .iter()
        .map(|v| {
            let i = *v as i64;
            if i as f32 != *v {
                return None;
            }
            T::try_from(i).ok()
        })
        .collect::<Option<Vec<T>>>()
        .ok_or_else(|| ModelError::NotEvaluable {
            path: model.path().to_path_buf(),
            reason: format!("tensor {name} holds a value its integer type cannot"),
        })
}

impl NnueNet {
    /// The net of a loaded (possibly modified) NNUE model.
    pub fn from_model(model: &Model) -> Result<NnueNet> {
        if model.format() != Format::Nnue {
            return Err(ModelError::NotEvaluable {
                path: model.path().to_path_buf(),
                reason: "not a Stockfish NNUE network".into(),
            });
        }
        let ft_t: Vec<i16> = ints(model, "ft.weight")?;
        let mut ft = vec![0i16; FEATURES * L1];
        for j in 0..L1 {
            for f in 0..FEATURES {
                ft[f * L1 + j] = ft_t[j * FEATURES + f];
            }
        }
        let psqt_t: Vec<i32> = ints(model, "ft.psqt")?;
        let mut psqt = vec![0i32; FEATURES * BUCKETS];
        for b in 0..BUCKETS {
            for f in 0..FEATURES {
                psqt[f * BUCKETS + b] = psqt_t[b * FEATURES + f];
            }
        }
        let mut stacks = Vec::with_capacity(BUCKETS);
        for b in 0..BUCKETS {
            let t = |n: &str| format!("stack{b}.{n}");
            stacks.push(Stack {
                fc0_b: ints(model, &t("fc_0.bias"))?,
                fc0_w: ints(model, &t("fc_0.weight"))?,
                fc1_b: ints(model, &t("fc_1.bias"))?,
                fc1_w: ints(model, &t("fc_1.weight"))?,
                fc2_b: ints::<i32>(model, &t("fc_2.bias"))?
                    .first()
                    .copied()
                    .unwrap_or(0),
                fc2_w: ints(model, &t("fc_2.weight"))?,
            });
        }
        Ok(NnueNet {
            ft_bias: ints(model, "ft.bias")?,
            ft,
            psqt,
            stacks,
        })
    }

    /// The feature transformer's output (the layer stacks' input) and the
    /// PSQT accumulators of the side to move and the other side.
    fn transform(&self, board: &Board) -> ([u8; L1], [[i32; BUCKETS]; 2]) {
        // Accumulators of white's and black's perspective.
        let mut acc = [self.ft_bias.clone(), self.ft_bias.clone()];
        let mut pacc = [[0i32; BUCKETS]; 2];
        for (p, white) in [(0, true), (1, false)] {
            let ksq = board.king(white);
            for (sq, piece) in &board.pieces {
                let f = feature(white, *sq, *piece, ksq);
                let w = &self.ft[f * L1..(f + 1) * L1];
                for (a, x) in acc[p].iter_mut().zip(w) {
                    *a = a.wrapping_add(*x);
                }
                for (a, x) in pacc[p]
                    .iter_mut()
                    .zip(&self.psqt[f * BUCKETS..(f + 1) * BUCKETS])
                {
                    *a = a.wrapping_add(*x);
                }
            }
        }
        let (us, them) = if board.white_to_move { (0, 1) } else { (1, 0) };
        let mut input = [0u8; L1];
        for (half, side) in [us, them].into_iter().enumerate() {
            for j in 0..HALF {
                let s0 = i32::from(acc[side][j]).clamp(0, 127);
                let s1 = i32::from(acc[side][j + HALF]).clamp(0, 127);
                input[half * HALF + j] = (s0 * s1 / 128) as u8;
            }
        }
        (input, [pacc[us], pacc[them]])
    }

    /// The input of the layer stacks (fc_0's input) for `board`.
    pub fn stack_input(&self, board: &Board) -> [u8; L1] {
        self.transform(board).0
    }

    /// For every bucket, `(psqt, positional)` before the division by the
    /// output scale, from the side to move's point of view.
    pub fn raw(&self, board: &Board) -> [(i32, i32); BUCKETS] {
        let (input, [us, them]) = self.transform(board);
        let mut out = [(0, 0); BUCKETS];
        for (b, o) in out.iter_mut().enumerate() {
            let psqt = (us[b] - them[b]) / 2;
            *o = (psqt, self.stacks[b].propagate(&input));
        }
        out
    }

    /// fc_1's input in the position's own layer stack.
    pub fn fc1_input(&self, board: &Board) -> [i32; FC1_IN] {
        let (input, _) = self.transform(board);
        self.stacks[board.bucket().min(BUCKETS - 1)]
            .fc1_input(&input)
            .1
    }

    /// Stockfish's NNUE evaluation (`NNUE::evaluate(pos, false)`): the
    /// position's bucket, side to move's point of view.
    pub fn evaluate(&self, board: &Board) -> i32 {
        let (psqt, positional) = self.raw(board)[board.bucket()];
        (psqt + positional) / OUTPUT_SCALE
    }
}

impl Stack {
    /// fc_0's outputs and fc_1's input (the squared and the clipped
    /// activations of fc_0's first 15 outputs).
    fn fc1_input(&self, input: &[u8; L1]) -> ([i32; FC0_OUT], [i32; FC1_IN]) {
        let mut fc0 = [0i32; FC0_OUT];
        for (i, o) in fc0.iter_mut().enumerate() {
            let w = &self.fc0_w[i * L1..(i + 1) * L1];
            *o = self.fc0_b[i]
                + w.iter()
                    .zip(input)
                    .map(|(w, x)| i32::from(*w) * i32::from(*x))
                    .sum::<i32>();
        }
        let mut act = [0i32; FC1_IN];
        for i in 0..FC0_OUT - 1 {
            let x = i64::from(fc0[i]);
            act[i] = ((x * x) >> (2 * WEIGHT_SCALE_BITS + 7)).min(127) as i32;
            act[FC0_OUT - 1 + i] = (fc0[i] >> WEIGHT_SCALE_BITS).clamp(0, 127);
        }
        (fc0, act)
    }

    fn propagate(&self, input: &[u8; L1]) -> i32 {
        let (fc0, act) = self.fc1_input(input);
        let mut fc1 = [0i32; FC1_OUT];
        for (i, o) in fc1.iter_mut().enumerate() {
            let w = &self.fc1_w[i * FC1_IN..(i + 1) * FC1_IN];
            let sum: i32 = w.iter().zip(&act).map(|(w, x)| i32::from(*w) * x).sum();
            *o = ((self.fc1_b[i] + sum) >> WEIGHT_SCALE_BITS).clamp(0, 127);
        }
        let fc2 = self.fc2_b
            + self
                .fc2_w
                .iter()
                .zip(&fc1)
                .map(|(w, x)| i32::from(*w) * x)
                .sum::<i32>();
        let skip = (i64::from(fc0[FC0_OUT - 1]) * i64::from(600 * OUTPUT_SCALE)
            / i64::from(127 * (1 << WEIGHT_SCALE_BITS))) as i32;
        fc2 + skip
    }
}

/// `v` as Stockfish 15.1's trace prints it in its bucket table: a sign
/// (or a space for zero) and `%6.2f` of the magnitude in pawns.
pub fn format_aligned(v: i32) -> String {
    let sign = match v.signum() {
        -1 => '-',
        1 => '+',
        _ => ' ',
    };
    format!(
        "{sign}{:6.2}",
        f64::from(v).abs() / f64::from(NORMALIZE_TO_PAWN)
    )
}

/// The trace's bucket table rows: per bucket the PSQT, positional and
/// total contributions, each divided by the output scale, formatted.
pub fn trace_rows(net: &NnueNet, board: &Board) -> Vec<[String; 3]> {
    net.raw(board)
        .iter()
        .map(|(psqt, positional)| {
            let (a, b) = (psqt / OUTPUT_SCALE, positional / OUTPUT_SCALE);
            [format_aligned(a), format_aligned(b), format_aligned(a + b)]
        })
        .collect()
}

/// Features of one king bucket (the diagonal blocks of the feature
/// transformer's input Hessian).
pub const BLOCK: usize = 704;

/// The active features of white's and black's perspective.
pub fn active_features(board: &Board) -> [Vec<usize>; 2] {
    [true, false].map(|white| {
        let ksq = board.king(white);
        board
            .pieces
            .iter()
            .map(|(sq, piece)| feature(white, *sq, *piece, ksq))
            .collect()
    })
}

/// The feature transformer's input statistics over calibration positions:
/// for each of the 32 king buckets, how often two of its features are
/// active together in one perspective (`Σ x xᵀ` of the binary inputs).
/// Features of different buckets never are, so the Hessian is
/// block-diagonal.
pub fn ft_hessians(boards: &[Board]) -> Vec<qarena_quant::Hessian> {
    let mut blocks: Vec<qarena_quant::Hessian> = (0..FEATURES / BLOCK)
        .map(|_| qarena_quant::Hessian::new(BLOCK))
        .collect();
    for board in boards {
        for active in active_features(board) {
            let Some(first) = active.first() else {
                continue;
            };
            let h = &mut blocks[first / BLOCK];
            for a in &active {
                for b in &active {
                    h.h[(a % BLOCK) * BLOCK + b % BLOCK] += 1.0;
                }
            }
            h.n += 1;
        }
    }
    blocks
}

/// The feature transformer's weights (`ft.weight`, `[1024, 22528]`)
/// quantized with `spec` by GPTQ from `hessians` ([`ft_hessians`]).
pub fn gptq_feature_transformer(
    model: &Model,
    spec: &qarena_quant::QuantSpec,
    hessians: &[qarena_quant::Hessian],
    settings: &qarena_quant::GptqSettings,
) -> Result<qarena_quant::QuantOutput> {
    let index = index_of(model, "ft.weight")?;
    let info = &model.catalogue()[index];
    let values = model.try_tensor_values(index)?;
    let quant = |source| ModelError::NotEvaluable {
        path: model.path().to_path_buf(),
        reason: format!("error-compensating rounding of ft.weight: {source}"),
    };
    let plans = hessians
        .iter()
        .enumerate()
        .map(|(b, h)| qarena_quant::GptqPlan::new(h, settings, &format!("ft.weight block {b}")))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(quant)?;
    let blocks: Vec<(usize, &qarena_quant::GptqPlan)> = plans
        .iter()
        .enumerate()
        .map(|(b, p)| (b * BLOCK, p))
        .collect();
    qarena_quant::quantize_gptq_blocks(info, &values, spec, &blocks).map_err(quant)
}

/// The feature transformer's biases corrected for the mean accumulator
/// error a quantized `ft.weight` makes over calibration positions: for
/// each accumulator column, the bias minus the mean of `Σ_f (q − w)[f]`
/// over the active features of every position and perspective, rounded
/// to the int16 the file stores.
pub fn ft_bias_correction(model: &Model, quantized: &[f32], boards: &[Board]) -> Result<Vec<f32>> {
    let w = model.try_tensor_values(index_of(model, "ft.weight")?)?;
    let bias = model.try_tensor_values(index_of(model, "ft.bias")?)?;
    if quantized.len() != w.len() {
        return Err(ModelError::NotEvaluable {
            path: model.path().to_path_buf(),
            reason: "the quantized ft.weight has another size".into(),
        });
    }
    // How often each feature is active, per perspective seen.
    let mut freq = vec![0.0f64; FEATURES];
    let mut n = 0.0;
    for b in boards {
        for active in active_features(b) {
            for f in active {
                freq[f] += 1.0;
            }
            n += 1.0;
        }
    }
    if n == 0.0 {
        return Ok(bias);
    }
    Ok(bias
        .iter()
        .enumerate()
        .map(|(j, b)| {
            let row = j * FEATURES;
            let err: f64 = (0..FEATURES)
                .filter(|f| freq[*f] > 0.0)
                .map(|f| f64::from(quantized[row + f] - w[row + f]) * freq[f])
                .sum::<f64>()
                / n;
            (f64::from(*b) - err).round().clamp(-32768.0, 32767.0) as f32
        })
        .collect())
}

/// fc_0's input statistics per layer stack over calibration positions:
/// each position's stack input (`stack_input`) summed as `x xᵀ` into the
/// Hessian of the stack its piece count selects.
pub fn fc0_hessians(net: &NnueNet, boards: &[Board]) -> Vec<qarena_quant::Hessian> {
    let mut out: Vec<qarena_quant::Hessian> = (0..BUCKETS)
        .map(|_| qarena_quant::Hessian::new(L1))
        .collect();
    for board in boards {
        let x: Vec<f32> = net
            .stack_input(board)
            .iter()
            .map(|v| f32::from(*v))
            .collect();
        out[board.bucket().min(BUCKETS - 1)].add(&x);
    }
    out
}

/// fc_1's input statistics per layer stack over calibration positions.
pub fn fc1_hessians(net: &NnueNet, boards: &[Board]) -> Vec<qarena_quant::Hessian> {
    let mut out: Vec<qarena_quant::Hessian> = (0..BUCKETS)
        .map(|_| qarena_quant::Hessian::new(FC1_IN))
        .collect();
    for board in boards {
        let x: Vec<f32> = net.fc1_input(board).iter().map(|v| *v as f32).collect();
        out[board.bucket().min(BUCKETS - 1)].add(&x);
    }
    out
}
