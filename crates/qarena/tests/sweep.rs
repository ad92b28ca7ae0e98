//! Sweeps end to end with real engines: the NNUE demo ladder with Stockfish,
//! and a KataGo 9x9 ladder with kill-and-resume and per-game variant
//! parameters.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn demo_builds_the_nnue_ladder_and_plays_every_point() {
    let ws = Ws::new();
    let sf = program("stockfish");
    let out = ws.run(&[
        "demo",
        "--games",
        "2",
        "--nodes",
        "200",
        "-j",
        "2",
        "--probe",
        "--anchors",
        "1500,2000",
        "--anchor-games",
        "2",
        "--stockfish",
        &sf.display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // The cost columns and the anchors (the table's second half).
    for needle in [
        "ms/move",
        "time vs base",
        "nodes/s",
        "RSS MiB",
        "score against the anchors",
        "anchored at sf-elo-1500 = 1500",
        "sf-elo-2000",
        "speed reflects the engine's arithmetic",
    ] {
        assert!(stdout.contains(needle), "`{needle}` missing:\n{stdout}");
    }
    for name in ["original", "ft-L127", "ft-L1", "fc-L7", "fc-L1"] {
        assert!(
            stdout.contains(name),
            "{name} missing from the table:\n{stdout}"
        );
    }
    let store = ws.store();
    let runs = store.list_runs().unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0].run;
    assert_eq!(run.kind, "demo");
    let all_games = store.games(run.id).unwrap();
    // 9 points x 2 anchors x 2 games, stored as points of their own.
    let (anchor_games, games): (Vec<_>, Vec<_>) = all_games
        .into_iter()
        .partition(|g| g.point_index >= qarena_sweep::ANCHOR_POINTS);
    assert_eq!(anchor_games.len(), 36, "{stdout}");
    // The anchors were really limited: Stockfish was told UCI_Elo.
    let logs = std::fs::read_dir(ws.path().join("runs").join(&run.tag).join("logs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect::<String>();
    assert!(logs.contains("setoption name UCI_LimitStrength value true"));
    assert!(logs.contains("setoption name UCI_Elo value 2000"));
    // Every engine of every game has its process's cost.
    let costs = store.game_cost_metrics(run.id).unwrap();
    assert_eq!(costs.len(), 2 * (games.len() + anchor_games.len()));
    assert!(costs
        .iter()
        .all(|c| c.peak_rss_bytes.is_some_and(|b| b > 1 << 20) && c.cpu_ms_per_move.is_some()));
    // 9 points x 2 games, every game a finished chess game with a PGN.
    assert_eq!(games.len(), 18, "{stdout}");
    for g in &games {
        assert_eq!(g.record_format, "pgn");
        assert_ne!(g.termination, "aborted");
        let p = g
            .variant_params
            .as_ref()
            .expect("variant params on every game");
        assert_eq!(p["point_index"].as_i64(), Some(g.point_index));
        assert!(p["effective_bits"].as_f64().unwrap() > 0.0);
    }
    // Lower precision means fewer bytes, and each point has its own variant.
    let sweep = &store.sweeps(run.id).unwrap()[0];
    let points = store.sweep_points(sweep.id).unwrap();
    assert_eq!(points.len(), 9);
    let mut ids: Vec<_> = points.iter().map(|p| p.variant).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 9, "one variant per point");
    // Each point's engines are linked to the variants they play: slot A to
    // the point's, slot B to the baseline's; in an anchor match (point
    // 100000·(k+1) + i) slot A plays point i's variant, the anchor none.
    let baseline = sweep.definition["baseline"].as_str().unwrap();
    let baseline = points.iter().find(|p| p.label == baseline).unwrap();
    let engines = store.engines(run.id).unwrap();
    assert_eq!(engines.len(), 18 + 36, "{engines:?}");
    for e in &engines {
        let Some((side, point)) = (match e.slot {
            qarena_store::EngineSlot::PointPlayer(s, i) => Some((s, i64::from(i))),
            _ => None,
        }) else {
            panic!("not a point player: {e:?}");
        };
        let anchor_match = point >= qarena_sweep::ANCHOR_POINTS;
        let want = match side {
            qarena_store::Slot::A => {
                let p = point % qarena_sweep::ANCHOR_POINTS;
                points
                    .iter()
                    .find(|sp| sp.point_index == p)
                    .unwrap()
                    .variant
            }
            qarena_store::Slot::B if anchor_match => None,
            qarena_store::Slot::B => baseline.variant,
        };
        assert_eq!(e.variant, want, "{e:?}");
    }
    // The per-game view carries them: one row per game and player.
    let summary = store.game_summary(run.id).unwrap();
    assert_eq!(summary.len(), 2 * (games.len() + anchor_games.len()));
    assert!(
        summary
            .iter()
            .filter(|r| r.point_index < qarena_sweep::ANCHOR_POINTS)
            .all(|r| r.variant.is_some()),
        "{summary:?}"
    );
    // The variant really loaded: Stockfish would have been refused otherwise,
    // and the manifests sit in the run folder.
    let manifests = ws.path().join("runs").join(&run.tag).join("manifests");
    assert!(manifests.join("variant-ft-L1.json").is_file());
    // --probe: every variant's static-evaluation error is stored with it,
    // zero for the original and growing along the feature-transformer
    // ladder; the table shows it.
    assert!(stdout.contains("cp_error_mean"), "{stdout}");
    let error_of = |label: &str| {
        let p = points.iter().find(|p| p.label == label).unwrap();
        let probes = store.probes_of_variant(p.variant.unwrap()).unwrap();
        assert_eq!(probes.len(), 1, "{label}");
        assert_eq!(probes[0].primary_metric, "cp_error_mean");
        probes[0].metrics[0]["value"].as_f64().unwrap()
    };
    assert_eq!(error_of("original"), 0.0);
    let ladder: Vec<f64> = ["ft-L127", "ft-L31", "ft-L7", "ft-L1"]
        .iter()
        .map(|l| error_of(l))
        .collect();
    assert!(
        ladder.windows(2).all(|w| w[0] < w[1]),
        "static-eval error along the ladder: {ladder:?}"
    );
    // An anchor level Stockfish does not accept is refused before anything
    // is exported or played.
    let bad = ws.run(&[
        "demo",
        "--anchors",
        "900",
        "--stockfish",
        &sf.display().to_string(),
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad));
    assert!(
        text(&bad).contains("outside Stockfish's range"),
        "{}",
        text(&bad)
    );
}

fn sweep_file(ws: &Ws, name: &str, levels: &str) -> std::path::PathBuf {
    let (bin, model, cfg) = katago();
    let text = format!(
        r#"
name = "{name}"
model = "{model}"
baseline = "int4"
games = 2
concurrency = 2
[engine]
command = "{bin} gtp -model {{model}} -config {{config}} -override-config maxVisits=4,allowResignation=false"
config = "{cfg}"
[go]
board_size = 7
komi = 7
[[point]]
name = "int4"
[[point.rule]]
biases = true
scheme = "keep"
[point.default]
scheme = "int4"
[generator]
levels = [{levels}]
rest = "int4"
[[generator.targets]]
name = "trunk"
roles = ["trunk"]
[[generator.targets]]
name = "heads"
roles = ["policy_head", "value_head"]
[[generator.targets]]
name = "late"
roles = ["late"]
"#,
        model = model.display(),
        bin = bin.display(),
        cfg = cfg.display()
    );
    let p = ws.path().join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn katago_sweep_resumes_after_kill_and_records_distinct_variant_parameters() {
    let ws = Ws::new();
    let file = sweep_file(&ws, "ladder-a", "3, 1");
    let mut child = Command::new(qarena())
        .args(["sweep", file.to_str().unwrap(), "--run-tag", "ka"])
        .current_dir(ws.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while games_in(&ws, "ka") < 5 {
        assert!(t0.elapsed() < Duration::from_secs(300), "no progress");
        assert!(child.try_wait().unwrap().is_none(), "sweep ended too early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = ws.run(&["sweep", "--resume", "ka"]);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let run = store.run_by_tag("ka").unwrap().unwrap();
    assert_eq!(run.status.as_str(), "completed");
    let games = store.games(run.id).unwrap();
    // original, int4, 3 targets x 2 levels = 8 points x 2 games, each once.
    let mut keys: Vec<(i64, i64)> = games
        .iter()
        .map(|g| (g.point_index, g.game_index))
        .collect();
    keys.sort();
    let n = keys.len();
    keys.dedup();
    assert_eq!(n, keys.len(), "no duplicate games");
    assert_eq!(n, 16);
    assert!(games.iter().all(|g| g.termination != "aborted"));

    // A second sweep that differs only in its levels.
    let file_b = sweep_file(&ws, "ladder-b", "2");
    let out = ws.run(&["sweep", file_b.to_str().unwrap(), "--run-tag", "kb"]);
    assert!(out.status.success(), "{}", text(&out));
    let run_b = store.run_by_tag("kb").unwrap().unwrap();
    let games_b = store.games(run_b.id).unwrap();
    let levels = |gs: &[qarena_store::GameRecord], point: &str| -> Vec<(Option<i64>, String)> {
        gs.iter()
            .filter_map(|g| g.variant_params.as_ref())
            .filter(|p| p["point"] == point)
            .map(|p| {
                (
                    p["levels"].as_i64(),
                    p["variant_id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let a = levels(&games, "trunk-L1");
    let b = levels(&games_b, "trunk-L2");
    assert_eq!(a.len(), 2);
    assert_eq!(b.len(), 2);
    assert!(a.iter().all(|(l, _)| *l == Some(1)));
    assert!(b.iter().all(|(l, _)| *l == Some(2)));
    assert_ne!(a[0].1, b[0].1, "different knobs, different variants");
    // The shared points (original, int4) reuse the cached variants.
    let orig_a = levels(&games, "int4");
    let orig_b = levels(&games_b, "int4");
    assert_eq!(orig_a[0].1, orig_b[0].1);
    // The FP32-vs-INT4 reference point is part of the sweep.
    assert!(games
        .iter()
        .any(|g| g.variant_params.as_ref().unwrap()["point"] == "original"));
}

#[test]
fn quantize_writes_a_variant_stockfish_loads_and_a_manifest() {
    let ws = Ws::new();
    let sf = program("stockfish");
    export_stockfish_net(&ws);
    let out = ws.run(&["inspect", "sf.nnue"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("feature_transformer"));
    let out = ws.run(&["quantize", "sf.nnue", "--scheme", "int4", "-o", "sf4.nnue"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("fc_0") && stdout.contains("total"),
        "{stdout}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path().join("sf4.nnue.manifest.json")).unwrap(),
    )
    .unwrap();
    let bits = manifest["total"]["effective_bits"].as_f64().unwrap();
    assert!((4.0..4.1).contains(&bits), "int4 with f16 scales: {bits}");
    // Cached the second time.
    let out = ws.run(&["quantize", "sf.nnue", "--scheme", "int4"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("[cached]"));
    // A match with the variant loads it (qarena checks Stockfish's own report).
    let v = ws.path().join("sf4.nnue").display().to_string();
    let out = ws.run(&[
        "match",
        "--protocol",
        "uci",
        "--engine-a",
        &sf.display().to_string(),
        "--engine-b",
        &sf.display().to_string(),
        "--option-a",
        &format!("EvalFile={v}"),
        "--nodes",
        "200",
        "--games",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // A corrupt net is refused before any game, with Stockfish's reason.
    std::fs::write(ws.path().join("bad.nnue"), b"not a net").unwrap();
    let bad = ws.path().join("bad.nnue").display().to_string();
    let out = ws.run(&[
        "match",
        "--protocol",
        "uci",
        "--engine-a",
        &sf.display().to_string(),
        "--engine-b",
        &sf.display().to_string(),
        "--option-a",
        &format!("EvalFile={bad}"),
        "--nodes",
        "200",
        "--games",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = ws.run(&["inspect", "bad.nnue"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.nnue"));
}
