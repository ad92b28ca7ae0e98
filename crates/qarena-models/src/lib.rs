//! Model formats for qarena: read a network file, list its weight tensors
//! with their meaning (the tensor catalogue), change tensor values, and write
//! the file back in its own format so the unchanged engine loads it.
//!
//! Supported: KataGo (`.bin.gz`, `.bin`, `.txt.gz`, `.txt`; model versions 3
//! to 17), Stockfish NNUE (the Stockfish 15.1 architecture) and safetensors
//! (F32, F16, BF16 tensors).
//!
//! Invariants:
//! - Loading and writing without changes reproduces the file byte for byte
//!   (gzip files: the original compressed bytes are written back as long as
//!   no value changed; after a change, the decompressed content differs only
//!   in the changed tensors).
//! - Tensor values are exposed row-major with the output axis first, so one
//!   output channel is one contiguous run of [`Model::tensor_values`]; each
//!   format module documents how that view maps to its storage order.
//! - No input file makes this crate panic: every parse step is bounds
//!   checked, every size read from a file is combined with checked
//!   arithmetic, and failures report [`ModelError::Corrupt`] with the byte
//!   offset.
//! - Memory is bounded by the input: nothing is allocated from a declared
//!   count before the count is checked against the bytes that can hold it,
//!   and a gzip file is decompressed lazily, never past its limit (64 times
//!   its size, at least 64 MiB; [`ModelError::DecompressionLimit`]), so a
//!   file that is no model is refused after its first 64 KiB.

mod error;
mod katago;
pub mod katago_arch;
pub mod katago_calib;
pub mod katago_net;
mod nnue;
pub mod nnue_eval;
mod source;
mod st;
mod view;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub use error::{ModelError, Result};
pub use qarena_quant::{Role, StorageType, TensorInfo};

use source::Source;
use view::Slot;

/// The formats this crate reads and writes, for error messages and `--help`.
pub const SUPPORTED_FORMATS: &str =
    "KataGo (.bin.gz, .bin, .txt.gz, .txt; model versions 3 to 17), \
     Stockfish NNUE (.nnue; version 0x7AF32F20 with the Stockfish 15.1 architecture), \
     safetensors (.safetensors; F32, F16, BF16 tensors)";

/// A model file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// KataGo, binary float blocks, uncompressed.
    KataGoBin,
    /// KataGo, binary float blocks, gzip-compressed (the usual release format).
    KataGoBinGz,
    /// KataGo, decimal text floats, gzip-compressed.
    KataGoTxtGz,
    /// Stockfish NNUE.
    Nnue,
    /// Hugging Face safetensors.
    Safetensors,
    /// KataGo, decimal text floats, uncompressed.
    KataGoTxt,
}

impl Format {
    /// A short stable name (`katago-bin-gz`, `nnue`, …) for tables and manifests.
    pub fn name(self) -> &'static str {
        match self {
            Format::KataGoBin => "katago-bin",
            Format::KataGoBinGz => "katago-bin-gz",
            Format::KataGoTxtGz => "katago-txt-gz",
            Format::KataGoTxt => "katago-txt",
            Format::Nnue => "nnue",
            Format::Safetensors => "safetensors",
        }
    }

    /// Whether files of this format are gzip-compressed.
    pub fn is_gzip(self) -> bool {
        matches!(self, Format::KataGoBinGz | Format::KataGoTxtGz)
    }

    /// Whether this is one of the KataGo formats.
    pub fn is_katago(self) -> bool {
        matches!(
            self,
            Format::KataGoBin | Format::KataGoBinGz | Format::KataGoTxtGz | Format::KataGoTxt
        )
    }

    fn katago_binary(self) -> bool {
        matches!(self, Format::KataGoBin | Format::KataGoBinGz)
    }
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Options that change how a model's tensors are classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadOptions {
    /// The last `late_blocks` trunk blocks get [`Role::Late`] instead of
    /// [`Role::Trunk`] (KataGo only).
    pub late_blocks: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions { late_blocks: 2 }
    }
}

/// How much of a file [`detect`] looks at; enough for every header we sniff.
const SNIFF_BYTES: u64 = 64 * 1024;

/// Detects the format of `path` from its content and extension, reading only
/// the start of the file (and decompressing only the start of a gzip file).
pub fn detect(path: &Path) -> Result<Format> {
    let mut head = Vec::new();
    fs_err::File::open(path)?
        .take(SNIFF_BYTES)
        .read_to_end(&mut head)?;
    sniff(path, &head)
}

/// The format from the first [`SNIFF_BYTES`] of a file.
fn sniff(path: &Path, head: &[u8]) -> Result<Format> {
    if is_gzip(head) {
        // A truncated or damaged stream still shows its first bytes; the
        // loader reports the damage properly.
        let inner = source::gunzip_head(head, SNIFF_BYTES);
        return detect_content(path, &inner, true);
    }
    detect_content(path, head, false)
}

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
}

fn ends_with(path: &Path, suffix: &str) -> bool {
    path.file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase().ends_with(suffix))
        .unwrap_or(false)
}

/// `head` is the (decompressed) start of the file.
fn detect_content(path: &Path, head: &[u8], gz: bool) -> Result<Format> {
    let unknown = || ModelError::UnknownFormat {
        path: path.to_path_buf(),
    };
    if gz {
        if !katago::looks_like_katago(head) {
            return Err(unknown());
        }
        // KataGo itself goes by the extension; plain `.gz` is tried as
        // binary first, which is what finding the marker amounts to.
        return Ok(if ends_with(path, ".txt.gz") {
            Format::KataGoTxtGz
        } else if ends_with(path, ".bin.gz") || contains(head, b"@BIN@") {
            Format::KataGoBinGz
        } else {
            Format::KataGoTxtGz
        });
    }
    if ends_with(path, ".nnue") || nnue::looks_like_nnue(head) {
        return Ok(Format::Nnue);
    }
    if ends_with(path, ".safetensors") || st::looks_like_safetensors(head) {
        return Ok(Format::Safetensors);
    }
    if katago::looks_like_katago(head) {
        return Ok(if ends_with(path, ".txt") {
            Format::KataGoTxt
        } else if ends_with(path, ".bin") || contains(head, b"@BIN@") {
            Format::KataGoBin
        } else {
            Format::KataGoTxt
        });
    }
    Err(unknown())
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// What a format parser hands back.
pub(crate) struct Parsed {
    /// Binary formats: the whole uncompressed file, edited in place.
    /// KataGo text: the decoded floats as little-endian f32.
    pub data: Vec<u8>,
    /// KataGo text only: the original text, re-rendered around changed tensors.
    pub text: Option<Vec<u8>>,
    pub slots: Vec<Slot>,
    pub description: String,
    /// KataGo nets: the layer graph.
    pub arch: Option<katago_arch::KataArch>,
}

/// The gzip wrapper of a loaded file, kept to write it back faithfully.
#[derive(Clone)]
struct GzipOrigin {
    compressed: Vec<u8>,
    filename: Option<Vec<u8>>,
    comment: Option<Vec<u8>>,
    extra: Option<Vec<u8>>,
    mtime: u32,
    os: u8,
}

/// A parsed model file that owns its bytes.
#[derive(Clone)]
pub struct Model {
    path: PathBuf,
    format: Format,
    file_bytes: u64,
    data: Vec<u8>,
    text: Option<Vec<u8>>,
    slots: Vec<Slot>,
    catalogue: Vec<TensorInfo>,
    description: String,
    arch: Option<katago_arch::KataArch>,
    gzip: Option<GzipOrigin>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("tensors", &self.catalogue.len())
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Loads a model with default options.
    pub fn load(path: &Path) -> Result<Model> {
        Model::load_with(path, &LoadOptions::default())
    }

    /// Loads a model; the format is detected from content and extension.
    /// A file that is no model is refused after reading its first 64 KiB.
    pub fn load_with(path: &Path, opts: &LoadOptions) -> Result<Model> {
        let mut file = fs_err::File::open(path)?;
        let mut bytes = Vec::new();
        Read::by_ref(&mut file)
            .take(SNIFF_BYTES)
            .read_to_end(&mut bytes)?;
        sniff(path, &bytes)?;
        let size = file.metadata()?.len();
        let rest = usize::try_from(size).unwrap_or(usize::MAX);
        // The size is only a hint (the file may change); reading decides.
        let _ = bytes.try_reserve_exact(rest.saturating_sub(bytes.len()));
        file.read_to_end(&mut bytes)?;
        Model::from_bytes_with(path, bytes, opts)
    }

    /// Parses file bytes as if read from `path` (the path names the model in
    /// errors and its extension helps detection).
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Model> {
        Model::from_bytes_with(path, bytes, &LoadOptions::default())
    }

    /// [`Model::from_bytes`] with options.
    ///
    /// Gzip files are decompressed only as far as the parser gets: the
    /// format is checked on the first 64 KiB, every declared size is checked
    /// against the decompression limit before it is read, and the stream is
    /// never decompressed past that limit (see [`ModelError::DecompressionLimit`]).
    pub fn from_bytes_with(path: &Path, bytes: Vec<u8>, opts: &LoadOptions) -> Result<Model> {
        let file_bytes = bytes.len() as u64;
        if !is_gzip(&bytes) {
            let head = &bytes[..bytes.len().min(SNIFF_BYTES as usize)];
            let format = detect_content(path, head, false)?;
            let parsed = match format {
                Format::Nnue => nnue::parse(path, bytes)?,
                Format::Safetensors => st::parse(path, bytes)?,
                f => katago::parse(
                    path,
                    &mut Source::plain(path, bytes),
                    f.katago_binary(),
                    opts,
                )?,
            };
            return Ok(Model::assemble(path, format, file_bytes, parsed, None));
        }
        let (format, parsed, header) = {
            let mut src = Source::gzip(path, &bytes);
            src.fill_to(SNIFF_BYTES as usize)?;
            let format = detect_content(path, src.head(SNIFF_BYTES as usize), true)?;
            let parsed = katago::parse(path, &mut src, format.katago_binary(), opts)?;
            (format, parsed, src.gzip_header().unwrap_or_default())
        };
        let origin = GzipOrigin {
            filename: header.filename().map(<[u8]>::to_vec),
            comment: header.comment().map(<[u8]>::to_vec),
            extra: header.extra().map(<[u8]>::to_vec),
            mtime: header.mtime(),
            os: header.operating_system(),
            compressed: bytes,
        };
        Ok(Model::assemble(
            path,
            format,
            file_bytes,
            parsed,
            Some(origin),
        ))
    }

    fn assemble(
        path: &Path,
        format: Format,
        file_bytes: u64,
        parsed: Parsed,
        gzip: Option<GzipOrigin>,
    ) -> Model {
        let catalogue = parsed.slots.iter().map(|s| s.info.clone()).collect();
        Model {
            path: path.to_path_buf(),
            format,
            file_bytes,
            data: parsed.data,
            text: parsed.text,
            slots: parsed.slots,
            catalogue,
            description: parsed.description,
            arch: parsed.arch,
            gzip,
        }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// The file this model was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every weight tensor, in file order.
    pub fn catalogue(&self) -> &[TensorInfo] {
        &self.catalogue
    }

    /// The catalogue index of the tensor named `name`.
    pub fn tensor_index(&self, name: &str) -> Option<usize> {
        self.catalogue.iter().position(|t| t.name == name)
    }

    /// Total number of weights over the catalogue.
    pub fn num_params(&self) -> u64 {
        self.catalogue.iter().map(|t| t.numel() as u64).sum()
    }

    /// The values of tensor `index`, row-major in the catalogue shape (output
    /// axis first). Integer tensors (NNUE) come as integral `f32`.
    ///
    /// # Panics
    /// If `index` is not below `catalogue().len()`; see
    /// [`Model::try_tensor_values`] for a checked variant.
    pub fn tensor_values(&self, index: usize) -> Vec<f32> {
        view::gather(&self.data, &self.slots[index])
    }

    /// [`Model::tensor_values`] that reports a bad index as an error.
    pub fn try_tensor_values(&self, index: usize) -> Result<Vec<f32>> {
        let slot = self.slot(index)?;
        Ok(view::gather(&self.data, slot))
    }

    fn slot(&self, index: usize) -> Result<&Slot> {
        self.slots
            .get(index)
            .ok_or_else(|| ModelError::NoSuchTensor {
                path: self.path.clone(),
                index,
                count: self.slots.len(),
            })
    }

    /// Replaces the values of tensor `index` (same order as
    /// [`Model::tensor_values`]). Integer tensors need integral values in
    /// the storage type's range; KataGo needs finite values. Nothing is
    /// changed when an error is returned.
    pub fn set_tensor_values(&mut self, index: usize, values: &[f32]) -> Result<()> {
        let slot = self.slot(index)?;
        let info = &slot.info;
        if values.len() != info.numel() {
            return Err(ModelError::LengthMismatch {
                path: self.path.clone(),
                tensor: info.name.clone(),
                expected: info.numel(),
                found: values.len(),
            });
        }
        // safetensors may legitimately hold infinities (masks); engines that
        // read weights refuse them.
        let finite_only = self.format != Format::Safetensors;
        for (i, &v) in values.iter().enumerate() {
            if let Some(reason) = view::reject_reason(info.dtype, v, finite_only) {
                return Err(ModelError::InvalidValue {
                    path: self.path.clone(),
                    tensor: info.name.clone(),
                    index: i,
                    value: v,
                    reason,
                });
            }
        }
        let changed = view::scatter(&mut self.data, &self.slots[index], values);
        self.slots[index].dirty |= changed;
        Ok(())
    }

    /// Whether any tensor value differs from the loaded file.
    pub fn is_modified(&self) -> bool {
        self.slots.iter().any(|s| s.dirty)
    }

    /// The uncompressed serialisation in the loaded format.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        match &self.text {
            Some(text) => Ok(katago::render_text(text, &self.data, &self.slots)),
            None => Ok(self.data.clone()),
        }
    }

    /// Writes the model in the format it was loaded in (gzip-compressed for
    /// the `.gz` formats), whatever the extension of `path`. The file is
    /// written under a temporary name and renamed, so a reader never sees
    /// half a model.
    pub fn write(&self, path: &Path) -> Result<()> {
        let tmp = temp_sibling(path);
        let result = self.write_to(&tmp).and_then(|()| {
            fs_err::rename(&tmp, path)?;
            Ok(())
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result
    }

    fn write_to(&self, path: &Path) -> Result<()> {
        let file = fs_err::File::create(path)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        match (&self.gzip, self.format.is_gzip()) {
            (Some(origin), true) if !self.is_modified() => out.write_all(&origin.compressed)?,
            (origin, true) => {
                let mut builder = flate2::GzBuilder::new();
                if let Some(o) = origin {
                    builder = builder.mtime(o.mtime).operating_system(o.os);
                    if let Some(n) = &o.filename {
                        builder = builder.filename(n.clone());
                    }
                    if let Some(c) = &o.comment {
                        builder = builder.comment(c.clone());
                    }
                    if let Some(e) = &o.extra {
                        builder = builder.extra(e.clone());
                    }
                }
                let mut gz = builder.write(out, flate2::Compression::new(6));
                self.write_content(&mut gz)?;
                out = gz.finish()?;
            }
            _ => self.write_content(&mut out)?,
        }
        out.flush()?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        Ok(())
    }

    fn write_content(&self, w: &mut impl Write) -> Result<()> {
        match &self.text {
            Some(_) => w.write_all(&self.to_bytes()?)?,
            None => w.write_all(&self.data)?,
        }
        Ok(())
    }

    /// The KataGo text serialisation of a binary KataGo model (what KataGo
    /// reads from `.txt`/`.txt.gz`): every `@BIN@` block becomes decimal
    /// tokens, everything else is kept.
    pub fn to_katago_text(&self) -> Result<Vec<u8>> {
        if !self.format.katago_binary() {
            return Err(ModelError::UnsupportedVersion {
                path: self.path.clone(),
                found: format!("format {}", self.format),
                supported: "binary KataGo models (katago-bin, katago-bin-gz)".into(),
            });
        }
        Ok(katago::binary_to_text(&self.data, &self.slots))
    }

    /// One line for `qarena inspect`, e.g. "KataGo model version 8, 6 blocks x 96 channels …".
    /// KataGo nets: the layer graph the parser walked.
    pub fn katago_arch(&self) -> Option<&katago_arch::KataArch> {
        self.arch.as_ref()
    }

    pub fn description(&self) -> String {
        self.description.clone()
    }

    /// Size of the loaded file on disk (compressed size for gzip files).
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }
}

fn temp_sibling(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "model".into());
    name.push(format!(".tmp{}", std::process::id()));
    path.with_file_name(name)
}

/// The sha256 of a file's bytes as stored, lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}
