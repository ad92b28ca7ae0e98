//! A forward pass for KataGo nets on the CPU: convolutional trunks
//! (ordinary, global-pooling and nested-bottleneck residual blocks), batch
//! norm, ReLU/Mish/SiLU, and the policy and value heads, for square boards
//! the net is evaluated on as they are (no padding to a larger board).
//!
//! **Layout.** Activations are NHWC: one row per board point of every
//! position, channels contiguous. A k×k convolution gathers each point's
//! k·k neighbourhood into one row (`[ky][kx][in]`, zeros off the board) and
//! multiplies by the weights in the order KataGo's file stores them
//! (`[ky][kx][in][out]`), so every weight layer is one matrix product,
//! done by `candle` (the workspace's one tensor library; its CPU matrix
//! product is the `gemm` crate). Those rows are exactly the inputs GPTQ needs:
//! [`KataNet::forward_tapped`] hands each weight layer's input matrix to a
//! callback, which is how calibration measures Hessians.
//!
//! **Semantics** follow KataGo's Eigen backend and `NNEvaluator`
//! post-processing: global pooling gives mean, mean·(√area − 14)/10 and max
//! per channel (the value head: mean, mean·(√area − 14)/10,
//! mean·((√area − 14)²/100 − 0.1)); the policy is a softmax over the legal
//! moves and pass; win/loss/no-result a softmax with no-result excluded
//! under positional or situational ko with area scoring; the score outputs
//! scaled by the model's multipliers; everything returned from White's view
//! as `kata-raw-nn` prints it. Board symmetries are applied to the inputs
//! and undone on the outputs as KataGo does (flip y, flip x, transpose, in
//! that order).

use candle_core::{Device, Tensor};
use qarena_go::{Color, NetInputs, V7_GLOBAL, V7_SPATIAL};

use crate::katago_arch::{
    Activation, BlockDesc, ConvDesc, KataArch, MatMulDesc, NormDesc, PostProcess,
};
use crate::{Model, ModelError, Result};

/// A conv's weights as a `[ky·kx·in, out]` matrix.
struct Conv {
    tensor: usize,
    k: usize,
    dil: usize,
    ic: usize,
    oc: usize,
    w: Tensor,
}

/// A batch norm merged into a per-channel affine map.
struct Norm {
    scale: Vec<f32>,
    bias: Vec<f32>,
}

/// A matmul's weights as an `[in, out]` matrix.
struct Mat {
    tensor: usize,
    ic: usize,
    oc: usize,
    w: Tensor,
}

enum Block {
    Ordinary {
        norm1: Norm,
        act1: Activation,
        conv1: Conv,
        norm2: Norm,
        act2: Activation,
        conv2: Conv,
    },
    GlobalPool {
        norm1: Norm,
        act1: Activation,
        regular: Conv,
        gpool: Conv,
        gpool_norm: Norm,
        gpool_act: Activation,
        gpool_to_bias: Mat,
        norm2: Norm,
        act2: Activation,
        conv2: Conv,
    },
    Bottleneck {
        norm_pre: Norm,
        act_pre: Activation,
        conv_pre: Conv,
        inner: Vec<Block>,
        norm_post: Norm,
        act_post: Activation,
        conv_post: Conv,
    },
}

/// A KataGo net ready to evaluate positions.
pub struct KataNet {
    version: i64,
    post: PostProcess,
    stem: Conv,
    global: Mat,
    blocks: Vec<Block>,
    tip_norm: Norm,
    tip_act: Activation,
    p1_conv: Conv,
    g1_conv: Conv,
    g1_norm: Norm,
    g1_act: Activation,
    gpool_to_bias: Mat,
    p1_norm: Norm,
    p1_act: Activation,
    p2_conv: Conv,
    gpool_to_pass: Mat,
    pass_extra: Option<(Vec<f32>, Activation, Mat)>,
    v1_conv: Conv,
    v1_norm: Norm,
    v1_act: Activation,
    v2_mul: Mat,
    v2_bias: Vec<f32>,
    v2_act: Activation,
    v3_mul: Mat,
    v3_bias: Vec<f32>,
    sv3_mul: Mat,
    sv3_bias: Vec<f32>,
    ownership_conv: Conv,
}

impl std::fmt::Debug for KataNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KataNet")
            .field("version", &self.version)
            .field("blocks", &self.blocks.len())
            .finish_non_exhaustive()
    }
}

/// What the net says about one position, White's view (as `kata-raw-nn`).
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// `size × size` probabilities, row-major from the top-left; `NaN` where
    /// the move is illegal.
    pub policy: Vec<f32>,
    pub pass: f32,
    pub white_win: f32,
    pub white_loss: f32,
    pub no_result: f32,
    pub white_lead: f32,
    pub white_score_mean: f32,
    pub white_score_mean_sq: f32,
    /// Ownership, +1 = White's, row-major from the top-left.
    pub white_ownership: Vec<f32>,
}

/// The net's raw outputs for a batch (the side to move's view, before any
/// softmax), in the orientation the net saw.
#[derive(Debug, Clone)]
pub struct RawOutputs {
    pub n: usize,
    pub points: usize,
    /// `[n][points + 1]`: the first policy channel's logits, pass last.
    pub policy: Vec<f32>,
    /// `[n][3]`: win, loss, no-result logits.
    pub value: Vec<f32>,
    /// `[n][misc]`: score mean, stdev, lead, … before scaling.
    pub misc: Vec<f32>,
    pub misc_len: usize,
    /// `[n][points]`.
    pub ownership: Vec<f32>,
}

/// Activations in NHWC order: `n · points` rows of `c` channels.
struct Act {
    data: Vec<f32>,
    n: usize,
    side: usize,
    c: usize,
}

impl Act {
    fn points(&self) -> usize {
        self.side * self.side
    }
}

/// Receives every weight layer's input: its catalogue index, and a
/// row-major matrix with one row per output point (or per position, for
/// matmuls) and `cols` columns in the file's `[ky][kx][in]` order. Returns
/// whether the forward pass should go on.
pub type Tap<'a> = dyn FnMut(usize, &[f32], usize) -> bool + 'a;

/// Why a pass ended before its outputs: its tap stopped it, or it failed.
enum Halt {
    Stopped,
    Failed(ModelError),
}

impl From<ModelError> for Halt {
    fn from(e: ModelError) -> Halt {
        Halt::Failed(e)
    }
}

/// What the passes inside the forward pass return.
type Pass<T> = std::result::Result<T, Halt>;

fn err(e: candle_core::Error) -> ModelError {
    ModelError::NotEvaluable {
        path: std::path::PathBuf::new(),
        reason: format!("tensor arithmetic failed: {e}"),
    }
}

fn matmul(x: Vec<f32>, rows: usize, cols: usize, w: &Tensor) -> Result<Vec<f32>> {
    let x = Tensor::from_vec(x, (rows, cols), &Device::Cpu).map_err(err)?;
    x.matmul(w)
        .and_then(|y| y.flatten_all())
        .and_then(|y| y.to_vec1::<f32>())
        .map_err(err)
}

fn activate(x: f32, act: Activation) -> f32 {
    match act {
        Activation::Identity => x,
        Activation::Relu => x.max(0.0),
        Activation::Mish => {
            // x · tanh(softplus(x)), with softplus linear for large x as KataGo's backends do.
            let sp = if x > 20.0 { x } else { x.exp().ln_1p() };
            x * sp.tanh()
        }
        Activation::Silu => x / (1.0 + (-x).exp()),
    }
}

impl KataNet {
    /// Builds the evaluator from a loaded KataGo model's current values.
    pub fn from_model(model: &Model) -> Result<KataNet> {
        let refuse = |reason: String| ModelError::NotEvaluable {
            path: model.path().to_path_buf(),
            reason,
        };
        let arch = model
            .katago_arch()
            .ok_or_else(|| refuse("it is not a KataGo net".into()))?;
        if let Some(why) = arch.unsupported() {
            return Err(refuse(format!(
                "the forward pass does not evaluate this net: {why}"
            )));
        }
        if arch.spatial_inputs != V7_SPATIAL || arch.global_inputs != V7_GLOBAL {
            return Err(refuse(format!(
                "it takes {} spatial and {} global inputs; the forward pass computes KataGo's V7 features ({V7_SPATIAL} and {V7_GLOBAL}, model versions 8 and later)",
                arch.spatial_inputs, arch.global_inputs
            )));
        }
        if arch.version < 8 {
            return Err(refuse(format!(
                "model version {} predates the V7 input features",
                arch.version
            )));
        }
        Builder { model }.net(arch)
    }

    /// Evaluates positions (all on the same board size) under one board
    /// symmetry (0..8).
    pub fn evaluate(&self, inputs: &[NetInputs], symmetry: u8) -> Result<Vec<Evaluation>> {
        let raw = match self.forward_inner(inputs, symmetry, &mut |_, _, _| true) {
            Ok(raw) => raw,
            Err(Halt::Failed(e)) => return Err(e),
            Err(Halt::Stopped) => {
                return Err(ModelError::NotEvaluable {
                    path: std::path::PathBuf::new(),
                    reason: "the forward pass stopped though nothing asked it to".into(),
                })
            }
        };
        Ok(inputs
            .iter()
            .enumerate()
            .map(|(i, inp)| self.postprocess(&raw, i, inp, symmetry))
            .collect())
    }

    /// Raw outputs, handing each weight layer's input to `tap`; `None` when
    /// the tap stopped the pass.
    pub fn forward_tapped(
        &self,
        inputs: &[NetInputs],
        symmetry: u8,
        tap: &mut Tap<'_>,
    ) -> Result<Option<RawOutputs>> {
        match self.forward_inner(inputs, symmetry, tap) {
            Ok(raw) => Ok(Some(raw)),
            Err(Halt::Stopped) => Ok(None),
            Err(Halt::Failed(e)) => Err(e),
        }
    }

    fn forward_inner(
        &self,
        inputs: &[NetInputs],
        symmetry: u8,
        tap: &mut Tap<'_>,
    ) -> Pass<RawOutputs> {
        let Some(first) = inputs.first() else {
            return Ok(RawOutputs {
                n: 0,
                points: 0,
                policy: Vec::new(),
                value: Vec::new(),
                misc: Vec::new(),
                misc_len: self.sv3_mul.oc,
                ownership: Vec::new(),
            });
        };
        let side = usize::from(first.size);
        if inputs.iter().any(|i| i.size != first.size) {
            return Err(Halt::Failed(ModelError::NotEvaluable {
                path: std::path::PathBuf::new(),
                reason: "a batch mixes board sizes".into(),
            }));
        }
        let n = inputs.len();
        let points = side * side;
        if let Some(k) = inputs
            .iter()
            .position(|i| i.spatial.len() != V7_SPATIAL * points || i.legal.len() != points)
        {
            return Err(Halt::Failed(ModelError::NotEvaluable {
                path: std::path::PathBuf::new(),
                reason: format!(
                    "input {k} does not hold {V7_SPATIAL} planes and a legal-move mask of {side}x{side} points"
                ),
            }));
        }
        // NHWC spatial inputs under the symmetry, and the global inputs.
        let mut spatial = vec![0f32; n * points * V7_SPATIAL];
        let mut global = Vec::with_capacity(n * V7_GLOBAL);
        for (i, inp) in inputs.iter().enumerate() {
            for y in 0..side {
                for x in 0..side {
                    let to = sym_index(x, y, side, symmetry);
                    let row = &mut spatial[(i * points + to) * V7_SPATIAL..][..V7_SPATIAL];
                    for (c, v) in row.iter_mut().enumerate() {
                        *v = inp.spatial[c * points + y * side + x];
                    }
                }
            }
            global.extend_from_slice(&inp.global);
        }
        let input = Act {
            data: spatial,
            n,
            side,
            c: V7_SPATIAL,
        };
        let mut trunk = self.conv(&input, &self.stem, tap)?;
        if !tap(self.global.tensor, &global, self.global.ic) {
            return Err(Halt::Stopped);
        }
        let gbias = matmul(global, n, self.global.ic, &self.global.w)?;
        add_channel_bias(&mut trunk, &gbias)?;
        for b in &self.blocks {
            self.block(&mut trunk, b, tap)?;
        }
        norm_act(&mut trunk, &self.tip_norm, self.tip_act);

        // Policy head.
        let mut p1 = self.conv(&trunk, &self.p1_conv, tap)?;
        let mut g1 = self.conv(&trunk, &self.g1_conv, tap)?;
        norm_act(&mut g1, &self.g1_norm, self.g1_act);
        let pooled = gpool(&g1);
        if !tap(self.gpool_to_bias.tensor, &pooled, self.gpool_to_bias.ic) {
            return Err(Halt::Stopped);
        }
        let bias = matmul(
            pooled.clone(),
            n,
            self.gpool_to_bias.ic,
            &self.gpool_to_bias.w,
        )?;
        add_channel_bias(&mut p1, &bias)?;
        norm_act(&mut p1, &self.p1_norm, self.p1_act);
        let p2 = self.conv(&p1, &self.p2_conv, tap)?;
        if !tap(self.gpool_to_pass.tensor, &pooled, self.gpool_to_pass.ic) {
            return Err(Halt::Stopped);
        }
        let mut pass = matmul(pooled, n, self.gpool_to_pass.ic, &self.gpool_to_pass.w)?;
        if let Some((b, act, m)) = &self.pass_extra {
            let c = self.gpool_to_pass.oc;
            for (k, v) in pass.iter_mut().enumerate() {
                *v = activate(*v + b[k % c], *act);
            }
            if !tap(m.tensor, &pass, m.ic) {
                return Err(Halt::Stopped);
            }
            pass = matmul(pass, n, m.ic, &m.w)?;
        }
        let pass_c = pass.len() / n;
        let pc = self.p2_conv.oc;
        let mut policy = Vec::with_capacity(n * (points + 1));
        for i in 0..n {
            for p in 0..points {
                policy.push(p2.data[(i * points + p) * pc]);
            }
            policy.push(pass[i * pass_c]);
        }

        // Value head.
        let mut v1 = self.conv(&trunk, &self.v1_conv, tap)?;
        norm_act(&mut v1, &self.v1_norm, self.v1_act);
        let vpooled = value_pool(&v1);
        if !tap(self.v2_mul.tensor, &vpooled, self.v2_mul.ic) {
            return Err(Halt::Stopped);
        }
        let mut v2 = matmul(vpooled, n, self.v2_mul.ic, &self.v2_mul.w)?;
        for (k, v) in v2.iter_mut().enumerate() {
            *v = activate(*v + self.v2_bias[k % self.v2_mul.oc], self.v2_act);
        }
        if !tap(self.v3_mul.tensor, &v2, self.v3_mul.ic) {
            return Err(Halt::Stopped);
        }
        if !tap(self.sv3_mul.tensor, &v2, self.sv3_mul.ic) {
            return Err(Halt::Stopped);
        }
        let mut value = matmul(v2.clone(), n, self.v3_mul.ic, &self.v3_mul.w)?;
        for (k, v) in value.iter_mut().enumerate() {
            *v += self.v3_bias[k % self.v3_mul.oc];
        }
        let mut misc = matmul(v2, n, self.sv3_mul.ic, &self.sv3_mul.w)?;
        for (k, v) in misc.iter_mut().enumerate() {
            *v += self.sv3_bias[k % self.sv3_mul.oc];
        }
        let own = self.conv(&v1, &self.ownership_conv, tap)?;
        let oc = self.ownership_conv.oc;
        let ownership = (0..n * points).map(|r| own.data[r * oc]).collect();
        Ok(RawOutputs {
            n,
            points,
            policy,
            value,
            misc,
            misc_len: self.sv3_mul.oc,
            ownership,
        })
    }

    fn block(&self, trunk: &mut Act, b: &Block, tap: &mut Tap<'_>) -> Pass<()> {
        let residual = match b {
            Block::Ordinary {
                norm1,
                act1,
                conv1,
                norm2,
                act2,
                conv2,
            } => {
                let mut a = copy(trunk);
                norm_act(&mut a, norm1, *act1);
                let mut mid = self.conv(&a, conv1, tap)?;
                norm_act(&mut mid, norm2, *act2);
                self.conv(&mid, conv2, tap)?
            }
            Block::GlobalPool {
                norm1,
                act1,
                regular,
                gpool: gconv,
                gpool_norm,
                gpool_act,
                gpool_to_bias,
                norm2,
                act2,
                conv2,
            } => {
                let mut a = copy(trunk);
                norm_act(&mut a, norm1, *act1);
                let mut reg = self.conv(&a, regular, tap)?;
                let mut g = self.conv(&a, gconv, tap)?;
                norm_act(&mut g, gpool_norm, *gpool_act);
                let pooled = gpool(&g);
                if !tap(gpool_to_bias.tensor, &pooled, gpool_to_bias.ic) {
                    return Err(Halt::Stopped);
                }
                let bias = matmul(pooled, trunk.n, gpool_to_bias.ic, &gpool_to_bias.w)?;
                add_channel_bias(&mut reg, &bias)?;
                norm_act(&mut reg, norm2, *act2);
                self.conv(&reg, conv2, tap)?
            }
            Block::Bottleneck {
                norm_pre,
                act_pre,
                conv_pre,
                inner,
                norm_post,
                act_post,
                conv_post,
            } => {
                let mut a = copy(trunk);
                norm_act(&mut a, norm_pre, *act_pre);
                let mut mid = self.conv(&a, conv_pre, tap)?;
                for b in inner {
                    self.block(&mut mid, b, tap)?;
                }
                norm_act(&mut mid, norm_post, *act_post);
                self.conv(&mid, conv_post, tap)?
            }
        };
        for (t, r) in trunk.data.iter_mut().zip(&residual.data) {
            *t += r;
        }
        Ok(())
    }

    fn conv(&self, x: &Act, conv: &Conv, tap: &mut Tap<'_>) -> Pass<Act> {
        let rows = x.n * x.points();
        let cols = conv.k * conv.k * conv.ic;
        let data = if conv.k == 1 {
            if !tap(conv.tensor, &x.data, cols) {
                return Err(Halt::Stopped);
            }
            matmul(x.data.clone(), rows, cols, &conv.w)?
        } else {
            let patches = im2col(x, conv.k, conv.dil);
            if !tap(conv.tensor, &patches, cols) {
                return Err(Halt::Stopped);
            }
            matmul(patches, rows, cols, &conv.w)?
        };
        Ok(Act {
            data,
            n: x.n,
            side: x.side,
            c: conv.oc,
        })
    }

    fn postprocess(&self, raw: &RawOutputs, i: usize, inp: &NetInputs, symmetry: u8) -> Evaluation {
        let side = usize::from(inp.size);
        let points = raw.points;
        let logits = &raw.policy[i * (points + 1)..][..points + 1];
        // Board point p is the net's point sym(p).
        let board_logit = |p: usize| logits[sym_index(p % side, p / side, side, symmetry)];
        let legal = |p: usize| inp.legal.get(p).copied().unwrap_or(false);
        let mut max = logits[points];
        for p in (0..points).filter(|&p| legal(p)) {
            max = max.max(board_logit(p));
        }
        let mut policy = vec![f32::NAN; points];
        let mut sum = 0f32;
        for (p, slot) in policy.iter_mut().enumerate() {
            if legal(p) {
                let e = (board_logit(p) - max).exp();
                *slot = e;
                sum += e;
            }
        }
        let pass_e = (logits[points] - max).exp();
        sum += pass_e;
        for v in policy.iter_mut().filter(|v| !v.is_nan()) {
            *v /= sum;
        }
        let pass = pass_e / sum;

        let v = &raw.value[i * 3..][..3];
        let (win, loss, mut nores) = (f64::from(v[0]), f64::from(v[1]), f64::from(v[2]));
        // Under positional or situational ko with area scoring a game
        // always has a result: KataGo drops the no-result logit then.
        let no_result_possible = inp.no_result_possible;
        if !no_result_possible {
            nores -= 100000.0;
        }
        let m = win.max(loss).max(nores);
        let (ew, el, mut en) = ((win - m).exp(), (loss - m).exp(), (nores - m).exp());
        if !no_result_possible {
            en = 0.0;
        }
        let s = ew + el + en;
        let (pw, pl, pn) = (ew / s, el / s, en / s);
        let misc = &raw.misc[i * raw.misc_len..][..raw.misc_len];
        let get = |k: usize| misc.get(k).copied().map(f64::from).unwrap_or(0.0);
        let softplus = |x: f64| if x > 40.0 { x } else { x.exp().ln_1p() };
        let post = &self.post;
        let score_mean = get(0) * f64::from(post.score_mean) * (1.0 - pn);
        let stdev = softplus(get(1)) * f64::from(post.score_stdev);
        let score_mean_sq = (get(0) * f64::from(post.score_mean)).powi(2) + stdev * stdev;
        let score_mean_sq = score_mean_sq * (1.0 - pn);
        let lead = if self.version >= 8 {
            get(2) * f64::from(post.lead) * (1.0 - pn)
        } else {
            score_mean
        };
        let white = inp.to_move == Color::White;
        let sign = if white { 1.0 } else { -1.0 };
        let own = &raw.ownership[i * points..][..points];
        let white_ownership = (0..points)
            .map(|p| {
                let o = own[sym_index(p % side, p / side, side, symmetry)];
                (sign * o.tanh() as f64) as f32
            })
            .collect();
        Evaluation {
            policy,
            pass,
            white_win: (if white { pw } else { pl }) as f32,
            white_loss: (if white { pl } else { pw }) as f32,
            no_result: pn as f32,
            white_lead: (sign * lead) as f32,
            white_score_mean: (sign * score_mean) as f32,
            white_score_mean_sq: score_mean_sq as f32,
            white_ownership,
        }
    }
}

/// Where board point (x, y) sits in the net's view under `symmetry`:
/// flip y (bit 0), flip x (bit 1), transpose (bit 2), in that order
/// ([`qarena_go::symmetric_index`]).
pub fn sym_index(x: usize, y: usize, side: usize, symmetry: u8) -> usize {
    qarena_go::symmetric_index(x, y, side, symmetry)
}

fn copy(x: &Act) -> Act {
    Act {
        data: x.data.clone(),
        n: x.n,
        side: x.side,
        c: x.c,
    }
}

fn norm_act(x: &mut Act, norm: &Norm, act: Activation) {
    for row in x.data.chunks_exact_mut(x.c) {
        for ((v, s), b) in row.iter_mut().zip(&norm.scale).zip(&norm.bias) {
            *v = activate(*v * s + b, act);
        }
    }
}

/// Adds `bias[n][c]` to every point of position n.
fn add_channel_bias(x: &mut Act, bias: &[f32]) -> Result<()> {
    if bias.len() != x.n * x.c {
        return Err(ModelError::NotEvaluable {
            path: std::path::PathBuf::new(),
            reason: format!(
                "a global-pooling bias has {} values for {} channels of {} positions",
                bias.len(),
                x.c,
                x.n
            ),
        });
    }
    let points = x.points();
    for (r, row) in x.data.chunks_exact_mut(x.c).enumerate() {
        let b = &bias[(r / points) * x.c..][..x.c];
        for (v, b) in row.iter_mut().zip(b) {
            *v += b;
        }
    }
    Ok(())
}

/// Mean, mean·(√area − 14)/10 and max of every channel: `[n][3c]`.
fn gpool(x: &Act) -> Vec<f32> {
    let points = x.points();
    let area = points as f32;
    let k = (area.sqrt() - 14.0) * 0.1;
    let mut out = vec![0f32; x.n * 3 * x.c];
    for i in 0..x.n {
        let o = &mut out[i * 3 * x.c..][..3 * x.c];
        let mut sum = vec![0f32; x.c];
        let mut max = vec![-1f32; x.c];
        for row in x.data[i * points * x.c..][..points * x.c].chunks_exact(x.c) {
            for c in 0..x.c {
                sum[c] += row[c];
                max[c] = max[c].max(row[c]);
            }
        }
        for c in 0..x.c {
            let mean = sum[c] / area;
            o[c] = mean;
            o[x.c + c] = mean * k;
            o[2 * x.c + c] = max[c];
        }
    }
    out
}

/// The value head's pooling: mean, mean·(√area − 14)/10,
/// mean·((√area − 14)²/100 − 0.1).
fn value_pool(x: &Act) -> Vec<f32> {
    let points = x.points();
    let area = points as f32;
    let b = area.sqrt() - 14.0;
    let mut out = vec![0f32; x.n * 3 * x.c];
    for i in 0..x.n {
        let o = &mut out[i * 3 * x.c..][..3 * x.c];
        let mut sum = vec![0f32; x.c];
        for row in x.data[i * points * x.c..][..points * x.c].chunks_exact(x.c) {
            for c in 0..x.c {
                sum[c] += row[c];
            }
        }
        for c in 0..x.c {
            let mean = sum[c] / area;
            o[c] = mean;
            o[x.c + c] = mean * b * 0.1;
            o[2 * x.c + c] = mean * (b * b * 0.01 - 0.1);
        }
    }
    out
}

/// Every point's k×k neighbourhood (dilated), `[ky][kx][c]`, zeros off the
/// board.
fn im2col(x: &Act, k: usize, dil: usize) -> Vec<f32> {
    let side = x.side as isize;
    let points = x.points();
    let half = (k / 2 * dil) as isize;
    let cols = k * k * x.c;
    let mut out = vec![0f32; x.n * points * cols];
    for i in 0..x.n {
        let src = &x.data[i * points * x.c..][..points * x.c];
        for y in 0..side {
            for xx in 0..side {
                let row = &mut out[((i * points) + (y * side + xx) as usize) * cols..][..cols];
                for ky in 0..k {
                    let sy = y - half + (ky * dil) as isize;
                    if sy < 0 || sy >= side {
                        continue;
                    }
                    for kx in 0..k {
                        let sx = xx - half + (kx * dil) as isize;
                        if sx < 0 || sx >= side {
                            continue;
                        }
                        let from = (sy * side + sx) as usize * x.c;
                        row[(ky * k + kx) * x.c..][..x.c].copy_from_slice(&src[from..from + x.c]);
                    }
                }
            }
        }
    }
    out
}

/// Reads weights from the model into the evaluator's layouts.
struct Builder<'m> {
    model: &'m Model,
}

impl Builder<'_> {
    fn values(&self, index: usize) -> Result<Vec<f32>> {
        self.model.try_tensor_values(index)
    }

    fn refuse(&self, reason: String) -> ModelError {
        ModelError::NotEvaluable {
            path: self.model.path().to_path_buf(),
            reason,
        }
    }

    fn conv(&self, d: &ConvDesc) -> Result<Conv> {
        if d.ky != d.kx || d.dil_y != d.dil_x {
            return Err(self.refuse(format!(
                "{} has a {}x{} kernel with dilation {}x{}; the forward pass takes square ones",
                self.model.catalogue()[d.tensor].name,
                d.ky,
                d.kx,
                d.dil_y,
                d.dil_x
            )));
        }
        let v = self.values(d.tensor)?; // [oc][ic][ky][kx]
        let k = d.ky;
        let rows = k * k * d.ic;
        let mut w = vec![0f32; rows * d.oc];
        for o in 0..d.oc {
            for i in 0..d.ic {
                for ky in 0..k {
                    for kx in 0..k {
                        let r = (ky * k + kx) * d.ic + i;
                        w[r * d.oc + o] = v[((o * d.ic + i) * k + ky) * k + kx];
                    }
                }
            }
        }
        Ok(Conv {
            tensor: d.tensor,
            k,
            dil: d.dil_y,
            ic: d.ic,
            oc: d.oc,
            w: Tensor::from_vec(w, (rows, d.oc), &Device::Cpu).map_err(err)?,
        })
    }

    fn mat(&self, d: &MatMulDesc) -> Result<Mat> {
        let v = self.values(d.tensor)?; // [oc][ic]
        let mut w = vec![0f32; d.ic * d.oc];
        for o in 0..d.oc {
            for i in 0..d.ic {
                w[i * d.oc + o] = v[o * d.ic + i];
            }
        }
        Ok(Mat {
            tensor: d.tensor,
            ic: d.ic,
            oc: d.oc,
            w: Tensor::from_vec(w, (d.ic, d.oc), &Device::Cpu).map_err(err)?,
        })
    }

    fn norm(&self, d: &NormDesc) -> Result<Norm> {
        let mean = self.values(d.mean)?;
        let var = self.values(d.variance)?;
        let gamma = match d.scale {
            Some(t) => self.values(t)?,
            None => vec![1.0; d.c],
        };
        let beta = match d.bias {
            Some(t) => self.values(t)?,
            None => vec![0.0; d.c],
        };
        let mut scale = Vec::with_capacity(d.c);
        let mut bias = Vec::with_capacity(d.c);
        for c in 0..d.c {
            let s = gamma[c] / (var[c] + d.eps).sqrt();
            scale.push(s);
            bias.push(beta[c] - s * mean[c]);
        }
        Ok(Norm { scale, bias })
    }

    fn blocks(&self, blocks: &[BlockDesc]) -> Result<Vec<Block>> {
        blocks
            .iter()
            .map(|b| {
                Ok(match b {
                    BlockDesc::Ordinary {
                        norm1,
                        act1,
                        conv1,
                        norm2,
                        act2,
                        conv2,
                    } => Block::Ordinary {
                        norm1: self.norm(norm1)?,
                        act1: *act1,
                        conv1: self.conv(conv1)?,
                        norm2: self.norm(norm2)?,
                        act2: *act2,
                        conv2: self.conv(conv2)?,
                    },
                    BlockDesc::GlobalPool {
                        norm1,
                        act1,
                        regular,
                        gpool,
                        gpool_norm,
                        gpool_act,
                        gpool_to_bias,
                        norm2,
                        act2,
                        conv2,
                    } => Block::GlobalPool {
                        norm1: self.norm(norm1)?,
                        act1: *act1,
                        regular: self.conv(regular)?,
                        gpool: self.conv(gpool)?,
                        gpool_norm: self.norm(gpool_norm)?,
                        gpool_act: *gpool_act,
                        gpool_to_bias: self.mat(gpool_to_bias)?,
                        norm2: self.norm(norm2)?,
                        act2: *act2,
                        conv2: self.conv(conv2)?,
                    },
                    BlockDesc::Bottleneck {
                        norm_pre,
                        act_pre,
                        conv_pre,
                        inner,
                        norm_post,
                        act_post,
                        conv_post,
                    } => Block::Bottleneck {
                        norm_pre: self.norm(norm_pre)?,
                        act_pre: *act_pre,
                        conv_pre: self.conv(conv_pre)?,
                        inner: self.blocks(inner)?,
                        norm_post: self.norm(norm_post)?,
                        act_post: *act_post,
                        conv_post: self.conv(conv_post)?,
                    },
                    BlockDesc::Unsupported(kind) => {
                        return Err(self.refuse(format!("it has {kind} blocks")))
                    }
                })
            })
            .collect()
    }

    fn net(&self, a: &KataArch) -> Result<KataNet> {
        let p = &a.policy;
        let v = &a.value;
        let tip = a
            .tip_norm
            .as_ref()
            .ok_or_else(|| self.refuse("its trunk tip is an RMSNorm".into()))?;
        // Sizes the forward pass indexes by (a hostile file may declare
        // any channel counts; the matrix products check the rest).
        let mut sizes = vec![
            (v.v2_bias.c == v.v2_mul.oc, "v2's bias and matmul"),
            (v.v3_bias.c == v.v3_mul.oc, "v3's bias and matmul"),
            (v.v3_mul.oc == 3, "v3's three value outputs"),
            (v.sv3_bias.c == v.sv3_mul.oc, "sv3's bias and matmul"),
            (v.ownership_conv.oc >= 1, "the ownership output"),
            (p.p2_conv.oc >= 1, "the policy output"),
            (p.gpool_to_pass.oc >= 1, "the pass output"),
        ];
        if let Some((b, _, m)) = &p.pass_extra {
            sizes.push((b.c == p.gpool_to_pass.oc, "the pass bias"));
            sizes.push((m.oc >= 1, "the second pass matmul"));
        }
        if let Some((_, what)) = sizes.iter().find(|(ok, _)| !ok) {
            return Err(self.refuse(format!("the channel counts of {what} do not agree")));
        }
        let pass_extra = match &p.pass_extra {
            Some((b, act, m)) => Some((self.values(b.tensor)?, *act, self.mat(m)?)),
            None => None,
        };
        Ok(KataNet {
            version: a.version,
            post: a.post,
            stem: self.conv(&a.stem_conv)?,
            global: self.mat(&a.global_matmul)?,
            blocks: self.blocks(&a.blocks)?,
            tip_norm: self.norm(tip)?,
            tip_act: a.tip_act,
            p1_conv: self.conv(&p.p1_conv)?,
            g1_conv: self.conv(&p.g1_conv)?,
            g1_norm: self.norm(&p.g1_norm)?,
            g1_act: p.g1_act,
            gpool_to_bias: self.mat(&p.gpool_to_bias)?,
            p1_norm: self.norm(&p.p1_norm)?,
            p1_act: p.p1_act,
            p2_conv: self.conv(&p.p2_conv)?,
            gpool_to_pass: self.mat(&p.gpool_to_pass)?,
            pass_extra,
            v1_conv: self.conv(&v.v1_conv)?,
            v1_norm: self.norm(&v.v1_norm)?,
            v1_act: v.v1_act,
            v2_mul: self.mat(&v.v2_mul)?,
            v2_bias: self.values(v.v2_bias.tensor)?,
            v2_act: v.v2_act,
            v3_mul: self.mat(&v.v3_mul)?,
            v3_bias: self.values(v.v3_bias.tensor)?,
            sv3_mul: self.mat(&v.sv3_mul)?,
            sv3_bias: self.values(v.sv3_bias.tensor)?,
            ownership_conv: self.conv(&v.ownership_conv)?,
        })
    }
}
