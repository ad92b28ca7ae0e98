//! The run folders of a sharded run's shards copied into one (`qarena merge`).
//!
//! Each shard plays into its own runs folder; the merged run's folder
//! `OUT_RUNS/<tag>/` receives, from every shard:
//! - `configs/` and `manifests/`: a file is kept once when every shard has
//!   the same bytes; a shard whose file differs puts it under
//!   `<folder>/<label>/` instead, so nothing is overwritten;
//! - `logs/` and `results/`: always under `<folder>/<label>/` (each shard's
//!   logs and summaries are its own).
//!
//! `<label>` is `shard-K` for shard K (see [`shard_label`]). Copying again
//! skips files whose bytes are already there, so a rerun adds nothing.
//!
//! Invariants: symbolic links are never followed. A link inside a shard's
//! folder is skipped (and counted); a link at `<shard runs>/<tag>`, or
//! anywhere the copy would write, is refused. Only the four folders above
//! are copied (not `owner.lock`), and every path written stays inside
//! `OUT_RUNS/<tag>/` because run tags are plain folder names.

use std::path::{Path, PathBuf};

use qarena_store::ShardSet;

use crate::RunTag;

/// The folders copied, and whether each is kept apart per shard.
const FOLDERS: &[(&str, bool)] = &[
    ("configs", false),
    ("manifests", false),
    ("logs", true),
    ("results", true),
];

/// Why a shard's run folder could not be copied.
#[derive(Debug, thiserror::Error)]
pub enum FolderMergeError {
    /// A symbolic link where a folder or file was expected.
    #[error("{} is a symbolic link; qarena merge never follows links — replace it with a real folder or file", .0.display())]
    Link(PathBuf),
    /// Reading or writing a file failed (the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// What copying one shard's run folder did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FolderCopy {
    /// `<shard runs>/<tag>`.
    pub source: PathBuf,
    /// The source is the merged run's own folder: nothing to copy.
    pub same_folder: bool,
    /// Files written.
    pub copied: u64,
    /// Files whose bytes were already there.
    pub unchanged: u64,
    /// `configs/` or `manifests/` files that differed from another shard's
    /// and were written under `<folder>/<label>/`.
    pub set_apart: u64,
    /// Symbolic links skipped.
    pub links_skipped: u64,
}

/// The subfolder name of one shard's files: `shard-K` for shard K,
/// `shards-K-L` for a database already holding several, and
/// `from-<database file stem>` for a run that was not sharded.
pub fn shard_label(shards: Option<&ShardSet>, db: &Path) -> String {
    match shards {
        Some(s) => {
            let list = s
                .indices
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join("-");
            if s.indices.len() == 1 {
                format!("shard-{list}")
            } else {
                format!("shards-{list}")
            }
        }
        None => {
            let stem = db
                .file_stem()
                .map(|s| s.to_string_lossy().to_string())
                .unwrap_or_default();
            let clean: String = stem
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            format!("from-{}", clean.trim_start_matches('.'))
        }
    }
}

/// Copies the folder of run `tag` from `shard_runs` into `out_runs` under
/// the layout above; `Ok(None)` when the shard has no folder for the run.
pub fn merge_run_folder(
    shard_runs: &Path,
    out_runs: &Path,
    tag: &RunTag,
    label: &str,
) -> Result<Option<FolderCopy>, FolderMergeError> {
    let source = shard_runs.join(tag.as_str());
    match std::fs::symlink_metadata(&source) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            let context = format!("cannot read {}: {e}", source.display());
            return Err(std::io::Error::new(e.kind(), context).into());
        }
        Ok(m) if m.file_type().is_symlink() => return Err(FolderMergeError::Link(source)),
        Ok(m) if !m.is_dir() => return Ok(None),
        Ok(_) => {}
    }
    let mut report = FolderCopy {
        source: source.clone(),
        ..FolderCopy::default()
    };
    fs_err::create_dir_all(out_runs)?;
    let target = out_runs.join(tag.as_str());
    real_dir(&target)?;
    if fs_err::canonicalize(&source)? == fs_err::canonicalize(&target)? {
        report.same_folder = true;
        return Ok(Some(report));
    }
    for &(name, per_shard) in FOLDERS {
        let from = source.join(name);
        match std::fs::symlink_metadata(&from) {
            Ok(m) if m.file_type().is_symlink() => {
                report.links_skipped += 1;
                continue;
            }
            Ok(m) if m.is_dir() => {}
            _ => continue,
        }
        let to = target.join(name);
        real_dir(&to)?;
        let mut stack = vec![PathBuf::new()];
        while let Some(rel) = stack.pop() {
            for entry in fs_err::read_dir(from.join(&rel))? {
                let entry = entry?;
                let rel = rel.join(entry.file_name());
                let kind = entry.file_type()?;
                if kind.is_symlink() {
                    report.links_skipped += 1;
                } else if kind.is_dir() {
                    stack.push(rel);
                } else if kind.is_file() {
                    let file = from.join(&rel);
                    if per_shard {
                        place(&file, &to, &Path::new(label).join(&rel), &mut report)?;
                    } else if !place_if_same(&file, &to, &rel, &mut report)? {
                        place(&file, &to, &Path::new(label).join(&rel), &mut report)?;
                        report.set_apart += 1;
                    }
                }
            }
        }
    }
    Ok(Some(report))
}

/// Creates `dir` if missing; refuses a link or a non-folder there.
fn real_dir(dir: &Path) -> Result<(), FolderMergeError> {
    match std::fs::symlink_metadata(dir) {
        Ok(m) if m.file_type().is_symlink() => Err(FolderMergeError::Link(dir.to_path_buf())),
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(std::io::Error::other(format!("{} is not a folder", dir.display())).into()),
        Err(_) => Ok(fs_err::create_dir(dir)?),
    }
}

/// Creates the folders of `rel` under `root`, each checked to be real.
fn real_dirs(root: &Path, rel: &Path) -> Result<(), FolderMergeError> {
    let mut dir = root.to_path_buf();
    for part in rel.components() {
        dir.push(part);
        real_dir(&dir)?;
    }
    Ok(())
}

/// True when `a` and `b` hold the same bytes.
fn same_bytes(a: &Path, b: &Path) -> Result<bool, FolderMergeError> {
    if fs_err::metadata(a)?.len() != fs_err::metadata(b)?.len() {
        return Ok(false);
    }
    Ok(fs_err::read(a)? == fs_err::read(b)?)
}

/// Writes `file` to `root/rel` unless that file already has its bytes;
/// `false` when another file is there (nothing written).
fn place_if_same(
    file: &Path,
    root: &Path,
    rel: &Path,
    report: &mut FolderCopy,
) -> Result<bool, FolderMergeError> {
    let dest = root.join(rel);
    match std::fs::symlink_metadata(&dest) {
        Ok(m) if m.file_type().is_symlink() => Err(FolderMergeError::Link(dest)),
        Ok(_) if same_bytes(file, &dest)? => {
            report.unchanged += 1;
            Ok(true)
        }
        Ok(_) => Ok(false),
        Err(_) => {
            if let Some(parent) = rel.parent() {
                real_dirs(root, parent)?;
            }
            fs_err::copy(file, &dest)?;
            report.copied += 1;
            Ok(true)
        }
    }
}

/// Writes `file` to `root/rel`, replacing what this shard wrote there
/// before (the path is its own).
fn place(
    file: &Path,
    root: &Path,
    rel: &Path,
    report: &mut FolderCopy,
) -> Result<(), FolderMergeError> {
    let dest = root.join(rel);
    match std::fs::symlink_metadata(&dest) {
        Ok(m) if m.file_type().is_symlink() => return Err(FolderMergeError::Link(dest)),
        Ok(_) if same_bytes(file, &dest)? => {
            report.unchanged += 1;
            return Ok(());
        }
        _ => {}
    }
    if let Some(parent) = rel.parent() {
        real_dirs(root, parent)?;
    }
    fs_err::copy(file, &dest)?;
    report.copied += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use std::collections::BTreeSet;
    use std::path::Path;

    use super::{merge_run_folder, shard_label, FolderMergeError};
    use crate::RunTag;
    use qarena_store::ShardSet;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn shard_folder(root: &Path, k: u32) {
        let run = root.join("r1");
        write(&run.join("configs/match.json"), "{\"games\": 4}");
        write(
            &run.join("manifests/environment.json"),
            &format!("{{\"host\": {k}}}"),
        );
        write(&run.join("logs/a.log"), &format!("log of shard {k}"));
        write(
            &run.join("results/summary.json"),
            &format!("{{\"shard\": {k}}}"),
        );
        write(&run.join("owner.lock"), "123");
    }

    #[test]
    fn shards_land_side_by_side_without_overwriting_and_a_rerun_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let tag = RunTag::parse("r1").unwrap();
        let out = dir.path().join("out");
        for k in 0..2 {
            let runs = dir.path().join(format!("s{k}"));
            shard_folder(&runs, k);
            let label = shard_label(
                Some(&ShardSet {
                    count: 2,
                    indices: BTreeSet::from([k]),
                }),
                Path::new("x.sqlite"),
            );
            let copy = merge_run_folder(&runs, &out, &tag, &label)
                .unwrap()
                .unwrap();
            // Shard 1's config is the same: kept once; its manifest differs.
            assert_eq!(copy.copied, if k == 0 { 4 } else { 3 });
            assert_eq!(copy.set_apart, k as u64);
            let again = merge_run_folder(&runs, &out, &tag, &label)
                .unwrap()
                .unwrap();
            assert_eq!((again.copied, again.unchanged), (0, 4));
        }
        let read = |p: &str| std::fs::read_to_string(out.join("r1").join(p)).unwrap();
        assert_eq!(read("configs/match.json"), "{\"games\": 4}");
        assert_eq!(read("manifests/environment.json"), "{\"host\": 0}");
        assert_eq!(read("manifests/shard-1/environment.json"), "{\"host\": 1}");
        assert_eq!(read("logs/shard-0/a.log"), "log of shard 0");
        assert_eq!(read("logs/shard-1/a.log"), "log of shard 1");
        assert_eq!(read("results/shard-1/summary.json"), "{\"shard\": 1}");
        assert!(!out.join("r1/owner.lock").exists());
    }

    #[test]
    fn links_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let tag = RunTag::parse("r1").unwrap();
        let runs = dir.path().join("s0");
        shard_folder(&runs, 0);
        let secret = dir.path().join("secret.txt");
        std::fs::write(&secret, "outside").unwrap();
        std::os::unix::fs::symlink(&secret, runs.join("r1/logs/leak.log")).unwrap();
        std::os::unix::fs::symlink(dir.path(), runs.join("r1/results/up")).unwrap();
        let out = dir.path().join("out");
        let copy = merge_run_folder(&runs, &out, &tag, "shard-0")
            .unwrap()
            .unwrap();
        assert_eq!(copy.links_skipped, 2);
        assert!(!out.join("r1/logs/shard-0/leak.log").exists());
        assert!(!out.join("r1/results/shard-0/up").exists());

        // A link where the copy would write is refused.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        std::fs::remove_dir_all(out.join("r1/logs")).unwrap();
        std::os::unix::fs::symlink(&elsewhere, out.join("r1/logs")).unwrap();
        let err = merge_run_folder(&runs, &out, &tag, "shard-0").unwrap_err();
        assert!(matches!(err, FolderMergeError::Link(_)), "{err:?}");
        assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);

        // A shard whose run folder is a link is refused too.
        let linked = dir.path().join("s1");
        std::fs::create_dir(&linked).unwrap();
        std::os::unix::fs::symlink(runs.join("r1"), linked.join("r1")).unwrap();
        let err = merge_run_folder(&linked, &out, &tag, "shard-1").unwrap_err();
        assert!(err.to_string().contains("symbolic link"), "{err}");
        // No folder for the run: nothing to copy.
        assert!(merge_run_folder(&elsewhere, &out, &tag, "shard-2")
            .unwrap()
            .is_none());
    }

    #[test]
    fn labels_name_the_shard_or_the_database() {
        let one = ShardSet {
            count: 4,
            indices: BTreeSet::from([2]),
        };
        assert_eq!(shard_label(Some(&one), Path::new("a.sqlite")), "shard-2");
        let two = ShardSet {
            count: 4,
            indices: BTreeSet::from([0, 3]),
        };
        assert_eq!(shard_label(Some(&two), Path::new("a.sqlite")), "shards-0-3");
        assert_eq!(
            shard_label(None, Path::new("dir/my db.sqlite")),
            "from-my_db"
        );
    }
}
