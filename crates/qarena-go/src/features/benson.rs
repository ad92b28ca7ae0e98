//! Pass-alive area (Benson's algorithm), as KataGo computes it for area
//! scoring and its ownership input features.
//!
//! For each colour: the maximal regions of empty-or-opponent points are
//! traced; a region is *vital* to an own chain when every empty point of the
//! region (every point, if multi-stone suicide is legal) touches that chain.
//! Chains with fewer than two vital regions are removed repeatedly, and each
//! region bordering a removed chain stops counting for anyone. What remains
//! is pass-alive: those chains, the regions they enclose with at most one
//! interior point (not adjacent to the colour) and, with the "big
//! territories" options, larger regions without opponent stones.

use super::board::{Board, Cell, Loc};
use crate::Color;

/// Which parts of the board to mark besides pass-alive chains and their
/// small enclosed regions.
#[derive(Clone, Copy, Debug)]
pub(super) struct AreaOptions {
    /// Give each stone not already marked to its own colour.
    pub(super) non_pass_alive_stones: bool,
    /// Mark opponent-free regions bordered only by pass-alive chains.
    pub(super) safe_big_territories: bool,
    /// Mark opponent-free regions whatever their border, on points still
    /// unmarked.
    pub(super) unsafe_big_territories: bool,
    pub(super) multi_stone_suicide_legal: bool,
}

/// The area of each point of the padded array (`None` for nobody).
pub(super) fn calculate_area(board: &Board, options: AreaOptions) -> Vec<Option<Color>> {
    let mut result = vec![None; board.colors.len()];
    area_for(board, Color::Black, options, &mut result);
    area_for(board, Color::White, options, &mut result);
    if options.non_pass_alive_stones {
        for y in 0..board.y_size {
            for x in 0..board.x_size {
                let loc = board.loc(x, y);
                if result[loc].is_none() {
                    if let Cell::Stone(c) = board.colors[loc] {
                        result[loc] = Some(c);
                    }
                }
            }
        }
    }
    result
}

/// One region of empty-or-opponent points.
struct Region {
    head: Loc,
    /// Own chain heads this region is vital for.
    vital_for: Vec<Loc>,
    /// Points not adjacent to any own stone, counted up to 2.
    interior: u8,
    contains_opp: bool,
    /// Whether it touches an own chain found not pass-alive.
    borders_dead: bool,
}

fn area_for(board: &Board, pla: Color, options: AreaOptions, result: &mut [Option<Color>]) {
    let opp = pla.opposite();
    let n = board.colors.len();
    let empty_or_opp = |loc: Loc| {
        matches!(board.colors[loc], Cell::Empty) || board.colors[loc] == Cell::Stone(opp)
    };

    let mut region_of: Vec<Option<usize>> = vec![None; n];
    // Each region's points as a circular list through `next_point`.
    let mut next_point: Vec<Loc> = vec![0; n];
    let mut regions: Vec<Region> = Vec::new();
    let mut queue: Vec<Loc> = Vec::with_capacity(n);
    let mut at_least_one_pla = false;

    for y in 0..board.y_size {
        for x in 0..board.x_size {
            let loc = board.loc(x, y);
            if region_of[loc].is_some() {
                continue;
            }
            match board.colors[loc] {
                Cell::Empty => {}
                Cell::Stone(c) => {
                    at_least_one_pla |= c == pla;
                    continue;
                }
                Cell::Wall => continue,
            }
            let index = regions.len();
            let mut vital_for: Vec<Loc> = Vec::with_capacity(4);
            for adj in board.adj(loc) {
                if board.colors[adj] == Cell::Stone(pla) {
                    let h = board.head[adj];
                    if !vital_for.contains(&h) {
                        vital_for.push(h);
                    }
                }
            }
            let mut region = Region {
                head: loc,
                vital_for,
                interior: 0,
                contains_opp: false,
                borders_dead: false,
            };

            // Breadth-first trace.
            queue.clear();
            queue.push(loc);
            region_of[loc] = Some(index);
            let mut tail = loc;
            let mut qi = 0;
            while let Some(&p) = queue.get(qi) {
                qi += 1;
                if !region.vital_for.is_empty()
                    && (options.multi_stone_suicide_legal || board.colors[p] == Cell::Empty)
                {
                    region
                        .vital_for
                        .retain(|&h| board.is_adjacent_to_pla_head(pla, p, h));
                }
                if region.interior < 2 && !board.is_adjacent_to_pla(p, pla) {
                    region.interior += 1;
                }
                if board.colors[p] == Cell::Stone(opp) {
                    region.contains_opp = true;
                }
                next_point[p] = tail;
                tail = p;
                for adj in board.adj(p) {
                    if empty_or_opp(adj) && region_of[adj].is_none() {
                        queue.push(adj);
                        region_of[adj] = Some(index);
                    }
                }
            }
            next_point[loc] = tail;
            regions.push(region);
        }
    }

    // Own chain heads, and how many regions are vital to each.
    let heads: Vec<Loc> = (0..n)
        .filter(|&loc| board.colors[loc] == Cell::Stone(pla) && board.head[loc] == loc)
        .collect();
    let mut vital_count: Vec<i32> = vec![0; n];
    for region in &regions {
        for &h in &region.vital_for {
            vital_count[h] += 1;
        }
    }

    let mut killed = vec![false; heads.len()];
    loop {
        let mut killed_any = false;
        for (i, &h) in heads.iter().enumerate() {
            if killed[i] || vital_count[h] >= 2 {
                continue;
            }
            killed[i] = true;
            killed_any = true;
            for stone in board.chain_stones(h) {
                for adj in board.adj(stone) {
                    let Some(r) = region_of[adj] else {
                        continue;
                    };
                    let region = &mut regions[r];
                    if !region.borders_dead && empty_or_opp(adj) {
                        region.borders_dead = true;
                        for &v in &region.vital_for {
                            vital_count[v] -= 1;
                        }
                    }
                }
            }
        }
        if !killed_any {
            break;
        }
    }

    for (i, &h) in heads.iter().enumerate() {
        if !killed[i] {
            for stone in board.chain_stones(h) {
                result[stone] = Some(pla);
            }
        }
    }

    for region in &regions {
        let alive_border = !region.borders_dead && at_least_one_pla;
        let mark = (region.interior <= 1 && alive_border)
            || (options.safe_big_territories && !region.contains_opp && alive_border);
        let mark_if_empty =
            options.unsafe_big_territories && !region.contains_opp && at_least_one_pla;
        if !mark && !mark_if_empty {
            continue;
        }
        let mut cur = region.head;
        loop {
            if mark || result[cur].is_none() {
                result[cur] = Some(pla);
            }
            cur = next_point[cur];
            if cur == region.head {
                break;
            }
        }
    }
}
