//! A byte budget for the lines queued between a reader thread and its
//! engine handle.
//!
//! The line channel bounds how many lines wait; this bounds how many bytes
//! they hold together, so a flood of long lines costs at most `cap` bytes
//! (or one line, if a single line is longer than `cap`). When the budget is
//! spent the reader stops reading, and the engine blocks on its own full
//! pipe instead of growing our memory.

use std::sync::{Condvar, Mutex};
use std::time::Duration;

/// How often a waiting reader checks whether its handle is gone.
const CHECK_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug, Default)]
struct State {
    used: usize,
    closed: bool,
}

/// Shared by one reader thread (acquires) and its handle (releases, closes).
#[derive(Debug)]
pub(crate) struct ByteBudget {
    cap: usize,
    state: Mutex<State>,
    freed: Condvar,
}

impl ByteBudget {
    pub(crate) fn new(cap: usize) -> ByteBudget {
        ByteBudget {
            cap,
            state: Mutex::new(State::default()),
            freed: Condvar::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `n` more bytes fit (an empty queue always takes one line),
    /// then counts them. False once the handle has closed the budget.
    pub(crate) fn acquire(&self, n: usize) -> bool {
        let mut st = self.state();
        loop {
            if st.closed {
                return false;
            }
            if st.used == 0 || st.used.saturating_add(n) <= self.cap {
                st.used = st.used.saturating_add(n);
                return true;
            }
            st = self
                .freed
                .wait_timeout(st, CHECK_EVERY)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Returns the bytes of a line the handle has taken off the queue.
    pub(crate) fn release(&self, n: usize) {
        let mut st = self.state();
        st.used = st.used.saturating_sub(n);
        self.freed.notify_all();
    }

    /// Tells a waiting reader that nobody will take its lines any more.
    pub(crate) fn close(&self) {
        self.state().closed = true;
        self.freed.notify_all();
    }

    /// Bytes currently queued.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.state().used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn blocks_when_spent_and_resumes_on_release() {
        let b = Arc::new(ByteBudget::new(10));
        assert!(b.acquire(8));
        let b2 = Arc::clone(&b);
        let t = std::thread::spawn(move || b2.acquire(5));
        // The second line cannot fit until the first is released.
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(b.used(), 8);
        b.release(8);
        assert!(t.join().unwrap());
        assert_eq!(b.used(), 5);
    }

    #[test]
    fn one_oversized_line_passes_an_empty_queue() {
        let b = ByteBudget::new(10);
        assert!(b.acquire(100));
        b.release(100);
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn close_wakes_a_waiting_reader() {
        let b = Arc::new(ByteBudget::new(4));
        assert!(b.acquire(4));
        let b2 = Arc::clone(&b);
        let t = std::thread::spawn(move || b2.acquire(4));
        b.close();
        assert!(!t.join().unwrap());
    }
}
