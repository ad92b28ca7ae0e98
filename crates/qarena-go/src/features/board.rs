//! A board with KataGo's internal layout, so that searches over it visit
//! moves in exactly KataGo's order.
//!
//! Points live in a padded one-dimensional array: the point (`x`, `y`), `y`
//! from the top, sits at `(x + 1) + (y + 1) * (x_size + 1)`, and every other
//! slot is a wall (index 0 doubles as "no point"). Each chain is a circular
//! singly linked list of its stones plus a head stone that stores the stone
//! and liberty counts. The order of those lists, which merging, capturing
//! and undoing change in specific ways, decides the order in which
//! liberties are found, and therefore the order of the ladder search; the
//! search has a node budget, so only the same order gives the same answer in
//! every case. The operations below keep the lists exactly as KataGo does.

use crate::zobrist::stone_key;
use crate::Color;

/// An index into the padded array.
pub(super) type Loc = usize;
/// "No point": index 0 is always a wall.
pub(super) const NULL_LOC: Loc = 0;

/// What occupies a slot of the padded array.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Cell {
    Empty,
    Stone(Color),
    Wall,
}

/// Stone and liberty counts, kept on a chain's head stone.
#[derive(Clone, Copy, Default, Debug)]
struct ChainData {
    num_locs: i32,
    num_liberties: i32,
}

/// What is needed to take back a move played with [`Board::play_recorded`].
#[derive(Clone, Copy, Debug)]
pub(super) struct MoveRecord {
    loc: Loc,
    pla: Color,
    ko_loc: Loc,
    /// Bits 0..4: directions (in neighbour order) where a chain was
    /// captured; `0x10` alone: the move was suicide.
    cap_dirs: u8,
}

impl Default for MoveRecord {
    fn default() -> MoveRecord {
        MoveRecord {
            loc: NULL_LOC,
            pla: Color::Black,
            ko_loc: NULL_LOC,
            cap_dirs: 0,
        }
    }
}

#[derive(Clone, Debug)]
pub(super) struct Board {
    pub(super) x_size: usize,
    pub(super) y_size: usize,
    stride: usize,
    pub(super) colors: Vec<Cell>,
    chain: Vec<ChainData>,
    pub(super) head: Vec<Loc>,
    next: Vec<Loc>,
    /// The point the next player may not play because of simple ko, or
    /// [`NULL_LOC`].
    pub(super) ko_loc: Loc,
    /// Zobrist hash of the stones.
    pub(super) hash: u64,
    /// Black stones removed from the board so far (captured or suicided).
    pub(super) black_stones_lost: i32,
    /// White stones removed from the board so far.
    pub(super) white_stones_lost: i32,
}

impl Board {
    pub(super) fn new(x_size: usize, y_size: usize) -> Board {
        let stride = x_size + 1;
        let len = stride * (y_size + 2) + 1;
        let mut colors = vec![Cell::Wall; len];
        for y in 0..y_size {
            for x in 0..x_size {
                colors[(x + 1) + (y + 1) * stride] = Cell::Empty;
            }
        }
        Board {
            x_size,
            y_size,
            stride,
            colors,
            chain: vec![ChainData::default(); len],
            head: vec![NULL_LOC; len],
            next: vec![NULL_LOC; len],
            ko_loc: NULL_LOC,
            hash: 0,
            black_stones_lost: 0,
            white_stones_lost: 0,
        }
    }

    pub(super) fn loc(&self, x: usize, y: usize) -> Loc {
        (x + 1) + (y + 1) * self.stride
    }

    /// The four neighbours in KataGo's order: up, left, right, down.
    pub(super) fn adj(&self, loc: Loc) -> [Loc; 4] {
        [loc - self.stride, loc - 1, loc + 1, loc + self.stride]
    }

    fn key(&self, loc: Loc, color: Color) -> u64 {
        stone_key(color, loc % self.stride - 1, loc / self.stride - 1)
    }

    pub(super) fn is_adjacent(&self, a: Loc, b: Loc) -> bool {
        a + self.stride == b || a + 1 == b || a == b + 1 || a == b + self.stride
    }

    /// Liberties of the chain at `loc`, which must hold a stone.
    pub(super) fn libs(&self, loc: Loc) -> i32 {
        self.chain[self.head[loc]].num_liberties
    }

    /// Whether `pla` playing at the empty point `loc` would leave the new
    /// stone's chain without liberties and capture nothing.
    pub(super) fn is_suicide(&self, loc: Loc, pla: Color) -> bool {
        self.is_illegal_suicide(loc, pla, false)
    }

    /// Like [`Board::is_suicide`], but a move joining a friendly chain is
    /// never illegal when multi-stone suicide is legal.
    pub(super) fn is_illegal_suicide(&self, loc: Loc, pla: Color, multi_stone_legal: bool) -> bool {
        for adj in self.adj(loc) {
            match self.colors[adj] {
                Cell::Empty => return false,
                Cell::Stone(c) if c == pla => {
                    if multi_stone_legal || self.libs(adj) > 1 {
                        return false;
                    }
                }
                Cell::Stone(_) => {
                    if self.libs(adj) == 1 {
                        return false;
                    }
                }
                Cell::Wall => {}
            }
        }
        true
    }

    /// Board-level legality of a stone (no superko): empty, not the ko
    /// point, not illegal suicide.
    pub(super) fn is_legal(&self, loc: Loc, pla: Color, multi_stone_legal: bool) -> bool {
        loc < self.colors.len()
            && self.colors[loc] == Cell::Empty
            && loc != self.ko_loc
            && !self.is_illegal_suicide(loc, pla, multi_stone_legal)
    }

    /// Quick lower and upper bounds on the liberties of a stone `pla`
    /// would play at `loc`.
    pub(super) fn bound_libs_after_play(&self, loc: Loc, pla: Color) -> (i32, i32) {
        let mut immediate = 0;
        let mut caps = 0;
        let mut libs_from_caps = 0;
        let mut connection_libs = 0;
        let mut max_connection_libs = 0;
        for adj in self.adj(loc) {
            match self.colors[adj] {
                Cell::Empty => immediate += 1,
                Cell::Stone(c) if c == pla => {
                    let conn = self.libs(adj) - 1;
                    connection_libs += conn;
                    max_connection_libs = max_connection_libs.max(conn);
                }
                Cell::Stone(_) => {
                    let data = self.chain[self.head[adj]];
                    if data.num_liberties == 1 {
                        caps += 1;
                        libs_from_caps += data.num_locs;
                    }
                }
                Cell::Wall => {}
            }
        }
        let lower = caps + max_connection_libs.max(immediate);
        let upper = immediate + libs_from_caps + connection_libs;
        (lower, upper)
    }

    /// Liberties a stone `pla` would play at `loc` would have, capped at
    /// `max`.
    pub(super) fn libs_after_play(&self, loc: Loc, pla: Color, max: usize) -> usize {
        let mut libs: Vec<Loc> = Vec::with_capacity(max);
        let mut captured_heads: Vec<Loc> = Vec::with_capacity(4);
        for adj in self.adj(loc) {
            match self.colors[adj] {
                Cell::Empty => {
                    libs.push(adj);
                    if libs.len() >= max {
                        return max;
                    }
                }
                Cell::Stone(c) if c != pla && self.libs(adj) == 1 => {
                    libs.push(adj);
                    if libs.len() >= max {
                        return max;
                    }
                    let head = self.head[adj];
                    if !captured_heads.contains(&head) {
                        captured_heads.push(head);
                    }
                }
                _ => {}
            }
        }
        let would_be_empty = |lc: Loc| match self.colors[lc] {
            Cell::Empty => true,
            Cell::Stone(c) if c != pla => captured_heads.contains(&self.head[lc]),
            _ => false,
        };
        let mut connecting_heads: Vec<Loc> = Vec::with_capacity(4);
        for adj in self.adj(loc) {
            if self.colors[adj] != Cell::Stone(pla) {
                continue;
            }
            let head = self.head[adj];
            if connecting_heads.contains(&head) {
                continue;
            }
            connecting_heads.push(head);
            let mut cur = adj;
            loop {
                for lib in self.adj(cur) {
                    if lib != loc && would_be_empty(lib) && !libs.contains(&lib) {
                        libs.push(lib);
                        if libs.len() >= max {
                            return max;
                        }
                    }
                }
                cur = self.next[cur];
                if cur == adj {
                    break;
                }
            }
        }
        libs.len()
    }

    /// Whether `pla` playing at `loc` would capture exactly one lone stone
    /// while `loc` is surrounded by opposing stones and walls only.
    pub(super) fn would_be_ko_capture(&self, loc: Loc, pla: Color) -> bool {
        if self.colors[loc] != Cell::Empty {
            return false;
        }
        let opp = pla.opposite();
        let mut capturable = NULL_LOC;
        for adj in self.adj(loc) {
            let cell = self.colors[adj];
            if cell != Cell::Wall && cell != Cell::Stone(opp) {
                return false;
            }
            if cell == Cell::Stone(opp) && self.libs(adj) == 1 {
                if capturable != NULL_LOC {
                    return false;
                }
                capturable = adj;
            }
        }
        capturable != NULL_LOC && self.chain[self.head[capturable]].num_locs == 1
    }

    pub(super) fn immediate_libs(&self, loc: Loc) -> i32 {
        self.adj(loc)
            .iter()
            .filter(|&&adj| self.colors[adj] == Cell::Empty)
            .count() as i32
    }

    /// Twice the sum over friendly neighbouring chains with more than one
    /// liberty of (liberties - 1.5).
    pub(super) fn connection_libs_x2(&self, loc: Loc, pla: Color) -> i32 {
        let mut total = 0;
        for adj in self.adj(loc) {
            if self.colors[adj] == Cell::Stone(pla) {
                let libs = self.libs(adj);
                if libs > 1 {
                    total += libs * 2 - 3;
                }
            }
        }
        total
    }

    /// Whether the empty point `loc` touches a stone of the chain headed by
    /// `head`.
    fn is_liberty_of(&self, loc: Loc, head: Loc) -> bool {
        let color = self.colors[head];
        self.adj(loc)
            .iter()
            .any(|&adj| self.colors[adj] == color && self.head[adj] == head)
    }

    pub(super) fn is_adjacent_to_pla(&self, loc: Loc, pla: Color) -> bool {
        self.adj(loc)
            .iter()
            .any(|&adj| self.colors[adj] == Cell::Stone(pla))
    }

    pub(super) fn is_adjacent_to_pla_head(&self, pla: Color, loc: Loc, pla_head: Loc) -> bool {
        self.adj(loc)
            .iter()
            .any(|&adj| self.colors[adj] == Cell::Stone(pla) && self.head[adj] == pla_head)
    }

    /// The stones of the chain at `loc`, starting at `loc`, in list order.
    pub(super) fn chain_stones(&self, loc: Loc) -> ChainIter<'_> {
        ChainIter {
            board: self,
            start: loc,
            cur: Some(loc),
        }
    }

    /// Plays a legal stone (or, with `None`, a pass), keeping KataGo's chain
    /// lists, ko point and capture counts.
    pub(super) fn play(&mut self, mv: Option<Loc>, pla: Color) {
        match mv {
            None => self.ko_loc = NULL_LOC,
            Some(loc) => self.play_stone(loc, pla),
        }
    }

    fn play_stone(&mut self, loc: Loc, pla: Color) {
        let opp = pla.opposite();
        self.colors[loc] = Cell::Stone(pla);
        self.hash ^= self.key(loc, pla);
        self.chain[loc] = ChainData {
            num_locs: 1,
            num_liberties: self.immediate_libs(loc),
        };
        self.head[loc] = loc;
        self.next[loc] = loc;

        let mut num_captured = 0;
        let mut possible_ko_loc = NULL_LOC;
        let mut opp_heads_seen: Vec<Loc> = Vec::with_capacity(4);
        for adj in self.adj(loc) {
            match self.colors[adj] {
                Cell::Stone(c) if c == pla => {
                    if self.head[adj] == self.head[loc] {
                        continue;
                    }
                    let h = self.head[adj];
                    self.chain[h].num_liberties -= 1;
                    self.merge_chains(adj, loc);
                }
                Cell::Stone(_) => {
                    let opp_head = self.head[adj];
                    if opp_heads_seen.contains(&opp_head) {
                        continue;
                    }
                    self.chain[opp_head].num_liberties -= 1;
                    opp_heads_seen.push(opp_head);
                    if self.libs(adj) == 0 {
                        num_captured += self.remove_chain(adj);
                        possible_ko_loc = adj;
                    }
                }
                _ => {}
            }
        }

        let own = self.chain[self.head[loc]];
        self.ko_loc = if num_captured == 1 && own.num_locs == 1 && own.num_liberties == 1 {
            possible_ko_loc
        } else {
            NULL_LOC
        };
        self.add_lost(opp, num_captured);

        if self.libs(loc) == 0 {
            let suicided = self.chain[self.head[loc]].num_locs;
            self.remove_chain(loc);
            self.add_lost(pla, suicided);
        }
    }

    fn add_lost(&mut self, color: Color, n: i32) {
        match color {
            Color::Black => self.black_stones_lost += n,
            Color::White => self.white_stones_lost += n,
        }
    }

    /// Plays a legal stone and returns what [`Board::undo`] needs.
    pub(super) fn play_recorded(&mut self, loc: Loc, pla: Color) -> MoveRecord {
        let opp = pla.opposite();
        let mut cap_dirs = 0u8;
        for (i, adj) in self.adj(loc).into_iter().enumerate() {
            if self.colors[adj] == Cell::Stone(opp) && self.libs(adj) == 1 {
                cap_dirs |= 1 << i;
            }
        }
        if cap_dirs == 0 && self.is_suicide(loc, pla) {
            cap_dirs = 0x10;
        }
        let record = MoveRecord {
            loc,
            pla,
            ko_loc: self.ko_loc,
            cap_dirs,
        };
        self.play_stone(loc, pla);
        record
    }

    /// Takes back the last move played with [`Board::play_recorded`]. Like
    /// KataGo's, this restores the position but not necessarily the chain
    /// lists' order or heads.
    pub(super) fn undo(&mut self, record: MoveRecord) {
        self.ko_loc = record.ko_loc;
        let loc = record.loc;
        let pla = record.pla;
        let opp = pla.opposite();

        for (i, adj) in self.adj(loc).into_iter().enumerate() {
            if record.cap_dirs & (1 << i) != 0 && self.colors[adj] == Cell::Empty {
                self.add_chain(adj, opp);
                let restored = self.chain[self.head[adj]].num_locs;
                self.add_lost(opp, -restored);
            }
        }
        if record.cap_dirs == 0x10 {
            self.add_chain(loc, pla);
            let restored = self.chain[self.head[loc]].num_locs;
            self.add_lost(pla, -restored);
        }

        if let Cell::Stone(c) = self.colors[loc] {
            self.hash ^= self.key(loc, c);
        }
        self.colors[loc] = Cell::Empty;
        self.change_surrounding_liberties(loc, opp, 1);

        if self.chain[self.head[loc]].num_locs <= 1 {
            return;
        }
        let neighbours = self
            .adj(loc)
            .iter()
            .filter(|&&adj| self.colors[adj] == Cell::Stone(pla))
            .count();
        if neighbours <= 1 {
            // The chain stays connected: unlink the stone, moving the head
            // off it first if needed.
            let mut head = self.head[loc];
            if head == loc {
                let new_head = self.next[loc];
                let mut cur = loc;
                loop {
                    self.head[cur] = new_head;
                    cur = self.next[cur];
                    if cur == loc {
                        break;
                    }
                }
                self.chain[new_head] = self.chain[head];
                head = new_head;
            }
            let mut cur = head;
            while self.next[cur] != loc {
                cur = self.next[cur];
            }
            self.next[cur] = self.next[loc];

            let mut delta = 1;
            for adj in self.adj(loc) {
                if self.colors[adj] == Cell::Empty && !self.is_liberty_of(adj, head) {
                    delta -= 1;
                }
            }
            self.chain[head].num_liberties += delta;
            self.chain[head].num_locs -= 1;
        } else {
            // The chain may fall apart: rebuild every piece from scratch.
            let mut cur = loc;
            loop {
                self.head[cur] = NULL_LOC;
                cur = self.next[cur];
                if cur == loc {
                    break;
                }
            }
            for adj in self.adj(loc) {
                if self.colors[adj] == Cell::Stone(pla) && self.head[adj] == NULL_LOC {
                    self.rebuild_chain(adj, pla);
                }
            }
        }
    }

    /// Merges the chain of `loc2` into that of `loc1` (or the other way,
    /// the larger chain absorbing the smaller), splicing the absorbed list
    /// right after the surviving head.
    fn merge_chains(&mut self, loc1: Loc, loc2: Loc) {
        let mut head1 = self.head[loc1];
        let mut head2 = self.head[loc2];
        if self.chain[head1].num_locs < self.chain[head2].num_locs {
            std::mem::swap(&mut head1, &mut head2);
        }
        self.chain[head1].num_locs += self.chain[head2].num_locs;
        let mut new_libs = 0;
        let mut loc = head2;
        loop {
            for adj in self.adj(loc) {
                if self.colors[adj] == Cell::Empty && !self.is_liberty_of(adj, head1) {
                    new_libs += 1;
                }
            }
            self.head[loc] = head1;
            if self.next[loc] != head2 {
                loc = self.next[loc];
            } else {
                break;
            }
        }
        self.chain[head1].num_liberties += new_libs;
        self.next[loc] = self.next[head1];
        self.next[head1] = head2;
    }

    /// Removes the chain at `loc`; returns the number of stones removed.
    fn remove_chain(&mut self, loc: Loc) -> i32 {
        let Cell::Stone(color) = self.colors[loc] else {
            return 0;
        };
        let opp = color.opposite();
        let mut removed = 0;
        let mut cur = loc;
        loop {
            self.hash ^= self.key(cur, color);
            self.colors[cur] = Cell::Empty;
            removed += 1;
            self.change_surrounding_liberties(cur, opp, 1);
            cur = self.next[cur];
            if cur == loc {
                break;
            }
        }
        removed
    }

    /// Fills the empty region at `loc` with a `pla` chain headed at `loc`.
    fn add_chain(&mut self, loc: Loc, pla: Color) {
        self.chain[loc] = ChainData::default();
        let front = self.add_chain_helper(loc, loc, loc, pla);
        self.next[loc] = front;
    }

    /// Depth-first fill; builds a list ending at `loc` whose tail points to
    /// `tail_target`, returns the front of that list.
    fn add_chain_helper(&mut self, head: Loc, tail_target: Loc, loc: Loc, pla: Color) -> Loc {
        self.colors[loc] = Cell::Stone(pla);
        self.hash ^= self.key(loc, pla);
        self.head[loc] = head;
        self.chain[head].num_locs += 1;
        self.next[loc] = tail_target;
        self.change_surrounding_liberties(loc, pla.opposite(), -1);
        let mut next_tail = loc;
        for adj in self.adj(loc) {
            if self.colors[adj] == Cell::Empty {
                next_tail = self.add_chain_helper(head, next_tail, adj, pla);
            }
        }
        next_tail
    }

    /// Relinks the stones of the `pla` chain at `loc` (whose heads must all
    /// point away from it) with `loc` as head, counting its liberties.
    fn rebuild_chain(&mut self, loc: Loc, pla: Color) {
        self.chain[loc] = ChainData::default();
        let front = self.rebuild_chain_helper(loc, loc, loc, pla);
        self.next[loc] = front;
    }

    fn rebuild_chain_helper(&mut self, head: Loc, tail_target: Loc, loc: Loc, pla: Color) -> Loc {
        let adjs = self.adj(loc);
        let mut new_libs = 0;
        for adj in adjs {
            if self.colors[adj] == Cell::Empty && !self.is_liberty_of(adj, head) {
                new_libs += 1;
            }
        }
        self.chain[head].num_liberties += new_libs;
        self.head[loc] = head;
        self.chain[head].num_locs += 1;
        self.next[loc] = tail_target;
        let mut next_tail = loc;
        for adj in adjs {
            if self.colors[adj] == Cell::Stone(pla) && self.head[adj] != head {
                next_tail = self.rebuild_chain_helper(head, next_tail, adj, pla);
            }
        }
        next_tail
    }

    /// Adds `delta` to the liberties of each distinct `pla` chain next to
    /// `loc`.
    fn change_surrounding_liberties(&mut self, loc: Loc, pla: Color, delta: i32) {
        let adjs = self.adj(loc);
        let mut seen: [Loc; 4] = [NULL_LOC; 4];
        let mut n = 0;
        for adj in adjs {
            if self.colors[adj] == Cell::Stone(pla) {
                let h = self.head[adj];
                if !seen[..n].contains(&h) {
                    self.chain[h].num_liberties += delta;
                    seen[n] = h;
                    n += 1;
                }
            }
        }
    }

    /// The position hash after `pla` plays the legal stone `loc`.
    pub(super) fn hash_after_move(&self, loc: Loc, pla: Color) -> u64 {
        let mut hash = self.hash ^ self.key(loc, pla);
        let opp = pla.opposite();
        let mut suicide = true;
        let mut heads: Vec<Loc> = Vec::with_capacity(4);
        for adj in self.adj(loc) {
            match self.colors[adj] {
                Cell::Empty => suicide = false,
                Cell::Stone(c) if c == pla => {
                    if self.libs(adj) > 1 {
                        suicide = false;
                    }
                }
                Cell::Stone(_) => {
                    if self.libs(adj) == 1 {
                        let h = self.head[adj];
                        if !heads.contains(&h) {
                            heads.push(h);
                            suicide = false;
                            for s in self.chain_stones(adj) {
                                hash ^= self.key(s, opp);
                            }
                        }
                    }
                }
                Cell::Wall => {}
            }
        }
        if suicide {
            for adj in self.adj(loc) {
                if self.colors[adj] == Cell::Stone(pla) && self.libs(adj) == 1 {
                    let h = self.head[adj];
                    if !heads.contains(&h) {
                        heads.push(h);
                        for s in self.chain_stones(adj) {
                            hash ^= self.key(s, pla);
                        }
                    }
                }
            }
            hash ^= self.key(loc, pla);
        }
        hash
    }

    /// Writes the liberties of the chain at `loc` into `buf` from index
    /// `idx` on, skipping any already in `buf[start..]`; returns how many
    /// were written.
    pub(super) fn find_liberties(
        &self,
        loc: Loc,
        buf: &mut Vec<Loc>,
        start: usize,
        idx: usize,
    ) -> usize {
        let mut found = 0;
        for stone in self.chain_stones(loc) {
            for lib in self.adj(stone) {
                if self.colors[lib] != Cell::Empty {
                    continue;
                }
                let end = idx + found;
                if buf.get(start..end).is_some_and(|seen| seen.contains(&lib)) {
                    continue;
                }
                put(buf, end, lib);
                found += 1;
            }
        }
        found
    }

    /// Writes the moves that capture an opposing chain in atari next to the
    /// chain at `loc` (the liberties of those chains), like
    /// [`Board::find_liberties`].
    pub(super) fn find_liberty_gaining_captures(
        &self,
        loc: Loc,
        buf: &mut Vec<Loc>,
        start: usize,
        idx: usize,
    ) -> usize {
        let Cell::Stone(color) = self.colors[loc] else {
            return 0;
        };
        let opp = color.opposite();
        let mut checked: Vec<Loc> = Vec::new();
        let mut found = 0;
        for stone in self.chain_stones(loc) {
            for adj in self.adj(stone) {
                if self.colors[adj] != Cell::Stone(opp) {
                    continue;
                }
                let h = self.head[adj];
                if self.chain[h].num_liberties == 1 && !checked.contains(&h) {
                    found += self.find_liberties(adj, buf, start, idx + found);
                    checked.push(h);
                }
            }
        }
        found
    }

    /// Whether some opposing chain next to the chain at `loc` is in atari.
    pub(super) fn has_liberty_gaining_captures(&self, loc: Loc) -> bool {
        let Cell::Stone(color) = self.colors[loc] else {
            return false;
        };
        let opp = color.opposite();
        self.chain_stones(loc).any(|stone| {
            self.adj(stone)
                .iter()
                .any(|&adj| self.colors[adj] == Cell::Stone(opp) && self.libs(adj) == 1)
        })
    }
}

/// Sets `buf[idx]`, growing the buffer if needed.
pub(super) fn put(buf: &mut Vec<Loc>, idx: usize, value: Loc) {
    if idx >= buf.len() {
        buf.resize(idx + 1, NULL_LOC);
    }
    buf[idx] = value;
}

/// Walks a chain's circular list once.
pub(super) struct ChainIter<'a> {
    board: &'a Board,
    start: Loc,
    cur: Option<Loc>,
}

impl Iterator for ChainIter<'_> {
    type Item = Loc;

    fn next(&mut self) -> Option<Loc> {
        let cur = self.cur?;
        let next = self.board.next[cur];
        self.cur = (next != self.start).then_some(next);
        Some(cur)
    }
}
