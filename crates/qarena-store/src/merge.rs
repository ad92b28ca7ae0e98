//! Merging shard databases into one (`qarena merge OUT SHARD...`).
//!
//! A run split with `--shard K/N` is played into N databases: each holds
//! the run under the same tag, with settings that differ only in their
//! `"shard": {"index": K, "count": N}`, and the games of its share under
//! their global `(point_index, game_index)`. [`Store::merge_shard`] copies
//! one such database into this one; [`Store::merge_coverage`] then says
//! which shards and games of a run are still missing.
//!
//! Invariants:
//! - One shard is merged in one `BEGIN IMMEDIATE` transaction: a conflict
//!   or failure leaves nothing of that shard written (shards merged before
//!   stay merged), so an interrupted merge is simply run again.
//! - Rows are matched by their natural keys, never by row id: runs by tag,
//!   engines by (run, slot), games by (run, point, index), models and
//!   strategies by sha256, variants by (model, strategy), sweeps by (run,
//!   name) and their points by index, probes by their key (see
//!   `probes.rs`), judge runs by (run, judge identity), events by (run,
//!   game, engine, time, kind, message). Every id is remapped.
//! - Merging is idempotent: a row already present is kept (and compared
//!   where a difference means two shards disagree), never written twice.
//! - A game present on both sides must agree on result, winner,
//!   termination, colours and every move; anything else is refused naming
//!   the shard, run and game. An aborted game (no result, replayed on
//!   resume) gives way to the finished game of the same key.
//! - The merged run has no `"shard"` key: it records the shards it holds
//!   as `"merged_shards": {"count": N, "indices": [...]}`, so a later merge
//!   (of the missing shards, or of this database into another) knows.
//! - Evolutions are refused: their players are named by genome row ids,
//!   which a merge would have to rewrite. A sharded evolution's shards
//!   hold only probes (`evolve run --shard`), and its gather step makes
//!   the genomes again from them.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{json_text, JudgeRunId, Result, RunKind, RunStatus, Store, StoreError};

/// The settings key a shard's run carries.
pub const SHARD_KEY: &str = "shard";
/// The settings key a merged run carries instead.
pub const MERGED_SHARDS_KEY: &str = "merged_shards";

/// Sweeps store anchor matches as point `ANCHOR_POINTS * (k + 1) + i`
/// (`qarena-sweep`); the expected games of a sweep follow that numbering.
const ANCHOR_POINTS: i64 = 100_000;

/// Defaults of the stored match and sweep settings when a key is absent
/// (`MatchConfig::games`, `SweepDef::games`, `SweepDef::anchor_games`).
const DEFAULT_GAMES: u64 = 20;

/// What every table of the schema becomes in a merge: the columns it
/// copies, or why it is not merged. A unit test holds this list against
/// the schema, so a migration that adds a table or column cannot be
/// forgotten here.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const TABLES: &[(&str, Handling)] = &[
    (
        "runs",
        Handling::Columns(&[
            "id",
            "tag",
            "kind",
            "created_at",
            "argv",
            "settings",
            "software_version",
            "status",
            "finished_at",
            "notes",
        ]),
    ),
    (
        "models",
        Handling::Columns(&["id", "path", "sha256", "format", "bytes", "created_at"]),
    ),
    (
        "strategies",
        Handling::Columns(&["id", "name", "toml", "sha256"]),
    ),
    (
        "variants",
        Handling::Columns(&[
            "id",
            "model_id",
            "strategy_id",
            "path",
            "sha256",
            "manifest",
            "effective_bits",
            "bytes",
            "created_at",
        ]),
    ),
    (
        "engines",
        Handling::Columns(&[
            "id",
            "run_id",
            "slot",
            "label",
            "command",
            "protocol",
            "name",
            "version",
            "model_path",
            "model_sha256",
            "variant_id",
        ]),
    ),
    ("games", Handling::Columns(GAME_COLUMNS)),
    ("moves", Handling::Columns(MOVE_COLUMNS)),
    ("self_evals", Handling::Columns(SELF_EVAL_COLUMNS)),
    ("game_costs", Handling::Columns(COST_COLUMNS)),
    (
        "events",
        Handling::Columns(&[
            "id",
            "run_id",
            "game_index",
            "engine_id",
            "at",
            "kind",
            "message",
            "stderr_tail",
        ]),
    ),
    (
        "sweeps",
        Handling::Columns(&["id", "run_id", "name", "definition"]),
    ),
    (
        "sweep_points",
        Handling::Columns(&[
            "id",
            "sweep_id",
            "point_index",
            "label",
            "variant_id",
            "params",
        ]),
    ),
    (
        "judge_runs",
        Handling::Columns(&["id", "run_id", "engine_id", "settings", "created_at"]),
    ),
    ("judge_moves", Handling::Columns(JUDGE_MOVE_COLUMNS)),
    (
        "probes",
        Handling::Columns(&[
            "id",
            "probe",
            "subject_sha256",
            "reference_sha256",
            "suite_sha256",
            "settings",
            "suite_name",
            "variant_id",
            "positions",
            "primary_metric",
            "metrics",
            "noise_floor",
            "seconds",
            "created_at",
        ]),
    ),
    (
        "probe_positions",
        Handling::Columns(&["probe_id", "position", "metrics"]),
    ),
    ("evolutions", Handling::Refused),
    ("genomes", Handling::Refused),
    ("evolution_matches", Handling::Refused),
    ("evolution_checks", Handling::Refused),
    ("llm_evals", Handling::Refused),
    ("llm_eval_items", Handling::Refused),
    ("kv_stats", Handling::Refused),
    ("teacher_caches", Handling::OwnOnly),
    ("schema_migrations", Handling::OwnOnly),
];

/// What a merge does with one table.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Handling {
    /// Copied, with these columns (every column of the table).
    Columns(#[cfg_attr(not(test), allow(dead_code))] &'static [&'static str]),
    /// A shard with rows in it is refused.
    Refused,
    /// Each database keeps its own (the migration history).
    OwnOnly,
}

const GAME_COLUMNS: &[&str] = &[
    "id",
    "run_id",
    "point_index",
    "game_index",
    "pair_index",
    "opening",
    "seed",
    "black_engine_id",
    "white_engine_id",
    "result",
    "winner",
    "score",
    "termination",
    "move_count",
    "record",
    "record_format",
    "started_at",
    "ended_at",
    "duration_ms",
    "variant_params",
    "settings",
    "scoring",
    "dead_stones",
    "scoring_claims",
];
const MOVE_COLUMNS: &[&str] = &["game_id", "ply", "color", "mv", "time_ms"];
const SELF_EVAL_COLUMNS: &[&str] = &[
    "game_id",
    "ply",
    "engine_id",
    "winrate",
    "score_lead",
    "score_cp",
    "mate",
    "depth",
    "nodes",
    "visits",
    "time_ms",
    "pv",
    "top_k",
];
const COST_COLUMNS: &[&str] = &["game_id", "engine_id", "cpu_seconds", "peak_rss_bytes"];
const JUDGE_MOVE_COLUMNS: &[&str] = &[
    "judge_run_id",
    "game_id",
    "ply",
    "before_winrate",
    "after_winrate",
    "before_score",
    "after_score",
    "best_move",
    "loss_winrate",
    "loss_score",
    "loss_cp",
    "blunder",
    "top_k",
];

/// The shards of one run (or judge run) a database holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSet {
    /// N: how many shards the run was split into.
    pub count: u32,
    /// The indices (0-based, below `count`) present.
    pub indices: BTreeSet<u32>,
}

impl ShardSet {
    /// The shard indices below `count` not present, in order.
    pub fn missing(&self) -> Vec<u32> {
        (0..self.count)
            .filter(|i| !self.indices.contains(i))
            .collect()
    }

    /// Reads the shards a settings object stands for: `"shard"` (one shard
    /// of a run) or `"merged_shards"` (a merge); `Ok(None)` for a run that
    /// was never sharded.
    pub fn of_settings(settings: &Value) -> Result<Option<ShardSet>, String> {
        if let Some(s) = settings.get(SHARD_KEY) {
            let field = |name: &str| {
                s.get(name)
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok())
                    .ok_or_else(|| format!("its settings' \"shard\" has no valid \"{name}\": {s}"))
            };
            let (index, count) = (field("index")?, field("count")?);
            if index >= count {
                return Err(format!(
                    "its settings name shard {index} of {count}, but shards are numbered 0..{count}"
                ));
            }
            return Ok(Some(ShardSet {
                count,
                indices: BTreeSet::from([index]),
            }));
        }
        if let Some(m) = settings.get(MERGED_SHARDS_KEY) {
            let set: ShardSet = serde_json::from_value(m.clone())
                .map_err(|e| format!("its settings' \"merged_shards\" is unreadable ({e}): {m}"))?;
            if let Some(bad) = set.indices.iter().find(|i| **i >= set.count) {
                return Err(format!(
                    "its settings' \"merged_shards\" names shard {bad} of {}",
                    set.count
                ));
            }
            return Ok(Some(set));
        }
        Ok(None)
    }

    /// `"index/count"` for one shard, `"indices of count"` otherwise.
    pub fn describe(&self) -> String {
        let list = self
            .indices
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(",");
        if self.indices.len() == 1 {
            format!("shard {list}/{}", self.count)
        } else {
            format!("shards {list} of {}", self.count)
        }
    }
}

/// The settings of a run (or judge run) without its shard bookkeeping:
/// what the shards of one run must share.
pub fn definition_of(settings: &Value) -> Value {
    let mut def = settings.clone();
    if let Some(o) = def.as_object_mut() {
        o.remove(SHARD_KEY);
        o.remove(MERGED_SHARDS_KEY);
    }
    def
}

/// What merging one shard database did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardMerge {
    /// The shard database.
    pub shard: PathBuf,
    /// Its runs, in its own order.
    pub runs: Vec<RunMerge>,
    /// Catalogue rows written (rows already present are not counted).
    pub models_new: u64,
    pub strategies_new: u64,
    pub variants_new: u64,
    pub sweep_points_new: u64,
    pub probes_new: u64,
    /// Aborted games of the merged database replaced by the shard's
    /// finished game of the same key.
    pub aborted_replaced: u64,
}

impl ShardMerge {
    /// Games written by this merge, over all runs.
    pub fn games_new(&self) -> u64 {
        self.runs.iter().map(|r| r.games_new).sum()
    }

    /// Games of the shard the merged database already had, over all runs.
    pub fn games_present(&self) -> u64 {
        self.runs.iter().map(|r| r.games_present).sum()
    }
}

/// One run of a shard database, merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMerge {
    pub tag: String,
    pub kind: RunKind,
    /// The shards this database held of the run (`None`: not sharded).
    pub shards: Option<ShardSet>,
    /// The run did not exist in the merged database before.
    pub created: bool,
    pub games_new: u64,
    pub games_present: u64,
    pub events_new: u64,
    pub judge_runs_new: u64,
    pub judge_moves_new: u64,
}

/// How many games a run should have, when its stored settings say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ExpectedGames {
    /// Every `(point_index, game_index)` the run plays, counted.
    Known(u64),
    /// Why the settings do not say.
    Unknown(String),
}

/// A run of the merged database: the shards it holds and the games it
/// still lacks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunCoverage {
    pub tag: String,
    pub kind: RunKind,
    /// `None`: the run was never sharded.
    pub shards: Option<ShardSet>,
    /// Shard indices below the count not merged yet.
    pub missing_shards: Vec<u32>,
    /// Finished games stored.
    pub games: u64,
    /// Aborted games stored (no result; replayed on resume).
    pub aborted: u64,
    pub expected: ExpectedGames,
    /// Expected `(point_index, game_index)` keys without a finished game
    /// (empty when the expected set is unknown).
    pub missing_games: Vec<(i64, i64)>,
    /// Judge runs of this run that were sharded.
    pub judges: Vec<JudgeShards>,
}

/// A sharded judge run of a merged run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgeShards {
    pub judge_run: JudgeRunId,
    pub shards: ShardSet,
    pub missing_shards: Vec<u32>,
}

/// Turns SQLite errors of a merge into store errors naming the output.
trait Sql<T> {
    fn sql(self, store: &Store) -> Result<T>;
}

impl<T> Sql<T> for rusqlite::Result<T> {
    fn sql(self, store: &Store) -> Result<T> {
        self.map_err(|e| store.sql_error("merging a shard", e))
    }
}

/// The page cache of a merge, in KiB as SQLite counts it (negative).
const MERGE_CACHE_KIB: i64 = -256 * 1024;

/// The name the shard database is attached under.
const SHARD_SCHEMA: &str = "merge_shard";

impl Store {
    /// Merges the shard database at `shard` into this one, in one
    /// transaction: its runs, engines, games with moves, self-evaluations
    /// and costs, events, catalogue, probes and judge runs with verdicts.
    /// The shard is opened read-only and never changed.
    ///
    /// Refused with nothing written: a missing or unreadable file, another
    /// schema version, this database itself, a database holding evolutions
    /// ([`StoreError::MergeRefused`]); a run of another definition
    /// ([`StoreError::MergeDefinition`]); an engine slot holding another
    /// engine ([`StoreError::MergeEngineConflict`]); a game whose content
    /// differs ([`StoreError::MergeGameConflict`]).
    pub fn merge_shard(&self, shard: &Path) -> Result<ShardMerge> {
        let refuse = |reason: String| StoreError::MergeRefused {
            path: self.path_buf(),
            shard: shard.to_path_buf(),
            reason,
        };
        let meta = std::fs::metadata(shard).map_err(|e| refuse(format!("cannot read it: {e}")))?;
        if !meta.is_file() {
            return Err(refuse("it is not a file".into()));
        }
        if let (Ok(a), Ok(b)) = (
            std::fs::canonicalize(shard),
            std::fs::canonicalize(self.path()),
        ) {
            if a == b {
                return Err(refuse("it is the output database itself".into()));
            }
        }
        let uri = read_only_uri(shard)
            .ok_or_else(|| refuse("its path is not valid UTF-8; rename or move it first".into()))?;

        let mut conn = self.conn();
        let cache_size: i64 = conn
            .pragma_query_value(None, "cache_size", |r| r.get(0))
            .sql(self)?;
        // ATTACH and the foreign-key switch cannot run inside a transaction;
        // both are undone below whatever the outcome, so the shared
        // connection is left as it was.
        conn.execute("ATTACH DATABASE ?1 AS merge_shard", [&uri])
            .map_err(|e| refuse(format!("cannot open it: {e}")))?;
        let outcome = (|| {
            // Every row a merge writes references a row it has just matched or
            // written (its joins drop anything unmapped), so SQLite's per-row
            // foreign-key checks would only repeat what the joins guarantee, at
            // half the merge's time. Deletions remove their children by hand.
            conn.execute_batch("PRAGMA foreign_keys = OFF").sql(self)?;
            // A shard's rows pass through the page cache once: a larger
            // cache (for this merge only) keeps SQLite from spilling
            // half-built pages to the WAL before the commit.
            conn.pragma_update(None, "cache_size", MERGE_CACHE_KIB)
                .sql(self)?;
            let version: i64 = conn
                .pragma_query_value(
                    Some(rusqlite::DatabaseName::Attached(SHARD_SCHEMA)),
                    "user_version",
                    |r| r.get(0),
                )
                .map_err(|e| refuse(format!("it is not a readable SQLite database: {e}")))?;
            if version != crate::SCHEMA_VERSION {
                return Err(refuse(if version == 0 {
                    "it is not a qarena database (no schema)".to_string()
                } else if version < crate::SCHEMA_VERSION {
                    format!(
                        "it has schema version {version}, this qarena writes {} — open it once with this qarena (e.g. `qarena runs list --db {}`) to migrate it",
                        crate::SCHEMA_VERSION,
                        shard.display()
                    )
                } else {
                    format!(
                        "it has schema version {version}, newer than this qarena's {} — upgrade qarena",
                        crate::SCHEMA_VERSION
                    )
                }));
            }
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .sql(self)?;
            let merged = Merge {
                store: self,
                shard,
                tx: &tx,
            }
            .run()?;
            tx.commit().sql(self)?;
            Ok(merged)
        })();
        let _ = conn.execute_batch("DETACH DATABASE merge_shard; PRAGMA foreign_keys = ON");
        let _ = conn.pragma_update(None, "cache_size", cache_size);
        outcome
    }

    /// The shards and games of the runs tagged `tags` in this database:
    /// which shards are missing (from `merged_shards`), and which games,
    /// where the stored settings say what the run plays (a match: `games`
    /// of `"match"`, unless an SPRT may stop it early; a sweep: `games` per
    /// point of its stored points, and `anchor_games` (or an anchor's own
    /// `games`) per point and anchor). Unknown tags are skipped.
    pub fn merge_coverage(&self, tags: &[String]) -> Result<Vec<RunCoverage>> {
        let mut out = Vec::new();
        for tag in tags {
            let Some(run) = self.run_by_tag(tag)? else {
                continue;
            };
            let shards = ShardSet::of_settings(&run.settings).unwrap_or(None);
            let (games, aborted, present) = self.call("reading merged games", |c| {
                let mut stmt = c.prepare_cached(
                    "SELECT point_index, game_index, termination = 'aborted' FROM games
                     WHERE run_id = ?1",
                )?;
                let mut present = HashSet::new();
                let (mut games, mut aborted) = (0u64, 0u64);
                let mut rows = stmt.query([run.id])?;
                while let Some(r) = rows.next()? {
                    if r.get::<_, bool>(2)? {
                        aborted += 1;
                    } else {
                        games += 1;
                        present.insert((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?));
                    }
                }
                Ok((games, aborted, present))
            })?;
            let (expected, keys) = self.expected_games(&run)?;
            let mut missing_games: Vec<(i64, i64)> =
                keys.into_iter().filter(|k| !present.contains(k)).collect();
            missing_games.sort_unstable();
            let judges = self
                .judge_runs(run.id)?
                .into_iter()
                .filter_map(|j| {
                    ShardSet::of_settings(&j.settings)
                        .ok()
                        .flatten()
                        .map(|s| JudgeShards {
                            judge_run: j.id,
                            missing_shards: s.missing(),
                            shards: s,
                        })
                })
                .collect();
            out.push(RunCoverage {
                tag: run.tag.clone(),
                kind: run.kind,
                missing_shards: shards.as_ref().map(ShardSet::missing).unwrap_or_default(),
                shards,
                games,
                aborted,
                expected,
                missing_games,
                judges,
            });
        }
        Ok(out)
    }

    /// Every `(point_index, game_index)` a run plays, from its settings.
    fn expected_games(&self, run: &crate::RunRecord) -> Result<(ExpectedGames, Vec<(i64, i64)>)> {
        let count = |v: Option<&Value>| v.and_then(Value::as_u64).unwrap_or(DEFAULT_GAMES);
        if let Some(m) = run.settings.get("match") {
            if m.get("sprt").is_some_and(|s| !s.is_null()) {
                return Ok((
                    ExpectedGames::Unknown("an SPRT may stop the match early".into()),
                    Vec::new(),
                ));
            }
            let n = count(m.get("games"));
            return Ok((
                ExpectedGames::Known(n),
                (0..n as i64).map(|g| (0, g)).collect(),
            ));
        }
        if let Some(def) = run.settings.get("sweep") {
            let games = count(def.get("games")) as i64;
            let anchor_default = def.get("anchor_games");
            let anchors: Vec<i64> = def
                .get("anchor")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|x| count(x.get("games").or(anchor_default)) as i64)
                        .collect()
                })
                .unwrap_or_default();
            let mut points = BTreeSet::new();
            for s in self.sweeps(run.id)? {
                for p in self.sweep_points(s.id)? {
                    points.insert(p.point_index);
                }
            }
            if points.is_empty() {
                return Ok((
                    ExpectedGames::Unknown("the sweep has no stored points".into()),
                    Vec::new(),
                ));
            }
            let mut keys = Vec::new();
            for &i in &points {
                keys.extend((0..games).map(|g| (i, g)));
                for (k, &n) in anchors.iter().enumerate() {
                    keys.extend((0..n).map(|g| (ANCHOR_POINTS * (k as i64 + 1) + i, g)));
                }
            }
            return Ok((ExpectedGames::Known(keys.len() as u64), keys));
        }
        Ok((
            ExpectedGames::Unknown("its settings name no match or sweep".into()),
            Vec::new(),
        ))
    }
}

/// `file:` URI of a path opened read-only (reserved characters escaped).
fn read_only_uri(path: &Path) -> Option<String> {
    let text = path.to_str()?;
    let mut uri = String::from("file:");
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?mode=ro");
    Some(uri)
}

/// The first place two JSON values differ, as a JSON pointer with both
/// values (shortened).
fn first_difference(merged: &Value, shard: &Value, at: &str) -> Option<String> {
    match (merged, shard) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            keys.into_iter().find_map(|k| {
                let at = format!("{at}/{k}");
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => first_difference(x, y, &at),
                    (x, y) => Some(format!(
                        "{at} (merged {}, shard {})",
                        short(x.unwrap_or(&Value::Null)),
                        short(y.unwrap_or(&Value::Null))
                    )),
                }
            })
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (x, y))| first_difference(x, y, &format!("{at}/{i}"))),
        (a, b) if a == b => None,
        (a, b) => Some(format!(
            "{} (merged {}, shard {})",
            if at.is_empty() { "/" } else { at },
            short(a),
            short(b)
        )),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(80).collect::<String>())
    } else {
        s
    }
}

/// How bad a run status is when shards disagree: the merged run shows the
/// worst, so it reads `completed` only when every merged shard completed.
fn status_rank(s: RunStatus) -> u8 {
    match s {
        RunStatus::Completed => 0,
        RunStatus::Running => 1,
        RunStatus::Interrupted => 2,
        RunStatus::Failed => 3,
    }
}

/// A run of the output database, as far as a merge needs it.
struct OutRun {
    id: i64,
    kind: RunKind,
    settings: Value,
    status: RunStatus,
    finished_at: Option<String>,
}

/// An engine of the output database, as far as a merge needs it.
struct OutEngine {
    id: i64,
    command: String,
    protocol: String,
    model_sha256: Option<String>,
    variant: Option<i64>,
}

/// One shard being merged inside the output's transaction.
struct Merge<'a, 'c> {
    store: &'a Store,
    shard: &'a Path,
    tx: &'a Transaction<'c>,
}

impl Merge<'_, '_> {
    fn refuse(&self, reason: String) -> StoreError {
        StoreError::MergeRefused {
            path: self.store.path_buf(),
            shard: self.shard.to_path_buf(),
            reason,
        }
    }

    fn definition(&self, tag: &str, detail: String) -> StoreError {
        StoreError::MergeDefinition {
            path: self.store.path_buf(),
            shard: self.shard.to_path_buf(),
            tag: tag.to_string(),
            detail,
        }
    }

    fn count(&self, sql: &str) -> Result<i64> {
        self.tx.query_row(sql, [], |r| r.get(0)).sql(self.store)
    }

    fn run(self) -> Result<ShardMerge> {
        let s = self.store;
        let evolutions = self.count("SELECT count(*) FROM merge_shard.evolutions")?;
        if evolutions > 0 {
            return Err(self.refuse(format!(
                "it holds {evolutions} evolution(s); evolutions name their players by genome row ids, so they are not merged (a sharded evolution's shards hold only probes) — copy that database whole instead"
            )));
        }
        let llm = self.count("SELECT count(*) FROM merge_shard.llm_evals")?;
        if llm > 0 {
            return Err(self.refuse(format!(
                "it holds {llm} language-model evaluation(s); those are not sharded, so they are not merged — copy that database whole instead"
            )));
        }
        self.tx
            .execute_batch(
                "DROP TABLE IF EXISTS temp.merge_runs;
                 DROP TABLE IF EXISTS temp.merge_engines;
                 DROP TABLE IF EXISTS temp.merge_games;
                 DROP TABLE IF EXISTS temp.merge_judge_runs;
                 DROP TABLE IF EXISTS temp.merge_probes;
                 CREATE TEMP TABLE merge_runs (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);
                 CREATE TEMP TABLE merge_engines (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);
                 CREATE TEMP TABLE merge_games (old INTEGER PRIMARY KEY, new INTEGER NOT NULL,
                                                fresh INTEGER NOT NULL);
                 CREATE TEMP TABLE merge_judge_runs (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);
                 CREATE TEMP TABLE merge_probes (old INTEGER PRIMARY KEY, new INTEGER NOT NULL);",
            )
            .sql(s)?;

        let mut report = ShardMerge {
            shard: self.shard.to_path_buf(),
            runs: Vec::new(),
            models_new: 0,
            strategies_new: 0,
            variants_new: 0,
            sweep_points_new: 0,
            probes_new: 0,
            aborted_replaced: 0,
        };
        let variants = self.catalogue(&mut report)?;
        let runs = self.runs(&mut report)?;
        let engine_slots = self.engines(&runs, &variants)?;
        self.sweeps(&runs, &variants, &mut report)?;
        self.probes(&variants, &mut report)?;
        self.games(&runs, &engine_slots, &mut report)?;
        self.events(&runs, &mut report)?;
        self.judges(&runs, &mut report)?;

        self.tx
            .execute_batch(
                "DROP TABLE temp.merge_runs; DROP TABLE temp.merge_engines;
                 DROP TABLE temp.merge_games; DROP TABLE temp.merge_judge_runs;
                 DROP TABLE temp.merge_probes;",
            )
            .sql(s)?;
        Ok(report)
    }

    /// Models and strategies by sha256, variants by (model, strategy).
    /// Returns the variant id map.
    fn catalogue(&self, report: &mut ShardMerge) -> Result<HashMap<i64, i64>> {
        let s = self.store;
        let tx = self.tx;
        let by_sha = |sql: &str| -> Result<HashMap<String, i64>> {
            let mut stmt = tx.prepare(sql).sql(s)?;
            let rows = stmt
                .query_map([], |r| Ok((r.get::<_, String>(1)?, r.get::<_, i64>(0)?)))
                .sql(s)?;
            rows.collect::<rusqlite::Result<_>>().sql(s)
        };

        let mut out_models = by_sha("SELECT id, sha256 FROM main.models")?;
        let mut models = HashMap::new();
        {
            let mut read = tx
                .prepare(
                    "SELECT id, path, sha256, format, bytes, created_at FROM merge_shard.models",
                )
                .sql(s)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO main.models (path, sha256, format, bytes, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                )
                .sql(s)?;
            let mut rows = read.query([]).sql(s)?;
            while let Some(r) = rows.next().sql(s)? {
                let (old, sha): (i64, String) = (r.get(0).sql(s)?, r.get(2).sql(s)?);
                let new = match out_models.get(&sha) {
                    Some(&id) => id,
                    None => {
                        let id: i64 = insert
                            .query_row(
                                params![
                                    r.get::<_, String>(1).sql(s)?,
                                    sha,
                                    r.get::<_, String>(3).sql(s)?,
                                    r.get::<_, i64>(4).sql(s)?,
                                    r.get::<_, String>(5).sql(s)?
                                ],
                                |x| x.get(0),
                            )
                            .sql(s)?;
                        report.models_new += 1;
                        out_models.insert(sha, id);
                        id
                    }
                };
                models.insert(old, new);
            }
        }

        let mut out_strategies = by_sha("SELECT id, sha256 FROM main.strategies")?;
        let mut strategies = HashMap::new();
        {
            let mut read = tx
                .prepare("SELECT id, name, toml, sha256 FROM merge_shard.strategies")
                .sql(s)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO main.strategies (name, toml, sha256) VALUES (?1, ?2, ?3)
                     RETURNING id",
                )
                .sql(s)?;
            let mut rows = read.query([]).sql(s)?;
            while let Some(r) = rows.next().sql(s)? {
                let (old, sha): (i64, String) = (r.get(0).sql(s)?, r.get(3).sql(s)?);
                let new = match out_strategies.get(&sha) {
                    Some(&id) => id,
                    None => {
                        let id: i64 = insert
                            .query_row(
                                params![
                                    r.get::<_, String>(1).sql(s)?,
                                    r.get::<_, String>(2).sql(s)?,
                                    sha
                                ],
                                |x| x.get(0),
                            )
                            .sql(s)?;
                        report.strategies_new += 1;
                        out_strategies.insert(sha, id);
                        id
                    }
                };
                strategies.insert(old, new);
            }
        }

        let mut out_variants: HashMap<(i64, i64), i64> = {
            let mut stmt = tx
                .prepare("SELECT id, model_id, strategy_id FROM main.variants")
                .sql(s)?;
            let rows = stmt
                .query_map([], |r| Ok(((r.get(1)?, r.get(2)?), r.get(0)?)))
                .sql(s)?;
            rows.collect::<rusqlite::Result<_>>().sql(s)?
        };
        let mut variants = HashMap::new();
        let mut read = tx
            .prepare(
                "SELECT id, model_id, strategy_id, path, sha256, manifest, effective_bits, bytes,
                        created_at FROM merge_shard.variants",
            )
            .sql(s)?;
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO main.variants (model_id, strategy_id, path, sha256, manifest,
                                            effective_bits, bytes, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
            )
            .sql(s)?;
        let mut rows = read.query([]).sql(s)?;
        while let Some(r) = rows.next().sql(s)? {
            let old: i64 = r.get(0).sql(s)?;
            let unmapped = || {
                self.refuse(format!(
                    "its variant {old} names a missing model or strategy"
                ))
            };
            let model = *models
                .get(&r.get::<_, i64>(1).sql(s)?)
                .ok_or_else(unmapped)?;
            let strategy = *strategies
                .get(&r.get::<_, i64>(2).sql(s)?)
                .ok_or_else(unmapped)?;
            let new = match out_variants.get(&(model, strategy)) {
                Some(&id) => id,
                None => {
                    let id: i64 = insert
                        .query_row(
                            params![
                                model,
                                strategy,
                                r.get::<_, String>(3).sql(s)?,
                                r.get::<_, String>(4).sql(s)?,
                                r.get::<_, String>(5).sql(s)?,
                                r.get::<_, Option<f64>>(6).sql(s)?,
                                r.get::<_, Option<i64>>(7).sql(s)?,
                                r.get::<_, String>(8).sql(s)?
                            ],
                            |x| x.get(0),
                        )
                        .sql(s)?;
                    report.variants_new += 1;
                    out_variants.insert((model, strategy), id);
                    id
                }
            };
            variants.insert(old, new);
        }
        Ok(variants)
    }

    /// Runs by tag: created, or checked against the stored definition and
    /// their shard sets joined. Returns old run id → (new id, tag).
    fn runs(&self, report: &mut ShardMerge) -> Result<HashMap<i64, (i64, String)>> {
        let s = self.store;
        let tx = self.tx;
        let mut out_runs: HashMap<String, OutRun> = HashMap::new();
        {
            let mut stmt = tx
                .prepare("SELECT id, tag, kind, settings, status, finished_at FROM main.runs")
                .sql(s)?;
            let mut rows = stmt.query([]).sql(s)?;
            while let Some(r) = rows.next().sql(s)? {
                let tag: String = r.get(1).sql(s)?;
                let text: String = r.get(3).sql(s)?;
                let settings = serde_json::from_str(&text).unwrap_or(Value::Null);
                out_runs.insert(
                    tag,
                    OutRun {
                        id: r.get(0).sql(s)?,
                        kind: r.get(2).sql(s)?,
                        settings,
                        status: r.get(4).sql(s)?,
                        finished_at: r.get(5).sql(s)?,
                    },
                );
            }
        }
        let mut map = HashMap::new();
        let mut read = tx
            .prepare(
                "SELECT id, tag, kind, created_at, argv, settings, software_version, status,
                        finished_at, notes
                 FROM merge_shard.runs ORDER BY id",
            )
            .sql(s)?;
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO main.runs (tag, kind, created_at, argv, settings, software_version,
                                        status, finished_at, notes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
            )
            .sql(s)?;
        let mut update = tx
            .prepare_cached(
                "UPDATE main.runs SET settings = ?2, status = ?3, finished_at = ?4 WHERE id = ?1",
            )
            .sql(s)?;
        let mut map_run = tx
            .prepare_cached("INSERT INTO temp.merge_runs (old, new) VALUES (?1, ?2)")
            .sql(s)?;
        let mut rows = read.query([]).sql(s)?;
        while let Some(r) = rows.next().sql(s)? {
            let old: i64 = r.get(0).sql(s)?;
            let tag: String = r.get(1).sql(s)?;
            let kind: RunKind = r.get(2).sql(s)?;
            let text: String = r.get(5).sql(s)?;
            let settings: Value = serde_json::from_str(&text)
                .map_err(|e| self.refuse(format!("run '{tag}' has unreadable settings: {e}")))?;
            let shards = ShardSet::of_settings(&settings)
                .map_err(|why| self.refuse(format!("run '{tag}': {why}")))?;
            let def = definition_of(&settings);
            let status: RunStatus = r.get(7).sql(s)?;
            let finished_at: Option<String> = r.get(8).sql(s)?;
            let with_shards = |mut def: Value, set: &Option<ShardSet>| -> Value {
                if let (Some(o), Some(set)) = (def.as_object_mut(), set) {
                    o.insert(
                        MERGED_SHARDS_KEY.into(),
                        serde_json::to_value(set).unwrap_or(Value::Null),
                    );
                }
                def
            };
            let created;
            let new = match out_runs.get_mut(&tag) {
                None => {
                    let merged = with_shards(def, &shards);
                    let id: i64 = insert
                        .query_row(
                            params![
                                tag,
                                kind,
                                r.get::<_, String>(3).sql(s)?,
                                r.get::<_, String>(4).sql(s)?,
                                json_text(&merged),
                                r.get::<_, String>(6).sql(s)?,
                                status,
                                finished_at,
                                r.get::<_, Option<String>>(9).sql(s)?
                            ],
                            |x| x.get(0),
                        )
                        .sql(s)?;
                    out_runs.insert(
                        tag.clone(),
                        OutRun {
                            id,
                            kind,
                            settings: merged,
                            status,
                            finished_at,
                        },
                    );
                    created = true;
                    id
                }
                Some(out) => {
                    if out.kind != kind {
                        return Err(self.definition(
                            &tag,
                            format!(
                                "is a {kind} run here and a {} run in the merged database",
                                out.kind
                            ),
                        ));
                    }
                    let out_def = definition_of(&out.settings);
                    if let Some(diff) = first_difference(&out_def, &def, "") {
                        return Err(self.definition(&tag, format!("has other settings at {diff}")));
                    }
                    let out_shards = ShardSet::of_settings(&out.settings)
                        .map_err(|why| self.refuse(format!("merged run '{tag}': {why}")))?;
                    let joined = match (out_shards, &shards) {
                        (None, None) => None,
                        (Some(mut a), Some(b)) => {
                            if a.count != b.count {
                                return Err(self.definition(
                                    &tag,
                                    format!(
                                        "is split into {} shards here and into {} in the merged database",
                                        b.count, a.count
                                    ),
                                ));
                            }
                            a.indices.extend(b.indices.iter().copied());
                            Some(a)
                        }
                        (None, Some(b)) => {
                            return Err(self.definition(
                                &tag,
                                format!(
                                    "is {} here but not sharded in the merged database",
                                    b.describe()
                                ),
                            ))
                        }
                        (Some(a), None) => {
                            return Err(self.definition(
                                &tag,
                                format!(
                                    "is not sharded here but split into {} shards in the merged database",
                                    a.count
                                ),
                            ))
                        }
                    };
                    let merged = with_shards(def, &joined);
                    let worst = if status_rank(status) > status_rank(out.status) {
                        status
                    } else {
                        out.status
                    };
                    let finished = match (&out.finished_at, &finished_at) {
                        (Some(a), Some(b)) => Some(a.max(b).clone()),
                        (a, b) => a.clone().or_else(|| b.clone()),
                    };
                    let finished = if worst == RunStatus::Running {
                        None
                    } else {
                        finished
                    };
                    update
                        .execute(params![out.id, json_text(&merged), worst, finished])
                        .sql(s)?;
                    out.settings = merged;
                    out.status = worst;
                    out.finished_at = finished;
                    created = false;
                    out.id
                }
            };
            map_run.execute(params![old, new]).sql(s)?;
            report.runs.push(RunMerge {
                tag: tag.clone(),
                kind,
                shards,
                created,
                games_new: 0,
                games_present: 0,
                events_new: 0,
                judge_runs_new: 0,
                judge_moves_new: 0,
            });
            map.insert(old, (new, tag));
        }
        Ok(map)
    }

    /// Engines by (run, slot); a slot holding another engine is refused.
    /// Returns new engine id → slot, for messages.
    fn engines(
        &self,
        runs: &HashMap<i64, (i64, String)>,
        variants: &HashMap<i64, i64>,
    ) -> Result<HashMap<i64, String>> {
        let s = self.store;
        let tx = self.tx;
        let mut out: HashMap<(i64, String), OutEngine> = HashMap::new();
        {
            let mut stmt = tx
                .prepare(
                    "SELECT id, run_id, slot, command, protocol, model_sha256, variant_id
                     FROM main.engines WHERE run_id IN (SELECT new FROM temp.merge_runs)",
                )
                .sql(s)?;
            let mut rows = stmt.query([]).sql(s)?;
            while let Some(r) = rows.next().sql(s)? {
                out.insert(
                    (r.get(1).sql(s)?, r.get(2).sql(s)?),
                    OutEngine {
                        id: r.get(0).sql(s)?,
                        command: r.get(3).sql(s)?,
                        protocol: r.get(4).sql(s)?,
                        model_sha256: r.get(5).sql(s)?,
                        variant: r.get(6).sql(s)?,
                    },
                );
            }
        }
        let mut slots = HashMap::new();
        let mut read = tx
            .prepare(
                "SELECT id, run_id, slot, label, command, protocol, name, version, model_path,
                        model_sha256, variant_id
                 FROM merge_shard.engines ORDER BY id",
            )
            .sql(s)?;
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO main.engines (run_id, slot, label, command, protocol, name, version,
                                           model_path, model_sha256, variant_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id",
            )
            .sql(s)?;
        let mut link = tx
            .prepare_cached("UPDATE main.engines SET variant_id = ?2 WHERE id = ?1")
            .sql(s)?;
        let mut map_engine = tx
            .prepare_cached("INSERT INTO temp.merge_engines (old, new) VALUES (?1, ?2)")
            .sql(s)?;
        let mut rows = read.query([]).sql(s)?;
        while let Some(r) = rows.next().sql(s)? {
            let old: i64 = r.get(0).sql(s)?;
            let Some((run, tag)) = runs.get(&r.get::<_, i64>(1).sql(s)?) else {
                return Err(self.refuse(format!("its engine {old} belongs to no run")));
            };
            let slot: String = r.get(2).sql(s)?;
            let command: String = r.get(4).sql(s)?;
            let protocol: String = r.get(5).sql(s)?;
            let sha: Option<String> = r.get(9).sql(s)?;
            let variant = r
                .get::<_, Option<i64>>(10)
                .sql(s)?
                .and_then(|v| variants.get(&v).copied());
            let new = match out.get_mut(&(*run, slot.clone())) {
                Some(e) => {
                    let conflict = |field: &'static str, merged: &str, shard: &str| {
                        StoreError::MergeEngineConflict(Box::new(crate::EngineConflict {
                            path: s.path_buf(),
                            shard: self.shard.to_path_buf(),
                            tag: tag.clone(),
                            slot: slot.clone(),
                            field,
                            merged: merged.to_string(),
                            shard_value: shard.to_string(),
                        }))
                    };
                    if e.protocol != protocol {
                        return Err(conflict("protocol", &e.protocol, &protocol));
                    }
                    if e.command != command {
                        return Err(conflict("command", &e.command, &command));
                    }
                    if let (Some(a), Some(b)) = (&e.model_sha256, &sha) {
                        if a != b {
                            return Err(conflict("model sha256", a, b));
                        }
                    }
                    if e.variant.is_none() && variant.is_some() {
                        link.execute(params![e.id, variant]).sql(s)?;
                        e.variant = variant;
                    }
                    e.id
                }
                None => {
                    let id: i64 = insert
                        .query_row(
                            params![
                                run,
                                slot,
                                r.get::<_, String>(3).sql(s)?,
                                command,
                                protocol,
                                r.get::<_, Option<String>>(6).sql(s)?,
                                r.get::<_, Option<String>>(7).sql(s)?,
                                r.get::<_, Option<String>>(8).sql(s)?,
                                sha,
                                variant
                            ],
                            |x| x.get(0),
                        )
                        .sql(s)?;
                    out.insert(
                        (*run, slot.clone()),
                        OutEngine {
                            id,
                            command,
                            protocol,
                            model_sha256: sha,
                            variant,
                        },
                    );
                    id
                }
            };
            map_engine.execute(params![old, new]).sql(s)?;
            slots.insert(new, slot);
        }
        Ok(slots)
    }

    /// Sweeps by (run, name), their points by (sweep, index).
    fn sweeps(
        &self,
        runs: &HashMap<i64, (i64, String)>,
        variants: &HashMap<i64, i64>,
        report: &mut ShardMerge,
    ) -> Result<()> {
        let s = self.store;
        let tx = self.tx;
        let mut out_sweeps: HashMap<(i64, String), i64> = {
            let mut stmt = tx
                .prepare("SELECT id, run_id, name FROM main.sweeps")
                .sql(s)?;
            let rows = stmt
                .query_map([], |r| Ok(((r.get(1)?, r.get(2)?), r.get(0)?)))
                .sql(s)?;
            rows.collect::<rusqlite::Result<_>>().sql(s)?
        };
        let mut sweeps = HashMap::new();
        {
            let mut read = tx
                .prepare("SELECT id, run_id, name, definition FROM merge_shard.sweeps")
                .sql(s)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO main.sweeps (run_id, name, definition) VALUES (?1, ?2, ?3)
                     RETURNING id",
                )
                .sql(s)?;
            let mut rows = read.query([]).sql(s)?;
            while let Some(r) = rows.next().sql(s)? {
                let old: i64 = r.get(0).sql(s)?;
                let Some((run, _)) = runs.get(&r.get::<_, i64>(1).sql(s)?) else {
                    return Err(self.refuse(format!("its sweep {old} belongs to no run")));
                };
                let name: String = r.get(2).sql(s)?;
                let new = match out_sweeps.get(&(*run, name.clone())) {
                    Some(&id) => id,
                    None => {
                        let id: i64 = insert
                            .query_row(params![run, name, r.get::<_, String>(3).sql(s)?], |x| {
                                x.get(0)
                            })
                            .sql(s)?;
                        out_sweeps.insert((*run, name), id);
                        id
                    }
                };
                sweeps.insert(old, new);
            }
        }
        let out_points: HashSet<(i64, i64)> = {
            let mut stmt = tx
                .prepare("SELECT sweep_id, point_index FROM main.sweep_points")
                .sql(s)?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).sql(s)?;
            rows.collect::<rusqlite::Result<_>>().sql(s)?
        };
        let mut read = tx
            .prepare(
                "SELECT sweep_id, point_index, label, variant_id, params
                 FROM merge_shard.sweep_points",
            )
            .sql(s)?;
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO main.sweep_points (sweep_id, point_index, label, variant_id, params)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .sql(s)?;
        let mut rows = read.query([]).sql(s)?;
        while let Some(r) = rows.next().sql(s)? {
            let Some(&sweep) = sweeps.get(&r.get::<_, i64>(0).sql(s)?) else {
                continue;
            };
            let index: i64 = r.get(1).sql(s)?;
            if out_points.contains(&(sweep, index)) {
                continue;
            }
            let variant = r
                .get::<_, Option<i64>>(3)
                .sql(s)?
                .and_then(|v| variants.get(&v).copied());
            insert
                .execute(params![
                    sweep,
                    index,
                    r.get::<_, String>(2).sql(s)?,
                    variant,
                    r.get::<_, String>(4).sql(s)?
                ])
                .sql(s)?;
            report.sweep_points_new += 1;
        }
        Ok(())
    }

    /// Probes by their key, with their per-position rows.
    fn probes(&self, variants: &HashMap<i64, i64>, report: &mut ShardMerge) -> Result<()> {
        let s = self.store;
        let tx = self.tx;
        type Key = (String, String, String, String, String);
        let mut out: HashSet<Key> = {
            let mut stmt = tx
                .prepare(
                    "SELECT probe, subject_sha256, reference_sha256, suite_sha256, settings
                     FROM main.probes",
                )
                .sql(s)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .sql(s)?;
            rows.collect::<rusqlite::Result<_>>().sql(s)?
        };
        {
            let mut read = tx
                .prepare(
                    "SELECT id, probe, subject_sha256, reference_sha256, suite_sha256, settings,
                            suite_name, variant_id, positions, primary_metric, metrics,
                            noise_floor, seconds, created_at
                     FROM merge_shard.probes ORDER BY id",
                )
                .sql(s)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO main.probes (probe, subject_sha256, reference_sha256,
                         suite_sha256, settings, suite_name, variant_id, positions,
                         primary_metric, metrics, noise_floor, seconds, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                     RETURNING id",
                )
                .sql(s)?;
            let mut map = tx
                .prepare_cached("INSERT INTO temp.merge_probes (old, new) VALUES (?1, ?2)")
                .sql(s)?;
            let mut rows = read.query([]).sql(s)?;
            while let Some(r) = rows.next().sql(s)? {
                let key: Key = (
                    r.get(1).sql(s)?,
                    r.get(2).sql(s)?,
                    r.get(3).sql(s)?,
                    r.get(4).sql(s)?,
                    r.get(5).sql(s)?,
                );
                if out.contains(&key) {
                    continue;
                }
                let variant = r
                    .get::<_, Option<i64>>(7)
                    .sql(s)?
                    .and_then(|v| variants.get(&v).copied());
                let id: i64 = insert
                    .query_row(
                        params![
                            key.0,
                            key.1,
                            key.2,
                            key.3,
                            key.4,
                            r.get::<_, String>(6).sql(s)?,
                            variant,
                            r.get::<_, i64>(8).sql(s)?,
                            r.get::<_, String>(9).sql(s)?,
                            r.get::<_, String>(10).sql(s)?,
                            r.get::<_, Option<String>>(11).sql(s)?,
                            r.get::<_, f64>(12).sql(s)?,
                            r.get::<_, String>(13).sql(s)?
                        ],
                        |x| x.get(0),
                    )
                    .sql(s)?;
                map.execute(params![r.get::<_, i64>(0).sql(s)?, id])
                    .sql(s)?;
                out.insert(key);
                report.probes_new += 1;
            }
        }
        tx.execute(
            "INSERT INTO main.probe_positions (probe_id, position, metrics)
             SELECT mp.new, pp.position, pp.metrics
             FROM temp.merge_probes mp JOIN merge_shard.probe_positions pp ON pp.probe_id = mp.old",
            [],
        )
        .sql(s)?;
        Ok(())
    }

    /// Games by (run, point, index), checked where present, copied with
    /// their moves, self-evaluations and costs where new.
    fn games(
        &self,
        runs: &HashMap<i64, (i64, String)>,
        slots: &HashMap<i64, String>,
        report: &mut ShardMerge,
    ) -> Result<()> {
        let s = self.store;
        let tx = self.tx;
        // An aborted game has no result and is replayed on resume: the
        // finished game of the same key takes its place.
        // Foreign keys are off during a merge (see `merge_shard`), so the
        // children go first, by hand.
        tx.execute_batch(
            "DROP TABLE IF EXISTS temp.merge_aborted;
             CREATE TEMP TABLE merge_aborted (id INTEGER PRIMARY KEY);
             INSERT INTO temp.merge_aborted (id)
             SELECT g.id FROM merge_shard.games sg
             JOIN temp.merge_runs r ON r.old = sg.run_id
             JOIN main.games g ON g.run_id = r.new AND g.point_index = sg.point_index
                              AND g.game_index = sg.game_index
             WHERE g.termination = 'aborted' AND sg.termination <> 'aborted';
             DELETE FROM main.moves WHERE game_id IN (SELECT id FROM temp.merge_aborted);
             DELETE FROM main.self_evals WHERE game_id IN (SELECT id FROM temp.merge_aborted);
             DELETE FROM main.game_costs WHERE game_id IN (SELECT id FROM temp.merge_aborted);
             DELETE FROM main.judge_moves WHERE game_id IN (SELECT id FROM temp.merge_aborted);",
        )
        .sql(s)?;
        report.aborted_replaced = tx
            .execute(
                "DELETE FROM main.games WHERE id IN (SELECT id FROM temp.merge_aborted)",
                [],
            )
            .sql(s)? as u64;
        tx.execute_batch("DROP TABLE temp.merge_aborted").sql(s)?;
        // New games keep their shard id shifted past every id in use, so
        // the id map is one addition and needs no lookup per row.
        let offset = self.count("SELECT coalesce(max(id), 0) FROM main.games")?;
        tx.execute(
            "INSERT INTO temp.merge_games (old, new, fresh)
             SELECT sg.id, coalesce(g.id, sg.id + ?1), g.id IS NULL
             FROM merge_shard.games sg
             JOIN temp.merge_runs r ON r.old = sg.run_id
             LEFT JOIN main.games g ON g.run_id = r.new AND g.point_index = sg.point_index
                                   AND g.game_index = sg.game_index",
            [offset],
        )
        .sql(s)?;

        let tag_of = |old_run: i64| {
            runs.get(&old_run)
                .map(|(_, t)| t.clone())
                .unwrap_or_default()
        };
        let conflict = |run: i64, point: i64, game: i64, field, merged: String, shard: String| {
            StoreError::MergeGameConflict(Box::new(crate::GameConflict {
                path: s.path_buf(),
                shard: self.shard.to_path_buf(),
                tag: tag_of(run),
                point_index: point,
                game_index: game,
                field,
                merged,
                shard_value: shard,
            }))
        };
        type Differs = (
            i64,
            i64,
            i64,
            [Option<String>; 2],
            [Option<String>; 2],
            [String; 2],
            [i64; 2],
            [i64; 2],
            [i64; 2],
        );
        let differs: Option<Differs> = tx
            .query_row(
                "SELECT sg.run_id, sg.point_index, sg.game_index, g.result, sg.result,
                        g.winner, sg.winner, g.termination, sg.termination,
                        g.move_count, sg.move_count, g.black_engine_id, eb.new,
                        g.white_engine_id, ew.new
                 FROM temp.merge_games mg
                 JOIN merge_shard.games sg ON sg.id = mg.old
                 JOIN main.games g ON g.id = mg.new
                 JOIN temp.merge_engines eb ON eb.old = sg.black_engine_id
                 JOIN temp.merge_engines ew ON ew.old = sg.white_engine_id
                 WHERE mg.fresh = 0 AND sg.termination <> 'aborted'
                   AND (g.result IS NOT sg.result OR g.winner IS NOT sg.winner
                        OR g.termination IS NOT sg.termination
                        OR g.move_count IS NOT sg.move_count
                        OR g.black_engine_id IS NOT eb.new OR g.white_engine_id IS NOT ew.new)
                 ORDER BY sg.id LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        [r.get(3)?, r.get(4)?],
                        [r.get(5)?, r.get(6)?],
                        [r.get(7)?, r.get(8)?],
                        [r.get(9)?, r.get(10)?],
                        [r.get(11)?, r.get(12)?],
                        [r.get(13)?, r.get(14)?],
                    ))
                },
            )
            .optional()
            .sql(s)?;
        if let Some((run, point, game, result, winner, term, count, black, white)) = differs {
            let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
            let slot = |id: i64| slots.get(&id).cloned().unwrap_or_else(|| id.to_string());
            let c = |f, a, b| conflict(run, point, game, f, a, b);
            return Err(if result[0] != result[1] {
                c("result", text(&result[0]), text(&result[1]))
            } else if winner[0] != winner[1] {
                c("winner", text(&winner[0]), text(&winner[1]))
            } else if term[0] != term[1] {
                c("termination", term[0].clone(), term[1].clone())
            } else if count[0] != count[1] {
                c("move count", count[0].to_string(), count[1].to_string())
            } else if black[0] != black[1] {
                c("black engine", slot(black[0]), slot(black[1]))
            } else {
                c("white engine", slot(white[0]), slot(white[1]))
            });
        }
        type MoveDiffers = (
            i64,
            i64,
            i64,
            i64,
            Option<String>,
            Option<String>,
            String,
            String,
        );
        let moves_differ: Option<MoveDiffers> = tx
            .query_row(
                "SELECT sg.run_id, sg.point_index, sg.game_index, sm.ply, om.color, om.mv,
                        sm.color, sm.mv
                 FROM temp.merge_games mg
                 JOIN merge_shard.games sg ON sg.id = mg.old
                 JOIN merge_shard.moves sm ON sm.game_id = mg.old
                 LEFT JOIN main.moves om ON om.game_id = mg.new AND om.ply = sm.ply
                 WHERE mg.fresh = 0 AND sg.termination <> 'aborted'
                   AND (om.mv IS NOT sm.mv OR om.color IS NOT sm.color)
                 ORDER BY mg.old, sm.ply LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                        r.get(6)?,
                        r.get(7)?,
                    ))
                },
            )
            .optional()
            .sql(s)?;
        if let Some((run, point, game, ply, ocolor, omv, scolor, smv)) = moves_differ {
            let merged = match (ocolor, omv) {
                (Some(c), Some(m)) => format!("ply {ply} {c} {m}"),
                _ => format!("no ply {ply}"),
            };
            return Err(conflict(
                run,
                point,
                game,
                "moves",
                merged,
                format!("ply {ply} {scolor} {smv}"),
            ));
        }

        {
            let mut stmt = tx
                .prepare(
                    "SELECT sg.run_id, sum(mg.fresh), sum(1 - mg.fresh)
                     FROM temp.merge_games mg JOIN merge_shard.games sg ON sg.id = mg.old
                     GROUP BY sg.run_id",
                )
                .sql(s)?;
            let mut rows = stmt.query([]).sql(s)?;
            while let Some(r) = rows.next().sql(s)? {
                let tag = tag_of(r.get(0).sql(s)?);
                if let Some(run) = report.runs.iter_mut().find(|x| x.tag == tag) {
                    run.games_new = r.get::<_, i64>(1).sql(s)? as u64;
                    run.games_present = r.get::<_, i64>(2).sql(s)? as u64;
                }
            }
        }

        let (games_cols, games_select) = copy_columns(
            GAME_COLUMNS,
            "sg",
            &[
                ("id", "mg.new"),
                ("run_id", "r.new"),
                ("black_engine_id", "eb.new"),
                ("white_engine_id", "ew.new"),
            ],
        );
        tx.execute(
            &format!(
                "INSERT INTO main.games ({games_cols})
                 SELECT {games_select}
                 FROM temp.merge_games mg
                 JOIN merge_shard.games sg ON sg.id = mg.old
                 JOIN temp.merge_runs r ON r.old = sg.run_id
                 JOIN temp.merge_engines eb ON eb.old = sg.black_engine_id
                 JOIN temp.merge_engines ew ON ew.old = sg.white_engine_id
                 WHERE mg.fresh = 1 ORDER BY mg.old"
            ),
            [],
        )
        .sql(s)?;
        let (cols, select) = copy_columns(MOVE_COLUMNS, "x", &[("game_id", "mg.new")]);
        tx.execute(
            &format!(
                "INSERT INTO main.moves ({cols})
                 SELECT {select} FROM temp.merge_games mg
                 JOIN merge_shard.moves x ON x.game_id = mg.old
                 WHERE mg.fresh = 1"
            ),
            [],
        )
        .sql(s)?;
        for (table, columns) in [
            ("self_evals", SELF_EVAL_COLUMNS),
            ("game_costs", COST_COLUMNS),
        ] {
            let (cols, select) = copy_columns(
                columns,
                "x",
                &[("game_id", "mg.new"), ("engine_id", "e.new")],
            );
            tx.execute(
                &format!(
                    "INSERT INTO main.{table} ({cols})
                     SELECT {select} FROM temp.merge_games mg
                     JOIN merge_shard.{table} x ON x.game_id = mg.old
                     JOIN temp.merge_engines e ON e.old = x.engine_id
                     WHERE mg.fresh = 1"
                ),
                [],
            )
            .sql(s)?;
        }
        Ok(())
    }

    /// Events, matched by (run, game, engine, time, kind, message).
    fn events(&self, runs: &HashMap<i64, (i64, String)>, report: &mut ShardMerge) -> Result<()> {
        let s = self.store;
        let tx = self.tx;
        type Key = (i64, Option<i64>, Option<i64>, String, String, String);
        let mut seen: HashSet<Key> = {
            let mut stmt = tx
                .prepare(
                    "SELECT run_id, game_index, engine_id, at, kind, message FROM main.events
                     WHERE run_id IN (SELECT new FROM temp.merge_runs)",
                )
                .sql(s)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                })
                .sql(s)?;
            rows.collect::<rusqlite::Result<_>>().sql(s)?
        };
        let mut read = tx
            .prepare(
                "SELECT x.run_id, x.game_index, e.new, x.at, x.kind, x.message, x.stderr_tail
                 FROM merge_shard.events x
                 LEFT JOIN temp.merge_engines e ON e.old = x.engine_id
                 ORDER BY x.id",
            )
            .sql(s)?;
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO main.events (run_id, game_index, engine_id, at, kind, message,
                                          stderr_tail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .sql(s)?;
        let mut rows = read.query([]).sql(s)?;
        while let Some(r) = rows.next().sql(s)? {
            let Some((run, tag)) = runs.get(&r.get::<_, i64>(0).sql(s)?) else {
                continue;
            };
            let key: Key = (
                *run,
                r.get(1).sql(s)?,
                r.get(2).sql(s)?,
                r.get(3).sql(s)?,
                r.get(4).sql(s)?,
                r.get(5).sql(s)?,
            );
            if seen.contains(&key) {
                continue;
            }
            insert
                .execute(params![
                    key.0,
                    key.1,
                    key.2,
                    key.3,
                    key.4,
                    key.5,
                    r.get::<_, Option<String>>(6).sql(s)?
                ])
                .sql(s)?;
            seen.insert(key);
            if let Some(m) = report.runs.iter_mut().find(|x| &x.tag == tag) {
                m.events_new += 1;
            }
        }
        Ok(())
    }

    /// Judge runs by (run, judge identity), with their verdicts; a verdict
    /// already stored for a (judge run, game, ply) is kept.
    fn judges(&self, runs: &HashMap<i64, (i64, String)>, report: &mut ShardMerge) -> Result<()> {
        let s = self.store;
        let tx = self.tx;
        // The judge keys a judge run by its settings' "judge" object; older
        // or other settings by everything but the shard bookkeeping.
        let identity = |settings: &Value| {
            json_text(
                &settings
                    .get("judge")
                    .cloned()
                    .unwrap_or_else(|| definition_of(settings)),
            )
        };
        let mut out: HashMap<(i64, String), (i64, Value)> = HashMap::new();
        {
            let mut stmt = tx
                .prepare(
                    "SELECT id, run_id, settings FROM main.judge_runs
                     WHERE run_id IN (SELECT new FROM temp.merge_runs)",
                )
                .sql(s)?;
            let mut rows = stmt.query([]).sql(s)?;
            while let Some(r) = rows.next().sql(s)? {
                let text: String = r.get(2).sql(s)?;
                let settings: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                out.insert(
                    (r.get(1).sql(s)?, identity(&settings)),
                    (r.get(0).sql(s)?, settings),
                );
            }
        }
        let mut read = tx
            .prepare(
                "SELECT x.id, x.run_id, e.new, x.settings, x.created_at
                 FROM merge_shard.judge_runs x
                 LEFT JOIN temp.merge_engines e ON e.old = x.engine_id ORDER BY x.id",
            )
            .sql(s)?;
        let mut insert = tx
            .prepare_cached(
                "INSERT INTO main.judge_runs (run_id, engine_id, settings, created_at)
                 VALUES (?1, ?2, ?3, ?4) RETURNING id",
            )
            .sql(s)?;
        let mut update = tx
            .prepare_cached("UPDATE main.judge_runs SET settings = ?2 WHERE id = ?1")
            .sql(s)?;
        let mut map = tx
            .prepare_cached("INSERT INTO temp.merge_judge_runs (old, new) VALUES (?1, ?2)")
            .sql(s)?;
        let (cols, select) = copy_columns(
            JUDGE_MOVE_COLUMNS,
            "x",
            &[("judge_run_id", "mj.new"), ("game_id", "mg.new")],
        );
        let copy_moves = format!(
            "INSERT OR IGNORE INTO main.judge_moves ({cols})
             SELECT {select}
             FROM temp.merge_judge_runs mj
             JOIN merge_shard.judge_moves x ON x.judge_run_id = mj.old
             JOIN temp.merge_games mg ON mg.old = x.game_id
             JOIN merge_shard.games sg ON sg.id = x.game_id
             WHERE mj.old = ?1 AND (mg.fresh = 1 OR sg.termination <> 'aborted')"
        );
        let mut count_moves = tx.prepare_cached(&copy_moves).sql(s)?;
        let mut rows = read.query([]).sql(s)?;
        while let Some(r) = rows.next().sql(s)? {
            let old: i64 = r.get(0).sql(s)?;
            let Some((run, tag)) = runs.get(&r.get::<_, i64>(1).sql(s)?) else {
                continue;
            };
            let Some(engine) = r.get::<_, Option<i64>>(2).sql(s)? else {
                return Err(self.refuse(format!(
                    "its judge run {old} of run '{tag}' names a missing engine"
                )));
            };
            let text: String = r.get(3).sql(s)?;
            let settings: Value = serde_json::from_str(&text).map_err(|e| {
                self.refuse(format!(
                    "judge run {old} of run '{tag}' has unreadable settings: {e}"
                ))
            })?;
            let shards = ShardSet::of_settings(&settings)
                .map_err(|why| self.refuse(format!("judge run {old} of run '{tag}': {why}")))?;
            let key = (*run, identity(&settings));
            let mut created = false;
            let new = match out.get_mut(&key) {
                Some((id, stored)) => {
                    let have = ShardSet::of_settings(stored).ok().flatten();
                    if let (Some(mut a), Some(b)) = (have, &shards) {
                        if a.count != b.count {
                            return Err(self.definition(
                                tag,
                                format!(
                                    "has judge run {old} split into {} shards here and into {} in the merged database",
                                    b.count, a.count
                                ),
                            ));
                        }
                        a.indices.extend(b.indices.iter().copied());
                        if let Some(o) = stored.as_object_mut() {
                            o.insert(
                                MERGED_SHARDS_KEY.into(),
                                serde_json::to_value(&a).unwrap_or(Value::Null),
                            );
                        }
                        update.execute(params![*id, json_text(stored)]).sql(s)?;
                    }
                    *id
                }
                None => {
                    let mut stored = definition_of(&settings);
                    if let (Some(o), Some(set)) = (stored.as_object_mut(), &shards) {
                        o.insert(
                            MERGED_SHARDS_KEY.into(),
                            serde_json::to_value(set).unwrap_or(Value::Null),
                        );
                    }
                    let id: i64 = insert
                        .query_row(
                            params![
                                run,
                                engine,
                                json_text(&stored),
                                r.get::<_, String>(4).sql(s)?
                            ],
                            |x| x.get(0),
                        )
                        .sql(s)?;
                    out.insert(key, (id, stored));
                    created = true;
                    id
                }
            };
            map.execute(params![old, new]).sql(s)?;
            let written = count_moves.execute([old]).sql(s)? as u64;
            if let Some(m) = report.runs.iter_mut().find(|x| &x.tag == tag) {
                m.judge_moves_new += written;
                m.judge_runs_new += u64::from(created);
            }
        }
        Ok(())
    }
}

/// The column list of an `INSERT` and the matching `SELECT` list reading
/// `alias.column`, with `overrides` giving another expression for some.
fn copy_columns(columns: &[&str], alias: &str, overrides: &[(&str, &str)]) -> (String, String) {
    let select = columns
        .iter()
        .map(|c| {
            overrides
                .iter()
                .find(|(name, _)| name == c)
                .map(|(_, expr)| (*expr).to_string())
                .unwrap_or_else(|| format!("{alias}.{c}"))
        })
        .collect::<Vec<_>>()
        .join(", ");
    (columns.join(", "), select)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use super::{first_difference, read_only_uri, Handling, ShardSet, TABLES};
    use crate::Store;

    /// Every table and column of the schema is either merged or named as
    /// refused or kept apart: a migration cannot silently escape the merge.
    #[test]
    fn the_merge_covers_every_table_and_column_of_the_schema() {
        let store = Store::open_in_memory().unwrap();
        let tables: Vec<(String, Vec<String>)> = store
            .with_conn(|c| {
                let mut stmt = c.prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'table'
                     AND name NOT LIKE 'sqlite_%' ORDER BY name",
                )?;
                let names: Vec<String> = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                names
                    .into_iter()
                    .map(|n| {
                        let mut cols = c.prepare(&format!("PRAGMA table_info({n})"))?;
                        let cols = cols
                            .query_map([], |r| r.get::<_, String>(1))?
                            .collect::<rusqlite::Result<Vec<_>>>()?;
                        Ok((n, cols))
                    })
                    .collect()
            })
            .unwrap();
        for (name, cols) in &tables {
            let handling = TABLES
                .iter()
                .find(|(t, _)| t == name)
                .map(|(_, h)| *h)
                .unwrap_or_else(|| panic!("table {name} is not handled by the merge"));
            if let Handling::Columns(merged) = handling {
                let mut a: Vec<&str> = cols.iter().map(String::as_str).collect();
                let mut b = merged.to_vec();
                a.sort_unstable();
                b.sort_unstable();
                assert_eq!(a, b, "columns of {name}");
            }
        }
        assert_eq!(
            tables.len(),
            TABLES.len(),
            "a merged table no longer exists"
        );
    }

    #[test]
    fn shard_settings_are_read_and_checked() {
        let one = ShardSet::of_settings(&serde_json::json!({"shard": {"index": 1, "count": 3}}))
            .unwrap()
            .unwrap();
        assert_eq!(one.missing(), [0, 2]);
        assert_eq!(one.describe(), "shard 1/3");
        let merged = ShardSet::of_settings(
            &serde_json::json!({"merged_shards": {"count": 3, "indices": [0, 2]}}),
        )
        .unwrap()
        .unwrap();
        assert_eq!(merged.missing(), [1]);
        assert!(
            ShardSet::of_settings(&serde_json::json!({"shard": {"index": 3, "count": 3}})).is_err()
        );
        assert!(ShardSet::of_settings(&serde_json::json!({"shard": {"index": "x"}})).is_err());
        assert_eq!(
            ShardSet::of_settings(&serde_json::json!({"match": {}})),
            Ok(None)
        );
    }

    #[test]
    fn differences_are_named_by_their_json_pointer() {
        let a = serde_json::json!({"match": {"games": 20, "go": {"komi": 7.0}}});
        let b = serde_json::json!({"match": {"games": 10, "go": {"komi": 7.0}}});
        assert_eq!(
            first_difference(&a, &b, "").unwrap(),
            "/match/games (merged 20, shard 10)"
        );
        assert_eq!(first_difference(&a, &a, ""), None);
        let c = serde_json::json!({"match": {"games": 20}});
        assert_eq!(
            first_difference(&a, &c, "").unwrap(),
            "/match/go (merged {\"komi\":7.0}, shard null)"
        );
    }

    #[test]
    fn read_only_uris_escape_reserved_characters() {
        assert_eq!(
            read_only_uri(std::path::Path::new("dir/a b?#%.sqlite")).unwrap(),
            "file:dir/a%20b%3F%23%25.sqlite?mode=ro"
        );
    }
}
