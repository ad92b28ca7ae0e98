//! KataGo networks: `.bin.gz`, `.bin`, `.txt.gz` and `.txt`, model versions
//! 3 to 17.
//!
//! The file is one stream of whitespace-separated tokens (layer names and
//! integer/float header fields) with float blocks whose length follows from
//! the headers: `@BIN@` plus little-endian f32 in binary files, decimal
//! tokens in text files. The parser walks the same record sequence as
//! KataGo's loader (model header, trunk with stem and residual blocks, trunk
//! tip, policy head, value head) and records where every float block sits.
//!
//! Exposed shapes and their storage order:
//! - conv weights are stored `[ky][kx][in][out]` (out fastest); the
//!   catalogue shows `[out, in, ky, kx]`.
//! - matmul weights are stored `[in][out]` (out fastest); the catalogue shows
//!   `[out, in]`.
//! - batch-norm statistics, scales and biases, RMSNorm weights and matrix
//!   biases are vectors `[C]` (`is_bias`), named `<layer>/mean`,
//!   `<layer>/variance`, `<layer>/scale`, `<layer>/bias` and so on.
//!
//! Roles: the initial conv and matmul (and the SGF-metadata encoder) are the
//! stem; residual blocks are trunk with `layer` = block index (blocks nested
//! in a bottleneck block share the outer index), the last `late_blocks` of
//! them are late; the trunk tip norm is trunk without a layer.
//!
//! Invariant for text files: an unchanged tensor keeps its original tokens;
//! only tensors whose values changed are re-rendered, each value printed
//! with the shortest decimal that reads back as the same f32.
//!
//! Hostile files: every declared block size is computed with checked
//! arithmetic and compared with what the file (or a gzip file's
//! decompression limit) can hold before anything is read or reserved;
//! tokens are at most 256 bytes and a net has at most 65,536 tensors.
//! Repeated tensor names, which KataGo ignores, are renamed `name#k` in time
//! linear in the number of tensors.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use qarena_quant::{Role, StorageType, TensorInfo};

use crate::katago_arch::{
    Activation, BiasDesc, BlockDesc, ConvDesc, KataArch, MatMulDesc, NormDesc, PolicyDesc,
    PostProcess, ValueDesc,
};
use crate::source::Source;
use crate::view::Slot;
use crate::{LoadOptions, ModelError, Parsed, Result};

const MIN_VERSION: i64 = 3;
const MAX_VERSION: i64 = 17;
const BLOCK_KINDS: &str = "ordinary_block, gpool_block, nested_bottleneck_block, \
                           transformer_attention_block, transformer_ffn_block";
const ACTIVATIONS: [&str; 4] = [
    "ACTIVATION_IDENTITY",
    "ACTIVATION_RELU",
    "ACTIVATION_MISH",
    "ACTIVATION_SILU",
];
/// KataGo's binary reader gives up after this many bytes before an `@`.
const MAX_SKIP_BEFORE_AT: usize = 100;
/// Nested bottleneck blocks recurse; real nets nest once.
const MAX_NESTING: usize = 8;
/// The longest token accepted. Names are short (KataGo's exporter writes
/// dotted paths of about 60 characters, model names have at most 96) and
/// numbers shorter still; a longer token means the bytes are no KataGo net.
const MAX_TOKEN: usize = 256;
/// The most tensors accepted in one net. Real nets have at most a few
/// thousand; each tensor costs memory beyond its values (name, shape), so a
/// file of empty tensors is stopped here.
const MAX_TENSORS: usize = 1 << 16;

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// A cheap check on the (decompressed) start of a file: a name token
/// followed by a plausible model version.
pub(crate) fn looks_like_katago(head: &[u8]) -> bool {
    let mut toks = head
        .split(|&c| is_space(c))
        .filter(|t| !t.is_empty())
        .take(2);
    let (Some(name), Some(version)) = (toks.next(), toks.next()) else {
        return false;
    };
    name.len() <= MAX_TOKEN
        && name.iter().all(|c| c.is_ascii_graphic())
        && version.len() <= 3
        && version.iter().all(|c| c.is_ascii_digit())
}

/// Parses the net in `src`, decompressing it as far as the records go, and
/// takes its bytes (all of them, trailing bytes included).
pub(crate) fn parse(
    path: &Path,
    src: &mut Source<'_>,
    binary: bool,
    opts: &LoadOptions,
) -> Result<Parsed> {
    let mut p = Parser {
        path,
        src,
        pos: 0,
        binary,
        version: 0,
        values: Vec::new(),
        slots: Vec::new(),
        names: Names::default(),
        role: Role::Stem,
        layer: None,
        late_from: 0,
        late_blocks: opts.late_blocks,
    };
    let (description, arch) = p.model()?;
    let slots = std::mem::take(&mut p.slots);
    let values = std::mem::take(&mut p.values);
    let buf = src.take_bytes();
    Ok(if binary {
        Parsed {
            data: buf,
            text: None,
            slots,
            description,
            arch: Some(arch),
        }
    } else {
        Parsed {
            data: values,
            text: Some(buf),
            slots,
            description,
            arch: Some(arch),
        }
    })
}

/// Tensor names in use. KataGo ignores names, so a repeated one is kept
/// (the net loads in the engine) and renamed `name#k` with the first free
/// `k` from 2. Each base name remembers its next `k`, so every candidate is
/// tried at most once and naming stays linear in the number of tensors,
/// whatever the file repeats.
#[derive(Default)]
struct Names {
    taken: HashSet<String>,
    next: HashMap<String, usize>,
    renamed: usize,
    /// Set lookups so far (for the linearity test).
    probes: usize,
}

impl Names {
    fn unique(&mut self, name: String) -> String {
        self.probes += 1;
        if !self.taken.contains(&name) {
            self.taken.insert(name.clone());
            return name;
        }
        self.renamed += 1;
        let k = self.next.entry(name.clone()).or_insert(2);
        loop {
            self.probes += 1;
            let candidate = format!("{name}#{k}");
            *k += 1;
            if !self.taken.contains(&candidate) {
                self.taken.insert(candidate.clone());
                return candidate;
            }
        }
    }
}

struct Parser<'s, 'a> {
    path: &'s Path,
    src: &'s mut Source<'a>,
    pos: usize,
    binary: bool,
    version: i64,
    /// Text files: decoded floats, little-endian f32, in file order.
    values: Vec<u8>,
    slots: Vec<Slot>,
    names: Names,
    role: Role,
    layer: Option<u32>,
    late_from: usize,
    late_blocks: usize,
}

/// A token's place in the source: start and end byte.
type Span = (usize, usize);

impl Parser<'_, '_> {
    fn corrupt(&self, offset: usize, what: impl Into<String>) -> ModelError {
        let mut what = what.into();
        if self.src.is_gzip() {
            what.push_str(" (offsets count decompressed bytes)");
        }
        ModelError::Corrupt {
            path: self.path.to_path_buf(),
            offset: offset as u64,
            what,
        }
    }

    /// `what` (a block of declared size) cannot fit: it runs past the end of
    /// a plain file, or past the decompression limit of a gzip file.
    fn no_room(&self, what: String) -> ModelError {
        match self.src.gzip_sizes() {
            Some((limit, compressed)) => ModelError::DecompressionLimit {
                path: self.path.to_path_buf(),
                limit,
                compressed,
                reason: format!("{what} would end past that"),
            },
            None => self.corrupt(self.src.len(), format!("file ends inside {what}")),
        }
    }

    /// Skips whitespace; returns where the next token starts (the end of
    /// the content if there is none).
    fn skip_space(&mut self) -> Result<usize> {
        while let Some(c) = self.src.byte(self.pos)? {
            if !is_space(c) {
                break;
            }
            self.pos += 1;
        }
        Ok(self.pos)
    }

    /// The next token, or `None` at the end of the content.
    fn next_token(&mut self) -> Result<Option<Span>> {
        let start = self.skip_space()?;
        while let Some(c) = self.src.byte(self.pos)? {
            if is_space(c) {
                break;
            }
            self.pos += 1;
            if self.pos - start > MAX_TOKEN {
                return Err(self.corrupt(
                    start,
                    format!("a token longer than {MAX_TOKEN} bytes (KataGo names and numbers are short)"),
                ));
            }
        }
        Ok((self.pos > start).then_some((start, self.pos)))
    }

    fn raw(&self, (start, end): Span) -> &[u8] {
        &self.src.bytes()[start..end]
    }

    /// The text of a token checked by [`Parser::token`].
    fn text(&self, span: Span) -> &str {
        std::str::from_utf8(self.raw(span)).unwrap_or_default()
    }

    /// The next token, which must exist and be text.
    fn token(&mut self, what: &str) -> Result<Span> {
        let Some(span) = self.next_token()? else {
            return Err(self.corrupt(self.pos, format!("file ends where {what} was expected")));
        };
        if std::str::from_utf8(self.raw(span)).is_err() {
            return Err(self.corrupt(span.0, format!("expected {what}, found non-text bytes")));
        }
        Ok(span)
    }

    fn int(&mut self, what: &str) -> Result<i64> {
        let span = self.token(what)?;
        let tok = self.text(span);
        tok.parse::<i64>().map_err(|_| {
            self.corrupt(
                span.0,
                format!("expected an integer for {what}, found '{}'", clip(tok)),
            )
        })
    }

    /// A non-negative size (channels, kernel size, block count).
    fn count(&mut self, what: &str) -> Result<usize> {
        let at = self.skip_space()?;
        let v = self.int(what)?;
        if !(0..=1 << 24).contains(&v) {
            return Err(self.corrupt(at, format!("{what} is {v}, which is not a plausible size")));
        }
        Ok(v as usize)
    }

    /// A 0/1 flag or other small integer that must lie in `range`.
    fn int_in(&mut self, what: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64> {
        let at = self.skip_space()?;
        let v = self.int(what)?;
        if !range.contains(&v) {
            return Err(self.corrupt(
                at,
                format!(
                    "{what} must be in {}..={}, found {v}",
                    range.start(),
                    range.end()
                ),
            ));
        }
        Ok(v)
    }

    fn float(&mut self, what: &str) -> Result<f32> {
        let span = self.token(what)?;
        let tok = self.text(span);
        parse_float(tok).ok_or_else(|| {
            self.corrupt(
                span.0,
                format!("expected a number for {what}, found '{}'", clip(tok)),
            )
        })
    }

    fn name(&mut self, what: &str) -> Result<String> {
        let span = self.token(what)?;
        Ok(self.text(span).to_string())
    }

    /// Reads one float block of `n` values for tensor `name` and records it
    /// with the given exposed shape and stored strides.
    fn floats(
        &mut self,
        name: String,
        n: usize,
        shape: Vec<usize>,
        strides: Vec<usize>,
        is_bias: bool,
    ) -> Result<usize> {
        if self.slots.len() >= MAX_TENSORS {
            return Err(self.corrupt(
                self.pos,
                format!(
                    "{name} would be tensor number {}; real KataGo nets have a few thousand at most",
                    self.slots.len() + 1
                ),
            ));
        }
        let name = self.names.unique(name);
        let (offset, span) = if self.binary {
            (self.binary_block(&name, n)?, None)
        } else {
            let (offset, span) = self.text_block(&name, n)?;
            (offset, Some(span))
        };
        let info = TensorInfo {
            name,
            shape,
            dtype: StorageType::F32,
            role: self.role,
            layer: self.layer,
            is_bias,
        };
        let mut slot = Slot::strided(info, offset, strides);
        slot.text_span = span;
        let len = if self.binary {
            self.src.len()
        } else {
            self.values.len()
        };
        if !slot.fits(len) {
            // Shapes and counts come from the same header numbers, so this
            // only fires if the arithmetic above is wrong.
            return Err(self.corrupt(
                self.pos,
                format!("tensor {} does not fit its block", slot.info.name),
            ));
        }
        self.slots.push(slot);
        Ok(self.slots.len() - 1)
    }

    fn binary_block(&mut self, name: &str, n: usize) -> Result<usize> {
        let start = self.pos;
        let mut skipped = 0;
        loop {
            let Some(c) = self.src.byte(self.pos)? else {
                return Err(self.corrupt(
                    self.pos,
                    format!("file ends before the @BIN@ block of {name}"),
                ));
            };
            self.pos += 1;
            if c == b'@' {
                break;
            }
            skipped += 1;
            if skipped > MAX_SKIP_BEFORE_AT {
                return Err(self.corrupt(
                    start,
                    format!("no @BIN@ float block for {name} (is this a text model named like a binary one?)"),
                ));
            }
        }
        let marker_end = self.pos.saturating_add(4);
        self.src.fill_to(marker_end)?;
        if self.src.bytes().get(self.pos..marker_end) != Some(b"BIN@".as_slice()) {
            return Err(self.corrupt(self.pos, format!("expected 'BIN@' after '@' for {name}")));
        }
        self.pos = marker_end;
        let offset = self.pos;
        // Check the declared size against what the file can hold before
        // asking for (or decompressing) any of it.
        let end = n
            .checked_mul(4)
            .and_then(|b| b.checked_add(offset))
            .filter(|&end| end as u64 <= self.src.limit());
        let Some(end) = end else {
            return Err(self.no_room(format!(
                "the {n}-float block of {name} that starts at byte {offset}"
            )));
        };
        self.src.fill_to(end)?;
        if self.src.len() < end {
            return Err(self.corrupt(
                self.src.len(),
                format!(
                    "file ends inside the {n}-float block of {name} that starts at byte {offset}"
                ),
            ));
        }
        for (i, c) in self.src.bytes()[offset..end].chunks_exact(4).enumerate() {
            let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            if !v.is_finite() {
                return Err(self.corrupt(
                    offset + 4 * i,
                    format!("weight {i} of {name} is {v}; KataGo refuses NaN and infinite weights"),
                ));
            }
        }
        self.pos = end;
        Ok(offset)
    }

    fn text_block(&mut self, name: &str, n: usize) -> Result<(usize, std::ops::Range<usize>)> {
        let start = self.skip_space()?;
        // n tokens take at least 2n - 1 bytes: refuse a count the file
        // cannot hold before reading or reserving anything.
        let need = n.saturating_mul(2).saturating_sub(1);
        if (start as u64).saturating_add(need as u64) > self.src.limit() {
            return Err(self.no_room(format!(
                "the {n} floats of {name} that start at byte {start}"
            )));
        }
        let offset = self.values.len();
        // Reserve for what is already there; a gzip stream grows as read.
        let present = self.src.len().saturating_sub(start) / 2 + 1;
        self.values.reserve(n.min(present) * 4);
        let mut span = start..start;
        for i in 0..n {
            let Some(tok) = self.next_token()? else {
                return Err(self.corrupt(
                    self.pos,
                    format!("file ends where float {i} of {name} was expected"),
                ));
            };
            let raw = self.raw(tok);
            let Some(v) = std::str::from_utf8(raw).ok().and_then(parse_float) else {
                return Err(self.corrupt(
                    tok.0,
                    format!(
                        "float {i} of {name} is '{}', not a number",
                        clip(&String::from_utf8_lossy(raw))
                    ),
                ));
            };
            if !v.is_finite() {
                return Err(self.corrupt(
                    tok.0,
                    format!("weight {i} of {name} is {v}; KataGo refuses NaN and infinite weights"),
                ));
            }
            self.values.extend_from_slice(&v.to_le_bytes());
            if i == 0 {
                span.start = tok.0;
            }
            span.end = tok.1;
        }
        Ok((offset, span))
    }

    fn conv(&mut self) -> Result<ConvDesc> {
        let name = self.name("a conv layer name")?;
        let ky = self.count(&format!("kernel height of {name}"))?;
        let kx = self.count(&format!("kernel width of {name}"))?;
        let ic = self.count(&format!("input channels of {name}"))?;
        let oc = self.count(&format!("output channels of {name}"))?;
        let at = self.skip_space()?;
        if ky % 2 == 0 || kx % 2 == 0 {
            return Err(self.corrupt(
                at,
                format!("{name} has an even kernel size {ky}x{kx}; KataGo needs odd kernels"),
            ));
        }
        let dil_y = self.int_in(&format!("vertical dilation of {name}"), 1..=1 << 16)? as usize;
        let dil_x = self.int_in(&format!("horizontal dilation of {name}"), 1..=1 << 16)? as usize;
        // Every product of a subset of the dims is at most the full product
        // (kernel sizes are odd, so never zero), hence the strides fit too.
        let (Some(n), Some(row), Some(tap)) = (
            total(&[ky, kx, ic, oc]),
            total(&[kx, ic, oc]),
            total(&[ic, oc]),
        ) else {
            return Err(self.corrupt(at, format!("{name} is impossibly large")));
        };
        let tensor = self.floats(name, n, vec![oc, ic, ky, kx], vec![1, oc, row, tap], false)?;
        Ok(ConvDesc {
            tensor,
            ky,
            kx,
            ic,
            oc,
            dil_y,
            dil_x,
        })
    }

    fn batch_norm(&mut self) -> Result<NormDesc> {
        let name = self.name("a batch norm layer name")?;
        let c = self.count(&format!("channels of {name}"))?;
        let eps = self.float(&format!("epsilon of {name}"))?;
        let has_scale = self.int_in(&format!("has-scale flag of {name}"), 0..=1)? == 1;
        let has_bias = self.int_in(&format!("has-bias flag of {name}"), 0..=1)? == 1;
        let mean = self.vector(format!("{name}/mean"), c)?;
        let variance = self.vector(format!("{name}/variance"), c)?;
        let scale = if has_scale {
            Some(self.vector(format!("{name}/scale"), c)?)
        } else {
            None
        };
        let bias = if has_bias {
            Some(self.vector(format!("{name}/bias"), c)?)
        } else {
            None
        };
        Ok(NormDesc {
            c,
            eps,
            mean,
            variance,
            scale,
            bias,
        })
    }

    fn vector(&mut self, name: String, c: usize) -> Result<usize> {
        self.floats(name, c, vec![c], vec![1], true)
    }

    fn activation(&mut self) -> Result<Activation> {
        self.name("an activation layer name")?;
        if self.version >= 11 {
            let span = self.token("an activation kind")?;
            let kind = self.text(span);
            if let Some(k) = ACTIVATIONS.iter().position(|a| *a == kind) {
                return Ok([
                    Activation::Identity,
                    Activation::Relu,
                    Activation::Mish,
                    Activation::Silu,
                ][k]);
            } else {
                return Err(ModelError::UnsupportedLayer {
                    path: self.path.to_path_buf(),
                    offset: span.0 as u64,
                    what: "activation kind",
                    kind: clip(kind),
                    known: "ACTIVATION_IDENTITY, ACTIVATION_RELU, ACTIVATION_MISH, ACTIVATION_SILU",
                });
            }
        }
        Ok(Activation::Relu)
    }

    fn matmul(&mut self) -> Result<MatMulDesc> {
        let name = self.name("a matmul layer name")?;
        let ic = self.count(&format!("input channels of {name}"))?;
        let oc = self.count(&format!("output channels of {name}"))?;
        let n = total(&[ic, oc])
            .ok_or_else(|| self.corrupt(self.pos, format!("{name} is impossibly large")))?;
        let tensor = self.floats(name, n, vec![oc, ic], vec![1, oc], false)?;
        Ok(MatMulDesc { tensor, ic, oc })
    }

    fn mat_bias(&mut self) -> Result<BiasDesc> {
        let name = self.name("a bias layer name")?;
        let c = self.count(&format!("channels of {name}"))?;
        let tensor = self.vector(name, c)?;
        Ok(BiasDesc { tensor, c })
    }

    /// The trunk-tip RMSNorm of v15+ nets with norm kind 1.
    fn rms_norm(&mut self) -> Result<()> {
        let name = self.name("an RMSNorm layer name")?;
        let c = self.count(&format!("channels of {name}"))?;
        self.float(&format!("epsilon of {name}"))?;
        self.int(&format!("spatial flag of {name}"))?;
        self.int_in(&format!("channel group size of {name}"), 0..=0)?;
        self.vector(format!("{name}/gamma"), c)?;
        self.vector(format!("{name}/beta"), c)?;
        Ok(())
    }

    fn transformer_rms_norm(&mut self) -> Result<()> {
        let name = self.name("a transformer RMSNorm layer name")?;
        let c = self.count(&format!("channels of {name}"))?;
        self.float(&format!("epsilon of {name}"))?;
        self.vector(name, c)?;
        Ok(())
    }

    fn blocks(&mut self, n: usize, outer: Option<usize>, depth: usize) -> Result<Vec<BlockDesc>> {
        if depth > MAX_NESTING {
            return Err(self.corrupt(self.pos, "residual blocks are nested too deeply"));
        }
        let mut out = Vec::new();
        for i in 0..n {
            let index = outer.unwrap_or(i);
            self.role = if index >= self.late_from {
                Role::Late
            } else {
                Role::Trunk
            };
            self.layer = u32::try_from(index).ok();
            let span = self.token("a block kind")?;
            let at = span.0;
            let block = match self.text(span).to_string().as_str() {
                "ordinary_block" => {
                    self.name("a block name")?;
                    BlockDesc::Ordinary {
                        norm1: self.batch_norm()?,
                        act1: self.activation()?,
                        conv1: self.conv()?,
                        norm2: self.batch_norm()?,
                        act2: self.activation()?,
                        conv2: self.conv()?,
                    }
                }
                "gpool_block" => {
                    self.name("a block name")?;
                    BlockDesc::GlobalPool {
                        norm1: self.batch_norm()?,
                        act1: self.activation()?,
                        regular: self.conv()?,
                        gpool: self.conv()?,
                        gpool_norm: self.batch_norm()?,
                        gpool_act: self.activation()?,
                        gpool_to_bias: self.matmul()?,
                        norm2: self.batch_norm()?,
                        act2: self.activation()?,
                        conv2: self.conv()?,
                    }
                }
                "nested_bottleneck_block" => {
                    let name = self.name("a block name")?;
                    let inner = self.count(&format!("inner block count of {name}"))?;
                    let norm_pre = self.batch_norm()?;
                    let act_pre = self.activation()?;
                    let conv_pre = self.conv()?;
                    let inner = self.blocks(inner, Some(index), depth + 1)?;
                    self.role = if index >= self.late_from {
                        Role::Late
                    } else {
                        Role::Trunk
                    };
                    self.layer = u32::try_from(index).ok();
                    BlockDesc::Bottleneck {
                        norm_pre,
                        act_pre,
                        conv_pre,
                        inner,
                        norm_post: self.batch_norm()?,
                        act_post: self.activation()?,
                        conv_post: self.conv()?,
                    }
                }
                "transformer_attention_block" => {
                    self.attention()?;
                    BlockDesc::Unsupported("transformer attention")
                }
                "transformer_ffn_block" => {
                    let name = self.name("a block name")?;
                    self.count(&format!("channels of {name}"))?;
                    self.count(&format!("FFN channels of {name}"))?;
                    let swiglu = self.int_in(&format!("SwiGLU flag of {name}"), 0..=1)? == 1;
                    self.transformer_rms_norm()?;
                    self.matmul()?;
                    if swiglu {
                        self.matmul()?;
                    }
                    self.matmul()?;
                    BlockDesc::Unsupported("transformer feed-forward")
                }
                other => {
                    return Err(ModelError::UnsupportedLayer {
                        path: self.path.to_path_buf(),
                        offset: at as u64,
                        what: "block kind",
                        kind: clip(other),
                        known: BLOCK_KINDS,
                    })
                }
            };
            out.push(block);
        }
        Ok(out)
    }

    fn attention(&mut self) -> Result<()> {
        let name = self.name("a block name")?;
        self.count(&format!("head count of {name}"))?;
        self.count(&format!("KV head count of {name}"))?;
        self.count(&format!("query head size of {name}"))?;
        self.count(&format!("value head size of {name}"))?;
        let rope = self.int_in(&format!("RoPE flag of {name}"), 0..=1)? == 1;
        let learnable = self.int_in(&format!("learnable-RoPE flag of {name}"), 0..=1)? == 1;
        self.transformer_rms_norm()?;
        for _ in 0..4 {
            self.matmul()?;
        }
        if rope {
            if learnable {
                let freqs = self.name("a RoPE frequency table name")?;
                let kv = self.count(&format!("KV heads of {freqs}"))?;
                let pairs = self.count(&format!("pairs of {freqs}"))?;
                self.int_in(&format!("last dimension of {freqs}"), 2..=2)?;
                let n = total(&[kv, pairs, 2]).ok_or_else(|| {
                    self.corrupt(self.pos, format!("{freqs} is impossibly large"))
                })?;
                self.floats(freqs, n, vec![kv, pairs, 2], vec![pairs * 2, 2, 1], true)?;
            } else {
                self.name("a RoPE theta name")?;
                self.float(&format!("RoPE theta of {name}"))?;
            }
        }
        Ok(())
    }

    fn model(&mut self) -> Result<(String, KataArch)> {
        let model_name = self.name("the model name")?;
        let version = self.int("the model version")?;
        if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
            return Err(ModelError::UnsupportedVersion {
                path: self.path.to_path_buf(),
                found: format!("KataGo model version {version}"),
                supported: format!("KataGo model versions {MIN_VERSION} to {MAX_VERSION}"),
            });
        }
        self.version = version;
        let spatial_inputs = self.count("the number of input channels")?;
        let global_inputs = self.count("the number of global input channels")?;
        let mut post = PostProcess::default();
        if version >= 13 {
            let mut m = [0f32; 7];
            for (k, what) in [
                "the td-score multiplier",
                "the score-mean multiplier",
                "the score-stdev multiplier",
                "the lead multiplier",
                "the variance-time multiplier",
                "the short-term value error multiplier",
                "the short-term score error multiplier",
            ]
            .into_iter()
            .enumerate()
            {
                m[k] = self.float(what)?;
            }
            post = PostProcess {
                td_score: m[0],
                score_mean: m[1],
                score_stdev: m[2],
                lead: m[3],
                variance_time: m[4],
                shortterm_value_error: m[5],
                shortterm_score_error: m[6],
            };
        }
        let mut meta_encoder = 0;
        if version >= 15 {
            meta_encoder = self.int_in("the metadata encoder version", 0..=1)?;
            self.int_in("the prefer-pass-alive flag", 0..=1)?;
            for _ in 0..6 {
                self.int_in("a reserved model field", 0..=0)?;
            }
        }

        // Trunk header.
        self.name("the trunk name")?;
        let num_blocks = self.count("the number of trunk blocks")?;
        let trunk_c = self.count("the trunk channels")?;
        self.count("the mid channels")?;
        self.count("the regular channels")?;
        self.count("the dilated channels")?;
        self.count("the global pooling channels")?;
        let mut norm_kind = 0;
        if version >= 15 {
            let at = self.skip_space()?;
            norm_kind = self.int("the trunk norm kind")?;
            if !(0..=1).contains(&norm_kind) {
                return Err(ModelError::UnsupportedLayer {
                    path: self.path.to_path_buf(),
                    offset: at as u64,
                    what: "trunk norm kind",
                    kind: norm_kind.to_string(),
                    known: "0 (batch norm), 1 (RMSNorm)",
                });
            }
            for _ in 0..5 {
                self.int_in("a reserved trunk field", 0..=0)?;
            }
        }
        self.late_from = num_blocks.saturating_sub(self.late_blocks);

        self.role = Role::Stem;
        self.layer = None;
        let stem_conv = self.conv()?;
        let global_matmul = self.matmul()?;
        if meta_encoder > 0 {
            let name = self.name("the metadata encoder name")?;
            self.count(&format!("input channels of {name}"))?;
            self.matmul()?;
            self.mat_bias()?;
            self.activation()?;
            self.matmul()?;
            self.mat_bias()?;
            self.activation()?;
            self.matmul()?;
        }

        let blocks = self.blocks(num_blocks, None, 0)?;

        self.role = Role::Trunk;
        self.layer = None;
        let tip_norm = if norm_kind == 0 {
            Some(self.batch_norm()?)
        } else {
            self.rms_norm()?;
            None
        };
        let tip_act = self.activation()?;

        self.role = Role::PolicyHead;
        self.name("the policy head name")?;
        if version >= 17 {
            self.int_in("the policy output channels", 2..=4)?;
            for _ in 0..3 {
                self.int_in("a reserved policy head field", 0..=0)?;
            }
        }
        let mut policy = PolicyDesc {
            p1_conv: self.conv()?,
            g1_conv: self.conv()?,
            g1_norm: self.batch_norm()?,
            g1_act: self.activation()?,
            gpool_to_bias: self.matmul()?,
            p1_norm: self.batch_norm()?,
            p1_act: self.activation()?,
            p2_conv: self.conv()?,
            gpool_to_pass: self.matmul()?,
            pass_extra: None,
        };
        if version >= 15 {
            policy.pass_extra = Some((self.mat_bias()?, self.activation()?, self.matmul()?));
        }

        self.role = Role::ValueHead;
        self.name("the value head name")?;
        if version >= 17 {
            for _ in 0..3 {
                self.int_in("a reserved value head field", 0..=0)?;
            }
        }
        let value = ValueDesc {
            v1_conv: self.conv()?,
            v1_norm: self.batch_norm()?,
            v1_act: self.activation()?,
            v2_mul: self.matmul()?,
            v2_bias: self.mat_bias()?,
            v2_act: self.activation()?,
            v3_mul: self.matmul()?,
            v3_bias: self.mat_bias()?,
            sv3_mul: self.matmul()?,
            sv3_bias: self.mat_bias()?,
            ownership_conv: self.conv()?,
        };
        let arch = KataArch {
            version,
            spatial_inputs,
            global_inputs,
            post,
            meta_encoder: meta_encoder > 0,
            stem_conv,
            global_matmul,
            blocks,
            tip_norm,
            tip_act,
            policy,
            value,
        };

        // KataGo stops reading here; anything after the value head is kept
        // as it is and written back unchanged, but worth a mention.
        self.src.fill_all()?;
        let trailing = self.src.bytes()[self.pos..]
            .iter()
            .filter(|&&c| !is_space(c))
            .count();
        let mut description = format!(
            "KataGo model version {version}, {num_blocks} blocks x {trunk_c} channels ('{model_name}', {} floats, {} float blocks)",
            self.slots.iter().map(|s| s.info.numel()).sum::<usize>(),
            if self.binary { "binary" } else { "text" }
        );
        if trailing > 0 {
            description.push_str(&format!(", {trailing} unread bytes after the value head"));
        }
        if self.names.renamed > 0 {
            description.push_str(&format!(
                ", {} repeated tensor names renamed to name#k",
                self.names.renamed
            ));
        }
        Ok((description, arch))
    }
}

fn total(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

fn clip(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Parses a decimal float the way KataGo's reader would accept it, but
/// requiring the whole token to be the number.
fn parse_float(tok: &str) -> Option<f32> {
    tok.parse::<f32>().ok()
}

/// The shortest decimal that reads back as exactly `v`; exponent form for
/// very small or large magnitudes to keep the text compact.
fn render_float(v: f32, out: &mut Vec<u8>) {
    use std::io::Write;
    let a = v.abs();
    let _ = if a != 0.0 && !(1e-4..1e9).contains(&a) {
        write!(out, "{v:e}")
    } else {
        write!(out, "{v}")
    };
}

/// The text file with every dirty tensor's tokens replaced by its current
/// values (stored order), everything else byte for byte.
pub(crate) fn render_text(text: &[u8], values: &[u8], slots: &[Slot]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + text.len() / 8);
    let mut copied = 0;
    for slot in slots {
        let Some(span) = &slot.text_span else {
            continue;
        };
        if !slot.dirty {
            continue;
        }
        out.extend_from_slice(&text[copied..span.start]);
        // Keep the file's own separator (KataGo's exporter uses one kind).
        let sep = text[span.clone()]
            .iter()
            .copied()
            .find(|&c| is_space(c))
            .unwrap_or(b' ');
        let n = slot.info.numel();
        let bytes = &values[slot.offset..slot.offset + 4 * n];
        for (i, c) in bytes.chunks_exact(4).enumerate() {
            if i > 0 {
                out.push(sep);
            }
            render_float(f32::from_le_bytes([c[0], c[1], c[2], c[3]]), &mut out);
        }
        copied = span.end;
    }
    out.extend_from_slice(&text[copied..]);
    out
}

/// Replaces each `@BIN@` float block of a binary model by decimal tokens.
pub(crate) fn binary_to_text(data: &[u8], slots: &[Slot]) -> Vec<u8> {
    const MARKER: usize = b"@BIN@".len();
    let mut out = Vec::with_capacity(data.len() * 3);
    let mut copied = 0;
    for slot in slots {
        // Every slot of a binary model is one float block right after its marker.
        let start = slot.offset - MARKER;
        let end = slot.offset + 4 * slot.info.numel();
        out.extend_from_slice(&data[copied..start]);
        for (i, c) in data[slot.offset..end].chunks_exact(4).enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            render_float(f32::from_le_bytes([c[0], c[1], c[2], c[3]]), &mut out);
        }
        copied = end;
    }
    out.extend_from_slice(&data[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::CHUNK;

    #[test]
    fn rendered_floats_read_back_exactly() {
        for v in [
            0.0f32, -0.0, 1.0, -1.5, 0.1, 1e-20, 3.4e38, 1.17e-38, 123456.79, -7.0e-5,
        ] {
            let mut s = Vec::new();
            render_float(v, &mut s);
            let back: f32 = std::str::from_utf8(&s).unwrap().parse().unwrap();
            assert_eq!(
                back.to_bits(),
                v.to_bits(),
                "{}",
                String::from_utf8_lossy(&s)
            );
        }
    }

    /// Writes a tiny synthetic net token by token, floats as text or @BIN@.
    struct Gen {
        out: Vec<u8>,
        binary: bool,
        next: f32,
    }

    impl Gen {
        fn t(&mut self, toks: &str) -> &mut Self {
            for tok in toks.split_whitespace() {
                self.out.extend_from_slice(tok.as_bytes());
                self.out.push(b'\n');
            }
            self
        }
        fn f(&mut self, n: usize) -> &mut Self {
            let vals: Vec<f32> = (0..n)
                .map(|_| {
                    self.next += 0.125;
                    self.next
                })
                .collect();
            if self.binary {
                self.out.extend_from_slice(b"@BIN@");
                for v in vals {
                    self.out.extend_from_slice(&v.to_le_bytes());
                }
                self.out.push(b'\n');
            } else {
                let text: Vec<String> = vals.iter().map(|v| v.to_string()).collect();
                self.out.extend_from_slice(text.join(" ").as_bytes());
                self.out.push(b'\n');
            }
            self
        }
        fn conv(&mut self, name: &str, k: usize, ic: usize, oc: usize) -> &mut Self {
            self.t(&format!("{name} {k} {k} {ic} {oc} 1 1"))
                .f(k * k * ic * oc)
        }
        fn bn(&mut self, name: &str, c: usize) -> &mut Self {
            self.t(&format!("{name} {c} 1e-5 1 1")).f(c).f(c).f(c).f(c)
        }
        fn act(&mut self, name: &str) -> &mut Self {
            self.t(&format!("{name} ACTIVATION_RELU"))
        }
        fn mm(&mut self, name: &str, ic: usize, oc: usize) -> &mut Self {
            self.t(&format!("{name} {ic} {oc}")).f(ic * oc)
        }
        fn bias(&mut self, name: &str, c: usize) -> &mut Self {
            self.t(&format!("{name} {c}")).f(c)
        }
    }

    /// A v15 net with a metadata encoder, a nested bottleneck block and a
    /// global pooling block: the record kinds the shipped net lacks.
    fn synthetic_v15(binary: bool) -> Vec<u8> {
        let mut g = Gen {
            out: Vec::new(),
            binary,
            next: 0.0,
        };
        g.t("tiny 15 2 1 20 20 20 20 40 0.25 30 1 0 0 0 0 0 0 0")
            .t("trunk 2 4 4 4 4 2 0 0 0 0 0 0")
            .conv("conv1", 3, 2, 4)
            .mm("ginputw", 1, 4)
            .t("meta 192")
            .mm("meta/m1", 192, 4)
            .bias("meta/b1", 4)
            .act("meta/a1")
            .mm("meta/m2", 4, 4)
            .bias("meta/b2", 4)
            .act("meta/a2")
            .mm("meta/m3", 4, 4);
        g.t("nested_bottleneck_block nb 1")
            .bn("nb/pre", 4)
            .act("nb/preact")
            .conv("nb/preconv", 1, 4, 2)
            .t("ordinary_block nb/inner")
            .bn("nb/inner/n1", 2)
            .act("nb/inner/a1")
            .conv("nb/inner/w1", 3, 2, 2)
            .bn("nb/inner/n2", 2)
            .act("nb/inner/a2")
            .conv("nb/inner/w2", 3, 2, 2)
            .bn("nb/post", 2)
            .act("nb/postact")
            .conv("nb/postconv", 1, 2, 4);
        g.t("gpool_block gp")
            .bn("gp/n1", 4)
            .act("gp/a1")
            .conv("gp/w1a", 3, 4, 4)
            .conv("gp/w1b", 3, 4, 2)
            .bn("gp/n1b", 2)
            .act("gp/a1b")
            .mm("gp/w1r", 6, 4)
            .bn("gp/n2", 4)
            .act("gp/a2")
            .conv("gp/w2", 3, 4, 4);
        g.bn("trunk/norm", 4).act("trunk/act");
        g.t("policy")
            .conv("p1", 1, 4, 2)
            .conv("g1", 1, 4, 2)
            .bn("g1/norm", 2)
            .act("g1/act")
            .mm("matmulg2w", 6, 2)
            .bn("p1/norm", 2)
            .act("p1/act")
            .conv("p2", 1, 2, 2)
            .mm("pass", 6, 2)
            .bias("pass/b", 2)
            .act("pass/act")
            .mm("pass2", 2, 2);
        g.t("value")
            .conv("v1", 1, 4, 2)
            .bn("v1/norm", 2)
            .act("v1/act")
            .mm("v2", 6, 3)
            .bias("v2/b", 3)
            .act("v2/act")
            .mm("v3", 3, 3)
            .bias("v3/b", 3)
            .mm("sv3", 3, 6)
            .bias("sv3/b", 6)
            .conv("vown", 1, 2, 1);
        g.out
    }

    #[test]
    fn synthetic_v15_records_parse_in_both_encodings() {
        let opts = LoadOptions { late_blocks: 1 };
        let path = Path::new("tiny.txt");
        let text = synthetic_v15(false);
        let binary = synthetic_v15(true);
        let t = parse(path, &mut Source::plain(path, text.clone()), false, &opts).unwrap();
        let b = parse(path, &mut Source::plain(path, binary.clone()), true, &opts).unwrap();
        assert!(t
            .description
            .starts_with("KataGo model version 15, 2 blocks x 4 channels"));
        assert!(!t.description.contains("unread"), "{}", t.description);
        assert_eq!(t.slots.len(), b.slots.len());
        for (st, sb) in t.slots.iter().zip(&b.slots) {
            assert_eq!(st.info, sb.info);
            assert_eq!(
                crate::view::gather(&t.data, st),
                crate::view::gather(&b.data, sb)
            );
        }
        let find = |name: &str| t.slots.iter().find(|s| s.info.name == name).unwrap();
        assert_eq!(find("meta/m1").info.role, Role::Stem);
        assert_eq!(find("meta/m1").info.shape, vec![4, 192]);
        assert_eq!(find("nb/inner/w1").info.layer, Some(0));
        assert_eq!(find("nb/inner/w1").info.role, Role::Trunk);
        assert_eq!(find("nb/postconv").info.layer, Some(0));
        assert_eq!(find("gp/w1r").info.role, Role::Late);
        assert_eq!(find("gp/w1r").info.layer, Some(1));
        assert_eq!(find("trunk/norm/scale").info.layer, None);
        assert_eq!(find("pass2").info.role, Role::PolicyHead);
        assert_eq!(find("vown").info.role, Role::ValueHead);
        assert_eq!(
            render_text(t.text.as_ref().unwrap(), &t.data, &t.slots),
            text
        );
        assert_eq!(binary_to_text(&b.data, &b.slots).len(), text.len());
    }

    /// The worst case for a first-free-suffix search: every `t#k` is taken
    /// before `t` repeats. The old search started at `#2` for each repeat,
    /// about 6e8 probes here; now each candidate is tried once.
    #[test]
    fn renaming_repeated_names_is_linear() {
        let n = 20_000;
        let mut input = vec!["t".to_string()];
        input.extend((2..=n).map(|k| format!("t#{k}")));
        input.extend((0..n).map(|_| "t".to_string()));
        let mut names = Names::default();
        let out: Vec<String> = input.into_iter().map(|s| names.unique(s)).collect();
        assert_eq!(out.iter().collect::<HashSet<_>>().len(), 2 * n);
        assert_eq!(out[n], format!("t#{}", n + 1));
        assert_eq!(out[2 * n - 1], format!("t#{}", 2 * n));
        assert_eq!(names.renamed, n);
        assert!(
            names.probes <= 2 * out.len(),
            "{} probes for {} names",
            names.probes,
            out.len()
        );
    }

    /// `prefix`, then `mib` MiB of `filler`, as repeated gzip members.
    fn bomb(prefix: &[u8], filler: u8, mib: usize) -> Vec<u8> {
        use std::io::Write;
        let gz = |b: &[u8]| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(b).unwrap();
            e.finish().unwrap()
        };
        let mut out = gz(prefix);
        out.extend(gz(&vec![filler; 1 << 20]).repeat(mib));
        out
    }

    const V8: &[u8] = b"net 8 22 19 trunk 6 96 96 64 32 32 ";

    fn parse_bomb(prefix: &[u8], filler: u8) -> (ModelError, u64) {
        let gz = bomb(prefix, filler, 1024);
        let path = Path::new("bomb.bin.gz");
        let mut src = Source::gzip(path, &gz);
        let Err(err) = parse(path, &mut src, true, &LoadOptions::default()) else {
            panic!("a bomb parsed as a net");
        };
        (err, src.produced())
    }

    #[test]
    fn a_block_past_the_limit_is_refused_before_it_is_decompressed() {
        let prefix = [V8, b"conv1 1 1 8192 32768 1 1 @BIN@"].concat();
        let (err, produced) = parse_bomb(&prefix, 0);
        assert!(
            matches!(err, ModelError::DecompressionLimit { .. }),
            "{err}"
        );
        assert!(
            produced <= 2 * CHUNK as u64,
            "{produced} bytes decompressed"
        );
    }

    #[test]
    fn a_bomb_behind_a_valid_block_is_read_only_to_the_next_token() {
        let prefix = [V8, b"conv1 1 1 1024 1024 1 1 @BIN@"].concat();
        let (err, produced) = parse_bomb(&prefix, 0);
        let block_end = (prefix.len() + (4 << 20)) as u64;
        assert!(
            matches!(err, ModelError::Corrupt { offset, .. } if offset == block_end),
            "{err}"
        );
        assert!(
            produced <= block_end + 2 * CHUNK as u64,
            "{produced} bytes decompressed"
        );
    }

    #[test]
    fn an_endless_separator_run_stops_at_the_limit() {
        let (err, produced) = parse_bomb(V8, b'\n');
        let ModelError::DecompressionLimit { limit, .. } = err else {
            panic!("{err}");
        };
        assert_eq!(produced, limit + 1);
    }

    #[test]
    fn sniffing_needs_name_and_version() {
        assert!(looks_like_katago(b"g170-b6c96\n8\n22\n"));
        assert!(!looks_like_katago(b"hello world"));
        assert!(!looks_like_katago(b""));
    }
}
