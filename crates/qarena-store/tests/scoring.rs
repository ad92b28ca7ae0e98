//! How Go games were counted is stored with the game and read back typed.

mod common;

use common::*;
use qarena_store::{GameScoring, ScoringMethod, Store};

#[test]
fn scoring_round_trips_and_games_without_it_read_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("qarena.sqlite")).unwrap();
    let (run, a, b) = run_with_engines(&store, "scored");
    let plain = store.insert_game(&new_game(run, 0, 0, a, b, 3)).unwrap();
    let agreed = GameScoring {
        method: ScoringMethod::Agreed,
        dead_stones: Some(vec!["C3".into(), "D4".into()]),
        claims: Some(serde_json::json!({
            "a": {"dead": ["C3", "D4"], "result": "B+3"},
            "b": {"dead": ["C3", "D4"], "result": "B+3"},
        })),
    };
    let id1 = store
        .insert_game_scored(&new_game(run, 0, 1, b, a, 3), Some(&agreed))
        .unwrap();
    let disputed = GameScoring {
        method: ScoringMethod::Disputed,
        dead_stones: None,
        claims: Some(serde_json::json!({"a": {"unknown": "refused"}})),
    };
    let id2 = store
        .insert_game_scored(&new_game(run, 0, 2, a, b, 3), Some(&disputed))
        .unwrap();
    let none_dead = GameScoring {
        method: ScoringMethod::Area,
        dead_stones: Some(vec![]),
        claims: None,
    };
    let id3 = store
        .insert_game_scored(&new_game(run, 0, 3, b, a, 3), Some(&none_dead))
        .unwrap();

    assert_eq!(store.game(plain).unwrap().unwrap().scoring, None);
    assert_eq!(store.game(id1).unwrap().unwrap().scoring, Some(agreed));
    assert_eq!(store.game(id2).unwrap().unwrap().scoring, Some(disputed));
    assert_eq!(store.game(id3).unwrap().unwrap().scoring, Some(none_dead));
    let raw: Vec<(Option<String>, Option<String>)> = store
        .with_conn(|c| {
            let mut st = c.prepare("SELECT scoring, dead_stones FROM games ORDER BY game_index")?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .unwrap();
    assert_eq!(
        raw,
        vec![
            (None, None),
            (Some("agreed".into()), Some("C3 D4".into())),
            (Some("disputed".into()), None),
            (Some("area".into()), Some(String::new())),
        ]
    );
    assert_eq!(
        "referee".parse::<ScoringMethod>(),
        Ok(ScoringMethod::Referee)
    );
    assert!("dead".parse::<ScoringMethod>().is_err());
}
