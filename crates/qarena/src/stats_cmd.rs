//! `qarena stats`, `qarena sprt`, `qarena gate`: statistics of a stored run,
//! or of counts typed in (a calculator, like the ones fishtest users rely on).

use anyhow::anyhow;
use qarena_stats::{
    check_gate, Counted, EloReport, Gate, GateBasis, GateOutcome, GateVerdict, Penta, SprtParams,
    Wdl,
};
use qarena_store::Store;

use crate::cli::{BasisArg, CountsArgs, GateArgs, SprtArgs, StatsArgs};
use crate::{CliResult, Exit};

fn parse_counts<const N: usize>(s: &str, what: &str) -> Result<[u64; N], Exit> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != N {
        return Err(Exit::input(anyhow!(
            "--{what} needs {N} comma-separated counts, got `{s}`"
        )));
    }
    let mut out = [0u64; N];
    for (o, p) in out.iter_mut().zip(parts) {
        *o = p
            .parse()
            .map_err(|_| Exit::input(anyhow!("--{what}: `{p}` is not a non-negative integer")))?;
    }
    Ok(out)
}

/// Counts from flags or from a run (pentanomial when every game is paired).
fn source(c: &CountsArgs) -> Result<(Counted, String), Exit> {
    let s = counts_of(c)?;
    Ok((s.counted, s.label))
}

/// Where a gate's or a statistic's counts come from.
struct Source {
    counted: Counted,
    label: String,
    /// The stored run, with its finished games, when counts come from one.
    run: Option<(qarena_store::RunRecord, u64)>,
}

fn counts_of(c: &CountsArgs) -> Result<Source, Exit> {
    if let Some(w) = &c.wdl {
        let [wins, draws, losses] = parse_counts::<3>(w, "wdl")?;
        return Ok(Source {
            counted: Counted::Games(Wdl {
                wins,
                draws,
                losses,
            }),
            label: format!("W/D/L {w}"),
            run: None,
        });
    }
    if let Some(p) = &c.penta {
        let counts = parse_counts::<5>(p, "penta")?;
        return Ok(Source {
            counted: Counted::Pairs(Penta { counts }),
            label: format!("pairs {p}"),
            run: None,
        });
    }
    let Some(tag) = &c.run else {
        return Err(Exit::input(anyhow!(
            "give --run TAG, --wdl W,D,L or --penta LL,LD,WL+DD,WD,WW"
        )));
    };
    if !c.db.db.exists() {
        return Err(Exit::input(anyhow!(
            "database {} does not exist",
            c.db.db.display()
        )));
    }
    let store = Store::open(&c.db.db)?;
    let run = store
        .run_by_tag(tag)?
        .ok_or_else(|| Exit::input(anyhow!("no run tagged '{tag}' in {}", c.db.db.display())))?;
    let games = store.games(run.id)?;
    let tally = qarena_store::tally_games(games.iter().filter(|g| g.point_index == c.point));
    if tally.games() == 0 {
        return Err(Exit::input(anyhow!(
            "run '{tag}' point {} has no finished games",
            c.point
        )));
    }
    Ok(Source {
        counted: tally.counted(),
        label: format!("run {tag} point {}", c.point),
        run: Some((run, tally.games())),
    })
}

fn print_report(label: &str, r: &EloReport) {
    println!("{label}: {} games ({} model)", r.games, r.model);
    println!(
        "score      {:.4}  [{:.4}, {:.4}]",
        r.score, r.score_lower, r.score_upper
    );
    println!("Elo        {}", r.elo);
    println!("nElo       {}", r.nelo);
    match r.los {
        Some(l) => println!("LOS        {:.2}%", 100.0 * l),
        None => println!("LOS        -"),
    }
    println!("draw ratio {:.2}%", 100.0 * r.draw_ratio);
    println!("confidence {:.1}%", 100.0 * r.confidence);
}

pub fn stats(a: StatsArgs) -> CliResult {
    let (src, label) = source(&a.counts)?;
    let r = src.elo(a.confidence);
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(|e| Exit::input(anyhow!(e)))?
        );
    } else {
        print_report(&label, &r);
    }
    Ok(())
}

pub fn sprt(a: SprtArgs) -> CliResult {
    let params = SprtParams::parse(&a.sprt).map_err(Exit::input)?;
    let (src, label) = source(&a.counts)?;
    let res = src.sprt(&params);
    if a.json {
        println!(
            "{}",
            serde_json::json!({"params": params, "result": res, "source": label})
        );
    } else {
        println!("{label}");
        println!("SPRT {params}");
        println!(
            "LLR {:.3}  bounds [{:.3}, {:.3}]  verdict: {}",
            res.llr, res.lower_bound, res.upper_bound, res.verdict
        );
    }
    Ok(())
}

/// `gate --plan`: the games a `--max-elo-loss` gate needs.
fn plan(a: &GateArgs) -> CliResult {
    let Some(loss) = a.max_elo_loss else {
        return Err(Exit::input(anyhow!("--plan needs --max-elo-loss X")));
    };
    if a.counts.run.is_some() || a.counts.wdl.is_some() || a.counts.penta.is_some() {
        return Err(Exit::input(anyhow!(
            "--plan plans a match; it takes no --run, --wdl or --penta"
        )));
    }
    let Some(p) = qarena_stats::plan_gate(loss, a.true_elo, a.draw_ratio, a.confidence, a.power)
    else {
        return Err(Exit::input(anyhow!(
            "no plan: needs --max-elo-loss > 0, --true-elo above -{loss}, --draw-ratio in [0, 1), \
             --confidence in [0.5, 1) and --power in (0, 1)"
        )));
    };
    println!(
        "{} games ({} colour-swapped pairs): a variant at {:+} Elo with {:.0}% draws then passes \
         \"loses < {loss} Elo at {:.0}%\" with probability {:.0}%",
        p.games,
        p.games / 2,
        a.true_elo,
        100.0 * a.draw_ratio,
        100.0 * a.confidence,
        100.0 * a.power
    );
    println!(
        "  per-game score sd {:.3}; interval half width at that length {:.4} in score",
        p.sigma, p.half_width_score
    );
    println!(
        "  (trinomial variance; paired games are usually less variable, so this is an upper bound for pentanomial counting)"
    );
    Ok(())
}

/// The most games `gate --basis sprt` plays when given engines.
const DEFAULT_MAX_GAMES: u32 = 20_000;

/// The gate the flags describe, checked: exit 2 names the flag at fault.
fn gate_of(a: &GateArgs, playing: bool) -> Result<Gate, Exit> {
    let sprt = a.basis == BasisArg::Sprt;
    if !sprt && (a.alpha.is_some() || a.beta.is_some()) {
        return Err(Exit::input(anyhow!(
            "--alpha and --beta are the error rates of --basis sprt; this gate is --basis {}",
            basis_name(a.basis)
        )));
    }
    if !playing && a.max_games.is_some() {
        return Err(Exit::input(anyhow!(
            "--max-games caps a match the gate plays: give --basis sprt with \
             --engine-a/--engine-b or --config"
        )));
    }
    if playing && !sprt {
        return Err(Exit::input(anyhow!(
            "only --basis sprt plays a match (until its SPRT decides); for --basis {} play a \
             fixed-length match with `qarena match --games N` and judge it with `qarena gate --run TAG`",
            basis_name(a.basis)
        )));
    }
    let basis = match a.basis {
        BasisArg::Ci => GateBasis::Ci,
        BasisArg::Point => GateBasis::Point,
        BasisArg::Sprt => GateBasis::Sprt {
            alpha: a.alpha.unwrap_or(0.05),
            beta: a.beta.unwrap_or(0.05),
        },
    };
    let g = Gate {
        min_score: a.min_score,
        max_elo_loss: a.max_elo_loss,
        confidence: a.confidence,
        basis,
    };
    if sprt {
        if a.max_elo_loss.is_none() {
            return Err(Exit::input(anyhow!(
                "--basis sprt tests \"loses less than X Elo\": give --max-elo-loss X"
            )));
        }
        if a.min_score.is_some() {
            return Err(Exit::input(anyhow!(
                "--basis sprt tests --max-elo-loss only; --min-score is a fixed-sample threshold \
                 (use --basis point or ci for it)"
            )));
        }
        if let Some(Err(e)) = g.sprt_params() {
            return Err(Exit::input(anyhow!(e)));
        }
    }
    Ok(g)
}

fn basis_name(b: BasisArg) -> &'static str {
    match b {
        BasisArg::Ci => "ci",
        BasisArg::Point => "point",
        BasisArg::Sprt => "sprt",
    }
}

/// One line on what the gate's checks were judged on.
fn describe_basis(g: &Gate) -> String {
    match g.basis {
        GateBasis::Ci => format!(
            "basis ci: Elo must be above −max-elo-loss at the lower end of the two-sided {}% \
             interval; min-score is the point score",
            100.0 * g.confidence
        ),
        GateBasis::Point => "basis point: the point estimates of score and Elo, with no \
                             confidence statement (a filter, not evidence)"
            .to_owned(),
        GateBasis::Sprt { alpha, beta } => {
            let x = g.max_elo_loss.unwrap_or_default();
            format!(
                "basis sprt: SPRT of elo0 = −{x} against elo1 = 0 (logistic Elo), alpha {alpha}, \
                 beta {beta}: PASS when it accepts H1 (loses less than {x} Elo), FAIL when it \
                 accepts H0, otherwise UNDECIDED"
            )
        }
    }
}

/// The gate flags of an SPRT gate, for the commands this module suggests.
fn sprt_flags(g: &Gate) -> Vec<String> {
    let mut f = vec!["--basis".to_owned(), "sprt".to_owned()];
    f.extend([
        "--max-elo-loss".to_owned(),
        fmt_num(g.max_elo_loss.unwrap_or_default()),
    ]);
    if let GateBasis::Sprt { alpha, beta } = g.basis {
        if alpha != 0.05 {
            f.extend(["--alpha".to_owned(), fmt_num(alpha)]);
        }
        if beta != 0.05 {
            f.extend(["--beta".to_owned(), fmt_num(beta)]);
        }
    }
    f
}

fn fmt_num(x: f64) -> String {
    format!("{x}")
}

/// A word for the shell: as is when it is plain, else in single quotes.
fn shell_word(w: &str) -> String {
    let plain = !w.is_empty()
        && w.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./=:,+@%-".contains(c));
    if plain {
        w.to_owned()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

/// `qarena gate <flags> ...` playing anew the match a stored `qarena match`
/// or `qarena gate` command line played: its engine and game flags are
/// kept, its game count, SPRT, tag and gate flags are replaced.
fn play_on_command(argv: &[String], flags: &[String]) -> Option<String> {
    const WITH_VALUE: &[&str] = &[
        "--games",
        "-n",
        "--sprt",
        "--resume",
        "--run-tag",
        "--max-games",
        "--basis",
        "--max-elo-loss",
        "--alpha",
        "--beta",
        "--confidence",
        "--min-score",
        "--run",
        "--point",
        "--wdl",
        "--penta",
    ];
    let sub = argv
        .iter()
        .skip(1)
        .position(|w| w == "match" || w == "gate")?
        + 1;
    let mut out: Vec<String> = vec!["qarena".to_owned(), "gate".to_owned()];
    out.extend(flags.iter().cloned());
    let mut rest = argv[sub + 1..].iter();
    while let Some(w) = rest.next() {
        let name = w.split_once('=').map_or(w.as_str(), |(n, _)| n);
        if w == "--json" || (w.starts_with("-n") && !w.starts_with("--") && w.len() > 2) {
            continue;
        }
        if WITH_VALUE.contains(&name) {
            if !w.contains('=') {
                rest.next();
            }
            continue;
        }
        out.push(w.clone());
    }
    Some(
        out.iter()
            .map(|w| shell_word(w))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// What to do about an undecided SPRT on a stored run.
fn play_on_hint(
    run: &qarena_store::RunRecord,
    finished: u64,
    g: &Gate,
    a: &GateArgs,
) -> Vec<String> {
    let tag = &run.tag;
    let mut flags = sprt_flags(g);
    let mut again = vec!["qarena".to_owned(), "gate".to_owned()];
    again.extend(flags.iter().cloned());
    again.extend(["--run".to_owned(), tag.clone()]);
    if a.counts.point != 0 {
        again.extend(["--point".to_owned(), a.counts.point.to_string()]);
    }
    let again = again
        .iter()
        .map(|w| shell_word(w))
        .collect::<Vec<_>>()
        .join(" ");
    let stored: Option<qarena_arena::MatchConfig> = run
        .settings
        .get("match")
        .and_then(|m| serde_json::from_value(m.clone()).ok());
    let mut lines = Vec::new();
    if let Some(cfg) = stored.filter(|c| {
        run.kind == qarena_store::RunKind::Match
            && run.status != qarena_store::RunStatus::Completed
            && u64::from(c.games) > finished
    }) {
        let left = u64::from(cfg.games) - finished;
        let stop = match (&cfg.sprt, g.sprt_params()) {
            (Some(stored), Some(Ok(p))) if *stored == p => {
                "stopping as soon as this SPRT decides".to_owned()
            }
            (Some(stored), _) => {
                format!("stopping early only when its own SPRT ({stored}) decides")
            }
            (None, _) => "without stopping early".to_owned(),
        };
        lines.push(format!(
            "run {tag} stopped before its {} games: `qarena match --resume {}` plays up to the {left} \
             games it has not played, {stop}; then run `{again}`",
            cfg.games,
            shell_word(tag)
        ));
        return lines;
    }
    lines.push(format!(
        "run {tag} has all the games it was started with ({finished} finished); a resume plays \
         only missing games, so the run cannot grow."
    ));
    flags.extend([
        "--max-games".to_owned(),
        a.max_games.unwrap_or(DEFAULT_MAX_GAMES).to_string(),
    ]);
    match play_on_command(&run.argv, &flags) {
        Some(cmd) => lines.push(format!(
            "To play until the SPRT decides, start a new run with the same engines (from the \
             directory {tag} was played in; its SPRT starts from zero games): {cmd}"
        )),
        None => lines.push(format!(
            "To play until the SPRT decides, start a new run with the same engines: `qarena gate \
             {} --max-games N` with the engine flags of `qarena match` (its SPRT starts from zero \
             games)",
            sprt_flags(g).join(" ")
        )),
    }
    lines
}

/// Plays a match until the gate's SPRT decides (or `--max-games`); the
/// verdict on complete pairs, the counts the arena's early stop uses.
fn gate_by_playing(a: &GateArgs, g: &Gate) -> Result<(GateOutcome, String, String), Exit> {
    let Some(Ok(params)) = g.sprt_params() else {
        return Err(Exit::input(anyhow!(
            "--basis sprt needs --max-elo-loss X above 0"
        )));
    };
    let max_games = a.max_games.unwrap_or(DEFAULT_MAX_GAMES);
    if max_games < 2 {
        return Err(Exit::input(anyhow!(
            "--max-games {max_games}: the SPRT counts pairs of games, give at least 2"
        )));
    }
    let cfg = crate::match_cmd::match_config(&a.play, false, Some(max_games), Some(params))?;
    let req = crate::match_cmd::match_request(&a.play, cfg, None, &a.counts.db.db);
    let tag = req.tag.clone();
    eprintln!(
        "gate: playing run {tag} until the SPRT {params} decides (at most {max_games} games)"
    );
    let summary = crate::match_cmd::play(req)?;
    print!("{}", qarena_arena::summary::render(&summary));
    let pairs = summary.tally.pairs();
    let r = Counted::Pairs(qarena_stats::penta_from_pairs(&pairs)).elo(a.confidence);
    let mut out = check_gate(&r, g);
    let unpaired = summary.tally.games().saturating_sub(2 * pairs.len() as u64);
    if unpaired > 0 {
        out.reasons.push(format!(
            "{unpaired} unpaired game(s) left out: the SPRT counts complete pairs, as the match's \
             early stop does"
        ));
    }
    if out.verdict == GateVerdict::Undecided {
        let flags = sprt_flags(g).join(" ");
        out.reasons
            .push(if summary.status == qarena_store::RunStatus::Interrupted {
                format!(
                    "stopped before the SPRT decided: `qarena match --resume {tag}` plays on until \
                     it decides (at most {max_games} games); then `qarena gate {flags} --run {tag}`"
                )
            } else {
                format!(
                    "--max-games {max_games} reached without a decision; a larger --max-games \
                     plays a new run from zero games"
                )
            });
    }
    let headline = format!(
        "run {tag}: {} games, {} complete pairs, score {:.4}, Elo {} ({})",
        summary.tally.games(),
        pairs.len(),
        r.score,
        r.elo,
        r.model
    );
    Ok((out, format!("run {tag}"), headline))
}

pub fn gate(a: GateArgs) -> CliResult {
    let playing = a.play.config.is_some() || a.play.engine_a.is_some() || a.play.engine_b.is_some();
    let has_counts = a.counts.run.is_some() || a.counts.wdl.is_some() || a.counts.penta.is_some();
    if a.plan {
        if playing || a.basis != BasisArg::Ci {
            return Err(Exit::input(anyhow!(
                "--plan plans a fixed-length match judged on --basis ci; an SPRT's length is \
                 random: `qarena gate --basis sprt` with engines plays until it decides"
            )));
        }
        return plan(&a);
    }
    if !playing && a.play.given() {
        return Err(Exit::input(anyhow!(
            "match flags (--nodes, --board-size, --option-a, ...) describe a match to play: give \
             --engine-a and --engine-b or --config, with --basis sprt"
        )));
    }
    if playing && has_counts {
        return Err(Exit::input(anyhow!(
            "give either a match to play (--engine-a/--engine-b or --config) or stored counts \
             (--run, --wdl, --penta), not both"
        )));
    }
    let elo_limits = a.min_score.is_some() || a.max_elo_loss.is_some();
    if a.tactics.is_none() && !elo_limits {
        return Err(Exit::input(anyhow!(
            "give at least one of --min-score, --max-elo-loss and --tactics"
        )));
    }
    if (has_counts || playing) && !elo_limits {
        return Err(Exit::input(anyhow!(
            "--run, --wdl, --penta and a match to play need --min-score or --max-elo-loss"
        )));
    }
    let g = gate_of(&a, playing)?;
    let tactic_flags = a.engine.is_some()
        || a.reference.is_some()
        || !a.engine_options.is_empty()
        || !a.reference_options.is_empty();
    if a.tactics.is_none() && tactic_flags {
        return Err(Exit::input(anyhow!(
            "--engine, --engine-option, --reference and --reference-option apply only with --tactics"
        )));
    }
    let mut verdict = GateVerdict::Pass;
    let mut label = String::from("tactics");
    if playing {
        let (out, l, headline) = gate_by_playing(&a, &g)?;
        println!("{headline}");
        println!("  {}", describe_basis(&g));
        for reason in &out.reasons {
            println!("  {reason}");
        }
        verdict = out.verdict;
        label = l;
    } else if elo_limits {
        let src = counts_of(&a.counts)?;
        let r = src.counted.elo(a.confidence);
        let out = check_gate(&r, &g);
        println!(
            "{}: {} games, score {:.4}, Elo {}",
            src.label, r.games, r.score, r.elo
        );
        println!("  {}", describe_basis(&g));
        for reason in &out.reasons {
            println!("  {reason}");
        }
        if out.verdict == GateVerdict::Undecided {
            match &src.run {
                Some((run, finished)) => {
                    for line in play_on_hint(run, *finished, &g, &a) {
                        println!("  {line}");
                    }
                }
                None => {
                    println!("  these are counts typed in: play more games and give the new totals")
                }
            }
        }
        verdict = out.verdict;
        label = src.label;
    }
    if let Some(file) = &a.tactics {
        use qarena_arena::chess::{run_tactics, TacticsEngine};
        use qarena_chess::load_tactics;
        let Some(variant_cmd) = &a.engine else {
            return Err(Exit::input(anyhow!(
                "--tactics needs --engine CMD (the variant engine)"
            )));
        };
        let suite = load_tactics(file.as_deref()).map_err(|e| Exit::input(anyhow!(e)))?;
        let engine = |name: &str, cmd: &str, options: &[String]| -> Result<TacticsEngine, Exit> {
            let ec =
                qarena_arena::EngineConfig::from_command(name, cmd, qarena_arena::Protocol::Uci);
            let argv = qarena_arena::runner::resolve_argv(&ec)?;
            TacticsEngine::new(name, argv, options).map_err(|e| Exit::input(anyhow!(e)))
        };
        let variant = engine("variant", variant_cmd, &a.engine_options)?;
        let reference_cmd = a.reference.as_deref().unwrap_or(variant_cmd);
        let reference = engine("reference", reference_cmd, &a.reference_options)?;
        let t = run_tactics(
            &suite,
            &variant,
            &reference,
            a.tactics_nodes,
            qarena_arena::Timeouts::default(),
            qarena_engine::install_shutdown_flag(),
        )
        .map_err(|e| Exit::engine(anyhow!(e)))?;
        for f in &t.failures {
            println!("  lost {f}");
        }
        let ok = t.failures.len() <= a.max_tactical_failures;
        println!(
            "tactics: {}/{} positions, variant lost {} that the reference solved (max {}): {}",
            t.variant_correct,
            t.positions,
            t.failures.len(),
            a.max_tactical_failures,
            if ok { "pass" } else { "FAIL" }
        );
        println!(
            "  reference solved {}/{}; both missed {} (too hard at {} nodes); variant alone solved {}",
            t.reference_correct, t.positions, t.both_missed, a.tactics_nodes, t.variant_only
        );
        if !ok {
            verdict = GateVerdict::Fail;
        }
    }
    println!("gate: {verdict}");
    match verdict {
        GateVerdict::Pass => Ok(()),
        GateVerdict::Fail => Err(Exit::check_failed(anyhow!("gate failed for {label}"))),
        GateVerdict::Undecided => Err(Exit::check_failed(anyhow!(
            "gate undecided for {label}: the SPRT needs more games (exit code 1, not a pass)"
        ))),
    }
}
