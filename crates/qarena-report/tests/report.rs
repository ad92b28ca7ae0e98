//! End to end: a tiny real KataGo sweep (7x7, 4 visits, 2 games per point,
//! 3 points) played by the real `qarena` binary, judged with `qarena judge`
//! when this build has it, then the report (Markdown, HTML, PNG plots) and
//! every notebook in `notebooks/`, executed headless with nbclient against
//! the same database.
//!
//! Needs KataGo (`QARENA_KATAGO`, default `../shared/katago/katago` next to
//! the repository) and the Python environment of `scripts/setup.sh`
//! (`QARENA_PYTHON`, default `.venv/bin/python`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `qarena` binary of this workspace, built (or brought up to date) first.
fn qarena() -> PathBuf {
    if let Some(p) = std::env::var_os("QARENA_BIN") {
        return PathBuf::from(p);
    }
    let st = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "qarena", "--bin", "qarena"])
        .current_dir(repo())
        .status()
        .expect("running cargo build for the qarena binary");
    assert!(st.success(), "building the qarena binary failed");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        repo().join(target)
    };
    let p = target.join("debug").join("qarena");
    assert!(p.is_file(), "qarena binary not found at {}", p.display());
    p
}

fn katago() -> PathBuf {
    let bin = std::env::var_os("QARENA_KATAGO")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/katago/katago"));
    assert!(
        bin.is_file(),
        "KataGo not found at {} — set QARENA_KATAGO to the katago binary",
        bin.display()
    );
    bin
}

fn python() -> PathBuf {
    let p = std::env::var_os("QARENA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        p.exists(),
        "Python not found at {} — run `bash scripts/setup.sh --no-build`",
        p.display()
    );
    p
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn run(bin: &Path, dir: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("running {} {args:?}: {e}", bin.display()))
}

fn has_subcommand(bin: &Path, dir: &Path, name: &str) -> bool {
    run(bin, dir, &[name, "--help"]).status.success()
}

fn sweep_toml(dir: &Path, kg: &Path) -> PathBuf {
    let kdir = kg.parent().unwrap();
    let text = format!(
        r#"
name = "report-ladder"
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
levels = [1]
rest = "int4"
[[generator.targets]]
name = "trunk"
roles = ["trunk"]
"#,
        model = kdir.join("g170-b6c96.bin.gz").display(),
        bin = kg.display(),
        cfg = kdir.join("gtp.cfg").display()
    );
    let p = dir.join("ladder.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn assert_png(p: &Path) {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n") && &bytes[12..16] == b"IHDR",
        "{} is not a PNG file",
        p.display()
    );
}

const RUN_NOTEBOOK: &str = r#"
import sys, nbformat
from nbclient import NotebookClient
from PIL import Image
for p in sys.argv[1:]:
    if p.endswith(".png"):
        Image.open(p).verify()
        continue
    nb = nbformat.read(p, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    if errors:
        sys.exit(f"{p}: {errors[0].get('ename')}: {errors[0].get('evalue')}")
    print("ran", p)
"#;

#[test]
fn sweep_judge_report_and_notebooks() {
    let kg = katago();
    let py = python();
    let bin = qarena();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let db = dir.join("qarena.sqlite");
    let db_s = db.display().to_string();
    let toml = sweep_toml(dir, &kg);

    let out = run(
        &bin,
        dir,
        &[
            "sweep",
            &toml.display().to_string(),
            "--run-tag",
            "rep",
            "--probe",
            "--db",
            &db_s,
        ],
    );
    assert!(out.status.success(), "sweep failed: {}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("kl_mean"),
        "the sweep table shows the probe: {}",
        text(&out)
    );

    let judged = has_subcommand(&bin, dir, "judge");
    if judged {
        let kdir = kg.parent().unwrap().display().to_string();
        let out = run(
            &bin,
            dir,
            &[
                "judge",
                "--run",
                "rep",
                "--katago-dir",
                &kdir,
                "--visits",
                "8",
                "--db",
                &db_s,
            ],
        );
        assert!(out.status.success(), "judge failed: {}", text(&out));
    } else {
        eprintln!("note: this qarena has no `judge` subcommand yet; the report is tested without judge data");
    }

    let out_dir = dir.join("report");
    if has_subcommand(&bin, dir, "report") {
        let out = run(
            &bin,
            dir,
            &[
                "report",
                "--sweep",
                "report-ladder",
                "--db",
                &db_s,
                "-o",
                &out_dir.display().to_string(),
                "--html",
            ],
        );
        assert!(out.status.success(), "report failed: {}", text(&out));
    } else {
        eprintln!("note: this qarena has no `report` subcommand yet; calling the library");
        qarena_report::generate(&qarena_report::ReportOptions {
            db: db.clone(),
            subject: qarena_report::Subject::Sweep("report-ladder".into()),
            out_dir: out_dir.clone(),
            html: true,
            runs_dir: dir.join("runs"),
            judge_run: None,
            font: None,
        })
        .expect("report");
    }

    let md = std::fs::read_to_string(out_dir.join("report.md")).expect("report.md");
    for section in [
        "## Contents",
        "## 1. Summary",
        "## 2. Protocol",
        "## 3. Results",
        "## 4. Judge metrics",
        "## 5. Self-evaluation and overconfidence",
        "## 6. Limitations",
        "## 7. Provenance",
        "Paired games, colours swapped",
        "trunk-L1",
        "int4 (baseline)",
        "### Probe: how much the network changed",
        "`kl_mean` is the headline figure",
        "#### Does the probe predict Elo here?",
    ] {
        assert!(md.contains(section), "report.md lacks `{section}`:\n{md}");
    }
    let mut pngs = vec![
        "score_vs_bits.png",
        "self_winrate_vs_bits.png",
        "policy_entropy_vs_bits.png",
        "probe_vs_bits.png",
        "score_vs_probe.png",
    ];
    if judged {
        assert!(
            md.contains("Coverage: 6 of 6 finished games judged"),
            "{md}"
        );
        pngs.extend([
            "judge_loss_vs_bits.png",
            "blunder_rate_vs_bits.png",
            "overconfidence_vs_bits.png",
        ]);
    } else {
        assert!(md.contains("No judge data"), "{md}");
    }
    let mut check = vec![String::from("-c"), RUN_NOTEBOOK.to_string()];
    for p in &pngs {
        let path = out_dir.join(p);
        assert_png(&path);
        assert!(
            md.contains(&format!("]({p})")),
            "report.md does not show {p}"
        );
        check.push(path.display().to_string());
    }
    let html = std::fs::read_to_string(out_dir.join("report.html")).expect("report.html");
    assert!(html.contains("<img src=\"score_vs_bits.png\""));

    // Every notebook, headless, against the same database.
    let mut notebooks: Vec<PathBuf> = std::fs::read_dir(repo().join("notebooks"))
        .expect("notebooks/")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "ipynb"))
        .collect();
    notebooks.sort();
    assert!(
        notebooks.len() >= 4,
        "expected the four notebooks, found {notebooks:?}"
    );
    check.extend(notebooks.iter().map(|p| p.display().to_string()));
    let out = Command::new(&py)
        .args(&check)
        .env("QARENA_DB", &db)
        .current_dir(dir)
        .output()
        .expect("running python");
    assert!(out.status.success(), "notebooks failed: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for nb in &notebooks {
        assert!(
            stdout.contains(&format!("ran {}", nb.display())),
            "{stdout}"
        );
    }
}
