//! Writing to an engine that stopped reading has a deadline: the pipe fills
//! up, and `write_line` gives up with a timeout instead of blocking the
//! worker (and the first Ctrl-C) forever.

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::*;
use qarena_engine::{Engine, EngineError};

#[test]
fn write_to_an_engine_that_stopped_reading_times_out() {
    let mut spec = fake_spec("deaf", &["--mode", "sleep"]);
    spec.write_timeout = Duration::from_millis(300);
    let mut e = Engine::spawn(spec).unwrap();
    let (tx, rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        // 8 KiB per line: a 64 KiB pipe is full after a few lines.
        let line = "x".repeat(8 * 1024);
        let mut sent = 0usize;
        let err = loop {
            match e.write_line(&line) {
                Ok(()) => sent += 1,
                Err(err) => break err,
            }
            if sent > 100_000 {
                panic!("the pipe never filled");
            }
        };
        tx.send((sent, err)).unwrap();
        e
    });
    let (sent, err) = rx
        .recv_timeout(PATIENCE)
        .expect("write_line returned within its deadline");
    assert!(sent >= 1, "some lines fit into the pipe first");
    match &err {
        EngineError::Timeout { label, what, .. } => {
            assert_eq!(label, "deaf");
            assert!(what.contains("stopped reading"), "{what}");
        }
        other => panic!("expected a write timeout, got {other}"),
    }
    assert!(err.is_fatal());
    let mut e = worker.join().unwrap();
    let pgid = e.pid() as i32;
    e.kill();
    assert_group_gone(pgid);
}
