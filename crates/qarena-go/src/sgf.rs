//! SGF (FF\[4\], GM\[1\]) game records: writing and reading the main line.
//!
//! The writer emits one move per node and a fixed root-property order, so
//! the same game always produces the same text (stable in the database and
//! in snapshot tests). The reader is tolerant: it skips whitespace and
//! anything before the first `(`, ignores unknown properties and follows
//! the first variation at every branch, which is the main line. It never
//! recurses, so deeply nested input cannot exhaust the stack, and every
//! error names the byte offset where reading stopped.
//!
//! Text values round-trip exactly: the writer escapes `]` and `\`, and the
//! reader removes those escapes and SGF soft line breaks (`\` + newline).

use thiserror::Error;

use crate::game::{Game, GoError, Rules, MAX_SIZE, MIN_SIZE};
use crate::{Color, Move, Point};

/// A game record: root properties the arena uses plus the main line.
#[derive(Clone, Debug, PartialEq)]
pub struct SgfGame {
    pub size: u8,
    pub komi: f32,
    /// `RU`: the rule set's name, free text (`Chinese`, `tromp-taylor`, …).
    pub rules: Option<String>,
    /// `PB`: Black player's name.
    pub black: Option<String>,
    /// `PW`: White player's name.
    pub white: Option<String>,
    /// `RE`: result, SGF style (`B+3.5`, `W+R`, `0`, `Void`, `?`).
    pub result: Option<String>,
    /// `DT`: date, SGF style (`2024-05-01`).
    pub date: Option<String>,
    /// `C` on the root node.
    pub root_comment: Option<String>,
    /// `GN`: game name.
    pub game_name: Option<String>,
    pub moves: Vec<SgfMove>,
}

impl SgfGame {
    /// A record with no moves and no optional properties.
    pub fn new(size: u8, komi: f32) -> SgfGame {
        SgfGame {
            size,
            komi,
            rules: None,
            black: None,
            white: None,
            result: None,
            date: None,
            root_comment: None,
            game_name: None,
            moves: Vec::new(),
        }
    }

    /// Replays the main line under `rules`; the error names the first
    /// illegal move, so a corrupt record is caught before it is trusted.
    pub fn to_game(&self, rules: Rules) -> Result<Game, GoError> {
        let moves: Vec<(Color, Move)> = self.moves.iter().map(|m| (m.color, m.mv)).collect();
        Game::replay(self.size, self.komi, rules, &moves)
    }
}

/// One node of the main line: a move and the comment attached to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SgfMove {
    pub color: Color,
    pub mv: Move,
    pub comment: Option<String>,
}

/// Why an SGF text could not be read; every variant carries the byte offset
/// into the input where the problem was found.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum SgfError {
    #[error("SGF byte {offset}: no game tree found; an SGF record starts with \"(;\"")]
    NoGameTree { offset: usize },
    #[error("SGF byte {offset}: the text ends early; expected {expected}")]
    UnexpectedEnd {
        offset: usize,
        expected: &'static str,
    },
    #[error("SGF byte {offset}: unexpected {found:?}; expected {expected}")]
    Unexpected {
        offset: usize,
        found: char,
        expected: &'static str,
    },
    #[error("SGF byte {offset}: property {property}[{value}]: {reason}")]
    BadValue {
        offset: usize,
        property: String,
        value: String,
        reason: String,
    },
}

impl SgfError {
    /// Byte offset into the parsed text where the error was found.
    pub fn offset(&self) -> usize {
        match self {
            SgfError::NoGameTree { offset }
            | SgfError::UnexpectedEnd { offset, .. }
            | SgfError::Unexpected { offset, .. }
            | SgfError::BadValue { offset, .. } => *offset,
        }
    }
}

/// Writes a complete SGF record: `FF[4]GM[1]CA[UTF-8]`, then `SZ`, `KM` and
/// whichever of `RU PB PW RE DT GN C` are set, then one node per move
/// (pass as `B[]`/`W[]`).
///
/// Points must lie on the board; one that cannot be written as SGF
/// coordinates is written as `??`, which [`parse_sgf`] rejects.
pub fn write_sgf(g: &SgfGame) -> String {
    let mut out = String::with_capacity(128 + g.moves.len() * 8);
    out.push_str("(;FF[4]GM[1]CA[UTF-8]");
    out.push_str(&format!("SZ[{}]KM[{}]", g.size, g.komi));
    let optional = [
        ("RU", &g.rules),
        ("PB", &g.black),
        ("PW", &g.white),
        ("RE", &g.result),
        ("DT", &g.date),
        ("GN", &g.game_name),
        ("C", &g.root_comment),
    ];
    for (id, value) in optional {
        if let Some(text) = value {
            push_property(&mut out, id, text);
        }
    }
    for m in &g.moves {
        out.push_str("\n;");
        out.push(m.color.sgf_char());
        out.push('[');
        if let Move::Play(p) = m.mv {
            out.push(coordinate_char(p.x));
            out.push(coordinate_char(p.y));
        }
        out.push(']');
        if let Some(comment) = &m.comment {
            push_property(&mut out, "C", comment);
        }
    }
    out.push_str(")\n");
    out
}

fn coordinate_char(c: u8) -> char {
    if c < 26 {
        char::from(b'a' + c)
    } else {
        '?'
    }
}

fn push_property(out: &mut String, id: &str, text: &str) {
    out.push_str(id);
    out.push('[');
    for ch in text.chars() {
        if ch == ']' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push(']');
}

/// A property value with the offset of its opening `[`.
struct Value {
    text: String,
    offset: usize,
}

struct Property {
    id: String,
    values: Vec<Value>,
}

type Node = Vec<Property>;

/// Reads the first game tree of an SGF collection, keeping the main line.
///
/// Root properties other than those in [`SgfGame`] and all setup properties
/// (`AB`, `AW`, `AE`) are ignored; `SZ` defaults to 19 and `KM` to 0. A pass
/// may be written `[]` or, on boards up to 19x19, `[tt]`.
pub fn parse_sgf(text: &str) -> Result<SgfGame, SgfError> {
    let nodes = read_main_line(text)?;
    interpret(&nodes)
}

/// Tokenises the main line into nodes.
///
/// The main line of a tree is its first sequence followed by the main line
/// of its first subtree, so in document order it is everything up to the
/// first `)`: opening brackets only descend into first subtrees, and the
/// first `)` closes the deepest one. Later siblings are never read.
fn read_main_line(text: &str) -> Result<Vec<Node>, SgfError> {
    let bytes = text.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| b == b'(')
        .ok_or(SgfError::NoGameTree { offset: text.len() })?;
    let mut pos = start + 1;
    let mut nodes: Vec<Node> = Vec::new();
    // After every '(' a node must follow before anything else.
    let mut expect_node = true;
    loop {
        pos = skip_whitespace(bytes, pos);
        let Some(&b) = bytes.get(pos) else {
            return Err(SgfError::UnexpectedEnd {
                offset: pos,
                expected: if expect_node {
                    "';' starting a node"
                } else {
                    "')' closing the game tree"
                },
            });
        };
        match b {
            b';' => {
                nodes.push(Vec::new());
                expect_node = false;
                pos += 1;
            }
            _ if expect_node => {
                return Err(unexpected(text, pos, "';' starting a node"));
            }
            b'(' => {
                expect_node = true;
                pos += 1;
            }
            b')' => return Ok(nodes),
            b'A'..=b'Z' | b'a'..=b'z' => {
                let (property, next) = read_property(text, pos)?;
                if let Some(node) = nodes.last_mut() {
                    node.push(property);
                }
                pos = next;
            }
            _ => {
                return Err(unexpected(
                    text,
                    pos,
                    "';', '(', ')' or a property identifier",
                ))
            }
        }
    }
}

fn skip_whitespace(bytes: &[u8], mut pos: usize) -> usize {
    while bytes.get(pos).is_some_and(u8::is_ascii_whitespace) {
        pos += 1;
    }
    pos
}

fn unexpected(text: &str, pos: usize, expected: &'static str) -> SgfError {
    // `pos` only ever advances over ASCII outside values and over whole
    // values, so it sits on a character boundary; '?' is a safe fallback.
    let found = text
        .get(pos..)
        .and_then(|s| s.chars().next())
        .unwrap_or('?');
    SgfError::Unexpected {
        offset: pos,
        found,
        expected,
    }
}

/// Reads `ID[value][value]…` starting at the identifier; returns the
/// property and the offset just after it.
fn read_property(text: &str, mut pos: usize) -> Result<(Property, usize), SgfError> {
    let bytes = text.as_bytes();
    let mut id = String::new();
    while let Some(&b) = bytes.get(pos).filter(|b| b.is_ascii_alphabetic()) {
        // Old FF[1-3] files may pad identifiers with lower-case letters
        // (`AddBlack`); only the upper-case letters carry meaning.
        if b.is_ascii_uppercase() {
            id.push(char::from(b));
        }
        pos += 1;
    }
    let mut values = Vec::new();
    loop {
        let next = skip_whitespace(bytes, pos);
        match bytes.get(next) {
            Some(b'[') => {
                let (value, after) = read_value(text, next)?;
                values.push(value);
                pos = after;
            }
            _ if values.is_empty() => {
                return match bytes.get(next) {
                    None => Err(SgfError::UnexpectedEnd {
                        offset: next,
                        expected: "'[' starting a property value",
                    }),
                    Some(_) => Err(unexpected(text, next, "'[' starting a property value")),
                };
            }
            _ => return Ok((Property { id, values }, pos)),
        }
    }
}

/// Reads one bracketed value starting at its `[`, resolving escapes and
/// soft line breaks; returns the value and the offset after its `]`.
fn read_value(text: &str, open: usize) -> Result<(Value, usize), SgfError> {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::new();
    let mut pos = open + 1;
    loop {
        let Some(&b) = bytes.get(pos) else {
            return Err(SgfError::UnexpectedEnd {
                offset: pos,
                expected: "']' closing a property value",
            });
        };
        match b {
            b']' => break,
            b'\\' => {
                pos += 1;
                match bytes.get(pos) {
                    None => continue,
                    // A soft line break: `\` + any newline sequence vanishes.
                    Some(&first @ (b'\n' | b'\r')) => {
                        pos += 1;
                        let pair = if first == b'\n' { b'\r' } else { b'\n' };
                        if bytes.get(pos) == Some(&pair) {
                            pos += 1;
                        }
                    }
                    Some(&escaped) => {
                        out.push(escaped);
                        pos += 1;
                    }
                }
            }
            _ => {
                out.push(b);
                pos += 1;
            }
        }
    }
    // Only ASCII bytes were dropped, so the bytes are still valid UTF-8;
    // the lossy conversion is just a panic-free way to say so.
    let text = String::from_utf8_lossy(&out).into_owned();
    Ok((Value { text, offset: open }, pos + 1))
}

/// Turns the main line's nodes into a game record.
fn interpret(nodes: &[Node]) -> Result<SgfGame, SgfError> {
    let mut game = SgfGame::new(19, 0.0);
    // Moves are decoded once SZ is known; SZ may follow a move in the root.
    let mut raw_moves: Vec<(Color, &Value, Option<String>)> = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        let is_root = n == 0;
        let comment = node
            .iter()
            .find(|p| p.id == "C")
            .and_then(|p| p.values.first())
            .map(|v| v.text.clone());
        let mut node_has_move = false;
        for property in node {
            let Some(value) = property.values.first() else {
                continue;
            };
            match property.id.as_str() {
                "B" | "W" => {
                    let color = if property.id == "B" {
                        Color::Black
                    } else {
                        Color::White
                    };
                    // The root comment describes the game, not a move.
                    let move_comment = if is_root || node_has_move {
                        None
                    } else {
                        comment.clone()
                    };
                    raw_moves.push((color, value, move_comment));
                    node_has_move = true;
                }
                "SZ" if is_root => game.size = parse_size(value)?,
                "KM" if is_root => game.komi = parse_komi(value)?,
                "GM" if is_root && value.text.trim() != "1" => {
                    return Err(bad_value("GM", value, "not a Go record (GM must be 1)"));
                }
                "RU" if is_root => game.rules = Some(value.text.clone()),
                "PB" if is_root => game.black = Some(value.text.clone()),
                "PW" if is_root => game.white = Some(value.text.clone()),
                "RE" if is_root => game.result = Some(value.text.clone()),
                "DT" if is_root => game.date = Some(value.text.clone()),
                "GN" if is_root => game.game_name = Some(value.text.clone()),
                "C" if is_root => game.root_comment = Some(value.text.clone()),
                _ => {}
            }
        }
    }
    for (color, value, comment) in raw_moves {
        let mv = parse_move(color, value, game.size)?;
        game.moves.push(SgfMove { color, mv, comment });
    }
    Ok(game)
}

fn bad_value(property: &str, value: &Value, reason: impl Into<String>) -> SgfError {
    SgfError::BadValue {
        offset: value.offset,
        property: property.to_string(),
        value: value.text.clone(),
        reason: reason.into(),
    }
}

fn parse_size(value: &Value) -> Result<u8, SgfError> {
    let text = value.text.trim();
    // FF[4] writes rectangular boards as `columns:rows`.
    let (columns, rows) = text.split_once(':').unwrap_or((text, text));
    let reason = format!("board size must be a square of side {MIN_SIZE}..={MAX_SIZE}");
    let columns: u8 = columns
        .trim()
        .parse()
        .map_err(|_| bad_value("SZ", value, reason.clone()))?;
    let rows: u8 = rows
        .trim()
        .parse()
        .map_err(|_| bad_value("SZ", value, reason.clone()))?;
    if columns != rows || !(MIN_SIZE..=MAX_SIZE).contains(&columns) {
        return Err(bad_value("SZ", value, reason));
    }
    Ok(columns)
}

fn parse_komi(value: &Value) -> Result<f32, SgfError> {
    let text = value.text.trim();
    if text.is_empty() {
        return Ok(0.0);
    }
    match text.parse::<f32>() {
        Ok(komi) if komi.is_finite() => Ok(komi),
        _ => Err(bad_value("KM", value, "komi must be a finite number")),
    }
}

fn parse_move(color: Color, value: &Value, size: u8) -> Result<Move, SgfError> {
    let id = if color == Color::Black { "B" } else { "W" };
    let text = value.text.trim();
    if text.is_empty() || (size <= 19 && text == "tt") {
        return Ok(Move::Pass);
    }
    let &[x, y] = text.as_bytes() else {
        return Err(bad_value(
            id,
            value,
            "a move is two letters a..z, or empty for a pass",
        ));
    };
    if !x.is_ascii_lowercase() || !y.is_ascii_lowercase() {
        return Err(bad_value(
            id,
            value,
            "a move is two letters a..z, or empty for a pass",
        ));
    }
    let (x, y) = (x - b'a', y - b'a');
    if x >= size || y >= size {
        return Err(bad_value(
            id,
            value,
            format!("the point is off the {size}x{size} board"),
        ));
    }
    Ok(Move::Play(Point { x, y }))
}

#[cfg(test)]
mod tests;
