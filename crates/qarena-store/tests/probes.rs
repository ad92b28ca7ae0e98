#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
//! Probes are stored once per key, with their positions, and read back.

use qarena_store::{NewProbe, ProbeKey, Store};
use serde_json::json;

fn key(subject: &str) -> ProbeKey {
    ProbeKey {
        probe: "katago-raw-nn".into(),
        subject_sha256: subject.into(),
        reference_sha256: "ref".into(),
        suite_sha256: "suite".into(),
        settings: json!({"symmetry": 0}),
    }
}

fn new_probe(subject: &str, kl: f64) -> NewProbe {
    NewProbe {
        key: key(subject),
        suite_name: "go9".into(),
        variant: None,
        positions: 2,
        primary_metric: "kl_mean".into(),
        metrics: json!([{"name": "kl_mean", "value": kl}, {"name": "top1_agreement", "value": 0.9}]),
        noise_floor: Some(json!([{"name": "kl_mean", "value": 0.07}])),
        seconds: 1.5,
        per_position: vec![
            json!([{"name": "kl", "value": kl - 0.01}]),
            json!([{"name": "kl", "value": kl * 2.0}]),
        ],
    }
}

#[test]
fn a_probe_is_stored_once_per_key_and_read_back() {
    let store = Store::open_in_memory().unwrap();
    assert!(store.find_probe(&key("v1")).unwrap().is_none());
    let id = store.insert_probe(&new_probe("v1", 0.06)).unwrap();
    // The same key again keeps the first result.
    assert_eq!(store.insert_probe(&new_probe("v1", 0.5)).unwrap(), id);
    let rec = store.find_probe(&key("v1")).unwrap().unwrap();
    assert_eq!(rec.id, id);
    assert_eq!(rec.metrics[0]["value"], 0.06);
    assert_eq!(rec.noise_floor.unwrap()[0]["value"], 0.07);
    let pos = store.probe_positions(id).unwrap();
    assert_eq!(pos.len(), 2);
    assert_eq!(pos[1][0]["value"], 0.12);
    // The per-position figure behind the headline mean.
    let figures = store.probe_headline_figures(id).unwrap();
    assert_eq!(figures.len(), 2);
    assert!((figures[0] - 0.05).abs() < 1e-12 && figures[1] == 0.12);
    assert!(store
        .probe_headline_figures(qarena_store::ProbeId(id.0 + 100))
        .unwrap()
        .is_empty());
    // Other settings are another probe.
    let mut k = key("v1");
    k.settings = json!({"symmetry": 1});
    assert!(store.find_probe(&k).unwrap().is_none());
    assert_eq!(store.probes_of_subject("v1").unwrap().len(), 1);
    // The view has one row per figure, the primary one marked.
    let rows: Vec<(String, f64, bool)> = store
        .with_conn(|c| {
            let mut s = c.prepare(
                "SELECT name, value, is_primary FROM probe_metrics WHERE probe_id = ?1 ORDER BY name",
            )?;
            let r = s.query_map([id.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            r.collect()
        })
        .unwrap();
    assert_eq!(
        rows,
        vec![
            ("kl_mean".to_string(), 0.06, true),
            ("top1_agreement".to_string(), 0.9, false)
        ]
    );
}
