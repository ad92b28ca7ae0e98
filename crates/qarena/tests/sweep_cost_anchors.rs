//! The cost side and absolute anchors of sweeps, with real engines: every
//! game stores what each engine process cost (CPU time, peak memory), the
//! table shows speed and memory per point with intervals, a point may name
//! its own engine command, and anchors (GNU Go, Stockfish at UCI_Elo) play
//! every point so one rating fit places the ladder on their scale.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use common::*;
use qarena_store::Slot;

#[test]
fn katago_sweep_records_costs_plays_anchors_and_honours_a_point_engine() {
    let ws = Ws::new();
    let (bin, model, cfg) = katago();
    let katago_cmd = |visits: u32| {
        format!(
            "{} gtp -model {{model}} -config {{config}} -override-config maxVisits={visits},allowResignation=false",
            bin.display()
        )
    };
    let def = format!(
        r#"
name = "cost-anchors"
model = "{model}"
games = 2
anchor_games = 2
concurrency = 1
[engine]
command = "{base}"
config = "{cfg}"
[go]
board_size = 7
komi = 7
[[point]]
name = "int8-more-visits"
engine = {{ command = "{more}" }}
[point.default]
scheme = "int8"
[[anchor]]
name = "gnugo-1"
elo = 1000
command = "{gnugo}"
"#,
        model = model.display(),
        cfg = cfg.display(),
        base = katago_cmd(4),
        more = katago_cmd(32),
        gnugo = gnugo_cmd(1),
    );
    let file = ws.path().join("s.toml");
    std::fs::write(&file, def).unwrap();
    let out = ws.run(&["sweep", file.to_str().unwrap(), "--run-tag", "ca", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    let store = ws.store();
    let run = store.run_by_tag("ca").unwrap().unwrap();
    let games = store.games(run.id).unwrap();
    // 2 points x (2 games vs the original + 2 vs the anchor).
    assert_eq!(games.len(), 8);
    let anchor_points: Vec<i64> = games
        .iter()
        .map(|g| g.point_index)
        .filter(|&i| i >= qarena_sweep::ANCHOR_POINTS)
        .collect();
    assert_eq!(anchor_points, vec![100_000, 100_000, 100_001, 100_001]);

    // Every engine of every finished game has its process cost stored.
    let costs = store.game_cost_metrics(run.id).unwrap();
    assert_eq!(costs.len(), 16, "two engines per game");
    for c in &costs {
        assert!(c.moves > 0, "{c:?}");
        assert!(c.avg_move_ms.unwrap() >= 0.0, "{c:?}");
        assert!(c.cpu_ms_per_move.unwrap() >= 0.0, "{c:?}");
        let rss = c.peak_rss_bytes.unwrap();
        assert!(rss > 1 << 20 && rss < 8 << 30, "peak RSS {rss}");
    }
    // KataGo reports visits (self-evaluations), so its speed is visits/s;
    // GNU Go reports nothing.
    let katago_rows = costs.iter().filter(|c| {
        c.point_index < qarena_sweep::ANCHOR_POINTS || c.slot.player() == Some(Slot::A)
    });
    for c in katago_rows {
        let (v, unit) = c.reported_speed().expect("KataGo reports visits");
        assert_eq!(unit, "visits/s");
        assert!(v > 0.0);
    }
    assert!(
        costs
            .iter()
            .filter(|c| c.point_index >= qarena_sweep::ANCHOR_POINTS
                && c.slot.player() == Some(Slot::B))
            .all(|c| c.reported_speed().is_none())
    );

    // The point's own command is the one its engine ran.
    let engines = store.engines(run.id).unwrap();
    let point_engine = engines
        .iter()
        .find(|e| e.label == "int8-more-visits")
        .unwrap();
    assert!(
        point_engine
            .command
            .iter()
            .any(|w| w.contains("maxVisits=32")),
        "{:?}",
        point_engine.command
    );
    // Engines are linked to the variants they play; an anchor plays none.
    for e in &engines {
        let linked = e.variant.is_some();
        assert_eq!(linked, e.label != "gnugo-1", "{} {:?}", e.label, e.slot);
    }
    // The JSON result carries each point's cost with intervals and its
    // anchor match; the ratings are anchored at the anchor's stated Elo.
    let p1 = &r["points"][1];
    assert_eq!(p1["name"], "int8-more-visits");
    assert!(p1["cost"]["move_ms"]["mean"].as_f64().unwrap() > 0.0);
    assert_eq!(p1["cost"]["reported_speed"][1], "visits/s");
    assert!(p1["cost"]["peak_rss_mib_max"].as_f64().unwrap() > 1.0);
    assert_eq!(p1["anchors"][0]["anchor"], "gnugo-1");
    assert_eq!(p1["anchors"][0]["point_index"], 100_001);
    let ratings = &r["ratings"];
    assert_eq!(ratings["anchor"], "gnugo-1");
    let players = ratings["players"].as_array().unwrap();
    let anchor = players.iter().find(|p| p["name"] == "gnugo-1").unwrap();
    assert_eq!(anchor["elo"].as_f64(), Some(1000.0));
    assert_eq!(anchor["stated_elo"].as_f64(), Some(1000.0));
    for name in ["original", "int8-more-visits"] {
        let p = players.iter().find(|p| p["name"] == name).unwrap();
        let (lo, elo, hi) = (
            p["lower"].as_f64().unwrap(),
            p["elo"].as_f64().unwrap(),
            p["upper"].as_f64().unwrap(),
        );
        assert!(lo < elo && elo < hi, "{p}");
    }

    // `qarena ratings` gives the same fit, on the anchor of the user's choice.
    let out = ws.run(&["ratings", "--run", "ca", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let fit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fit["anchor"], "gnugo-1");
    let name_elo = |v: &serde_json::Value| -> Vec<(String, i64)> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["name"].as_str().unwrap().to_string(),
                    p["elo"].as_f64().unwrap().round() as i64,
                )
            })
            .collect()
    };
    assert_eq!(name_elo(&fit["players"]), name_elo(&ratings["players"]));
    let out = ws.run(&[
        "ratings",
        "--run",
        "ca",
        "--anchor",
        "original=2000",
        "--json",
    ]);
    let fit: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let original = fit["players"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "original")
        .unwrap();
    assert_eq!(original["elo"].as_f64(), Some(2000.0));
    let out = ws.run(&["ratings", "--run", "ca", "--anchor", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no player 'nobody'"), "{}", text(&out));

    // The report puts speed and memory next to strength and bytes, and the
    // ladder on the anchor's scale.
    let out = ws.run(&["report", "--run", "ca", "-o", "rep"]);
    assert!(out.status.success(), "{}", text(&out));
    let md = std::fs::read_to_string(ws.path().join("rep/report.md")).unwrap();
    for needle in [
        "### Strength vs speed vs bytes",
        "visits/s",
        "peak RSS MiB",
        "not the nominal bits",
        "### Absolute scale",
        "anchored at `gnugo-1` = 1000",
    ] {
        assert!(md.contains(needle), "`{needle}` missing from the report");
    }
}
