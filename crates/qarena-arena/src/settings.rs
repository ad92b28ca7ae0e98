//! Match settings: what a `qarena match` config file holds, also stored as
//! JSON on the run so `--resume` replays under identical conditions.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use qarena_go::GoOpening;
use serde::{Deserialize, Serialize};

/// Which protocol a player speaks: the protocols a match can referee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    #[default]
    Gtp,
    Uci,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Gtp => "gtp",
            Protocol::Uci => "uci",
        }
    }
}

impl From<Protocol> for qarena_store::EngineProtocol {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Gtp => qarena_store::EngineProtocol::Gtp,
            Protocol::Uci => qarena_store::EngineProtocol::Uci,
        }
    }
}

/// One engine: a command template and how to talk to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Short name used in tables and records.
    pub name: String,
    /// Command line; `{model}` and `{config}` are replaced by the values below.
    pub command: String,
    #[serde(default)]
    pub protocol: Protocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<PathBuf>,
    /// Working directory for the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<PathBuf>,
    /// GTP commands sent once after start-up (e.g. `kata-set-param maxVisits 16`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub init: Vec<String>,
    /// UCI options sent with `setoption` (e.g. `Threads = "1"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

impl EngineConfig {
    pub fn from_command(name: &str, command: &str, protocol: Protocol) -> EngineConfig {
        EngineConfig {
            name: name.to_string(),
            command: command.to_string(),
            protocol,
            model: None,
            config: None,
            cwd: None,
            init: Vec::new(),
            options: BTreeMap::new(),
        }
    }

    /// Makes the engine's relative paths (model, config, cwd, and a program
    /// given as `./x` or `../x`) relative to `base`, the config file's folder.
    pub fn resolve_relative(&mut self, base: &std::path::Path) {
        for p in [&mut self.model, &mut self.config, &mut self.cwd]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        self.command = resolve_program(&self.command, base);
    }

    /// Placeholder values for the command template (absolute paths).
    pub fn placeholders(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        if let Some(p) = &self.model {
            m.insert(
                "model".to_string(),
                crate::command::absolute(p).display().to_string(),
            );
        }
        if let Some(p) = &self.config {
            m.insert(
                "config".to_string(),
                crate::command::absolute(p).display().to_string(),
            );
        }
        m
    }
}

/// Rewrites a leading `./prog` or `../prog` of a command line to be
/// relative to `base` (quoted, so a folder with spaces stays one word).
pub fn resolve_program(command: &str, base: &std::path::Path) -> String {
    crate::command::rebase_program(command, base)
}

/// Deadlines, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// From spawn to the first reply.
    #[serde(default = "default_startup")]
    pub startup: f64,
    /// For a move (`genmove` / `go`).
    #[serde(default = "default_move", rename = "move")]
    pub mv: f64,
    /// For every other command.
    #[serde(default = "default_command")]
    pub command: f64,
}

fn default_startup() -> f64 {
    30.0
}
fn default_move() -> f64 {
    60.0
}
fn default_command() -> f64 {
    10.0
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            startup: default_startup(),
            mv: default_move(),
            command: default_command(),
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(if s.is_finite() && s > 0.0 { s } else { 0.001 })
}

impl Timeouts {
    pub fn startup(&self) -> Duration {
        secs(self.startup)
    }
    pub fn mv(&self) -> Duration {
        secs(self.mv)
    }
    pub fn command(&self) -> Duration {
        secs(self.command)
    }
}

/// How a Go game that ends by two passes is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Scoring {
    /// Both engines are asked `final_status_list dead`; stones they agree
    /// are dead are removed before the area count. When they disagree or
    /// cannot say, the referee engine decides, or without one the game is
    /// recorded as disputed.
    #[default]
    DeadStones,
    /// Every stone on the board counts as alive (Tromp-Taylor), for engines
    /// that play every game out.
    Area,
}

impl Scoring {
    pub fn as_str(self) -> &'static str {
        match self {
            Scoring::DeadStones => "dead-stones",
            Scoring::Area => "area",
        }
    }
}

/// Go game settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoSettings {
    #[serde(default = "default_size")]
    pub board_size: u8,
    #[serde(default = "default_komi")]
    pub komi: f32,
    /// Moves (plies) after which the game stops and is scored by area.
    /// 0 means 3 × board points.
    #[serde(default)]
    pub move_cap: u32,
    /// Ask engines that support `kata-genmove_analyze` for their beliefs.
    #[serde(default = "yes")]
    pub self_eval: bool,
    /// Compare qarena's score with the engines' `final_score`.
    #[serde(default = "yes")]
    pub check_final_score: bool,
    /// How games ended by two passes are counted.
    #[serde(default)]
    pub scoring: Scoring,
    /// Command line of a GTP engine that settles dead stones when the two
    /// engines disagree or cannot say (e.g. `gnugo --mode gtp`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referee: Option<String>,
    /// Opening book (one line of GTP vertices per opening, see
    /// [`qarena_go::parse_book`]): both games of a pair start from the same
    /// opening, colours swapped. The empty board when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openings: Option<PathBuf>,
    /// Match seed: which opening each pair plays (a seeded permutation of
    /// the book, every opening once before any repeats).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seed: u64,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

type BookCache = HashMap<(PathBuf, u8), Arc<Vec<GoOpening>>>;

fn book_cache() -> &'static Mutex<BookCache> {
    static CACHE: OnceLock<Mutex<BookCache>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn default_size() -> u8 {
    9
}
fn default_komi() -> f32 {
    7.0
}
fn yes() -> bool {
    true
}

impl Default for GoSettings {
    fn default() -> Self {
        GoSettings {
            board_size: default_size(),
            komi: default_komi(),
            move_cap: 0,
            self_eval: true,
            check_final_score: true,
            scoring: Scoring::default(),
            referee: None,
            openings: None,
            seed: 0,
        }
    }
}

impl GoSettings {
    /// The opening book these settings name, read and checked once per
    /// process; `None` for games from the empty board.
    pub fn load_openings(&self) -> Result<Option<Arc<Vec<GoOpening>>>, qarena_go::BookError> {
        let Some(path) = &self.openings else {
            return Ok(None);
        };
        let key = (path.clone(), self.board_size);
        if let Some(hit) = book_cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Some(Arc::clone(hit)));
        }
        let book = Arc::new(qarena_go::load_book(path, self.board_size)?);
        book_cache()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, Arc::clone(&book));
        Ok(Some(book))
    }

    /// Which opening of a book of `count` game pair `pair_index` plays.
    pub fn opening_index(&self, count: usize, pair_index: u32) -> usize {
        qarena_chess::opening_index(
            count,
            qarena_chess::OpeningOrder::Random,
            self.seed,
            pair_index,
        )
    }

    pub fn effective_move_cap(&self) -> u32 {
        if self.move_cap == 0 {
            3 * u32::from(self.board_size) * u32::from(self.board_size)
        } else {
            self.move_cap
        }
    }
}

/// Everything a match needs; stored on the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    pub engine_a: EngineConfig,
    pub engine_b: EngineConfig,
    #[serde(default = "default_games")]
    pub games: u32,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// How many times each engine slot may be restarted after a fault
    /// before the run stops (exit code 3).
    #[serde(default = "default_restarts")]
    pub restarts: u32,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default)]
    pub go: GoSettings,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chess: Option<crate::chess::ChessSettings>,
    /// Stop early when this sequential test reaches a verdict (games in
    /// progress finish first). Checked on complete pairs (pentanomial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sprt: Option<qarena_stats::SprtParams>,
}

fn default_games() -> u32 {
    20
}
fn default_concurrency() -> usize {
    1
}
fn default_restarts() -> u32 {
    20
}

impl MatchConfig {
    pub fn new(engine_a: EngineConfig, engine_b: EngineConfig) -> MatchConfig {
        MatchConfig {
            engine_a,
            engine_b,
            games: default_games(),
            concurrency: default_concurrency(),
            restarts: default_restarts(),
            timeouts: Timeouts::default(),
            go: GoSettings::default(),
            chess: None,
            sprt: None,
        }
    }

    pub fn protocol(&self) -> Protocol {
        self.engine_a.protocol
    }

    /// Checks what serde cannot: both engines speak the same protocol, sizes
    /// are in range.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.engine_a.protocol != self.engine_b.protocol {
            return Err(ConfigError::MixedProtocols {
                engine_a: self.engine_a.name.clone(),
                protocol_a: self.engine_a.protocol,
                engine_b: self.engine_b.name.clone(),
                protocol_b: self.engine_b.protocol,
            });
        }
        if !(2..=25).contains(&self.go.board_size) {
            return Err(ConfigError::BoardSize(self.go.board_size));
        }
        if let Some(r) = &self.go.referee {
            match crate::command::split_command(r) {
                Ok(argv) if !argv.is_empty() => {}
                Ok(_) => return Err(ConfigError::EmptyReferee),
                Err(reason) => {
                    return Err(ConfigError::Referee {
                        command: r.clone(),
                        reason,
                    })
                }
            }
        }
        if self.protocol() == Protocol::Gtp {
            self.go.load_openings()?;
        }
        if self.games == 0 {
            return Err(ConfigError::NoGames);
        }
        if self.concurrency == 0 {
            return Err(ConfigError::NoConcurrency);
        }
        Ok(())
    }
}

/// Why a match config cannot be played, beyond what serde checks.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "engine '{engine_a}' speaks {} but engine '{engine_b}' speaks {}: both must use the same protocol",
        protocol_a.as_str(),
        protocol_b.as_str()
    )]
    MixedProtocols {
        engine_a: String,
        protocol_a: Protocol,
        engine_b: String,
        protocol_b: Protocol,
    },
    #[error("board size {0} is out of range (2..25)")]
    BoardSize(u8),
    #[error("the referee command is empty")]
    EmptyReferee,
    #[error("referee command `{command}`: {reason}")]
    Referee {
        command: String,
        reason: crate::command::CommandError,
    },
    #[error("games must be at least 1")]
    NoGames,
    #[error("concurrency must be at least 1")]
    NoConcurrency,
    #[error("go.openings: {0}")]
    GoOpenings(#[from] qarena_go::BookError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_the_setting() {
        let engine = |name: &str, p| EngineConfig::from_command(name, "x", p);
        let cfg = MatchConfig::new(engine("a", Protocol::Gtp), engine("b", Protocol::Uci));
        assert_eq!(
            cfg.check().unwrap_err().to_string(),
            "engine 'a' speaks gtp but engine 'b' speaks uci: both must use the same protocol"
        );
        let mut cfg = MatchConfig::new(engine("a", Protocol::Gtp), engine("b", Protocol::Gtp));
        assert!(cfg.check().is_ok());
        cfg.go.board_size = 26;
        assert_eq!(
            cfg.check().unwrap_err().to_string(),
            "board size 26 is out of range (2..25)"
        );
        cfg.go.board_size = 9;
        cfg.go.referee = Some("gnugo 'open".to_string());
        let referee = cfg.check().unwrap_err().to_string();
        assert!(
            referee.starts_with("referee command `gnugo 'open`: "),
            "{referee}"
        );
        cfg.go.referee = None;
        cfg.games = 0;
        assert_eq!(
            cfg.check().unwrap_err().to_string(),
            "games must be at least 1"
        );
    }
}
