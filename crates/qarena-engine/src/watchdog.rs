//! The watchdog: kills every engine process group when this process dies,
//! however it dies (SIGKILL included).
//!
//! A small `/bin/sh` loop, started once per process, reads `+PGID` and
//! `-PGID` lines from a pipe whose only write end we hold. Each engine
//! registers its own group from inside the child, after `fork` and before
//! `exec` (so no engine ever runs unregistered), and the handle unregisters
//! it just before reaping the leader (so a reused pid is never killed).
//! When this process dies the kernel closes the write end; the watchdog
//! reads end of file and sends SIGKILL to every group still registered,
//! helpers the engines forked included. It ignores SIGINT, SIGTERM and
//! SIGHUP and lives in its own process group, so a Ctrl-C in a terminal
//! does not take it down before it has done its work.
//!
//! Not caught: a helper that leaves its engine's process group (`setsid`,
//! `setpgid`), and the watchdog itself being killed first.

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};

const SCRIPT: &str = r#"trap '' INT TERM HUP
groups=""
while read -r op pg; do
  case "$op" in
    +) groups="$groups $pg" ;;
    -) left=""
       for g in $groups; do [ "$g" = "$pg" ] || left="$left $g"; done
       groups="$left" ;;
  esac
done
for g in $groups; do kill -9 "-$g" 2>/dev/null; done
exit 0
"#;

struct Watchdog {
    /// Never closed while we live: children write to its descriptor number,
    /// which must not be reused for another file. The flag says the
    /// watchdog stopped reading.
    pipe: Mutex<(ChildStdin, bool)>,
    fd: RawFd,
}

static WATCHDOG: OnceLock<Option<Watchdog>> = OnceLock::new();

fn get() -> Option<&'static Watchdog> {
    WATCHDOG
        .get_or_init(|| {
            let started = Command::new("/bin/sh")
                .args(["-c", SCRIPT, "qarena-watchdog"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .process_group(0)
                .spawn();
            match started {
                // The child handle is dropped without waiting: the watchdog
                // must outlive it, and it exits only after we are gone.
                Ok(mut child) => child.stdin.take().map(|pipe| Watchdog {
                    fd: pipe.as_raw_fd(),
                    pipe: Mutex::new((pipe, false)),
                }),
                Err(e) => {
                    crate::warn::warn(&format!(
                        "cannot start the engine watchdog (/bin/sh): {e}; \
                         engines may outlive qarena if it is killed"
                    ));
                    None
                }
            }
        })
        .as_ref()
}

/// The write end of the watchdog's pipe, for [`register_self`] in a child
/// about to exec an engine; None when there is no watchdog.
pub(crate) fn registration_fd() -> Option<RawFd> {
    get().map(|w| w.fd)
}

/// Called in the forked child before exec: writes `+<own pid>` to the
/// watchdog. Uses only async-signal-safe calls (getpid, write) and no
/// allocation, as required between fork and exec.
pub(crate) fn register_self(fd: RawFd) {
    let mut buf = [0u8; 24];
    buf[0] = b'+';
    buf[1] = b' ';
    let mut digits = [0u8; 20];
    let mut n = nix::unistd::getpid().as_raw().unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in 0..len {
        buf[2 + i] = digits[len - 1 - i];
    }
    buf[2 + len] = b'\n';
    // SAFETY: `fd` is the watchdog pipe's write end, which the parent keeps
    // open for its whole life, so it is a valid descriptor in this child
    // until exec closes it (it is close-on-exec).
    #[allow(unsafe_code)]
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    // One write of under PIPE_BUF bytes is atomic; a failure (no watchdog
    // left) only loses the protection, never the engine.
    let _ = nix::unistd::write(fd, &buf[..3 + len]);
}

/// Tells the watchdog a group is gone (called before its leader is reaped).
pub(crate) fn unregister(pgid: i32) {
    let Some(w) = get() else { return };
    let mut pipe = w.pipe.lock().unwrap_or_else(|p| p.into_inner());
    let (p, broken) = &mut *pipe;
    if !*broken && p.write_all(format!("- {pgid}\n").as_bytes()).is_err() {
        // The watchdog is gone; there is nobody left to tell.
        *broken = true;
    }
}
