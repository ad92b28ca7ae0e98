//! A quantization strategy as a genome.
//!
//! The model's catalogue fixes a [`Layout`]: the parts present (each role's
//! weight tensors, and its vectors: biases and norms, the tensors a
//! strategy selects with `biases`) and, for parts whose tensors carry a
//! layer index, the layers. A [`Genome`] cuts each layered part into
//! contiguous layer ranges (the cut points are part of the genome, so
//! evolution can move a layer from one group to another) and gives every
//! group one [`Gene`]: scheme, granularity, clipping, outlier share and
//! rounding. Tensors of a layered part without a layer, and parts without
//! layers, form one group each. Whether vectors deserve other treatment
//! than weights is for selection to find, like everything else.
//!
//! A genome converts losslessly to a [`Strategy`] (one rule per group,
//! `role`, `biases` and `layers` selectors, no default) and back
//! ([`Genome::from_strategy`]). Its cost is exact before anything is
//! quantized: [`qarena_quant::predicted_bytes`] per tensor, so a [`Budget`]
//! (bits per weight or bytes over the whole model, side data included) is
//! checked on the genome itself.
//!
//! Generation holds no human heuristics: genes are drawn uniformly from a
//! [`GeneSpace`], cut points at random; a genome over budget is repaired by
//! random cheapening steps (fewer bits, coarser groups, no outliers) or
//! rejected. Whether the stem or the heads deserve more bits is for
//! selection to find.

use std::collections::BTreeMap;

use qarena_quant::{
    plan, predicted_bytes, Clipping, Granularity, LayerRange, QuantSpec, Role, Rounding, Rule,
    Scheme, Selector, Strategy, TensorInfo,
};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Why a strategy is not a genome of a layout, or a genome cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum GenomeError {
    #[error("strategy '{strategy}', rule {rule}: {why}")]
    NotAGenome {
        strategy: String,
        rule: usize,
        why: String,
    },
    #[error("the model has no tensors to quantize")]
    EmptyCatalogue,
    #[error("no genome within {budget} was found in {tries} tries")]
    OverBudget { budget: Budget, tries: usize },
    #[error(transparent)]
    Strategy(#[from] qarena_quant::StrategyError),
}

/// What a whole model may cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Effective bits per weight over every tensor, side data included.
    BitsPerWeight(f64),
    /// Bytes of every tensor, side data included.
    Bytes(u64),
}

impl std::fmt::Display for Budget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Budget::BitsPerWeight(b) => write!(f, "{b} bits/weight"),
            Budget::Bytes(b) => write!(f, "{b} bytes"),
        }
    }
}

/// How one group of tensors is quantized.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Gene {
    pub scheme: Scheme,
    pub granularity: Granularity,
    pub clip: Clipping,
    /// Percent of the largest magnitudes kept exact.
    pub outliers: f64,
    pub rounding: Rounding,
}

impl Gene {
    pub const KEEP: Gene = Gene {
        scheme: Scheme::Keep,
        granularity: Granularity::Channel,
        clip: Clipping::None,
        outliers: 0.0,
        rounding: Rounding::Nearest,
    };

    pub fn spec(&self) -> QuantSpec {
        QuantSpec::new(self.scheme)
            .with_granularity(self.granularity)
            .with_clipping(self.clip)
            .with_outlier_percent(self.outliers)
            .with_rounding(self.rounding)
    }

    fn of_spec(s: &QuantSpec) -> Gene {
        if s.scheme == Scheme::Keep {
            return Gene::KEEP;
        }
        Gene {
            scheme: s.scheme,
            granularity: s.granularity,
            clip: s.clipping,
            outliers: s.outlier_percent,
            rounding: s.rounding,
        }
    }

    fn is_valid(&self) -> bool {
        // Calibrated rounding works on scale groups along the inputs,
        // without outliers, on grids (not the 16-bit casts).
        let calibrated_ok = self.rounding == Rounding::Nearest
            || (self.scheme.cast_type().is_none()
                && self.outliers == 0.0
                && self.granularity != Granularity::Tensor);
        calibrated_ok && self.spec().validate().is_ok()
    }

    /// The gene made valid by undoing what conflicts with `kept`, the
    /// setting just changed: a new rounding that needs calibration drops
    /// outliers and whole-tensor scales (it works on scale groups along
    /// the inputs); any other change that conflicts with calibrated
    /// rounding goes back to rounding to nearest.
    fn reconciled(self, kept: Operator) -> Gene {
        if self.is_valid() || self.rounding == Rounding::Nearest {
            return self;
        }
        if kept == Operator::RoundingSwap && self.scheme.cast_type().is_none() {
            let g = Gene {
                outliers: 0.0,
                granularity: match self.granularity {
                    Granularity::Tensor => Granularity::Channel,
                    g => g,
                },
                ..self
            };
            if g.is_valid() {
                return g;
            }
        }
        Gene {
            rounding: Rounding::Nearest,
            ..self
        }
    }

    /// `keep` carries no other settings (as in a strategy).
    fn normalized(self) -> Gene {
        if self.scheme == Scheme::Keep {
            Gene::KEEP
        } else {
            self
        }
    }
}

/// The values genes are drawn from.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneSpace {
    pub schemes: Vec<Scheme>,
    pub granularities: Vec<Granularity>,
    pub clips: Vec<Clipping>,
    pub outliers: Vec<f64>,
    pub roundings: Vec<Rounding>,
}

impl Default for GeneSpace {
    /// Every scheme the quantizer has at 2–8 bits, the 16-bit casts and keep; tensor,
    /// channel and groups of 16–128; no, MSE or 99.9th-percentile clipping;
    /// 0, 0.1 or 0.5% outliers; round to nearest ([`GeneSpace::calibrated`]
    /// adds error-compensating rounding).
    fn default() -> GeneSpace {
        let mut schemes = vec![Scheme::Keep, Scheme::Nf4, Scheme::Fp4];
        schemes.extend([Scheme::Fp8E4M3, Scheme::Fp8E5M2, Scheme::Fp16, Scheme::Bf16]);
        for bits in 2..=8 {
            schemes.push(Scheme::Int {
                bits,
                symmetric: true,
            });
            schemes.push(Scheme::Int {
                bits,
                symmetric: false,
            });
        }
        schemes.extend((2..=4).map(|bits| Scheme::Lut { bits }));
        GeneSpace {
            schemes,
            granularities: vec![
                Granularity::Tensor,
                Granularity::Channel,
                Granularity::Group(16),
                Granularity::Group(32),
                Granularity::Group(64),
                Granularity::Group(128),
            ],
            clips: vec![Clipping::None, Clipping::Mse, Clipping::Percentile(99.9)],
            outliers: vec![0.0, 0.1, 0.5],
            roundings: vec![Rounding::Nearest],
        }
    }
}

impl GeneSpace {
    /// The default space plus GPTQ rounding for every gene that allows it
    /// (scale groups along the inputs, no outliers): variants are then
    /// built from the model's calibration positions.
    pub fn calibrated() -> GeneSpace {
        GeneSpace {
            roundings: vec![Rounding::Nearest, Rounding::ErrorCompensating],
            ..GeneSpace::default()
        }
    }

    /// A uniformly drawn valid gene.
    pub fn sample(&self, rng: &mut ChaCha8Rng) -> Gene {
        loop {
            let g = Gene {
                scheme: pick(rng, &self.schemes, Scheme::Keep),
                granularity: pick(rng, &self.granularities, Granularity::Channel),
                clip: pick(rng, &self.clips, Clipping::None),
                outliers: pick(rng, &self.outliers, 0.0),
                rounding: pick(rng, &self.roundings, Rounding::Nearest),
            };
            if g.is_valid() {
                return g.normalized();
            }
        }
    }
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, xs: &[T], fallback: T) -> T {
    xs.choose(rng).copied().unwrap_or(fallback)
}

/// The parts of a model: each role split into its weight tensors and its
/// vectors (biases, norms: the tensors strategies select with `biases`),
/// with the layers of each part.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// In catalogue order: a role, whether the part is its vectors, its
    /// sorted distinct layers (empty for a part without layers), and
    /// whether some of its tensors have no layer.
    pub parts: Vec<(Role, bool, Vec<u32>, bool)>,
    catalogue: Vec<TensorInfo>,
    params: u64,
}

impl Layout {
    pub fn new(catalogue: &[TensorInfo]) -> Result<Layout, GenomeError> {
        if catalogue.is_empty() {
            return Err(GenomeError::EmptyCatalogue);
        }
        let mut parts: Vec<(Role, bool, Vec<u32>, bool)> = Vec::new();
        for t in catalogue {
            let i = match parts
                .iter()
                .position(|(r, v, _, _)| *r == t.role && *v == t.is_bias)
            {
                Some(i) => i,
                None => {
                    parts.push((t.role, t.is_bias, Vec::new(), false));
                    parts.len() - 1
                }
            };
            match t.layer {
                Some(l) => parts[i].2.push(l),
                None => parts[i].3 = true,
            }
        }
        for (_, _, layers, _) in &mut parts {
            layers.sort_unstable();
            layers.dedup();
        }
        Ok(Layout {
            parts,
            catalogue: catalogue.to_vec(),
            params: catalogue.iter().map(|t| t.numel() as u64).sum(),
        })
    }

    /// The sorted layers of the tensors a segment of `role` and `vectors`
    /// can hold (`vectors: None`: both kinds, as in genomes stored before
    /// the split).
    fn layers_of(&self, role: Role, vectors: Option<bool>) -> Vec<u32> {
        let mut out: Vec<u32> = self
            .parts
            .iter()
            .filter(|(r, v, _, _)| *r == role && vectors.is_none_or(|x| x == *v))
            .flat_map(|(_, _, ls, _)| ls.iter().copied())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Weights of the whole model.
    pub fn params(&self) -> u64 {
        self.params
    }
}

/// One group: a role, its weights or its vectors (`None`: both, as
/// genomes were stored before the split), a layer range (`None`: the
/// part's tensors without a layer, or the whole part when it has none),
/// and its gene.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub role: Role,
    pub vectors: Option<bool>,
    pub layers: Option<LayerRange>,
    pub gene: Gene,
}

impl Segment {
    fn holds(&self, t: &TensorInfo, layout: &Layout) -> bool {
        self.role == t.role
            && self.vectors.is_none_or(|v| v == t.is_bias)
            && match (self.layers, t.layer) {
                (Some(r), Some(l)) => r.contains(l),
                (None, None) => true,
                (None, Some(_)) => layout.layers_of(self.role, self.vectors).is_empty(),
                (Some(_), None) => false,
            }
    }
}

/// A strategy as groups and genes; see the module docs.
#[derive(Debug, Clone, PartialEq)]
pub struct Genome {
    pub segments: Vec<Segment>,
}

/// The mutation and recombination operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operator {
    /// A fresh random genome.
    Random,
    /// A fresh genome with one random gene for every group.
    Uniform,
    /// One group one bit narrower or wider in its scheme family.
    BitShift,
    /// A layer moves to the neighbouring group (a cut point moves, appears
    /// or disappears).
    Regroup,
    /// One group gets another scheme.
    SchemeSwap,
    /// One group gets another clipping.
    ClipSwap,
    /// One group's outlier share changes.
    OutlierToggle,
    /// One group's granularity changes.
    GranularityChange,
    /// One group gets another rounding (to nearest, error-compensating).
    RoundingSwap,
    /// Each group's gene from one of two parents.
    Crossover,
    /// A genome given whole (an earlier evolution's survivor or a hand
    /// recipe, from a strategy file): it enters generation 0 unchanged.
    Entrant,
}

impl Operator {
    pub const MUTATIONS: [Operator; 7] = [
        Operator::BitShift,
        Operator::Regroup,
        Operator::SchemeSwap,
        Operator::ClipSwap,
        Operator::OutlierToggle,
        Operator::GranularityChange,
        Operator::RoundingSwap,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Operator::Random => "random",
            Operator::Uniform => "uniform",
            Operator::Entrant => "entrant",
            Operator::BitShift => "bit_shift",
            Operator::Regroup => "regroup",
            Operator::SchemeSwap => "scheme_swap",
            Operator::ClipSwap => "clip_swap",
            Operator::OutlierToggle => "outlier_toggle",
            Operator::GranularityChange => "granularity_change",
            Operator::RoundingSwap => "rounding_swap",
            Operator::Crossover => "crossover",
        }
    }
}

/// The scheme one bit narrower (`-1`) or wider (`+1`) in its family.
fn shift_bits(s: Scheme, dir: i32) -> Option<Scheme> {
    match s {
        Scheme::Int { bits, symmetric } => {
            let b = i32::from(bits) + dir;
            (2..=8).contains(&b).then_some(Scheme::Int {
                bits: b as u8,
                symmetric,
            })
        }
        Scheme::Lut { bits } => {
            let b = i32::from(bits) + dir;
            (1..=8)
                .contains(&b)
                .then_some(Scheme::Lut { bits: b as u8 })
        }
        Scheme::Fp8E4M3 | Scheme::Fp8E5M2 if dir < 0 => Some(Scheme::Fp4),
        Scheme::Fp8E4M3 | Scheme::Fp8E5M2 => Some(Scheme::Fp16),
        Scheme::Fp16 | Scheme::Bf16 if dir < 0 => Some(Scheme::Fp8E4M3),
        Scheme::Fp4 | Scheme::Nf4 if dir > 0 => Some(Scheme::Fp8E4M3),
        Scheme::Nf4 | Scheme::Fp4 if dir < 0 => Some(Scheme::Int {
            bits: 3,
            symmetric: true,
        }),
        Scheme::Keep if dir < 0 => Some(Scheme::Int {
            bits: 8,
            symmetric: true,
        }),
        _ => None,
    }
}

/// A coarser granularity (fewer scales).
fn coarser(g: Granularity) -> Option<Granularity> {
    match g {
        Granularity::Group(n) if n < 128 => Some(Granularity::Group(n * 2)),
        Granularity::Group(_) => Some(Granularity::Channel),
        Granularity::Channel => Some(Granularity::Tensor),
        Granularity::Tensor => None,
    }
}

impl Genome {
    /// One group per part (and per layer-less share of a layered part),
    /// every gene `gene`.
    pub fn uniform(layout: &Layout, gene: Gene) -> Genome {
        let mut segments = Vec::new();
        for (role, vectors, layers, unlayered) in &layout.parts {
            let vectors = Some(*vectors);
            if let (Some(first), Some(last)) = (layers.first(), layers.last()) {
                segments.push(Segment {
                    role: *role,
                    vectors,
                    layers: Some(LayerRange {
                        start: *first,
                        end: Some(*last),
                    }),
                    gene,
                });
            }
            if *unlayered || layers.is_empty() {
                segments.push(Segment {
                    role: *role,
                    vectors,
                    layers: None,
                    gene,
                });
            }
        }
        Genome { segments }
    }

    /// A random genome: random cut points (each layer boundary cut with
    /// probability `cut`), genes drawn from `space`.
    pub fn random(layout: &Layout, space: &GeneSpace, cut: f64, rng: &mut ChaCha8Rng) -> Genome {
        let mut segments = Vec::new();
        for (role, vectors, layers, unlayered) in &layout.parts {
            let vectors = Some(*vectors);
            let mut start = 0;
            for i in 0..layers.len() {
                let last = i + 1 == layers.len();
                if last || rng.gen_bool(cut.clamp(0.0, 1.0)) {
                    segments.push(Segment {
                        role: *role,
                        vectors,
                        layers: Some(LayerRange {
                            start: layers[start],
                            end: Some(layers[i]),
                        }),
                        gene: space.sample(rng),
                    });
                    start = i + 1;
                }
            }
            if *unlayered || layers.is_empty() {
                segments.push(Segment {
                    role: *role,
                    vectors,
                    layers: None,
                    gene: space.sample(rng),
                });
            }
        }
        Genome { segments }
    }

    /// The genome as a strategy: one rule per group, nothing else kept.
    pub fn to_strategy(&self, name: &str) -> Result<Strategy, GenomeError> {
        let rules = self
            .segments
            .iter()
            .map(|s| Rule {
                selector: Selector {
                    roles: vec![s.role],
                    name: None,
                    layers: s.layers,
                    biases: s.vectors,
                },
                spec: s.gene.spec(),
            })
            .collect();
        Ok(Strategy::new(name.to_string(), None, rules, None)?)
    }

    /// The genome a strategy in genome form is (see [`Genome::to_strategy`]).
    pub fn from_strategy(s: &Strategy, layout: &Layout) -> Result<Genome, GenomeError> {
        let bad = |rule: usize, why: &str| GenomeError::NotAGenome {
            strategy: s.name().to_string(),
            rule,
            why: why.to_string(),
        };
        if s.default_spec().is_some_and(|d| d.scheme != Scheme::Keep) {
            return Err(bad(0, "a genome has no default rule"));
        }
        let mut segments = Vec::new();
        for (i, r) in s.rules().iter().enumerate() {
            let sel = &r.selector;
            let [role] = sel.roles[..] else {
                return Err(bad(i + 1, "a genome's rule names exactly one role"));
            };
            if sel.name.is_some() {
                return Err(bad(
                    i + 1,
                    "a genome's rule selects by role, biases and layers only",
                ));
            }
            if !layout
                .parts
                .iter()
                .any(|(r, v, _, _)| *r == role && sel.biases.is_none_or(|b| b == *v))
            {
                return Err(bad(i + 1, "the model has no tensor with this role"));
            }
            segments.push(Segment {
                role,
                vectors: sel.biases,
                layers: sel.layers,
                gene: Gene::of_spec(&r.spec),
            });
        }
        let g = Genome { segments };
        if !g.covers(layout) {
            return Err(bad(
                0,
                "the rules do not cover every layer of every role exactly once",
            ));
        }
        Ok(g)
    }

    /// The genome that quantizes every tensor as `s` does, for any
    /// strategy (a hand recipe with a default and rules over several roles
    /// included) that gives all tensors of one part and layer the same
    /// spec, and only specs a gene can carry. Runs of layers with equal
    /// specs become one group. The result is checked tensor by tensor
    /// against `s`, so the conversion is exact or refused.
    pub fn of_strategy(s: &Strategy, layout: &Layout) -> Result<Genome, GenomeError> {
        if let Ok(g) = Genome::from_strategy(s, layout) {
            return Ok(g);
        }
        let refuse = |why: String| GenomeError::NotAGenome {
            strategy: s.name().to_string(),
            rule: 0,
            why,
        };
        let wanted = plan(&layout.catalogue, s);
        let gene_of = |role: Role, vectors: bool, layer: Option<u32>| {
            let mut genes = wanted.iter().filter_map(|(i, spec)| {
                let t = &layout.catalogue[*i];
                (t.role == role && t.is_bias == vectors && t.layer == layer)
                    .then(|| Gene::of_spec(spec))
            });
            let first = genes.next();
            match first {
                Some(g) if genes.all(|o| o == g) => Ok(g),
                Some(_) => Err(refuse(format!(
                    "its rules quantize the {} {}{} in more than one way; \
                     a genome gives every layer of a role one gene",
                    role.as_str(),
                    if vectors { "vectors" } else { "tensors" },
                    layer.map(|l| format!(" of layer {l}")).unwrap_or_default()
                ))),
                None => Ok(Gene::KEEP),
            }
        };
        let mut segments = Vec::new();
        for (role, vectors, layers, unlayered) in &layout.parts {
            // Runs of consecutive layers with equal genes, each one group.
            let mut runs: Vec<(u32, u32, Gene)> = Vec::new();
            for &l in layers {
                let gene = gene_of(*role, *vectors, Some(l))?;
                match runs.last_mut() {
                    Some((_, end, g)) if *g == gene => *end = l,
                    _ => runs.push((l, l, gene)),
                }
            }
            segments.extend(runs.into_iter().map(|(start, end, gene)| Segment {
                role: *role,
                vectors: Some(*vectors),
                layers: Some(LayerRange {
                    start,
                    end: Some(end),
                }),
                gene,
            }));
            if *unlayered || layers.is_empty() {
                segments.push(Segment {
                    role: *role,
                    vectors: Some(*vectors),
                    layers: None,
                    gene: gene_of(*role, *vectors, None)?,
                });
            }
        }
        let g = Genome { segments };
        let got = plan(&layout.catalogue, &g.to_strategy(s.name())?);
        for ((i, want), (_, have)) in wanted.iter().zip(&got) {
            let same = if want.scheme == Scheme::Keep {
                have.scheme == Scheme::Keep
            } else {
                want == have
            };
            if !same {
                return Err(refuse(format!(
                    "tensor {} uses settings a gene does not carry (scale type or \
                     smallest scale)",
                    layout.catalogue[*i].name
                )));
            }
        }
        Ok(g)
    }

    /// Whether every tensor of the layout is in exactly one group.
    fn covers(&self, layout: &Layout) -> bool {
        layout
            .catalogue
            .iter()
            .all(|t| self.segments.iter().filter(|s| s.holds(t, layout)).count() == 1)
    }

    /// Bytes of the whole model under this genome, side data included.
    pub fn bytes(&self, layout: &Layout) -> Result<u64, GenomeError> {
        let s = self.to_strategy("genome")?;
        Ok(plan(&layout.catalogue, &s)
            .iter()
            .map(|(i, spec)| predicted_bytes(&layout.catalogue[*i], spec))
            .sum())
    }

    /// Effective bits per weight of the whole model.
    pub fn bits_per_weight(&self, layout: &Layout) -> Result<f64, GenomeError> {
        Ok(self.bytes(layout)? as f64 * 8.0 / layout.params().max(1) as f64)
    }

    pub fn within(&self, layout: &Layout, budget: Budget) -> Result<bool, GenomeError> {
        Ok(match budget {
            Budget::BitsPerWeight(b) => self.bits_per_weight(layout)? <= b,
            Budget::Bytes(b) => self.bytes(layout)? <= b,
        })
    }

    /// Cheapens random groups (one bit fewer, coarser groups, no outliers)
    /// until the genome fits the budget; `None` when `steps` are not enough.
    pub fn repair(
        mut self,
        layout: &Layout,
        budget: Budget,
        steps: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Option<Genome>, GenomeError> {
        for _ in 0..steps {
            if self.within(layout, budget)? {
                return Ok(Some(self));
            }
            let i = rng.gen_range(0..self.segments.len());
            let g = &mut self.segments[i].gene;
            let cheaper = match rng.gen_range(0..3) {
                0 => shift_bits(g.scheme, -1).map(|s| Gene { scheme: s, ..*g }),
                1 => coarser(g.granularity).map(|c| Gene {
                    granularity: c,
                    ..*g
                }),
                _ => (g.outliers > 0.0).then_some(Gene {
                    outliers: 0.0,
                    ..*g
                }),
            };
            if let Some(c) = cheaper.filter(Gene::is_valid) {
                *g = c.normalized();
            }
        }
        Ok(self.within(layout, budget)?.then_some(self))
    }

    /// A random genome within `budget` (sampled, repaired, or sampled
    /// again up to `tries` times).
    pub fn sample_within(
        layout: &Layout,
        space: &GeneSpace,
        budget: Budget,
        tries: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Genome, GenomeError> {
        Genome::drawn_within(layout, budget, tries, rng, |rng| {
            Genome::random(layout, space, 0.3, rng)
        })
    }

    /// A genome with one gene for every group, drawn from `space` and
    /// repaired to the budget (drawn again up to `tries` times).
    pub fn sample_uniform_within(
        layout: &Layout,
        space: &GeneSpace,
        budget: Budget,
        tries: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Genome, GenomeError> {
        Genome::drawn_within(layout, budget, tries, rng, |rng| {
            Genome::uniform(layout, space.sample(rng))
        })
    }

    /// A genome from `draw`, repaired to the budget (drawn again up to
    /// `tries` times).
    fn drawn_within(
        layout: &Layout,
        budget: Budget,
        tries: usize,
        rng: &mut ChaCha8Rng,
        draw: impl Fn(&mut ChaCha8Rng) -> Genome,
    ) -> Result<Genome, GenomeError> {
        for _ in 0..tries {
            if let Some(g) = draw(rng).repair(layout, budget, 200, rng)? {
                return Ok(g);
            }
        }
        Err(GenomeError::OverBudget { budget, tries })
    }

    /// `op` applied to a copy of the genome (with `other` for crossover),
    /// repaired to the budget; `None` when it cannot be repaired.
    pub fn mutate(
        &self,
        op: Operator,
        other: Option<&Genome>,
        layout: &Layout,
        space: &GeneSpace,
        budget: Budget,
        rng: &mut ChaCha8Rng,
    ) -> Result<Option<Genome>, GenomeError> {
        let mut g = self.clone();
        let n = g.segments.len();
        if n == 0 {
            return Ok(None);
        }
        let i = rng.gen_range(0..n);
        let gene = g.segments[i].gene;
        let changed = match op {
            Operator::Random => Genome::random(layout, space, 0.3, rng),
            Operator::Uniform => Genome::uniform(layout, space.sample(rng)),
            Operator::BitShift => {
                let dir = if rng.gen_bool(0.5) { 1 } else { -1 };
                if let Some(s) = shift_bits(gene.scheme, dir) {
                    g.segments[i].gene.scheme = s;
                }
                g
            }
            Operator::SchemeSwap => {
                g.segments[i].gene.scheme = pick(rng, &space.schemes, gene.scheme);
                g
            }
            Operator::ClipSwap => {
                g.segments[i].gene.clip = pick(rng, &space.clips, gene.clip);
                g
            }
            Operator::OutlierToggle => {
                g.segments[i].gene.outliers = pick(rng, &space.outliers, gene.outliers);
                g
            }
            Operator::GranularityChange => {
                g.segments[i].gene.granularity = pick(rng, &space.granularities, gene.granularity);
                g
            }
            Operator::RoundingSwap => {
                g.segments[i].gene.rounding = pick(rng, &space.roundings, gene.rounding);
                g
            }
            Operator::Regroup => g.regroup(layout, rng),
            // Entrants come whole from strategy files, never from a parent.
            Operator::Entrant => return Ok(None),
            Operator::Crossover => match other {
                Some(o) => g.crossover(o, rng),
                None => g,
            },
        };
        let mut changed = changed;
        if let Some(seg) = changed.segments.get_mut(i) {
            seg.gene = seg.gene.reconciled(op);
        }
        if changed.segments.iter().any(|s| !s.gene.is_valid()) {
            return Ok(None);
        }
        for s in &mut changed.segments {
            s.gene = s.gene.normalized();
        }
        changed.repair(layout, budget, 200, rng)
    }

    /// Moves one boundary between two groups of a layered role by one layer
    /// (merging them when one empties), or splits a group in two.
    fn regroup(mut self, layout: &Layout, rng: &mut ChaCha8Rng) -> Genome {
        let layered: Vec<usize> = (0..self.segments.len())
            .filter(|&i| self.segments[i].layers.is_some())
            .collect();
        let Some(&i) = layered.choose(rng) else {
            return self;
        };
        let seg = self.segments[i];
        let Some(r) = seg.layers else {
            return self;
        };
        let layers = layout.layers_of(seg.role, seg.vectors);
        let inside: Vec<u32> = layers.iter().copied().filter(|l| r.contains(*l)).collect();
        let next = self
            .segments
            .get(i + 1)
            .copied()
            .filter(|n| n.role == seg.role && n.vectors == seg.vectors && n.layers.is_some());
        if rng.gen_bool(0.5) && inside.len() >= 2 {
            // Split: the upper part gets a copy of the gene.
            let k = rng.gen_range(1..inside.len());
            self.segments[i].layers = Some(LayerRange {
                start: inside[0],
                end: Some(inside[k - 1]),
            });
            self.segments.insert(
                i + 1,
                Segment {
                    layers: Some(LayerRange {
                        start: inside[k],
                        end: Some(inside[inside.len() - 1]),
                    }),
                    ..seg
                },
            );
        } else if let Some(nr) = next.and_then(|n| n.layers) {
            let next_inside: Vec<u32> =
                layers.iter().copied().filter(|l| nr.contains(*l)).collect();
            if rng.gen_bool(0.5) && inside.len() >= 2 {
                // The last layer of this group moves to the next one.
                let moved = inside[inside.len() - 1];
                self.segments[i].layers = Some(LayerRange {
                    start: inside[0],
                    end: Some(inside[inside.len() - 2]),
                });
                self.segments[i + 1].layers = Some(LayerRange { start: moved, ..nr });
            } else if next_inside.len() >= 2 {
                // The first layer of the next group moves to this one.
                let moved = next_inside[0];
                self.segments[i].layers = Some(LayerRange {
                    end: Some(moved),
                    ..r
                });
                self.segments[i + 1].layers = Some(LayerRange {
                    start: next_inside[1],
                    ..nr
                });
            } else {
                // Merge the two groups, keeping this gene.
                self.segments[i].layers = Some(LayerRange { end: nr.end, ..r });
                self.segments.remove(i + 1);
            }
        }
        self
    }

    /// Each group's gene from this genome or `other` (the grouping is this
    /// genome's; a group takes `other`'s gene for its first layer).
    fn crossover(mut self, other: &Genome, rng: &mut ChaCha8Rng) -> Genome {
        for s in &mut self.segments {
            if rng.gen_bool(0.5) {
                continue;
            }
            let first = s.layers.map(|r| r.start);
            if let Some(o) = other.segments.iter().find(|o| {
                o.role == s.role
                    && o.vectors == s.vectors
                    && match (o.layers, first) {
                        (Some(r), Some(l)) => r.contains(l),
                        (None, None) => true,
                        _ => false,
                    }
            }) {
                s.gene = o.gene;
            }
        }
        self
    }

    /// Bits per weight of each group, for analysis (role/layers → bits).
    pub fn group_bits(&self, layout: &Layout) -> Result<BTreeMap<String, f64>, GenomeError> {
        let s = self.to_strategy("genome")?;
        let mut acc: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for (i, spec) in plan(&layout.catalogue, &s) {
            let t = &layout.catalogue[i];
            let rule = s.resolve(t).0.unwrap_or(usize::MAX);
            let key = self
                .segments
                .get(rule)
                .map(|seg| {
                    let part = match seg.vectors {
                        Some(true) => format!("{} vectors", seg.role.as_str()),
                        _ => seg.role.as_str().to_string(),
                    };
                    match seg.layers {
                        Some(r) => format!("{part} {r}"),
                        None => part,
                    }
                })
                .unwrap_or_else(|| "rest".into());
            let e = acc.entry(key).or_default();
            e.0 += predicted_bytes(t, &spec);
            e.1 += t.numel() as u64;
        }
        Ok(acc
            .into_iter()
            .map(|(k, (bytes, n))| (k, bytes as f64 * 8.0 / n.max(1) as f64))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qarena_quant::StorageType;
    use rand::SeedableRng;

    fn tensor(name: &str, role: Role, layer: Option<u32>, shape: &[usize]) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            role,
            layer,
            shape: shape.to_vec(),
            dtype: StorageType::F32,
            is_bias: false,
        }
    }

    fn layout() -> Layout {
        let mut cat = vec![tensor("stem", Role::Stem, None, &[32, 64])];
        for l in 0..6 {
            cat.push(tensor(&format!("b{l}"), Role::Trunk, Some(l), &[64, 64]));
        }
        cat.push(tensor("trunk_norm", Role::Trunk, None, &[64]));
        for l in 0..6 {
            let mut bias = tensor(&format!("b{l}/bias"), Role::Trunk, Some(l), &[64]);
            bias.is_bias = true;
            cat.push(bias);
        }
        cat.push(tensor("policy", Role::PolicyHead, None, &[8, 64]));
        Layout::new(&cat).unwrap()
    }

    #[test]
    fn a_genome_round_trips_through_strategy_toml() {
        let lay = layout();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..50 {
            let g = Genome::random(&lay, &GeneSpace::default(), 0.4, &mut rng);
            assert!(g.covers(&lay), "{g:?}");
            let s = g.to_strategy("x").unwrap();
            let text = s.to_toml();
            let back = Strategy::parse(&text, "x").unwrap();
            assert_eq!(Genome::from_strategy(&back, &lay).unwrap(), g, "{text}");
        }
    }

    #[test]
    fn weights_and_vectors_are_separate_groups_and_older_genomes_still_read() {
        let lay = layout();
        let g = Genome::uniform(&lay, Gene::KEEP);
        let vectors: Vec<_> = g
            .segments
            .iter()
            .filter(|s| s.vectors == Some(true))
            .collect();
        assert_eq!(vectors.len(), 1, "{g:?}");
        assert!(g
            .to_strategy("x")
            .unwrap()
            .to_toml()
            .contains("biases = true"));
        // A genome from before the split: one rule per role, no `biases`.
        let old = Strategy::parse(
            "name = \"old\"\n\
             [[rule]]\nrole = \"stem\"\nscheme = \"int8\"\n\
             [[rule]]\nrole = \"trunk\"\nlayers = \"0-5\"\nscheme = \"int4\"\n\
             [[rule]]\nrole = \"trunk\"\nscheme = \"keep\"\n\
             [[rule]]\nrole = \"policy_head\"\nscheme = \"int8\"\n",
            "old",
        )
        .unwrap();
        let back = Genome::from_strategy(&old, &lay).unwrap();
        assert!(back.segments.iter().all(|s| s.vectors.is_none()));
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for op in Operator::MUTATIONS {
            let child = back
                .mutate(
                    op,
                    None,
                    &lay,
                    &GeneSpace::default(),
                    Budget::BitsPerWeight(32.0),
                    &mut rng,
                )
                .unwrap()
                .unwrap();
            assert!(child.covers(&lay), "{op:?}: {child:?}");
        }
    }

    #[test]
    fn a_hand_recipe_converts_exactly_or_is_refused_by_name() {
        let lay = layout();
        // A default, a rule over two roles, a layer range, all vectors.
        let recipe = Strategy::parse(
            "name = \"hand\"\n\
             [[rule]]\nbiases = true\nscheme = \"fp16\"\n\
             [[rule]]\nrole = [\"stem\", \"policy_head\"]\nscheme = \"int8\"\n\
             [[rule]]\nrole = \"trunk\"\nlayers = \"2-3\"\nscheme = \"int6\"\n\
             [default]\nscheme = \"uint4\"\ngranularity = \"group:32\"\nclip = \"mse\"\n",
            "hand",
        )
        .unwrap();
        let g = Genome::of_strategy(&recipe, &lay).unwrap();
        assert!(g.covers(&lay), "{g:?}");
        let want = plan(&lay.catalogue, &recipe);
        let have = plan(&lay.catalogue, &g.to_strategy("g").unwrap());
        assert_eq!(want, have);
        // Trunk weights: layers 0-1, 2-3, 4-5 (three groups), and the
        // layer-less norm; trunk vectors: one group.
        let trunk = |v: bool| {
            g.segments
                .iter()
                .filter(|s| s.role == Role::Trunk && s.vectors == Some(v))
                .count()
        };
        assert_eq!((trunk(false), trunk(true)), (4, 1), "{g:?}");
        assert_eq!(g.bytes(&lay).unwrap(), {
            want.iter()
                .map(|(i, spec)| predicted_bytes(&lay.catalogue[*i], spec))
                .sum::<u64>()
        });
        // A genome in genome form comes back as it is.
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let r = Genome::random(&lay, &GeneSpace::default(), 0.4, &mut rng);
        assert_eq!(
            Genome::of_strategy(&r.to_strategy("r").unwrap(), &lay).unwrap(),
            r
        );
        // A rule by name that gives one of two tensors of a layer other
        // settings cannot be a genome.
        let mut cat = lay.catalogue.clone();
        cat.push(tensor("b1/other", Role::Trunk, Some(1), &[64, 64]));
        let lay2 = Layout::new(&cat).unwrap();
        let e = refusal(
            Genome::of_strategy,
            "[[rule]]\nname = \"b1/other\"\nscheme = \"int8\"\n\
             [default]\nscheme = \"int4\"\n",
            &lay2,
        );
        assert!(e.contains("trunk tensors of layer 1"), "{e}");
        // A setting genes do not carry (the scale type) is refused,
        // naming a tensor.
        let e = refusal(
            Genome::of_strategy,
            "[default]\nscheme = \"int4\"\nscale = \"bf16\"\n",
            &lay,
        );
        assert!(e.contains("tensor stem"), "{e}");
    }

    /// Why `convert` refuses the strategy with these rules.
    fn refusal(
        convert: fn(&Strategy, &Layout) -> Result<Genome, GenomeError>,
        rules: &str,
        lay: &Layout,
    ) -> String {
        let s = Strategy::parse(&format!("name = \"h\"\n{rules}"), "h").unwrap();
        convert(&s, lay).unwrap_err().to_string()
    }

    #[test]
    fn hand_strategies_that_are_not_genomes_are_named() {
        let lay = layout();
        let e = refusal(
            Genome::from_strategy,
            "[default]\nscheme = \"int4\"\n",
            &lay,
        );
        assert!(e.contains("default"), "{e}");
        let e = refusal(
            Genome::from_strategy,
            "[[rule]]\nrole = \"trunk\"\nlayers = \"0-2\"\nscheme = \"int4\"\n",
            &lay,
        );
        assert!(e.contains("cover"), "{e}");
    }

    #[test]
    fn the_cost_is_exact_and_sampling_stays_within_budget() {
        let lay = layout();
        let keep = Genome::uniform(&lay, Gene::KEEP);
        assert_eq!(keep.bits_per_weight(&lay).unwrap(), 32.0);
        let int4 = Genome::uniform(
            &lay,
            Gene {
                scheme: Scheme::Int {
                    bits: 4,
                    symmetric: true,
                },
                granularity: Granularity::Channel,
                ..Gene::KEEP
            },
        );
        let b = int4.bits_per_weight(&lay).unwrap();
        assert!(b > 4.0 && b < 4.5, "{b}");
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let space = GeneSpace::default();
        for budget in [Budget::BitsPerWeight(4.25), Budget::BitsPerWeight(3.0)] {
            for _ in 0..30 {
                let g = Genome::sample_within(&lay, &space, budget, 20, &mut rng).unwrap();
                assert!(g.within(&lay, budget).unwrap());
                for op in Operator::MUTATIONS.into_iter().chain([Operator::Crossover]) {
                    let other = Genome::sample_within(&lay, &space, budget, 20, &mut rng).unwrap();
                    if let Some(m) = g
                        .mutate(op, Some(&other), &lay, &space, budget, &mut rng)
                        .unwrap()
                    {
                        assert!(m.within(&lay, budget).unwrap(), "{op:?}");
                        assert!(m.covers(&lay), "{op:?} {m:?}");
                        assert!(m.segments.iter().all(|s| s.gene.is_valid()));
                    }
                }
            }
        }
        // An impossible budget is refused, not looped on.
        let e = Genome::sample_within(&lay, &space, Budget::Bytes(1), 3, &mut rng).unwrap_err();
        assert!(matches!(e, GenomeError::OverBudget { .. }));
    }

    #[test]
    fn the_same_seed_gives_the_same_genomes() {
        let lay = layout();
        let space = GeneSpace::default();
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..5)
                .map(|_| {
                    Genome::sample_within(&lay, &space, Budget::BitsPerWeight(4.5), 20, &mut rng)
                        .unwrap()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }

    #[test]
    fn a_rounding_change_reconciles_its_gene_and_uniform_genomes_share_one_gene() {
        let lay = layout();
        let space = GeneSpace::calibrated();
        let with_outliers = Gene {
            scheme: Scheme::Int {
                bits: 4,
                symmetric: false,
            },
            granularity: Granularity::Tensor,
            clip: Clipping::Mse,
            outliers: 0.5,
            rounding: Rounding::Nearest,
        };
        let g = Genome::uniform(&lay, with_outliers);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut calibrated = 0;
        for _ in 0..40 {
            let Some(child) = g
                .mutate(
                    Operator::RoundingSwap,
                    None,
                    &lay,
                    &space,
                    Budget::BitsPerWeight(32.0),
                    &mut rng,
                )
                .unwrap()
            else {
                continue;
            };
            assert!(child.segments.iter().all(|s| s.gene.is_valid()));
            for s in &child.segments {
                if s.gene.rounding == Rounding::ErrorCompensating {
                    // Calibrated rounding works on input groups without
                    // outliers: the rest of the gene gave way.
                    calibrated += 1;
                    assert_eq!(s.gene.outliers, 0.0);
                    assert_eq!(s.gene.granularity, Granularity::Channel);
                    assert_eq!(s.gene.scheme, with_outliers.scheme);
                }
            }
        }
        assert!(calibrated > 0);
        // Any other change that conflicts with calibrated rounding drops it.
        let gptq = Gene {
            outliers: 0.0,
            granularity: Granularity::Channel,
            rounding: Rounding::ErrorCompensating,
            ..with_outliers
        };
        assert!(gptq.is_valid());
        let back = Gene {
            outliers: 0.5,
            ..gptq
        }
        .reconciled(Operator::OutlierToggle);
        assert_eq!(back.rounding, Rounding::Nearest);
        assert_eq!(back.outliers, 0.5);
        // A uniform sample has one gene in every group, within the budget.
        for _ in 0..10 {
            let u = Genome::sample_uniform_within(
                &lay,
                &space,
                Budget::BitsPerWeight(4.25),
                20,
                &mut rng,
            )
            .unwrap();
            assert!(u.within(&lay, Budget::BitsPerWeight(4.25)).unwrap());
            assert!(u.covers(&lay));
        }
        let u =
            Genome::sample_uniform_within(&lay, &space, Budget::BitsPerWeight(64.0), 5, &mut rng)
                .unwrap();
        assert!(
            u.segments.windows(2).all(|w| w[0].gene == w[1].gene),
            "{u:?}"
        );
    }

    #[test]
    fn regrouping_moves_layers_between_groups() {
        let lay = layout();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut seen_counts = std::collections::BTreeSet::new();
        let mut g = Genome::uniform(&lay, Gene::KEEP);
        for _ in 0..40 {
            g = g.regroup(&lay, &mut rng);
            assert!(g.covers(&lay), "{g:?}");
            seen_counts.insert(g.segments.len());
        }
        assert!(seen_counts.len() > 2, "{seen_counts:?}");
    }
}
