//! A flood of valid lines nobody reads is held to the queue's byte budget,
//! not its line count. Alone in its test binary so peak memory measures
//! only this engine.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn long_line_flood_is_held_to_the_byte_budget() {
    let before = peak_rss_kib();
    // 1 MiB lines of 0xFF become 3 MiB of text: with the limit raised so
    // they are accepted, 1,024 queued lines would be 3 GiB.
    let mut spec = fake_spec("flood", &["--mode", "flood-invalid"]);
    spec.max_line_bytes = 4 * 1024 * 1024;
    let mut e = qarena_engine::Engine::spawn(spec).unwrap();
    e.write_line("genmove b").unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let grown_kib = peak_rss_kib().saturating_sub(before);
    let line = e.read_line(Instant::now() + PATIENCE, "genmove b").unwrap();
    assert_eq!(line.len(), 3 * (1024 * 1024 - 1));
    let budget_kib = (qarena_engine::STDOUT_QUEUE_BYTES / 1024) as u64;
    assert!(
        grown_kib < budget_kib + 48 * 1024,
        "peak memory grew by {grown_kib} KiB (queue budget {budget_kib} KiB)"
    );
}
