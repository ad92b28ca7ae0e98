//! KataGo's raw network outputs computed by qarena's own forward pass
//! ([`qarena_models::katago_net`]) instead of a `katago` process: the same
//! [`RawNnOutputs`] as the `katago-raw-nn` probe, for calibration and for
//! screening many variants in one process.
//!
//! The forward pass is checked against `kata-raw-nn` on the default 9×9
//! suite under every symmetry (`tests/katago_forward.rs`).

use std::time::Instant;

use qarena_go::{v7_inputs, Color, KataRules, Move, NetInputs};
use qarena_models::katago_net::KataNet;
use qarena_models::Model;

use crate::error::ProbeError;
use crate::katago::{RawNn, RawNnOutputs};
use crate::suite::{Positions, Suite};

/// Positions evaluated per forward pass.
pub const BATCH: usize = 64;

/// The positions of a Go suite as network inputs, made on demand a
/// batch at a time (a suite may hold millions of short lines).
pub struct SuitePositions<'s> {
    suite: &'s Suite,
    size: u8,
    komi: f32,
    rules: KataRules,
    lines: &'s [Vec<Move>],
}

impl<'s> SuitePositions<'s> {
    /// The first `limit` positions of `suite` (all when `None`).
    pub fn new(suite: &'s Suite, limit: Option<usize>) -> Result<SuitePositions<'s>, ProbeError> {
        let Positions::Go { setup, lines } = suite.positions() else {
            return Err(ProbeError::Setup(format!(
                "suite {} holds {} positions; KataGo's inputs need Go positions",
                suite.name,
                suite.game()
            )));
        };
        let rules = KataRules::parse(&setup.rules).map_err(|e| {
            ProbeError::Setup(format!(
                "suite {}: rules `{}`: {e}",
                suite.name, setup.rules
            ))
        })?;
        let n = limit.unwrap_or(lines.len()).min(lines.len());
        Ok(SuitePositions {
            suite,
            size: setup.board_size,
            komi: setup.komi,
            rules,
            lines: &lines[..n],
        })
    }

    /// The inputs of positions `range`.
    pub fn batch(&self, range: std::ops::Range<usize>) -> Result<Vec<NetInputs>, ProbeError> {
        let end = range.end.min(self.lines.len());
        let start = range.start.min(end);
        self.lines[start..end]
            .iter()
            .enumerate()
            .map(|(k, line)| {
                v7_inputs(self.size, self.komi, &self.rules, &with_colours(line)).map_err(|e| {
                    ProbeError::Setup(format!(
                        "suite {} position {}: {e}",
                        self.suite.name,
                        start + k
                    ))
                })
            })
            .collect()
    }
}

impl qarena_models::katago_calib::Positions for SuitePositions<'_> {
    fn count(&self) -> usize {
        self.lines.len()
    }

    fn inputs(&self, range: std::ops::Range<usize>) -> qarena_models::Result<Vec<NetInputs>> {
        self.batch(range)
            .map_err(|e| qarena_models::ModelError::NotEvaluable {
                path: std::path::PathBuf::new(),
                reason: e.to_string(),
            })
    }
}

/// The network inputs of every position of a Go suite.
pub fn suite_inputs(suite: &Suite) -> Result<Vec<NetInputs>, ProbeError> {
    let p = SuitePositions::new(suite, None)?;
    p.batch(0..p.lines.len())
}

/// Black first, colours alternating (as suites store lines).
pub fn with_colours(line: &[Move]) -> Vec<(Color, Move)> {
    line.iter()
        .enumerate()
        .map(|(k, &m)| {
            let c = if k % 2 == 0 {
                Color::Black
            } else {
                Color::White
            };
            (c, m)
        })
        .collect()
}

/// Evaluates `model` on every position of `suite` under `symmetry`.
pub fn evaluate(model: &Model, suite: &Suite, symmetry: u8) -> Result<RawNnOutputs, ProbeError> {
    let started = Instant::now();
    let net = KataNet::from_model(model).map_err(|e| ProbeError::Setup(e.to_string()))?;
    let positions = SuitePositions::new(suite, None)?;
    let mut out: Option<RawNnOutputs> = None;
    for start in (0..positions.lines.len()).step_by(BATCH) {
        let inputs = positions.batch(start..start + BATCH)?;
        let part = evaluate_inputs(&net, &inputs, symmetry, started)?;
        match &mut out {
            None => out = Some(part),
            Some(o) => o.positions.extend(part.positions),
        }
    }
    let mut out = out.unwrap_or_else(|| RawNnOutputs {
        board_size: 0,
        symmetry,
        positions: Vec::new(),
        seconds: 0.0,
        answer_seconds: 0.0,
        peak_rss_bytes: None,
        cpu_seconds: None,
    });
    out.seconds = started.elapsed().as_secs_f64();
    out.answer_seconds = out.seconds;
    Ok(out)
}

/// Evaluates prepared inputs (all on one board size).
pub fn evaluate_inputs(
    net: &KataNet,
    inputs: &[NetInputs],
    symmetry: u8,
    started: Instant,
) -> Result<RawNnOutputs, ProbeError> {
    if symmetry > 7 {
        return Err(ProbeError::Setup(format!(
            "symmetry {symmetry} does not exist: KataGo's symmetries are 0..=7"
        )));
    }
    let board_size = inputs.first().map(|i| i.size).unwrap_or(0);
    let first = Instant::now();
    let mut positions = Vec::with_capacity(inputs.len());
    for chunk in inputs.chunks(BATCH) {
        let evals = net
            .evaluate(chunk, symmetry)
            .map_err(|e| ProbeError::Setup(e.to_string()))?;
        for (inp, e) in chunk.iter().zip(evals) {
            let white = inp.to_move == Color::White;
            positions.push(RawNn {
                to_move: inp.to_move,
                policy: e.policy.iter().map(|&p| f64::from(p)).collect(),
                pass: f64::from(e.pass),
                winrate: f64::from(if white { e.white_win } else { e.white_loss }),
                lead: f64::from(if white { e.white_lead } else { -e.white_lead }),
            });
        }
    }
    Ok(RawNnOutputs {
        board_size,
        symmetry,
        positions,
        seconds: started.elapsed().as_secs_f64(),
        answer_seconds: first.elapsed().as_secs_f64(),
        // In this process: no engine of its own to measure.
        peak_rss_bytes: None,
        cpu_seconds: None,
    })
}

/// Calibration positions and how to use them.
#[derive(Debug, Clone)]
pub struct CalibrationSettings {
    /// Use at most this many positions of the suite (its first ones).
    pub positions: Option<usize>,
    /// Positions per forward pass.
    pub batch: usize,
    /// GPTQ dampening, a share of the mean Hessian diagonal.
    pub damp: f64,
    /// Round columns by decreasing Hessian diagonal.
    pub act_order: bool,
}

impl Default for CalibrationSettings {
    fn default() -> CalibrationSettings {
        CalibrationSettings {
            positions: None,
            batch: BATCH,
            damp: 0.01,
            act_order: true,
        }
    }
}

/// What a calibration over `samples` positions of `suite` records.
fn facts(
    method: &str,
    suite: &Suite,
    sha256: String,
    samples: usize,
    settings: &CalibrationSettings,
) -> qarena_variant::CalibrationFacts {
    qarena_variant::CalibrationFacts {
        method: method.into(),
        source: format!("suite {}", suite.name),
        sha256,
        samples,
        damp: settings.damp,
        act_order: settings.act_order,
        awq: Vec::new(),
    }
}

/// The positions calibration uses (the first `settings.positions` of the
/// suite) and their hash (the suite's own when all are used).
fn calibration_inputs<'s>(
    suite: &'s Suite,
    settings: &CalibrationSettings,
) -> Result<(SuitePositions<'s>, String), ProbeError> {
    let inputs = SuitePositions::new(suite, settings.positions)?;
    if inputs.lines.is_empty() {
        return Err(ProbeError::Setup(format!(
            "calibration suite {} has no positions",
            suite.name
        )));
    }
    let sha256 = first_hash(suite, inputs.lines.len())?;
    Ok((inputs, sha256))
}

/// The hash of the first `n` positions of `suite`: the suite's own when
/// that is all of them, otherwise another set's, so another hash.
fn first_hash(suite: &Suite, n: usize) -> Result<String, ProbeError> {
    if n >= suite.len() {
        return Ok(suite.sha256().to_string());
    }
    Ok(suite
        .subset(&suite.name, |i| i < n)
        .map_err(|e| ProbeError::Setup(e.to_string()))?
        .sha256()
        .to_string())
}

/// The Hessians of every weight layer of a KataGo `model` over the
/// positions of `suite` (each under one of the 8 board symmetries in turn),
/// by tensor name, for `rounding = "error_compensating"`.
pub fn calibrate(
    model: &Model,
    suite: &Suite,
    settings: &CalibrationSettings,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<qarena_variant::Calibration, ProbeError> {
    let net = KataNet::from_model(model).map_err(|e| ProbeError::Setup(e.to_string()))?;
    let (inputs, sha256) = calibration_inputs(suite, settings)?;
    let symmetries: Vec<u8> = (0..8).collect();
    let cal = qarena_models::katago_calib::katago_hessians(
        model,
        &net,
        &inputs,
        settings.batch,
        &symmetries,
        progress,
    )
    .map_err(|e| ProbeError::Setup(e.to_string()))?;
    let catalogue = model.catalogue();
    let hessians = cal
        .hessians
        .into_iter()
        .filter_map(|(t, h)| {
            catalogue
                .get(t)
                .map(|info| (info.name.clone(), std::sync::Arc::new(h)))
        })
        .collect();
    Ok(qarena_variant::Calibration {
        hessians,
        hessian_blocks: std::collections::HashMap::new(),
        scale_groups: scale_groups(model),
        facts: facts("gptq", suite, sha256, inputs.lines.len(), settings),
    })
}

/// Sequential calibration for `strategy`: each weight layer's Hessian is
/// measured on the net whose earlier layers are already quantized as the
/// strategy says (GPTQ where it asks for error compensation), so every
/// layer compensates the errors upstream of it as well as its own. The
/// Hessians depend on the strategy; the build that uses them reproduces
/// the same rounding. One forward pass per layer, each stopped after that
/// layer.
pub fn calibrate_sequential(
    model: &Model,
    suite: &Suite,
    strategy: &qarena_quant::Strategy,
    settings: &CalibrationSettings,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<qarena_variant::Calibration, ProbeError> {
    use qarena_quant::{quantize_gptq, quantize_tensor, GptqSettings, Rounding, Scheme};
    let setup = |e: String| ProbeError::Setup(e);
    let (inputs, sha256) = calibration_inputs(suite, settings)?;
    let arch = model
        .katago_arch()
        .ok_or_else(|| setup(format!("{} is not a KataGo net", model.path().display())))?
        .clone();
    let layers = arch.weight_layers();
    let catalogue = model.catalogue().to_vec();
    let mut work = model.clone();
    let gptq = GptqSettings {
        damp: settings.damp,
        act_order: settings.act_order,
        ..GptqSettings::default()
    };
    let quant_err = |name: &str, e: qarena_quant::QuantError| setup(format!("{name}: {e}"));
    // Everything no matrix product reads (norms, biases) first, to nearest.
    for (i, info) in catalogue.iter().enumerate() {
        if layers.iter().any(|l| l.tensor() == i) {
            continue;
        }
        let (_, mut spec) = strategy.resolve(info);
        if spec.scheme == Scheme::Keep {
            continue;
        }
        spec.rounding = Rounding::Nearest;
        let v = work
            .try_tensor_values(i)
            .map_err(|e| setup(e.to_string()))?;
        let q = quantize_tensor(info, &v, &spec).map_err(|e| quant_err(&info.name, e))?;
        work.set_tensor_values(i, &q.values)
            .map_err(|e| setup(e.to_string()))?;
    }
    let symmetries: Vec<u8> = (0..8).collect();
    let mut hessians = std::collections::HashMap::new();
    for (k, layer) in layers.iter().enumerate() {
        let t = layer.tensor();
        let info = &catalogue[t];
        let (_, spec) = strategy.resolve(info);
        let v = work
            .try_tensor_values(t)
            .map_err(|e| setup(e.to_string()))?;
        let compensate =
            spec.rounding == Rounding::ErrorCompensating && spec.scheme != Scheme::Keep;
        if compensate {
            let net = KataNet::from_model(&work).map_err(|e| setup(e.to_string()))?;
            let mut cal = qarena_models::katago_calib::katago_hessians_of(
                &work,
                &net,
                &inputs,
                settings.batch,
                &symmetries,
                Some(&[t]),
                &mut |_, _| {},
            )
            .map_err(|e| setup(e.to_string()))?;
            let h = cal
                .hessians
                .remove(&t)
                .ok_or_else(|| setup(format!("{}: no inputs were measured", info.name)))?;
            let q =
                quantize_gptq(info, &v, &spec, &h, &gptq).map_err(|e| quant_err(&info.name, e))?;
            work.set_tensor_values(t, &q.values)
                .map_err(|e| setup(e.to_string()))?;
            hessians.insert(info.name.clone(), std::sync::Arc::new(h));
        } else if spec.scheme != Scheme::Keep {
            let mut spec = spec;
            spec.rounding = Rounding::Nearest;
            let q = quantize_tensor(info, &v, &spec).map_err(|e| quant_err(&info.name, e))?;
            work.set_tensor_values(t, &q.values)
                .map_err(|e| setup(e.to_string()))?;
        }
        progress(k + 1, layers.len());
    }
    Ok(qarena_variant::Calibration {
        hessians,
        hessian_blocks: std::collections::HashMap::new(),
        scale_groups: scale_groups(model),
        facts: facts(
            "gptq-sequential",
            suite,
            sha256,
            inputs.lines.len(),
            settings,
        ),
    })
}

/// The groups of weight layers of a KataGo net that read one batch norm's
/// output through a ReLU (or no activation), whose input scales can be
/// folded into that norm (`rounding = "activation_aware"`). Layers after
/// Mish or SiLU are left out: those are not positively homogeneous.
pub fn scale_groups(model: &Model) -> Vec<qarena_variant::ScaleGroup> {
    use qarena_models::katago_arch::{Activation, BlockDesc, ConvDesc, NormDesc};
    use qarena_variant::{ColumnChannels, ScaleGroup, ScaledLayer};
    let Some(arch) = model.katago_arch() else {
        return Vec::new();
    };
    let cat = model.catalogue();
    let name = |t: usize| cat.get(t).map(|i| i.name.clone()).unwrap_or_default();
    let conv = |c: &ConvDesc| ScaledLayer {
        tensor: name(c.tensor),
        columns: ColumnChannels::Taps(c.ky * c.kx),
    };
    let pooled = |t: usize| ScaledLayer {
        tensor: name(t),
        columns: ColumnChannels::Pooled,
    };
    let mut out = Vec::new();
    let mut group = |norm: &NormDesc, act: Activation, layers: Vec<ScaledLayer>| {
        if matches!(act, Activation::Relu | Activation::Identity) {
            out.push(ScaleGroup {
                layers,
                channels: norm.c,
                norm_variance: name(norm.variance),
                norm_bias: norm.bias.map(name),
                eps: norm.eps,
            });
        }
    };
    fn walk(
        blocks: &[BlockDesc],
        conv: &dyn Fn(&ConvDesc) -> qarena_variant::ScaledLayer,
        pooled: &dyn Fn(usize) -> qarena_variant::ScaledLayer,
        group: &mut dyn FnMut(&NormDesc, Activation, Vec<qarena_variant::ScaledLayer>),
    ) {
        for b in blocks {
            match b {
                BlockDesc::Ordinary {
                    norm1,
                    act1,
                    conv1,
                    norm2,
                    act2,
                    conv2,
                } => {
                    group(norm1, *act1, vec![conv(conv1)]);
                    group(norm2, *act2, vec![conv(conv2)]);
                }
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
                } => {
                    group(norm1, *act1, vec![conv(regular), conv(gpool)]);
                    group(gpool_norm, *gpool_act, vec![pooled(gpool_to_bias.tensor)]);
                    group(norm2, *act2, vec![conv(conv2)]);
                }
                BlockDesc::Bottleneck {
                    norm_pre,
                    act_pre,
                    conv_pre,
                    inner,
                    norm_post,
                    act_post,
                    conv_post,
                } => {
                    group(norm_pre, *act_pre, vec![conv(conv_pre)]);
                    walk(inner, conv, pooled, group);
                    group(norm_post, *act_post, vec![conv(conv_post)]);
                }
                BlockDesc::Unsupported(_) => {}
            }
        }
    }
    walk(&arch.blocks, &conv, &pooled, &mut group);
    let (p, v) = (&arch.policy, &arch.value);
    if let Some(tip) = &arch.tip_norm {
        group(
            tip,
            arch.tip_act,
            vec![conv(&p.p1_conv), conv(&p.g1_conv), conv(&v.v1_conv)],
        );
    }
    group(
        &p.g1_norm,
        p.g1_act,
        vec![
            pooled(p.gpool_to_bias.tensor),
            pooled(p.gpool_to_pass.tensor),
        ],
    );
    group(&p.p1_norm, p.p1_act, vec![conv(&p.p2_conv)]);
    group(
        &v.v1_norm,
        v.v1_act,
        vec![pooled(v.v2_mul.tensor), conv(&v.ownership_conv)],
    );
    out
}

/// The Hessians of a Stockfish 15.1 NNUE net over the chess positions of
/// `suite`, computed by qarena's integer forward pass
/// ([`qarena_models::nnue_eval`]): the feature transformer's block-diagonal
/// Hessian (one 704-feature block per king bucket, both perspectives of
/// every position), and fc_0's and fc_1's per layer stack (each position
/// in the stack its piece count selects).
pub fn calibrate_nnue(
    model: &Model,
    suite: &Suite,
    settings: &CalibrationSettings,
) -> Result<qarena_variant::Calibration, ProbeError> {
    use qarena_models::nnue_eval::{self, Board, NnueNet};
    let setup = |e: String| ProbeError::Setup(e);
    let Positions::Chess { fens } = suite.positions() else {
        return Err(setup(format!(
            "calibration suite {} holds {} positions; an NNUE net needs chess positions",
            suite.name,
            suite.game()
        )));
    };
    let n = settings.positions.unwrap_or(fens.len()).min(fens.len());
    if n == 0 {
        return Err(setup(format!(
            "calibration suite {} has no positions",
            suite.name
        )));
    }
    let boards = fens[..n]
        .iter()
        .enumerate()
        .map(|(i, f)| {
            Board::from_fen(f).map_err(|e| setup(format!("suite {} position {i}: {e}", suite.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let net = NnueNet::from_model(model).map_err(|e| setup(e.to_string()))?;
    let arc =
        |v: Vec<qarena_quant::Hessian>| v.into_iter().map(std::sync::Arc::new).collect::<Vec<_>>();
    let mut hessians = std::collections::HashMap::new();
    for (layer, hs) in [
        ("fc_0", arc(nnue_eval::fc0_hessians(&net, &boards))),
        ("fc_1", arc(nnue_eval::fc1_hessians(&net, &boards))),
    ] {
        for (k, h) in hs.into_iter().enumerate() {
            hessians.insert(format!("stack{k}.{layer}.weight"), h);
        }
    }
    let mut hessian_blocks = std::collections::HashMap::new();
    hessian_blocks.insert(
        "ft.weight".to_string(),
        arc(nnue_eval::ft_hessians(&boards)),
    );
    let sha256 = first_hash(suite, n)?;
    Ok(qarena_variant::Calibration {
        hessians,
        hessian_blocks,
        scale_groups: Vec::new(),
        facts: facts("gptq", suite, sha256, n, settings),
    })
}
