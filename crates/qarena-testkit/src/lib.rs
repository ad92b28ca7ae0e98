//! Test support shared by qarena's crates (a dev-dependency only): where
//! the real engines the tests play are found. Missing engines fail the
//! test with a message saying what to set; they are never skipped.
#![allow(clippy::expect_used)] // test support: a missing bundle fails the test

use std::path::{Path, PathBuf};

/// The KataGo binary: `QARENA_KATAGO`, else the shared bundle beside the
/// repository (`../shared/katago/katago`), whose net and configs sit in
/// the same folder. Panics, naming the path, when it is not there.
pub fn katago_binary() -> PathBuf {
    let bin = std::env::var_os("QARENA_KATAGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/katago/katago")
        });
    assert!(
        bin.is_file(),
        "KataGo not found at {} — set QARENA_KATAGO to the katago binary of the shared bundle",
        bin.display()
    );
    bin
}

/// KataGo's binary, the shared net (`g170-b6c96.bin.gz`) and `gtp.cfg`
/// beside it.
pub fn katago() -> (PathBuf, PathBuf, PathBuf) {
    let bin = katago_binary();
    let dir = bin
        .parent()
        .expect("the KataGo binary has a folder")
        .to_path_buf();
    (bin, dir.join("g170-b6c96.bin.gz"), dir.join("gtp.cfg"))
}
