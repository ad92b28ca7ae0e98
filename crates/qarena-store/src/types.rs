//! Ids, vocabularies and the plain data types that go in and out of the
//! store. Inputs are `New*` structs; outputs are `*Record` structs with every
//! column parsed (JSON columns as `serde_json::Value` or typed vectors).

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.0))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                i64::column_result(value).map($name)
            }
        }
    };
}

id_type!(
    /// Row id of a run.
    RunId
);
id_type!(
    /// Row id of a game.
    GameId
);
id_type!(
    /// Row id of an engine (one slot of one run).
    EngineId
);
id_type!(
    /// Row id of a model file, keyed by content hash.
    ModelId
);
id_type!(
    /// Row id of a quantization strategy, keyed by content hash.
    StrategyId
);
id_type!(
    /// Row id of a variant (a strategy applied to a model).
    VariantId
);
id_type!(
    /// Row id of a sweep.
    SweepId
);
id_type!(
    /// Row id of one point of a sweep.
    SweepPointId
);
id_type!(
    /// Row id of a judge run.
    JudgeRunId
);
id_type!(
    /// Row id of a stored probe.
    ProbeId
);
id_type!(
    /// Row id of a language-model evaluation.
    LlmEvalId
);
id_type!(
    /// Row id of an evolution.
    EvolutionId
);
id_type!(
    /// Row id of a genome.
    GenomeId
);

/// A string that is not one of an enum's spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}' (expected one of: {expected})")]
pub struct UnknownValue {
    pub what: &'static str,
    pub value: String,
    pub expected: &'static str,
}

macro_rules! str_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $s)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The spelling stored in the database and shown to users.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $s),+
                }
            }

            /// The inverse of [`Self::as_str`].
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($s => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                $name::parse(s).ok_or_else(|| UnknownValue {
                    what: $what,
                    value: s.to_string(),
                    expected: concat!($($s, ", "),+).trim_end_matches(", "),
                })
            }
        }

        /// Compares with the stored spelling (for checks against what SQL,
        /// notebooks and exports see).
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let s = value.as_str()?;
                s.parse().map_err(|e: UnknownValue| FromSqlError::Other(Box::new(e)))
            }
        }
    };
}

str_enum!(
    /// Lifecycle of a run. Only `running` is non-terminal.
    RunStatus, "run status" {
        Running = "running",
        Completed = "completed",
        Failed = "failed",
        /// Stopped by a signal or by the user; can be resumed.
        Interrupted = "interrupted",
    }
);

impl RunStatus {
    /// Terminal states get a `finished_at` timestamp.
    pub fn is_terminal(self) -> bool {
        self != RunStatus::Running
    }
}

str_enum!(
    /// What an event row reports.
    EventKind, "event kind" {
        Warning = "warning",
        Timeout = "timeout",
        Restart = "restart",
        Crash = "crash",
        BadResponse = "bad_response",
        IllegalMove = "illegal_move",
        ScoreMismatch = "score_mismatch",
        Interrupted = "interrupted",
        Error = "error",
    }
);

str_enum!(
    /// How a Go game's result was counted.
    ScoringMethod, "scoring method" {
        /// Every stone on the board counted as alive: the `area` scoring
        /// option, a game stopped by the move cap, or no party could name
        /// dead stones.
        Area = "area",
        /// Both engines named the same dead stones; they were removed.
        Agreed = "agreed",
        /// The engines disagreed or could not say; the referee engine's dead
        /// stones were removed.
        Referee = "referee",
        /// The engines disagreed or could not say and no referee settled it;
        /// the claims hold every candidate result.
        Disputed = "disputed",
    }
);

str_enum!(
    /// Why a game ended. Stored per game as its snake_case name.
    Termination, "termination" {
        /// An engine resigned.
        Resign = "resign",
        /// Go: two consecutive passes; scored by area.
        TwoPasses = "two_passes",
        /// The move cap was reached; Go scores by area, chess adjudicates a draw.
        MoveCap = "move_cap",
        /// An engine played a move the rules forbid; it loses.
        IllegalMove = "illegal_move",
        /// An engine missed a deadline; it loses.
        Timeout = "timeout",
        /// An engine process exited; it loses.
        EngineCrash = "engine_crash",
        /// An engine answered something unparseable; it loses.
        BadResponse = "bad_response",
        /// The run was interrupted; the game has no result and is replayed on resume.
        Aborted = "aborted",
        Checkmate = "checkmate",
        Stalemate = "stalemate",
        Repetition = "repetition",
        FiftyMoves = "fifty_moves",
        InsufficientMaterial = "insufficient_material",
        /// Chess resign adjudication (both engines agreed on a lost score).
        AdjudicatedResign = "adjudicated_resign",
        /// Chess draw adjudication (scores near zero for long enough).
        AdjudicatedDraw = "adjudicated_draw",
        /// A chess clock ran out.
        TimeForfeit = "time_forfeit",
    }
);

impl Termination {
    /// True when the game ended because an engine misbehaved.
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            Termination::IllegalMove
                | Termination::Timeout
                | Termination::EngineCrash
                | Termination::BadResponse
        )
    }
}

str_enum!(
    /// Which engine of a match: A (usually the variant under test) or B
    /// (the baseline). A game's winner is a slot.
    Slot, "slot" {
        A = "a",
        B = "b",
    }
);

impl Slot {
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    pub fn index(self) -> usize {
        match self {
            Slot::A => 0,
            Slot::B => 1,
        }
    }
}

str_enum!(
    /// How qarena talks to a stored engine: the players' protocols and the
    /// Go judge's analysis engine.
    EngineProtocol, "protocol" {
        Gtp = "gtp",
        Uci = "uci",
        KatagoAnalysis = "katago-analysis",
    }
);

str_enum!(
    /// The text format of a stored game record.
    RecordFormat, "record format" {
        Sgf = "sgf",
        Pgn = "pgn",
    }
);

str_enum!(
    /// What created a run.
    RunKind, "run kind" {
        Match = "match",
        Sweep = "sweep",
        Demo = "demo",
        /// An experiment of `qarena llm kv-sweep` (no games; its
        /// evaluations are in `llm_evals`).
        KvSweep = "kv-sweep",
    }
);

str_enum!(
    /// The side that played a stored move, spelled as its game writes it:
    /// upper case for Go (SGF's `B`/`W`), lower case for chess (FEN's `w`/`b`).
    MoveColor, "move colour" {
        Black = "B",
        White = "W",
        ChessWhite = "w",
        ChessBlack = "b",
    }
);

/// The engine of a run a row belongs to: a player of a match (`a`, `b`),
/// a player of sweep point `i` (`a<i>`, `b<i>`; each point has its own
/// pair of engines), or the judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineSlot {
    Player(Slot),
    PointPlayer(Slot, u32),
    Judge,
}

impl EngineSlot {
    /// The match slot of a player, `None` for the judge.
    pub fn player(self) -> Option<Slot> {
        match self {
            EngineSlot::Player(s) | EngineSlot::PointPlayer(s, _) => Some(s),
            EngineSlot::Judge => None,
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<EngineSlot> {
        if s == "judge" {
            return Some(EngineSlot::Judge);
        }
        let side = Slot::parse(s.get(..1)?)?;
        let rest = &s[1..];
        if rest.is_empty() {
            return Some(EngineSlot::Player(side));
        }
        if !rest.bytes().all(|b| b.is_ascii_digit()) || (rest.len() > 1 && rest.starts_with('0')) {
            return None;
        }
        rest.parse().ok().map(|i| EngineSlot::PointPlayer(side, i))
    }
}

impl fmt::Display for EngineSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineSlot::Player(s) => f.write_str(s.as_str()),
            EngineSlot::PointPlayer(s, i) => write!(f, "{}{i}", s.as_str()),
            EngineSlot::Judge => f.write_str("judge"),
        }
    }
}

/// Compares with the stored spelling.
impl PartialEq<&str> for EngineSlot {
    fn eq(&self, other: &&str) -> bool {
        EngineSlot::parse(other) == Some(*self)
    }
}

impl FromStr for EngineSlot {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, UnknownValue> {
        EngineSlot::parse(s).ok_or_else(|| UnknownValue {
            what: "engine slot",
            value: s.to_string(),
            expected: "a, b, a<point>, b<point>, judge",
        })
    }
}

impl Serialize for EngineSlot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EngineSlot {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl ToSql for EngineSlot {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.to_string()))
    }
}

impl FromSql for EngineSlot {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let s = value.as_str()?;
        s.parse()
            .map_err(|e: UnknownValue| FromSqlError::Other(Box::new(e)))
    }
}

/// The current UTC time as RFC 3339 with exactly three fractional digits,
/// e.g. `2024-05-01T12:00:00.000Z`. The fixed width makes stored timestamps
/// sort correctly as text.
#[expect(
    clippy::expect_used,
    reason = "the format description is static and valid, and a UTC date-time always formats"
)]
pub fn now_rfc3339() -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(FORMAT)
        // Formatting a complete UTC date-time into a String with a static,
        // valid description has no failure path left.
        .expect("formatting the current time cannot fail")
}

// ---------------------------------------------------------------- runs

/// A run to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewRun {
    pub tag: String,
    pub kind: RunKind,
    pub argv: Vec<String>,
    pub settings: serde_json::Value,
    pub software_version: String,
}

/// A stored run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: RunId,
    pub tag: String,
    pub kind: RunKind,
    pub created_at: String,
    pub argv: Vec<String>,
    pub settings: serde_json::Value,
    pub software_version: String,
    pub status: RunStatus,
    pub finished_at: Option<String>,
    pub notes: Option<String>,
}

/// A run with row counts, for listings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub run: RunRecord,
    pub games: i64,
    pub events: i64,
}

// ---------------------------------------------------------------- engines

/// An engine slot of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEngine {
    pub run: RunId,
    pub slot: EngineSlot,
    pub label: String,
    /// The argv the process was started with.
    pub command: Vec<String>,
    pub protocol: EngineProtocol,
    /// Name and version as the engine reports them.
    pub name: Option<String>,
    pub version: Option<String>,
    pub model_path: Option<String>,
    pub model_sha256: Option<String>,
}

/// A stored engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineRecord {
    pub id: EngineId,
    pub run: RunId,
    pub slot: EngineSlot,
    pub label: String,
    pub command: Vec<String>,
    pub protocol: EngineProtocol,
    pub name: Option<String>,
    pub version: Option<String>,
    pub model_path: Option<String>,
    pub model_sha256: Option<String>,
    pub variant: Option<VariantId>,
}

// ---------------------------------------------------------------- games

/// A finished (or aborted) game with its moves and self-evaluations, written
/// in one transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewGame {
    pub run: RunId,
    /// Which sweep point the game belongs to; 0 outside sweeps.
    pub point_index: i64,
    pub game_index: i64,
    /// Games sharing an opening with colours swapped share a pair index.
    pub pair_index: Option<i64>,
    pub opening: Option<String>,
    pub seed: Option<i64>,
    /// For chess, black/white mean the same colours.
    pub black_engine: EngineId,
    pub white_engine: EngineId,
    /// `B+3.5`, `W+R`, `1-0`, `0-1`, `1/2-1/2`, `0`; `None` if aborted.
    pub result: Option<String>,
    /// Slot of the winner; `None` for a draw or no result.
    pub winner: Option<Slot>,
    pub score: Option<f64>,
    pub termination: Termination,
    /// SGF or PGN text.
    pub record: String,
    pub record_format: RecordFormat,
    pub started_at: String,
    pub ended_at: String,
    pub duration_ms: i64,
    pub variant_params: Option<serde_json::Value>,
    pub settings: Option<serde_json::Value>,
    pub moves: Vec<NewMove>,
    pub self_evals: Vec<NewSelfEval>,
    /// What each engine process cost during the game (`game_costs`).
    pub costs: Vec<NewGameCost>,
}

/// One engine process's cost during one game: CPU seconds used between the
/// game's start and end, and its peak resident memory so far at the end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewGameCost {
    pub engine: EngineId,
    pub cpu_seconds: Option<f64>,
    pub peak_rss_bytes: Option<i64>,
}

/// How a Go game was counted; written with the game by
/// `Store::insert_game_scored` and read back on its record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameScoring {
    pub method: ScoringMethod,
    /// Stones removed as dead before the area count, as GTP vertices
    /// (stored space-separated; empty when none). `None` when no count was
    /// applied (a dispute whose candidates name different winners).
    pub dead_stones: Option<Vec<String>>,
    /// What each party claimed, as JSON keyed by `a`, `b` and `referee`:
    /// `{"dead": [vertices], "result": "B+3"}` or `{"unknown": "why"}`.
    pub claims: Option<serde_json::Value>,
}

/// One move of a game.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewMove {
    pub ply: i64,
    pub color: MoveColor,
    pub mv: String,
    pub time_ms: i64,
}

/// What the engine to move believed at that ply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSelfEval {
    pub ply: i64,
    pub engine: EngineId,
    pub winrate: Option<f64>,
    pub score_lead: Option<f64>,
    pub score_cp: Option<i64>,
    pub mate: Option<i64>,
    pub depth: Option<i64>,
    pub nodes: Option<i64>,
    pub visits: Option<i64>,
    pub time_ms: Option<i64>,
    pub pv: Option<String>,
    pub top_k: Option<serde_json::Value>,
}

/// A stored game (without moves; see `Store::game_moves`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GameRecord {
    pub id: GameId,
    pub run: RunId,
    pub point_index: i64,
    pub game_index: i64,
    pub pair_index: Option<i64>,
    pub opening: Option<String>,
    pub seed: Option<i64>,
    pub black_engine: EngineId,
    pub white_engine: EngineId,
    pub result: Option<String>,
    pub winner: Option<Slot>,
    pub score: Option<f64>,
    pub termination: Termination,
    pub move_count: i64,
    pub record: String,
    pub record_format: RecordFormat,
    pub started_at: String,
    pub ended_at: String,
    pub duration_ms: i64,
    pub variant_params: Option<serde_json::Value>,
    pub settings: Option<serde_json::Value>,
    /// Go games ended by passes or the move cap: how they were counted.
    pub scoring: Option<GameScoring>,
}

impl GameRecord {
    /// The result for slot A: `None` for an aborted game.
    pub fn outcome_of_a(&self) -> Option<qarena_stats::Outcome> {
        use qarena_stats::Outcome;
        if self.termination == Termination::Aborted {
            return None;
        }
        Some(match self.winner {
            Some(Slot::A) => Outcome::Win,
            Some(Slot::B) => Outcome::Loss,
            None => Outcome::Draw,
        })
    }
}

/// Counts stored games into a tally: finished games by their result for
/// slot A, with their pair index; aborted games apart.
pub fn tally_games<'a>(games: impl IntoIterator<Item = &'a GameRecord>) -> qarena_stats::Tally {
    let mut t = qarena_stats::Tally::new();
    for g in games {
        match g.outcome_of_a() {
            Some(o) => t.add(o, g.pair_index),
            None => t.add_aborted(),
        }
    }
    t
}

/// A stored move.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveRecord {
    pub game: GameId,
    pub ply: i64,
    pub color: MoveColor,
    pub mv: String,
    pub time_ms: i64,
}

/// A stored self-evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelfEvalRecord {
    pub game: GameId,
    pub ply: i64,
    pub engine: EngineId,
    pub winrate: Option<f64>,
    pub score_lead: Option<f64>,
    pub score_cp: Option<i64>,
    pub mate: Option<i64>,
    pub depth: Option<i64>,
    pub nodes: Option<i64>,
    pub visits: Option<i64>,
    pub time_ms: Option<i64>,
    pub pv: Option<String>,
    pub top_k: Option<serde_json::Value>,
}

// ---------------------------------------------------------------- events

/// Something worth keeping that is not a game: a timeout, a restart, a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEvent {
    pub run: RunId,
    pub game_index: Option<i64>,
    pub engine: Option<EngineId>,
    pub kind: EventKind,
    pub message: String,
    pub stderr_tail: Option<String>,
}

/// A stored event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: i64,
    pub run: RunId,
    pub game_index: Option<i64>,
    pub engine: Option<EngineId>,
    pub at: String,
    pub kind: EventKind,
    pub message: String,
    pub stderr_tail: Option<String>,
}

// ---------------------------------------------------------------- catalogue

/// A stored model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRecord {
    pub id: ModelId,
    pub path: String,
    pub sha256: String,
    pub format: String,
    pub bytes: i64,
    pub created_at: String,
}

/// A stored strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StrategyRecord {
    pub id: StrategyId,
    pub name: String,
    pub toml: String,
    pub sha256: String,
}

/// A variant to store (or refresh) for a (model, strategy) pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewVariant {
    pub model: ModelId,
    pub strategy: StrategyId,
    pub path: String,
    pub sha256: String,
    pub manifest: serde_json::Value,
    pub effective_bits: Option<f64>,
    pub bytes: Option<i64>,
}

/// A stored variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRecord {
    pub id: VariantId,
    pub model: ModelId,
    pub strategy: StrategyId,
    pub path: String,
    pub sha256: String,
    pub manifest: serde_json::Value,
    pub effective_bits: Option<f64>,
    pub bytes: Option<i64>,
    pub created_at: String,
}

/// A stored sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepRecord {
    pub id: SweepId,
    pub run: RunId,
    pub name: String,
    pub definition: serde_json::Value,
}

/// A sweep point to store (or refresh).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewSweepPoint {
    pub sweep: SweepId,
    pub point_index: i64,
    pub label: String,
    pub variant: Option<VariantId>,
    pub params: serde_json::Value,
}

/// A stored sweep point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepPointRecord {
    pub id: SweepPointId,
    pub sweep: SweepId,
    pub point_index: i64,
    pub label: String,
    pub variant: Option<VariantId>,
    pub params: serde_json::Value,
}

// ---------------------------------------------------------------- judge

/// A stored judge run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeRunRecord {
    pub id: JudgeRunId,
    pub run: RunId,
    pub engine: EngineId,
    pub settings: serde_json::Value,
    pub created_at: String,
}

/// The judge's verdict on one played move. Losses are from the mover's view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeMove {
    pub game: GameId,
    pub ply: i64,
    pub before_winrate: Option<f64>,
    pub after_winrate: Option<f64>,
    pub before_score: Option<f64>,
    pub after_score: Option<f64>,
    pub best_move: Option<String>,
    pub loss_winrate: Option<f64>,
    pub loss_score: Option<f64>,
    pub loss_cp: Option<i64>,
    pub blunder: bool,
    pub top_k: Option<serde_json::Value>,
}

// ---------------------------------------------------------------- shards

/// Shard `index` of `count` (`K/N` on the command line): a deterministic
/// part of a run's work. Games go by colour-swapped pair, so a pair is
/// never split: pair `q` of point `p` belongs to shard `(p + q) mod N`,
/// which spreads every point's pairs round-robin over the shards. Judge
/// work goes by game the same way, with the game index for `q`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Largest shard count accepted.
    pub const MAX_COUNT: u32 = 100_000;

    /// Whether unit `unit` (a pair or game index) of point `point` is this
    /// shard's.
    pub fn owns(&self, point: i64, unit: i64) -> bool {
        (point.rem_euclid(i64::from(self.count)) + unit.rem_euclid(i64::from(self.count)))
            % i64::from(self.count)
            == i64::from(self.index)
    }

    /// The shard a stored run was started as (`"shard"` in its settings),
    /// `None` for an unsharded run.
    pub fn of_run_settings(settings: &serde_json::Value) -> Option<Shard> {
        settings
            .get(crate::SHARD_KEY)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The shard a resume of run `tag` plays: the one it was started as
    /// (`stored`). A shard asked for on the resume must be that one; the
    /// error says which it was.
    pub fn for_resume(
        requested: Option<Shard>,
        stored: Option<Shard>,
        tag: &str,
    ) -> std::result::Result<Option<Shard>, String> {
        if requested.is_some() && requested != stored {
            return Err(format!(
                "run '{tag}' was started as shard {}; resume it without --shard or with the same one",
                stored.map_or_else(|| "none (unsharded)".to_string(), |s| s.to_string())
            ));
        }
        Ok(stored)
    }

    /// Whether game `game_index` of point `point` is this shard's: its
    /// colour-swapped pair is.
    pub fn owns_game(&self, point: i64, game_index: i64) -> bool {
        self.owns(point, game_index.div_euclid(2))
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Shard, String> {
        let bad = || {
            format!(
                "shard `{s}` is not K/N with 0 <= K < N <= {} (e.g. 0/4 … 3/4)",
                Shard::MAX_COUNT
            )
        };
        let (k, n) = s.trim().split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || count > Shard::MAX_COUNT || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod shard_tests {
    #![allow(clippy::unwrap_used)] // test code
    use super::Shard;

    #[test]
    fn shards_parse_and_partition_pairs_without_overlap_or_gaps() {
        for bad in ["", "1", "4/4", "-1/4", "0/0", "a/b", "1/2/3", "0/100001"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let n = 4;
        let shards: Vec<Shard> = (0..n)
            .map(|k| format!("{k}/{n}").parse().unwrap())
            .collect();
        assert_eq!(shards[3].to_string(), "3/4");
        let mut per_shard = [0usize; 4];
        for point in [0i64, 1, 7, 100_003] {
            for game in 0..40i64 {
                let owners: Vec<usize> = (0..4)
                    .filter(|&k| shards[k].owns_game(point, game))
                    .collect();
                assert_eq!(owners.len(), 1, "point {point} game {game}");
                // Both games of a pair go to the same shard.
                assert!(shards[owners[0]].owns_game(point, game ^ 1));
                per_shard[owners[0]] += 1;
            }
        }
        // Every point's 20 pairs spread round-robin: 5 per shard.
        assert!(per_shard.iter().all(|&c| c == 40), "{per_shard:?}");
    }
}
