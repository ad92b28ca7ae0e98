//! How a run starts: a new run, a resumed one or a sweep point is opened
//! and claimed, its engines are resolved and registered, and the games
//! still to play are listed.

use std::collections::{HashSet, VecDeque};
use std::path::Path;

use qarena_store::{EngineId, EngineSlot, NewEngine, NewRun, RunId, RunStatus, Store};

use super::{MatchRequest, RunError, RunStart};
use crate::game::Slot;
use crate::runfolder::{ClaimError, Environment, RunFolder, RunOwner};
use crate::settings::{EngineConfig, MatchConfig};

fn input(e: impl std::fmt::Display) -> RunError {
    RunError::Input(e.to_string())
}

/// Finds or creates the run `req` names, claimed for this process (the
/// claim is `None` for a sweep point, whose sweep holds it). On resume the
/// stored config replaces `req.config`.
///
/// The run folder is claimed before the run is created or touched in the
/// database, and held until the returned owner drops: a second process on
/// the same run, or a prune, sees the owner and leaves the run alone.
pub(super) fn open_run(
    store: &Store,
    req: &mut MatchRequest,
) -> Result<(RunId, Option<RunOwner>), RunError> {
    let claim = |req: &MatchRequest| -> Result<RunOwner, RunError> {
        create_folder(req)?.claim(&req.tag).map_err(claim_error)
    };
    // The run folder is claimed before the run is created or touched in
    // the database, and held until this function returns: a second process
    // on the same run, or a prune, sees the owner and leaves the run alone.
    let (run, owner) = match req.start {
        RunStart::SweepPoint(run) => {
            req.config.check().map_err(input)?;
            check_shard(req)?;
            (run, None)
        }
        RunStart::Resume => {
            let no_run = |req: &MatchRequest| {
                RunError::Input(format!(
                    "no run tagged '{}' in {} — `qarena runs list` shows the runs there",
                    req.tag,
                    req.db.display()
                ))
            };
            let rec = store.run_by_tag(&req.tag)?.ok_or_else(|| no_run(req))?;
            if let Some(m) = rec.settings.get("match") {
                req.config = serde_json::from_value(m.clone()).map_err(|e| {
                    RunError::Input(format!(
                        "run '{}' has settings this version cannot read: {e}",
                        req.tag
                    ))
                })?;
            } else {
                return Err(RunError::Input(format!(
                    "run '{}' is a {} run, not a match: resume it with the command that made it",
                    req.tag, rec.kind
                )));
            }
            // A resume continues the shard the run was started as.
            req.shard = qarena_store::Shard::for_resume(
                req.shard,
                qarena_store::Shard::of_run_settings(&rec.settings),
                req.tag.as_str(),
            )
            .map_err(RunError::Input)?;
            let owner = claim(req)?;
            // A prune may have deleted the run before we owned it.
            if store.run(rec.id)?.is_none() {
                return Err(no_run(req));
            }
            store.set_run_status(rec.id, RunStatus::Running)?;
            (rec.id, Some(owner))
        }
        RunStart::New => {
            if store.run_by_tag(&req.tag)?.is_some() {
                return Err(RunError::Input(format!(
                "a run tagged '{}' already exists in {} — use `--resume {}` to finish it or pick another `--run-tag`",
                req.tag,
                req.db.display(),
                req.tag
            )));
            }
            // Everything that can be checked is checked before the run exists.
            req.config.check().map_err(input)?;
            check_shard(req)?;
            if let Some(c) = &req.config.chess {
                c.check().map_err(input)?;
            }
            resolve_argv(&req.config.engine_a)?;
            resolve_argv(&req.config.engine_b)?;
            let owner = claim(req)?;
            let run = store.create_run(&NewRun {
                tag: req.tag.to_string(),
                kind: req.kind,
                argv: req.argv.clone(),
                settings: match req.shard {
                    Some(shard) => serde_json::json!({ "match": req.config, "shard": shard }),
                    None => serde_json::json!({ "match": req.config }),
                },
                software_version: env!("CARGO_PKG_VERSION").to_string(),
            })?;
            (run, Some(owner))
        }
    };
    Ok((run, owner))
}

pub(super) fn create_folder(req: &MatchRequest) -> Result<RunFolder, RunError> {
    RunFolder::create(&req.runs_dir, &req.tag).map_err(|e| RunError::Io {
        context: format!("creating run folder under {}", req.runs_dir.display()),
        source: e,
    })
}

/// A run owned by another process is an input error (exit code 2).
pub fn claim_error(e: ClaimError) -> RunError {
    match e {
        ClaimError::Busy { .. } => RunError::Input(e.to_string()),
        ClaimError::Io { lock, source } => RunError::Io {
            context: format!("locking {}", lock.display()),
            source,
        },
    }
}

/// Expands the command template and checks the program exists, so a typo is
/// an input error before any game starts.
pub fn resolve_argv(ec: &EngineConfig) -> Result<Vec<String>, RunError> {
    let argv = crate::command::resolve_command(&ec.command, &ec.placeholders())
        .map_err(|e| RunError::Input(format!("engine '{}': {e}", ec.name)))?;
    for (flag, p) in [("model", &ec.model), ("config", &ec.config)] {
        if let Some(p) = p {
            if !p.exists() {
                return Err(RunError::Input(format!(
                    "engine '{}': {flag} file {} does not exist",
                    ec.name,
                    p.display()
                )));
            }
        }
    }
    Ok(argv)
}

/// Writes the resolved config and the environment manifest into the run
/// folder.
pub(super) fn write_config(
    folder: &RunFolder,
    req: &MatchRequest,
    cfg: &MatchConfig,
) -> Result<(), RunError> {
    let config_name = match req.start {
        RunStart::SweepPoint(_) => format!("point-{}.json", req.point_index),
        RunStart::New | RunStart::Resume => "match.json".to_string(),
    };
    folder
        .write_json(&folder.configs().join(&config_name), cfg)
        .map_err(|e| io("writing the resolved config", e))?;
    folder
        .write_json(
            &folder.manifests().join("environment.json"),
            &Environment::capture(),
        )
        .map_err(|e| io("writing manifests/environment.json", e))
}

pub(super) fn io(what: &str, e: std::io::Error) -> RunError {
    RunError::Io {
        context: what.to_string(),
        source: e,
    }
}

/// Registers both engines of the point in the store (with the sha256 of
/// their model, and the variant each plays when the request names one) and
/// writes the models manifest.
pub(super) fn register_engines(
    store: &Store,
    run: RunId,
    folder: &RunFolder,
    req: &MatchRequest,
    cfg: &MatchConfig,
    argv: &[Vec<String>; 2],
) -> Result<[EngineId; 2], RunError> {
    let mut engine_ids = [EngineId(0); 2];
    let mut model_manifest = Vec::new();
    for (slot, (ec, av)) in [
        (Slot::A, (&cfg.engine_a, &argv[0])),
        (Slot::B, (&cfg.engine_b, &argv[1])),
    ] {
        let model = ec
            .model
            .as_ref()
            .map(|p| crate::command::absolute(p).display().to_string())
            .or_else(|| crate::command::model_in_argv(av));
        let sha = model
            .as_deref()
            .and_then(|m| qarena_models::sha256_file(Path::new(m)).ok());
        model_manifest.push(serde_json::json!({"slot": slot.as_str(), "engine": ec.name, "command": av, "model": model, "sha256": sha}));
        engine_ids[slot.index()] = store.add_engine(&NewEngine {
            run,
            slot: slot_key(req, slot),
            label: ec.name.clone(),
            command: av.clone(),
            protocol: ec.protocol.into(),
            name: None,
            version: None,
            model_path: model,
            model_sha256: sha,
        })?;
        if let Some(variant) = req.variants[slot.index()] {
            store.set_engine_variant(engine_ids[slot.index()], Some(variant))?;
        }
    }
    folder
        .write_json(
            &folder
                .manifests()
                .join(format!("models-point-{}.json", req.point_index)),
            &model_manifest,
        )
        .map_err(|e| io("writing manifests/models.json", e))?;
    Ok(engine_ids)
}

/// A shard plays whole colour-swapped pairs and cannot judge an SPRT,
/// which needs every game.
fn check_shard(req: &MatchRequest) -> Result<(), RunError> {
    if req.shard.is_some() && req.config.sprt.is_some() {
        return Err(RunError::Input(
            "a shard cannot stop on an SPRT (it sees only its own games): drop --shard or --sprt"
                .into(),
        ));
    }
    Ok(())
}

/// The game indices of the point still to play (only the shard's, when
/// sharded): aborted games are deleted (and replayed), finished ones never
/// are. Also returns how many are done and how many the point (or shard)
/// has in all.
pub(super) fn pending_games(
    store: &Store,
    run: RunId,
    req: &MatchRequest,
    games: u32,
) -> Result<(VecDeque<u32>, usize, u32), RunError> {
    store.delete_aborted_games(run, req.point_index)?;
    let finished: HashSet<i64> = store
        .finished_games(run)?
        .into_iter()
        .filter(|(p, _)| *p == req.point_index)
        .map(|(_, g)| g)
        .collect();
    let mine: Vec<u32> = (0..games)
        .filter(|g| {
            req.shard
                .is_none_or(|s| s.owns_game(req.point_index, i64::from(*g)))
        })
        .collect();
    let total = u32::try_from(mine.len()).unwrap_or(games);
    let pending = mine
        .into_iter()
        .filter(|g| !finished.contains(&i64::from(*g)))
        .collect();
    Ok((pending, finished.len(), total))
}

/// The engine slot in the store: `a`/`b` for a match, `a3`/`b3` for
/// point 3 of a sweep (each point has its own pair of engines).
pub(super) fn slot_key(req: &MatchRequest, slot: Slot) -> EngineSlot {
    match (req.start, u32::try_from(req.point_index)) {
        (RunStart::SweepPoint(_), Ok(point)) => EngineSlot::PointPlayer(slot, point),
        _ => EngineSlot::Player(slot),
    }
}
