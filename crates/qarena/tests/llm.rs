#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! `qarena llm` on the real default model: stored and read-back
//! evaluations, the paired comparison, teacher caches, distillation, and
//! the errors a user meets.

mod common;

use std::path::PathBuf;

use common::{text, Ws};

/// `llm kl` over the first 120 tokens of a text, in windows of 128 whose
/// first 8 only give context.
const SHORT_KL: [&str; 6] = ["--max-tokens", "120", "--window", "128", "--warmup", "8"];

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/llm")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn eval_kl_and_compare_store_per_item_and_read_back() {
    let ws = Ws::new();
    let items = data("items.jsonl");
    let eval = [
        "llm", "eval", "smollm2", "--items", &items, "--limit", "6", "--json",
    ];
    let out = ws.run(&eval);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["items"], 6);
    let acc = v["acc"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&acc));
    assert!(v["acc_low"].as_f64().unwrap() <= acc && acc <= v["acc_high"].as_f64().unwrap());
    // Asked again: read back, the same figures.
    let again = ws.run(&eval);
    assert!(text(&again).contains("read back"), "{}", text(&again));
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&again.stdout).unwrap(),
        v
    );
    let store = ws.store();
    let evals = store.llm_evals().unwrap();
    assert_eq!(evals.len(), 1);
    let rows = store.llm_eval_items(evals[0].id).unwrap();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0].0.as_deref(), Some("sci-001"));
    assert!(rows[0].1["loglik"].as_array().unwrap().len() == 4);

    let eval_text = data("text-eval.txt");
    let int8 = [
        "llm", "kl", "smollm2", "--scheme", "int8", "--text", &eval_text, "--json",
    ];
    let out = ws.run(&[&int8[..], &SHORT_KL[..]].concat());
    assert!(out.status.success(), "{}", text(&out));
    let kl: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(kl["tokens"], 120);
    let mean = kl["mean_kl"].as_f64().unwrap();
    assert!(mean > 0.0 && mean < 0.02, "{mean}");
    assert!(kl["bits_per_weight"].as_f64().unwrap() > 7.9);

    // int2 per channel against the original: a clear difference, found
    // by every statistic.
    let out = ws.run(&[
        "llm",
        "compare",
        "smollm2",
        "--b",
        "int2@channel",
        "--items",
        &items,
        "--limit",
        "24",
        "--all",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["items"], 24);
    let (a, b) = (c["acc_a"].as_f64().unwrap(), c["acc_b"].as_f64().unwrap());
    let d = c["difference"].as_f64().unwrap();
    assert!((d - (a - b)).abs() < 1e-9);
    assert!(
        c["difference_low"].as_f64().unwrap() <= d && d <= c["difference_high"].as_f64().unwrap()
    );
    let n = ["both", "only_a", "only_b", "neither"]
        .iter()
        .map(|k| c[k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(n, 24);
    // The original's 24 answers extend nothing: its 6-item evaluation and
    // the 24-item one are two keys.
    assert_eq!(ws.store().llm_evals().unwrap().len(), 4);

    // The report: every evaluation in a table, accuracy and KL plotted.
    let out = ws.run(&["report", "--llm", "-o", "rep"]);
    assert!(out.status.success(), "{}", text(&out));
    let md = std::fs::read_to_string(ws.path().join("rep/report.md")).unwrap();
    assert!(
        md.contains("## Multiple choice") && md.contains("smollm2 int2-channel"),
        "{md}"
    );
    assert!(
        md.contains("smollm2 int8-channel") && md.contains("mean KL"),
        "{md}"
    );
    assert!(ws.path().join("rep/llm_accuracy_vs_bits.png").is_file());
    assert!(ws.path().join("rep/llm_kl_vs_bits.png").is_file());
}

#[test]
fn kl_versus_pairs_two_variants_token_by_token_with_block_intervals() {
    let ws = Ws::new();
    let eval_text = data("text-eval.txt");
    let args = |block: &'static str| {
        vec![
            "llm",
            "kl",
            "smollm2",
            "--scheme",
            "int4",
            "--granularity",
            "group:32",
            "--text",
            &eval_text,
            "--versus",
            "int8@channel",
            "--max-tokens",
            "256",
            "--window",
            "128",
            "--warmup",
            "8",
            "--block",
            block,
            "--json",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<String>>()
    };
    let run = |block| {
        let a = args(block);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        ws.run(&refs)
    };
    let out = run("16");
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &v["versus"]["paired"];
    assert_eq!(p["tokens"], 256);
    assert_eq!(p["blocks"], 16);
    let ratio = p["kl_ratio"].as_f64().unwrap();
    let want = v["mean_kl"].as_f64().unwrap() / v["versus"]["summary"]["mean_kl"].as_f64().unwrap();
    assert!((ratio - want).abs() < 1e-9 * want, "{ratio} against {want}");
    let (lo, hi) = (
        p["kl_ratio_lower"].as_f64().unwrap(),
        p["kl_ratio_upper"].as_f64().unwrap(),
    );
    // 4-bit groups against 8-bit channels: many times the KL, resolved.
    assert!(1.0 < lo && lo <= ratio && ratio <= hi, "{p}");
    let d = p["same_top1_difference"].as_f64().unwrap();
    let same =
        v["same_top1"].as_f64().unwrap() - v["versus"]["summary"]["same_top1"].as_f64().unwrap();
    assert!((d - same).abs() < 1e-9, "{d} against {same}");
    assert!(p["same_top1_difference_lower"].as_f64().unwrap() <= d);
    assert_eq!(ws.store().llm_evals().unwrap().len(), 2);

    // Asked again with blocks too long for two: both read back, the same
    // ratio, and no interval rather than a made-up one.
    let out = run("200");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(text(&out).matches("read back").count(), 2, "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &v["versus"]["paired"];
    assert_eq!(p["blocks"], 0);
    assert!(p["kl_ratio_lower"].is_null(), "{p}");
    assert!((p["kl_ratio"].as_f64().unwrap() - ratio).abs() < 1e-12);
    assert_eq!(ws.store().llm_evals().unwrap().len(), 2);
}

#[test]
fn teacher_kd_and_distill_through_the_cli() {
    let ws = Ws::new();
    let teacher = |text: &str, name: &str| {
        ws.run(&[
            "llm",
            "teacher",
            "smollm2",
            "--text",
            text,
            "-o",
            &format!("{name}.qtl"),
            "--name",
            name,
            "--k",
            "16",
            "--window",
            "48",
            "--warmup",
            "4",
            "--max-tokens",
            "150",
        ])
    };
    let out = teacher(&data("text-calib.txt"), "calib");
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("registered as `calib`"),
        "{}",
        text(&out)
    );
    let out = teacher(&data("text-eval.txt"), "eval");
    assert!(out.status.success(), "{}", text(&out));
    let reg = ws.store().teacher_caches().unwrap();
    assert_eq!(reg.len(), 2);
    assert_eq!((reg[0].name.as_str(), reg[0].k), ("calib", 16));

    let lut2 = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../strategies/llm-lut2-mlp.toml");
    let lut2 = lut2.display().to_string();
    let out = ws.run(&["llm", "kd", "smollm2", "--cache", "eval", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let own: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(own["kd_loss"].as_f64().unwrap() < 1e-3, "{own}");
    let out = ws.run(&[
        "llm",
        "kd",
        "smollm2",
        "--strategy",
        &lut2,
        "--cache",
        "eval.qtl",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let lut: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(lut["kd_loss"].as_f64().unwrap() > 0.1, "{lut}");

    // Reporting on the training text is refused.
    let out = ws.run(&[
        "llm",
        "distill",
        "smollm2",
        "--strategy",
        &lut2,
        "--cache",
        "calib",
        "--eval-cache",
        "calib.qtl",
        "-o",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("never saw"), "{}", text(&out));

    let out = ws.run(&[
        "llm",
        "distill",
        "smollm2",
        "--strategy",
        &lut2,
        "--cache",
        "calib",
        "--eval-cache",
        "eval",
        "--steps",
        "3",
        "--warmup-steps",
        "1",
        "--batch",
        "1",
        "--eval-every",
        "3",
        "-o",
        "distilled",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let d: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(ws.path().join("distilled/distill.json")).unwrap(),
    )
    .unwrap();
    let r = &d["report"];
    assert!(r["best"].as_f64().unwrap() <= r["initial"].as_f64().unwrap());
    assert_eq!(r["train_curve"].as_array().unwrap().len(), 3);
    assert!(
        d["held_out"]["before"].as_f64().is_some() && d["held_out"]["after"].as_f64().is_some()
    );
    // The written model loads and runs.
    let out = ws.run(&[
        "llm",
        "eval",
        "distilled/model.safetensors",
        "--items",
        &data("items.jsonl"),
        "--limit",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn bad_input_gets_a_message_naming_it() {
    let ws = Ws::new();
    std::fs::write(
        ws.path().join("bad.jsonl"),
        "{\"question\": \"q?\", \"choices\": [\"a\", \"b\"], \"answer\": 0}\n{\"question\": \"q2?\", \"choices\": [\"a\"], \"answer\": 5}\n",
    )
    .unwrap();
    let out = ws.run(&["llm", "eval", "smollm2", "--items", "bad.jsonl"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bad.jsonl, line 2"), "{}", text(&out));

    std::fs::write(ws.path().join("fake.gguf"), b"GGUF\x03\x00\x00\x00garbage").unwrap();
    let out = ws.run(&["llm", "eval", "fake.gguf", "--items", &data("items.jsonl")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("fake.gguf"), "{}", text(&out));

    let out = ws.run(&[
        "llm",
        "eval",
        "missing.gguf",
        "--items",
        &data("items.jsonl"),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("does not exist"), "{}", text(&out));

    let out = ws.run(&["llm", "kl", "smollm2", "--text", &data("text-eval.txt")]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--reference"), "{}", text(&out));

    let out = ws.run(&["llm", "kd", "smollm2", "--cache", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("registered name"), "{}", text(&out));
}

#[test]
fn greedy_generation_agrees_with_itself_and_less_with_int2_weights() {
    let ws = Ws::new();
    std::fs::write(ws.path().join("p.txt"), "What is the capital of France?\n").unwrap();
    let run = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "llm",
            "generate",
            "smollm2",
            "--prompts",
            "p.txt",
            "--max-tokens",
            "8",
            "--json",
        ];
        args.extend(extra);
        let out = ws.run(&args);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let same = run(&[]);
    assert_eq!(same["mean_same_token_rate"], 1.0);
    assert!(
        same["prompts"][0]["reference"]
            .as_str()
            .unwrap()
            .contains("Paris"),
        "{same}"
    );
    let int2 = run(&["--scheme", "int2"]);
    assert!(
        int2["mean_same_token_rate"].as_f64().unwrap() < 1.0,
        "{int2}"
    );
}

#[test]
fn bench_reports_both_runtimes_and_memory() {
    let ws = Ws::new();
    let out = ws.run(&[
        "llm",
        "bench",
        "smollm2",
        "--prompt-tokens",
        "16",
        "--gen-tokens",
        "4",
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let b: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for runtime in ["f32", "q8_0"] {
        assert_eq!(b[runtime]["prompt_tokens"], 16);
        assert!(
            b[runtime]["prompt_tokens_per_second"].as_f64().unwrap() > 0.0,
            "{b}"
        );
        assert!(
            b[runtime]["generation_tokens_per_second"].as_f64().unwrap() > 0.0,
            "{b}"
        );
    }
    assert!(b["q8_0_over_f32_generation"].as_f64().unwrap() > 0.0);
    assert!(b["peak_rss_bytes"].as_u64().unwrap() > 100 << 20);
}

#[test]
fn a_kv_configuration_is_measured_against_the_unquantized_cache_and_keyed_apart() {
    let ws = Ws::new();
    let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/kv-int4-best.toml");
    let cfg = cfg.display().to_string();
    let text_file = data("text-eval.txt");
    let kl = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "llm",
            "kl",
            "smollm2",
            "--text",
            &text_file,
            "--max-tokens",
            "100",
            "--window",
            "128",
            "--warmup",
            "8",
            "--json",
        ];
        args.extend(extra);
        let out = ws.run(&args);
        assert!(out.status.success(), "{}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let kv = kl(&["--kv-config", &cfg]);
    let mean = kv["mean_kl"].as_f64().unwrap();
    assert!(mean > 0.0 && mean < 0.5, "{kv}");
    // Weights and cache both quantized: another key, another row.
    kl(&["--kv-config", &cfg, "--scheme", "int8"]);
    let evals = ws.store().llm_evals().unwrap();
    assert_eq!(evals.len(), 2);
    assert!(
        evals[0].subject.contains("kv:kv-int4-best"),
        "{}",
        evals[0].subject
    );
    assert_ne!(evals[0].key.subject_sha256, evals[1].key.subject_sha256);

    // Pruning half the context's cache by attention: measured against the
    // full cache, keyed apart, named in the subject.
    let pruned = kl(&["--prune", "attention:0.5"]);
    assert!(pruned["mean_kl"].as_f64().unwrap() > 0.0, "{pruned}");
    // Half the context's tokens and positions sent: about half the bytes.
    let share =
        pruned["context_bytes"].as_f64().unwrap() / pruned["context_bytes_f16"].as_f64().unwrap();
    assert!(share > 0.45 && share < 0.6, "{pruned}");
    let int4 = kv["context_bytes"].as_f64().unwrap() / kv["context_bytes_f16"].as_f64().unwrap();
    assert!(int4 > 0.25 && int4 < 0.35, "{kv}");
    let evals = ws.store().llm_evals().unwrap();
    assert!(
        evals[2].subject.contains("prune:attention:0.5"),
        "{}",
        evals[2].subject
    );
    let out = ws.run(&[
        "llm",
        "eval",
        "smollm2",
        "--items",
        &data("items.jsonl"),
        "--limit",
        "2",
        "--prune",
        "recency:0.5",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let out = ws.run(&[
        "llm", "kl", "smollm2", "--text", &text_file, "--prune", "half",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("POLICY:SHARE"), "{}", text(&out));

    std::fs::write(
        ws.path().join("bad.toml"),
        "[k]\nscheme = \"int4\"\naxis = \"sideways\"\n",
    )
    .unwrap();
    let out = ws.run(&[
        "llm",
        "kl",
        "smollm2",
        "--text",
        &text_file,
        "--kv-config",
        "bad.toml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("bad.toml"), "{}", text(&out));
}

#[test]
fn kv_layers_scans_every_layer_once() {
    let ws = Ws::new();
    let cfg = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/kv-int4-best.toml");
    let cfg = cfg.display().to_string();
    let text_file = data("text-eval.txt");
    let args = [
        "llm",
        "kv-layers",
        "smollm2",
        "--kv-config",
        &cfg,
        "--text",
        &text_file,
        "--max-tokens",
        "24",
        "--window",
        "40",
        "--warmup",
        "8",
        "--json",
    ];
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 30);
    assert!(layers.iter().all(|l| l["mean_kl"].as_f64().unwrap() >= 0.0));
    assert!(layers.iter().any(|l| l["mean_kl"].as_f64().unwrap() > 0.0));
    // Stored per layer: asked again, read back; the report plots the scan.
    assert_eq!(ws.store().llm_evals().unwrap().len(), 30);
    let again = ws.run(&args);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&again.stdout).unwrap(),
        v
    );
    assert_eq!(ws.store().llm_evals().unwrap().len(), 30);
    let out = ws.run(&["report", "--llm", "-o", "rep"]);
    assert!(out.status.success(), "{}", text(&out));
    let md = std::fs::read_to_string(ws.path().join("rep/report.md")).unwrap();
    assert!(
        md.contains("per-layer sensitivity") && md.contains("kv-int4-best"),
        "{md}"
    );
    assert!(ws.path().join("rep/kv_layers.png").is_file());
}

#[test]
fn a_kv_sweep_runs_its_matrix_as_runs_with_folders_reads_back_and_prunes_failures() {
    let ws = Ws::new();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let matrix = ws.path().join("m.toml");
    std::fs::copy(
        root.join("examples/kv-int4-best.toml"),
        ws.path().join("best.toml"),
    )
    .unwrap();
    std::fs::write(
        &matrix,
        format!(
            "name = \"t\"\nitems = \"{}\"\ntext = \"{}\"\nlimit = 3\nkl_tokens = 16\nwindow = 40\nwarmup = 24\n\
             [[experiment]]\nid = \"F0\"\n\
             [[experiment]]\nid = \"A3\"\nkv = \"best.toml\"\n\
             [[experiment]]\nid = \"C1\"\nkv = {{ k = {{ scheme = \"int4\", axis = \"channel\" }}, v = {{ scheme = \"int4\" }} }}\nprune = \"recency:0.5:2\"\nreceiver = \"int8\"\n\
             [[experiment]]\nid = \"X9\"\nreceiver = \"missing-strategy.toml\"\n",
            data("items.jsonl"),
            data("text-eval.txt")
        ),
    )
    .unwrap();
    let m = matrix.display().to_string();
    let out = ws.run(&["llm", "kv-sweep", &m, "--json"]);
    // The broken experiment fails alone; the others are done.
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("X9"), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ex = v["experiments"].as_array().unwrap();
    assert_eq!(ex.len(), 3);
    let f = |i: usize, k: &str| ex[i][k].as_f64().unwrap();
    // The full cache is the f16 cache; int4 sends about a quarter of it,
    // pruning half of it about half of that again.
    assert_eq!(f(0, "item_bytes"), f(0, "item_bytes_f16"));
    // (an f16 cache: next to nothing lost)
    assert!(f(0, "mean_kl") < 1e-4);
    let share = f(1, "item_bytes") / f(1, "item_bytes_f16");
    assert!((0.25..0.32).contains(&share), "{share}");
    assert!(f(2, "item_bytes") < 0.7 * f(1, "item_bytes"));
    assert!(f(1, "mean_kl") > 0.0 && f(2, "mean_kl") > f(1, "mean_kl"));
    assert_eq!(f(1, "items"), 3.0);
    assert!(ex[1]["delta_acc"].is_number() && ex[1]["mcnemar_p"].is_number());

    // Runs: completed ones with folders, the broken one failed.
    let store = ws.store();
    let runs = store.list_runs().unwrap();
    let status = |tag: &str| {
        runs.iter()
            .find(|r| r.run.tag == tag)
            .map(|r| r.run.status.as_str().to_string())
    };
    assert_eq!(status("t-F0").as_deref(), Some("completed"));
    assert_eq!(status("t-X9").as_deref(), Some("failed"));
    let run = ws.path().join("runs/t-C1");
    for f in [
        "configs/kv.toml",
        "configs/experiment.json",
        "manifests/manifest.json",
        "results/results.json",
        "logs/kv-sweep.log",
    ] {
        assert!(run.join(f).is_file(), "{f}");
    }
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(run.join("manifests/manifest.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["model"]["sha256"].as_str().unwrap().len(), 64);
    assert!(manifest["receiver"]["strategy"].is_object());
    assert!(manifest["environment"]["cpus"].as_u64().unwrap() >= 1);
    let log = std::fs::read_to_string(ws.path().join("runs/t-X9/logs/kv-sweep.log")).unwrap();
    assert!(log.contains("missing-strategy.toml"), "{log}");

    // Again: everything is read back, with the same figures.
    let again = ws.run(&["llm", "kv-sweep", &m, "--json", "--only", "F0,A3,C1"]);
    assert!(again.status.success(), "{}", text(&again));
    let log = std::fs::read_to_string(run.join("logs/kv-sweep.log")).unwrap();
    assert!(
        log.contains("items read back") && log.contains("text read back"),
        "{log}"
    );
    let w: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(w["experiments"], v["experiments"]);

    // `runs prune` removes the failed experiment and keeps the others.
    let out = ws.run(&["runs", "prune"]);
    assert!(out.status.success(), "{}", text(&out));
    let tags: Vec<String> = ws
        .store()
        .list_runs()
        .unwrap()
        .into_iter()
        .map(|r| r.run.tag)
        .collect();
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert!(!ws.path().join("runs/t-X9").exists());
    assert!(run.is_dir());

    // The report draws the matrix: every experiment, the front, the plots.
    let out = ws.run(&["report", "--llm", "-o", "rep"]);
    assert!(out.status.success(), "{}", text(&out));
    let md = std::fs::read_to_string(ws.path().join("rep/report.md")).unwrap();
    assert!(
        md.contains("## Cache to cache") && md.contains("### Matrix t"),
        "{md}"
    );
    for id in ["| F0 |", "| A3 |", "| C1 |"] {
        assert!(md.contains(id), "{id}: {md}");
    }
    assert!(md.contains("✓"));
    assert!(ws.path().join("rep/kv_t_accuracy_vs_bytes.png").is_file());
    assert!(ws.path().join("rep/kv_t_kl_vs_bytes.png").is_file());

    // The smoke run: one item per experiment, its own runs.
    let out = ws.run(&["llm", "kv-sweep", &m, "--smoke", "--only", "A3"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("A3"));
    assert!(ws
        .path()
        .join("runs/t-smoke-A3/results/results.json")
        .is_file());
    // A matrix whose tags would take over another kind of run is refused.
    ws.store()
        .create_run(&qarena_store::NewRun {
            tag: "u-A3".into(),
            kind: qarena_store::RunKind::Match,
            argv: Vec::new(),
            settings: serde_json::json!({}),
            software_version: "test".into(),
        })
        .unwrap();
    let other = ws.path().join("u.toml");
    std::fs::write(
        &other,
        std::fs::read_to_string(&matrix)
            .unwrap()
            .replace("name = \"t\"", "name = \"u\""),
    )
    .unwrap();
    let out = ws.run(&[
        "llm",
        "kv-sweep",
        &other.display().to_string(),
        "--only",
        "A3",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is a match run"), "{}", text(&out));
    assert!(!ws.path().join("runs/u-A3").exists());
    // An unknown id is refused before anything runs.
    let out = ws.run(&["llm", "kv-sweep", &m, "--only", "Z1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no experiment Z1"), "{}", text(&out));
}

#[test]
fn kv_statistics_are_collected_per_layer_and_head_and_stored() {
    let ws = Ws::new();
    let cfg = ws.path().join("stats.toml");
    std::fs::write(
        &cfg,
        "name = \"int4-stats\"\ncollect_stats = true\n[k]\nscheme = \"int4\"\nclip = \"mse\"\n[v]\nscheme = \"int4\"\n",
    )
    .unwrap();
    let args = [
        "llm",
        "kl",
        "smollm2",
        "--kv-config",
        &cfg.display().to_string(),
        "--text",
        &data("text-eval.txt"),
        "--max-tokens",
        "16",
        "--window",
        "40",
        "--warmup",
        "8",
        "--json",
    ];
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let k = &v["kv_stats"]["k"];
    assert!(k["absmax"].as_f64().unwrap() > 0.0);
    // An MSE clip clips some keys; every value was seen.
    assert!(k["clipped"].as_i64().unwrap() > 0);
    assert!(k["values"].as_i64().unwrap() >= 30 * 3 * 64 * 40);
    assert!(v["kv_stats"]["v"]["scale_max"].as_f64().unwrap() > 0.0);
    let store = ws.store();
    let evals = store.llm_evals().unwrap();
    let rows = store.kv_stats(evals[0].id).unwrap();
    assert_eq!(rows.len(), 30 * 2 * 3);
    assert!(rows.iter().all(|r| r.absmax > 0.0 && r.values > 0));
    assert!(rows
        .iter()
        .all(|r| r.scale_log2_hist.as_object().is_some_and(|h| !h.is_empty())));
    // Read back: the same statistics.
    let again = ws.run(&args);
    let w: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(w["kv_stats"], v["kv_stats"]);
}

#[test]
fn error_compensating_strategies_calibrate_on_other_text_than_they_are_measured_on() {
    let ws = Ws::new();
    let strategy = ws.path().join("gptq.toml");
    std::fs::write(
        &strategy,
        "name = \"int4-gptq-l0\"\n[[rule]]\nlayers = \"0\"\nrole = \"mlp\"\nscheme = \"int4\"\nrounding = \"error_compensating\"\n[default]\nscheme = \"keep\"\n",
    )
    .unwrap();
    let s = strategy.display().to_string();
    let eval_text = data("text-eval.txt");
    let base = [
        "llm",
        "kl",
        "smollm2",
        "--strategy",
        &s,
        "--text",
        &eval_text,
        "--max-tokens",
        "16",
        "--window",
        "40",
        "--warmup",
        "8",
    ];
    // Without calibration text: refused, saying what is missing.
    let out = ws.run(&base);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--calib"), "{}", text(&out));
    // Calibrating on the evaluation text: refused.
    let mut same = base.to_vec();
    same.extend(["--calib", &eval_text]);
    let out = ws.run(&same);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("calibrate on other text"),
        "{}",
        text(&out)
    );
    // On the calibration text: a variant, keyed by its calibration.
    let calib = data("text-calib.txt");
    let mut ok = base.to_vec();
    ok.extend(["--calib", &calib, "--calib-tokens", "600", "--json"]);
    let out = ws.run(&ok);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("calibration: the inputs of every layer over 600 tokens"),
        "{}",
        text(&out)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["mean_kl"].as_f64().unwrap() > 0.0);
    // The calibration is in the summary, as variant manifests hold it.
    let cal = &v["calibration"];
    assert_eq!(cal["method"], "gptq");
    assert_eq!(cal["samples"], 600);
    assert!(cal["source"].as_str().unwrap().ends_with("text-calib.txt"));
    assert_eq!(cal["sha256"].as_str().unwrap().len(), 64);
    let mut other = ok.clone();
    let n = other.len();
    other[n - 2] = "800";
    let out = ws.run(&other);
    assert!(out.status.success(), "{}", text(&out));
    let evals = ws.store().llm_evals().unwrap();
    assert_eq!(evals.len(), 2, "another calibration is another subject");
    // Stored with it.
    let samples: Vec<_> = evals
        .iter()
        .map(|e| e.summary["calibration"]["samples"].as_u64())
        .collect();
    assert!(
        samples.contains(&Some(600)) && samples.contains(&Some(800)),
        "{samples:?}"
    );
}

#[test]
fn evolve_screens_language_model_genomes_by_kl_and_exports_one_llm_kl_measures() {
    let ws = Ws::new();
    let calib = data("text-calib.txt");
    let args = [
        "evolve",
        "run",
        "smollm2",
        "--max-bits",
        "6",
        "--text",
        &calib,
        "--population",
        "3",
        "--survivors",
        "2",
        "--generations",
        "2",
        "--collapse-floor",
        "0",
        "--name",
        "lm",
    ];
    // What does not apply to a language model is refused by name.
    for extra in [&["--suite", "x.suite"][..], &["--screen", "native"]] {
        let out = ws.run(&[&args[..], extra].concat());
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", text(&out));
        assert!(text(&out).contains(extra[0]), "{}", text(&out));
    }
    let no_text = [&args[..5], &args[7..]].concat();
    let out = ws.run(&no_text);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("--text"), "{}", text(&out));
    assert!(ws.store().evolutions().unwrap().is_empty());

    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let ev = store.evolutions().unwrap().remove(0);
    assert_eq!(ev.settings["screen"], "llm");
    assert_eq!(ev.settings["probe"], "llm-kl");
    let genomes = store.genomes(ev.id).unwrap();
    assert_eq!(genomes.len(), 6, "{}", text(&out));
    for g in &genomes {
        assert!(g.genome.bits_per_weight <= 6.0 + 1e-9);
        // Every genome lives (floor 0) with a finite KL, or died building.
        match (&g.quality, &g.failure) {
            (Some(q), None) => assert!(q.is_finite() && *q >= 0.0, "{q}"),
            (None, Some(f)) => assert_eq!(f, "build_error", "{:?}", g.failure_detail),
            other => panic!("{other:?}"),
        }
    }
    assert!(genomes.iter().any(|g| g.quality.is_some()));
    // The same command again reads every figure back: nothing new.
    let again = ws.run(&args);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(ws.store().genomes(ev.id).unwrap(), genomes);

    // The exported best, measured on other text by `llm kl`, costs the
    // bits the genome was charged.
    let best = ws.path().join("best.toml").display().to_string();
    let out = ws.run(&[
        "evolve",
        "export",
        "--name",
        "lm",
        "--max-bits",
        "6",
        "-o",
        &best,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    // "best.toml: genome N (B bits/w, ...)"
    let id: i64 = text(&out)
        .split("genome ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", text(&out)));
    let chosen = genomes.iter().find(|g| g.id.0 == id).unwrap();
    let eval_text = data("text-eval.txt");
    let kl = [
        "llm",
        "kl",
        "smollm2",
        "--strategy",
        &best,
        "--text",
        &eval_text,
        "--json",
    ];
    let out = ws.run(&[&kl[..], &SHORT_KL[..]].concat());
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let bits = v["bits_per_weight"].as_f64().unwrap();
    assert!(
        (bits - chosen.genome.bits_per_weight).abs() < 1e-6,
        "{bits} vs {}",
        chosen.genome.bits_per_weight
    );
    assert!(v["mean_kl"].as_f64().unwrap().is_finite());
    // Games and position checks do not apply; the message says what does.
    for what in ["games", "check"] {
        let out = ws.run(&["evolve", what, "smollm2", "--name", "lm"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains("llm kl"), "{}", text(&out));
    }
}

#[test]
fn a_calibrated_evolution_screens_gptq_genes_calibrated_on_tokens_it_does_not_score() {
    let ws = Ws::new();
    let calib = data("text-calib.txt");
    // Two entrants that differ only in rounding: int3 per channel on the
    // attention and MLP of blocks 0-1, everything else kept.
    let entrant = |rounding: &str| {
        let path = ws.path().join(format!("{rounding}.toml"));
        std::fs::write(
            &path,
            format!(
                "name = \"int3-{rounding}\"\n[[rule]]\nlayers = \"0-1\"\nrole = [\"mlp\", \"attention\"]\n\
                 scheme = \"int3\"\nrounding = \"{rounding}\"\n[default]\nscheme = \"keep\"\n"
            ),
        )
        .unwrap();
        path.display().to_string()
    };
    let (gptq, nearest) = (entrant("error_compensating"), entrant("nearest"));
    let args = |text_file: &str| {
        [
            "evolve",
            "run",
            "smollm2",
            "--calibrated",
            "--max-bits",
            "32",
            "--text",
            text_file,
            "--entrant",
            &gptq,
            "--entrant",
            &nearest,
            "--population",
            "2",
            "--survivors",
            "2",
            "--generations",
            "1",
            "--max-genomes",
            "2",
            "--collapse-floor",
            "0",
            "--name",
            "lm-gptq",
        ]
        .map(String::from)
    };
    // A text with too few tokens left after the screened ones is refused
    // before anything is stored, naming the text and the way out.
    let short = ws.path().join("short.txt");
    let body = std::fs::read_to_string(&calib).unwrap();
    std::fs::write(&short, &body[..2400]).unwrap();
    let short = short.display().to_string();
    let a = args(&short);
    let out = ws.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("short.txt") && text(&out).contains("--calibrated"),
        "{}",
        text(&out)
    );
    assert!(ws.store().evolutions().unwrap().is_empty());

    let a = args(&calib);
    let out = ws.run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(out.status.success(), "{}", text(&out));
    // "GPTQ genes calibrated on N tokens of ... from token M on": after
    // the 384 scored tokens and their context.
    let line = text(&out)
        .lines()
        .find(|l| l.starts_with("GPTQ genes calibrated on"))
        .unwrap_or_else(|| panic!("{}", text(&out)))
        .to_string();
    let numbers: Vec<usize> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(
        numbers.len() == 2 && numbers[0] >= 256 && numbers[1] >= 384,
        "{line}"
    );
    let store = ws.store();
    let ev = store.evolutions().unwrap().remove(0);
    assert_eq!(
        ev.settings["roundings"][1], "error_compensating",
        "{}",
        ev.settings
    );
    let genomes = store.genomes(ev.id).unwrap();
    assert_eq!(genomes.len(), 2, "{}", text(&out));
    let quality = |gptq: bool| {
        genomes
            .iter()
            .find(|g| g.genome.strategy_toml.contains("error_compensating") == gptq)
            .and_then(|g| g.quality)
            .unwrap_or_else(|| panic!("gptq {gptq}: {genomes:?}"))
    };
    let (qg, qn) = (quality(true), quality(false));
    eprintln!("screen KL of int3 on blocks 0-1: GPTQ {qg}, nearest {qn}");
    // The same bits, and GPTQ from the calibration moves the outputs less.
    assert!(qg < 0.8 * qn, "GPTQ {qg} vs nearest {qn}");
}
