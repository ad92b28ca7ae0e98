//! `qarena ratings`: one Bradley–Terry fit over every game of a run (sweep
//! points, baseline, anchors, or a match's two engines), anchored at a
//! named player.

use anyhow::anyhow;
use clap::Args;
use qarena_arena::RunTag;
use qarena_store::Store;

use crate::cli::DbArgs;
use crate::{CliResult, Exit};

/// Ratings of every player of a run from all its games, with 95% intervals.
///
/// Players are the engines' labels: a sweep's point names, its baseline and
/// its anchors. The scale is anchored at `--anchor NAME[=ELO]` (default:
/// the sweep's first anchor with a stated Elo, else its baseline at 0).
///
/// Example: qarena ratings --run demo-1 --anchor sf-elo-1500=1500
#[derive(Debug, Args)]
pub struct RatingsArgs {
    #[arg(long)]
    pub run: RunTag,
    /// The player the scale is anchored at, and its rating (default 0).
    #[arg(long, value_name = "NAME[=ELO]")]
    pub anchor: Option<String>,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// The default anchor of a run: a sweep's first anchor that states an Elo,
/// else its baseline at 0, else the label of the run's first engine.
fn default_anchor(store: &Store, run: qarena_store::RunId) -> Result<(String, f64), Exit> {
    if let Some(s) = store.sweeps(run)?.into_iter().next() {
        let def = &s.definition;
        let stated = def.get("anchor").and_then(|a| a.as_array()).and_then(|a| {
            a.iter().find_map(|x| {
                Some((
                    x.get("name")?.as_str()?.to_string(),
                    x.get("elo")?.as_f64()?,
                ))
            })
        });
        if let Some(a) = stated {
            return Ok(a);
        }
        if let Some(b) = def.get("baseline").and_then(|b| b.as_str()) {
            return Ok((b.to_string(), 0.0));
        }
    }
    let first = store
        .engines(run)?
        .into_iter()
        .find(|e| e.slot.player().is_some())
        .map(|e| e.label)
        .ok_or_else(|| Exit::input(anyhow!("the run has no players")))?;
    Ok((first, 0.0))
}

pub fn run(a: RatingsArgs) -> CliResult {
    if !a.db.db.exists() {
        return Err(Exit::input(anyhow!(
            "database {} does not exist",
            a.db.db.display()
        )));
    }
    let store = Store::open(&a.db.db)?;
    let run = store.run_by_tag(&a.run)?.ok_or_else(|| {
        Exit::input(anyhow!(
            "no run tagged '{}' in {}",
            a.run,
            a.db.db.display()
        ))
    })?;
    let (anchor, anchor_elo) = match &a.anchor {
        Some(s) => match s.split_once('=') {
            Some((name, elo)) => (
                name.to_string(),
                elo.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|e| e.is_finite())
                    .ok_or_else(|| Exit::input(anyhow!("--anchor {s}: `{elo}` is not a rating")))?,
            ),
            None => (s.clone(), 0.0),
        },
        None => default_anchor(&store, run.id)?,
    };
    let ratings = store.run_ratings(run.id, &anchor)?;
    if ratings.is_empty() {
        return Err(Exit::input(anyhow!(
            "run '{}' has no finished game between two different players",
            a.run
        )));
    }
    if ratings.iter().all(|(n, r)| *n != anchor || r.games == 0) {
        let known: Vec<&str> = ratings
            .iter()
            .filter(|(n, _)| *n != anchor)
            .map(|(n, _)| n.as_str())
            .collect();
        return Err(Exit::input(anyhow!(
            "no player '{anchor}' played in run '{}' (players: {})",
            a.run,
            known.join(", ")
        )));
    }
    if a.json {
        let players: Vec<serde_json::Value> = ratings
            .iter()
            .map(|(n, r)| {
                serde_json::json!({
                    "name": n,
                    "elo": anchor_elo + r.elo,
                    "lower": anchor_elo + r.lower(),
                    "upper": anchor_elo + r.upper(),
                    "games": r.games,
                    "score": r.score,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({"run": a.run.as_str(), "anchor": anchor, "anchor_elo": anchor_elo, "players": players})
        );
        return Ok(());
    }
    println!(
        "run {}: Bradley–Terry ratings from every game, 95% intervals, anchored at {anchor} = {anchor_elo:.0}",
        a.run
    );
    println!(
        "{:<20} {:>8} {:>20} {:>6} {:>7}",
        "player", "Elo", "95% interval", "games", "score"
    );
    for (n, r) in &ratings {
        println!(
            "{:<20} {:>8.0} {:>20} {:>6} {:>6.1}%",
            n,
            anchor_elo + r.elo,
            format!(
                "[{:.0}, {:.0}]",
                anchor_elo + r.lower(),
                anchor_elo + r.upper()
            ),
            r.games,
            100.0 * r.score
        );
    }
    Ok(())
}
