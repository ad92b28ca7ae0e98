//! `qarena runs ...` and `qarena export ...`.

use std::path::Path;

use anyhow::anyhow;
use qarena_store::{RunStatus, Store};

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
            let (mut a, mut b, mut d) = (0, 0, 0);
            let mut terms = std::collections::BTreeMap::<String, u32>::new();
            let points: std::collections::BTreeSet<i64> =
                games.iter().map(|g| g.point_index).collect();
            for p in points {
                let s = qarena_arena::summary::from_games("", "", "", &games, p);
                (a, b, d) = (a + s.wins_a, b + s.wins_b, d + s.draws);
                for (k, v) in s.terminations {
                    *terms.entry(k).or_default() += v;
                }
            }
            println!("games {}: A wins {a}, draws {d}, B wins {b}", games.len());
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
        RunsCommand::Prune { dry_run, runs_dir } => {
            let mut n = 0;
            for r in store.list_runs()? {
                let prunable = r.games == 0 || r.run.status == RunStatus::Failed;
                if !prunable {
                    continue;
                }
                n += 1;
                let folder = runs_dir.join(&r.run.tag);
                if dry_run {
                    println!(
                        "would delete run {} ({}, {} games) and {}",
                        r.run.tag,
                        r.run.status.as_str(),
                        r.games,
                        folder.display()
                    );
                } else {
                    store.delete_run(r.run.id)?;
                    if folder.exists() {
                        fs_err::remove_dir_all(&folder).map_err(Exit::input)?;
                    }
                    println!("deleted run {}", r.run.tag);
                }
            }
            if n == 0 {
                println!("nothing to prune");
            }
        }
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
            let text = qarena_arena::chess::export_pgn(&records);
            fs_err::write(&output, text).map_err(Exit::input)?;
            println!("wrote {} games to {}", records.len(), output.display());
        }
    }
    Ok(())
}
