//! The layer graph of a KataGo net, as the parser walks it.
//!
//! Every weight is named by its index in the model's catalogue
//! ([`crate::Model::catalogue`]), so a forward pass reads the current
//! (possibly fake-quantized) values and a calibration names the tensor it
//! measured. Layers the forward pass does not evaluate (transformer blocks,
//! RMSNorm trunk tips, the SGF-metadata encoder) are recorded as such, and
//! the net is then refused with the reason.

/// A convolution; weights `[out, in, ky, kx]` in the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvDesc {
    pub tensor: usize,
    pub ky: usize,
    pub kx: usize,
    pub ic: usize,
    pub oc: usize,
    pub dil_y: usize,
    pub dil_x: usize,
}

/// A batch norm: per channel `scale · (x − mean) / sqrt(variance + eps) + bias`.
#[derive(Debug, Clone, PartialEq)]
pub struct NormDesc {
    pub c: usize,
    pub eps: f32,
    pub mean: usize,
    pub variance: usize,
    pub scale: Option<usize>,
    pub bias: Option<usize>,
}

/// An activation kind (before model version 11, always ReLU).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    Mish,
    Silu,
}

/// A matrix product; weights `[out, in]` in the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct MatMulDesc {
    pub tensor: usize,
    pub ic: usize,
    pub oc: usize,
}

/// A per-channel bias vector.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasDesc {
    pub tensor: usize,
    pub c: usize,
}

/// A residual block of the trunk.
#[derive(Debug, Clone, PartialEq)]
pub enum BlockDesc {
    /// `x += conv2(act2(norm2(conv1(act1(norm1(x))))))`.
    Ordinary {
        norm1: NormDesc,
        act1: Activation,
        conv1: ConvDesc,
        norm2: NormDesc,
        act2: Activation,
        conv2: ConvDesc,
    },
    /// A block whose regular branch gets a per-channel bias from the global
    /// pooling (mean, scaled mean, max) of a second branch.
    GlobalPool {
        norm1: NormDesc,
        act1: Activation,
        regular: ConvDesc,
        gpool: ConvDesc,
        gpool_norm: NormDesc,
        gpool_act: Activation,
        gpool_to_bias: MatMulDesc,
        norm2: NormDesc,
        act2: Activation,
        conv2: ConvDesc,
    },
    /// Pre conv to an inner width, inner residual blocks, post conv back.
    Bottleneck {
        norm_pre: NormDesc,
        act_pre: Activation,
        conv_pre: ConvDesc,
        inner: Vec<BlockDesc>,
        norm_post: NormDesc,
        act_post: Activation,
        conv_post: ConvDesc,
    },
    /// A block kind the forward pass does not evaluate.
    Unsupported(&'static str),
}

/// The policy head.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDesc {
    pub p1_conv: ConvDesc,
    pub g1_conv: ConvDesc,
    pub g1_norm: NormDesc,
    pub g1_act: Activation,
    pub gpool_to_bias: MatMulDesc,
    pub p1_norm: NormDesc,
    pub p1_act: Activation,
    pub p2_conv: ConvDesc,
    pub gpool_to_pass: MatMulDesc,
    /// Model version 15+: bias, activation and a second matmul for the pass
    /// logit.
    pub pass_extra: Option<(BiasDesc, Activation, MatMulDesc)>,
}

/// The value head.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueDesc {
    pub v1_conv: ConvDesc,
    pub v1_norm: NormDesc,
    pub v1_act: Activation,
    pub v2_mul: MatMulDesc,
    pub v2_bias: BiasDesc,
    pub v2_act: Activation,
    pub v3_mul: MatMulDesc,
    pub v3_bias: BiasDesc,
    pub sv3_mul: MatMulDesc,
    pub sv3_bias: BiasDesc,
    pub ownership_conv: ConvDesc,
}

/// Output multipliers (stored from model version 13, defaults before).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostProcess {
    pub td_score: f32,
    pub score_mean: f32,
    pub score_stdev: f32,
    pub lead: f32,
    pub variance_time: f32,
    pub shortterm_value_error: f32,
    pub shortterm_score_error: f32,
}

impl Default for PostProcess {
    fn default() -> PostProcess {
        PostProcess {
            td_score: 20.0,
            score_mean: 20.0,
            score_stdev: 20.0,
            lead: 20.0,
            variance_time: 40.0,
            shortterm_value_error: 0.25,
            shortterm_score_error: 30.0,
        }
    }
}

/// The whole net.
#[derive(Debug, Clone, PartialEq)]
pub struct KataArch {
    pub version: i64,
    pub spatial_inputs: usize,
    pub global_inputs: usize,
    pub post: PostProcess,
    /// The SGF-metadata encoder of "human SL" nets is present.
    pub meta_encoder: bool,
    pub stem_conv: ConvDesc,
    pub global_matmul: MatMulDesc,
    pub blocks: Vec<BlockDesc>,
    /// `None` when the trunk tip is an RMSNorm.
    pub tip_norm: Option<NormDesc>,
    pub tip_act: Activation,
    pub policy: PolicyDesc,
    pub value: ValueDesc,
}

impl KataArch {
    /// Why the forward pass cannot evaluate this net, if it cannot.
    pub fn unsupported(&self) -> Option<String> {
        fn find(blocks: &[BlockDesc]) -> Option<&'static str> {
            blocks.iter().find_map(|b| match b {
                BlockDesc::Unsupported(kind) => Some(*kind),
                BlockDesc::Bottleneck { inner, .. } => find(inner),
                _ => None,
            })
        }
        if let Some(kind) = find(&self.blocks) {
            return Some(format!("it has {kind} blocks"));
        }
        if self.tip_norm.is_none() {
            return Some("its trunk tip is an RMSNorm".into());
        }
        if self.meta_encoder {
            return Some("it has an SGF-metadata encoder (a human-SL net)".into());
        }
        if self.policy.p2_conv.oc == 0 {
            return Some("its policy head has no output channel".into());
        }
        None
    }

    /// Every convolution and matrix product, in evaluation order, with the
    /// layer whose output feeds it (for folding scales) where there is one.
    pub fn weight_layers(&self) -> Vec<WeightLayer> {
        let mut out = vec![
            WeightLayer::Conv(self.stem_conv.clone()),
            WeightLayer::MatMul(self.global_matmul.clone()),
        ];
        fn walk(blocks: &[BlockDesc], out: &mut Vec<WeightLayer>) {
            for b in blocks {
                match b {
                    BlockDesc::Ordinary { conv1, conv2, .. } => {
                        out.push(WeightLayer::Conv(conv1.clone()));
                        out.push(WeightLayer::Conv(conv2.clone()));
                    }
                    BlockDesc::GlobalPool {
                        regular,
                        gpool,
                        gpool_to_bias,
                        conv2,
                        ..
                    } => {
                        out.push(WeightLayer::Conv(regular.clone()));
                        out.push(WeightLayer::Conv(gpool.clone()));
                        out.push(WeightLayer::MatMul(gpool_to_bias.clone()));
                        out.push(WeightLayer::Conv(conv2.clone()));
                    }
                    BlockDesc::Bottleneck {
                        conv_pre,
                        inner,
                        conv_post,
                        ..
                    } => {
                        out.push(WeightLayer::Conv(conv_pre.clone()));
                        walk(inner, out);
                        out.push(WeightLayer::Conv(conv_post.clone()));
                    }
                    BlockDesc::Unsupported(_) => {}
                }
            }
        }
        walk(&self.blocks, &mut out);
        let p = &self.policy;
        out.push(WeightLayer::Conv(p.p1_conv.clone()));
        out.push(WeightLayer::Conv(p.g1_conv.clone()));
        out.push(WeightLayer::MatMul(p.gpool_to_bias.clone()));
        out.push(WeightLayer::Conv(p.p2_conv.clone()));
        out.push(WeightLayer::MatMul(p.gpool_to_pass.clone()));
        if let Some((_, _, m)) = &p.pass_extra {
            out.push(WeightLayer::MatMul(m.clone()));
        }
        let v = &self.value;
        out.push(WeightLayer::Conv(v.v1_conv.clone()));
        out.push(WeightLayer::MatMul(v.v2_mul.clone()));
        out.push(WeightLayer::MatMul(v.v3_mul.clone()));
        out.push(WeightLayer::MatMul(v.sv3_mul.clone()));
        out.push(WeightLayer::Conv(v.ownership_conv.clone()));
        out
    }
}

/// A layer with a weight matrix.
#[derive(Debug, Clone, PartialEq)]
pub enum WeightLayer {
    Conv(ConvDesc),
    MatMul(MatMulDesc),
}

impl WeightLayer {
    /// The weight's catalogue index.
    pub fn tensor(&self) -> usize {
        match self {
            WeightLayer::Conv(c) => c.tensor,
            WeightLayer::MatMul(m) => m.tensor,
        }
    }

    /// Inputs per output: `in · ky · kx` for a conv, `in` for a matmul.
    pub fn fan_in(&self) -> usize {
        match self {
            WeightLayer::Conv(c) => c.ic * c.ky * c.kx,
            WeightLayer::MatMul(m) => m.ic,
        }
    }
}
