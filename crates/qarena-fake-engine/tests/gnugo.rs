//! The engine handle against a real GTP engine, GNU Go.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use std::path::PathBuf;

use common::*;
use qarena_engine::{Engine, EngineSpec};

fn gnugo() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("gnugo"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/games/gnugo")])
        .find(|p| p.is_file())
        .expect(
            "GNU Go not found on PATH or in /usr/games: install it with `apt-get install gnugo`",
        )
}

#[test]
fn gnugo_name_version_genmove() {
    let argv = vec![
        gnugo().to_string_lossy().into_owned(),
        "--mode".into(),
        "gtp".into(),
        "--level".into(),
        "1".into(),
    ];
    let mut e = Engine::spawn(EngineSpec::new("gnugo", argv)).unwrap();
    assert_eq!(gtp(&mut e, "name", PATIENCE).unwrap(), "GNU Go");
    assert!(!gtp(&mut e, "version", PATIENCE).unwrap().is_empty());
    gtp(&mut e, "boardsize 9", PATIENCE).unwrap();
    gtp(&mut e, "clear_board", PATIENCE).unwrap();
    let reply = gtp(&mut e, "genmove b", PATIENCE).unwrap();
    assert!(qarena_go::parse_vertex(&reply, 9).is_ok(), "{reply}");
    let pgid = e.pid() as i32;
    e.shutdown(Some("quit"), PATIENCE);
    assert_eq!(e.exit_status().as_deref(), Some("exit status: 0"));
    assert_group_gone(pgid);
}
