//! How fast `Store::merge_shard` combines shard databases, against a named
//! reference: writing the same games into the shard databases in the first
//! place, one transaction per game, as the runner does.
//!
//! `cargo run --release -p qarena-store --example merge_bench [-- GAMES SHARDS]`
//! (default 100000 games over 2 shards). Synthetic but realistic chess
//! games: ~60 moves each, one self-evaluation per move (score, depth,
//! nodes, time, a 6-move PV), a cost row per engine. Files go to a
//! temporary folder removed at the end.
#![allow(clippy::print_stdout)] // a benchmark prints its figures

use std::error::Error;
use std::time::Instant;

use qarena_store::{
    EngineProtocol, MoveColor, NewEngine, NewGame, NewGameCost, NewMove, NewRun, NewSelfEval,
    RecordFormat, RunKind, Slot, Store, Termination,
};
use serde_json::json;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let games: i64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let shards: i64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2);
    let dir = tempfile::tempdir()?;
    println!("merge_bench: {games} games over {shards} shards");

    let t0 = Instant::now();
    let mut paths = Vec::new();
    let mut moves = 0usize;
    for k in 0..shards {
        let path = dir.path().join(format!("shard-{k}.sqlite"));
        let store = Store::open(&path)?;
        let run = store.create_run(&NewRun {
            tag: "bench".into(),
            kind: RunKind::Match,
            argv: vec![
                "qarena".into(),
                "match".into(),
                format!("--shard={k}/{shards}"),
            ],
            settings: json!({"match": {"games": games}, "shard": {"index": k, "count": shards}}),
            software_version: "bench".into(),
        })?;
        let engine = |slot: &str| NewEngine {
            run,
            slot: slot.parse().unwrap_or(qarena_store::EngineSlot::Judge),
            label: format!("sf-{slot}"),
            command: vec!["stockfish".into()],
            protocol: EngineProtocol::Uci,
            name: Some("Stockfish 16".into()),
            version: None,
            model_path: None,
            model_sha256: None,
        };
        let a = store.add_engine(&engine("a"))?;
        let b = store.add_engine(&engine("b"))?;
        // Shard k plays the global games k, k + shards, k + 2 shards, ...
        for g in (k..games).step_by(shards as usize) {
            let n = 50 + g % 21;
            moves += n as usize;
            let (white, black) = if g % 2 == 0 { (a, b) } else { (b, a) };
            let game = NewGame {
                run,
                point_index: 0,
                game_index: g,
                pair_index: Some(g / 2),
                opening: Some("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1".into()),
                seed: Some(g),
                black_engine: black,
                white_engine: white,
                result: Some(["1-0", "0-1", "1/2-1/2"][(g % 3) as usize].into()),
                winner: [Some(Slot::A), Some(Slot::B), None][(g % 3) as usize],
                score: None,
                termination: Termination::Checkmate,
                record: format!("[Event \"bench\"]\n[Round \"{g}\"]\n\n1. e4 e5 *"),
                record_format: RecordFormat::Pgn,
                started_at: "2024-05-01T12:00:00.000Z".into(),
                ended_at: "2024-05-01T12:01:00.000Z".into(),
                duration_ms: 60_000,
                variant_params: None,
                settings: None,
                moves: (0..n)
                    .map(|ply| NewMove {
                        ply,
                        color: if ply % 2 == 0 {
                            MoveColor::ChessWhite
                        } else {
                            MoveColor::ChessBlack
                        },
                        mv: format!(
                            "{}{}",
                            ["e2e4", "g1f3", "d2d4", "c7c5"][(ply % 4) as usize],
                            ply % 7
                        ),
                        time_ms: 20 + ply % 13,
                    })
                    .collect(),
                self_evals: (0..n)
                    .map(|ply| NewSelfEval {
                        ply,
                        engine: if ply % 2 == 0 { white } else { black },
                        winrate: None,
                        score_lead: None,
                        score_cp: Some((ply * 7 + g) % 300 - 150),
                        mate: None,
                        depth: Some(12 + ply % 5),
                        nodes: Some(20_000 + ply * 31),
                        visits: None,
                        time_ms: Some(18 + ply % 11),
                        pv: Some("e2e4 e7e5 g1f3 b8c6 f1b5 a7a6".into()),
                        top_k: None,
                    })
                    .collect(),
                costs: vec![
                    NewGameCost {
                        engine: a,
                        cpu_seconds: Some(1.25),
                        peak_rss_bytes: Some(60 << 20),
                    },
                    NewGameCost {
                        engine: b,
                        cpu_seconds: Some(1.5),
                        peak_rss_bytes: Some(61 << 20),
                    },
                ],
            };
            store.insert_game(&game)?;
        }
        paths.push(path);
    }
    let write = t0.elapsed();
    println!(
        "reference: writing the games into {shards} shard databases (one transaction per game): {:.2} s, {:.0} games/s ({moves} moves)",
        write.as_secs_f64(),
        games as f64 / write.as_secs_f64()
    );

    let out = Store::open(&dir.path().join("merged.sqlite"))?;
    let t1 = Instant::now();
    let mut merged = 0;
    for p in &paths {
        merged += out.merge_shard(p)?.games_new();
    }
    let merge = t1.elapsed();
    println!(
        "merge: {merged} games from {shards} shards into one database: {:.2} s, {:.0} games/s",
        merge.as_secs_f64(),
        merged as f64 / merge.as_secs_f64()
    );
    let t2 = Instant::now();
    let mut present = 0;
    for p in &paths {
        present += out.merge_shard(p)?.games_present();
    }
    let again = t2.elapsed();
    println!(
        "merge again (every game already present, compared move by move): {:.2} s for {present} games",
        again.as_secs_f64()
    );
    println!(
        "ratio merge / reference: {:.3} (merging takes {:.1}% of the time writing took)",
        merge.as_secs_f64() / write.as_secs_f64(),
        100.0 * merge.as_secs_f64() / write.as_secs_f64()
    );
    if merged != games as u64 || present != games as u64 {
        return Err(
            format!("expected {games} games, merged {merged}, present again {present}").into(),
        );
    }
    Ok(())
}
