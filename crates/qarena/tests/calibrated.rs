#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! `qarena quantize` with error-compensating rounding on the shared KataGo
//! net: calibration from the shipped calibration suite through qarena's
//! own forward pass, GPTQ over every weight layer, the calibration in the
//! manifest and the variant id, the result probed by the real KataGo.

mod common;

use std::path::{Path, PathBuf};

use common::{katago, text, Ws};

fn strategies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../strategies")
}

fn suites() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites")
}

/// `qarena quantize ... --json` (and --probe): the manifest.
fn quantize_json(ws: &Ws, args: &[&str]) -> serde_json::Value {
    let mut all = vec!["quantize", "--json"];
    all.extend_from_slice(args);
    let out = ws.run(&all);
    assert!(out.status.success(), "{}", text(&out));
    serde_json::from_slice(&out.stdout).expect("quantize --json prints the manifest")
}

fn probe_figure(m: &serde_json::Value, name: &str) -> f64 {
    m["probe"]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {m}"))["value"]
        .as_f64()
        .unwrap()
}

/// The shipped strategy `file` with every error-compensating rule
/// rounding as `rounding` instead, written into `ws` under another name.
fn with_rounding(ws: &Ws, file: &str, rounding: &str) -> String {
    let t = std::fs::read_to_string(strategies().join(file))
        .unwrap()
        .replace(
            "rounding = \"error_compensating\"",
            &format!("rounding = \"{rounding}\""),
        )
        .replace("name = \"", &format!("name = \"{rounding}-"));
    let p = ws.path().join(format!("{rounding}-{file}"));
    std::fs::write(&p, t).unwrap();
    p.display().to_string()
}

#[test]
fn gptq_from_the_calibration_suite_beats_nearest_rounding_at_the_same_bytes() {
    let (bin, net, cfg) = katago();
    let ws = Ws::new();
    let net = net.display().to_string();
    let engine = [
        "--katago",
        &bin.display().to_string(),
        "--katago-config",
        &cfg.display().to_string(),
    ]
    .map(String::from);
    let int4 = strategies()
        .join("katago-int4-best.toml")
        .display()
        .to_string();
    let mut args = vec![net.as_str(), "--strategy", int4.as_str(), "--probe"];
    args.extend(engine.iter().map(String::as_str));
    let gptq = quantize_json(&ws, &args);
    let nearest_file = with_rounding(&ws, "katago-int4-best.toml", "nearest");
    let mut args = vec![net.as_str(), "--strategy", nearest_file.as_str(), "--probe"];
    args.extend(engine.iter().map(String::as_str));
    let nearest = quantize_json(&ws, &args);

    // The calibration is recorded: method, the shipped suite, its hash.
    let cal = &gptq["calibration"];
    assert_eq!(cal["method"], "gptq");
    assert_eq!(cal["samples"], 256);
    assert!(cal["source"].as_str().unwrap().contains("go9-calib"));
    assert_eq!(cal["sha256"].as_str().unwrap().len(), 64);
    assert!(nearest.get("calibration").is_none());

    // Same grids, same bytes; the budget holds.
    let bits = gptq["total"]["effective_bits"].as_f64().unwrap();
    assert!(bits <= 4.25, "{bits} bits per weight");
    assert_eq!(
        gptq["total"]["bytes_after"],
        nearest["total"]["bytes_after"]
    );

    // Probed by KataGo itself on the default suite (positions calibration
    // never saw): GPTQ at least halves the policy KL of nearest rounding.
    let (kg, kn) = (
        probe_figure(&gptq, "kl_mean"),
        probe_figure(&nearest, "kl_mean"),
    );
    println!("katago-int4-best: kl_mean {kg:.4} with GPTQ, {kn:.4} rounded to nearest");
    assert!(kg < 0.05, "kl_mean {kg}");
    assert!(kg < 0.5 * kn, "GPTQ {kg} against nearest {kn}");

    // Other calibration positions: another variant (id and manifest).
    let calib = suites().join("go9-calib.suite").display().to_string();
    let fewer = quantize_json(
        &ws,
        &[
            net.as_str(),
            "--strategy",
            int4.as_str(),
            "--calib",
            calib.as_str(),
            "--calib-positions",
            "64",
        ],
    );
    assert_eq!(fewer["calibration"]["samples"], 64);
    assert_ne!(fewer["id"], gptq["id"]);
    assert_ne!(fewer["calibration"]["sha256"], cal["sha256"]);
    assert_ne!(fewer["output_sha256"], gptq["output_sha256"]);
}

#[test]
fn calibration_is_refused_where_it_cannot_be_honest_or_computed() {
    let (_, net, _) = katago();
    let ws = Ws::new();
    let net = net.display().to_string();
    let int4 = strategies()
        .join("katago-int4-best.toml")
        .display()
        .to_string();
    let default_suite = suites().join("go9-default.suite").display().to_string();

    // Calibrating on the suite the variant is probed on.
    let out = ws.run(&[
        "quantize",
        &net,
        "--strategy",
        &int4,
        "--calib",
        &default_suite,
        "--probe",
        "--probe-suite",
        &default_suite,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("calibrate on other positions"),
        "{}",
        text(&out)
    );

    // A model the forward pass does not cover: a plain file of another kind.
    let st = ws.path().join("tiny.safetensors");
    let header = br#"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&[0u8; 16]);
    std::fs::write(&st, bytes).unwrap();
    let out = ws.run(&["quantize", st.to_str().unwrap(), "--strategy", &int4]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("error compensation"), "{}", text(&out));

    // A dampening that is none.
    let out = ws.run(&["quantize", &net, "--strategy", &int4, "--gptq-damp", "NaN"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--gptq-damp"), "{}", text(&out));

    // A calibration suite of the wrong game.
    let chess = suites().join("chess-default.suite").display().to_string();
    let out = ws.run(&["quantize", &net, "--strategy", &int4, "--calib", &chess]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("Go positions"), "{}", text(&out));

    // A calibration suite that is not a suite.
    let bad = ws.path().join("bad.suite");
    std::fs::write(&bad, "not a suite\n").unwrap();
    let out = ws.run(&[
        "quantize",
        &net,
        "--strategy",
        &int4,
        "--calib",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bad"), "{}", text(&out));
    // Nothing was written to the cache for the refused builds.
    assert!(
        !ws.path().join("variants").exists() || {
            std::fs::read_dir(ws.path().join("variants"))
                .unwrap()
                .count()
                == 0
        }
    );
}

#[test]
fn activation_aware_scaling_folds_into_the_norms_and_records_its_choices() {
    let (bin, net, cfg) = katago();
    let ws = Ws::new();
    let net = net.display().to_string();
    let engine = [
        "--katago".to_string(),
        bin.display().to_string(),
        "--katago-config".to_string(),
        cfg.display().to_string(),
    ];
    // The int3 recipe with every rule activation-aware, and rounded to
    // nearest.
    let awq_file = with_rounding(&ws, "katago-int3-best.toml", "activation_aware");
    let nearest_file = with_rounding(&ws, "katago-int3-best.toml", "nearest");
    let run = |file: &str| {
        let mut args = vec![net.as_str(), "--strategy", file, "--probe"];
        args.extend(engine.iter().map(String::as_str));
        quantize_json(&ws, &args)
    };
    let awq = run(&awq_file);
    let nearest = run(&nearest_file);
    // One choice per norm that feeds weight layers through a ReLU: 6
    // blocks (2 or 3 each) and the heads' 4.
    let choices = awq["calibration"]["awq"].as_array().unwrap();
    assert_eq!(choices.len(), 18, "{choices:?}");
    assert!(choices.iter().any(|c| c["alpha"].as_f64().unwrap() > 0.0));
    assert_eq!(awq["total"]["bytes_after"], nearest["total"]["bytes_after"]);
    let (ka, kn) = (
        probe_figure(&awq, "kl_mean"),
        probe_figure(&nearest, "kl_mean"),
    );
    println!("int3 recipe: kl_mean {ka:.4} activation-aware, {kn:.4} nearest");
    // The folded scales change nothing by themselves (the net still plays
    // the same moves), and at 3 bits they lower the error.
    assert!(ka < kn, "activation-aware {ka} against nearest {kn}");
    assert!(probe_figure(&awq, "top1_agreement") > 0.7);
}

#[test]
fn an_nnue_feature_transformer_rounded_by_gptq_from_game_positions() {
    let ws = Ws::new();
    let net = common::export_stockfish_net(&ws).display().to_string();
    let ft5s = strategies()
        .join("nnue-ft5-best.toml")
        .display()
        .to_string();
    let gptq = quantize_json(&ws, &[net.as_str(), "--strategy", ft5s.as_str(), "--probe"]);
    let twin = with_rounding(&ws, "nnue-ft5-best.toml", "nearest");
    let nearest = quantize_json(&ws, &[net.as_str(), "--strategy", twin.as_str(), "--probe"]);
    let cal = &gptq["calibration"];
    assert_eq!(cal["method"], "gptq");
    assert!(cal["source"].as_str().unwrap().contains("chess-calib"));
    assert_eq!(cal["damp"], 0.1);
    assert!(cal["samples"].as_u64().unwrap() > 10_000);
    assert_eq!(
        gptq["total"]["bytes_after"],
        nearest["total"]["bytes_after"]
    );
    // Stockfish's own static evaluation of the two variants on the
    // default chess suite (no position of it was calibrated on).
    let (eg, en) = (
        probe_figure(&gptq, "cp_error_mean"),
        probe_figure(&nearest, "cp_error_mean"),
    );
    println!("nnue-ft5-best: cp_error_mean {eg:.2} with GPTQ, {en:.2} rounded to nearest");
    assert!(eg < 0.85 * en, "GPTQ {eg} against nearest {en}");

    // fc_0 and fc_1 calibrate too (per layer stack), on fewer positions.
    let fc = ws.path().join("fc.toml");
    std::fs::write(
        &fc,
        "name = \"fc-gptq\"\n[[rule]]\nrole = [\"fc_0\", \"fc_1\"]\nbiases = false\n\
         scheme = \"levels7\"\ngranularity = \"channel\"\nrounding = \"error_compensating\"\n\
         [default]\nscheme = \"keep\"\n",
    )
    .unwrap();
    let fc = fc.display().to_string();
    let out = quantize_json(
        &ws,
        &[
            net.as_str(),
            "--strategy",
            fc.as_str(),
            "--calib-positions",
            "2000",
        ],
    );
    assert_eq!(out["calibration"]["samples"], 2000);
    let changed = out["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| {
            t["name"].as_str().unwrap().contains(".fc_1.weight")
                && t["effective_bits"].as_f64().unwrap() < 6.0
        })
        .count();
    assert_eq!(changed, 8, "{out}");
}
