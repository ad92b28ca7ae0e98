//! The project's own Llama forward pass on candle (CPU, f32): every
//! position's logits, and a key/value cache the caller owns, so it can be
//! snapshotted (tensors are reference-counted), restored and, later,
//! quantized or pruned.

use candle_core::{DType, Device, Tensor, D};

use std::sync::{Arc, Mutex, PoisonError};

use qarena_quant::{GptqPlan, GptqSettings, Hessian, QuantError, TensorCache};

use crate::error::Result;
use crate::weights::{Config, LlmModel};

/// A weight matrix as the runtime holds it: f32 (the reference
/// arithmetic, and what gradients need) or candle's Q8_0 blocks with its
/// quantized matmul (the speed runtime; activations are rounded to 8 bits
/// too, as ggml does).
enum Linear {
    F32(Tensor),
    Q8(candle_core::quantized::QMatMul),
}

impl Linear {
    fn new(t: Tensor, q8: bool) -> Result<Linear> {
        if q8 {
            let q = candle_core::quantized::QTensor::quantize(
                &t,
                candle_core::quantized::GgmlDType::Q8_0,
            )?;
            Ok(Linear::Q8(candle_core::quantized::QMatMul::from_qtensor(
                q,
            )?))
        } else {
            Ok(Linear::F32(t))
        }
    }

    /// `x · Wᵀ`.
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Linear::F32(w) => x.matmul(&w.t()?)?,
            Linear::Q8(q) => candle_core::Module::forward(q, x)?,
        })
    }

    fn f32(&self) -> Option<&Tensor> {
        match self {
            Linear::F32(w) => Some(w),
            Linear::Q8(_) => None,
        }
    }
}

struct Block {
    attn_norm: Tensor,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
}

/// A model ready to run.
pub struct Llama {
    pub config: Config,
    embed: Tensor,
    blocks: Vec<Block>,
    norm: Tensor,
    lm_head: Linear,
    cos: Tensor,
    sin: Tensor,
    /// Quantizes new keys and values before they join the cache.
    kv: Option<crate::kv::KvQuant>,
}

/// The input statistics of every linear layer over calibration text:
/// `Σ x xᵀ` by weight name, for error-compensating rounding.
#[derive(Debug, Clone)]
pub struct Calibration {
    pub tokens: usize,
    pub hessians: std::collections::BTreeMap<String, Arc<Hessian>>,
    /// GPTQ plans made from these Hessians so far, shared by clones: the
    /// variants built from one calibration (an evolution's genomes) make
    /// each plan once. Bounded by [`PLAN_CACHE_VALUES`].
    plans: Arc<Mutex<PlanCache>>,
}

/// Plans by the address of their Hessian, each kept with the Hessian it
/// was made from (so the address cannot be reused while the plan is held).
type PlanCache = TensorCache<usize, (Arc<Hessian>, GptqPlan)>;

/// A GPTQ plan with the Hessian it was made from.
pub type Planned = Arc<(Arc<Hessian>, GptqPlan)>;

/// Values (f64) of GPTQ plans a calibration keeps: 1 GiB.
pub const PLAN_CACHE_VALUES: usize = 1 << 27;

impl Calibration {
    /// A calibration of `tokens` tokens with these input statistics.
    pub fn new(
        tokens: usize,
        hessians: std::collections::BTreeMap<String, Arc<Hessian>>,
    ) -> Calibration {
        Calibration {
            tokens,
            hessians,
            plans: Arc::new(Mutex::new(TensorCache::new(PLAN_CACHE_VALUES))),
        }
    }

    /// GPTQ's plan for the Hessian `h` (one of this calibration's; `name`
    /// names a layer that has it, for errors), made once and kept.
    pub fn plan(&self, h: &Arc<Hessian>, name: &str) -> std::result::Result<Planned, QuantError> {
        let key = Arc::as_ptr(h) as usize;
        let lock = || self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(held) = lock().get(&key) {
            if Arc::ptr_eq(&held.0, h) {
                return Ok(held);
            }
        }
        let plan = GptqPlan::new(h, &GptqSettings::default(), name)?;
        let made = Arc::new((h.clone(), plan));
        lock().insert(key, made.clone(), h.cols * h.cols);
        Ok(made)
    }

    /// Plans looked up and plans made so far.
    pub fn plan_hits_and_misses(&self) -> (u64, u64) {
        self.plans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .hits_and_misses()
    }
}

impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("config", &self.config)
            .finish()
    }
}

/// The keys (after the rotary embedding) and values of every layer for
/// the tokens kept so far, `[kv_heads, tokens, head_dim]` per layer.
///
/// `position` is the absolute position of the next token (rotary angles
/// follow it); after pruning the cache holds fewer tokens than that, and
/// masks are sized from what it holds.
#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    /// Tokens seen so far: the position of the next token.
    pub position: usize,
    /// With [`KvCache::track_attention`]: per cached token, the attention
    /// it received summed over layers, heads and the queries that saw it,
    /// and how many (layer, head, query) triples saw it.
    attention: Option<(Vec<f64>, Vec<f64>)>,
    /// The absolute positions of the held tokens once pruned (`None`:
    /// every position so far).
    kept: Option<Vec<usize>>,
    /// Held tokens no query may attend to (see [`KvCache::mask_out`]).
    hidden: Vec<usize>,
}

impl KvCache {
    pub fn new() -> KvCache {
        KvCache::default()
    }

    /// A cache from its parts (a received cache): per layer keys and
    /// values `[kv_heads, held, head_dim]`, the next position, and the
    /// absolute positions of the held tokens (increasing, below
    /// `position`).
    pub fn from_parts(
        layers: Vec<(Tensor, Tensor)>,
        position: usize,
        kept: Vec<usize>,
    ) -> Result<KvCache> {
        let bad = |why: String| Err(crate::LlmError::Mismatch(format!("a cache {why}")));
        if kept.windows(2).any(|w| w[0] >= w[1]) || kept.last().is_some_and(|l| *l >= position) {
            return bad(format!(
                "holds positions that are not increasing below {position}"
            ));
        }
        for (k, v) in &layers {
            if k.dims() != v.dims() || k.dims3()?.1 != kept.len() {
                return bad(format!(
                    "layer of keys {:?} and values {:?} for {} positions",
                    k.dims(),
                    v.dims(),
                    kept.len()
                ));
            }
        }
        let all = kept.len() == position;
        Ok(KvCache {
            layers: layers.into_iter().map(Some).collect(),
            position,
            attention: None,
            kept: (!all).then_some(kept),
            hidden: Vec::new(),
        })
    }

    /// Keeps the held tokens at `indices` in the cache but masks them out
    /// of every later query's attention: what pruning them should be
    /// equivalent to (pruning drops them instead). Pruning clears it.
    pub fn mask_out(&mut self, indices: &[usize]) {
        self.hidden = indices
            .iter()
            .copied()
            .filter(|i| *i < self.len())
            .collect();
    }

    /// The absolute positions of the held tokens, in order.
    pub fn positions(&self) -> Vec<usize> {
        match &self.kept {
            Some(k) => k.clone(),
            None => (0..self.len()).collect(),
        }
    }

    /// Layer `i`'s keys and values, `[kv_heads, tokens, head_dim]` each.
    pub fn layer(&self, i: usize) -> Option<(&Tensor, &Tensor)> {
        self.layers.get(i)?.as_ref().map(|(k, v)| (k, v))
    }

    /// Tokens held (fewer than `position` once pruned).
    pub fn len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .and_then(|(k, _)| k.dim(1).ok())
            .unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sum, from now on, the attention each cached token receives (the
    /// score heavy-hitter pruning keeps tokens by).
    pub fn track_attention(&mut self) {
        self.attention = Some((vec![0.0; self.len()], vec![0.0; self.len()]));
    }

    /// The mean attention each cached token received from the queries that
    /// could see it (a sum would favour early tokens, which more queries
    /// see), if tracked.
    pub fn attention_mass(&self) -> Option<Vec<f64>> {
        self.attention.as_ref().map(|(mass, seen)| {
            mass.iter()
                .zip(seen)
                .map(|(m, n)| if *n > 0.0 { m / n } else { 0.0 })
                .collect()
        })
    }

    /// Per cached token, the mean L2 norm of its keys over layers and heads.
    pub fn key_norms(&self) -> Result<Vec<f64>> {
        let mut out = vec![0.0; self.len()];
        let mut count = 0.0;
        for (k, _) in self.layers.iter().flatten() {
            // [heads, tokens, dim] -> [heads, tokens]
            let n = k.sqr()?.sum(2)?.sqrt()?.to_vec2::<f32>()?;
            for head in n {
                for (t, v) in head.iter().enumerate() {
                    if let Some(o) = out.get_mut(t) {
                        *o += f64::from(*v);
                    }
                }
                count += 1.0;
            }
        }
        if count > 0.0 {
            out.iter_mut().for_each(|o| *o /= count);
        }
        Ok(out)
    }

    /// Keeps only the cached tokens at `keep` (indices into the cache, in
    /// increasing order) in every layer; the position is unchanged.
    pub fn retain(&mut self, keep: &[usize]) -> Result<()> {
        let len = self.len();
        if keep.windows(2).any(|w| w[0] >= w[1]) || keep.last().is_some_and(|l| *l >= len) {
            return Err(crate::LlmError::Mismatch(format!(
                "tokens to keep must be increasing indices below {len}"
            )));
        }
        let positions = self.positions();
        self.hidden.clear();
        self.kept = Some(keep.iter().map(|i| positions[*i]).collect());
        let idx: Vec<u32> = keep.iter().map(|i| *i as u32).collect();
        let idx = Tensor::from_vec(idx, keep.len(), &Device::Cpu)?;
        for (k, v) in self.layers.iter_mut().flatten() {
            *k = k.index_select(&idx, 1)?;
            *v = v.index_select(&idx, 1)?;
        }
        if let Some((mass, seen)) = &mut self.attention {
            let pick = |v: &[f64]| -> Vec<f64> {
                keep.iter()
                    .map(|i| v.get(*i).copied().unwrap_or(0.0))
                    .collect()
            };
            *mass = pick(mass);
            *seen = pick(seen);
        }
        Ok(())
    }
}

fn tensor(m: &LlmModel, name: &str) -> Result<Tensor> {
    let w = m.weights.get(name).ok_or_else(|| crate::LlmError::Model {
        path: m.path.clone(),
        reason: format!("tensor {name} is missing"),
    })?;
    Ok(Tensor::from_slice(
        &w.data,
        w.shape.as_slice(),
        &Device::Cpu,
    )?)
}

impl Llama {
    /// Builds the model from loaded (possibly fake-quantized) weights, in
    /// f32.
    pub fn new(m: &LlmModel) -> Result<Llama> {
        Self::build(m, false)
    }

    /// The same model with every matrix in Q8_0 blocks and candle's
    /// quantized matmul: the fast runtime (`llm bench`); evaluations use
    /// [`Llama::new`].
    pub fn new_q8(m: &LlmModel) -> Result<Llama> {
        Self::build(m, true)
    }

    fn build(m: &LlmModel, q8: bool) -> Result<Llama> {
        m.check()?;
        let c = m.config.clone();
        let mut blocks = Vec::with_capacity(c.layers);
        for i in 0..c.layers {
            let t = |s: &str| tensor(m, &format!("blk.{i}.{s}.weight"));
            let l = |s: &str| Linear::new(t(s)?, q8);
            blocks.push(Block {
                attn_norm: t("attn_norm")?,
                wq: l("attn_q")?,
                wk: l("attn_k")?,
                wv: l("attn_v")?,
                wo: l("attn_output")?,
                ffn_norm: t("ffn_norm")?,
                gate: l("ffn_gate")?,
                up: l("ffn_up")?,
                down: l("ffn_down")?,
            });
        }
        let embed = tensor(m, "token_embd.weight")?;
        let lm_head = Linear::new(
            if m.weights.contains_key("output.weight") {
                tensor(m, "output.weight")?
            } else {
                embed.clone()
            },
            q8,
        )?;
        let hd = c.head_dim();
        let context = c.context.clamp(1, 1 << 16);
        let inv: Vec<f32> = (0..hd / 2)
            .map(|i| 1.0 / c.rope_theta.powf(2.0 * i as f32 / hd as f32))
            .collect();
        let inv = Tensor::from_vec(inv, (1, hd / 2), &Device::Cpu)?;
        let pos = Tensor::arange(0u32, context as u32, &Device::Cpu)?
            .to_dtype(DType::F32)?
            .reshape((context, 1))?;
        let freqs = pos.matmul(&inv)?;
        Ok(Llama {
            embed,
            blocks,
            norm: tensor(m, "output_norm.weight")?,
            lm_head,
            cos: freqs.cos()?,
            sin: freqs.sin()?,
            config: c,
            kv: None,
        })
    }

    /// The input statistics of every linear layer over `tokens`, run in
    /// windows of `window` tokens, each from an empty cache.
    pub fn calibrate(&self, tokens: &[u32], window: usize) -> Result<Calibration> {
        let layers = self.blocks.len();
        let sums = std::sync::Mutex::new(vec![None; layers * 4 + 1]);
        let window = window.clamp(2, self.cos.dim(0)?);
        for chunk in tokens.chunks(window) {
            self.run_with(chunk, &mut KvCache::new(), None, Some(&sums))?;
        }
        let sums = sums.into_inner().unwrap_or_default();
        let mut hessians = std::collections::BTreeMap::new();
        let to_hessian = |t: &Tensor| -> Result<std::sync::Arc<qarena_quant::Hessian>> {
            let cols = t.dim(0)?;
            let v = t.flatten_all()?.to_vec1::<f32>()?;
            Ok(std::sync::Arc::new(qarena_quant::Hessian {
                cols,
                n: tokens.len() as u64,
                h: v.iter().map(|x| f64::from(*x)).collect(),
            }))
        };
        for (slot, t) in sums.iter().enumerate() {
            let Some(t) = t else { continue };
            let h = to_hessian(t)?;
            let (layer, kind) = (slot / 4, slot % 4);
            let names: &[&str] = if slot == layers * 4 {
                &["output.weight"]
            } else {
                match kind {
                    0 => &["attn_q", "attn_k", "attn_v"],
                    1 => &["attn_output"],
                    2 => &["ffn_gate", "ffn_up"],
                    _ => &["ffn_down"],
                }
            };
            for n in names {
                let name = if slot == layers * 4 {
                    n.to_string()
                } else {
                    format!("blk.{layer}.{n}.weight")
                };
                hessians.insert(name, h.clone());
            }
        }
        Ok(Calibration::new(tokens.len(), hessians))
    }

    /// The same model with its key/value cache quantized as `kv` says.
    pub fn with_kv(mut self, kv: crate::kv::KvQuant) -> Llama {
        self.kv = Some(kv);
        self
    }

    /// Runs `tokens` after what `cache` holds and returns their logits,
    /// `[tokens, vocab]`; the cache then holds them too.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Tensor> {
        self.run(tokens, cache, None)
    }

    /// [`Llama::forward`] from an empty cache with every layer's MLP
    /// weights (`[gate, up, down]`) given, through operations that all
    /// have gradients, so the weights may be functions of variables
    /// (palette distillation).
    pub fn forward_train(&self, tokens: &[u32], mlp: &[[Tensor; 3]]) -> Result<Tensor> {
        if mlp.len() != self.blocks.len() {
            return Err(crate::LlmError::Mismatch(format!(
                "{} MLP weight sets for {} layers",
                mlp.len(),
                self.blocks.len()
            )));
        }
        self.run(tokens, &mut KvCache::new(), Some(mlp))
    }

    fn run(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        mlp: Option<&[[Tensor; 3]]>,
    ) -> Result<Tensor> {
        self.run_with(tokens, cache, mlp, None)
    }

    /// [`Llama::run`] that, while calibrating, adds per layer `Σ x xᵀ` of
    /// the inputs of the attention projections, the output projection,
    /// the MLP's gate and up, and its down projection (slots `4·layer` to
    /// `4·layer + 3`), then of the output head (the last slot).
    fn run_with(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        mlp: Option<&[[Tensor; 3]]>,
        calib: Option<&std::sync::Mutex<Vec<Option<Tensor>>>>,
    ) -> Result<Tensor> {
        // Adds `x xᵀ` of the rows of `x` to calibration slot `slot`.
        let collect = |slot: usize, x: &Tensor| -> Result<()> {
            if let Some(m) = calib {
                let xtx = x.t()?.matmul(x)?;
                let mut sums = m
                    .lock()
                    .map_err(|_| crate::LlmError::Mismatch("calibration poisoned".into()))?;
                if let Some(s) = sums.get_mut(slot) {
                    *s = Some(match s.take() {
                        Some(old) => (old + xtx)?,
                        None => xtx,
                    });
                }
            }
            Ok(())
        };
        let train = mlp.is_some();
        let c = &self.config;
        let n = tokens.len();
        let start = cache.position;
        if n == 0 {
            return Ok(Tensor::zeros((0, c.vocab), DType::F32, &Device::Cpu)?);
        }
        if start + n > self.cos.dim(0)? {
            return Err(crate::LlmError::Mismatch(format!(
                "{} tokens are past the model's context of {}",
                start + n,
                self.cos.dim(0)?
            )));
        }
        if cache.layers.len() != self.blocks.len() {
            cache.layers = vec![None; self.blocks.len()];
        }
        let ids = Tensor::from_slice(tokens, n, &Device::Cpu)?;
        let mut x = self.embed.index_select(&ids, 0)?;
        let (hd, nh, nkv) = (c.head_dim(), c.heads, c.kv_heads);
        let cos = self.cos.narrow(0, start, n)?;
        let sin = self.sin.narrow(0, start, n)?;
        // The mask comes from what the cache holds (fewer tokens than the
        // position once pruned): row i sees every cached token and the new
        // tokens up to itself.
        let past = cache.len();
        let total = past + n;
        let mask = if n > 1 || !cache.hidden.is_empty() {
            let mut hidden = vec![false; total];
            for h in &cache.hidden {
                hidden[*h] = true;
            }
            let m: Vec<f32> = (0..n)
                .flat_map(|i| {
                    let hidden = &hidden;
                    (0..total).map(move |j| {
                        if j > past + i || hidden[j] {
                            f32::NEG_INFINITY
                        } else {
                            0.0
                        }
                    })
                })
                .collect();
            Some(Tensor::from_vec(m, (n, total), &Device::Cpu)?)
        } else {
            None
        };
        if let Some((mass, seen)) = &mut cache.attention {
            mass.resize(total, 0.0);
            seen.resize(total, 0.0);
        }
        let eps = c.rms_eps as f32;
        let norm = |x: &Tensor, w: &Tensor| -> Result<Tensor> {
            Ok(if train {
                candle_nn::ops::rms_norm_slow(x, w, eps)?
            } else {
                candle_nn::ops::rms_norm(x, w, eps)?
            })
        };
        let rope = |x: &Tensor| -> Result<Tensor> {
            Ok(match (train, c.rope_interleaved) {
                (false, true) => candle_nn::rotary_emb::rope_i(x, &cos, &sin)?,
                (false, false) => candle_nn::rotary_emb::rope(x, &cos, &sin)?,
                (true, interleaved) => rope_slow(x, &cos, &sin, interleaved)?,
            })
        };
        let scale = 1.0 / (hd as f64).sqrt();
        for (li, (b, slot)) in self.blocks.iter().zip(cache.layers.iter_mut()).enumerate() {
            let h = norm(&x, &b.attn_norm)?;
            collect(li * 4, &h)?;
            let heads = |w: &Linear, k: usize| -> Result<Tensor> {
                Ok(w.apply(&h)?
                    .reshape((1, n, k, hd))?
                    .transpose(1, 2)?
                    .contiguous()?)
            };
            let (q, k, v) = (heads(&b.wq, nh)?, heads(&b.wk, nkv)?, heads(&b.wv, nkv)?);
            let (q, k) = (rope(&q)?, rope(&k)?);
            let (k, v) = (k.squeeze(0)?, v.squeeze(0)?);
            let (k, v) = match &self.kv {
                Some(kv) => (kv.apply(li, true, &k)?, kv.apply(li, false, &v)?),
                None => (k, v),
            };
            let (k, v) = match slot.take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 1)?, Tensor::cat(&[&pv, &v], 1)?),
                None => (k, v),
            };
            *slot = Some((k.clone(), v.clone()));
            // Grouped-query attention: each key/value head serves
            // nh / nkv query heads.
            let rep = nh / nkv;
            let q = q.squeeze(0)?.reshape((nkv, rep * n, hd))?;
            let att = (q.matmul(&k.t()?)? * scale)?.reshape((nkv, rep, n, total))?;
            let att = match &mask {
                Some(m) => att.broadcast_add(m)?,
                None => att,
            };
            let att = if train {
                candle_nn::ops::softmax(&att, D::Minus1)?
            } else {
                candle_nn::ops::softmax_last_dim(&att)?
            };
            let att = att.reshape((nkv, rep * n, total))?;
            if let Some((mass, seen)) = &mut cache.attention {
                let per_token = att.sum(1)?.sum(0)?.to_vec1::<f32>()?;
                for (j, (m, a)) in mass.iter_mut().zip(per_token).enumerate() {
                    *m += f64::from(a);
                    let rows = if j < past { n } else { n - (j - past) };
                    seen[j] += (rows * nh) as f64;
                }
            }
            let out = att
                .matmul(&v.contiguous()?)?
                .reshape((nh, n, hd))?
                .transpose(0, 1)?
                .reshape((n, nh * hd))?;
            collect(li * 4 + 1, &out)?;
            x = (x + b.wo.apply(&out)?)?;
            let h = norm(&x, &b.ffn_norm)?;
            collect(li * 4 + 2, &h)?;
            let ffn = match mlp {
                Some(w) => {
                    let g = h.matmul(&w[li][0].t()?)?.silu()?;
                    let u = h.matmul(&w[li][1].t()?)?;
                    (g * u)?.matmul(&w[li][2].t()?)?
                }
                None => {
                    let g = b.gate.apply(&h)?.silu()?;
                    let u = b.up.apply(&h)?;
                    let gu = (g * u)?;
                    collect(li * 4 + 3, &gu)?;
                    b.down.apply(&gu)?
                }
            };
            x = (x + ffn)?;
        }
        if let Some(kept) = &mut cache.kept {
            kept.extend(start..start + n);
        }
        cache.position = start + n;
        let x = norm(&x, &self.norm)?;
        collect(self.blocks.len() * 4, &x)?;
        self.lm_head.apply(&x)
    }

    /// The MLP weights of every layer (`[gate, up, down]`) of an f32
    /// model (`None` for the Q8_0 runtime).
    pub fn mlp_weights(&self) -> Option<Vec<[Tensor; 3]>> {
        self.blocks
            .iter()
            .map(|b| {
                Some([
                    b.gate.f32()?.clone(),
                    b.up.f32()?.clone(),
                    b.down.f32()?.clone(),
                ])
            })
            .collect()
    }

    /// Greedy continuation of `prompt` by up to `max_tokens` tokens
    /// (stopping at `eos`).
    pub fn generate(
        &self,
        prompt: &[u32],
        max_tokens: usize,
        eos: Option<u32>,
    ) -> Result<Vec<u32>> {
        let mut cache = KvCache::new();
        let mut logits = self.forward(prompt, &mut cache)?;
        let mut out = Vec::new();
        for _ in 0..max_tokens {
            let last = logits.get(logits.dim(0)? - 1)?;
            let next = last.argmax(D::Minus1)?.to_scalar::<u32>()?;
            if Some(next) == eos {
                break;
            }
            out.push(next);
            logits = self.forward(&[next], &mut cache)?;
        }
        Ok(out)
    }
}

/// The rotary embedding through basic operations (which have gradients):
/// pairs `(x[2i], x[2i+1])` when `interleaved`, else `(x[i], x[i+d/2])`,
/// rotated by the position's angle.
fn rope_slow(x: &Tensor, cos: &Tensor, sin: &Tensor, interleaved: bool) -> Result<Tensor> {
    let (b, h, t, d) = x.dims4()?;
    let cos = cos.reshape((1, 1, t, d / 2))?;
    let sin = sin.reshape((1, 1, t, d / 2))?;
    if interleaved {
        let xr = x.reshape((b, h, t, d / 2, 2))?;
        let x0 = xr.narrow(4, 0, 1)?.squeeze(4)?;
        let x1 = xr.narrow(4, 1, 1)?.squeeze(4)?;
        let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
        let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
        Ok(Tensor::stack(&[&r0, &r1], 4)?.reshape((b, h, t, d))?)
    } else {
        let x0 = x.narrow(3, 0, d / 2)?;
        let x1 = x.narrow(3, d / 2, d / 2)?;
        let r0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
        let r1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
        Ok(Tensor::cat(&[&r0, &r1], 3)?)
    }
}
