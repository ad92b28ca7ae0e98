//! Helpers shared by the integration tests: where the real engines and
//! networks are, and how to talk to them briefly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

/// `../shared/katago` next to the repository, or `QARENA_KATAGO_DIR`.
pub fn katago_dir() -> PathBuf {
    match std::env::var_os("QARENA_KATAGO_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/katago"
        )),
    }
}

pub fn katago_net() -> PathBuf {
    katago_dir().join("g170-b6c96.bin.gz")
}

/// The KataGo binary: `QARENA_KATAGO` (the workspace's convention) or the
/// one in the shared folder.
pub fn katago_binary() -> PathBuf {
    match std::env::var_os("QARENA_KATAGO") {
        Some(p) => PathBuf::from(p),
        None => katago_dir().join("katago"),
    }
}

pub fn stockfish_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("QARENA_STOCKFISH") {
        return PathBuf::from(p);
    }
    let debian = Path::new("/usr/games/stockfish");
    if debian.exists() {
        debian.to_path_buf()
    } else {
        PathBuf::from("stockfish")
    }
}

/// Runs `cmd` with `input` on stdin until a stdout line satisfies `done`
/// (then sends `finish`) or the process exits; returns all stdout+stderr
/// text. Fails the test after `limit`.
pub fn converse(
    cmd: &mut Command,
    input: &str,
    done: impl Fn(&str) -> bool + Send + 'static,
    finish: &str,
    limit: Duration,
) -> String {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(input.as_bytes()).expect("write to engine");
    stdin.flush().expect("flush engine stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel::<Option<String>>();
    let err_tx = tx.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let last = done(&line);
            let _ = tx.send(Some(line));
            if last {
                break;
            }
        }
        let _ = tx.send(None);
    });
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = err_tx.send(Some(format!("[stderr] {line}")));
        }
    });
    let mut text = String::new();
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(Some(line)) => {
                text.push_str(&line);
                text.push('\n');
            }
            Ok(None) => break,
            Err(_) => {
                let _ = child.kill();
                panic!("engine did not finish within {limit:?}; output so far:\n{text}");
            }
        }
    }
    let _ = stdin.write_all(finish.as_bytes());
    drop(stdin);
    let _ = child.wait();
    // Collect stderr lines that arrived after stdout closed.
    while let Ok(Some(line)) = rx.recv_timeout(Duration::from_millis(200)) {
        text.push_str(&line);
        text.push('\n');
    }
    text
}

/// A Stockfish 15.1 net exported by the installed Stockfish, once per test
/// binary, in a temporary folder that lives as long as the process.
pub fn stockfish_net() -> &'static Path {
    static NET: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, path) = NET.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("sf.nnue");
        let out = converse(
            &mut Command::new(stockfish_binary()),
            &format!("export_net {}\n", path.display()),
            |l| l.starts_with("Network saved") || l.contains("Failed"),
            "quit\n",
            Duration::from_secs(60),
        );
        assert!(
            out.contains("Network saved successfully"),
            "stockfish could not export its net:\n{out}"
        );
        (dir, path)
    });
    path
}

/// Runs a short Stockfish search with `net` as EvalFile; returns the output.
pub fn stockfish_search(net: &Path) -> String {
    let net = std::fs::canonicalize(net).expect("absolute net path");
    converse(
        &mut Command::new(stockfish_binary()),
        &format!(
            "uci\nsetoption name EvalFile value {}\nisready\nposition startpos\ngo nodes 1000\n",
            net.display()
        ),
        |l| l.starts_with("bestmove"),
        "quit\n",
        Duration::from_secs(60),
    )
}

/// Plays one KataGo move on 9x9 with `model`; returns the GTP transcript.
pub fn katago_genmove(model: &Path) -> String {
    let mut cmd = Command::new(katago_binary());
    cmd.arg("gtp")
        .arg("-model")
        .arg(model)
        .arg("-config")
        .arg(katago_dir().join("gtp.cfg"));
    converse(
        &mut cmd,
        "boardsize 9\nkomi 7\nclear_board\ngenmove b\n",
        |l| l.strip_prefix("= ").is_some_and(|r| !r.trim().is_empty()),
        "quit\n",
        Duration::from_secs(120),
    )
}

/// The vertex of the `genmove` reply in a GTP transcript, if it is one.
pub fn genmove_vertex(transcript: &str) -> Option<String> {
    transcript.lines().rev().find_map(|l| {
        let v = l.strip_prefix("= ")?.trim();
        let mut chars = v.chars();
        let col = chars.next()?;
        let row: String = chars.collect();
        let legal = ('A'..='J').contains(&col)
            && col != 'I'
            && row.parse::<u32>().is_ok_and(|r| (1..=9).contains(&r));
        legal.then(|| v.to_string())
    })
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("compress");
    enc.finish().expect("compress")
}

/// A gzip bomb: `prefix`, then `mib` MiB of `filler`, as concatenated gzip
/// members (each MiB compresses to about 1 KiB once and is repeated, so even
/// a 1 GiB bomb is built in milliseconds; decoders read every member).
pub fn gzip_bomb(prefix: &[u8], filler: u8, mib: usize) -> Vec<u8> {
    let member = gzip(&vec![filler; 1 << 20]);
    let mut out = gzip(prefix);
    out.reserve(member.len() * mib);
    for _ in 0..mib {
        out.extend_from_slice(&member);
    }
    out
}

/// A KataGo v8 text net where every trunk block uses the same layer names:
/// `blocks` ordinary blocks of 10 tensors each, all channels 1.
pub fn katago_text_with_repeated_names(blocks: usize) -> Vec<u8> {
    let names = ["block/norm1", "block/w1", "block/norm2", "block/w2"].map(String::from);
    katago_text_net(&vec![names; blocks])
}

/// A KataGo v8 text net with all channels 1 and one ordinary trunk block
/// per entry of `blocks`, named [first norm, first conv, second norm,
/// second conv] (a norm named `n` holds tensors `n/mean`, `n/variance`,
/// `n/scale` and `n/bias`).
pub fn katago_text_net(blocks: &[[String; 4]]) -> Vec<u8> {
    let mut s = format!("net 8 1 1\ntrunk {} 1 1 1 1 1\n", blocks.len());
    let conv = |s: &mut String, name: &str| s.push_str(&format!("{name} 1 1 1 1 1 1\n0.5\n"));
    let bn = |s: &mut String, name: &str| s.push_str(&format!("{name} 1 1e-5 1 1\n0\n1\n1\n0\n"));
    let act = |s: &mut String, name: &str| s.push_str(&format!("{name}\n"));
    let mm = |s: &mut String, name: &str| s.push_str(&format!("{name} 1 1\n0.25\n"));
    let bias = |s: &mut String, name: &str| s.push_str(&format!("{name} 1\n0\n"));
    conv(&mut s, "conv1");
    mm(&mut s, "ginput");
    for [norm1, w1, norm2, w2] in blocks {
        s.push_str("ordinary_block block\n");
        bn(&mut s, norm1);
        act(&mut s, "act1");
        conv(&mut s, w1);
        bn(&mut s, norm2);
        act(&mut s, "act2");
        conv(&mut s, w2);
    }
    bn(&mut s, "trunk/norm");
    act(&mut s, "trunk/act");
    s.push_str("policy\n");
    conv(&mut s, "p1");
    conv(&mut s, "g1");
    bn(&mut s, "g1/norm");
    act(&mut s, "g1/act");
    mm(&mut s, "g2");
    bn(&mut s, "p1/norm");
    act(&mut s, "p1/act");
    conv(&mut s, "p2");
    mm(&mut s, "pass");
    s.push_str("value\n");
    conv(&mut s, "v1");
    bn(&mut s, "v1/norm");
    act(&mut s, "v1/act");
    mm(&mut s, "v2");
    bias(&mut s, "v2/b");
    act(&mut s, "v2/act");
    mm(&mut s, "v3");
    bias(&mut s, "v3/b");
    mm(&mut s, "sv3");
    bias(&mut s, "sv3/b");
    conv(&mut s, "vown");
    s.into_bytes()
}
