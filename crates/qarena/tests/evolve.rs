#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! `qarena evolve run` and `export` on the shared KataGo net.

mod common;

use common::{katago, text, Ws};

#[test]
fn evolve_screens_genomes_and_exports_the_best_within_budget() {
    let (bin, net, _) = katago();
    let ws = Ws::new();
    let katago = bin.display().to_string();
    let net = net.display().to_string();
    let args = [
        "evolve",
        "run",
        &net,
        "--max-bits",
        "4.25",
        "--population",
        "3",
        "--generations",
        "2",
        "--collapse-floor",
        "0",
        "--katago",
        &katago,
    ];
    // Entrants that cannot enter are refused by name, and nothing is
    // stored: a missing file, then a recipe over the budget.
    let missing = [&args[..], &["--name", "bad", "--entrant", "nowhere.toml"]].concat();
    let out = ws.run(&missing);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("nowhere.toml"), "{}", text(&out));
    let int8 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../strategies/int8-channel.toml"
    );
    let over = [&args[..], &["--name", "bad", "--entrant", int8]].concat();
    let out = ws.run(&over);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("entrant 'int8-channel'") && text(&out).contains("over the budget"),
        "{}",
        text(&out)
    );
    let stored = ws.store().evolutions().unwrap();
    assert!(stored.iter().all(|e| e.name != "bad"), "{stored:?}");
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("2 generations, 6 genomes screened"),
        "{stdout}"
    );
    // The same command again resumes: nothing new is screened.
    let out = ws.run(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("6 genomes screened"));
    let out = ws.run(&["evolve", "export", "--max-bits", "4.25", "-o", "best.toml"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = qarena_quant::Strategy::from_file(ws.path().join("best.toml")).unwrap();
    assert!(!s.rules().is_empty());
    // Nothing survives within an impossible budget: a clear input error.
    let out = ws.run(&["evolve", "export", "--max-bits", "0.5", "-o", "x.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no surviving genome"), "{}", text(&out));

    // The game stage: two promoted genomes at the gate against the
    // original, a league with one hand recipe, ratings over every game.
    let recipe = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../strategies/int4-channel.toml"
    );
    let games = [
        "evolve",
        "games",
        &net,
        "--promote",
        "2",
        "--gate-games",
        "4",
        "--league-games",
        "2",
        "--recipe",
        recipe,
        "--visits",
        "2",
        "--openings",
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../openings/go9-balanced.txt"
        ),
        "--katago",
        &katago,
    ];
    let out = ws.run(&games);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("ratings (Bradley"), "{stdout}");
    assert!(stdout.contains("recipe:int4-channel"), "{stdout}");
    let store = ws.store();
    let ev = store.evolutions().unwrap().remove(0);
    let matches = store.evolution_matches(ev.id).unwrap();
    let gates = matches.iter().filter(|m| m.stage == "gate").count();
    assert!((1..=2).contains(&gates), "{matches:?}");
    // Promoted genomes are generation champions: no two from one generation.
    let generations: std::collections::BTreeSet<i64> = matches
        .iter()
        .filter(|m| m.stage == "gate")
        .map(|m| {
            let id: i64 = m.player_a.trim_start_matches("genome:").parse().unwrap();
            store
                .genome(qarena_store::GenomeId(id))
                .unwrap()
                .unwrap()
                .genome
                .generation
        })
        .collect();
    assert_eq!(generations.len(), gates, "{matches:?}");
    // League: every pair of (gated genomes + the recipe), and the recipe
    // against the original.
    let league = matches.iter().filter(|m| m.stage == "league").count();
    assert_eq!(league, gates * (gates + 1) / 2 + 1, "{matches:?}");
    let played = |store: &qarena_store::Store| -> usize {
        matches
            .iter()
            .map(|m| store.games(m.run).unwrap().len())
            .sum()
    };
    let first = played(&store);
    assert_eq!(first, gates * 4 + (league) * 2);
    // Every game started from a line of the shipped book.
    let book = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../openings/go9-balanced.txt"
    ))
    .unwrap();
    for m in &matches {
        for g in store.games(m.run).unwrap() {
            let opening = g.opening.unwrap();
            assert!(book.lines().any(|l| l == opening), "{opening}");
        }
    }
    // The check: the best genome on the unseen half, the recipe on both.
    let check = [
        "evolve", "check", &net, "--recipe", recipe, "--katago", &katago,
    ];
    let mut with_regret = check.to_vec();
    with_regret.push("--regret");
    let out = ws.run(&with_regret);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        stdout.contains("go9-evolve-odd (400 positions)"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.contains("vs int4-channel"))
        .unwrap_or_else(|| panic!("{stdout}"));
    // The change with its 95% interval, paired by position.
    assert!(line.contains("% [") && line.contains(']'), "{line}");
    // Policy regret, then top-move regret (what play without search gives
    // away) in a table of its own: the original's own figure, every
    // checked strategy's excess over it, and the genome against the recipe
    // with an interval. Per-channel int4 without calibration misplaces
    // policy mass badly and changes top moves for the worse.
    let mut rest = stdout.as_str();
    for heading in [
        "policy regret on unseen positions",
        "top-move regret (play without search) on unseen positions",
    ] {
        let (_, table) = rest
            .split_once(heading)
            .unwrap_or_else(|| panic!("no '{heading}' after the one before it: {stdout}"));
        let row = table
            .lines()
            .find(|l| l.contains("recipe:int4-channel") && l.contains("evolved − this"))
            .unwrap_or_else(|| panic!("{heading}: {stdout}"));
        let excess: f64 = row.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(excess > 0.0, "{heading}: {row}");
        assert!(row.contains(" [") && row.ends_with(']'), "{heading}: {row}");
        rest = table;
    }
    let checks = ws.store().evolution_checks(ev.id).unwrap();
    let suites: Vec<(&str, &str)> = checks
        .iter()
        .map(|k| (k.subject.split(':').next().unwrap(), k.suite.as_str()))
        .collect();
    assert_eq!(
        suites,
        [
            ("genome", "unseen"),
            ("recipe", "screen"),
            ("recipe", "unseen")
        ]
    );
    assert!(checks
        .iter()
        .all(|k| k.quality.is_finite() && k.probe.is_some()));
    // Another suite than the one the evolution was screened on is refused.
    let other = ws.path().join("other.suite");
    let full = qarena_probe::default_suite("go").unwrap();
    full.subset("tiny", |i| i < 20)
        .unwrap()
        .save(&other)
        .unwrap();
    let mut wrong = check.to_vec();
    let other_s = other.display().to_string();
    wrong.extend(["--suite", &other_s]);
    let out = ws.run(&wrong);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("screened on another suite"),
        "{}",
        text(&out)
    );

    // Input errors name what is wrong: an unknown evolution, a model that
    // is not the evolution's, a KataGo that is not there.
    let out = ws.run(&["evolve", "games", &net, "--name", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no evolution 'nope'"), "{}", text(&out));
    let other_model = ws.path().join("other.bin.gz");
    std::fs::write(&other_model, b"not a net").unwrap();
    let other_model = other_model.display().to_string();
    let out = ws.run(&["evolve", "games", &other_model]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("is not the model"), "{}", text(&out));
    let out = ws.run(&["evolve", "games", &net, "--katago", "/nonexistent/katago"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("KataGo not found"), "{}", text(&out));

    // Again: every match is finished, nothing is played twice.
    let out = ws.run(&games);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(played(&ws.store()), first);
    assert_eq!(ws.store().evolution_matches(ev.id).unwrap(), matches);
}

/// The same commands on a Stockfish NNUE net: genomes over its layers,
/// screened by the static-evaluation probe on a small chess suite, and a
/// gate match with the variant loaded through `EvalFile`.
#[test]
fn evolve_works_on_an_nnue_net_from_screen_to_games() {
    let ws = Ws::new();
    common::export_stockfish_net(&ws);
    let suite = ws.path().join("small.suite");
    qarena_probe::default_suite("chess")
        .unwrap()
        .subset("chess-small", |i| i < 40)
        .unwrap()
        .save(&suite)
        .unwrap();
    let suite = suite.display().to_string();
    let out = ws.run(&[
        "evolve",
        "run",
        "sf.nnue",
        "--name",
        "nnue",
        "--max-bits",
        "6",
        "--population",
        "3",
        "--generations",
        "2",
        "--collapse-floor",
        "0",
        "--suite",
        &suite,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let ev = store.evolutions().unwrap().remove(0);
    let genomes = store.genomes(ev.id).unwrap();
    assert!(genomes.len() >= 4, "{genomes:?}");
    assert!(genomes
        .iter()
        .all(|g| g.genome.bits_per_weight <= 6.0 && g.genome.strategy_toml.contains("role")));
    let alive: Vec<_> = genomes.iter().filter(|g| g.quality.is_some()).collect();
    assert!(!alive.is_empty(), "{genomes:?}");
    // The NNUE probe's figure: centipawn error, finite and positive.
    assert!(alive.iter().all(|g| g.quality.unwrap().is_finite()));

    // The check: the best genome on the suite's odd half, a recipe on both.
    let recipe = concat!(env!("CARGO_MANIFEST_DIR"), "/../../strategies/int8.toml");
    let out = ws.run(&[
        "evolve", "check", "sf.nnue", "--name", "nnue", "--suite", &suite, "--recipe", recipe,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(stdout.contains("-odd (20 positions)"), "{stdout}");
    assert!(stdout.contains("vs int8"), "{stdout}");

    let out = ws.run(&[
        "evolve",
        "games",
        "sf.nnue",
        "--name",
        "nnue",
        "--promote",
        "1",
        "--gate-games",
        "2",
        "--nodes",
        "300",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let matches = store.evolution_matches(ev.id).unwrap();
    assert_eq!(matches.len(), 1, "{matches:?}");
    let run = store.run(matches[0].run).unwrap().unwrap();
    assert_eq!(store.games(run.id).unwrap().len(), 2);
    let settings = run.settings.to_string();
    assert!(settings.contains("EvalFile"), "{settings}");
}

#[test]
fn a_calibrated_evolution_builds_gptq_genes_from_the_calibration_suite() {
    let (bin, net, _) = katago();
    let ws = Ws::new();
    let katago = bin.display().to_string();
    let net = net.display().to_string();
    let out = ws.run(&[
        "evolve",
        "run",
        &net,
        "--max-bits",
        "4.25",
        "--calibrated",
        "--population",
        "8",
        "--generations",
        "1",
        "--collapse-floor",
        "0",
        "--name",
        "cal",
        "--katago",
        &katago,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let ev = store.evolutions().unwrap();
    assert_eq!(
        ev[0].settings["roundings"],
        serde_json::json!(["nearest", "error_compensating"])
    );
    let genomes = store.genomes(ev[0].id).unwrap();
    let gptq: Vec<_> = genomes
        .iter()
        .filter(|g| g.genome.strategy_toml.contains("error_compensating"))
        .collect();
    assert!(
        !gptq.is_empty(),
        "no genome drew error-compensating rounding"
    );
    // Those built (a variant, a probe) unless they died of their own figures.
    assert!(gptq
        .iter()
        .all(|g| g.variant.is_some() || g.failure.as_deref() != Some("build")));
    assert!(gptq.iter().any(|g| g.quality.is_some()));

    // Not for other kinds of model.
    std::fs::write(ws.path().join("x.nnue"), b"not a net").unwrap();
    let out = ws.run(&["evolve", "run", "x.nnue", "--max-bits", "4", "--calibrated"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}
