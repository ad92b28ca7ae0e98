#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! A sharded evolution (`evolve run --shard K/N --generation G`, `merge`,
//! `evolve run --through-generation G`) on Stockfish's own net, against
//! the same evolution run in one process.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{text, Ws};

/// (generation, operator, strategy sha256, quality, failure) of every
/// genome of the only evolution in `db`, in birth order.
type Row = (i64, String, String, Option<f64>, Option<String>);

fn genomes(db: &Path) -> Vec<Row> {
    let store = qarena_store::Store::open(db).unwrap();
    let ev = store.evolutions().unwrap().remove(0);
    store
        .genomes(ev.id)
        .unwrap()
        .into_iter()
        .map(|g| {
            (
                g.genome.generation,
                g.genome.operator,
                g.genome.strategy_sha256,
                g.quality,
                g.failure,
            )
        })
        .collect()
}

/// The keys of every probe stored in `db` (subject and suite).
fn probe_keys(db: &Path) -> BTreeSet<(String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT subject_sha256, suite_sha256 FROM probes")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<BTreeSet<_>, _>>()
        .unwrap();
    rows
}

#[test]
fn a_sharded_evolution_screens_every_genome_once_and_gathers_what_one_process_makes() {
    let ws = Ws::new();
    common::export_stockfish_net(&ws);
    let suite = ws.path().join("small.suite");
    qarena_probe::default_suite("chess")
        .unwrap()
        .subset("chess-small", |i| i < 12)
        .unwrap()
        .save(&suite)
        .unwrap();
    let suite = suite.display().to_string();
    let base = [
        "evolve",
        "run",
        "sf.nnue",
        "--name",
        "nnue",
        "--max-bits",
        "6",
        "--population",
        "3",
        "--survivors",
        "2",
        "--generations",
        "3",
        "--patience",
        "5",
        "--collapse-floor",
        "0",
        "--suite",
        &suite,
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .chain(extra.iter())
            .map(|s| s.to_string())
            .collect()
    };

    // The evolution in one process.
    let out = ws.run(&with(&["--db", "single.sqlite"]));
    assert!(out.status.success(), "{}", text(&out));
    let single = genomes(&ws.path().join("single.sqlite"));
    assert!(single.iter().any(|g| g.0 == 2), "{single:?}");

    // Generation 1 cannot be screened before generation 0 is gathered.
    let out = ws.run(&with(&[
        "--shard",
        "0/2",
        "--generation",
        "1",
        "--db",
        "early.sqlite",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("breeds from the earlier generations"),
        "{}",
        text(&out)
    );

    // The same evolution in two shards per generation, merged and gathered.
    let main = ws.path().join("main.sqlite");
    for g in 0..3 {
        let gs = g.to_string();
        let mut shard_dbs = Vec::new();
        let (mut owned, mut distinct) = (Vec::new(), Vec::new());
        for k in 0..2 {
            let db = format!("shard-{g}-{k}.sqlite");
            let shard = format!("{k}/2");
            let mut args = vec!["--shard", &shard, "--generation", &gs, "--db", &db];
            if g > 0 {
                args.extend(["--gathered", "main.sqlite"]);
            }
            let out = ws.run(&with(&args));
            assert!(out.status.success(), "{}", text(&out));
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            let (o, d) = owned_of(&stdout, &shard);
            owned.push(o);
            distinct.push(d);
            if g == 0 && k == 0 {
                // Run again: a resume, nothing probed twice.
                let before = probe_keys(&ws.path().join(&db));
                let out = ws.run(&with(&args));
                assert!(out.status.success(), "{}", text(&out));
                assert_eq!(probe_keys(&ws.path().join(&db)), before);
            }
            shard_dbs.push(db);
        }
        // The shards shared the generation out: every genome is one
        // shard's.
        assert_eq!(
            owned.iter().sum::<usize>(),
            distinct[0],
            "{owned:?} {distinct:?}"
        );
        assert!(distinct.iter().all(|d| *d == distinct[0]), "{distinct:?}");
        let a = probe_keys(&ws.path().join(&shard_dbs[0]));
        let b = probe_keys(&ws.path().join(&shard_dbs[1]));
        let mut merge = vec!["merge".to_string(), "main.sqlite".to_string()];
        merge.extend(shard_dbs.iter().cloned());
        let out = ws.run(&merge);
        assert!(out.status.success(), "{}", text(&out));

        let probes_before = probe_keys(&main);
        let out = ws.run(&with(&["--through-generation", &gs, "--db", "main.sqlite"]));
        assert!(out.status.success(), "{}", text(&out));
        // The gather probed nothing: every probe came from a shard.
        assert_eq!(probe_keys(&main), probes_before);
        assert!(a.is_subset(&probes_before) && b.is_subset(&probes_before));
        let gathered = genomes(&main);
        assert!(
            gathered.iter().all(|r| r.0 <= g),
            "generation {g} gathered later generations: {gathered:?}"
        );
        assert!(gathered.iter().any(|r| r.0 == g), "{gathered:?}");
        assert!(
            gathered.iter().all(|r| r.3.is_some() || r.4.is_some()),
            "an unscreened genome after the gather: {gathered:?}"
        );
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if g < 2 {
            assert!(
                stdout.contains(&format!("pause after generation {g}")),
                "{stdout}"
            );
        }
    }
    let sharded = genomes(&main);

    // Generation 0 depends on the seed alone: the same genomes with the
    // same figures (the static-evaluation probe is deterministic).
    let gen0 = |rows: &[Row]| -> Vec<Row> { rows.iter().filter(|r| r.0 == 0).cloned().collect() };
    let same = |a: &Row, b: &Row| {
        a.0 == b.0
            && a.1 == b.1
            && a.2 == b.2
            && a.4 == b.4
            && match (a.3, b.3) {
                (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(1.0),
                (x, y) => x == y,
            }
    };
    let (s0, u0) = (gen0(&sharded), gen0(&single));
    assert!(
        s0.len() == u0.len() && s0.iter().zip(&u0).all(|(a, b)| same(a, b)),
        "{s0:?} vs {u0:?}"
    );
    // Later generations breed from survivors ranked with measured speed
    // and memory, which differ from run to run; every genome both runs
    // made has the same quality (up to summation order) in both.
    for r in &sharded {
        if let Some(s) = single.iter().find(|s| s.2 == r.2) {
            assert!(
                same(&(s.0, s.1.clone(), s.2.clone(), r.3, r.4.clone()), s),
                "{r:?} vs {s:?}"
            );
        }
    }
    // Given the shards' measurements, the unsharded loop makes exactly the
    // gathered evolution: resumed in one process, it screens nothing new.
    let probes = probe_keys(&main);
    let out = ws.run(&with(&["--db", "main.sqlite"]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(genomes(&main), sharded);
    assert_eq!(probe_keys(&main), probes);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("every generation asked for"),
        "{}",
        text(&out)
    );

    // A shard past the end, and a gathered database of another evolution,
    // are refused with a reason.
    let out = ws.run(&with(&[
        "--shard",
        "0/2",
        "--generation",
        "3",
        "--gathered",
        "main.sqlite",
        "--db",
        "late.sqlite",
    ]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("past the evolution's 3 generations"),
        "{}",
        text(&out)
    );
    let mut other = with(&[
        "--shard",
        "0/2",
        "--generation",
        "1",
        "--gathered",
        "main.sqlite",
        "--db",
        "other.sqlite",
    ]);
    other[4] = "renamed".to_string();
    let out = ws.run(&other);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no evolution 'renamed'"),
        "{}",
        text(&out)
    );
}

/// "shard K/N owns X of Y genomes" from a shard's summary line.
fn owned_of(stdout: &str, shard: &str) -> (usize, usize) {
    let key = format!("shard {shard} owns ");
    let rest = &stdout[stdout.find(&key).unwrap_or_else(|| panic!("{stdout}")) + key.len()..];
    let mut words = rest.split_whitespace();
    let owned = words.next().unwrap().parse().unwrap();
    assert_eq!(words.next(), Some("of"));
    let of = words.next().unwrap().parse().unwrap();
    (owned, of)
}
