//! Key/value-cache quantization: the new keys (after the rotary
//! embedding) and values of every layer pass through a fake quantizer
//! before they join the cache, so the cache and the current step see the
//! same values.
//!
//! A configuration (TOML) gives a spec for K and for V, and optionally
//! other specs for layer ranges (the last matching range wins):
//!
//! ```toml
//! name = "kv-int4"
//! [k]
//! scheme = "int4"        # any scheme of strategies: int2..int8, nf4, fp8_e4m3, fp8_e5m2, keep, ...
//! axis = "channel"       # token_head (default), channel, head or layer
//! [v]
//! scheme = "int4"
//! axis = "token_head"
//! group = 32             # optional: scale groups of 32 along the axis's values
//! eps = 1e-6             # optional: the smallest scale a group gets
//! [[layers]]
//! from = 26              # layers 26..=29 keep 8 bits
//! to = 29
//! k = { scheme = "int8" }
//! v = { scheme = "int8" }
//! ```
//!
//! Axes: `token_head` — one scale per token and head over the head's
//! channels; `channel` — one scale per head and channel over the tokens
//! (as KIVI does for keys); `head` — one per head; `layer` — one per layer.
//! Scales are computed over the tokens entering the cache in one step (the
//! whole context at prefill).

use std::path::Path;

use candle_core::Tensor;
use qarena_quant::{
    quantize_tensor, Clipping, Granularity, QuantSpec, Role, Scheme, StorageType, TensorInfo,
};
use serde::{Deserialize, Serialize};

use crate::error::{LlmError, Result};

/// Which values share a scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvAxis {
    TokenHead,
    Channel,
    Head,
    Layer,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecText {
    scheme: String,
    #[serde(default)]
    axis: Option<KvAxis>,
    #[serde(default)]
    group: Option<u32>,
    #[serde(default)]
    clip: Option<String>,
    /// The smallest scale a group gets.
    #[serde(default)]
    eps: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LayersText {
    from: usize,
    to: usize,
    #[serde(default)]
    k: Option<SpecText>,
    #[serde(default)]
    v: Option<SpecText>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileText {
    #[serde(default)]
    name: Option<String>,
    /// Collect per layer, part and head: absmax, scales, clipping.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    collect_stats: bool,
    #[serde(default)]
    k: Option<SpecText>,
    #[serde(default)]
    v: Option<SpecText>,
    #[serde(default)]
    layers: Vec<LayersText>,
}

/// A resolved spec for one of K or V.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KvSpec {
    pub spec: QuantSpec,
    pub axis: KvAxis,
}

/// What entered a quantized cache in one layer's keys or values of one
/// head, summed over every step that quantized them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvStat {
    pub layer: usize,
    /// `k` or `v`.
    pub part: String,
    pub head: usize,
    pub values: u64,
    /// The largest magnitude that entered.
    pub absmax: f32,
    /// Values outside the range their group's grid represents (clipped).
    pub clipped: u64,
    /// Smallest and largest scale of the head's groups (0 without scales).
    pub scale_min: f32,
    pub scale_max: f32,
    /// Scales by power of two: `floor(log2 scale)` → groups.
    pub scale_log2_hist: std::collections::BTreeMap<i32, u64>,
}

impl KvStat {
    /// The share of values clipped.
    pub fn clip_rate(&self) -> f64 {
        self.clipped as f64 / self.values.max(1) as f64
    }
}

type StatMap = std::collections::BTreeMap<(usize, bool, usize), KvStat>;

/// A parsed, valid configuration.
#[derive(Debug, Clone)]
pub struct KvQuant {
    pub name: String,
    k: Option<KvSpec>,
    v: Option<KvSpec>,
    layers: Vec<(usize, usize, Option<KvSpec>, Option<KvSpec>)>,
    canonical: String,
    /// With `collect_stats`: what entered the cache so far (shared by
    /// clones, so a model holding a clone fills the caller's).
    stats: Option<std::sync::Arc<std::sync::Mutex<StatMap>>>,
}

impl PartialEq for KvQuant {
    fn eq(&self, other: &KvQuant) -> bool {
        self.canonical == other.canonical && self.name == other.name
    }
}

fn bad(source: &str, reason: impl Into<String>) -> LlmError {
    LlmError::Mismatch(format!("KV configuration {source}: {}", reason.into()))
}

fn resolve(t: &SpecText, source: &str, what: &str) -> Result<KvSpec> {
    let scheme: Scheme = t
        .scheme
        .parse()
        .map_err(|e| bad(source, format!("{what}: {e}")))?;
    let mut spec = QuantSpec::new(scheme).with_granularity(match t.group {
        Some(g) => Granularity::Group(g),
        None => Granularity::Channel,
    });
    if let Some(c) = &t.clip {
        spec = spec.with_clipping(
            c.parse::<Clipping>()
                .map_err(|e| bad(source, format!("{what}: {e}")))?,
        );
    }
    if let Some(eps) = t.eps {
        spec = spec.with_min_scale(eps);
    }
    spec.validate()
        .map_err(|e| bad(source, format!("{what}: {e}")))?;
    Ok(KvSpec {
        spec,
        axis: t.axis.unwrap_or(KvAxis::TokenHead),
    })
}

impl KvQuant {
    /// Parses a configuration; `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<KvQuant> {
        let f: FileText = toml::from_str(text).map_err(|e| bad(source, e.to_string()))?;
        let opt = |t: &Option<SpecText>, what: &str| -> Result<Option<KvSpec>> {
            t.as_ref().map(|t| resolve(t, source, what)).transpose()
        };
        let mut layers = Vec::new();
        for (i, l) in f.layers.iter().enumerate() {
            if l.from > l.to {
                return Err(bad(
                    source,
                    format!(
                        "layers entry {}: from {} is after to {}",
                        i + 1,
                        l.from,
                        l.to
                    ),
                ));
            }
            layers.push((l.from, l.to, opt(&l.k, "layers.k")?, opt(&l.v, "layers.v")?));
        }
        let canonical = serde_json::to_string(&f).unwrap_or_default();
        Ok(KvQuant {
            name: f.name.clone().unwrap_or_else(|| "kv".into()),
            k: opt(&f.k, "k")?,
            v: opt(&f.v, "v")?,
            layers,
            canonical,
            stats: f.collect_stats.then(Default::default),
        })
    }

    /// Whether the configuration collects statistics.
    pub fn collects_stats(&self) -> bool {
        self.stats.is_some()
    }

    /// The statistics collected so far, by layer, part and head.
    pub fn stats(&self) -> Vec<KvStat> {
        self.stats
            .as_ref()
            .and_then(|s| s.lock().ok().map(|m| m.values().cloned().collect()))
            .unwrap_or_default()
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        layer: usize,
        is_k: bool,
        x: &Tensor,
        s: KvSpec,
        info: &TensorInfo,
        data: &[f32],
        grids: &[qarena_quant::GroupGrid],
    ) -> Result<()> {
        let Some(stats) = &self.stats else {
            return Ok(());
        };
        let (h, t, d) = x.dims3()?;
        let raw = x.flatten_all()?.to_vec1::<f32>()?;
        let mut map = stats
            .lock()
            .map_err(|_| LlmError::Mismatch("KV statistics were poisoned by a panic".into()))?;
        let mut heads: Vec<KvStat> = (0..h)
            .map(|head| {
                map.remove(&(layer, is_k, head)).unwrap_or_else(|| KvStat {
                    layer,
                    part: if is_k { "k" } else { "v" }.into(),
                    head,
                    values: 0,
                    absmax: 0.0,
                    clipped: 0,
                    scale_min: 0.0,
                    scale_max: 0.0,
                    scale_log2_hist: Default::default(),
                })
            })
            .collect();
        for (i, v) in raw.iter().enumerate() {
            let st = &mut heads[i / (t * d).max(1)];
            st.values += 1;
            st.absmax = st.absmax.max(v.abs());
        }
        let layout = qarena_quant::geometry(info, &s.spec);
        if !grids.is_empty() {
            let cols = layout.row_len.max(1);
            let head_of_row = |r: usize| -> Option<usize> {
                match s.axis {
                    KvAxis::TokenHead => Some(r / t.max(1)),
                    KvAxis::Channel => Some(r / d.max(1)),
                    KvAxis::Head => Some(r),
                    KvAxis::Layer => None,
                }
            };
            for (i, x) in data.iter().enumerate() {
                let (lo, hi) = grids[layout.group_of(i)].extent();
                if *x < lo || *x > hi {
                    let head = head_of_row(i / cols).unwrap_or(i / (t * d).max(1));
                    heads[head].clipped += 1;
                }
            }
            for (g, grid) in grids.iter().enumerate() {
                let scale = grid.scale();
                if scale <= 0.0 {
                    continue;
                }
                let targets: Vec<usize> = match head_of_row(g / layout.groups_per_row.max(1)) {
                    Some(head) => vec![head],
                    None => (0..h).collect(),
                };
                for head in targets {
                    let st = &mut heads[head];
                    st.scale_min = if st.scale_min == 0.0 {
                        scale
                    } else {
                        st.scale_min.min(scale)
                    };
                    st.scale_max = st.scale_max.max(scale);
                    *st.scale_log2_hist
                        .entry(scale.log2().floor() as i32)
                        .or_insert(0) += 1;
                }
            }
        }
        for st in heads {
            map.insert((layer, is_k, st.head), st);
        }
        Ok(())
    }

    pub fn from_file(path: &Path) -> Result<KvQuant> {
        let text = fs_err::read_to_string(path).map_err(|e| LlmError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The configuration as canonical JSON (part of evaluation keys).
    pub fn canonical_json(&self) -> &str {
        &self.canonical
    }

    /// The spec of K (`is_k`) or V in `layer`, if it is quantized.
    pub fn spec_for(&self, layer: usize, is_k: bool) -> Option<KvSpec> {
        let mut out = if is_k { self.k } else { self.v };
        for (from, to, k, v) in &self.layers {
            if (*from..=*to).contains(&layer) {
                if let Some(s) = if is_k { k } else { v } {
                    out = Some(*s);
                }
            }
        }
        out.filter(|s| s.spec.scheme != Scheme::Keep)
    }

    /// The same configuration applied to `layer` only (every other layer
    /// keeps its cache): one step of a per-layer sensitivity scan.
    pub fn only_layer(&self, layer: usize) -> KvQuant {
        KvQuant {
            name: format!("{}@layer{layer}", self.name),
            k: None,
            v: None,
            layers: vec![(
                layer,
                layer,
                self.spec_for(layer, true),
                self.spec_for(layer, false),
            )],
            canonical: format!("{}@layer{layer}", self.canonical),
            stats: None,
        }
    }

    /// `x` (`[kv_heads, tokens, head_dim]`) as the cache would hold it.
    pub fn apply(&self, layer: usize, is_k: bool, x: &Tensor) -> Result<Tensor> {
        let Some(s) = self.spec_for(layer, is_k) else {
            return Ok(x.clone());
        };
        let (data, info) = s.axis.arrange(x, layer, is_k)?;
        let err = |source| LlmError::Quant {
            tensor: info.name.clone(),
            source,
        };
        let q = if self.stats.is_some() && s.spec.scheme.cast_type().is_none() {
            let (q, grids) =
                qarena_quant::quantize_tensor_grids(&info, &data, &s.spec).map_err(err)?;
            self.record(layer, is_k, x, s, &info, &data, &grids)?;
            q
        } else {
            let q = quantize_tensor(&info, &data, &s.spec).map_err(err)?;
            self.record(layer, is_k, x, s, &info, &data, &[])?;
            q
        };
        s.axis.restore(q.values, x.dims3()?)
    }
}

impl KvAxis {
    /// The rows `(rows, cols)` this axis shares scales over.
    pub fn rows_cols(self, heads: usize, tokens: usize, head_dim: usize) -> (usize, usize) {
        match self {
            KvAxis::TokenHead => (heads * tokens, head_dim),
            KvAxis::Channel => (heads * head_dim, tokens),
            KvAxis::Head => (heads, tokens * head_dim),
            KvAxis::Layer => (1, heads * tokens * head_dim),
        }
    }

    /// `x` (`[kv_heads, tokens, head_dim]`) laid out in those rows, with
    /// the matrix's description for the quantizer.
    pub(crate) fn arrange(
        self,
        x: &Tensor,
        layer: usize,
        is_k: bool,
    ) -> Result<(Vec<f32>, TensorInfo)> {
        let (h, t, d) = x.dims3()?;
        let arranged = match self {
            KvAxis::Channel => x.transpose(1, 2)?.contiguous()?,
            _ => x.clone(),
        };
        let (rows, cols) = self.rows_cols(h, t, d);
        let info = TensorInfo {
            name: format!("kv.{}.{layer}", if is_k { "k" } else { "v" }),
            shape: vec![rows, cols],
            dtype: StorageType::F32,
            role: Role::Other,
            layer: Some(layer as u32),
            is_bias: false,
        };
        Ok((arranged.flatten_all()?.to_vec1::<f32>()?, info))
    }

    /// The inverse of [`KvAxis::arrange`]: `[kv_heads, tokens, head_dim]`.
    pub(crate) fn restore(
        self,
        data: Vec<f32>,
        (h, t, d): (usize, usize, usize),
    ) -> Result<Tensor> {
        let dev = candle_core::Device::Cpu;
        Ok(match self {
            KvAxis::Channel => Tensor::from_vec(data, (h, d, t), &dev)?
                .transpose(1, 2)?
                .contiguous()?,
            _ => Tensor::from_vec(data, (h, t, d), &dev)?,
        })
    }
}

/// What sending a prefilled cache costs, in bytes: every layer's keys
/// and values as the configuration stores them (codes, scales, zero points;
/// f16 where a part is not quantized) and, for a pruned cache, the kept
/// tokens' positions (a bitmap over the context's positions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CacheBytes {
    pub tokens: usize,
    pub values: u64,
    pub positions: u64,
}

impl CacheBytes {
    pub fn total(&self) -> u64 {
        self.values + self.positions
    }
}

/// The bytes of `cache` as it would be sent under `kv` (none: f16).
pub fn cache_bytes(cache: &crate::model::KvCache, kv: Option<&KvQuant>) -> Result<CacheBytes> {
    let mut layers = 0;
    let mut shape = (0, 0);
    while let Some((k, _)) = cache.layer(layers) {
        let (h, _, d) = k.dims3()?;
        shape = (h, d);
        layers += 1;
    }
    Ok(bytes_for(
        layers,
        shape.0,
        shape.1,
        cache.len(),
        cache.position,
        kv,
    ))
}

/// The bytes of a cache of `layers` layers of `heads` key/value heads of
/// `head_dim` channels holding `held` of `position` tokens, under `kv`.
pub fn bytes_for(
    layers: usize,
    heads: usize,
    head_dim: usize,
    held: usize,
    position: usize,
    kv: Option<&KvQuant>,
) -> CacheBytes {
    let mut values = 0u64;
    for i in 0..layers {
        for is_k in [true, false] {
            let spec = kv.and_then(|q| q.spec_for(i, is_k));
            let (rows, cols) = spec
                .map_or(KvAxis::TokenHead, |s| s.axis)
                .rows_cols(heads, held, head_dim);
            let info = TensorInfo {
                name: String::new(),
                shape: vec![rows, cols],
                dtype: StorageType::F16,
                role: Role::Other,
                layer: None,
                is_bias: false,
            };
            values += match spec {
                Some(s) => qarena_quant::predicted_bytes(&info, &s.spec),
                None => info.bytes(),
            };
        }
    }
    CacheBytes {
        tokens: held,
        values,
        positions: if held < position {
            (position as u64).div_ceil(8)
        } else {
            0
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    #[test]
    fn configurations_parse_resolve_by_layer_and_refuse_nonsense() {
        let kv = KvQuant::parse(
            "name = \"x\"\n[k]\nscheme = \"int4\"\naxis = \"channel\"\n[v]\nscheme = \"int4\"\ngroup = 32\n[[layers]]\nfrom = 2\nto = 3\nk = { scheme = \"int8\" }\nv = { scheme = \"keep\" }\n",
            "test",
        )
        .unwrap();
        assert_eq!(kv.spec_for(0, true).unwrap().axis, KvAxis::Channel);
        assert_eq!(
            kv.spec_for(2, true).unwrap().spec.scheme.to_string(),
            "int8"
        );
        assert!(kv.spec_for(3, false).is_none());
        assert_eq!(
            kv.spec_for(1, false).unwrap().spec.granularity,
            Granularity::Group(32)
        );
        for bad in [
            "[k]\nscheme = \"int99\"\n",
            "[k]\nscheme = \"int4\"\naxis = \"diagonal\"\n",
            "[k]\nscheme = \"int4\"\nbits = 3\n",
            "[[layers]]\nfrom = 5\nto = 1\n",
            "[k]\nscheme = \"int4\"\neps = -1.0\n",
            "collect_stats = 1\n",
        ] {
            assert!(KvQuant::parse(bad, "bad").is_err(), "{bad}");
        }
    }

    #[test]
    fn sent_bytes_count_codes_scales_and_kept_positions() {
        // SmolLM2's cache: 30 layers, 3 heads of 64 channels, f16: 23,040
        // bytes per token.
        let full = bytes_for(30, 3, 64, 100, 100, None);
        assert_eq!(
            (full.values, full.positions),
            (30 * 2 * 3 * 64 * 2 * 100, 0)
        );
        // int4 per token and head: 64 four-bit codes and one f16 scale per
        // row; half the tokens kept adds a 100-bit position map.
        let kv = KvQuant::parse("[k]\nscheme = \"int4\"\n[v]\nscheme = \"int4\"\n", "t").unwrap();
        let half = bytes_for(30, 3, 64, 50, 100, Some(&kv));
        assert_eq!(half.values, 30 * 2 * 3 * 50 * (32 + 2));
        assert_eq!(half.positions, 13);
        assert_eq!(half.total(), half.values + 13);
    }

    #[test]
    fn statistics_count_values_absmax_scales_and_clipping_per_head() {
        // Two heads, three tokens, four channels; head 1 has one outlier.
        let mut v: Vec<f32> = (0..24).map(|i| (i % 5) as f32 * 0.1 - 0.2).collect();
        v[12 + 5] = 9.0;
        let x = Tensor::from_vec(v, (2, 3, 4), &candle_core::Device::Cpu).unwrap();
        let kv = KvQuant::parse(
            "collect_stats = true\n[k]\nscheme = \"int4\"\nclip = \"percentile:50\"\n[v]\nscheme = \"int4\"\naxis = \"layer\"\n",
            "t",
        )
        .unwrap();
        assert!(kv.collects_stats());
        let plain = KvQuant::parse("[k]\nscheme = \"int4\"\n", "t").unwrap();
        assert!(!plain.collects_stats() && plain.stats().is_empty());
        // Collecting is part of the configuration's identity.
        assert_ne!(kv.canonical_json(), plain.canonical_json());
        kv.apply(0, true, &x).unwrap();
        kv.apply(0, true, &x).unwrap();
        kv.apply(0, false, &x).unwrap();
        let st = kv.stats();
        assert_eq!(st.len(), 4);
        let k1 = st.iter().find(|s| s.part == "k" && s.head == 1).unwrap();
        assert_eq!(k1.values, 24);
        assert_eq!(k1.absmax, 9.0);
        // A median clip clips the larger half of each row's magnitudes.
        assert!(k1.clipped > 0 && k1.clip_rate() < 0.75);
        // One scale per token and head, twice: six per head.
        assert_eq!(k1.scale_log2_hist.values().sum::<u64>(), 6);
        assert!(k1.scale_max >= k1.scale_min && k1.scale_min > 0.0);
        // Per layer: the one scale counts for both heads, nothing clips.
        let v0 = st.iter().find(|s| s.part == "v" && s.head == 0).unwrap();
        assert_eq!((v0.values, v0.clipped), (12, 0));
        assert_eq!(v0.scale_log2_hist.values().sum::<u64>(), 1);
        assert_eq!(v0.absmax, 0.2);
    }

    #[test]
    fn statistics_find_each_value_in_its_own_group_when_groups_do_not_divide_the_row() {
        // One head, 40 tokens, 2 channels; per channel over the tokens in
        // groups of 32: tokens 0..32 are large, 32..40 small. Without a clip
        // nothing falls outside its own group's grid.
        let v: Vec<f32> = (0..40)
            .flat_map(|t| {
                let x = if t < 32 {
                    5.0 + t as f32
                } else {
                    0.01 * t as f32
                };
                [x, -x]
            })
            .collect();
        let x = Tensor::from_vec(v, (1, 40, 2), &candle_core::Device::Cpu).unwrap();
        let kv = KvQuant::parse(
            "collect_stats = true\n[k]\nscheme = \"uint4\"\naxis = \"channel\"\ngroup = 32\n",
            "t",
        )
        .unwrap();
        kv.apply(0, true, &x).unwrap();
        let st = kv.stats();
        assert_eq!(st.len(), 1);
        assert_eq!((st[0].values, st[0].clipped), (80, 0));
        // Two channels, two groups each.
        assert_eq!(st[0].scale_log2_hist.values().sum::<u64>(), 4);
    }

    #[test]
    fn each_axis_shares_scales_where_it_says() {
        // Two heads, three tokens, four channels; channel 3 of head 0 is
        // large on every token.
        let mut v = vec![0.1f32; 24];
        for t in 0..3 {
            v[t * 4 + 3] = 10.0;
        }
        let x = Tensor::from_vec(v, (2, 3, 4), &candle_core::Device::Cpu).unwrap();
        let q = |axis: &str| {
            let kv = KvQuant::parse(&format!("[k]\nscheme = \"int2\"\naxis = \"{axis}\"\n"), "t")
                .unwrap();
            kv.apply(0, true, &x)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        };
        // Per token and head: the big channel crushes its token's small
        // values of head 0; head 1 keeps its own scale.
        let th = q("token_head");
        assert_eq!(th[0], 0.0);
        assert!((th[12] - 0.1).abs() < 1e-3);
        // Per channel: the small channels of head 0 have their own scale.
        let ch = q("channel");
        assert!((ch[0] - 0.1).abs() < 1e-3 && (ch[3] - 10.0).abs() < 1e-2);
        // Per layer: one scale; head 1's small values vanish too.
        assert_eq!(q("layer")[12], 0.0);
    }
}
