//! The run folder: `runs/<run-tag>/{configs,logs,results,manifests}` and
//! its owner lock `owner.lock`.
//!
//! Everything a run writes besides the database lives here, so a run can be
//! inspected, shipped or pruned as one directory.
//!
//! Invariants:
//! - a run tag is a [`RunTag`]: 1-64 characters from `A-Z a-z 0-9 . _ -`,
//!   starting with a letter or digit, so `runs/<tag>` is always one plain
//!   name directly inside the runs folder (never `..`, never a path);
//! - a run being played has exactly one owner: the process holding an
//!   exclusive `flock` on `runs/<tag>/owner.lock` (its pid is written in
//!   the file). The kernel drops the lock when the process dies, however it
//!   dies, so a lock never outlives its owner. The folder is claimed before
//!   the run is created or changed in the database, and `runs prune` deletes
//!   a run only while holding that lock itself;
//! - pruning never follows a symbolic link and never touches a path that
//!   does not resolve to a directory directly inside the runs folder.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use serde::Serialize;

/// The name of a run, safe to use as a folder name under `runs/`.
///
/// Parsed once where a tag enters (command-line flags, generated defaults);
/// everything downstream takes a `RunTag` and can join it to a path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct RunTag(String);

/// Why a string is not a [`RunTag`]; shows the tag and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid run tag '{shown}': {reason}; {rule}", rule = RunTag::RULE)]
pub struct RunTagError {
    shown: String,
    reason: String,
}

impl RunTag {
    /// The longest tag accepted.
    pub const MAX_LEN: usize = 64;
    /// The rule, as error messages and the documentation state it.
    pub const RULE: &'static str = "a run tag is 1-64 characters from A-Z a-z 0-9 . _ - \
        and starts with a letter or digit (it names the folder runs/<tag>)";

    /// Accepts `s` if it follows [`RunTag::RULE`].
    pub fn parse(s: &str) -> Result<RunTag, RunTagError> {
        let fail = |reason: String| {
            // Control characters are escaped, and a very long tag cut, so
            // the message stays one readable line.
            let mut shown: String = s.chars().take(80).collect();
            if s.chars().count() > 80 {
                shown.push_str("...");
            }
            Err(RunTagError {
                shown: shown.escape_debug().to_string(),
                reason,
            })
        };
        let Some(first) = s.chars().next() else {
            return fail("it is empty".into());
        };
        if let Some(bad) = s.chars().find(|c| !allowed(*c)) {
            let what = match bad {
                '/' | '\\' => "a path separator".to_string(),
                c if c.is_control() => "a control character".to_string(),
                c => format!("the character '{}'", c.escape_debug()),
            };
            return fail(format!("it contains {what}"));
        }
        if !first.is_ascii_alphanumeric() {
            return fail(format!("it starts with '{first}'"));
        }
        if s.len() > RunTag::MAX_LEN {
            return fail(format!("it is {} characters long", s.len()));
        }
        Ok(RunTag(s.to_string()))
    }

    /// A fresh tag `<prefix>-<UTC yyyymmddhhmmss>-<pid mod 10000>`. The
    /// prefix (e.g. a sweep's name) is made safe: characters outside the
    /// rule become `-`, and it is shortened to leave room for the suffix.
    pub fn generated(prefix: &str) -> RunTag {
        let stamp: String = qarena_store::now_rfc3339()
            .chars()
            .filter(|c| c.is_ascii_digit())
            .take(14)
            .collect();
        let suffix = format!("-{stamp}-{}", std::process::id() % 10000);
        let mut p: String = prefix
            .chars()
            .map(|c| if allowed(c) { c } else { '-' })
            .skip_while(|c| !c.is_ascii_alphanumeric())
            .take(RunTag::MAX_LEN - suffix.len())
            .collect();
        if p.is_empty() {
            p = "run".into();
        }
        RunTag::parse(&format!("{p}{suffix}")).unwrap_or_else(|_| RunTag(format!("run{suffix}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
}

impl std::str::FromStr for RunTag {
    type Err = RunTagError;
    fn from_str(s: &str) -> Result<RunTag, RunTagError> {
        RunTag::parse(s)
    }
}

impl std::fmt::Display for RunTag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for RunTag {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for RunTag {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl AsRef<Path> for RunTag {
    fn as_ref(&self) -> &Path {
        Path::new(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RunTag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<RunTag, D::Error> {
        let s = String::deserialize(d)?;
        RunTag::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The file whose lock marks a run's owner.
pub const OWNER_LOCK: &str = "owner.lock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFolder {
    pub root: PathBuf,
}

/// Why a run folder could not be claimed.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another live process owns the run.
    #[error("{}", busy_message(.tag, *.pid, .lock))]
    Busy {
        tag: String,
        pid: Option<u32>,
        lock: PathBuf,
    },
    #[error("cannot lock {}: {source}", .lock.display())]
    Io {
        lock: PathBuf,
        source: std::io::Error,
    },
}

fn busy_message(tag: &str, pid: Option<u32>, lock: &Path) -> String {
    let who = pid
        .map(|p| format!("process {p}"))
        .unwrap_or_else(|| "another process".to_string());
    format!(
        "run '{tag}' is in use by {who} (it holds {}); one run has one owner at a time — \
         wait for it to finish or stop it, then `--resume {tag}`",
        lock.display()
    )
}

/// Proof that this process owns a run folder: an exclusive lock on its
/// `owner.lock`, released (and the pid cleared) on drop, and by the kernel
/// if the process dies.
#[derive(Debug)]
pub struct RunOwner {
    file: Flock<File>,
    lock: PathBuf,
}

impl RunOwner {
    /// The lock file.
    pub fn lock_path(&self) -> &Path {
        &self.lock
    }
}

impl Drop for RunOwner {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// Whether a folder's run is owned right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ownership {
    /// Nobody holds the lock (or there is no lock file).
    Free,
    /// A live process holds it (pid when it could be read).
    Owned(Option<u32>),
}

impl RunFolder {
    /// Creates (or reuses, on resume) the folder tree for `tag` under `runs_dir`.
    pub fn create(runs_dir: &Path, tag: &RunTag) -> std::io::Result<RunFolder> {
        let root = runs_dir.join(tag.as_str());
        for sub in ["configs", "logs", "results", "manifests"] {
            fs_err::create_dir_all(root.join(sub))?;
        }
        Ok(RunFolder { root })
    }

    /// The folder of `tag` under `runs_dir`, without creating anything.
    pub fn at(runs_dir: &Path, tag: &RunTag) -> RunFolder {
        RunFolder {
            root: runs_dir.join(tag.as_str()),
        }
    }

    /// The owner lock file.
    pub fn owner_lock(&self) -> PathBuf {
        self.root.join(OWNER_LOCK)
    }

    /// Makes this process the run's only owner, or says who owns it.
    /// Never blocks. The lock file is opened without following symbolic
    /// links.
    pub fn claim(&self, tag: &str) -> Result<RunOwner, ClaimError> {
        let lock = self.owner_lock();
        let io = |source: std::io::Error| ClaimError::Io {
            lock: lock.clone(),
            source,
        };
        // The folder may be renamed away by a prune between our open and our
        // lock; then the locked file is no longer the one at the path, and we
        // try again on the new one.
        for _ in 0..20 {
            fs_err::create_dir_all(&self.root).map_err(io)?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(OFlag::O_NOFOLLOW.bits())
                .open(&lock)
                .map_err(io)?;
            let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(f) => f,
                Err((_, e)) if e == Errno::EWOULDBLOCK => {
                    return Err(ClaimError::Busy {
                        tag: tag.to_string(),
                        pid: read_pid(&lock),
                        lock,
                    })
                }
                Err((_, e)) => return Err(io(std::io::Error::from(e))),
            };
            let ours = file.metadata().map_err(io)?;
            match std::fs::symlink_metadata(&lock) {
                Ok(m) if m.dev() == ours.dev() && m.ino() == ours.ino() => {}
                _ => continue,
            }
            file.set_len(0).map_err(io)?;
            file.write_all(format!("{}\n", std::process::id()).as_bytes())
                .map_err(io)?;
            file.flush().map_err(io)?;
            return Ok(RunOwner { file, lock });
        }
        Err(io(std::io::Error::other(
            "the run folder kept changing while it was being locked",
        )))
    }

    /// Whether a live process owns the run, without taking ownership (a
    /// shared lock is tried and released at once; nothing is written).
    pub fn ownership(&self) -> std::io::Result<Ownership> {
        let lock = self.owner_lock();
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(OFlag::O_NOFOLLOW.bits())
            .open(&lock)
        {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Ownership::Free),
            Err(e) => return Err(e),
        };
        match Flock::lock(file, FlockArg::LockSharedNonblock) {
            Ok(_) => Ok(Ownership::Free),
            Err((_, e)) if e == Errno::EWOULDBLOCK => Ok(Ownership::Owned(read_pid(&lock))),
            Err((_, e)) => Err(std::io::Error::from(e)),
        }
    }

    pub fn configs(&self) -> PathBuf {
        self.root.join("configs")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn results(&self) -> PathBuf {
        self.root.join("results")
    }
    pub fn manifests(&self) -> PathBuf {
        self.root.join("manifests")
    }

    /// Writes pretty JSON, replacing the file atomically (write + rename) so
    /// a crash never leaves half a file.
    pub fn write_json<T: Serialize>(&self, path: &Path, value: &T) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        fs_err::write(&tmp, text + "\n")?;
        fs_err::rename(&tmp, path)
    }
}

/// The owner's pid from a lock file. The owner writes it right after
/// locking, so an empty file is retried briefly.
fn read_pid(lock: &Path) -> Option<u32> {
    for _ in 0..25 {
        let mut text = String::new();
        if let Ok(mut f) = OpenOptions::new()
            .read(true)
            .custom_flags(OFlag::O_NOFOLLOW.bits())
            .open(lock)
        {
            if f.read_to_string(&mut text).is_ok() {
                if let Ok(pid) = text.trim().parse() {
                    return Some(pid);
                }
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

/// What `runs prune` may do with the folder of a stored run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneTarget {
    /// The stored tag is not a valid [`RunTag`] (an older build accepted
    /// any): its database rows may go, nothing on disk is touched.
    NotATag(String),
    /// There is no folder for the run in the runs folder.
    Missing,
    /// A real directory directly inside the (canonical) runs folder.
    Folder(RunFolder),
    /// Something at `runs/<tag>` prune must leave alone, and why.
    Refused(String),
}

/// Resolves where the run tagged `tag` lives under the runs folder whose
/// canonical path is `runs_root` (`None`: the runs folder does not exist).
pub fn prune_target(runs_root: Option<&Path>, tag: &str) -> PruneTarget {
    let tag = match RunTag::parse(tag) {
        Ok(t) => t,
        Err(e) => return PruneTarget::NotATag(e.to_string()),
    };
    let Some(root) = runs_root else {
        return PruneTarget::Missing;
    };
    let path = root.join(tag.as_str());
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return PruneTarget::Missing,
        Err(e) => return PruneTarget::Refused(format!("cannot inspect {}: {e}", path.display())),
    };
    if meta.file_type().is_symlink() {
        let to = std::fs::read_link(&path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        return PruneTarget::Refused(format!(
            "{} is a symbolic link (to {to}); prune does not follow links — remove it by hand",
            path.display()
        ));
    }
    if !meta.is_dir() {
        return PruneTarget::Refused(format!("{} is not a directory", path.display()));
    }
    match std::fs::canonicalize(&path) {
        Ok(c) if c.parent() == Some(root) => PruneTarget::Folder(RunFolder { root: c }),
        Ok(c) => PruneTarget::Refused(format!(
            "{} resolves to {}, outside {}",
            path.display(),
            c.display(),
            root.display()
        )),
        Err(e) => PruneTarget::Refused(format!("cannot resolve {}: {e}", path.display())),
    }
}

/// Deletes a run folder found by [`prune_target`] while `owner` (our own
/// claim on it) is held: the folder is first renamed to a hidden name in
/// the runs folder (no run tag starts with `.`), so a new run of the same
/// tag starts in a fresh folder, then removed without following links.
pub fn remove_pruned(folder: &RunFolder, owner: RunOwner) -> std::io::Result<()> {
    let parent = folder
        .root
        .parent()
        .ok_or_else(|| std::io::Error::other("a run folder has a parent"))?;
    let name = folder
        .root
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let trash = parent.join(format!(".pruned-{name}-{}", std::process::id()));
    fs_err::rename(&folder.root, &trash)?;
    let result = fs_err::remove_dir_all(&trash);
    drop(owner);
    result
}

/// Facts about the machine and software, written to `manifests/environment.json`.
#[derive(Debug, Serialize)]
pub struct Environment {
    pub qarena_version: String,
    pub os: String,
    pub arch: String,
    pub kernel: Option<String>,
    pub cpu: Option<String>,
    pub cpus: usize,
}

impl Environment {
    pub fn capture() -> Environment {
        let cpu = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|s| s.trim().to_string());
        let os = std::fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|s| {
                s.lines().find(|l| l.starts_with("PRETTY_NAME=")).map(|l| {
                    l.trim_start_matches("PRETTY_NAME=")
                        .trim_matches('"')
                        .to_string()
                })
            })
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        Environment {
            qarena_version: env!("CARGO_PKG_VERSION").to_string(),
            os,
            arch: std::env::consts::ARCH.to_string(),
            kernel,
            cpu,
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ordinary_tags_are_accepted() {
        let long = "a".repeat(64);
        for t in [
            "a",
            "k9",
            "l1-vs-l8",
            "match-20240101120000-123",
            "A.b_c-d",
            "9x9.ladder_v2",
            long.as_str(),
        ] {
            assert_eq!(RunTag::parse(t).unwrap().as_str(), t);
        }
    }

    #[test]
    fn hostile_tags_are_refused_with_the_tag_and_the_rule() {
        let long = "a".repeat(65);
        for t in [
            "",
            ".",
            "..",
            "/",
            "a/b",
            "../victim",
            "/etc",
            "a\\b",
            "a\0b",
            "\0",
            "é",
            "日本",
            "a b",
            " a",
            "a\n",
            "-a",
            ".a",
            "_a",
            "a:b",
            "a*",
            "~",
            long.as_str(),
        ] {
            let e = RunTag::parse(t).expect_err(t).to_string();
            assert!(e.contains(RunTag::RULE), "{e}");
            assert!(e.contains(&t.escape_debug().to_string()), "{e}");
            assert!(!e.contains('\0') && !e.contains('\n'), "{e:?}");
        }
        let e = RunTag::parse("../victim").unwrap_err().to_string();
        assert!(e.contains("path separator"), "{e}");
        let e = RunTag::parse(&"x".repeat(1000)).unwrap_err().to_string();
        assert!(e.len() < 400, "a long tag is cut in the message: {e}");
    }

    #[test]
    fn generated_tags_are_valid_whatever_the_prefix() {
        for p in [
            "match",
            "demo",
            "../x",
            "",
            "...",
            "-",
            "é ladder/9x9",
            "a\0b",
        ] {
            let t = RunTag::generated(p);
            assert_eq!(RunTag::parse(t.as_str()), Ok(t.clone()), "{p:?}");
        }
        assert!(RunTag::generated("katago-ladder").starts_with("katago-ladder-"));
        assert!(RunTag::generated(&"long".repeat(50)).len() <= RunTag::MAX_LEN);
    }

    #[test]
    fn tags_deserialize_only_when_valid() {
        let ok: RunTag = serde_json::from_str("\"abc\"").unwrap();
        assert_eq!(ok.as_str(), "abc");
        assert!(serde_json::from_str::<RunTag>("\"../x\"").is_err());
    }

    proptest! {
        #[test]
        fn an_accepted_tag_is_one_plain_path_component(s in any::<String>()) {
            if let Ok(t) = RunTag::parse(&s) {
                let parts: Vec<_> = Path::new(t.as_str()).components().collect();
                prop_assert_eq!(parts.len(), 1);
                prop_assert!(matches!(parts[0], std::path::Component::Normal(_)));
                prop_assert!(t.len() <= RunTag::MAX_LEN && !t.starts_with('.'));
            }
        }

        #[test]
        fn hostile_shapes_are_refused(
            a in "[A-Za-z0-9]{0,8}",
            b in "[A-Za-z0-9]{0,8}",
            sep in prop::sample::select(vec!["/", "\\", "\0", "/../", "..", " ", "\u{e9}", "\n"]),
        ) {
            let s = format!("{a}{sep}{b}");
            if sep == ".." && !a.is_empty() {
                // `a..b` is an ordinary name, not a path.
                prop_assert!(RunTag::parse(&s).is_ok());
            } else {
                prop_assert!(RunTag::parse(&s).is_err(), "{:?}", s);
            }
        }

        #[test]
        fn tags_from_the_alphabet_are_accepted(s in "[A-Za-z0-9][A-Za-z0-9._-]{0,63}") {
            prop_assert_eq!(RunTag::parse(&s).map(|t| t.into_string()), Ok(s));
        }

        #[test]
        fn any_prefix_gives_a_valid_generated_tag(p in any::<String>()) {
            let t = RunTag::generated(&p);
            prop_assert!(RunTag::parse(t.as_str()).is_ok());
        }
    }

    #[test]
    fn one_owner_at_a_time_and_the_lock_goes_with_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let tag = RunTag::parse("r1").unwrap();
        let folder = RunFolder::create(dir.path(), &tag).unwrap();
        assert_eq!(folder.ownership().unwrap(), Ownership::Free);
        let owner = folder.claim("r1").unwrap();
        let me = std::process::id();
        assert_eq!(
            std::fs::read_to_string(owner.lock_path()).unwrap().trim(),
            me.to_string()
        );
        match folder.claim("r1") {
            Err(ClaimError::Busy { pid, .. }) => assert_eq!(pid, Some(me)),
            other => panic!("expected busy, got {other:?}"),
        }
        let msg = folder.claim("r1").unwrap_err().to_string();
        assert!(
            msg.contains(&format!("process {me}")) && msg.contains("'r1'"),
            "{msg}"
        );
        assert_eq!(folder.ownership().unwrap(), Ownership::Owned(Some(me)));
        drop(owner);
        assert_eq!(folder.ownership().unwrap(), Ownership::Free);
        let again = folder.claim("r1").unwrap();
        drop(again);
    }

    #[test]
    fn a_symlinked_lock_file_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside.txt");
        std::fs::write(&outside, "precious").unwrap();
        let folder = RunFolder::create(&dir.path().join("runs"), &"r".parse().unwrap()).unwrap();
        std::os::unix::fs::symlink(&outside, folder.owner_lock()).unwrap();
        assert!(matches!(folder.claim("r"), Err(ClaimError::Io { .. })));
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "precious");
    }

    #[test]
    fn prune_targets_stay_inside_the_runs_folder() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("keep.txt"), "precious").unwrap();
        let plain = RunFolder::create(&runs, &"plain".parse().unwrap()).unwrap();
        std::os::unix::fs::symlink(&outside, runs.join("linked")).unwrap();
        std::fs::write(runs.join("file"), "").unwrap();
        // A link inside a run folder is removed, never followed.
        std::os::unix::fs::symlink(&outside, plain.logs().join("escape")).unwrap();
        let root = std::fs::canonicalize(&runs).unwrap();

        assert!(matches!(
            prune_target(Some(root.as_path()), ".."),
            PruneTarget::NotATag(_)
        ));
        assert!(matches!(
            prune_target(Some(root.as_path()), "../outside"),
            PruneTarget::NotATag(_)
        ));
        assert!(matches!(
            prune_target(Some(root.as_path()), "linked"),
            PruneTarget::Refused(m) if m.contains("symbolic link")
        ));
        assert!(matches!(
            prune_target(Some(root.as_path()), "file"),
            PruneTarget::Refused(_)
        ));
        assert_eq!(
            prune_target(Some(root.as_path()), "gone"),
            PruneTarget::Missing
        );
        assert_eq!(prune_target(None, "plain"), PruneTarget::Missing);
        let PruneTarget::Folder(f) = prune_target(Some(root.as_path()), "plain") else {
            panic!("plain is a run folder");
        };
        let owner = f.claim("plain").unwrap();
        remove_pruned(&f, owner).unwrap();
        assert!(!runs.join("plain").exists());
        assert_eq!(
            std::fs::read_to_string(outside.join("keep.txt")).unwrap(),
            "precious"
        );
        let left: Vec<_> = std::fs::read_dir(&runs)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(!left.iter().any(|n| n.starts_with(".pruned")), "{left:?}");
    }
}
