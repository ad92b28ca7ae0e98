#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! `qarena probe` and `qarena probe positions` against real KataGo and
//! GNU Go: variants ordered by how much they change the network, results
//! stored and read back, suites written from stored games.

mod common;

use common::{gnugo_cmd, katago, text, Ws};

/// The variant id `qarena quantize` printed.
fn quantize(ws: &Ws, model: &str, strategy: &str) -> String {
    let strategies = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../strategies");
    let out = ws.run(&[
        "quantize",
        model,
        "--strategy",
        &strategies.join(strategy).display().to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.starts_with("variant "))
        .expect("a variant line");
    line["variant ".len()..]
        .split(':')
        .next()
        .unwrap()
        .to_string()
}

fn probe_json(ws: &Ws, args: &[&str]) -> serde_json::Value {
    let out = ws.run(args);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("probe --json prints JSON")
}

fn figure(v: &serde_json::Value, name: &str) -> f64 {
    v["report"]["comparison"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {v}"))["value"]
        .as_f64()
        .unwrap()
}

#[test]
fn katago_variants_are_ordered_by_kl_and_a_repeated_probe_is_read_back() {
    let (bin, net, _cfg) = katago();
    let ws = Ws::new();
    let net = net.display().to_string();
    let int8 = quantize(&ws, &net, "int8-channel.toml");
    let int4 = quantize(&ws, &net, "int4-channel.toml");
    let katago = bin.display().to_string();
    let p8 = probe_json(&ws, &["probe", &int8, "--katago", &katago, "--json"]);
    assert_eq!(p8["cached"], false);
    assert_eq!(p8["report"]["probe"], "katago-raw-nn");
    assert_eq!(p8["report"]["positions"], 200);
    let p4 = probe_json(
        &ws,
        &[
            "probe",
            &int4,
            "--katago",
            &katago,
            "--json",
            "--no-noise-floor",
        ],
    );
    let (kl8, kl4) = (figure(&p8, "kl_mean"), figure(&p4, "kl_mean"));
    let floor = p8["report"]["noise_floor"]["metrics"][0]["value"]
        .as_f64()
        .unwrap();
    println!(
        "kl_mean: int8 per channel {kl8:.4}, int4 per channel {kl4:.4}, noise floor {floor:.4}"
    );
    assert!(kl8 > 0.0 && kl8 < 0.01, "int8 per channel: {kl8}");
    assert!(kl4 > 0.3, "int4 per channel: {kl4}");
    assert!(floor > kl8 && floor < kl4, "noise floor {floor}");
    assert!(figure(&p8, "top1_agreement") > figure(&p4, "top1_agreement"));
    // The same probe again is read from the database, not run.
    let again = probe_json(&ws, &["probe", &int8, "--katago", &katago, "--json"]);
    assert_eq!(again["cached"], true);
    assert_eq!(figure(&again, "kl_mean"), kl8);
    // The table names the figures and says where they came from.
    let out = ws.run(&["probe", &int8, "--katago", &katago]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("*kl_mean") && table.contains("[stored]"),
        "{table}"
    );
    // A model that is neither a file nor a variant is an input error.
    let out = ws.run(&["probe", "no-such-variant", "--katago", &katago]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no-such-variant"), "{}", text(&out));

    // --versus pairs two probes position by position: int4 per channel is
    // far from the original, int8 close, beyond the positions' noise.
    let v = probe_json(
        &ws,
        &[
            "probe", &int4, "--versus", &int8, "--katago", &katago, "--json",
        ],
    );
    let paired = &v["versus"]["paired"];
    assert_eq!(paired["positions"], 200, "{paired}");
    assert_eq!(paired["headline"], "kl_mean");
    let kl = paired["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "kl")
        .unwrap_or_else(|| panic!("no kl in {paired}"));
    let num = |x: &serde_json::Value| x.as_f64().unwrap();
    assert!((num(&kl["first"]) - kl4).abs() < 1e-9, "{kl} vs {kl4}");
    assert!((num(&kl["second"]) - kl8).abs() < 1e-9, "{kl} vs {kl8}");
    assert!(num(&kl["interval"][0]) > 0.0, "{kl}");
    let ratio = &paired["ratio"];
    assert!((num(&ratio["ratio"]) - kl4 / kl8).abs() < 1e-6, "{ratio}");
    assert!(num(&ratio["interval"][0]) > 1.0, "{ratio}");
    let out = ws.run(&["probe", &int4, "--versus", &int8, "--katago", &katago]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("paired by position (200 positions)") && table.contains("kl_mean: A / B ="),
        "{table}"
    );
    let out = ws.run(&[
        "probe",
        &int4,
        "--versus",
        "no-such-variant",
        "--katago",
        &katago,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no-such-variant"), "{}", text(&out));
}

#[test]
fn positions_from_a_run_make_a_suite_the_probe_accepts() {
    let ws = Ws::new();
    let out = ws.run(&[
        "match",
        "--engine-a",
        &gnugo_cmd(1),
        "--engine-b",
        &gnugo_cmd(1),
        "--games",
        "2",
        "--board-size",
        "9",
        "--run-tag",
        "g",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = ws.run(&[
        "probe",
        "positions",
        "--from-run",
        "g",
        "--count",
        "30",
        "-o",
        "g.suite",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let suite = qarena_probe::Suite::load(&ws.path().join("g.suite")).unwrap();
    assert_eq!(suite.game(), "go");
    assert!(suite.len() >= 20 && suite.len() <= 30, "{}", suite.len());
    // No position twice, and never a finished game: every line is a
    // prefix of a stored game shorter than the game.
    let text = suite.to_text();
    let lines: Vec<&str> = text.lines().skip(6).collect();
    let mut unique = lines.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), lines.len());
    // An unknown run is named.
    let out = ws.run(&["probe", "positions", "--from-run", "nope", "-o", "x.suite"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(common::text(&out).contains("nope"));
}
