//! `kill_all` and the shutdown flag act on the whole process, so they get a
//! test binary of their own.

mod common;

use std::time::Instant;

use common::*;
use qarena_engine::{install_shutdown_flag, kill_all, live_process_groups, EngineError};

#[test]
fn kill_all_and_shutdown_flag() {
    let mut a = spawn_fake("a", &["--mode", "fork-hang"]);
    let mut b = spawn_fake("b", &["--mode", "silence"]);
    let groups = live_process_groups();
    let (ga, gb) = (a.pid() as i32, b.pid() as i32);
    assert!(groups.contains(&ga) && groups.contains(&gb), "{groups:?}");
    eventually("a's helper has started", || live_members(ga).len() >= 2);

    kill_all();
    eventually("every engine process is gone", || {
        live_members(ga).is_empty() && live_members(gb).is_empty()
    });
    // The handles notice and report it as an exit.
    let err = b
        .read_line(Instant::now() + PATIENCE, "anything")
        .unwrap_err();
    assert!(matches!(err, EngineError::Exited { .. }), "{err}");
    assert!(!a.is_alive());
    assert_eq!(a.exit_status().as_deref(), Some("signal: 9 (SIGKILL)"));
    drop((a, b));
    assert!(live_process_groups().is_empty());

    let flag = install_shutdown_flag();
    assert!(std::sync::Arc::ptr_eq(&flag, &install_shutdown_flag()));
    assert!(!flag.load(std::sync::atomic::Ordering::SeqCst));
    nix::sys::signal::raise(nix::sys::signal::Signal::SIGTERM).unwrap();
    eventually("SIGTERM sets the flag", || {
        flag.load(std::sync::atomic::Ordering::SeqCst)
    });
}
