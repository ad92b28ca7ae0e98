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

use std::collections::HashSet;
use std::path::Path;

use qarena_quant::{Role, StorageType, TensorInfo};

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
    name.len() <= 256
        && name.iter().all(|c| c.is_ascii_graphic())
        && version.len() <= 3
        && version.iter().all(|c| c.is_ascii_digit())
}

pub(crate) fn parse(
    path: &Path,
    buf: Vec<u8>,
    binary: bool,
    gz: bool,
    opts: &LoadOptions,
) -> Result<Parsed> {
    let mut p = Parser {
        path,
        buf: &buf,
        pos: 0,
        binary,
        gz,
        version: 0,
        values: Vec::new(),
        slots: Vec::new(),
        names: HashSet::new(),
        role: Role::Stem,
        layer: None,
        late_from: 0,
        late_blocks: opts.late_blocks,
    };
    let description = p.model()?;
    let slots = std::mem::take(&mut p.slots);
    if binary {
        Ok(Parsed {
            data: buf,
            text: None,
            slots,
            description,
        })
    } else {
        let data = std::mem::take(&mut p.values);
        Ok(Parsed {
            data,
            text: Some(buf),
            slots,
            description,
        })
    }
}

struct Parser<'a> {
    path: &'a Path,
    buf: &'a [u8],
    pos: usize,
    binary: bool,
    gz: bool,
    version: i64,
    /// Text files: decoded floats, little-endian f32, in file order.
    values: Vec<u8>,
    slots: Vec<Slot>,
    names: HashSet<String>,
    role: Role,
    layer: Option<u32>,
    late_from: usize,
    late_blocks: usize,
}

impl<'a> Parser<'a> {
    fn corrupt(&self, offset: usize, what: impl Into<String>) -> ModelError {
        let mut what = what.into();
        if self.gz {
            what.push_str(" (offsets count decompressed bytes)");
        }
        ModelError::Corrupt {
            path: self.path.to_path_buf(),
            offset: offset as u64,
            what,
        }
    }

    fn token(&mut self, what: &str) -> Result<(usize, &'a str)> {
        let buf = self.buf;
        while self.pos < buf.len() && is_space(buf[self.pos]) {
            self.pos += 1;
        }
        let start = self.pos;
        if start >= buf.len() {
            return Err(self.corrupt(start, format!("file ends where {what} was expected")));
        }
        while self.pos < buf.len() && !is_space(buf[self.pos]) {
            self.pos += 1;
        }
        let tok = std::str::from_utf8(&buf[start..self.pos])
            .map_err(|_| self.corrupt(start, format!("expected {what}, found non-text bytes")))?;
        Ok((start, tok))
    }

    fn int(&mut self, what: &str) -> Result<i64> {
        let (at, tok) = self.token(what)?;
        tok.parse::<i64>().map_err(|_| {
            self.corrupt(
                at,
                format!("expected an integer for {what}, found '{}'", clip(tok)),
            )
        })
    }

    /// A non-negative size (channels, kernel size, block count).
    fn count(&mut self, what: &str) -> Result<usize> {
        let at = self.peek_pos();
        let v = self.int(what)?;
        if !(0..=1 << 24).contains(&v) {
            return Err(self.corrupt(at, format!("{what} is {v}, which is not a plausible size")));
        }
        Ok(v as usize)
    }

    /// A 0/1 flag or other small integer that must lie in `range`.
    fn int_in(&mut self, what: &str, range: std::ops::RangeInclusive<i64>) -> Result<i64> {
        let at = self.peek_pos();
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
        let (at, tok) = self.token(what)?;
        parse_float(tok).ok_or_else(|| {
            self.corrupt(
                at,
                format!("expected a number for {what}, found '{}'", clip(tok)),
            )
        })
    }

    fn peek_pos(&self) -> usize {
        let mut p = self.pos;
        while p < self.buf.len() && is_space(self.buf[p]) {
            p += 1;
        }
        p
    }

    fn name(&mut self, what: &str) -> Result<String> {
        Ok(self.token(what)?.1.to_string())
    }

    fn unique(&mut self, name: String) -> String {
        if self.names.insert(name.clone()) {
            return name;
        }
        let mut k = 2;
        loop {
            let candidate = format!("{name}#{k}");
            if self.names.insert(candidate.clone()) {
                return candidate;
            }
            k += 1;
        }
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
    ) -> Result<()> {
        let name = self.unique(name);
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
            self.buf.len()
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
        Ok(())
    }

    fn binary_block(&mut self, name: &str, n: usize) -> Result<usize> {
        let start = self.pos;
        let mut skipped = 0;
        loop {
            let Some(&c) = self.buf.get(self.pos) else {
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
        if self.buf.get(self.pos..self.pos + 4) != Some(b"BIN@".as_slice()) {
            return Err(self.corrupt(self.pos, format!("expected 'BIN@' after '@' for {name}")));
        }
        self.pos += 4;
        let offset = self.pos;
        let bytes = n.checked_mul(4).filter(|b| offset + b <= self.buf.len());
        let Some(bytes) = bytes else {
            return Err(self.corrupt(
                self.buf.len(),
                format!(
                    "file ends inside the {n}-float block of {name} that starts at byte {offset}"
                ),
            ));
        };
        for (i, c) in self.buf[offset..offset + bytes].chunks_exact(4).enumerate() {
            let v = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            if !v.is_finite() {
                return Err(self.corrupt(
                    offset + 4 * i,
                    format!("weight {i} of {name} is {v}; KataGo refuses NaN and infinite weights"),
                ));
            }
        }
        self.pos += bytes;
        Ok(offset)
    }

    fn text_block(&mut self, name: &str, n: usize) -> Result<(usize, std::ops::Range<usize>)> {
        // Each token needs at least one byte plus a separator; refuse early
        // instead of reserving memory for a count the file cannot hold.
        if n > self.buf.len() - self.pos {
            return Err(self.corrupt(
                self.buf.len(),
                format!("file ends before the {n} floats of {name}"),
            ));
        }
        let offset = self.values.len();
        self.values.reserve(n * 4);
        let mut span = self.peek_pos()..self.peek_pos();
        for i in 0..n {
            let (at, tok) = self.token(&format!("float {i} of {name}"))?;
            let Some(v) = parse_float(tok) else {
                return Err(self.corrupt(
                    at,
                    format!("float {i} of {name} is '{}', not a number", clip(tok)),
                ));
            };
            if !v.is_finite() {
                return Err(self.corrupt(
                    at,
                    format!("weight {i} of {name} is {v}; KataGo refuses NaN and infinite weights"),
                ));
            }
            self.values.extend_from_slice(&v.to_le_bytes());
            if i == 0 {
                span.start = at;
            }
            span.end = self.pos;
        }
        Ok((offset, span))
    }

    fn conv(&mut self) -> Result<(usize, usize)> {
        let name = self.name("a conv layer name")?;
        let ky = self.count(&format!("kernel height of {name}"))?;
        let kx = self.count(&format!("kernel width of {name}"))?;
        let ic = self.count(&format!("input channels of {name}"))?;
        let oc = self.count(&format!("output channels of {name}"))?;
        let at = self.peek_pos();
        if ky % 2 == 0 || kx % 2 == 0 {
            return Err(self.corrupt(
                at,
                format!("{name} has an even kernel size {ky}x{kx}; KataGo needs odd kernels"),
            ));
        }
        self.int_in(&format!("vertical dilation of {name}"), 1..=1 << 16)?;
        self.int_in(&format!("horizontal dilation of {name}"), 1..=1 << 16)?;
        let n = total(&[ky, kx, ic, oc])
            .ok_or_else(|| self.corrupt(at, format!("{name} is impossibly large")))?;
        self.floats(
            name,
            n,
            vec![oc, ic, ky, kx],
            vec![1, oc, kx * ic * oc, ic * oc],
            false,
        )?;
        Ok((ic, oc))
    }

    fn batch_norm(&mut self) -> Result<usize> {
        let name = self.name("a batch norm layer name")?;
        let c = self.count(&format!("channels of {name}"))?;
        self.float(&format!("epsilon of {name}"))?;
        let has_scale = self.int_in(&format!("has-scale flag of {name}"), 0..=1)? == 1;
        let has_bias = self.int_in(&format!("has-bias flag of {name}"), 0..=1)? == 1;
        self.vector(format!("{name}/mean"), c)?;
        self.vector(format!("{name}/variance"), c)?;
        if has_scale {
            self.vector(format!("{name}/scale"), c)?;
        }
        if has_bias {
            self.vector(format!("{name}/bias"), c)?;
        }
        Ok(c)
    }

    fn vector(&mut self, name: String, c: usize) -> Result<()> {
        self.floats(name, c, vec![c], vec![1], true)
    }

    fn activation(&mut self) -> Result<()> {
        self.name("an activation layer name")?;
        if self.version >= 11 {
            let (at, kind) = self.token("an activation kind")?;
            if !ACTIVATIONS.contains(&kind) {
                return Err(ModelError::UnsupportedLayer {
                    path: self.path.to_path_buf(),
                    offset: at as u64,
                    what: "activation kind",
                    kind: clip(kind),
                    known: "ACTIVATION_IDENTITY, ACTIVATION_RELU, ACTIVATION_MISH, ACTIVATION_SILU",
                });
            }
        }
        Ok(())
    }

    fn matmul(&mut self) -> Result<(usize, usize)> {
        let name = self.name("a matmul layer name")?;
        let ic = self.count(&format!("input channels of {name}"))?;
        let oc = self.count(&format!("output channels of {name}"))?;
        let n = total(&[ic, oc])
            .ok_or_else(|| self.corrupt(self.pos, format!("{name} is impossibly large")))?;
        self.floats(name, n, vec![oc, ic], vec![1, oc], false)?;
        Ok((ic, oc))
    }

    fn mat_bias(&mut self) -> Result<()> {
        let name = self.name("a bias layer name")?;
        let c = self.count(&format!("channels of {name}"))?;
        self.vector(name, c)
    }

    /// The trunk-tip RMSNorm of v15+ nets with norm kind 1.
    fn rms_norm(&mut self) -> Result<()> {
        let name = self.name("an RMSNorm layer name")?;
        let c = self.count(&format!("channels of {name}"))?;
        self.float(&format!("epsilon of {name}"))?;
        self.int(&format!("spatial flag of {name}"))?;
        self.int_in(&format!("channel group size of {name}"), 0..=0)?;
        self.vector(format!("{name}/gamma"), c)?;
        self.vector(format!("{name}/beta"), c)
    }

    fn transformer_rms_norm(&mut self) -> Result<()> {
        let name = self.name("a transformer RMSNorm layer name")?;
        let c = self.count(&format!("channels of {name}"))?;
        self.float(&format!("epsilon of {name}"))?;
        self.vector(name, c)
    }

    fn blocks(&mut self, n: usize, outer: Option<usize>, depth: usize) -> Result<()> {
        if depth > MAX_NESTING {
            return Err(self.corrupt(self.pos, "residual blocks are nested too deeply"));
        }
        for i in 0..n {
            let index = outer.unwrap_or(i);
            self.role = if index >= self.late_from {
                Role::Late
            } else {
                Role::Trunk
            };
            self.layer = u32::try_from(index).ok();
            let (at, kind) = self.token("a block kind")?;
            match kind {
                "ordinary_block" => {
                    self.name("a block name")?;
                    self.batch_norm()?;
                    self.activation()?;
                    self.conv()?;
                    self.batch_norm()?;
                    self.activation()?;
                    self.conv()?;
                }
                "gpool_block" => {
                    self.name("a block name")?;
                    self.batch_norm()?;
                    self.activation()?;
                    self.conv()?;
                    self.conv()?;
                    self.batch_norm()?;
                    self.activation()?;
                    self.matmul()?;
                    self.batch_norm()?;
                    self.activation()?;
                    self.conv()?;
                }
                "nested_bottleneck_block" => {
                    let name = self.name("a block name")?;
                    let inner = self.count(&format!("inner block count of {name}"))?;
                    self.batch_norm()?;
                    self.activation()?;
                    self.conv()?;
                    self.blocks(inner, Some(index), depth + 1)?;
                    self.role = if index >= self.late_from {
                        Role::Late
                    } else {
                        Role::Trunk
                    };
                    self.layer = u32::try_from(index).ok();
                    self.batch_norm()?;
                    self.activation()?;
                    self.conv()?;
                }
                "transformer_attention_block" => self.attention()?,
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
            }
        }
        Ok(())
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

    fn model(&mut self) -> Result<String> {
        let model_name = self.name("the model name")?;
        let at = self.peek_pos();
        let version = self.int("the model version")?;
        if !(MIN_VERSION..=MAX_VERSION).contains(&version) {
            return Err(ModelError::UnsupportedVersion {
                path: self.path.to_path_buf(),
                found: format!("KataGo model version {version}"),
                supported: format!("KataGo model versions {MIN_VERSION} to {MAX_VERSION}"),
            });
        }
        let _ = at;
        self.version = version;
        self.count("the number of input channels")?;
        self.count("the number of global input channels")?;
        if version >= 13 {
            for what in [
                "the td-score multiplier",
                "the score-mean multiplier",
                "the score-stdev multiplier",
                "the lead multiplier",
                "the variance-time multiplier",
                "the short-term value error multiplier",
                "the short-term score error multiplier",
            ] {
                self.float(what)?;
            }
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
            let at = self.peek_pos();
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
        self.conv()?;
        self.matmul()?;
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

        self.blocks(num_blocks, None, 0)?;

        self.role = Role::Trunk;
        self.layer = None;
        if norm_kind == 0 {
            self.batch_norm()?;
        } else {
            self.rms_norm()?;
        }
        self.activation()?;

        self.role = Role::PolicyHead;
        self.name("the policy head name")?;
        if version >= 17 {
            self.int_in("the policy output channels", 2..=4)?;
            for _ in 0..3 {
                self.int_in("a reserved policy head field", 0..=0)?;
            }
        }
        self.conv()?;
        self.conv()?;
        self.batch_norm()?;
        self.activation()?;
        self.matmul()?;
        self.batch_norm()?;
        self.activation()?;
        self.conv()?;
        self.matmul()?;
        if version >= 15 {
            self.mat_bias()?;
            self.activation()?;
            self.matmul()?;
        }

        self.role = Role::ValueHead;
        self.name("the value head name")?;
        if version >= 17 {
            for _ in 0..3 {
                self.int_in("a reserved value head field", 0..=0)?;
            }
        }
        self.conv()?;
        self.batch_norm()?;
        self.activation()?;
        self.matmul()?;
        self.mat_bias()?;
        self.activation()?;
        self.matmul()?;
        self.mat_bias()?;
        self.matmul()?;
        self.mat_bias()?;
        self.conv()?;

        // KataGo stops reading here; anything after the value head is kept
        // as it is and written back unchanged, but worth a mention.
        let trailing = self.buf[self.pos..]
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
        Ok(description)
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
        let t = parse(path, text.clone(), false, false, &opts).unwrap();
        let b = parse(path, binary.clone(), true, false, &opts).unwrap();
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

    #[test]
    fn sniffing_needs_name_and_version() {
        assert!(looks_like_katago(b"g170-b6c96\n8\n22\n"));
        assert!(!looks_like_katago(b"hello world"));
        assert!(!looks_like_katago(b""));
    }
}
