//! A sweep on a real Slurm scheduler: a throwaway single-node cluster
//! (`scripts/slurm-local.sh`: munged, slurmctld, slurmd) runs
//! `qarena slurm sweep --shards 4 --submit` — a job array and a dependent
//! merge job — with real Stockfish games, and the merged database holds
//! exactly the games of the same sweep run unsharded. A shard cancelled
//! mid-run and resubmitted finishes without duplicates.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// The cluster's daemons, stopped by pid when dropped.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm-local.sh")
}

impl Cluster {
    fn start(dir: &Path) -> Cluster {
        let out = Command::new("bash")
            .arg(script())
            .args(["start", dir.to_str().unwrap()])
            .output()
            .unwrap();
        let c = Cluster {
            dir: dir.to_path_buf(),
            conf: dir.join("slurm.conf"),
        };
        assert!(
            out.status.success(),
            "the Slurm cluster did not start (install slurmctld slurmd slurm-client munge with scripts/setup.sh; run as root): {}",
            text(&out)
        );
        c
    }

    fn tool(&self, program: &str, args: &[&str]) -> String {
        let out = Command::new(program)
            .args(args)
            .env("SLURM_CONF", &self.conf)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until no job of ours is queued or running.
    fn wait_idle(&self, limit: Duration) -> Duration {
        let t0 = Instant::now();
        loop {
            let queue = self.tool("squeue", &["-h", "-o", "%i %T"]);
            if queue.trim().is_empty() {
                return t0.elapsed();
            }
            assert!(t0.elapsed() < limit, "jobs still queued: {queue}");
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", self.dir.to_str().unwrap()])
            .status();
    }
}

/// A sweep of Stockfish's own net (exported by the installed Stockfish)
/// at fixed nodes: Stockfish at fixed nodes on one thread is deterministic
/// and node jitter follows the game index, so a game played by any shard is
/// the game the unsharded run plays. (KataGo randomises its search, so its
/// games would only agree in number.)
fn sweep_file(ws: &Ws, games: u32) -> PathBuf {
    let sf = program("stockfish");
    let net = ws.path().join("sf.nnue");
    if !net.is_file() {
        let mut child = Command::new(&sf)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(
            child.stdin.take().unwrap(),
            "export_net {}\nquit",
            net.display()
        )
        .unwrap();
        assert!(child.wait().unwrap().success());
        assert!(net.is_file(), "stockfish did not export its net");
    }
    let text = format!(
        r#"
name = "tiny-{games}"
model = "{net}"
baseline = "original"
games = {games}
[engine]
command = "{sf}"
protocol = "uci"
model_option = "EvalFile"
options = {{ Threads = "1", Hash = "16" }}
[chess]
limit = {{ nodes = 400 }}
node_jitter = 0.1
seed = 1
[[point]]
name = "ft-int8"
[[point.rule]]
role = ["feature_transformer"]
scheme = "int8"
[point.default]
scheme = "keep"
"#,
        net = net.display(),
        sf = sf.display(),
    );
    let p = ws.path().join(format!("tiny-{games}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// Rows in `games` for run `tag` (aborted ones included).
fn stored(db: &Path, tag: &str) -> usize {
    let store = qarena_store::Store::open(db).unwrap();
    let run = store.run_by_tag(tag).unwrap().unwrap();
    store.games(run.id).unwrap().len()
}

/// Every scheduler output file in `dir`, for failure messages.
fn logs(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        out.push_str(&format!(
            "--- {}\n{}\n",
            e.path().display(),
            std::fs::read_to_string(e.path()).unwrap_or_default()
        ));
    }
    out
}

fn slurm_sweep(ws: &Ws, cluster: &Cluster, file: &Path, shards: &str, dir: &str) -> String {
    let out = Command::new(qarena())
        .args([
            "slurm",
            "sweep",
            file.to_str().unwrap(),
            "--shards",
            shards,
            "--dir",
            dir,
            "--partition",
            "debug",
            "--cpus-per-task",
            "1",
            "--time",
            "00:10:00",
            "--submit",
        ])
        .current_dir(ws.path())
        .env("SLURM_CONF", &cluster.conf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

/// One cluster for both scenarios: two clusters on one host would share
/// Slurm's ports.
#[test]
fn sharded_sweeps_on_a_real_slurm_cluster() {
    let ws = Ws::new();
    let cluster = Cluster::start(&ws.path().join("cluster"));
    four_shards_merge_into_exactly_the_unsharded_games(&ws, &cluster);
    a_shard_cancelled_mid_run_and_resubmitted_finishes_without_duplicates(&ws, &cluster);
}

fn four_shards_merge_into_exactly_the_unsharded_games(ws: &Ws, cluster: &Cluster) {
    let file = sweep_file(ws, 8);

    // The same sweep unsharded, for reference.
    let out = ws.run(&[
        "sweep",
        file.to_str().unwrap(),
        "--run-tag",
        "tiny-8",
        "--db",
        "all.sqlite",
        "--runs-dir",
        "runs-all",
        "--cache",
        "variants",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let all = games_by_key(&ws.path().join("all.sqlite"), "tiny-8");
    assert_eq!(all.len(), 16, "2 points x 8 games");

    let t0 = Instant::now();
    let said = slurm_sweep(ws, cluster, &file, "4", "study");
    assert!(said.contains("submitted array job"), "{said}");
    let waited = cluster.wait_idle(Duration::from_secs(600));
    let study = ws.path().join("study");
    let merge_log = std::fs::read_to_string(study.join("logs/merge.out")).unwrap_or_default();
    let merged_db = study.join("merged.sqlite");
    let merged = games_by_key(&merged_db, "tiny-8");
    let n = stored(&merged_db, "tiny-8");
    assert_eq!(
        n, 16,
        "no game lost or counted twice; merge log:\n{merge_log}"
    );
    assert_eq!(merged, all, "the shards played exactly the unsharded games");
    println!(
        "slurm: 4-task array and merge done {:.1} s after submission ({:.1} s in all), {n} games",
        waited.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    // Every shard's database holds only its share; the status says so.
    let status = ws.run(&["slurm", "status", "study"]);
    assert!(status.status.success(), "{}", text(&status));
    let s = text(&status);
    assert!(s.contains("all shards: 16/16 games, 4/4 completed"), "{s}");
    assert!(s.contains("merged: 16 games"), "{s}");
}

fn a_shard_cancelled_mid_run_and_resubmitted_finishes_without_duplicates(
    ws: &Ws,
    cluster: &Cluster,
) {
    let file = sweep_file(ws, 24);
    slurm_sweep(ws, cluster, &file, "2", "again");
    let shard0 = ws.path().join("again/shard-0/qarena.sqlite");
    // Cancel everything once shard 0 has stored a game or two.
    let t0 = Instant::now();
    loop {
        let stored = qarena_store::Store::open(&shard0)
            .ok()
            .and_then(|s| s.run_by_tag("tiny-24").ok().flatten().map(|r| (s, r)))
            .map(|(s, r)| s.games(r.id).map(|g| g.len()).unwrap_or(0))
            .unwrap_or(0);
        if stored >= 1 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "shard 0 stored no game"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster.tool("scancel", &["--name", "qarena-tiny-24"]);
    cluster.tool("scancel", &["--name", "qarena-tiny-24-merge"]);
    cluster.wait_idle(Duration::from_secs(120));
    let partial = games_by_key(&shard0, "tiny-24");
    assert!(
        partial.len() < 24,
        "shard 0 was cancelled before it finished"
    );

    // Resubmitting the same sweep resumes each shard where it stopped.
    slurm_sweep(ws, cluster, &file, "2", "again");
    cluster.wait_idle(Duration::from_secs(600));
    let merged_db = ws.path().join("again/merged.sqlite");
    assert!(
        merged_db.is_file(),
        "no merge; logs:\n{}",
        logs(&ws.path().join("again/logs"))
    );
    assert_eq!(
        stored(&merged_db, "tiny-24"),
        48,
        "2 points x 24 games, each once"
    );
    assert_eq!(games_by_key(&merged_db, "tiny-24").len(), 48);
    for k in 0..2 {
        let db = ws.path().join(format!("again/shard-{k}/qarena.sqlite"));
        assert_eq!(
            stored(&db, "tiny-24"),
            24,
            "shard {k} finished its half, each game once"
        );
        assert_eq!(games_by_key(&db, "tiny-24").len(), 24);
    }
}
