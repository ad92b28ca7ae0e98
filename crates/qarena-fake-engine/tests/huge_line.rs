//! A 10 MB line must cost a bounded amount of memory. Alone in its test
//! binary so the process's peak memory measures only this engine.

mod common;

use std::time::{Duration, Instant};

use common::*;
use qarena_engine::EngineError;

#[test]
fn huge_line_is_rejected_with_bounded_memory() {
    let before = peak_rss_kib();
    let mut spec = fake_spec("chatty", &["--mode", "huge-line"]);
    spec.max_line_bytes = 256 * 1024;
    let mut e = qarena_engine::Engine::spawn(spec).unwrap();
    e.write_line("genmove b").unwrap();
    let err = e
        .read_line(Instant::now() + PATIENCE, "genmove b")
        .unwrap_err();
    match &err {
        EngineError::LineTooLong {
            label,
            bytes,
            limit,
            ..
        } => {
            assert_eq!(label, "chatty");
            assert_eq!(*limit, 256 * 1024);
            assert!(*bytes > *limit);
        }
        other => panic!("expected LineTooLong, got {other}"),
    }
    // The rest of the line is skipped, not delivered as lines; the fake
    // then says nothing more.
    e.write_line("name").unwrap();
    let err = e
        .read_line(Instant::now() + Duration::from_millis(300), "name")
        .unwrap_err();
    assert!(matches!(err, EngineError::Timeout { .. }), "{err}");
    let grown_kib = peak_rss_kib().saturating_sub(before);
    // Buffering the line would need at least 10 MiB.
    assert!(grown_kib < 6 * 1024, "peak memory grew by {grown_kib} KiB");
}
