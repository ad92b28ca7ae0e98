//! `qarena merge OUT.sqlite SHARD.sqlite...`: the shard databases of a
//! sharded run combined into one (`qarena_store::Store::merge_shard`), their
//! run folders copied alongside (`qarena_arena::shardfolder`), and what is
//! still missing reported (`Store::merge_coverage`).

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use clap::Args;
use qarena_arena::shardfolder::{merge_run_folder, shard_label, FolderMergeError};
use qarena_arena::RunTag;
use qarena_store::{ExpectedGames, RunCoverage, ShardMerge, Store};

use crate::{CliResult, Exit};

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The merged database; created if missing. Merging into it again
    /// (the same shards, or the missing ones later) adds only what is new.
    pub out: PathBuf,
    /// The shard databases, each opened read-only and merged in one
    /// transaction, in the order given.
    #[arg(required = true, value_name = "SHARD")]
    pub shards: Vec<PathBuf>,
    /// The runs folder of the merged database: each merged run's files go
    /// to <RUNS_DIR>/<tag>/.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,
    /// The runs folder of a shard, given once per shard in the order of the
    /// shards. Default: the `runs` folder next to each shard database
    /// (skipped when there is none).
    #[arg(long = "shard-runs", value_name = "DIR")]
    pub shard_runs: Vec<PathBuf>,
}

pub fn run(a: MergeArgs) -> CliResult {
    if !a.shard_runs.is_empty() && a.shard_runs.len() != a.shards.len() {
        return Err(Exit::input(anyhow!(
            "--shard-runs was given {} times for {} shard databases — give it once per shard, in the order of the shards, or not at all",
            a.shard_runs.len(),
            a.shards.len()
        )));
    }
    for dir in &a.shard_runs {
        if !dir.is_dir() {
            return Err(Exit::input(anyhow!(
                "--shard-runs {} is not a folder",
                dir.display()
            )));
        }
    }
    let store = Store::open(&a.out)?;
    let mut tags: Vec<String> = Vec::new();
    for (i, shard) in a.shards.iter().enumerate() {
        let merged = store.merge_shard(shard).map_err(|e| {
            let before = if i == 0 {
                String::new()
            } else {
                format!(
                    " (the {i} shard database(s) before it are merged; fix this one and run the same command again)"
                )
            };
            let exit: Exit = e.into();
            Exit {
                code: exit.code,
                error: exit.error.context(format!(
                    "merging {} into {}{before}",
                    shard.display(),
                    a.out.display()
                )),
            }
        })?;
        print_shard(&merged);
        let (runs_dir, explicit) = match a.shard_runs.get(i) {
            Some(d) => (d.clone(), true),
            None => (
                shard
                    .parent()
                    .map(|p| p.join("runs"))
                    .unwrap_or_else(|| PathBuf::from("runs")),
                false,
            ),
        };
        for run in &merged.runs {
            if !tags.contains(&run.tag) {
                tags.push(run.tag.clone());
            }
            copy_folder(&runs_dir, explicit, &a.runs_dir, shard, run)?;
        }
    }
    for cov in store.merge_coverage(&tags)? {
        print_coverage(&cov);
    }
    Ok(())
}

fn copy_folder(
    shard_runs: &Path,
    explicit: bool,
    out_runs: &Path,
    shard: &Path,
    run: &qarena_store::RunMerge,
) -> CliResult {
    let Ok(tag) = RunTag::parse(&run.tag) else {
        println!(
            "  run '{}': not a valid run tag, so no run folder is copied",
            run.tag
        );
        return Ok(());
    };
    if !explicit && !shard_runs.is_dir() {
        return Ok(());
    }
    let label = shard_label(run.shards.as_ref(), shard);
    match merge_run_folder(shard_runs, out_runs, &tag, &label) {
        Ok(None) => {}
        Ok(Some(c)) if c.same_folder => println!(
            "  run folder {}: already the merged run's folder",
            c.source.display()
        ),
        Ok(Some(c)) => {
            let mut line = format!(
                "  run folder {} -> {}: {} file(s) copied, {} already there",
                c.source.display(),
                out_runs.join(tag.as_str()).display(),
                c.copied,
                c.unchanged
            );
            if c.set_apart > 0 {
                line.push_str(&format!(
                    ", {} differing config/manifest file(s) kept under {label}/",
                    c.set_apart
                ));
            }
            if c.links_skipped > 0 {
                line.push_str(&format!(", {} symbolic link(s) skipped", c.links_skipped));
            }
            println!("{line}");
        }
        Err(e @ FolderMergeError::Link(_)) => {
            return Err(Exit::input(
                anyhow!(e).context(format!("copying the run folder of '{}'", run.tag)),
            ));
        }
        Err(FolderMergeError::Io(e)) => {
            return Err(Exit::storage(
                anyhow!(e).context(format!("copying the run folder of '{}'", run.tag)),
            ));
        }
    }
    Ok(())
}

fn print_shard(m: &ShardMerge) {
    println!("merged {}:", m.shard.display());
    for r in &m.runs {
        let shards = r
            .shards
            .as_ref()
            .map(|s| format!(" ({})", s.describe()))
            .unwrap_or_default();
        let mut line = format!(
            "  run '{}'{shards}{}: {} new game(s), {} already present",
            r.tag,
            if r.created { ", new" } else { "" },
            r.games_new,
            r.games_present
        );
        if r.events_new > 0 {
            line.push_str(&format!(", {} event(s)", r.events_new));
        }
        if r.judge_moves_new > 0 || r.judge_runs_new > 0 {
            line.push_str(&format!(
                ", {} judge verdict(s) ({} new judge run(s))",
                r.judge_moves_new, r.judge_runs_new
            ));
        }
        println!("{line}");
    }
    let catalogue = [
        (m.models_new, "model"),
        (m.strategies_new, "strategy"),
        (m.variants_new, "variant"),
        (m.sweep_points_new, "sweep point"),
        (m.probes_new, "probe"),
    ]
    .iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, what)| format!("{n} {what}(s)"))
    .collect::<Vec<_>>();
    if !catalogue.is_empty() {
        println!("  catalogue: {} new", catalogue.join(", "));
    }
    if m.aborted_replaced > 0 {
        println!(
            "  {} aborted game(s) replaced by their finished game",
            m.aborted_replaced
        );
    }
}

fn print_coverage(c: &RunCoverage) {
    let shards = match &c.shards {
        Some(s) if c.missing_shards.is_empty() => format!("all {} shards merged", s.count),
        Some(s) => format!(
            "MISSING shard(s) {} of {} (merged: {})",
            list(&c.missing_shards),
            s.count,
            list(&s.indices.iter().copied().collect::<Vec<_>>())
        ),
        None => "not sharded".to_string(),
    };
    let games = match &c.expected {
        ExpectedGames::Known(n) if c.missing_games.is_empty() => {
            format!("{} of {n} game(s), none missing", c.games)
        }
        ExpectedGames::Known(n) => format!(
            "{} of {n} game(s), MISSING {}: {}",
            c.games,
            c.missing_games.len(),
            missing_list(&c.missing_games)
        ),
        ExpectedGames::Unknown(why) => {
            format!("{} game(s) (expected count unknown: {why})", c.games)
        }
    };
    let aborted = if c.aborted > 0 {
        format!(", {} aborted (replayed on resume)", c.aborted)
    } else {
        String::new()
    };
    println!("run '{}' ({}): {shards}; {games}{aborted}", c.tag, c.kind);
    for j in &c.judges {
        if !j.missing_shards.is_empty() {
            println!(
                "  judge run {}: MISSING shard(s) {} of {}",
                j.judge_run,
                list(&j.missing_shards),
                j.shards.count
            );
        }
    }
}

fn list(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

/// The first missing games as `point:game`, then how many more.
fn missing_list(keys: &[(i64, i64)]) -> String {
    const SHOWN: usize = 10;
    let mut s = keys
        .iter()
        .take(SHOWN)
        .map(|(p, g)| format!("{p}:{g}"))
        .collect::<Vec<_>>()
        .join(" ");
    if keys.len() > SHOWN {
        s.push_str(&format!(" … and {} more", keys.len() - SHOWN));
    }
    s.push_str(" (point:game)");
    s
}
