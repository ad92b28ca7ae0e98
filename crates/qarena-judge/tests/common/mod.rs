//! Shared helpers: locating the real engines and the qarena binary, and
//! building small databases of real games.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The KataGo binary: `QARENA_KATAGO`, else the shared bundle next to the
/// workspace. Its model and configs sit in the same directory.
pub fn katago() -> PathBuf {
    let path = match std::env::var_os("QARENA_KATAGO") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/katago/katago"),
    };
    assert!(
        path.is_file(),
        "KataGo not found at {} — set QARENA_KATAGO to the katago binary of the shared bundle",
        path.display()
    );
    path
}

pub fn katago_dir() -> PathBuf {
    let k = katago();
    let dir = k
        .parent()
        .expect("katago has a parent directory")
        .to_path_buf();
    for f in ["g170-b6c96.bin.gz", "analysis.cfg", "gtp.cfg"] {
        assert!(
            dir.join(f).is_file(),
            "{} missing next to the KataGo binary",
            f
        );
    }
    dir
}

/// A program from PATH, else from /usr/games (Debian's games packages).
pub fn debian_engine(name: &str) -> PathBuf {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    let p = Path::new("/usr/games").join(name);
    assert!(
        p.is_file(),
        "{name} not found in PATH or /usr/games — install Debian's {name} package"
    );
    p
}

/// The qarena binary of this workspace, built if missing.
pub fn qarena() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/debug/qarena");
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "qarena"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build -p qarena");
        assert!(status.success(), "cargo build -p qarena failed");
    }
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

/// Plays a real 9x9 match into `dir/q.sqlite` under run tag `tag`:
/// KataGo (GTP, 16 visits, with self-evaluations) against GNU Go level 1.
pub fn go_match(dir: &Path, tag: &str, games: u32) -> PathBuf {
    let k = katago_dir();
    let katago = format!(
        "{} gtp -model {} -config {} -override-config maxVisits=16",
        katago().display(),
        k.join("g170-b6c96.bin.gz").display(),
        k.join("gtp.cfg").display()
    );
    let gnugo = format!(
        "{} --mode gtp --level 1 --chinese-rules --capture-all-dead",
        debian_engine("gnugo").display()
    );
    let db = dir.join("q.sqlite");
    let out = Command::new(qarena())
        .args(["match", "--engine-a", &katago, "--engine-b", &gnugo])
        .args(["--games", &games.to_string(), "--board-size", "9"])
        .arg("--db")
        .arg(&db)
        .arg("--runs-dir")
        .arg(dir.join("runs"))
        .args(["--run-tag", tag])
        .output()
        .expect("running qarena match");
    assert!(
        out.status.success(),
        "qarena match failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    db
}
