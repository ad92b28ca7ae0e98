//! Ladder reading as KataGo does it for its input features.
//!
//! A chain in atari is "laddered" when, with the defender to move, every
//! sequence of defender escapes (extending on the last liberty or capturing
//! an adjacent chain in atari) and attacker ataris ends in capture. A chain
//! with two liberties is laddered when the attacker has a first atari that
//! leads to such a ladder; those first ataris are the "working moves". The
//! search is a depth-first minimax over an explicit stack, with KataGo's move
//! ordering, pruning rules, stack limit and node budget, all of which can
//! change the answer in rare positions and are therefore kept as they are.

use super::board::{put, Board, Cell, Loc, MoveRecord, NULL_LOC};

/// Searches beyond this many played moves give up and report "not laddered".
const NODE_BUDGET: usize = 25_000;

impl Board {
    /// Whether the chain at `loc` (one or two liberties) is captured in a
    /// ladder; `defender_first` says who moves first. At the root the simple
    /// ko ban is lifted for the defender, so ladders that hinge on a ko are
    /// not counted.
    pub(super) fn ladder_captured(
        &mut self,
        loc: Loc,
        defender_first: bool,
        buf: &mut Vec<Loc>,
    ) -> bool {
        let Some(&Cell::Stone(pla)) = self.colors.get(loc) else {
            return false;
        };
        let root_libs = self.libs(loc);
        if root_libs > 2 || (defender_first && root_libs > 1) {
            return false;
        }
        let opp = pla.opposite();

        let saved_ko = self.ko_loc;
        if defender_first {
            self.ko_loc = NULL_LOC;
        }

        let stack_size = self.x_size * self.y_size * 3 / 2 + 1;
        // Per level: where its move list starts in `buf`, its length, and
        // the index being tried (`None`: not generated yet).
        let mut list_start = vec![0usize; stack_size + 1];
        let mut list_len = vec![0usize; stack_size + 1];
        let mut list_cur: Vec<Option<usize>> = vec![None; stack_size + 1];
        let mut records = vec![MoveRecord::default(); stack_size + 1];
        let mut depth: usize = 0;
        let mut nodes = 0usize;
        let mut result = false;
        let mut from_deeper = false;

        // Leaves the current level with `value`; `None` once the root is left.
        macro_rules! ret {
            ($value:expr) => {{
                result = $value;
                from_deeper = true;
                match depth.checked_sub(1) {
                    Some(d) => {
                        depth = d;
                        continue;
                    }
                    None => {
                        self.ko_loc = saved_ko;
                        return result;
                    }
                }
            }};
        }

        loop {
            if depth + 1 >= stack_size {
                // Too deep: count it as captured.
                ret!(true);
            }
            if nodes >= NODE_BUDGET {
                // Out of budget: unwind and report "not laddered". The ko
                // ban lifted at the root stays lifted, as in KataGo.
                for record in records[..depth].iter().rev() {
                    self.undo(*record);
                }
                return false;
            }

            let is_defender = depth.is_multiple_of(2) == defender_first;

            match list_cur[depth] {
                None => {
                    let libs = self.libs(loc);
                    if !is_defender && libs <= 1 {
                        ret!(true);
                    }
                    if !is_defender && libs >= 3 {
                        ret!(false);
                    }
                    if is_defender && libs >= 2 {
                        ret!(false);
                    }
                    // A ko left by the attacker counts as an escape.
                    if is_defender && self.ko_loc != NULL_LOC {
                        ret!(false);
                    }

                    let start = list_start[depth];
                    let mut len;
                    if is_defender {
                        len = self.find_liberty_gaining_captures(loc, buf, start, start);
                        len += self.find_liberties(loc, buf, start, start + len);
                        // The last entry is the defender's own liberty.
                        let Some(&last) = len.checked_sub(1).and_then(|k| buf.get(start + k))
                        else {
                            ret!(true);
                        };
                        let (lower, upper) = self.bound_libs_after_play(last, pla);
                        if lower >= 3 {
                            ret!(false);
                        }
                        if len == 1 && upper <= 1 {
                            ret!(true);
                        }
                    } else {
                        len = self.find_liberties(loc, buf, start, start);
                        let (Some(&m0), Some(&m1)) = (buf.get(start), buf.get(start + 1)) else {
                            ret!(false);
                        };
                        if len != 2 {
                            ret!(false);
                        }
                        let mut libs0 = self.immediate_libs(m0);
                        let mut libs1 = self.immediate_libs(m1);

                        // Double ko around a defender that cannot gain
                        // liberties: the attacker wins.
                        if libs0 == 0
                            && libs1 == 0
                            && self.would_be_ko_capture(m0, opp)
                            && self.would_be_ko_capture(m1, opp)
                            && self.libs_after_play(m0, pla, 3) <= 2
                            && self.libs_after_play(m1, pla, 3) <= 2
                            && !self.has_liberty_gaining_captures(loc)
                        {
                            ret!(true);
                        }

                        if !self.is_adjacent(m0, m1) {
                            if libs0 >= 3 && libs1 >= 3 {
                                ret!(false);
                            } else if libs0 >= 3 {
                                len = 1;
                            } else if libs1 >= 3 {
                                put(buf, start, m1);
                                len = 1;
                            }
                        }
                        if len > 1 {
                            libs0 = libs0 * 2 + self.connection_libs_x2(m0, pla);
                            libs1 = libs1 * 2 + self.connection_libs_x2(m1, pla);
                            if libs1 > libs0 {
                                put(buf, start, m1);
                                put(buf, start + 1, m0);
                            }
                        }
                    }
                    list_len[depth] = len;
                    list_cur[depth] = Some(0);
                }
                Some(cur) => {
                    if from_deeper {
                        self.undo(records[depth]);
                    }
                    if is_defender && !result {
                        ret!(false);
                    }
                    if !is_defender && result {
                        ret!(true);
                    }
                    list_cur[depth] = Some(cur + 1);
                }
            }

            let cur = list_cur[depth].unwrap_or(0);
            if cur >= list_len[depth] {
                // No move left: the defender is caught, or the attacker failed.
                ret!(is_defender);
            }

            let mv = buf
                .get(list_start[depth] + cur)
                .copied()
                .unwrap_or(NULL_LOC);
            let p = if is_defender { pla } else { opp };
            if !self.is_legal(mv, p, false) {
                // An illegal move is a failed move; try the next one.
                result = is_defender;
                from_deeper = false;
                continue;
            }
            records[depth] = self.play_recorded(mv, p);
            nodes += 1;
            let next_start = list_start[depth] + list_len[depth];
            depth += 1;
            list_cur[depth] = None;
            list_start[depth] = next_start;
            list_len[depth] = 0;
        }
    }

    /// For a chain with exactly two liberties: whether an attacker atari on
    /// one of them leads to a ladder capture, and if so which (in
    /// `working`, which is left untouched otherwise).
    pub(super) fn ladder_captured_attacker_first(
        &mut self,
        loc: Loc,
        buf: &mut Vec<Loc>,
        working: &mut Vec<Loc>,
    ) -> bool {
        let Some(&Cell::Stone(pla)) = self.colors.get(loc) else {
            return false;
        };
        if self.libs(loc) != 2 {
            return false;
        }
        let opp = pla.opposite();
        self.find_liberties(loc, buf, 0, 0);
        let (Some(&m0), Some(&m1)) = (buf.first(), buf.get(1)) else {
            return false;
        };
        let mut works = [false; 2];
        for (k, mv) in [m0, m1].into_iter().enumerate() {
            if self.is_legal(mv, opp, false) {
                let record = self.play_recorded(mv, opp);
                works[k] = self.ladder_captured(loc, true, buf);
                self.undo(record);
            }
        }
        if works[0] || works[1] {
            working.clear();
            if works[0] {
                working.push(m0);
            }
            if works[1] {
                working.push(m1);
            }
            return true;
        }
        false
    }
}

/// Calls `f(loc, working_moves)` for every stone of every laddered chain
/// (one or two liberties), scanning rows from the top. Searches run on one
/// copy of the board, which, as in KataGo, carries the chain-list changes of
/// earlier searches into later ones. Working moves are passed only for the
/// first stone of a two-liberty chain; for one-liberty chains the slice
/// holds whatever an earlier search left (KataGo's callers ignore it then).
pub(super) fn iter_ladders(board: &Board, mut f: impl FnMut(Loc, &[Loc])) {
    let mut copy = board.clone();
    let mut solved: Vec<(Loc, bool)> = Vec::new();
    let mut buf: Vec<Loc> = Vec::new();
    let mut working: Vec<Loc> = Vec::new();
    for y in 0..board.y_size {
        for x in 0..board.x_size {
            let loc = board.loc(x, y);
            if !matches!(board.colors[loc], Cell::Stone(_)) {
                continue;
            }
            let libs = board.libs(loc);
            if libs != 1 && libs != 2 {
                continue;
            }
            let head = board.head[loc];
            if let Some(&(_, laddered)) = solved.iter().find(|(h, _)| *h == head) {
                if laddered {
                    working.clear();
                    f(loc, &working);
                }
                continue;
            }
            let laddered = if libs == 1 {
                copy.ladder_captured(loc, true, &mut buf)
            } else {
                working.clear();
                copy.ladder_captured_attacker_first(loc, &mut buf, &mut working)
            };
            solved.push((head, laddered));
            if laddered {
                f(loc, &working);
            }
        }
    }
}
