//! Stockfish NNUE networks with the Stockfish 15.1 architecture:
//! HalfKAv2_hm features (22 528) → 2 × 1024 accumulator → 8 layer stacks of
//! fc_0 (1024 → 16), fc_1 (30 → 32), fc_2 (32 → 1).
//!
//! Layout (little-endian): version u32, file hash u32, description length
//! `L` u32 and `L` description bytes; feature-transformer hash u32, biases
//! i16[1024], weights i16[22528][1024] (feature-major), PSQT i32[22528][8];
//! then 8 stacks, each: network hash u32, fc_0 biases i32[16], fc_0 weights
//! i8[16][1024], fc_1 biases i32[32], fc_1 weights i8[32][32] (inputs 30 and
//! 31 are padding), fc_2 bias i32[1], fc_2 weights i8[1][32]. Stockfish
//! requires end of file right after stack 7. The SIMD weight scrambling of
//! Stockfish happens in memory only; on disk rows are plain output-major.
//!
//! Exposed shapes (output axis first, one output row contiguous):
//! `ft.weight` `[1024, 22528]` (one row per accumulator column, transposed
//! from storage), `ft.psqt` `[8, 22528]` (one row per bucket, transposed),
//! `stackB.fc_1.weight` `[32, 30]` (the padding columns are hidden and stay
//! zero); everything else as stored.
//!
//! Stockfish refuses a net silently at load time and only complains at the
//! next search, so this parser checks every hash and the exact length and
//! names the offset of the first mismatch.

use std::path::Path;

use qarena_quant::{Role, StorageType, TensorInfo};

use crate::view::Slot;
use crate::{ModelError, Parsed, Result};

pub(crate) const VERSION: u32 = 0x7AF3_2F20;
pub(crate) const FT_HASH: u32 = 0x7F23_44B8;
pub(crate) const NET_HASH: u32 = 0x6333_6A4A;
pub(crate) const FILE_HASH: u32 = FT_HASH ^ NET_HASH;

pub(crate) const FEATURES: usize = 22_528;
pub(crate) const L1: usize = 1024;
pub(crate) const PSQT_BUCKETS: usize = 8;
const STACKS: usize = 8;
pub(crate) const FC0_OUT: usize = 16;
pub(crate) const FC1_IN: usize = 30;
const FC1_IN_PADDED: usize = 32;
pub(crate) const FC1_OUT: usize = 32;
const FC2_IN: usize = 32;

const STACK_BYTES: usize =
    4 + 4 * FC0_OUT + FC0_OUT * L1 + 4 * FC1_OUT + FC1_OUT * FC1_IN_PADDED + 4 + FC2_IN;
/// Bytes after the description: FT hash, biases, weights, PSQT, stacks.
const BODY_BYTES: usize =
    4 + 2 * L1 + 2 * FEATURES * L1 + 4 * FEATURES * PSQT_BUCKETS + STACKS * STACK_BYTES;

const SUPPORTED: &str = "NNUE version 0x7AF32F20 with file hash 0x1C102EF2 \
                         (Stockfish 15.1: HalfKAv2_hm, 2x1024-16-32-1, 8 layer stacks, no LEB128)";

/// Known NNUE version words, for sniffing files without the `.nnue` name.
pub(crate) fn looks_like_nnue(head: &[u8]) -> bool {
    head.len() >= 12
        && matches!(
            u32::from_le_bytes([head[0], head[1], head[2], head[3]]),
            0x7AF3_2F16 | 0x7AF3_2F17 | 0x7AF3_2F20
        )
}

fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let b = buf.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

pub(crate) fn parse(path: &Path, buf: Vec<u8>) -> Result<Parsed> {
    let corrupt = |offset: usize, what: String| ModelError::Corrupt {
        path: path.to_path_buf(),
        offset: offset as u64,
        what,
    };
    let short = |at: usize, what: &str| {
        corrupt(
            buf.len(),
            format!(
                "file ends at byte {} where the {what} (byte {at}) was expected",
                buf.len()
            ),
        )
    };
    let version = u32_at(&buf, 0).ok_or_else(|| short(0, "version"))?;
    if version != VERSION {
        return Err(ModelError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: format!("NNUE version 0x{version:08X}"),
            supported: SUPPORTED.into(),
        });
    }
    let file_hash = u32_at(&buf, 4).ok_or_else(|| short(4, "file hash"))?;
    let desc_len = u32_at(&buf, 8).ok_or_else(|| short(8, "description length"))? as usize;
    let desc_end = desc_len.checked_add(12).filter(|&end| end <= buf.len());
    let Some(desc_end) = desc_end else {
        return Err(corrupt(
            8,
            format!(
                "description length {desc_len} runs past the end of the {}-byte file",
                buf.len()
            ),
        ));
    };
    let description = String::from_utf8_lossy(&buf[12..desc_end]).into_owned();
    let ft_at = desc_end;
    let ft_hash = u32_at(&buf, ft_at).ok_or_else(|| short(ft_at, "feature transformer hash"))?;
    let leb = ft_at.saturating_add(4);
    if buf.get(leb..leb.saturating_add(17)) == Some(b"COMPRESSED_LEB128".as_slice()) {
        return Err(ModelError::UnsupportedVersion {
            path: path.to_path_buf(),
            found: format!("NNUE version 0x{version:08X} with LEB128-compressed layers (Stockfish 16 or later)"),
            supported: SUPPORTED.into(),
        });
    }
    if file_hash != FILE_HASH {
        if ft_hash != FT_HASH {
            // Both hashes differ: a different architecture, not a bit flip.
            return Err(ModelError::UnsupportedVersion {
                path: path.to_path_buf(),
                found: format!(
                    "NNUE version 0x{version:08X} with file hash 0x{file_hash:08X} (another network architecture)"
                ),
                supported: SUPPORTED.into(),
            });
        }
        return Err(corrupt(
            4,
            format!("expected file hash 0x{FILE_HASH:08X}, found 0x{file_hash:08X}"),
        ));
    }
    if ft_hash != FT_HASH {
        return Err(corrupt(
            ft_at,
            format!("expected feature transformer hash 0x{FT_HASH:08X}, found 0x{ft_hash:08X}"),
        ));
    }
    // desc_end is at most the file length; the body is a constant.
    let end = desc_end.saturating_add(BODY_BYTES);
    if buf.len() < end {
        return Err(corrupt(
            buf.len(),
            format!(
                "file ends early: the Stockfish 15.1 architecture needs {end} bytes, the file has {}",
                buf.len()
            ),
        ));
    }
    if buf.len() > end {
        return Err(corrupt(
            end,
            format!(
                "{} unexpected bytes after the last layer stack (Stockfish requires end of file here)",
                buf.len() - end
            ),
        ));
    }

    let mut slots = Vec::with_capacity(3 + STACKS * 6);
    let info = |name: String, shape: Vec<usize>, dtype, role, layer, is_bias| TensorInfo {
        name,
        shape,
        dtype,
        role,
        layer,
        is_bias,
    };
    let mut at = ft_at + 4;
    slots.push(Slot::row_major(
        info(
            "ft.bias".into(),
            vec![L1],
            StorageType::I16,
            Role::FeatureTransformer,
            None,
            true,
        ),
        at,
    ));
    at += 2 * L1;
    slots.push(Slot::strided(
        info(
            "ft.weight".into(),
            vec![L1, FEATURES],
            StorageType::I16,
            Role::FeatureTransformer,
            None,
            false,
        ),
        at,
        vec![1, L1],
    ));
    at += 2 * FEATURES * L1;
    slots.push(Slot::strided(
        info(
            "ft.psqt".into(),
            vec![PSQT_BUCKETS, FEATURES],
            StorageType::I32,
            Role::Psqt,
            None,
            false,
        ),
        at,
        vec![1, PSQT_BUCKETS],
    ));
    at += 4 * FEATURES * PSQT_BUCKETS;
    for b in 0..STACKS {
        let hash = u32_at(&buf, at).unwrap_or(0);
        if hash != NET_HASH {
            return Err(corrupt(
                at,
                format!("expected layer stack {b} hash 0x{NET_HASH:08X}, found 0x{hash:08X}"),
            ));
        }
        at += 4;
        let layer = Some(b as u32);
        let layers: [(&str, Role, usize, usize, usize); 3] = [
            ("fc_0", Role::Fc0, FC0_OUT, L1, L1),
            ("fc_1", Role::Fc1, FC1_OUT, FC1_IN, FC1_IN_PADDED),
            ("fc_2", Role::Fc2, 1, FC2_IN, FC2_IN),
        ];
        for (name, role, out, inputs, padded) in layers {
            slots.push(Slot::row_major(
                info(
                    format!("stack{b}.{name}.bias"),
                    vec![out],
                    StorageType::I32,
                    role,
                    layer,
                    true,
                ),
                at,
            ));
            at += 4 * out;
            slots.push(Slot::strided(
                info(
                    format!("stack{b}.{name}.weight"),
                    vec![out, inputs],
                    StorageType::I8,
                    role,
                    layer,
                    false,
                ),
                at,
                vec![padded, 1],
            ));
            at += out * padded;
        }
    }
    debug_assert_eq!(at, end);
    debug_assert!(slots.iter().all(|s| s.fits(buf.len())));
    let description = format!(
        "Stockfish NNUE version 0x{version:08X}, hash 0x{file_hash:08X}, SF 15.1 architecture \
         (HalfKAv2_hm, 2x1024-16-32-1, 8 layer stacks): {:?}",
        description.trim()
    );
    Ok(Parsed {
        data: buf,
        text: None,
        slots,
        description,
        arch: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hashes Stockfish derives from its layer types.
    #[test]
    fn hashes_follow_from_the_architecture() {
        assert_eq!(FT_HASH, 0x7F23_4CB8 ^ (2 * L1 as u32));
        let affine =
            |prev: u32, out: u32| 0xCC03_DAE4u32.wrapping_add(out) ^ (prev >> 1) ^ (prev << 31);
        let relu = |prev: u32| 0x538D_24C7u32.wrapping_add(prev);
        let mut h = 0xEC42_E90Du32 ^ (2 * L1 as u32);
        h = affine(h, FC0_OUT as u32);
        h = relu(h);
        h = affine(h, FC1_OUT as u32);
        h = relu(h);
        h = affine(h, 1);
        assert_eq!(h, NET_HASH);
        assert_eq!(FILE_HASH, 0x1C10_2EF2);
        assert_eq!(STACK_BYTES, 17_640);
        assert_eq!(BODY_BYTES + 12 + 75, 47_001_499);
    }
}
