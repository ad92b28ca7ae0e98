//! `qarena match` and `qarena demo`: build a match config from the config
//! file and flags, run it, print the summary.

use std::path::{Path, PathBuf};

use anyhow::Context;
use qarena_arena::{
    run_match, EngineConfig, MatchConfig, MatchRequest, MatchSummary, Protocol, RunStart, RunTag,
};

use crate::cli::{MatchArgs, PlayArgs};
use crate::{CliResult, Exit};

fn load_config(path: &Path) -> Result<MatchConfig, Exit> {
    let text = fs_err::read_to_string(path).map_err(Exit::input)?;
    let mut cfg = toml::from_str::<MatchConfig>(&text).map_err(|e| {
        Exit::input(anyhow::anyhow!(
            "malformed match config {}: {}",
            path.display(),
            e.to_string().trim_end().replace('\n', " ")
        ))
    })?;
    // Paths in the file are relative to the file.
    let base = path.parent().unwrap_or(Path::new("."));
    cfg.engine_a.resolve_relative(base);
    cfg.engine_b.resolve_relative(base);
    if let Some(r) = cfg.go.referee.as_mut() {
        *r = qarena_arena::settings::resolve_program(r, base);
    }
    if let Some(o) = cfg.go.openings.as_mut() {
        if o.is_relative() {
            *o = base.join(&*o);
        }
    }
    if let Some(o) = cfg.chess.as_mut().and_then(|c| c.openings.as_mut()) {
        if o.is_relative() {
            *o = base.join(&*o);
        }
    }
    Ok(cfg)
}

pub fn run(a: MatchArgs) -> CliResult {
    let sprt = match &a.sprt {
        Some(v) => Some(qarena_stats::SprtParams::parse(v).map_err(Exit::input)?),
        None => None,
    };
    let cfg = match_config(&a.play, a.resume.is_some(), a.games, sprt)?;
    if a.shard.is_some() && a.resume.is_none() && a.play.run_tag.is_none() {
        return Err(Exit::input(anyhow::anyhow!(
            "--shard needs --run-tag: every shard of a match must carry the same tag so `qarena merge` joins them"
        )));
    }
    let mut req = match_request(&a.play, cfg, a.resume.clone(), &a.db.db);
    req.shard = a.shard;
    let summary = play(req)?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary)
                .context("serialising the summary")
                .map_err(Exit::input)?
        );
    } else {
        print!("{}", qarena_arena::summary::render(&summary));
    }
    Ok(())
}

/// The match config from `--config` and the flags, with `games` and `sprt`
/// when given, checked. `None` when resuming without `--config` (the run's
/// stored config is used).
pub(crate) fn match_config(
    a: &PlayArgs,
    resume: bool,
    games: Option<u32>,
    sprt: Option<qarena_stats::SprtParams>,
) -> Result<Option<MatchConfig>, Exit> {
    let protocol = match a.protocol.as_deref() {
        Some("uci") => Some(Protocol::Uci),
        Some(_) => Some(Protocol::Gtp),
        None => None,
    };
    let mut cfg = match (&a.config, resume) {
        (Some(p), _) => Some(load_config(p)?),
        (None, true) => None,
        (None, false) => {
            let (Some(ea), Some(eb)) = (&a.engine_a, &a.engine_b) else {
                return Err(Exit::input(anyhow::anyhow!(
                    "give both --engine-a and --engine-b, or --config FILE (see `qarena match --help`)"
                )));
            };
            let p = protocol.unwrap_or_default();
            Some(MatchConfig::new(
                EngineConfig::from_command(a.name_a.as_deref().unwrap_or("A"), ea, p),
                EngineConfig::from_command(a.name_b.as_deref().unwrap_or("B"), eb, p),
            ))
        }
    };
    if let Some(cfg) = cfg.as_mut() {
        if let Some(e) = &a.engine_a {
            cfg.engine_a.command = e.clone();
        }
        if let Some(e) = &a.engine_b {
            cfg.engine_b.command = e.clone();
        }
        if let Some(n) = &a.name_a {
            cfg.engine_a.name = n.clone();
        }
        if let Some(n) = &a.name_b {
            cfg.engine_b.name = n.clone();
        }
        if let Some(p) = protocol {
            cfg.engine_a.protocol = p;
            cfg.engine_b.protocol = p;
        }
        if let Some(v) = games {
            cfg.games = v;
        }
        if let Some(v) = a.concurrency {
            cfg.concurrency = v;
        }
        if let Some(v) = a.board_size {
            cfg.go.board_size = v;
        }
        if let Some(v) = a.komi {
            cfg.go.komi = v;
        }
        if let Some(v) = a.move_cap {
            cfg.go.move_cap = v;
        }
        if let Some(v) = a.scoring.as_deref() {
            cfg.go.scoring = if v == "area" {
                qarena_arena::settings::Scoring::Area
            } else {
                qarena_arena::settings::Scoring::DeadStones
            };
        }
        if let Some(v) = &a.referee {
            cfg.go.referee = Some(v.clone());
        }
        if a.no_self_eval {
            cfg.go.self_eval = false;
        }
        if let Some(v) = a.timeout_startup {
            cfg.timeouts.startup = v;
        }
        if let Some(v) = a.timeout_move {
            cfg.timeouts.mv = v;
        }
        if let Some(v) = a.timeout_command {
            cfg.timeouts.command = v;
        }
        if let Some(v) = a.restarts {
            cfg.restarts = v;
        }
        if cfg.protocol() == Protocol::Gtp {
            if let Some(o) = &a.openings {
                cfg.go.openings = Some(qarena_arena::command::absolute(o));
            }
            if let Some(v) = a.seed {
                cfg.go.seed = v;
            }
        }
        apply_chess_flags(cfg, a)?;
        if sprt.is_some() {
            cfg.sprt = sprt;
        }
        cfg.check().map_err(|e| Exit::input(anyhow::anyhow!(e)))?;
    }
    Ok(cfg)
}

/// A new match (or the resume of `resume`) with the console observer.
pub(crate) fn match_request(
    a: &PlayArgs,
    cfg: Option<MatchConfig>,
    resume: Option<RunTag>,
    db: &Path,
) -> MatchRequest {
    let start = if resume.is_some() {
        RunStart::Resume
    } else {
        RunStart::New
    };
    let tag = resume
        .or(a.run_tag.clone())
        .unwrap_or_else(|| RunTag::generated("match"));
    MatchRequest {
        tag,
        db: db.to_path_buf(),
        runs_dir: a.runs_dir.clone(),
        // On resume the stored config replaces this placeholder.
        config: cfg.unwrap_or_else(|| {
            MatchConfig::new(
                EngineConfig::from_command("A", "true", Protocol::Gtp),
                EngineConfig::from_command("B", "true", Protocol::Gtp),
            )
        }),
        argv: std::env::args().collect(),
        variants: [None, None],
        start,
        kind: qarena_store::RunKind::Match,
        variant_params: None,
        point_index: 0,
        shard: None,
        observer: crate::progress::Console::new(),
    }
}

pub(crate) fn play(req: MatchRequest) -> Result<MatchSummary, Exit> {
    let stop = qarena_engine::install_shutdown_flag();
    let tag = req.tag.clone();
    let summary = run_match(req, stop)?;
    if summary.status == "interrupted" {
        eprintln!(
            "stopped: finished games are stored; `qarena match --resume {tag}` plays the rest"
        );
    }
    Ok(summary)
}

fn key_value(s: &str) -> Result<(String, String), Exit> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .ok_or_else(|| Exit::input(anyhow::anyhow!("UCI option `{s}` must be NAME=VALUE")))
}

fn apply_chess_flags(cfg: &mut MatchConfig, a: &PlayArgs) -> Result<(), Exit> {
    use qarena_arena::chess::ChessSettings;
    use qarena_chess::Limit;
    let any = a.nodes.is_some()
        || a.depth.is_some()
        || a.movetime_ms.is_some()
        || a.tc.is_some()
        || a.node_jitter.is_some()
        || (cfg.protocol() == Protocol::Uci && (a.seed.is_some() || a.openings.is_some()));
    if any || cfg.protocol() == Protocol::Uci {
        let c = cfg.chess.get_or_insert_with(ChessSettings::default);
        if let Some(n) = a.nodes {
            c.limit = Limit::Nodes(n);
        }
        if let Some(d) = a.depth {
            c.limit = Limit::Depth(d);
        }
        if let Some(m) = a.movetime_ms {
            c.limit = Limit::MovetimeMs(m);
        }
        if let Some(tc) = &a.tc {
            c.limit = format!("tc={tc}")
                .parse::<Limit>()
                .or_else(|_| tc.parse::<Limit>())
                .map_err(|e| Exit::input(anyhow::anyhow!("--tc {tc}: {e}")))?;
        }
        if let Some(j) = a.node_jitter {
            c.node_jitter = j;
        }
        if let Some(s) = a.seed {
            c.seed = s;
        }
        if let Some(o) = &a.openings {
            c.openings = Some(qarena_arena::command::absolute(o));
        }
    }
    for o in &a.uci_options {
        let (k, v) = key_value(o)?;
        cfg.engine_a.options.insert(k.clone(), v.clone());
        cfg.engine_b.options.insert(k, v);
    }
    for o in &a.options_a {
        let (k, v) = key_value(o)?;
        cfg.engine_a.options.insert(k, v);
    }
    for o in &a.options_b {
        let (k, v) = key_value(o)?;
        cfg.engine_b.options.insert(k, v);
    }
    Ok(())
}

pub fn openings(cmd: crate::cli::OpeningsCommand) -> CliResult {
    let (engine, plies, max_eval, count, seed, output) = match cmd {
        crate::cli::OpeningsCommand::Generate {
            engine,
            plies,
            max_eval,
            count,
            seed,
            output,
        } => (engine, plies, max_eval, count, seed, output),
        crate::cli::OpeningsCommand::Go {
            net,
            count,
            min_plies,
            max_plies,
            max_gap,
            board_size,
            komi,
            seed,
            output,
        } => {
            let spec = qarena_probe::go_openings::BookSpec {
                count,
                plies: min_plies..=max_plies,
                max_gap,
                seed,
                size: board_size,
                komi,
            };
            return go_openings(&net, &spec, &output);
        }
        crate::cli::OpeningsCommand::Merge {
            books,
            board_size,
            output,
        } => return merge_openings(&books, board_size, &output),
        crate::cli::OpeningsCommand::Tactics {
            engine,
            count,
            seed,
            depth,
            output,
        } => {
            let ec = EngineConfig::from_command("tactics-engine", &engine, Protocol::Uci);
            let argv = qarena_arena::runner::resolve_argv(&ec)?;
            eprintln!("generating {count} tactical positions (depth {depth}, seed {seed})");
            let n = qarena_arena::chess::generate_tactics(
                argv,
                count,
                seed,
                depth,
                &output,
                qarena_arena::Timeouts::default(),
            )
            .map_err(|e| Exit::engine(anyhow::anyhow!(e)))?;
            println!("wrote {n} tactical positions to {}", output.display());
            return Ok(());
        }
    };
    let ec = EngineConfig::from_command("openings-engine", &engine, Protocol::Uci);
    let argv = qarena_arena::runner::resolve_argv(&ec)?;
    eprintln!("generating {count} openings ({plies} plies, |eval| <= {max_eval} cp, seed {seed})");
    let n = qarena_arena::chess::generate_openings(
        argv,
        plies,
        max_eval,
        count,
        seed,
        &output,
        qarena_arena::Timeouts::default(),
    )
    .map_err(|e| Exit::engine(anyhow::anyhow!(e)))?;
    println!("wrote {n} openings to {}", output.display());
    Ok(())
}

fn merge_openings(books: &[PathBuf], board_size: Option<u8>, output: &Path) -> CliResult {
    let bad = |e: qarena_go::BookError| Exit::input(anyhow::anyhow!(e));
    // One book in memory at a time, besides the openings kept so far.
    let (mut merge, mut komi, mut size) = (None, None, 9);
    let (mut read, mut gave) = (Vec::with_capacity(books.len()), Vec::new());
    for (k, path) in books.iter().enumerate() {
        let text = qarena_go::read_book(path).map_err(bad)?;
        if k == 0 {
            size = match (board_size, qarena_go::book_header(&text, "board_size")) {
                (Some(size), _) => size,
                (None, Some(given)) => given.parse::<u8>().map_err(|_| {
                    Exit::input(anyhow::anyhow!(
                        "{}: `board_size {given}` is not a board size",
                        path.display()
                    ))
                })?,
                (None, None) => 9,
            };
            merge = Some(qarena_go::BookMerge::new(size));
            komi = qarena_go::book_header(&text, "komi").map(str::to_string);
        }
        let Some(m) = merge.as_mut() else { break };
        let parsed =
            qarena_go::parse_book_noted(&text, &path.display().to_string(), size).map_err(bad)?;
        read.push(parsed.len());
        gave.push(m.add(parsed));
        if m.len() > qarena_go::MAX_OPENINGS {
            return Err(Exit::input(anyhow::anyhow!(
                "the merged book would hold more than the {} openings a match reads \
                 ({} after {}): merge fewer books",
                qarena_go::MAX_OPENINGS,
                m.len(),
                path.display()
            )));
        }
    }
    let kept = merge
        .map(qarena_go::BookMerge::into_openings)
        .unwrap_or_default();
    let mut text =
        String::from("# qarena Go opening book, merged by `qarena openings merge` from\n");
    // A file name is written into a comment line: no control character
    // in it may start a line of its own.
    let shown = |p: &Path| -> String {
        p.display()
            .to_string()
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    };
    for ((path, r), g) in books.iter().zip(&read).zip(&gave) {
        text.push_str(&format!("#   {}: {g} of its {r} openings\n", shown(path)));
    }
    text.push_str(
        "# (an opening equal to an earlier one under a turn or mirror of the board is dropped)\n",
    );
    text.push_str(&format!("board_size {size}\n"));
    if let Some(komi) = komi {
        text.push_str(&format!("komi {komi}\n"));
    }
    for (opening, note) in &kept {
        if let Some(note) = note {
            text.push_str(note);
            text.push('\n');
        }
        text.push_str(&opening.text(size));
        text.push('\n');
    }
    if text.len() as u64 > qarena_go::MAX_BOOK_BYTES {
        return Err(Exit::input(anyhow::anyhow!(
            "the merged book would be {} bytes, more than the {} a match reads: merge fewer books",
            text.len(),
            qarena_go::MAX_BOOK_BYTES
        )));
    }
    fs_err::write(output, text).map_err(Exit::input)?;
    for ((path, r), g) in books.iter().zip(&read).zip(&gave) {
        eprintln!("  {}: kept {g} of {r}", path.display());
    }
    println!(
        "wrote {} openings to {} ({} dropped as repeats)",
        kept.len(),
        output.display(),
        read.iter().sum::<usize>() - kept.len()
    );
    Ok(())
}

fn go_openings(net: &Path, spec: &qarena_probe::go_openings::BookSpec, output: &Path) -> CliResult {
    let model = qarena_models::Model::load(net).map_err(Exit::input)?;
    eprintln!(
        "drawing {} Go openings ({}..={} plies, Black's winrate within {} of 0.5, seed {}) from {}",
        spec.count,
        spec.plies.start(),
        spec.plies.end(),
        spec.max_gap,
        spec.seed,
        net.display()
    );
    // Every walk evaluates one position at a time. At that size candle's
    // threaded matmul costs more in waking threads than it saves: on one
    // thread the same book is drawn in half the time. So one thread, unless
    // RAYON_NUM_THREADS asks otherwise (set before any work starts).
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let every = (spec.count / 10).max(1);
    let started = std::time::Instant::now();
    let book = qarena_probe::go_openings::balanced_book(&model, spec, |n| {
        if n % every == 0 {
            let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
            let left = (spec.count - n) as f64 / rate;
            eprintln!(
                "  {n} of {} ({rate:.1} a second, about {:.0} s to go)",
                spec.count, left
            );
        }
    })
    .map_err(Exit::input)?;
    let name = net
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| net.display().to_string());
    let text = qarena_probe::go_openings::write_book(&book, spec, &name);
    // What the match will read must parse: check before writing.
    qarena_go::parse_book(&text, &output.display().to_string(), spec.size)
        .map_err(|e| Exit::input(anyhow::anyhow!(e)))?;
    fs_err::write(output, text).map_err(Exit::input)?;
    println!("wrote {} openings to {}", book.len(), output.display());
    Ok(())
}
