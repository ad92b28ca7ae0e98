//! Model bytes as a parser sees them: the bytes of a plain file, or a gzip
//! stream that is decompressed lazily, only as far as the parser has asked.
//!
//! Invariants:
//! - A gzip source never holds more than [`gzip_limit`] decompressed bytes
//!   (64 times the compressed size, at least 64 MiB; real nets compress
//!   1.1 to 20 times). The decoder is read through [`Limited`], which fails
//!   as soon as one byte more comes out, so a decompression bomb costs at
//!   most that much memory and time.
//! - Parsers ask for bytes as they walk the format and check every declared
//!   size against [`Source::limit`] before asking for it, so a stream that
//!   stops looking like a model is refused after at most one more
//!   [`CHUNK`] of output.

use std::io::{self, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use flate2::GzHeader;

use crate::{ModelError, Result};

/// The smallest decompression limit, whatever the compressed size.
pub(crate) const MIN_GZIP_LIMIT: u64 = 64 << 20;
/// Decompressed bytes allowed per compressed byte. Measured on the shared
/// KataGo net: 1.1 as released, 14 (binary) and 22 (text) for a variant with
/// two values per output channel; only all-constant tensors go past 100.
pub(crate) const GZIP_RATIO: u64 = 64;
/// How much a gzip source decompresses at least per request.
pub(crate) const CHUNK: usize = 64 << 10;

/// The most decompressed bytes a gzip file of `compressed` bytes may yield.
pub(crate) fn gzip_limit(compressed: u64) -> u64 {
    compressed
        .saturating_mul(GZIP_RATIO)
        .max(MIN_GZIP_LIMIT)
        .min(isize::MAX as u64)
}

/// The error [`Limited`] reports once its input has more than its limit.
#[derive(Debug)]
struct LimitExceeded(u64);

impl std::fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {} bytes", self.0)
    }
}

impl std::error::Error for LimitExceeded {}

/// A reader that passes on at most `limit` bytes of `inner` and fails as
/// soon as `inner` yields one byte more (where `Take` would quietly stop,
/// so a caller could not tell a complete stream from a cut one).
#[derive(Debug)]
pub(crate) struct Limited<R> {
    inner: R,
    limit: u64,
    produced: u64,
}

impl<R> Limited<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Limited {
            inner,
            limit,
            produced: 0,
        }
    }

    /// Bytes that came out of `inner` so far (at most `limit + 1`).
    #[cfg(test)]
    pub(crate) fn produced(&self) -> u64 {
        self.produced
    }

    pub(crate) fn exceeded(&self) -> bool {
        self.produced > self.limit
    }

    fn get_ref(&self) -> &R {
        &self.inner
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.exceeded() {
            return Err(io::Error::other(LimitExceeded(self.limit)));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let room = self.limit - self.produced;
        if room == 0 {
            // At the limit: one more byte is an error, none is the end.
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.produced += 1;
            return Err(io::Error::other(LimitExceeded(self.limit)));
        }
        let want = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.produced += n as u64;
        Ok(n)
    }
}

/// Counts the compressed bytes the decoder has consumed, so a damaged
/// stream can be reported with an offset.
struct Counting<'a> {
    inner: &'a [u8],
    pos: usize,
}

impl Read for Counting<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (&self.inner[self.pos..]).read(buf)?;
        self.pos += n;
        Ok(n)
    }
}

struct Inflate<'a> {
    dec: Limited<MultiGzDecoder<Counting<'a>>>,
    compressed: u64,
    done: bool,
    header: Option<GzHeader>,
}

/// The bytes of one model file, decompressed on demand.
pub(crate) struct Source<'a> {
    path: &'a Path,
    data: Vec<u8>,
    gz: Option<Inflate<'a>>,
}

impl<'a> Source<'a> {
    /// A file that is not compressed: everything is there already.
    pub(crate) fn plain(path: &'a Path, bytes: Vec<u8>) -> Self {
        Source {
            path,
            data: bytes,
            gz: None,
        }
    }

    /// A gzip file; nothing is decompressed until a parser asks.
    pub(crate) fn gzip(path: &'a Path, compressed: &'a [u8]) -> Self {
        let limit = gzip_limit(compressed.len() as u64);
        // The trailer's size (modulo 4 GiB) sizes the buffer of a genuine
        // file in one allocation; a forged one is capped by the limit and
        // only reserves address space that is never touched.
        let hint = match compressed.len().checked_sub(4) {
            Some(at) => {
                let b = &compressed[at..];
                u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            None => 0,
        };
        let capacity = usize::try_from(hint.min(limit)).unwrap_or(0);
        Source {
            path,
            data: Vec::with_capacity(capacity),
            gz: Some(Inflate {
                dec: Limited::new(
                    MultiGzDecoder::new(Counting {
                        inner: compressed,
                        pos: 0,
                    }),
                    limit,
                ),
                compressed: compressed.len() as u64,
                done: false,
                header: None,
            }),
        }
    }

    pub(crate) fn is_gzip(&self) -> bool {
        self.gz.is_some()
    }

    /// Bytes available so far (decompressed bytes for gzip).
    pub(crate) fn len(&self) -> usize {
        self.data.len()
    }

    /// The bytes available so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.data
    }

    /// The first `n` bytes, or fewer if the content is shorter; call
    /// [`Source::fill_to`] first.
    pub(crate) fn head(&self, n: usize) -> &[u8] {
        &self.data[..self.data.len().min(n)]
    }

    /// The most bytes this source can ever hold: the file length, or the
    /// decompression limit of a gzip file.
    pub(crate) fn limit(&self) -> u64 {
        match &self.gz {
            Some(inf) if !inf.done => inf.dec.limit,
            _ => self.data.len() as u64,
        }
    }

    /// For gzip files: decompressed bytes allowed and compressed size.
    pub(crate) fn gzip_sizes(&self) -> Option<(u64, u64)> {
        self.gz.as_ref().map(|inf| (inf.dec.limit, inf.compressed))
    }

    /// Decompressed bytes produced so far (the file length for plain files).
    #[cfg(test)]
    pub(crate) fn produced(&self) -> u64 {
        match &self.gz {
            Some(inf) => inf.dec.produced(),
            None => self.data.len() as u64,
        }
    }

    /// The byte at `at`, decompressing up to it if needed; `None` past the end.
    #[inline]
    pub(crate) fn byte(&mut self, at: usize) -> Result<Option<u8>> {
        if let Some(&c) = self.data.get(at) {
            return Ok(Some(c));
        }
        self.fill_to(at.saturating_add(1))?;
        Ok(self.data.get(at).copied())
    }

    /// Decompresses until at least `end` bytes are available or the stream
    /// ends, at least [`CHUNK`] bytes at a time.
    pub(crate) fn fill_to(&mut self, end: usize) -> Result<()> {
        let Some(inf) = self.gz.as_mut() else {
            return Ok(());
        };
        while !inf.done && self.data.len() < end {
            let want = (end - self.data.len()).max(CHUNK) as u64;
            match Read::by_ref(&mut inf.dec)
                .take(want)
                .read_to_end(&mut self.data)
            {
                Ok(n) if (n as u64) < want => {
                    inf.done = true;
                    inf.header = inf.dec.get_ref().header().cloned();
                }
                Ok(_) => {}
                Err(e) => {
                    let pos = inf.dec.get_ref().get_ref().pos as u64;
                    return Err(if inf.dec.exceeded() {
                        ModelError::DecompressionLimit {
                            path: self.path.to_path_buf(),
                            limit: inf.dec.limit,
                            compressed: inf.compressed,
                            reason: format!(
                                "the stream goes on past byte {} at compressed byte {pos}",
                                inf.dec.limit
                            ),
                        }
                    } else if e.kind() == io::ErrorKind::UnexpectedEof {
                        ModelError::Corrupt {
                            path: self.path.to_path_buf(),
                            offset: pos,
                            what: "the gzip stream ends early (truncated file)".into(),
                        }
                    } else {
                        ModelError::Corrupt {
                            path: self.path.to_path_buf(),
                            offset: pos,
                            what: format!("invalid gzip stream: {e}"),
                        }
                    });
                }
            }
        }
        Ok(())
    }

    /// Reads the rest of the stream (within the limit).
    pub(crate) fn fill_all(&mut self) -> Result<()> {
        self.fill_to(usize::MAX)
    }

    /// The gzip header of the last member, once the stream has been read
    /// to its end.
    pub(crate) fn gzip_header(&self) -> Option<GzHeader> {
        self.gz.as_ref().and_then(|inf| inf.header.clone())
    }

    /// Hands the bytes over, leaving the source empty.
    pub(crate) fn take_bytes(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.data)
    }
}

/// The start of a gzip stream, at most `n` bytes; a damaged stream gives
/// what decodes before the damage.
pub(crate) fn gunzip_head(compressed: &[u8], n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut dec = Limited::new(MultiGzDecoder::new(compressed), n);
    let _ = Read::by_ref(&mut dec).take(n).read_to_end(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn limited_reader_fails_as_soon_as_the_limit_is_passed() {
        let data = vec![7u8; 1000];
        let mut r = Limited::new(&data[..], 100);
        let mut out = Vec::new();
        let err = r.read_to_end(&mut out).unwrap_err();
        assert!(err.to_string().contains("more than 100 bytes"), "{err}");
        assert_eq!(out.len(), 100);
        assert_eq!(r.produced(), 101);

        let mut exact = Limited::new(&data[..100], 100);
        let mut out = Vec::new();
        assert_eq!(exact.read_to_end(&mut out).unwrap(), 100);
        assert!(!exact.exceeded());

        let mut huge = Limited::new(&data[..], u64::MAX);
        assert_eq!(huge.read_to_end(&mut Vec::new()).unwrap(), 1000);
    }

    #[test]
    fn gzip_source_decompresses_only_what_is_asked() {
        let content: Vec<u8> = (0..10 * CHUNK).map(|i| (i % 251) as u8).collect();
        let gz = gzip(&content);
        let path = Path::new("x.bin.gz");
        let mut src = Source::gzip(path, &gz);
        assert_eq!(src.byte(10).unwrap(), Some(10));
        assert!(src.produced() <= 2 * CHUNK as u64, "{}", src.produced());
        src.fill_all().unwrap();
        assert_eq!(src.bytes(), &content[..]);
        assert_eq!(src.byte(content.len()).unwrap(), None);
        assert!(src.gzip_header().is_some());
        assert_eq!(src.limit(), content.len() as u64);
    }

    #[test]
    fn gzip_source_stops_at_its_limit() {
        // 1 GiB of zeros from about 1 MB: 1024 members of 1 MiB each.
        let member = gzip(&vec![0u8; 1 << 20]);
        let bomb = member.repeat(1024);
        let path = Path::new("bomb.bin.gz");
        let mut src = Source::gzip(path, &bomb);
        let limit = gzip_limit(bomb.len() as u64);
        assert!(limit < 1 << 30);
        let err = src.fill_all().unwrap_err();
        assert!(
            matches!(err, ModelError::DecompressionLimit { limit: l, .. } if l == limit),
            "{err}"
        );
        assert!(src.produced() <= limit + 1, "{}", src.produced());
        assert!(src.len() as u64 <= limit);
        let msg = err.to_string();
        assert!(
            msg.contains("bomb.bin.gz") && msg.contains("gunzip"),
            "{msg}"
        );
    }

    #[test]
    fn limit_grows_with_the_compressed_size_only() {
        assert_eq!(gzip_limit(0), MIN_GZIP_LIMIT);
        assert_eq!(gzip_limit(1 << 20), MIN_GZIP_LIMIT);
        assert_eq!(gzip_limit(10 << 20), 640 << 20);
        assert_eq!(gzip_limit(u64::MAX), isize::MAX as u64);
    }

    #[test]
    fn truncated_stream_is_corrupt_with_a_compressed_offset() {
        let gz = gzip(&[1u8; 5000]);
        let cut = &gz[..gz.len() - 9];
        let mut src = Source::gzip(Path::new("t.bin.gz"), cut);
        let err = src.fill_all().unwrap_err();
        assert!(
            matches!(err, ModelError::Corrupt { offset, .. } if offset <= cut.len() as u64),
            "{err}"
        );
    }
}
