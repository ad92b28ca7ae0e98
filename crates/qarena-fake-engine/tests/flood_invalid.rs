//! An engine printing endless lines of invalid UTF-8 while nobody reads its
//! output must cost bounded memory (each 0xFF byte becomes a 3-byte U+FFFD;
//! 1,024 queued lines of 3 MiB once drove the harness past 3 GB). Alone in
//! its test binary so the process's peak memory measures only this engine.

mod common;

use std::time::{Duration, Instant};

use common::*;
use qarena_engine::EngineError;

#[test]
fn invalid_utf8_flood_is_bounded_while_unread() {
    let before = peak_rss_kib();
    let mut e = spawn_fake("flood", &["--mode", "flood-invalid"]);
    e.write_line("genmove b").unwrap();
    // Not reading lets the reader thread queue as much as it is allowed to;
    // the fake writes ~1 MiB per line, so 3 s is hundreds of lines.
    std::thread::sleep(Duration::from_secs(3));
    let grown_kib = peak_rss_kib().saturating_sub(before);
    // Then every line is refused as too long once converted, not delivered.
    let err = e
        .read_line(Instant::now() + PATIENCE, "genmove b")
        .unwrap_err();
    assert!(matches!(err, EngineError::LineTooLong { .. }), "{err}");
    assert!(grown_kib < 64 * 1024, "peak memory grew by {grown_kib} KiB");
}
