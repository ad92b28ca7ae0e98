//! `qarena runs ...` and `qarena export ...`.

use std::path::Path;

use anyhow::anyhow;
use qarena_arena::runfolder::{prune_target, remove_pruned, ClaimError, Ownership, PruneTarget};
use qarena_store::{RunStatus, RunSummary, Store};

use crate::cli::{ExportCommand, RunsCommand};
use crate::{CliResult, Exit};

/// Joins argv so it can be pasted back into a shell.
fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn open(db: &Path) -> Result<Store, Exit> {
    if !db.exists() {
        return Err(Exit::input(anyhow!(
            "database {} does not exist — run `qarena match` or `qarena demo` first, or pass --db",
            db.display()
        )));
    }
    Ok(Store::open(db)?)
}

fn run_or_fail(store: &Store, tag: &str, db: &Path) -> Result<qarena_store::RunRecord, Exit> {
    store.run_by_tag(tag)?.ok_or_else(|| {
        Exit::input(anyhow!(
            "no run tagged '{tag}' in {} — `qarena runs list` shows the runs",
            db.display()
        ))
    })
}

pub fn run(cmd: RunsCommand, db: &Path) -> CliResult {
    let store = open(db)?;
    match cmd {
        RunsCommand::List => {
            let runs = store.list_runs()?;
            if runs.is_empty() {
                println!("no runs in {}", db.display());
                return Ok(());
            }
            println!(
                "{:<32} {:<7} {:<12} {:>6} {:>6}  created",
                "tag", "kind", "status", "games", "events"
            );
            for r in runs {
                println!(
                    "{:<32} {:<7} {:<12} {:>6} {:>6}  {}",
                    r.run.tag,
                    r.run.kind,
                    r.run.status.as_str(),
                    r.games,
                    r.events,
                    r.run.created_at
                );
            }
        }
        RunsCommand::Show { tag } => {
            let rec = run_or_fail(&store, &tag, db)?;
            println!(
                "run {}  kind {}  status {}",
                rec.tag,
                rec.kind,
                rec.status.as_str()
            );
            println!(
                "created {}  finished {}",
                rec.created_at,
                rec.finished_at.as_deref().unwrap_or("-")
            );
            println!(
                "qarena {}  argv: {}",
                rec.software_version,
                shell_join(&rec.argv)
            );
            println!("engines:");
            for e in store.engines(rec.id)? {
                println!(
                    "  [{}] {:<16} {} {}  `{}`{}",
                    e.slot,
                    e.label,
                    e.name.as_deref().unwrap_or("?"),
                    e.version.as_deref().unwrap_or(""),
                    e.command.join(" "),
                    e.model_sha256
                        .as_deref()
                        .map(|s| format!("  model sha256 {}", &s[..s.len().min(16)]))
                        .unwrap_or_default()
                );
            }
            let games = store.games(rec.id)?;
            let wdl = qarena_store::tally_games(&games).wdl();
            let mut terms = std::collections::BTreeMap::<&str, u32>::new();
            for g in &games {
                *terms.entry(g.termination.as_str()).or_default() += 1;
            }
            println!(
                "games {}: A wins {}, draws {}, B wins {}",
                games.len(),
                wdl.wins,
                wdl.draws,
                wdl.losses
            );
            let t: Vec<String> = terms.iter().map(|(k, v)| format!("{k} {v}")).collect();
            println!("terminations: {}", t.join(", "));
            let events = store.events(rec.id)?;
            if !events.is_empty() {
                println!("events ({}):", events.len());
                for e in events.iter().take(50) {
                    println!(
                        "  {} {:<14} game {:>4}  {}",
                        e.at,
                        e.kind.as_str(),
                        e.game_index
                            .map(|g| (g + 1).to_string())
                            .unwrap_or("-".into()),
                        e.message
                    );
                }
                if events.len() > 50 {
                    println!("  ... {} more", events.len() - 50);
                }
            }
        }
        RunsCommand::Prune {
            dry_run,
            with_games,
            runs_dir,
        } => prune(&store, &runs_dir, dry_run, with_games)?,
    }
    Ok(())
}

pub fn export(cmd: ExportCommand) -> CliResult {
    match cmd {
        ExportCommand::Sgf { run, output, db } => {
            let store = open(&db.db)?;
            let rec = run_or_fail(&store, &run, &db.db)?;
            fs_err::create_dir_all(&output).map_err(Exit::input)?;
            let mut n = 0;
            for g in store.games(rec.id)? {
                if g.record_format != "sgf" {
                    continue;
                }
                let name = format!(
                    "{}-p{}-g{:04}.sgf",
                    rec.tag,
                    g.point_index,
                    g.game_index + 1
                );
                fs_err::write(output.join(name), &g.record).map_err(Exit::input)?;
                n += 1;
            }
            println!("wrote {n} SGF files to {}", output.display());
        }
        ExportCommand::Pgn { run, output, db } => {
            let store = open(&db.db)?;
            let rec = run_or_fail(&store, &run, &db.db)?;
            let records: Vec<String> = store
                .games(rec.id)?
                .into_iter()
                .filter(|g| g.record_format == "pgn")
                .map(|g| g.record)
                .collect();
            let text = qarena_chess::export_pgn(&records);
            fs_err::write(&output, text).map_err(Exit::input)?;
            println!("wrote {} games to {}", records.len(), output.display());
        }
    }
    Ok(())
}

/// Why a run is kept, or `None` when prune may delete it.
fn keep_reason(r: &RunSummary, with_games: bool) -> Option<String> {
    if r.run.kind == qarena_store::RunKind::KvSweep && r.run.status == RunStatus::Completed {
        return Some("a completed kv-sweep experiment (its results are stored evaluations)".into());
    }
    if r.games > 0 && r.run.status != RunStatus::Failed {
        return Some(format!("{} with {} games", r.run.status.as_str(), r.games));
    }
    if r.games > 0 && !with_games {
        return Some(format!(
            "failed with {} games (`--resume {}` finishes it) — `--with-games` deletes it",
            r.games, r.run.tag
        ));
    }
    None
}

/// `qarena runs prune`: deletes runs without games (and failed runs with
/// games when `with_games`), never one owned by a live process, never
/// anything outside the runs folder.
fn prune(store: &Store, runs_dir: &Path, dry_run: bool, with_games: bool) -> CliResult {
    let root = match std::fs::canonicalize(runs_dir) {
        Ok(r) => Some(r),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(Exit::input(anyhow!(
                "runs folder {}: {e}",
                runs_dir.display()
            )))
        }
    };
    let (mut deleted, mut kept_with_games, mut failures) = (0, 0, Vec::new());
    let verb = if dry_run { "would delete" } else { "deleted" };
    for r in store.list_runs()? {
        let tag = r.run.tag.clone();
        let what = format!("{}, {} games", r.run.status.as_str(), r.games);
        if let Some(why) = keep_reason(&r, with_games) {
            if r.run.status == RunStatus::Failed {
                println!("keeping run {tag}: {why}");
            } else {
                kept_with_games += 1;
            }
            continue;
        }
        let target = prune_target(root.as_deref(), &tag);
        match target {
            PruneTarget::Refused(why) => println!("keeping run {tag} ({what}): {why}"),
            PruneTarget::NotATag(why) => {
                // An older build accepted any tag; its folder, wherever it
                // is, is not ours to delete.
                if !dry_run {
                    store.delete_run(r.run.id)?;
                }
                println!(
                    "{verb} run {} ({what}); its folder is not touched: {why}",
                    tag.escape_debug()
                );
                deleted += 1;
            }
            PruneTarget::Missing if r.run.status == RunStatus::Running => println!(
                "keeping run {tag} ({what}): marked running and it has no folder in {} to check \
                 for a live owner (was it played with another --runs-dir?)",
                runs_dir.display()
            ),
            PruneTarget::Missing => {
                if !dry_run {
                    store.delete_run(r.run.id)?;
                }
                println!("{verb} run {tag} ({what}); it has no run folder");
                deleted += 1;
            }
            PruneTarget::Folder(folder) if dry_run => match folder.ownership() {
                Ok(Ownership::Owned(pid)) => {
                    println!("keeping run {tag} ({what}): in use by {}", owner_name(pid))
                }
                Ok(Ownership::Free) => {
                    println!("{verb} run {tag} ({what}) and {}", folder.root.display());
                    deleted += 1;
                }
                Err(e) => println!(
                    "keeping run {tag} ({what}): cannot check {}: {e}",
                    folder.owner_lock().display()
                ),
            },
            PruneTarget::Folder(folder) => {
                let owner = match folder.claim(&tag) {
                    Ok(o) => o,
                    Err(ClaimError::Busy { pid, .. }) => {
                        println!("keeping run {tag} ({what}): in use by {}", owner_name(pid));
                        continue;
                    }
                    Err(e) => {
                        println!("keeping run {tag} ({what}): {e}");
                        continue;
                    }
                };
                // Now that nobody else can play it, look again: a process
                // may have added games since the listing.
                let now = store
                    .list_runs()?
                    .into_iter()
                    .find(|x| x.run.id == r.run.id);
                let Some(now) = now else {
                    continue;
                };
                if let Some(why) = keep_reason(&now, with_games) {
                    println!("keeping run {tag}: {why}");
                    continue;
                }
                store.delete_run(r.run.id)?;
                match remove_pruned(&folder, owner) {
                    Ok(()) => println!("{verb} run {tag} ({what}) and {}", folder.root.display()),
                    Err(e) => {
                        println!("deleted run {tag} ({what}); its folder is left: {e}");
                        failures.push(format!("{}: {e}", folder.root.display()));
                    }
                }
                deleted += 1;
            }
        }
    }
    if deleted == 0 {
        println!("nothing to prune");
    }
    if kept_with_games > 0 {
        println!("{kept_with_games} completed, interrupted or running runs with games are kept");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Exit::input(anyhow!(
            "could not remove {} run folder(s): {}",
            failures.len(),
            failures.join("; ")
        )))
    }
}

fn owner_name(pid: Option<u32>) -> String {
    pid.map(|p| format!("process {p}"))
        .unwrap_or_else(|| "another process".to_string())
}
