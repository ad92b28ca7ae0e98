//! The process-wide registry of engine process groups, and signal handling.
//!
//! Invariants: a group id is registered from just before its leader is
//! spawned until just before the leader is reaped, and removal happens
//! under the same lock as the final `SIGKILL`. So [`kill_all`] never signals
//! a group id after the kernel could have reused it (an unreaped leader keeps
//! its pid, and with it the group id, reserved).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

static GROUPS: Mutex<Vec<i32>> = Mutex::new(Vec::new());

pub(crate) fn lock() -> MutexGuard<'static, Vec<i32>> {
    // The list stays consistent even if a holder panicked: every operation
    // on it is a single push or retain.
    GROUPS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends SIGKILL to a whole group; a group that is already gone is fine.
pub(crate) fn kill_group(pgid: i32) {
    let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
}

/// Spawns `cmd` as the leader of a new process group, registered here and
/// (from inside the child, before exec) with the watchdog, so no process of
/// ours ever runs unregistered. Pair with [`release`] before reaping it.
pub(crate) fn spawn_leader(cmd: &mut Command) -> io::Result<Child> {
    cmd.process_group(0);
    if let Some(fd) = crate::watchdog::registration_fd() {
        // SAFETY: the closure runs between fork and exec and only calls
        // async-signal-safe functions (getpid, write) on stack buffers.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(move || {
                crate::watchdog::register_self(fd);
                Ok(())
            });
        }
    }
    // Holding the registry lock across the spawn means a concurrent
    // `kill_all` cannot miss a group that already exists.
    let mut groups = lock();
    let child = cmd.spawn()?;
    groups.push(child.id() as i32);
    Ok(child)
}

/// Kills a group started by [`spawn_leader`], forgets it and tells the
/// watchdog; the caller reaps the leader right after (see the module
/// invariants for why in this order).
pub(crate) fn release(pgid: i32) {
    let mut groups = lock();
    kill_group(pgid);
    groups.retain(|&g| g != pgid);
    crate::watchdog::unregister(pgid);
}

/// Process groups started by this process whose leader has not been reaped yet.
pub fn live_process_groups() -> Vec<i32> {
    lock().clone()
}

/// Sends SIGKILL to every registered engine process group. For emergency
/// exits (Ctrl-C, SIGTERM, SIGHUP): the `Engine` handles still reap their leaders
/// when they are dropped.
pub fn kill_all() {
    for &pgid in lock().iter() {
        kill_group(pgid);
    }
}

static SHUTDOWN: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// Whether a stop was requested through [`install_shutdown_flag`] (false if
/// it was never installed). Lets low-level waits end early on Ctrl-C.
pub(crate) fn shutdown_requested() -> bool {
    SHUTDOWN
        .get()
        .is_some_and(|flag| flag.load(Ordering::SeqCst))
}

/// Returns a flag that becomes true on the first SIGINT, SIGTERM or SIGHUP, so the
/// match loop can stop cleanly (finish bookkeeping, shut engines down).
/// A second signal means the user insists: every engine group is killed
/// and the process exits at once with status 128 + signal number.
///
/// Idempotent: later calls return the same flag. If the signal watcher
/// cannot be installed, a warning is printed and the flag simply never
/// turns true.
pub fn install_shutdown_flag() -> Arc<AtomicBool> {
    SHUTDOWN
        .get_or_init(|| {
            let flag = Arc::new(AtomicBool::new(false));
            // A closed terminal (SIGHUP) is a request to stop like any other:
            // the run is closed properly instead of left `running`.
            let sigs = [
                signal_hook::consts::SIGINT,
                signal_hook::consts::SIGTERM,
                signal_hook::consts::SIGHUP,
            ];
            match signal_hook::iterator::Signals::new(sigs) {
                Ok(mut signals) => {
                    let watched = Arc::clone(&flag);
                    // The watcher runs on an ordinary thread, not in a signal
                    // handler, so it may take locks and kill groups safely.
                    let spawned = std::thread::Builder::new()
                        .name("qarena-signals".into())
                        .spawn(move || {
                            for sig in signals.forever() {
                                if watched.swap(true, Ordering::SeqCst) {
                                    kill_all();
                                    std::process::exit(128 + sig);
                                }
                            }
                        });
                    if let Err(e) = spawned {
                        crate::warn::warn(&format!("cannot start the signal watcher thread: {e}"));
                    }
                }
                Err(e) => crate::warn::warn(&format!(
                    "cannot install SIGINT/SIGTERM/SIGHUP handlers: {e}"
                )),
            }
            flag
        })
        .clone()
}
