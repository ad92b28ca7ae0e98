//! Run tags name folders under `runs/`: a tag that is a path (`..`,
//! `../x`, `/abs`, `a/b`) is refused by every command that takes one, and
//! `runs prune` never deletes anything outside the runs folder, whatever
//! tags an older database holds and whatever symbolic links sit in `runs/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::Path;

use common::*;

/// Every file and directory under `dir`, relative, sorted.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

fn assert_refused(out: &std::process::Output, tag: &str, what: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{what}: {}", text(out));
    assert!(
        err.contains("run tag"),
        "{what}: the error names the rule: {}",
        text(out)
    );
    assert!(
        err.contains("A-Z a-z 0-9 . _ -") && err.contains("1-64"),
        "{what}: the error states the rule: {}",
        text(out)
    );
    let shown: String = tag.chars().take(20).collect();
    assert!(
        err.contains(&shown),
        "{what}: the error names the tag {tag:?}: {}",
        text(out)
    );
}

#[test]
fn a_match_with_a_path_as_run_tag_is_refused_and_writes_nothing() {
    let ws = Ws::new();
    let fake = fake_engine();
    let engine = format!("{} --mode random", fake.display());
    let long = "x".repeat(65);
    let hostile = [
        "../victim",
        "..",
        ".",
        "/tmp/qarena-absolute-tag",
        "a/b",
        "a\\b",
        ".hidden",
        "-dash",
        "",
        "with space",
        "ünïcode",
        long.as_str(),
    ];
    for tag in hostile {
        let flag = format!("--run-tag={tag}");
        let out = ws.run(&[
            "match",
            "--engine-a",
            &engine,
            "--engine-b",
            &engine,
            "--games",
            "2",
            "--board-size",
            "5",
            &flag,
        ]);
        assert_refused(&out, tag, &format!("match --run-tag {tag:?}"));
        let left = tree(ws.path());
        assert!(
            left.is_empty(),
            "match --run-tag {tag:?} wrote {left:?} into the workspace"
        );
    }
    assert!(!Path::new("/tmp/qarena-absolute-tag").exists());
    assert!(!ws.path().parent().unwrap().join("victim").exists());
}

#[test]
fn every_command_taking_a_run_tag_refuses_a_path() {
    let ws = Ws::new();
    // A real database, so the commands get as far as they can.
    let fake = fake_engine();
    let engine = format!("{} --mode random", fake.display());
    let out = ws.run(&[
        "match",
        "--engine-a",
        &engine,
        "--engine-b",
        &engine,
        "--games",
        "2",
        "--board-size",
        "5",
        "--run-tag",
        "ok",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(ws.path().join("sweep.toml"), "name = \"x\"\n").unwrap();
    let before = tree(ws.path());
    let cases: Vec<Vec<&str>> = vec![
        vec!["match", "--resume", "../ok"],
        vec!["match", "--resume=.."],
        vec!["sweep", "sweep.toml", "--run-tag", "../escape"],
        vec!["sweep", "--resume", "/etc"],
        vec!["judge", "--run", "../ok", "--uci-engine", "stockfish"],
        vec!["report", "--run", "../ok", "-o", "rep"],
        vec!["export", "sgf", "--run", "../ok", "-o", "sgf"],
        vec!["export", "pgn", "--run", "a/b", "-o", "games.pgn"],
        vec!["runs", "show", "../ok"],
        vec!["stats", "--run", "../ok"],
    ];
    for args in cases {
        let out = ws.run(&args);
        let tag = args
            .iter()
            .find_map(|a| {
                a.strip_prefix("--resume=")
                    .or_else(|| (a.contains('/') || *a == "..").then_some(*a))
            })
            .unwrap();
        assert_refused(&out, tag, &args.join(" "));
    }
    assert_eq!(tree(ws.path()), before, "nothing was written");
}

#[test]
fn prune_never_leaves_the_runs_folder() {
    let ws = Ws::new();
    // The workspace is one level down so that `..` is still inside the
    // temporary directory.
    let work = ws.path().join("work");
    std::fs::create_dir_all(work.join("runs")).unwrap();
    let victim = work.join("victim");
    std::fs::create_dir_all(&victim).unwrap();
    std::fs::write(victim.join("keep.txt"), "precious").unwrap();
    let outside = ws.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("keep.txt"), "precious").unwrap();
    std::os::unix::fs::symlink(&outside, work.join("runs").join("linked")).unwrap();
    std::fs::create_dir_all(work.join("runs").join("plain")).unwrap();

    // An older build accepted any tag: such rows can be in a database.
    let db = work.join("qarena.sqlite");
    {
        let store = qarena_store::Store::open(&db).unwrap();
        // An absolute tag points into this test's own folder: were the
        // guard ever broken, a tag like `/` would cost far more than a test.
        let absolute = outside.display().to_string();
        for tag in ["..", "../victim", absolute.as_str(), "linked", "plain"] {
            let id = store
                .create_run(&qarena_store::NewRun {
                    tag: tag.to_string(),
                    kind: qarena_store::RunKind::Match,
                    argv: vec![],
                    settings: serde_json::json!({}),
                    software_version: "old".into(),
                })
                .unwrap();
            store
                .set_run_status(id, qarena_store::RunStatus::Failed)
                .unwrap();
        }
    }
    let run = |args: &[&str]| {
        std::process::Command::new(qarena())
            .args(args)
            .current_dir(&work)
            .output()
            .unwrap()
    };
    let out = run(&["runs", "prune", "--dry-run"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["runs", "prune"]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);

    assert!(db.exists(), "the database survives: {}", text(&out));
    assert_eq!(
        std::fs::read_to_string(victim.join("keep.txt")).unwrap(),
        "precious"
    );
    assert_eq!(
        std::fs::read_to_string(outside.join("keep.txt")).unwrap(),
        "precious"
    );
    assert!(
        work.join("runs").join("linked").is_symlink(),
        "a symbolic link in runs/ is not followed: {}",
        text(&out)
    );
    assert!(stdout.contains("symbolic link"), "{}", text(&out));
    // The ordinary run inside runs/ is pruned with its folder.
    assert!(!work.join("runs").join("plain").exists(), "{}", text(&out));
    let store = qarena_store::Store::open(&db).unwrap();
    assert!(store.run_by_tag("plain").unwrap().is_none());
    assert!(store.run_by_tag("linked").unwrap().is_some());
}
