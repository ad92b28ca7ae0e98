//! Survival tournaments (`qarena-evolve`): an evolution and every genome it
//! generated, with its parents, the operator that made it, its cost, its
//! probe and, for the ones that died, why. Nothing is deleted: failed and
//! dominated genomes are results too.

use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use crate::{
    json_col, json_text, now_rfc3339, EvolutionId, GenomeId, ProbeId, Result, RunId, RunStatus,
    Store, VariantId,
};

/// An evolution to start (or find again: name and seed are its key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvolution {
    pub name: String,
    pub model_sha256: String,
    /// JSON, e.g. `{"bits_per_weight": 4.25}`.
    pub budget: serde_json::Value,
    pub seed: i64,
    pub settings: serde_json::Value,
}

/// A stored evolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvolutionRecord {
    pub id: EvolutionId,
    pub name: String,
    pub model_sha256: String,
    pub budget: serde_json::Value,
    pub seed: i64,
    pub settings: serde_json::Value,
    pub status: RunStatus,
    pub created_at: String,
}

/// A genome as generated (its screening result comes later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewGenome {
    pub evolution: EvolutionId,
    pub generation: i64,
    /// `random`, `bit_shift`, `crossover`, ...
    pub operator: String,
    pub parent_a: Option<GenomeId>,
    pub parent_b: Option<GenomeId>,
    pub strategy_toml: String,
    pub strategy_sha256: String,
    pub bits_per_weight: f64,
    pub bytes: i64,
}

/// A stored genome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenomeRecord {
    pub id: GenomeId,
    pub genome: NewGenome,
    pub variant: Option<VariantId>,
    pub probe: Option<ProbeId>,
    /// The screen's headline figure (lower is better), when it survived.
    pub quality: Option<f64>,
    pub failure: Option<String>,
    pub failure_detail: Option<String>,
    pub created_at: String,
    /// The engine's speed and memory on the screen against the original's.
    pub speed_ratio: Option<f64>,
    pub memory_ratio: Option<f64>,
    /// The survival score (lower is better), when it survived.
    pub score: Option<f64>,
}

/// How a screened genome fared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenomeResult<'a> {
    pub variant: Option<VariantId>,
    pub probe: Option<ProbeId>,
    pub quality: Option<f64>,
    pub speed_ratio: Option<f64>,
    pub memory_ratio: Option<f64>,
    pub score: Option<f64>,
    /// Kind and detail of the failure that ended it.
    pub failure: Option<(&'a str, &'a str)>,
}

/// A match of an evolution's game stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvolutionMatch {
    pub evolution: EvolutionId,
    /// `gate` or `league`.
    pub stage: String,
    pub player_a: String,
    pub player_b: String,
    pub run: RunId,
}

/// A strategy of an evolution probed outside its loop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvolutionCheck {
    pub evolution: EvolutionId,
    /// `genome:<id>` or `recipe:<name>`.
    pub subject: String,
    /// `screen` (the positions the evolution was screened on) or `unseen`.
    pub suite: String,
    pub suite_sha256: String,
    pub strategy_toml: String,
    pub bits_per_weight: f64,
    pub bytes: i64,
    pub probe: Option<ProbeId>,
    pub quality: f64,
}

const EVOLUTION_COLUMNS: &str =
    "id, name, model_sha256, budget, seed, settings, status, created_at";
const GENOME_COLUMNS: &str = "id, evolution_id, generation, operator, parent_a, parent_b, \
     strategy_toml, strategy_sha256, bits_per_weight, bytes, variant_id, probe_id, quality, \
     failure, failure_detail, created_at, speed_ratio, memory_ratio, score";

fn evolution_from_row(r: &Row<'_>) -> rusqlite::Result<EvolutionRecord> {
    Ok(EvolutionRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        model_sha256: r.get(2)?,
        budget: json_col(r, 3)?,
        seed: r.get(4)?,
        settings: json_col(r, 5)?,
        status: r.get(6)?,
        created_at: r.get(7)?,
    })
}

fn genome_from_row(r: &Row<'_>) -> rusqlite::Result<GenomeRecord> {
    Ok(GenomeRecord {
        id: r.get(0)?,
        genome: NewGenome {
            evolution: r.get(1)?,
            generation: r.get(2)?,
            operator: r.get(3)?,
            parent_a: r.get(4)?,
            parent_b: r.get(5)?,
            strategy_toml: r.get(6)?,
            strategy_sha256: r.get(7)?,
            bits_per_weight: r.get(8)?,
            bytes: r.get(9)?,
        },
        variant: r.get(10)?,
        probe: r.get(11)?,
        quality: r.get(12)?,
        failure: r.get(13)?,
        failure_detail: r.get(14)?,
        created_at: r.get(15)?,
        speed_ratio: r.get(16)?,
        memory_ratio: r.get(17)?,
        score: r.get(18)?,
    })
}

impl Store {
    /// The evolution with this name and seed, created when new.
    pub fn upsert_evolution(&self, e: &NewEvolution) -> Result<EvolutionRecord> {
        self.write("starting an evolution", |tx| {
            tx.execute(
                "INSERT INTO evolutions (name, model_sha256, budget, seed, settings, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (name, seed) DO NOTHING",
                params![
                    e.name,
                    e.model_sha256,
                    json_text(&e.budget),
                    e.seed,
                    json_text(&e.settings),
                    now_rfc3339()
                ],
            )
            .map_err(|err| self.sql_error("starting an evolution", err))?;
            tx.query_row(
                &format!(
                    "SELECT {EVOLUTION_COLUMNS} FROM evolutions WHERE name = ?1 AND seed = ?2"
                ),
                params![e.name, e.seed],
                evolution_from_row,
            )
            .map_err(|err| self.sql_error("starting an evolution", err))
        })
    }

    /// Evolutions, oldest first.
    pub fn evolutions(&self) -> Result<Vec<EvolutionRecord>> {
        self.call("reading evolutions", |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {EVOLUTION_COLUMNS} FROM evolutions ORDER BY id"
            ))?;
            let rows = stmt.query_map([], evolution_from_row)?;
            rows.collect()
        })
    }

    pub fn set_evolution_status(&self, id: EvolutionId, status: RunStatus) -> Result<()> {
        self.call("updating an evolution", |c| {
            c.execute(
                "UPDATE evolutions SET status = ?2 WHERE id = ?1",
                params![id, status],
            )
            .map(|_| ())
        })
    }

    /// Stores a genome; the same strategy twice in one evolution is the
    /// same genome (its first record is returned, `false`).
    pub fn insert_genome(&self, g: &NewGenome) -> Result<(GenomeRecord, bool)> {
        self.write("storing a genome", |tx| {
            let existing = tx
                .query_row(
                    &format!(
                        "SELECT {GENOME_COLUMNS} FROM genomes
                         WHERE evolution_id = ?1 AND strategy_sha256 = ?2"
                    ),
                    params![g.evolution, g.strategy_sha256],
                    genome_from_row,
                )
                .optional()
                .map_err(|e| self.sql_error("storing a genome", e))?;
            if let Some(rec) = existing {
                return Ok((rec, false));
            }
            tx.execute(
                "INSERT INTO genomes (evolution_id, generation, operator, parent_a, parent_b,
                                      strategy_toml, strategy_sha256, bits_per_weight, bytes,
                                      created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![
                    g.evolution,
                    g.generation,
                    g.operator,
                    g.parent_a,
                    g.parent_b,
                    g.strategy_toml,
                    g.strategy_sha256,
                    g.bits_per_weight,
                    g.bytes,
                    now_rfc3339()
                ],
            )
            .map_err(|e| self.sql_error("storing a genome", e))?;
            let id = GenomeId(tx.last_insert_rowid());
            tx.query_row(
                &format!("SELECT {GENOME_COLUMNS} FROM genomes WHERE id = ?1"),
                [id],
                genome_from_row,
            )
            .map(|rec| (rec, true))
            .map_err(|e| self.sql_error("storing a genome", e))
        })
    }

    /// Records how a genome fared in the screen: its variant, probe,
    /// quality, cost and score, or the failure that ended it.
    pub fn set_genome_result(&self, id: GenomeId, r: &GenomeResult<'_>) -> Result<()> {
        self.call("recording a genome's result", |c| {
            c.execute(
                "UPDATE genomes SET variant_id = ?2, probe_id = ?3, quality = ?4,
                        failure = ?5, failure_detail = ?6, speed_ratio = ?7,
                        memory_ratio = ?8, score = ?9
                 WHERE id = ?1",
                params![
                    id,
                    r.variant,
                    r.probe,
                    r.quality,
                    r.failure.map(|f| f.0),
                    r.failure.map(|f| f.1),
                    r.speed_ratio,
                    r.memory_ratio,
                    r.score
                ],
            )
            .map(|_| ())
        })
    }

    /// The genome with this id.
    pub fn genome(&self, id: GenomeId) -> Result<Option<GenomeRecord>> {
        self.call("reading a genome", |c| {
            c.query_row(
                &format!("SELECT {GENOME_COLUMNS} FROM genomes WHERE id = ?1"),
                [id],
                genome_from_row,
            )
            .optional()
        })
    }

    /// Records that `run` is a match of an evolution's game stage (again
    /// for the same players and stage: nothing changes).
    pub fn add_evolution_match(&self, m: &EvolutionMatch) -> Result<()> {
        self.call("recording an evolution match", |c| {
            c.execute(
                "INSERT INTO evolution_matches
                     (evolution_id, stage, player_a, player_b, run_id, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (evolution_id, stage, player_a, player_b) DO NOTHING",
                params![
                    m.evolution,
                    m.stage,
                    m.player_a,
                    m.player_b,
                    m.run,
                    now_rfc3339()
                ],
            )
            .map(|_| ())
        })
    }

    /// Records a check (again for the same subject and suite: replaced).
    pub fn put_evolution_check(&self, k: &EvolutionCheck) -> Result<()> {
        self.call("recording an evolution check", |c| {
            c.execute(
                "INSERT INTO evolution_checks
                     (evolution_id, subject, suite, suite_sha256, strategy_toml,
                      bits_per_weight, bytes, probe_id, quality, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (evolution_id, subject, suite) DO UPDATE SET
                     suite_sha256 = excluded.suite_sha256,
                     strategy_toml = excluded.strategy_toml,
                     bits_per_weight = excluded.bits_per_weight,
                     bytes = excluded.bytes, probe_id = excluded.probe_id,
                     quality = excluded.quality, created_at = excluded.created_at",
                params![
                    k.evolution,
                    k.subject,
                    k.suite,
                    k.suite_sha256,
                    k.strategy_toml,
                    k.bits_per_weight,
                    k.bytes,
                    k.probe,
                    k.quality,
                    now_rfc3339()
                ],
            )
            .map(|_| ())
        })
    }

    /// The checks of an evolution, in the order they were first made.
    pub fn evolution_checks(&self, evolution: EvolutionId) -> Result<Vec<EvolutionCheck>> {
        self.call("reading evolution checks", |c| {
            let mut stmt = c.prepare(
                "SELECT evolution_id, subject, suite, suite_sha256, strategy_toml,
                        bits_per_weight, bytes, probe_id, quality
                 FROM evolution_checks WHERE evolution_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([evolution], |r| {
                Ok(EvolutionCheck {
                    evolution: r.get(0)?,
                    subject: r.get(1)?,
                    suite: r.get(2)?,
                    suite_sha256: r.get(3)?,
                    strategy_toml: r.get(4)?,
                    bits_per_weight: r.get(5)?,
                    bytes: r.get(6)?,
                    probe: r.get(7)?,
                    quality: r.get(8)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Bradley–Terry ratings over every game of an evolution's game stage,
    /// anchored at the player `anchor` (Elo 0, listed first among the
    /// players even without games), with 95% intervals; best first. Empty
    /// before any finished game.
    pub fn evolution_ratings(
        &self,
        evolution: EvolutionId,
        anchor: &str,
    ) -> Result<Vec<(String, qarena_stats::Rating)>> {
        let mut games = Vec::new();
        for m in self.evolution_matches(evolution)? {
            for g in self.games(m.run)? {
                if let Some(o) = g.outcome_of_a() {
                    games.push((m.player_a.clone(), m.player_b.clone(), o.score()));
                }
            }
        }
        Ok(crate::ratings::fit_named(anchor, games))
    }

    /// The matches of an evolution's game stage, oldest first.
    pub fn evolution_matches(&self, evolution: EvolutionId) -> Result<Vec<EvolutionMatch>> {
        self.call("reading evolution matches", |c| {
            let mut stmt = c.prepare(
                "SELECT evolution_id, stage, player_a, player_b, run_id
                 FROM evolution_matches WHERE evolution_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([evolution], |r| {
                Ok(EvolutionMatch {
                    evolution: r.get(0)?,
                    stage: r.get(1)?,
                    player_a: r.get(2)?,
                    player_b: r.get(3)?,
                    run: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Every genome of an evolution, in generation order.
    pub fn genomes(&self, evolution: EvolutionId) -> Result<Vec<GenomeRecord>> {
        self.call("reading genomes", |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {GENOME_COLUMNS} FROM genomes WHERE evolution_id = ?1
                 ORDER BY generation, id"
            ))?;
            let rows = stmt.query_map([evolution], genome_from_row)?;
            rows.collect()
        })
    }
}
