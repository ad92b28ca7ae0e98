//! The game state KataGo's GTP engine keeps next to the board (its
//! `BoardHistory` as driven by `play`), reduced to what the V7 inputs read.

use super::board::{Board, Cell, Loc, NULL_LOC};
use super::{KataRules, KoRule, ScoringRule};
use crate::game::IllegalMove;
use crate::zobrist::to_move_key;
use crate::Color;

#[derive(Debug)]
pub(super) struct History {
    rules: KataRules,
    pub(super) board: Board,
    /// The board one and two moves ago (the position at the last history
    /// reset when there are fewer moves since).
    pub(super) prev1: Board,
    pub(super) prev2: Board,
    /// The player KataGo presumes to move next.
    pub(super) to_move: Color,
    /// Moves since the last history reset; `None` is a pass.
    pub(super) moves: Vec<(Color, Option<Loc>)>,
    /// Repetition keys (see [`History::ko_hash`]) of the positions that count
    /// for superko, the current one included.
    ko_hashes: Vec<u64>,
    /// Points that ever held a stone or were played on since the reset.
    ever_occupied: Vec<bool>,
    consecutive_ending_passes: u32,
    /// Repetition keys of positions in which Black / White passed.
    hashes_before_pass: [Vec<u64>; 2],
    /// How many of the latest moves plausibly belong to the current phase.
    pub(super) approx_valid_turns: usize,
    /// Points added to White's komi (territory scoring's per-move
    /// compensation).
    pub(super) white_bonus: f32,
    pub(super) past_normal_phase_end: bool,
    pub(super) game_finished: bool,
}

impl History {
    /// A fresh game (GTP `clear_board`): empty board, Black to move.
    pub(super) fn new(size: usize, rules: KataRules) -> History {
        let board = Board::new(size, size);
        let ever_occupied = vec![false; board.colors.len()];
        let mut history = History {
            rules,
            prev1: board.clone(),
            prev2: board.clone(),
            board,
            to_move: Color::Black,
            moves: Vec::new(),
            ko_hashes: Vec::new(),
            ever_occupied,
            consecutive_ending_passes: 0,
            hashes_before_pass: [Vec::new(), Vec::new()],
            approx_valid_turns: 0,
            white_bonus: 0.0,
            past_normal_phase_end: false,
            game_finished: false,
        };
        history.reset(Color::Black);
        history
    }

    /// Restarts the history from the current board with `pla` to move, as
    /// KataGo does when a player moves out of turn: the ko ban is lifted and
    /// every record of earlier positions and moves is dropped.
    fn reset(&mut self, pla: Color) {
        self.board.ko_loc = NULL_LOC;
        self.prev1 = self.board.clone();
        self.prev2 = self.board.clone();
        self.to_move = pla;
        self.moves.clear();
        self.ko_hashes.clear();
        self.ko_hashes.push(self.ko_hash(&self.board, pla));
        let mut black = 0i32;
        let mut white = 0i32;
        for (loc, cell) in self.board.colors.iter().enumerate() {
            self.ever_occupied[loc] = matches!(cell, Cell::Stone(_));
            match cell {
                Cell::Stone(Color::Black) => black += 1,
                Cell::Stone(Color::White) => white += 1,
                _ => {}
            }
        }
        self.consecutive_ending_passes = 0;
        self.hashes_before_pass = [Vec::new(), Vec::new()];
        self.approx_valid_turns = 0;
        self.white_bonus = 0.0;
        if self.rules.scoring == ScoringRule::Territory {
            // Stones on the board, then stones captured, each count one point.
            let net_white_lost = self.board.white_stones_lost - self.board.black_stones_lost;
            self.white_bonus = (black - white - net_white_lost) as f32;
        }
        self.past_normal_phase_end = false;
        self.game_finished = false;
    }

    /// The key under which positions repeat: the stones, plus the player to
    /// move under situational and simple ko.
    fn ko_hash(&self, board: &Board, to_move: Color) -> u64 {
        match self.rules.ko {
            KoRule::Situational | KoRule::Simple => board.hash ^ to_move_key(to_move),
            KoRule::Positional => board.hash,
        }
    }

    /// Whether passes clear the repetition history and a pass in a
    /// position where the same player passed before ends the phase (simple
    /// ko, where long cycles are otherwise possible).
    fn spight_like(&self) -> bool {
        self.rules.ko == KoRule::Simple
    }

    fn passes_after_pass(&self) -> u32 {
        self.consecutive_ending_passes + 1
    }

    fn would_be_spight_ending_pass(&self, pla: Color, hash_before: u64) -> bool {
        self.spight_like() && self.hashes_before_pass[pla.index()].contains(&hash_before)
    }

    /// Whether a pass by the player to move would end the phase.
    pub(super) fn pass_would_end_phase(&self) -> bool {
        let hash = self.ko_hash(&self.board, self.to_move);
        self.passes_after_pass() >= 2 || self.would_be_spight_ending_pass(self.to_move, hash)
    }

    /// Whether a pass by the player to move would end the game (under
    /// territory scoring the phase ends into the cleanup phase instead).
    pub(super) fn pass_would_end_game(&self) -> bool {
        self.pass_would_end_phase() && self.rules.scoring == ScoringRule::Area
    }

    /// Whether that game end should be ignored because friendly passes are
    /// allowed and this would only be the second pass.
    pub(super) fn suppress_end_from_friendly_pass(&self) -> bool {
        let hash = self.ko_hash(&self.board, self.to_move);
        self.rules.friendly_pass_ok
            && self.rules.scoring == ScoringRule::Area
            && self.passes_after_pass() == 2
            && !self.would_be_spight_ending_pass(self.to_move, hash)
    }

    /// Checks and plays one move, as GTP `play` does in KataGo, except that
    /// moves illegal under the rules are rejected rather than tolerated.
    pub(super) fn play(&mut self, color: Color, mv: Option<Loc>) -> Result<(), IllegalMove> {
        if color != self.to_move {
            self.reset(color);
        }
        if let Some(loc) = mv {
            self.check_legal(loc, color)?;
        }

        if self.game_finished || self.past_normal_phase_end {
            self.approx_valid_turns = self.approx_valid_turns.min(1);
        }
        self.game_finished = false;
        self.past_normal_phase_end = false;

        let mut spight_ending = false;
        match mv {
            Some(_) => self.consecutive_ending_passes = 0,
            None => {
                if self.spight_like() {
                    self.ko_hashes.clear();
                }
                let before = self.ko_hash(&self.board, color);
                self.consecutive_ending_passes = self.passes_after_pass();
                spight_ending = self.would_be_spight_ending_pass(color, before);
                self.hashes_before_pass[color.index()].push(before);
            }
        }

        let before = self.board.clone();
        self.board.play(mv, color);
        self.prev2 = std::mem::replace(&mut self.prev1, before);

        let opp = color.opposite();
        let after = self.ko_hash(&self.board, opp);
        self.ko_hashes.push(after);
        self.moves.push((color, mv));
        self.approx_valid_turns += 1;
        self.to_move = opp;
        if let Some(loc) = mv {
            self.ever_occupied[loc] = true;
            if self.rules.scoring == ScoringRule::Territory {
                self.white_bonus += match color {
                    Color::Black => 1.0,
                    Color::White => -1.0,
                };
            }
        }

        if self.consecutive_ending_passes >= 2 || spight_ending {
            match self.rules.scoring {
                ScoringRule::Area => self.game_finished = true,
                ScoringRule::Territory => {
                    // KataGo's GTP engine prevents the cleanup phase.
                    self.past_normal_phase_end = true;
                    self.approx_valid_turns = self.approx_valid_turns.min(1);
                }
            }
        }

        // Long cycles under simple ko end the game without result.
        if mv.is_some()
            && self.rules.ko == KoRule::Simple
            && self.ko_hashes.iter().filter(|&&h| h == after).count() >= 3
        {
            self.game_finished = true;
        }
        Ok(())
    }

    fn check_legal(&self, loc: Loc, color: Color) -> Result<(), IllegalMove> {
        if self.board.colors.get(loc) != Some(&Cell::Empty) {
            return Err(IllegalMove::Occupied);
        }
        if loc == self.board.ko_loc {
            return Err(IllegalMove::Ko);
        }
        if self
            .board
            .is_illegal_suicide(loc, color, self.rules.multi_stone_suicide_legal)
        {
            return Err(IllegalMove::Suicide);
        }
        if self.rules.ko != KoRule::Simple && self.repeats(loc, color) {
            return Err(IllegalMove::Superko);
        }
        Ok(())
    }

    /// Whether `pla` playing at `loc` recreates a position of the history.
    fn repeats(&self, loc: Loc, pla: Color) -> bool {
        let after = self.board.hash_after_move(loc, pla);
        let key = match self.rules.ko {
            KoRule::Situational | KoRule::Simple => after ^ to_move_key(pla.opposite()),
            KoRule::Positional => after,
        };
        self.ko_hashes.contains(&key)
    }

    /// Points where the player to move is banned by superko (beyond the
    /// simple ko point), computed as KataGo does after each move.
    pub(super) fn super_ko_banned(&self) -> Vec<bool> {
        let board = &self.board;
        let mut banned = vec![false; board.colors.len()];
        if self.moves.is_empty() || self.rules.ko == KoRule::Simple {
            return banned;
        }
        let next = self.to_move;
        for y in 0..board.y_size {
            for x in 0..board.x_size {
                let loc = board.loc(x, y);
                banned[loc] = board.colors[loc] == Cell::Empty
                    && (self.ever_occupied[loc] || board.is_suicide(loc, next))
                    && !board.is_illegal_suicide(loc, next, self.rules.multi_stone_suicide_legal)
                    && loc != board.ko_loc
                    && self.repeats(loc, next);
            }
        }
        banned
    }

    /// Whether the player to move may play at `loc`, as KataGo's
    /// `BoardHistory::isLegal` decides for the policy.
    pub(super) fn legal_for_policy(&self, loc: Loc, super_ko_banned: &[bool]) -> bool {
        let board = &self.board;
        board.colors[loc] == Cell::Empty
            && loc != board.ko_loc
            && !board.is_illegal_suicide(loc, self.to_move, self.rules.multi_stone_suicide_legal)
            && !super_ko_banned[loc]
    }
}
