//! A key/value cache as it is sent: the bytes a sharer transmits after it
//! prefilled a context, and the cache a receiver rebuilds from them.
//!
//! Both sides agree on the KV configuration beforehand (it is not sent).
//! The message is:
//!
//! * a header of [`HEADER_BYTES`]: `QKV1`, then little-endian `u16`
//!   layers, `u16` key/value heads, `u16` head size, `u32` position (the
//!   context's length) and `u32` held tokens;
//! * when pruned (held < position), a bitmap of the held positions,
//!   `ceil(position / 8)` bytes, bit `p % 8` of byte `p / 8`;
//! * per layer, the keys and then the values, each a section of whole
//!   bytes: unquantized parts as f16 (`[heads, tokens, head_dim]`); cast
//!   schemes (fp16, bf16) as their 16-bit values; scaled schemes as the
//!   codes of every value (in the order of the configuration's axis, least
//!   significant bit first, `ceil(log2 levels)` bits each) followed by,
//!   per scale group, its scale in the spec's scale type, an asymmetric
//!   grid's zero point at the code width and a palette's entries.
//!
//! Decoding gives exactly the values the fake quantizer computes (tested),
//! so an evaluation through the wire is what the bytes carry. For integer
//! code widths the sections are as long as [`crate::kv::bytes_for`]
//! predicts.

use candle_core::Tensor;
use qarena_quant::{quantize_tensor_grids, GroupGrid, QuantSpec, ScaleType, Scheme};

use crate::error::{LlmError, Result};
use crate::kv::{KvQuant, KvSpec};
use crate::model::KvCache;
use crate::weights::Config;

/// Bytes of the message's header.
pub const HEADER_BYTES: usize = 18;
const MAGIC: &[u8; 4] = b"QKV1";

/// A message and how its bytes divide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub bytes: Vec<u8>,
    /// Bytes of keys and values (codes, scales, zero points, palettes).
    pub values: u64,
    /// Bytes of the held-position bitmap (0 when nothing was pruned).
    pub positions: u64,
}

impl Message {
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn new() -> Bits {
        Bits {
            out: Vec::new(),
            acc: 0,
            n: 0,
        }
    }
    fn put(&mut self, v: u64, bits: u32) {
        debug_assert!(bits <= 32);
        let v = v & ((1u64 << bits) - 1);
        self.acc |= v << self.n;
        self.n += bits;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }
    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    acc: u64,
    n: u32,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Reader<'a> {
        Reader {
            data,
            at: 0,
            acc: 0,
            n: 0,
        }
    }
    fn get(&mut self, bits: u32) -> Result<u64> {
        while self.n < bits {
            let b = *self.data.get(self.at).ok_or_else(|| short("a section"))?;
            self.acc |= u64::from(b) << self.n;
            self.at += 1;
            self.n += 8;
        }
        let v = self.acc & ((1u64 << bits) - 1);
        self.acc >>= bits;
        self.n -= bits;
        Ok(v)
    }
    /// Bytes consumed (a section ends on a byte boundary).
    fn used(&self) -> usize {
        self.at
    }
}

fn short(what: &str) -> LlmError {
    LlmError::Mismatch(format!(
        "the received cache is truncated in {what} (was it sent under another KV configuration?)"
    ))
}

/// Bits per code of a scaled scheme.
fn code_bits(scheme: Scheme) -> u32 {
    match scheme {
        Scheme::Int { bits, .. } | Scheme::Lut { bits } => u32::from(bits),
        Scheme::Levels { levels } => (2 * levels + 1).next_power_of_two().trailing_zeros(),
        Scheme::Nf4 | Scheme::Fp4 => 4,
        Scheme::Fp8E4M3 | Scheme::Fp8E5M2 => 8,
        Scheme::Keep | Scheme::Fp16 | Scheme::Bf16 => 16,
    }
}

fn put_scale(w: &mut Bits, v: f32, t: ScaleType) {
    match t {
        ScaleType::F16 => w.put(u64::from(half::f16::from_f32(v).to_bits()), 16),
        ScaleType::Bf16 => w.put(u64::from(half::bf16::from_f32(v).to_bits()), 16),
        ScaleType::F32 => w.put(u64::from(v.to_bits()), 32),
    }
}

fn get_scale(r: &mut Reader<'_>, t: ScaleType) -> Result<f32> {
    Ok(match t {
        ScaleType::F16 => half::f16::from_bits(r.get(16)? as u16).to_f32(),
        ScaleType::Bf16 => half::bf16::from_bits(r.get(16)? as u16).to_f32(),
        ScaleType::F32 => f32::from_bits(r.get(32)? as u32),
    })
}

fn encode_part(
    x: &Tensor,
    layer: usize,
    is_k: bool,
    spec: Option<KvSpec>,
) -> Result<(Vec<u8>, Tensor)> {
    let mut w = Bits::new();
    let Some(s) = spec else {
        // Unquantized: f16, as a cache is kept for sending.
        let v = x.flatten_all()?.to_vec1::<f32>()?;
        let mut out = Vec::with_capacity(v.len());
        for x in &v {
            let h = half::f16::from_f32(*x);
            w.put(u64::from(h.to_bits()), 16);
            out.push(h.to_f32());
        }
        return Ok((w.finish(), Tensor::from_vec(out, x.dims3()?, x.device())?));
    };
    let (data, info) = s.axis.arrange(x, layer, is_k)?;
    let quant_err = |source| LlmError::Quant {
        tensor: info.name.clone(),
        source,
    };
    if let Some(t) = s.spec.scheme.cast_type() {
        let q = qarena_quant::quantize_tensor(&info, &data, &s.spec).map_err(quant_err)?;
        for v in &q.values {
            put_scale(&mut w, *v, t);
        }
        return Ok((w.finish(), s.axis.restore(q.values, x.dims3()?)?));
    }
    let (q, grids) = quantize_tensor_grids(&info, &data, &s.spec).map_err(quant_err)?;
    let layout = qarena_quant::geometry(&info, &s.spec);
    let bits = code_bits(s.spec.scheme);
    for (i, y) in q.values.iter().enumerate() {
        w.put(u64::from(grids[layout.group_of(i)].code_of(*y)), bits);
    }
    for g in &grids {
        write_group(&mut w, g, &s.spec, bits);
    }
    Ok((w.finish(), s.axis.restore(q.values, x.dims3()?)?))
}

fn write_group(w: &mut Bits, g: &GroupGrid, spec: &QuantSpec, bits: u32) {
    match spec.scheme {
        Scheme::Lut { bits: b } => {
            let entries = match g {
                GroupGrid::Table { entries, .. } => entries.as_slice(),
                _ => &[],
            };
            for j in 0..(1usize << b) {
                let v = entries.get(j).or(entries.last()).copied().unwrap_or(0.0);
                put_scale(w, v, spec.scale_type);
            }
        }
        _ => {
            put_scale(w, g.scale(), spec.scale_type);
            if let (
                Scheme::Int {
                    symmetric: false, ..
                },
                GroupGrid::Uniform { zero, .. },
            ) = (spec.scheme, g)
            {
                w.put(*zero as u64, bits);
            } else if matches!(
                spec.scheme,
                Scheme::Int {
                    symmetric: false,
                    ..
                }
            ) {
                w.put(0, bits);
            }
        }
    }
}

fn decode_part(
    r: &mut Reader<'_>,
    (h, t, d): (usize, usize, usize),
    spec: Option<KvSpec>,
) -> Result<Tensor> {
    let n = h * t * d;
    let Some(s) = spec else {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(half::f16::from_bits(r.get(16)? as u16).to_f32());
        }
        return Ok(Tensor::from_vec(v, (h, t, d), &candle_core::Device::Cpu)?);
    };
    if let Some(ct) = s.spec.scheme.cast_type() {
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(get_scale(r, ct)?);
        }
        return s.axis.restore(v, (h, t, d));
    }
    let (rows, cols) = s.axis.rows_cols(h, t, d);
    let layout = qarena_quant::geometry(
        &qarena_quant::TensorInfo {
            name: String::new(),
            shape: vec![rows, cols],
            dtype: qarena_quant::StorageType::F32,
            role: qarena_quant::Role::Other,
            layer: None,
            is_bias: false,
        },
        &s.spec,
    );
    let n_groups = layout.groups();
    let bits = code_bits(s.spec.scheme);
    let mut codes = Vec::with_capacity(n);
    for _ in 0..n {
        codes.push(r.get(bits)? as u32);
    }
    let table = qarena_quant::code_table(s.spec.scheme).unwrap_or(&[]);
    let mut grids = Vec::with_capacity(n_groups);
    for _ in 0..n_groups {
        grids.push(match s.spec.scheme {
            Scheme::Lut { bits: b } => {
                let mut entries = Vec::with_capacity(1 << b);
                for _ in 0..(1usize << b) {
                    entries.push(get_scale(r, s.spec.scale_type)?);
                }
                GroupGrid::Table {
                    scale: 1.0,
                    entries,
                }
            }
            Scheme::Int { bits: b, symmetric } => {
                let scale = get_scale(r, s.spec.scale_type)?;
                let (zero, qmin, qmax) = if symmetric {
                    let half = (1u32 << (b - 1)) as f32;
                    (0.0, -half, half - 1.0)
                } else {
                    (r.get(bits)? as f32, 0.0, ((1u32 << b) - 1) as f32)
                };
                GroupGrid::Uniform {
                    scale,
                    zero,
                    qmin,
                    qmax,
                }
            }
            Scheme::Levels { levels } => GroupGrid::Uniform {
                scale: get_scale(r, s.spec.scale_type)?,
                zero: 0.0,
                qmin: -(levels as f32),
                qmax: levels as f32,
            },
            _ => GroupGrid::Table {
                scale: get_scale(r, s.spec.scale_type)?,
                entries: table.to_vec(),
            },
        });
    }
    let values = codes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let g = layout.group_of(i);
            if grids[g].scale() == 0.0 {
                0.0
            } else {
                grids[g].value_of(*c)
            }
        })
        .collect();
    s.axis.restore(values, (h, t, d))
}

/// The message a sharer sends for `cache` under `kv` (none: f16), and the
/// cache as the receiver will rebuild it.
pub fn encode(cache: &KvCache, kv: Option<&KvQuant>) -> Result<(Message, KvCache)> {
    let mut layers = Vec::new();
    while let Some(l) = cache.layer(layers.len()) {
        layers.push(l);
    }
    let (heads, head_dim) = match layers.first() {
        Some((k, _)) => {
            let (h, _, d) = k.dims3()?;
            (h, d)
        }
        None => (0, 0),
    };
    let held = cache.len();
    let too_big = |what: &str, v: usize, max: usize| {
        (v > max).then(|| LlmError::Mismatch(format!("a cache with {v} {what} cannot be sent")))
    };
    if let Some(e) = too_big("layers", layers.len(), u16::MAX as usize)
        .or_else(|| too_big("heads", heads, u16::MAX as usize))
        .or_else(|| too_big("channels per head", head_dim, u16::MAX as usize))
        .or_else(|| too_big("positions", cache.position, u32::MAX as usize))
    {
        return Err(e);
    }
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&(layers.len() as u16).to_le_bytes());
    bytes.extend_from_slice(&(heads as u16).to_le_bytes());
    bytes.extend_from_slice(&(head_dim as u16).to_le_bytes());
    bytes.extend_from_slice(&(cache.position as u32).to_le_bytes());
    bytes.extend_from_slice(&(held as u32).to_le_bytes());
    let kept = cache.positions();
    let mut positions = 0;
    if held < cache.position {
        let mut map = vec![0u8; cache.position.div_ceil(8)];
        for p in &kept {
            map[p / 8] |= 1 << (p % 8);
        }
        positions = map.len() as u64;
        bytes.extend_from_slice(&map);
    }
    let mut received = Vec::with_capacity(layers.len());
    let start = bytes.len();
    for (i, (k, v)) in layers.iter().enumerate() {
        let (kb, kr) = encode_part(k, i, true, kv.and_then(|q| q.spec_for(i, true)))?;
        let (vb, vr) = encode_part(v, i, false, kv.and_then(|q| q.spec_for(i, false)))?;
        bytes.extend_from_slice(&kb);
        bytes.extend_from_slice(&vb);
        received.push((kr, vr));
    }
    let values = (bytes.len() - start) as u64;
    let cache = KvCache::from_parts(received, cache.position, kept)?;
    Ok((
        Message {
            bytes,
            values,
            positions,
        },
        cache,
    ))
}

/// The shape a message says its cache has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    pub layers: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    /// The context's length (the next position).
    pub position: usize,
    /// Tokens held (fewer than `position` once pruned).
    pub held: usize,
}

/// The header of a message, checked for what its bytes can hold.
pub fn shape(bytes: &[u8]) -> Result<Shape> {
    let bad = |why: String| LlmError::Mismatch(format!("the received cache {why}"));
    if bytes.len() < HEADER_BYTES || &bytes[..4] != MAGIC {
        return Err(bad("does not start with a QKV1 header".into()));
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]) as usize;
    let u32_at = |i: usize| {
        u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]) as usize
    };
    let s = Shape {
        layers: u16_at(4),
        kv_heads: u16_at(6),
        head_dim: u16_at(8),
        position: u32_at(10),
        held: u32_at(14),
    };
    if s.held > s.position {
        return Err(bad(format!("holds {} of {} positions", s.held, s.position)));
    }
    // Every value takes at least one bit: a header that claims more
    // values than the message has bits lies (and is not allocated for).
    let values =
        (s.layers as u128) * (s.kv_heads as u128) * (s.head_dim as u128) * (s.held as u128) * 2;
    if values > (bytes.len() as u128) * 8 {
        return Err(bad(format!(
            "claims {values} values in {} bytes",
            bytes.len()
        )));
    }
    Ok(s)
}

/// The cache as the sharer sent it, in the sharer's shape (what a
/// projector between model families would start from).
pub fn decode_as_sent(bytes: &[u8], kv: Option<&KvQuant>) -> Result<KvCache> {
    let bad = |why: String| LlmError::Mismatch(format!("the received cache {why}"));
    let Shape {
        layers,
        kv_heads: heads,
        head_dim,
        position,
        held,
    } = shape(bytes)?;
    let mut at = HEADER_BYTES;
    let kept: Vec<usize> = if held < position {
        let len = position.div_ceil(8);
        let map = bytes
            .get(at..at + len)
            .ok_or_else(|| short("the position map"))?;
        at += len;
        let kept: Vec<usize> = (0..position)
            .filter(|p| map[p / 8] >> (p % 8) & 1 == 1)
            .collect();
        if kept.len() != held {
            return Err(bad(format!(
                "marks {} positions held but says {held}",
                kept.len()
            )));
        }
        kept
    } else {
        (0..position).collect()
    };
    let mut out = Vec::with_capacity(layers);
    for i in 0..layers {
        let mut part = |is_k: bool| -> Result<Tensor> {
            let mut r = Reader::new(&bytes[at..]);
            let t = decode_part(
                &mut r,
                (heads, held, head_dim),
                kv.and_then(|q| q.spec_for(i, is_k)),
            )?;
            at += r.used();
            Ok(t)
        };
        let k = part(true)?;
        let v = part(false)?;
        out.push((k, v));
    }
    if at != bytes.len() {
        return Err(bad(format!(
            "has {} bytes after its last layer (was it sent under another KV configuration?)",
            bytes.len() - at
        )));
    }
    KvCache::from_parts(out, position, kept)
}

/// The cache a receiver of architecture `config` rebuilds from `bytes`
/// sent under `kv`. Refuses messages that do not fit the receiver (another
/// architecture needs a projector between the caches; see
/// [`crate::transfer::Projector`]) or that are truncated or padded.
pub fn decode(bytes: &[u8], kv: Option<&KvQuant>, config: &Config) -> Result<KvCache> {
    let s = shape(bytes)?;
    if (s.layers, s.kv_heads, s.head_dim) != (config.layers, config.kv_heads, config.head_dim()) {
        return Err(LlmError::Mismatch(format!(
            "the received cache has {} layers of {} heads of {} channels; the receiver has {} of {} of {}: \
             caches move only between models of one architecture (another family needs a projector)",
            s.layers,
            s.kv_heads,
            s.head_dim,
            config.layers,
            config.kv_heads,
            config.head_dim()
        )));
    }
    if s.position > config.context {
        return Err(LlmError::Mismatch(format!(
            "the received cache holds {} of {} positions (the receiver's context is {})",
            s.held, s.position, config.context
        )));
    }
    decode_as_sent(bytes, kv)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::*;

    const LAYERS: usize = 3;
    const HEADS: usize = 2;
    const DIM: usize = 8;

    fn config() -> Config {
        Config {
            hidden: HEADS * 2 * DIM,
            intermediate: 8,
            layers: LAYERS,
            heads: HEADS * 2,
            kv_heads: HEADS,
            vocab: 10,
            rope_theta: 10000.0,
            rms_eps: 1e-5,
            context: 64,
            rope_interleaved: true,
        }
    }

    /// A cache of `tokens` tokens with one large channel, as keys have.
    fn cache(tokens: usize) -> KvCache {
        let dev = candle_core::Device::Cpu;
        let layers = (0..LAYERS)
            .map(|l| {
                let v = |seed: usize| -> Tensor {
                    let data: Vec<f32> = (0..HEADS * tokens * DIM)
                        .map(|i| {
                            let x =
                                ((i * 7919 + seed * 104_729 + l * 31) % 1000) as f32 / 250.0 - 2.0;
                            if i % DIM == 3 {
                                x * 12.0
                            } else {
                                x
                            }
                        })
                        .collect();
                    Tensor::from_vec(data, (HEADS, tokens, DIM), &dev).unwrap()
                };
                (v(1), v(2))
            })
            .collect();
        KvCache::from_parts(layers, tokens, (0..tokens).collect()).unwrap()
    }

    fn flat(t: &Tensor) -> Vec<u32> {
        t.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|x| x.to_bits())
            .collect()
    }

    #[test]
    fn received_caches_are_exactly_the_quantized_caches_and_cost_the_predicted_bytes() {
        let c = cache(12);
        let configs = [
            None,
            Some("[k]\nscheme = \"int4\"\naxis = \"channel\"\n[v]\nscheme = \"int4\"\n"),
            Some("[k]\nscheme = \"uint4\"\ngroup = 4\n[v]\nscheme = \"int2\"\naxis = \"head\"\n"),
            Some("[k]\nscheme = \"nf4\"\n[v]\nscheme = \"fp8_e4m3\"\naxis = \"layer\"\n"),
            Some("[k]\nscheme = \"lut2\"\n[v]\nscheme = \"fp16\"\n"),
            Some("[k]\nscheme = \"int8\"\nclip = \"mse\"\n[v]\nscheme = \"int3\"\n[[layers]]\nfrom = 2\nto = 2\nk = { scheme = \"keep\" }\n"),
        ];
        for text in configs {
            let kv = text.map(|t| KvQuant::parse(t, "test").unwrap());
            let (msg, sent) = encode(&c, kv.as_ref()).unwrap();
            let got = decode(&msg.bytes, kv.as_ref(), &config()).unwrap();
            assert_eq!((got.len(), got.position), (12, 12));
            for l in 0..LAYERS {
                let (k0, v0) = c.layer(l).unwrap();
                let (k1, v1) = got.layer(l).unwrap();
                let (ks, vs) = sent.layer(l).unwrap();
                assert_eq!(flat(k1), flat(ks), "{text:?} layer {l}");
                assert_eq!(flat(v1), flat(vs), "{text:?} layer {l}");
                // What arrives is what the fake quantizer computes (f16
                // where a part is not quantized).
                if let Some(kv) = &kv {
                    for (orig, recv, is_k) in [(k0, k1, true), (v0, v1, false)] {
                        if kv.spec_for(l, is_k).is_some() {
                            assert_eq!(flat(&kv.apply(l, is_k, orig).unwrap()), flat(recv));
                        }
                    }
                }
            }
            let predicted = crate::kv::bytes_for(LAYERS, HEADS, DIM, 12, 12, kv.as_ref());
            assert_eq!(msg.values, predicted.values, "{text:?}");
            assert_eq!(msg.len() as u64, HEADER_BYTES as u64 + predicted.total());
        }
    }

    #[test]
    fn pruned_caches_send_their_positions_and_arrive_with_them() {
        let mut c = cache(20);
        c.retain(&[0, 1, 5, 9, 19]).unwrap();
        let kv = KvQuant::parse("[k]\nscheme = \"int4\"\n[v]\nscheme = \"int4\"\n", "t").unwrap();
        let (msg, _) = encode(&c, Some(&kv)).unwrap();
        assert_eq!(msg.positions, 3);
        let got = decode(&msg.bytes, Some(&kv), &config()).unwrap();
        assert_eq!(got.positions(), [0, 1, 5, 9, 19]);
        assert_eq!((got.len(), got.position), (5, 20));
        let predicted = crate::kv::bytes_for(LAYERS, HEADS, DIM, 5, 20, Some(&kv));
        assert_eq!(msg.len() as u64, HEADER_BYTES as u64 + predicted.total());
    }

    #[test]
    fn messages_that_do_not_fit_are_refused_with_a_reason() {
        let c = cache(6);
        let kv = KvQuant::parse("[k]\nscheme = \"int4\"\n[v]\nscheme = \"int4\"\n", "t").unwrap();
        let (msg, _) = encode(&c, Some(&kv)).unwrap();
        let err = |bytes: &[u8], kv: Option<&KvQuant>, cfg: &Config| {
            decode(bytes, kv, cfg).unwrap_err().to_string()
        };
        assert!(err(&msg.bytes[..msg.len() - 1], Some(&kv), &config()).contains("truncated"));
        let mut long = msg.bytes.clone();
        long.push(0);
        assert!(err(&long, Some(&kv), &config()).contains("after its last layer"));
        assert!(err(&msg.bytes, None, &config()).contains("truncated"));
        assert!(err(b"nonsense", None, &config()).contains("header"));
        let mut other = config();
        other.kv_heads = 1;
        assert!(err(&msg.bytes, Some(&kv), &other).contains("projector"));
        // A header that claims more positions than the receiver's context.
        let mut lying = msg.bytes.clone();
        lying[10..14].copy_from_slice(&1_000_000u32.to_le_bytes());
        assert!(err(&lying, Some(&kv), &config()).contains("context"));
        // A header that claims more values than the message's bits.
        let mut huge = msg.bytes.clone();
        huge[10..14].copy_from_slice(&4_000_000_000u32.to_le_bytes());
        huge[14..18].copy_from_slice(&4_000_000_000u32.to_le_bytes());
        assert!(decode_as_sent(&huge, Some(&kv))
            .unwrap_err()
            .to_string()
            .contains("claims"));
        // As sent, in the sharer's shape, without a receiver.
        let sent = decode_as_sent(&msg.bytes, Some(&kv)).unwrap();
        assert_eq!((sent.len(), sent.position), (6, 6));
    }
}
