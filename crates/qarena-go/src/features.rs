//! KataGo's version-7 neural-network inputs, computed in pure Rust.
//!
//! [`v7_inputs`] replays a game the way KataGo's GTP engine does after
//! `boardsize`, `komi`, `kata-set-rules`, `clear_board` and `play` commands,
//! and fills the 22 spatial and 19 global input features exactly as KataGo's
//! `NNInputs::fillRowV7` does for `kata-raw-nn` (default input parameters:
//! no playout-doubling advantage, no conservative-pass or passing hacks),
//! together with the legal-move mask KataGo applies to the policy.
//!
//! Features that depend on search order (ladders) are computed on a board
//! that reproduces KataGo's internal chain lists, so they agree even in the
//! rare positions where the ladder search runs out of budget.
//!
//! Spatial channels (`pla` = the side to move, `opp` = the other side):
//!
//! | channel | meaning |
//! |---|---|
//! | 0 | on board |
//! | 1, 2 | `pla` / `opp` stone |
//! | 3, 4, 5 | stone whose chain has 1 / 2 / 3 liberties |
//! | 6 | ko or superko ban for `pla` |
//! | 7, 8 | encore ko features (always 0 here) |
//! | 9..=13 | location of the last 1..5 moves (when not a pass) |
//! | 14 | stone of a laddered chain (1 or 2 liberties) |
//! | 15, 16 | the same one and two moves ago |
//! | 17 | a `pla` move that starts a working ladder on a 2-liberty `opp` chain |
//! | 18, 19 | `pla` / `opp` area: pass-alive stones and territory, other stones (area scoring, no tax) |
//! | 20, 21 | second-encore stones (always 0 here) |
//!
//! Global features: 0..=4 the last 1..5 moves were passes; 5 komi from
//! `pla`'s view / 20; 6, 7 ko rule; 8 multi-stone suicide legal; 9
//! territory scoring; 10, 11 tax; 12, 13 encore phase; 14 a pass would end
//! the phase; 15, 16 playout-doubling advantage (0); 17 button (0); 18 komi
//! parity wave (area scoring).

mod benson;
mod board;
mod history;
mod ladder;
#[cfg(test)]
mod tests;

use thiserror::Error;

use crate::game::{GoError, MAX_SIZE, MIN_SIZE};
use crate::vertex::format_vertex;
use crate::{Color, Move};

use benson::{calculate_area, AreaOptions};
use board::{Cell, Loc, NULL_LOC};
use history::History;
use ladder::iter_ladders;

/// Number of spatial input channels in KataGo's V7 layout.
pub const V7_SPATIAL: usize = 22;
/// Number of global inputs in KataGo's V7 layout.
pub const V7_GLOBAL: usize = 19;

/// Repetition rule (KataGo's `koRule`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum KoRule {
    /// Only the immediate recapture of a single stone is banned.
    Simple,
    /// No move may recreate an earlier arrangement of stones.
    Positional,
    /// No move may recreate an earlier arrangement with the same player to
    /// move.
    Situational,
}

/// Scoring rule (KataGo's `scoringRule`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ScoringRule {
    Area,
    /// Territory scoring. KataGo's GTP engine never enters the cleanup
    /// ("encore") phases, so their features stay zero.
    Territory,
}

/// Group tax (KataGo's `taxRule`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum TaxRule {
    None,
    /// No points for eyes of groups in seki.
    Seki,
    /// Two points less per group.
    All,
}

/// Rules that [`KataRules`] cannot represent or does not support.
#[derive(Clone, PartialEq, Eq, Debug, Error)]
pub enum KataRulesError {
    #[error("cannot parse KataGo rules {0:?}")]
    Parse(String),
    #[error("unsupported KataGo rules: {0}")]
    Unsupported(&'static str),
}

/// KataGo rules relevant to the input features.
///
/// The default is `koPOSITIONALscoreAREAtaxNONEsui0` (with no button, white
/// handicap bonus 0 and friendly passes not ok). Supported: simple,
/// positional and situational ko, area scoring without tax, territory
/// scoring with any tax, suicide legal or not, friendly passes ok or not.
/// Not supported: area scoring with a tax, the button, a white handicap
/// bonus, Spight ko (which KataGo's nets refuse).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct KataRules {
    ko: KoRule,
    scoring: ScoringRule,
    tax: TaxRule,
    multi_stone_suicide_legal: bool,
    friendly_pass_ok: bool,
    pass_alive_as_if_suicide_legal: bool,
}

impl Default for KataRules {
    fn default() -> KataRules {
        KataRules {
            ko: KoRule::Positional,
            scoring: ScoringRule::Area,
            tax: TaxRule::None,
            multi_stone_suicide_legal: false,
            friendly_pass_ok: false,
            pass_alive_as_if_suicide_legal: false,
        }
    }
}

impl KataRules {
    /// Rules from their parts; friendly passes not ok.
    pub fn new(
        ko: KoRule,
        scoring: ScoringRule,
        tax: TaxRule,
        multi_stone_suicide_legal: bool,
    ) -> Result<KataRules, KataRulesError> {
        if scoring == ScoringRule::Area && tax != TaxRule::None {
            return Err(KataRulesError::Unsupported(
                "area scoring with a group tax (taxSEKI / taxALL)",
            ));
        }
        Ok(KataRules {
            ko,
            scoring,
            tax,
            multi_stone_suicide_legal,
            friendly_pass_ok: false,
            pass_alive_as_if_suicide_legal: false,
        })
    }

    /// Parses KataGo's compact rules notation as `kata-set-rules` accepts
    /// it, e.g. `koPOSITIONALscoreAREAtaxNONEsui0`: the tokens `ko`
    /// (`SIMPLE`, `POSITIONAL`, `SITUATIONAL`), `score` or
    /// `scoring` (`AREA`, `TERRITORY`), `tax` (`NONE`, `SEKI`, `ALL`), `sui`,
    /// `button`, `fpok` (`0`, `1`) and `whb` (`0`, `N`, `N-1`), in any order.
    /// Unnamed parts take KataGo's defaults for this notation (positional
    /// ko, area scoring, suicide legal, tax `SEKI` under territory scoring
    /// and `NONE` otherwise). Also accepts `japanese` / `korean`.
    pub fn parse(s: &str) -> Result<KataRules, KataRulesError> {
        let trimmed = s.trim();
        let lower = trimmed.to_ascii_lowercase();
        if lower == "japanese" || lower == "korean" {
            return KataRules::new(KoRule::Simple, ScoringRule::Territory, TaxRule::Seki, false);
        }
        let parse_err = || KataRulesError::Parse(s.to_string());
        if trimmed.is_empty() {
            return Err(parse_err());
        }
        let mut rest = trimmed;
        let mut ko = KoRule::Positional;
        let mut scoring = ScoringRule::Area;
        let mut tax = None;
        let mut suicide = true;
        let mut friendly_pass_ok = false;
        // Strips `prefix` (then whitespace) if `rest` starts with it.
        fn strip(rest: &mut &str, prefix: &str) -> bool {
            match rest.strip_prefix(prefix) {
                Some(r) => {
                    *rest = r.trim();
                    true
                }
                None => false,
            }
        }
        while !rest.is_empty() {
            if strip(&mut rest, "komi") {
                return Err(KataRulesError::Unsupported(
                    "komi inside the rules (pass komi separately)",
                ));
            } else if strip(&mut rest, "ko") {
                ko = if strip(&mut rest, "SIMPLE") {
                    KoRule::Simple
                } else if strip(&mut rest, "POSITIONAL") {
                    KoRule::Positional
                } else if strip(&mut rest, "SITUATIONAL") {
                    KoRule::Situational
                } else if strip(&mut rest, "SPIGHT") {
                    return Err(KataRulesError::Unsupported(
                        "Spight ko (KataGo's nets do not support it; kata-set-rules refuses it)",
                    ));
                } else {
                    return Err(parse_err());
                };
            } else if strip(&mut rest, "scoring") || strip(&mut rest, "score") {
                scoring = if strip(&mut rest, "AREA") {
                    ScoringRule::Area
                } else if strip(&mut rest, "TERRITORY") {
                    ScoringRule::Territory
                } else {
                    return Err(parse_err());
                };
            } else if strip(&mut rest, "tax") {
                tax = Some(if strip(&mut rest, "NONE") {
                    TaxRule::None
                } else if strip(&mut rest, "SEKI") {
                    TaxRule::Seki
                } else if strip(&mut rest, "ALL") {
                    TaxRule::All
                } else {
                    return Err(parse_err());
                });
            } else if strip(&mut rest, "sui") {
                suicide = parse_bit(&mut rest).ok_or_else(parse_err)?;
            } else if strip(&mut rest, "button") {
                if parse_bit(&mut rest).ok_or_else(parse_err)? {
                    return Err(KataRulesError::Unsupported("the button (button1)"));
                }
            } else if strip(&mut rest, "whb") {
                if strip(&mut rest, "0") {
                } else if strip(&mut rest, "N-1") || strip(&mut rest, "N") {
                    return Err(KataRulesError::Unsupported(
                        "a white handicap bonus (whbN, whbN-1)",
                    ));
                } else {
                    return Err(parse_err());
                }
            } else if strip(&mut rest, "fpok") {
                friendly_pass_ok = parse_bit(&mut rest).ok_or_else(parse_err)?;
            } else {
                return Err(parse_err());
            }
        }
        let tax = tax.unwrap_or(match scoring {
            ScoringRule::Territory => TaxRule::Seki,
            ScoringRule::Area => TaxRule::None,
        });
        let mut rules = KataRules::new(ko, scoring, tax, suicide)?;
        rules.friendly_pass_ok = friendly_pass_ok;
        Ok(rules)
    }

    /// The same rules with friendly passes ok (`fpok1`) or not.
    pub fn with_friendly_pass_ok(mut self, ok: bool) -> KataRules {
        self.friendly_pass_ok = ok;
        self
    }

    /// The same rules, but with pass-alive area computed as if multi-stone
    /// suicide were legal, as KataGo does when the search parameter
    /// `alwaysComputePassAliveUnderSuicideRules` is on or the model declares
    /// that it prefers it (older models, such as the g170 ones, do not).
    pub fn with_pass_alive_as_if_suicide_legal(mut self, on: bool) -> KataRules {
        self.pass_alive_as_if_suicide_legal = on;
        self
    }

    pub fn ko(&self) -> KoRule {
        self.ko
    }

    pub fn scoring(&self) -> ScoringRule {
        self.scoring
    }

    pub fn tax(&self) -> TaxRule {
        self.tax
    }

    pub fn multi_stone_suicide_legal(&self) -> bool {
        self.multi_stone_suicide_legal
    }

    pub fn friendly_pass_ok(&self) -> bool {
        self.friendly_pass_ok
    }

    pub fn pass_alive_as_if_suicide_legal(&self) -> bool {
        self.pass_alive_as_if_suicide_legal
    }
}

/// Strips a leading `0` or `1`.
fn parse_bit(rest: &mut &str) -> Option<bool> {
    let bit = match rest.as_bytes().first() {
        Some(b'0') => false,
        Some(b'1') => true,
        _ => return None,
    };
    *rest = rest.get(1..).unwrap_or("").trim();
    Some(bit)
}

/// One position's network inputs in KataGo's V7 layout.
#[derive(Clone, PartialEq, Debug)]
pub struct NetInputs {
    pub size: u8,
    /// 22 channels × size × size, channel-major; within a channel row-major
    /// with y from the top (row 0 is the top row, as `Point`), x from the
    /// left.
    pub spatial: Vec<f32>,
    pub global: [f32; V7_GLOBAL],
    /// The side to move.
    pub to_move: Color,
    /// Legal moves for the side to move (size*size, same layout), as KataGo
    /// decides legality for its policy output (illegal points print NAN in
    /// kata-raw-nn).
    pub legal: Vec<bool>,
    /// Whether a game can end without a result under the rules (simple ko
    /// or territory scoring); KataGo drops the no-result output otherwise.
    pub no_result_possible: bool,
}

impl NetInputs {
    /// The value of spatial channel `channel` at (`x`, `y`), 0 if out of
    /// range.
    pub fn spatial_at(&self, channel: usize, x: usize, y: usize) -> f32 {
        let n = usize::from(self.size);
        if channel >= V7_SPATIAL || x >= n || y >= n {
            return 0.0;
        }
        self.spatial
            .get(channel * n * n + y * n + x)
            .copied()
            .unwrap_or(0.0)
    }
}

/// KataGo's V7 inputs for the position after `moves` on an empty
/// `size`×`size` board, with the player to move being the one KataGo's GTP
/// engine presumes (the opponent of the last mover; Black on an empty
/// board).
///
/// Moves are checked against `rules` (occupied points, ko, suicide,
/// superko); an illegal move is an error naming it. A move by the player not
/// expected to move resets the history the way KataGo does (its `play`
/// clears ko and move history then). `komi` must be finite; KataGo itself
/// only accepts integers and half-integers.
pub fn v7_inputs(
    size: u8,
    komi: f32,
    rules: &KataRules,
    moves: &[(Color, Move)],
) -> Result<NetInputs, GoError> {
    if !(MIN_SIZE..=MAX_SIZE).contains(&size) {
        return Err(GoError::InvalidSize(size));
    }
    if !komi.is_finite() {
        return Err(GoError::InvalidKomi(komi));
    }
    let n = usize::from(size);
    let mut history = History::new(n, *rules);
    for (k, &(color, mv)) in moves.iter().enumerate() {
        let loc = match mv {
            Move::Pass => Ok(None),
            Move::Play(p) if p.x < size && p.y < size => {
                Ok(Some(history.board.loc(usize::from(p.x), usize::from(p.y))))
            }
            Move::Play(_) => Err(crate::game::IllegalMove::OffBoard),
        };
        loc.and_then(|loc| history.play(color, loc))
            .map_err(|source| GoError::IllegalMove {
                number: k + 1,
                color,
                vertex: format_vertex(mv, size),
                source,
            })?;
    }
    Ok(fill_v7(&history, komi, rules))
}

/// Writes channel values at board points.
struct Planes {
    n: usize,
    data: Vec<f32>,
}

impl Planes {
    /// Sets `channel` to 1 at the padded-array index `loc`.
    fn set(&mut self, channel: usize, loc: Loc) {
        let stride = self.n + 1;
        let (x, y) = (loc % stride, loc / stride);
        if (1..=self.n).contains(&x) && (1..=self.n).contains(&y) {
            let index = channel * self.n * self.n + (y - 1) * self.n + (x - 1);
            if let Some(v) = self.data.get_mut(index) {
                *v = 1.0;
            }
        }
    }
}

fn fill_v7(history: &History, komi: f32, rules: &KataRules) -> NetInputs {
    let board = &history.board;
    let n = board.x_size;
    let pla = history.to_move;
    let opp = pla.opposite();
    let mut planes = Planes {
        n,
        data: vec![0.0; V7_SPATIAL * n * n],
    };
    let mut global = [0.0f32; V7_GLOBAL];

    // Stones and liberties.
    for y in 0..n {
        for x in 0..n {
            let loc = board.loc(x, y);
            planes.set(0, loc);
            if let Cell::Stone(c) = board.colors[loc] {
                planes.set(if c == pla { 1 } else { 2 }, loc);
                match board.libs(loc) {
                    1 => planes.set(3, loc),
                    2 => planes.set(4, loc),
                    3 => planes.set(5, loc),
                    _ => {}
                }
            }
        }
    }

    // Ko and superko bans.
    let banned = history.super_ko_banned();
    if board.ko_loc != NULL_LOC {
        planes.set(6, board.ko_loc);
    }
    for y in 0..n {
        for x in 0..n {
            let loc = board.loc(x, y);
            if banned[loc] && loc != board.ko_loc {
                planes.set(6, loc);
            }
        }
    }

    // Area: pass-alive stones and territory, then every other stone.
    let self_komi_unclipped = self_komi(history, komi, pla);
    let mut game_end_not_a_win = false;
    if rules.scoring == ScoringRule::Area && rules.tax == TaxRule::None {
        let area = calculate_area(
            board,
            AreaOptions {
                non_pass_alive_stones: true,
                safe_big_territories: true,
                unsafe_big_territories: true,
                multi_stone_suicide_legal: rules.multi_stone_suicide_legal
                    || rules.pass_alive_as_if_suicide_legal,
            },
        );
        let mut score = 0i32;
        for y in 0..n {
            for x in 0..n {
                let loc = board.loc(x, y);
                match area[loc] {
                    Some(c) if c == pla => {
                        planes.set(18, loc);
                        score += 1;
                    }
                    Some(_) => {
                        planes.set(19, loc);
                        score -= 1;
                    }
                    None => {}
                }
            }
        }
        // Only passing hacks (off for kata-raw-nn) read this.
        game_end_not_a_win = score as f32 + self_komi_unclipped <= 0.0;
    }

    // How much history to show.
    let passing_hacks = false;
    let conservative_pass_and_root = false;
    let mut max_turns = 5usize;
    let mut suppress_pass_ends_phase = false;
    if history.pass_would_end_game()
        && (conservative_pass_and_root
            || history.suppress_end_from_friendly_pass()
            || (passing_hacks && game_end_not_a_win))
    {
        max_turns = 0;
        suppress_pass_ends_phase = true;
    } else if history.game_finished || history.past_normal_phase_end {
        max_turns = 1;
    }

    // The last five moves, as long as they alternate ending with `opp`.
    let mut turns_included = 0;
    let usable = max_turns.min(history.approx_valid_turns);
    for (back, &(color, mv)) in history.moves.iter().rev().take(usable).enumerate() {
        let expected = if back % 2 == 0 { opp } else { pla };
        if color != expected {
            break;
        }
        turns_included = back + 1;
        match mv {
            None => global[back] = 1.0,
            Some(loc) => planes.set(9 + back, loc),
        }
    }

    // Ladders now, one move ago and two moves ago.
    iter_ladders(board, |loc, working| {
        planes.set(14, loc);
        if board.colors[loc] == Cell::Stone(opp) && board.libs(loc) > 1 {
            for &w in working {
                planes.set(17, w);
            }
        }
    });
    let prev = if turns_included < 1 {
        board
    } else {
        &history.prev1
    };
    iter_ladders(prev, |loc, _| planes.set(15, loc));
    let prev_prev = if turns_included < 2 {
        prev
    } else {
        &history.prev2
    };
    iter_ladders(prev_prev, |loc, _| planes.set(16, loc));

    // Global features.
    let area = (n * n) as f32;
    let clip = 20.0f32;
    let self_komi = self_komi_unclipped.clamp(-area - clip, area + clip);
    global[5] = self_komi / 20.0;
    match rules.ko {
        KoRule::Simple => {}
        KoRule::Positional => {
            global[6] = 1.0;
            global[7] = 0.5;
        }
        KoRule::Situational => {
            global[6] = 1.0;
            global[7] = -0.5;
        }
    }
    if rules.multi_stone_suicide_legal {
        global[8] = 1.0;
    }
    if rules.scoring == ScoringRule::Territory {
        global[9] = 1.0;
    }
    match rules.tax {
        TaxRule::None => {}
        TaxRule::Seki => global[10] = 1.0,
        TaxRule::All => {
            global[10] = 1.0;
            global[11] = 1.0;
        }
    }
    if !suppress_pass_ends_phase && history.pass_would_end_phase() {
        global[14] = 1.0;
    }
    if rules.scoring == ScoringRule::Area {
        global[18] = komi_wave(self_komi, (n * n).is_multiple_of(2));
    }

    let mut legal = vec![false; n * n];
    for y in 0..n {
        for x in 0..n {
            legal[y * n + x] = history.legal_for_policy(board.loc(x, y), &banned);
        }
    }

    NetInputs {
        // n came from a u8.
        size: n as u8,
        spatial: planes.data,
        global,
        to_move: pla,
        legal,
        no_result_possible: rules.ko == KoRule::Simple || rules.scoring == ScoringRule::Territory,
    }
}

/// Komi from `pla`'s point of view, with territory scoring's compensation
/// (draws count half a win, so no draw adjustment).
fn self_komi(history: &History, komi: f32, pla: Color) -> f32 {
    let white = history.white_bonus + komi;
    match pla {
        Color::White => white,
        Color::Black => -white,
    }
}

/// A triangle wave of period 2 in the komi, rising around the komis that
/// allow a draw (even komis on boards with an even number of points, odd
/// ones otherwise).
fn komi_wave(self_komi: f32, even_board: bool) -> f32 {
    let floor = if even_board {
        (self_komi / 2.0).floor() * 2.0
    } else {
        ((self_komi - 1.0) / 2.0).floor() * 2.0 + 1.0
    };
    let delta = (self_komi - floor).clamp(0.0, 2.0);
    if delta < 0.5 {
        delta
    } else if delta < 1.5 {
        1.0 - delta
    } else {
        delta - 2.0
    }
}
