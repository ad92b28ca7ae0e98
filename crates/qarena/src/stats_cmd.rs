//! `qarena stats`, `qarena sprt`, `qarena gate`: statistics of a stored run,
//! or of counts typed in (a calculator, like the ones fishtest users rely on).

use anyhow::anyhow;
use qarena_stats::{check_gate, Counted, EloReport, Gate, Penta, SprtParams, Wdl};
use qarena_store::Store;

use crate::cli::{CountsArgs, GateArgs, SprtArgs, StatsArgs};
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
    if let Some(w) = &c.wdl {
        let [wins, draws, losses] = parse_counts::<3>(w, "wdl")?;
        return Ok((
            Counted::Games(Wdl {
                wins,
                draws,
                losses,
            }),
            format!("W/D/L {w}"),
        ));
    }
    if let Some(p) = &c.penta {
        let counts = parse_counts::<5>(p, "penta")?;
        return Ok((Counted::Pairs(Penta { counts }), format!("pairs {p}")));
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
    let label = format!("run {tag} point {}", c.point);
    Ok((tally.counted(), label))
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

pub fn gate(a: GateArgs) -> CliResult {
    if a.plan {
        return plan(&a);
    }
    let elo_limits = a.min_score.is_some() || a.max_elo_loss.is_some();
    let counts = a.counts.run.is_some() || a.counts.wdl.is_some() || a.counts.penta.is_some();
    if a.tactics.is_none() && !elo_limits {
        return Err(Exit::input(anyhow!(
            "give at least one of --min-score, --max-elo-loss and --tactics"
        )));
    }
    if counts && !elo_limits {
        return Err(Exit::input(anyhow!(
            "--run, --wdl and --penta need --min-score or --max-elo-loss"
        )));
    }
    let tactic_flags = a.engine.is_some()
        || a.reference.is_some()
        || !a.engine_options.is_empty()
        || !a.reference_options.is_empty();
    if a.tactics.is_none() && tactic_flags {
        return Err(Exit::input(anyhow!(
            "--engine, --engine-option, --reference and --reference-option apply only with --tactics"
        )));
    }
    let mut passed = true;
    let mut label = String::from("tactics");
    if elo_limits {
        let (src, l) = source(&a.counts)?;
        let r = src.elo(a.confidence);
        let g = Gate {
            min_score: a.min_score,
            max_elo_loss: a.max_elo_loss,
            confidence: a.confidence,
            ..Gate::default()
        };
        let out = check_gate(&r, &g);
        println!(
            "{l}: {} games, score {:.4}, Elo {}",
            r.games, r.score, r.elo
        );
        for reason in &out.reasons {
            println!("  {reason}");
        }
        passed &= out.passed();
        label = l;
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
        passed &= ok;
    }
    if passed {
        println!("gate: PASS");
        Ok(())
    } else {
        println!("gate: FAIL");
        Err(Exit::check_failed(anyhow!("gate failed for {label}")))
    }
}
