//! The built-in demo: Stockfish's own NNUE net, exported from the installed
//! Stockfish, degraded step by step (the feature transformer at ±127..±1
//! levels, the fc layers at ±7 and ±1) and played against the original.
//!
//! Invariants:
//! - The definition is fixed and seeded: the same Stockfish, games, nodes
//!   and concurrency give the same table.
//! - The net export runs through [`qarena_engine::run_to_completion`]: its
//!   own process group, a deadline, and the caller's stop flag, so Ctrl-C
//!   during the export ends it at once and leaves no Stockfish behind.
//! - The cached net is only replaced by a complete export that loads as a
//!   model (written to a temporary name, checked, then renamed).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use qarena_arena::chess::{ChessSettings, Limit};
use qarena_arena::command::{absolute, resolve_command, CommandError};
use qarena_arena::Protocol;
use qarena_engine::{run_to_completion, EngineError, Input, RunSpec};
use qarena_quant::{Clipping, Granularity, Role, Scheme};

use crate::{AnchorDef, EngineTemplate, Generator, Refine, SweepDef, SweepError, Target};

/// Games per point of the full demo.
pub const DEFAULT_GAMES: u32 = 200;
/// Games per point with `--quick` (about a minute).
pub const QUICK_GAMES: u32 = 20;
/// Nodes per move.
pub const DEFAULT_NODES: u64 = 1000;
/// Longest the net export may take (it takes well under a second).
pub const EXPORT_TIMEOUT: Duration = Duration::from_secs(120);

/// The exported net's file name, under `<cache>/base/`.
const NET_FILE: &str = "stockfish-embedded.nnue";

/// Why the demo could not start.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// The Stockfish command does not split or names no program.
    #[error("engine 'stockfish': {0}")]
    Command(#[from] CommandError),
    /// Stockfish could not be started, hung, or a stop was requested.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Stockfish ran but wrote no net.
    #[error(
        "`{stockfish}` did not export its net (`export_net`); the demo needs Stockfish 15.1 as packaged by Debian ({detail})"
    )]
    NoExport { stockfish: String, detail: String },
    /// The exported file does not load as a model.
    #[error("the net exported by `{stockfish}` is not usable: {error}")]
    Unusable {
        stockfish: String,
        error: qarena_models::ModelError,
    },
    /// The cache folder could not be written.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl DemoError {
    /// True when a stop request (Ctrl-C) ended the export.
    pub fn is_stop(&self) -> bool {
        matches!(self, DemoError::Engine(EngineError::Stopped { .. }))
    }

    /// True when Stockfish itself failed (as opposed to the command or the disk).
    pub fn is_engine_failure(&self) -> bool {
        matches!(
            self,
            DemoError::Engine(_) | DemoError::NoExport { .. } | DemoError::Unusable { .. }
        )
    }
}

/// Games per point: `games` if given, else the quick or the full default.
pub fn games(quick: bool, games: Option<u32>) -> u32 {
    games.unwrap_or(if quick { QUICK_GAMES } else { DEFAULT_GAMES })
}

/// Games played at once by default: one per CPU.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Lowest and highest `UCI_Elo` Stockfish 15.1 accepts.
pub const UCI_ELO_RANGE: (u32, u32) = (1350, 2850);

/// Anchors for the demo: the same Stockfish limited to each `UCI_Elo`
/// level (`UCI_LimitStrength`), each playing every point `games` games, so
/// the ladder sits on Stockfish's own Elo scale.
pub fn uci_elo_anchors(levels: &[u32], games: u32) -> Result<Vec<AnchorDef>, SweepError> {
    levels
        .iter()
        .map(|&elo| {
            if !(UCI_ELO_RANGE.0..=UCI_ELO_RANGE.1).contains(&elo) {
                return Err(SweepError::Input(format!(
                    "anchor UCI_Elo {elo} is outside Stockfish's range {}..{}",
                    UCI_ELO_RANGE.0, UCI_ELO_RANGE.1
                )));
            }
            Ok(AnchorDef {
                name: format!("sf-elo-{elo}"),
                elo: Some(f64::from(elo)),
                command: None,
                options: BTreeMap::from([
                    ("UCI_LimitStrength".to_string(), "true".to_string()),
                    ("UCI_Elo".to_string(), elo.to_string()),
                ]),
                init: Vec::new(),
                games: Some(games),
            })
        })
        .collect()
}

/// The built-in ladder on `net`, played by `stockfish`.
pub fn demo_def(
    net: &Path,
    stockfish: &str,
    games: u32,
    nodes: u64,
    concurrency: usize,
) -> SweepDef {
    let chess = ChessSettings {
        limit: Limit::Nodes(nodes),
        node_jitter: 0.1,
        seed: 1,
        ..ChessSettings::default()
    };
    let mut options = BTreeMap::new();
    options.insert("Threads".to_string(), "1".to_string());
    options.insert("Hash".to_string(), "16".to_string());
    SweepDef {
        name: "nnue-demo".to_string(),
        description: Some("Stockfish's embedded net, degraded step by step".to_string()),
        model: net.to_path_buf(),
        engine: EngineTemplate {
            base: qarena_arena::EngineConfig {
                options,
                ..qarena_arena::EngineConfig::from_command("stockfish", stockfish, Protocol::Uci)
            },
            model_option: Some("EvalFile".to_string()),
        },
        baseline: "original".to_string(),
        games,
        concurrency,
        restarts: 20,
        late_blocks: 2,
        timeouts: qarena_arena::Timeouts::default(),
        go: qarena_arena::GoSettings::default(),
        chess: Some(chess),
        points: Vec::new(),
        generator: Some(Generator {
            targets: vec![
                Target {
                    name: "ft".to_string(),
                    roles: vec![Role::FeatureTransformer],
                    layers: None,
                    levels: None,
                },
                Target {
                    name: "fc".to_string(),
                    roles: vec![Role::Fc0, Role::Fc1, Role::Fc2],
                    layers: None,
                    levels: Some(vec![7, 1]),
                },
            ],
            levels: vec![127, 31, 15, 7, 3, 1],
            granularity: Granularity::Channel,
            clip: Clipping::None,
            rest: Scheme::Keep,
            rest_granularity: Granularity::Channel,
        }),
        refine: Some(Refine::default()),
        anchors: Vec::new(),
        anchor_games: 20,
    }
}

/// The line that introduces a demo run of `def` on `net`.
pub fn intro(def: &SweepDef, net: &Path, nodes: u64) -> Result<String, SweepError> {
    let points = def.points()?.len();
    let anchors = if def.anchors.is_empty() {
        String::new()
    } else {
        format!(
            "; each also plays {} ({} games each)",
            def.anchors
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            def.anchor_games
        )
    };
    Ok(format!(
        "qarena demo: Stockfish's own net ({}) degraded step by step; {points} variants, each playing the original {} games at {nodes} nodes per move, paired openings, {} in parallel{anchors}",
        net.display(),
        def.games,
        def.concurrency
    ))
}

/// The line that closes a demo run: where its results are.
pub fn outro(tag: &str, nodes: u64, db: &Path, cache: &Path) -> String {
    format!(
        "node budget: {nodes} nodes per move (±10% jitter). Database: {}; variants and manifests: {}/; games: `qarena runs show {tag}`, `qarena export pgn --run {tag} -o demo.pgn`",
        db.display(),
        cache.display()
    )
}

/// Exports Stockfish's embedded net into `<cache>/base/` once and returns
/// its path; later calls reuse a cached net that loads. The export ends
/// with an error when `stop` is raised or [`EXPORT_TIMEOUT`] passes.
pub fn export_net(stockfish: &str, cache: &Path, stop: &AtomicBool) -> Result<PathBuf, DemoError> {
    let argv = resolve_command(stockfish, &BTreeMap::new())?;
    let dir = absolute(&cache.join("base"));
    fs_err::create_dir_all(&dir)?;
    let net = dir.join(NET_FILE);
    if net.is_file() && qarena_models::Model::load(&net).is_ok() {
        return Ok(net);
    }
    let tmp = dir.join(format!("{NET_FILE}.tmp"));
    // A leftover of an interrupted export must not pass for a new one.
    remove_if_present(&tmp)?;
    let mut spec = RunSpec::new("stockfish-export", argv, EXPORT_TIMEOUT);
    spec.stdin = Input::Bytes(format!("export_net {}\nquit\n", tmp.display()).into_bytes());
    spec.tail_bytes = 4 * 1024;
    let out = match run_to_completion(&spec, stop) {
        Ok(out) => out,
        Err(e) => {
            let _ = remove_if_present(&tmp);
            return Err(e.into());
        }
    };
    if !tmp.is_file() {
        // Stockfish reports trouble on stdout; stderr is the fallback.
        let last = |text: &str| {
            text.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_string)
        };
        let said = last(&out.stdout_tail)
            .or_else(|| last(&out.stderr_tail))
            .map(|l| format!("; its last words: {l}"))
            .unwrap_or_default();
        return Err(DemoError::NoExport {
            stockfish: stockfish.to_string(),
            detail: format!("{}{said}", out.status),
        });
    }
    if let Err(error) = qarena_models::Model::load(&tmp) {
        return Err(DemoError::Unusable {
            stockfish: stockfish.to_string(),
            error,
        });
    }
    fs_err::rename(&tmp, &net)?;
    Ok(net)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs_err::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_has_nine_points_from_mild_to_severe() {
        let def = demo_def(Path::new("net.nnue"), "stockfish", 20, 1000, 2);
        let names: Vec<String> = def.points().unwrap().into_iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "original", "ft-L127", "ft-L31", "ft-L15", "ft-L7", "ft-L3", "ft-L1", "fc-L7",
                "fc-L1"
            ]
        );
        let line = intro(&def, Path::new("net.nnue"), 1000).unwrap();
        assert!(
            line.contains("9 variants") && line.contains("20 games"),
            "{line}"
        );
        assert_eq!(games(true, None), QUICK_GAMES);
        assert_eq!(games(false, None), DEFAULT_GAMES);
        assert_eq!(games(true, Some(4)), 4);
    }

    #[test]
    fn a_missing_stockfish_is_a_command_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = export_net(
            "qarena-no-such-stockfish",
            dir.path(),
            &AtomicBool::new(false),
        )
        .unwrap_err();
        assert!(matches!(err, DemoError::Command(_)), "{err}");
        assert!(!err.is_engine_failure());
        assert!(
            err.to_string().contains("qarena-no-such-stockfish"),
            "{err}"
        );
    }

    #[test]
    fn a_program_that_writes_no_net_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = export_net("cat", dir.path(), &AtomicBool::new(false)).unwrap_err();
        assert!(matches!(err, DemoError::NoExport { .. }), "{err}");
        assert!(err.is_engine_failure());
        // `cat` echoes the command, which is the last thing it "said".
        assert!(err.to_string().contains("quit"), "{err}");
    }

    #[test]
    fn a_raised_stop_flag_ends_the_export() {
        let dir = tempfile::tempdir().unwrap();
        let err = export_net("cat", dir.path(), &AtomicBool::new(true)).unwrap_err();
        assert!(err.is_stop(), "{err}");
    }
}
