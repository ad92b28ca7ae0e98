//! What every game's referee shares: the early endings. An engine that
//! plays an illegal move, or fails (times out, crashes, answers garbage),
//! loses the game; a stop request aborts it. The event recorded, the
//! winner and the fault attached to the outcome are the same for Go and
//! chess; only the game's own result text and record differ, which each
//! referee supplies through [`Referee::forfeit`].

use qarena_store::EventKind;

use crate::failure::{Failure, Termination};
use crate::game::{GameEvent, GameOutcome, Slot};

/// Why a game is forfeited, for the game's own result text.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Forfeit<'a> {
    /// The loser played this move, which the rules forbid.
    IllegalMove { mv: &'a str },
    /// The loser's engine failed; the termination says how.
    Fault(Termination),
}

/// A game in progress, as its referee ends it. `M` is what the game's
/// record needs besides its state (names, seeds...).
pub(crate) trait Referee<M>: Sized {
    /// The events of the game so far.
    fn events(&mut self) -> &mut Vec<GameEvent>;

    /// Ends the game with `loser` losing for `why`: the game's result text
    /// and record.
    fn forfeit(self, loser: Slot, why: Forfeit<'_>, meta: &M) -> GameOutcome;

    /// Ends the game without a result (it is replayed on resume).
    fn abort(self, meta: &M) -> GameOutcome;

    /// `mover` played `mv`, which the rules forbid (`why`): it loses.
    fn illegal_move(
        mut self,
        mover: Slot,
        label: &str,
        mv: &str,
        why: &str,
        meta: &M,
    ) -> GameOutcome {
        self.events().push(GameEvent {
            kind: EventKind::IllegalMove,
            slot: Some(mover),
            message: format!("engine '{label}' played the illegal move `{mv}`: {why}"),
            stderr_tail: None,
        });
        self.forfeit(mover, Forfeit::IllegalMove { mv }, meta)
    }

    /// `slot`'s engine failed: it loses, unless the failure is a stop
    /// request, which aborts the game.
    fn fault(
        mut self,
        slot: Slot,
        f: Failure,
        stderr_tail: Option<String>,
        meta: &M,
    ) -> GameOutcome {
        let term = f.termination();
        if term == Termination::Aborted {
            return self.abort(meta);
        }
        self.events().push(fault_event(slot, &f, stderr_tail));
        let mut out = self.forfeit(slot, Forfeit::Fault(term), meta);
        out.fault = Some((slot, f));
        out
    }
}

/// The event recorded when `slot`'s engine fails with `f`.
pub(crate) fn fault_event(slot: Slot, f: &Failure, stderr_tail: Option<String>) -> GameEvent {
    GameEvent {
        kind: match f.termination() {
            Termination::Timeout => EventKind::Timeout,
            Termination::EngineCrash => EventKind::Crash,
            _ => EventKind::BadResponse,
        },
        slot: Some(slot),
        message: f.to_string(),
        stderr_tail: stderr_tail.filter(|t| !t.trim().is_empty()),
    }
}
