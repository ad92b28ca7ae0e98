//! Shared by the tests and the ladder example: Stockfish's embedded net,
//! exported once into a work folder, and the demo's ladder of variants.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test code

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::Duration;

use qarena_engine::{run_to_completion, Input, RunSpec};
use qarena_variant::{build_variant, BuildOptions};

/// The size of Stockfish 15.1's embedded net.
pub const NET_BYTES: u64 = 47_001_499;

/// Debian's Stockfish.
pub fn stockfish() -> PathBuf {
    qarena_engine::command::find_program("stockfish")
        .expect("stockfish is not installed (Debian: apt-get install stockfish)")
}

/// Stockfish's embedded net, exported into `dir` unless already there.
/// Each process writes its own temporary file and renames it into place,
/// so processes running side by side never see a half-written net; within
/// a process one export runs at a time.
pub fn export_net(dir: &Path) -> PathBuf {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    fs_err::create_dir_all(dir).unwrap();
    let net = dir.join("stockfish-embedded.nnue");
    if fs_err::metadata(&net).is_ok_and(|m| m.len() == NET_BYTES) {
        return net;
    }
    let tmp = dir.join(format!("export-{}.tmp", std::process::id()));
    let mut spec = RunSpec::new(
        "stockfish-export",
        vec![stockfish().display().to_string()],
        Duration::from_secs(60),
    );
    spec.stdin = Input::Bytes(format!("export_net {}\nquit\n", tmp.display()).into_bytes());
    let out = run_to_completion(&spec, &AtomicBool::new(false)).unwrap();
    assert!(out.success(), "export_net failed: {}", out.stdout_tail);
    assert_eq!(fs_err::metadata(&tmp).unwrap().len(), NET_BYTES);
    fs_err::rename(&tmp, &net).unwrap();
    net
}

/// The demo's ladder: the feature transformer, or the fc layers, on a
/// symmetric grid of ±`levels` per output channel, everything else kept.
pub fn ladder_strategy(target: &str, levels: u32) -> qarena_quant::Strategy {
    let roles = match target {
        "ft" => "\"feature_transformer\"",
        "fc" => "\"fc_0\", \"fc_1\", \"fc_2\"",
        other => panic!("no ladder target {other}"),
    };
    let name = format!("{target}-L{levels}");
    let text = format!(
        "name = \"{name}\"\n[[rule]]\nrole = [{roles}]\nbiases = false\nscheme = \"levels{levels}\"\n\
         granularity = \"channel\"\nclip = \"none\"\n[[rule]]\nbiases = true\nscheme = \"keep\"\n\
         [default]\nscheme = \"keep\"\ngranularity = \"channel\"\n"
    );
    qarena_quant::Strategy::parse(&text, &name).unwrap()
}

/// The variant `target`-L`levels` of `net`, built or taken from `cache`.
pub fn ladder_variant(net: &Path, cache: &Path, target: &str, levels: u32) -> PathBuf {
    let opts = BuildOptions {
        cache_dir: cache.to_path_buf(),
        late_blocks: 0,
        force: false,
    };
    build_variant(net, &ladder_strategy(target, levels), &opts, &|_, _| {})
        .unwrap()
        .path
}

/// KataGo (binary, net, `gtp.cfg`): `QARENA_KATAGO` or the shared bundle;
/// the test fails when neither is there (CI sets the variable).
#[allow(unused_imports)] // not every test file of the crate needs KataGo
pub use qarena_testkit::katago;
