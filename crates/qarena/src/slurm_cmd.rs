//! `qarena slurm`: a sweep spread over a Slurm cluster, one array task per
//! shard (`--shard K/N`) and a merge job that runs once every task has
//! succeeded; and the progress of the shards, read from their databases.
//!
//! Everything lives in one folder on a filesystem every node sees:
//! `job.sh` and `merge.sh` (bash scripts, submitted with `sbatch`, never
//! `--wrap`), `shard-K/qarena.sqlite` and `shard-K/runs/` per shard, the
//! shared variant cache `variants/`, the scheduler's output in `logs/`, and
//! after the merge `merged.sqlite` and `runs/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use clap::{Args, Subcommand};
use qarena_arena::RunTag;
use qarena_store::{Shard, Store};
use qarena_sweep::SweepDef;

use crate::{CliResult, Exit};

#[derive(Debug, Subcommand)]
pub enum SlurmCommand {
    /// Write a sweep as a Slurm job array (one task per shard) and a merge
    /// job that depends on it (`afterok`, `--kill-on-invalid-dep=yes`);
    /// with --submit, submit both with sbatch.
    ///
    /// Example: qarena slurm sweep ladder.toml --shards 4 --dir /shared/ladder --submit
    Sweep(SlurmSweepArgs),
    /// How far each shard of a sweep written by `qarena slurm sweep` is,
    /// read from the shard databases, and whether the merge has run.
    Status {
        /// The folder given to `qarena slurm sweep --dir`.
        dir: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct SlurmSweepArgs {
    /// The sweep file (TOML); it and the model, engines and configs it names
    /// must be reachable from every compute node.
    pub file: PathBuf,
    /// Number of shards (array tasks).
    #[arg(long)]
    pub shards: u32,
    /// Folder on the shared filesystem for scripts, shard databases, logs
    /// and the merged result (created).
    #[arg(long, default_value = "slurm")]
    pub dir: PathBuf,
    /// Tag of the run in every shard and in the merged database (default:
    /// the sweep's name).
    #[arg(long)]
    pub run_tag: Option<RunTag>,
    /// sbatch --partition.
    #[arg(long)]
    pub partition: Option<String>,
    /// sbatch --time (e.g. 02:00:00) of each task and of the merge.
    #[arg(long)]
    pub time: Option<String>,
    /// sbatch --cpus-per-task; also the games each shard plays at once.
    #[arg(long, default_value_t = 1)]
    pub cpus_per_task: u32,
    /// sbatch --mem (e.g. 4G).
    #[arg(long)]
    pub mem: Option<String>,
    /// sbatch --account.
    #[arg(long)]
    pub account: Option<String>,
    /// The qarena binary on the compute nodes (default: this one).
    #[arg(long)]
    pub qarena: Option<PathBuf>,
    /// Submit with sbatch (otherwise only write the scripts and print the
    /// commands that submit them).
    #[arg(long)]
    pub submit: bool,
}

/// A path as a single-quoted bash word; paths holding a quote or a control
/// character are refused rather than escaped.
fn quoted(p: &Path) -> Result<String, Exit> {
    let s = p
        .to_str()
        .ok_or_else(|| Exit::input(anyhow!("path {} is not valid UTF-8", p.display())))?;
    if s.chars().any(|c| c == '\'' || c.is_control()) {
        return Err(Exit::input(anyhow!(
            "path {s:?} holds a quote or a control character; choose another folder"
        )));
    }
    Ok(format!("'{s}'"))
}

/// A value for an `#SBATCH` line: printable, no spaces or quotes.
fn sbatch_value(name: &str, v: &str) -> Result<String, Exit> {
    if v.is_empty()
        || v.chars()
            .any(|c| c.is_whitespace() || c.is_control() || "'\"\\".contains(c))
    {
        return Err(Exit::input(anyhow!(
            "--{name} `{v}` is not a valid sbatch value"
        )));
    }
    Ok(v.to_string())
}

fn absolute(p: &Path) -> Result<PathBuf, Exit> {
    std::path::absolute(p).map_err(|e| Exit::input(anyhow!("{}: {e}", p.display())))
}

/// The `#SBATCH` lines both scripts share.
fn sbatch_lines(a: &SlurmSweepArgs) -> Result<String, Exit> {
    let mut out = String::new();
    for (name, v) in [
        ("partition", &a.partition),
        ("time", &a.time),
        ("mem", &a.mem),
        ("account", &a.account),
    ] {
        if let Some(v) = v {
            out.push_str(&format!("#SBATCH --{name}={}\n", sbatch_value(name, v)?));
        }
    }
    Ok(out)
}

pub fn run(c: SlurmCommand) -> CliResult {
    match c {
        SlurmCommand::Sweep(a) => sweep(a),
        SlurmCommand::Status { dir } => status(&dir),
    }
}

fn sweep(a: SlurmSweepArgs) -> CliResult {
    if a.shards == 0 || a.shards > Shard::MAX_COUNT {
        return Err(Exit::input(anyhow!(
            "--shards must be 1..={}",
            Shard::MAX_COUNT
        )));
    }
    if a.cpus_per_task == 0 {
        return Err(Exit::input(anyhow!("--cpus-per-task must be at least 1")));
    }
    let def = SweepDef::from_file(&a.file).map_err(Exit::input)?;
    // A `[refine]` table is not used: refinement needs every shard's
    // results, so the tasks run without --refine.
    def.points().map_err(Exit::input)?;
    let tag = match &a.run_tag {
        Some(t) => t.clone(),
        None => def.name.parse::<RunTag>().map_err(|e| {
            Exit::input(anyhow!(
                "the sweep's name `{}` is not a run tag ({e}); give --run-tag",
                def.name
            ))
        })?,
    };
    let dir = absolute(&a.dir)?;
    let file = absolute(&a.file)?;
    let qarena = match &a.qarena {
        Some(q) => absolute(q)?,
        None => std::env::current_exe()
            .map_err(|e| Exit::input(anyhow!("finding this qarena binary: {e}")))?,
    };
    let (qd, qf, qq) = (quoted(&dir)?, quoted(&file)?, quoted(&qarena)?);
    let n = a.shards;
    fs_err::create_dir_all(dir.join("logs")).map_err(Exit::storage)?;
    let sbatch = sbatch_lines(&a)?;
    let name = format!("qarena-{tag}");
    let job = format!(
        "#!/usr/bin/env bash
# Shard $SLURM_ARRAY_TASK_ID of {n} of sweep `{sweep}` (run {tag}), written by
# `qarena slurm sweep`. Resubmitting a task resumes its shard.
#SBATCH --job-name={name}
#SBATCH --array=0-{last}
#SBATCH --cpus-per-task={cpus}
#SBATCH --output={logs}/shard-%a.out
{sbatch}set -euo pipefail
k=${{SLURM_ARRAY_TASK_ID:?run this script as a Slurm array task}}
q={qq}
d={qd}/shard-$k
mkdir -p \"$d\"
common=(--db \"$d/qarena.sqlite\" --runs-dir \"$d/runs\" --cache {qd}/variants)
if \"$q\" runs show {tag} --db \"$d/qarena.sqlite\" >/dev/null 2>&1; then
  exec \"$q\" sweep --resume {tag} \"${{common[@]}}\"
fi
exec \"$q\" sweep {qf} --run-tag {tag} --shard \"$k/{n}\" -j {cpus} \"${{common[@]}}\"
",
        sweep = def.name,
        last = n - 1,
        cpus = a.cpus_per_task,
        logs = dir.join("logs").display(),
    );
    let merge = format!(
        "#!/usr/bin/env bash
# Merges the {n} shards of run {tag} once every array task has succeeded;
# written by `qarena slurm sweep`. Running it again adds nothing twice.
#SBATCH --job-name={name}-merge
#SBATCH --cpus-per-task=1
#SBATCH --output={logs}/merge.out
{sbatch}set -euo pipefail
q={qq}
d={qd}
shards=() runs=()
for k in $(seq 0 {last}); do
  shards+=(\"$d/shard-$k/qarena.sqlite\")
  runs+=(--shard-runs \"$d/shard-$k/runs\")
done
\"$q\" merge \"$d/merged.sqlite\" \"${{shards[@]}}\" \"${{runs[@]}}\" --runs-dir \"$d/runs\"
",
        last = n - 1,
        logs = dir.join("logs").display(),
    );
    let write = |file: &str, text: &str| -> Result<PathBuf, Exit> {
        let p = dir.join(file);
        fs_err::write(&p, text).map_err(Exit::storage)?;
        Ok(p)
    };
    let job_path = write("job.sh", &job)?;
    let merge_path = write("merge.sh", &merge)?;
    println!(
        "wrote {} ({n} array tasks) and {}",
        job_path.display(),
        merge_path.display()
    );
    if !a.submit {
        println!("submit with:");
        println!("  job=$(sbatch --parsable {})", job_path.display());
        println!(
            "  sbatch --dependency=afterok:${{job%%;*}} --kill-on-invalid-dep=yes {}",
            merge_path.display()
        );
        return Ok(());
    }
    let array = sbatch_submit(&["--parsable".into(), job_path.display().to_string()])?;
    let merge_id = sbatch_submit(&[
        "--parsable".into(),
        format!("--dependency=afterok:{array}"),
        "--kill-on-invalid-dep=yes".into(),
        merge_path.display().to_string(),
    ])?;
    fs_err::write(
        dir.join("submitted.json"),
        serde_json::json!({"array_job": array, "merge_job": merge_id, "shards": n, "run_tag": tag.as_str()})
            .to_string(),
    )
    .map_err(Exit::storage)?;
    println!("submitted array job {array} ({n} tasks) and merge job {merge_id}");
    println!("progress: qarena slurm status {}", dir.display());
    Ok(())
}

/// Runs `sbatch ARGS` and returns the job id it prints (`--parsable`:
/// `id` or `id;cluster`).
fn sbatch_submit(args: &[String]) -> Result<String, Exit> {
    let mut argv = vec!["sbatch".to_string()];
    argv.extend_from_slice(args);
    let spec = qarena_engine::RunSpec::new("sbatch", argv, Duration::from_secs(120));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let out = qarena_engine::run_to_completion(&spec, &stop).map_err(|e| {
        Exit::engine(anyhow!(
            "{e} — is Slurm's client (sbatch) installed and on PATH?"
        ))
    })?;
    if !out.status.success() {
        return Err(Exit::engine(anyhow!(
            "sbatch failed ({}): {}",
            out.status,
            out.stderr_tail.trim()
        )));
    }
    let id = out
        .stdout_tail
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(Exit::engine(anyhow!(
            "sbatch printed no job id: {:?}",
            out.stdout_tail.trim()
        )));
    }
    Ok(id)
}

/// The games a shard of a stored sweep run plays, and how many it has.
fn shard_progress(db: &Path) -> Result<Option<(String, usize, usize)>, Exit> {
    if !db.is_file() {
        return Ok(None);
    }
    let store = Store::open(db)?;
    let Some(run) = store.list_runs()?.into_iter().next().map(|r| r.run) else {
        return Ok(None);
    };
    let shard = Shard::of_run_settings(&run.settings);
    let def: Option<SweepDef> = run
        .settings
        .get("sweep")
        .and_then(|v| serde_json::from_value(v.clone()).ok());
    let games = store.games(run.id)?;
    let done = games
        .iter()
        .filter(|g| g.termination != qarena_store::Termination::Aborted)
        .count();
    let mut expected = 0usize;
    if let Some(def) = def {
        let points = store
            .sweeps(run.id)?
            .into_iter()
            .next()
            .map(|s| store.sweep_points(s.id))
            .transpose()?
            .unwrap_or_default();
        let mine = |point: i64, n: u32| {
            (0..i64::from(n))
                .filter(|g| shard.is_none_or(|s| s.owns_game(point, *g)))
                .count()
        };
        for p in &points {
            expected += mine(p.point_index, def.games);
            for (k, a) in def.anchors.iter().enumerate() {
                let at = qarena_sweep::ANCHOR_POINTS * (k as i64 + 1) + p.point_index;
                expected += mine(at, a.games.unwrap_or(def.anchor_games));
            }
        }
    }
    Ok(Some((run.status.as_str().to_string(), done, expected)))
}

fn status(dir: &Path) -> CliResult {
    let job = dir.join("job.sh");
    let text = fs_err::read_to_string(&job).map_err(|e| {
        Exit::input(anyhow!(
            "{e} — is {} a folder written by `qarena slurm sweep`?",
            dir.display()
        ))
    })?;
    let n: u32 = text
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array=0-"))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .map(|last| last + 1)
        .ok_or_else(|| Exit::input(anyhow!("{} has no #SBATCH --array line", job.display())))?;
    let (mut done_all, mut expected_all, mut finished) = (0, 0, 0);
    for k in 0..n {
        let db = dir.join(format!("shard-{k}")).join("qarena.sqlite");
        match shard_progress(&db)? {
            None => println!("shard {k}/{n}: not started"),
            Some((status, done, expected)) => {
                println!("shard {k}/{n}: {status}, {done}/{expected} games");
                done_all += done;
                expected_all += expected;
                if status == "completed" {
                    finished += 1;
                }
            }
        }
    }
    println!("all shards: {done_all}/{expected_all} games, {finished}/{n} completed");
    let merged = dir.join("merged.sqlite");
    match shard_progress(&merged)? {
        Some((_, done, _)) => println!("merged: {done} games in {}", merged.display()),
        None => println!("merged: not yet"),
    }
    Ok(())
}
