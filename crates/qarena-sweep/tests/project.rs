//! The project config resolves engines, models and strategies by name, and
//! every example sweep expands to valid points.

use std::path::Path;

use qarena_sweep::SweepDef;

fn examples() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

#[test]
fn project_sweeps_resolve_names_and_expand() {
    let project = examples().join("qarena.toml");
    let def = SweepDef::from_project(&project, "katago-ladder").unwrap();
    assert_eq!(def.name, "katago-ladder");
    assert!(def.engine.base.command.contains("katago gtp"));
    assert!(def.model.ends_with("g170-b6c96.bin.gz"));
    assert!(def.model.is_absolute() || def.model.starts_with(examples()));
    let points = def.points().unwrap();
    let names: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "original",
            "int4",
            "int4-g32-mse",
            "trunk-L3",
            "trunk-L1",
            "heads-L3",
            "heads-L1",
            "late-L3",
            "late-L1"
        ]
    );
    // The inline strategy from [strategies.int4] became the point's rules.
    let int4 = points[1].strategy().unwrap();
    assert_eq!(int4.rules().len(), 1);
    let nnue = SweepDef::from_project(&project, "nnue-fc").unwrap();
    assert_eq!(nnue.engine.model_option.as_deref(), Some("EvalFile"));
    let err = SweepDef::from_project(&project, "nope")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no sweep named 'nope'") && err.contains("katago-ladder"),
        "{err}"
    );
}

#[test]
fn example_sweep_files_parse_and_expand() {
    for f in ["katago-ladder.toml", "nnue-ladder.toml"] {
        let def = SweepDef::from_file(&examples().join(f)).unwrap();
        let points = def.points().unwrap();
        assert!(points.len() >= 7, "{f}: {} points", points.len());
        assert_eq!(points[0].name, "original");
    }
}
