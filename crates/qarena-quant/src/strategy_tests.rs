//! Tests of strategy parsing, errors, resolution and round trips.

use proptest::prelude::{any, prop_assert_eq, prop_oneof, proptest, Just, ProptestConfig};
use proptest::strategy::Strategy as _;

use super::*;
use crate::tensor::StorageType;

fn t(name: &str, role: Role, layer: Option<u32>, is_bias: bool) -> TensorInfo {
    TensorInfo {
        name: name.into(),
        shape: vec![4, 4],
        dtype: StorageType::F32,
        role,
        layer,
        is_bias,
    }
}

const EXAMPLE: &str = r#"name = "int4-trunk-fp-heads"
description = "example"
[[rule]]
role = ["policy_head", "value_head"]
name = "*conv*"
layers = "0-3"
biases = false
scheme = "keep"
[[rule]]
role = "trunk"
scheme = "int4"
granularity = "group:32"
clip = "mse"
outliers = 0.5
[default]
scheme = "int8"
granularity = "channel"
"#;

#[test]
fn parses_the_documented_example() {
    let s = Strategy::parse(EXAMPLE, "x.toml").unwrap();
    assert_eq!(s.name(), "int4-trunk-fp-heads");
    assert_eq!(s.description(), Some("example"));
    assert_eq!(s.rules().len(), 2);
    let r0 = &s.rules()[0].selector;
    assert_eq!(r0.roles, vec![Role::PolicyHead, Role::ValueHead]);
    assert_eq!(
        r0.layers,
        Some(LayerRange {
            start: 0,
            end: Some(3)
        })
    );
    assert_eq!(r0.biases, Some(false));
    let r1 = s.rules()[1].spec;
    assert_eq!(
        r1.scheme,
        Scheme::Int {
            bits: 4,
            symmetric: true
        }
    );
    assert_eq!(r1.granularity, Granularity::Group(32));
    assert_eq!(r1.clipping, Clipping::Mse);
    assert_eq!(r1.outlier_percent, 0.5);
    assert_eq!(
        s.default_spec().unwrap().scheme,
        Scheme::Int {
            bits: 8,
            symmetric: true
        }
    );
}

#[test]
fn first_matching_rule_wins() {
    let text = r#"
[[rule]]
role = "trunk"
layers = "4-"
scheme = "int2"
[[rule]]
role = "trunk"
scheme = "int4"
[[rule]]
layers = 5
scheme = "nf4"
[default]
scheme = "int8"
"#;
    let s = Strategy::parse(text, "f.toml").unwrap();
    let int = |bits| Scheme::Int {
        bits,
        symmetric: true,
    };
    let r = |x: &TensorInfo| {
        let (i, spec) = s.resolve(x);
        (i, spec.scheme)
    };
    assert_eq!(r(&t("a", Role::Trunk, Some(5), false)), (Some(0), int(2)));
    assert_eq!(r(&t("a", Role::Trunk, Some(3), false)), (Some(1), int(4)));
    assert_eq!(r(&t("a", Role::Trunk, None, false)), (Some(1), int(4)));
    assert_eq!(
        r(&t("a", Role::Late, Some(5), false)),
        (Some(2), Scheme::Nf4)
    );
    assert_eq!(r(&t("a", Role::Late, Some(6), false)), (None, int(8)));
    assert_eq!(s.name(), "f", "name defaults to the file stem");
}

#[test]
fn no_default_keeps_unmatched_tensors() {
    let s = Strategy::parse("[[rule]]\nname = \"*bias*\"\nscheme = \"int8\"\n", "s").unwrap();
    assert_eq!(s.resolve(&t("x.bias", Role::Other, None, true)).0, Some(0));
    assert_eq!(
        s.resolve(&t("x.w", Role::Other, None, false)),
        (None, QuantSpec::KEEP)
    );
}

#[test]
fn selectors_combine_with_and() {
    let s = Strategy::parse(
        "[[rule]]\nrole = \"mlp\"\nname = \"*.up_proj.*\"\nbiases = false\nscheme = \"int4\"\n",
        "s",
    )
    .unwrap();
    let hit = t(
        "model.layers.3.mlp.up_proj.weight",
        Role::Mlp,
        Some(3),
        false,
    );
    assert_eq!(s.resolve(&hit).0, Some(0));
    let bias = TensorInfo {
        is_bias: true,
        ..hit.clone()
    };
    assert_eq!(s.resolve(&bias).0, None);
    let other_role = TensorInfo {
        role: Role::Attention,
        ..hit.clone()
    };
    assert_eq!(s.resolve(&other_role).0, None);
}

fn parse_err(text: &str) -> (usize, usize, Option<String>, String) {
    match Strategy::parse(text, "x.toml").unwrap_err() {
        e @ StrategyError::Parse { .. } => {
            let shown = e.to_string();
            let StrategyError::Parse {
                line, column, key, ..
            } = e
            else {
                unreachable!()
            };
            (line, column, key, shown)
        }
        other => panic!("expected a parse error, got {other}"),
    }
}

#[test]
fn errors_point_at_the_line_and_name_the_key() {
    let text = "name = \"x\"\n\n[[rule]]\nrole = \"trunk\"\nscheme = \"int4\"\n\n[[rule]]\nscheme = \"int9\"\n";
    let (line, col, key, shown) = parse_err(text);
    assert_eq!((line, col, key.as_deref()), (8, 10, Some("scheme")));
    assert!(
        shown.starts_with(
            "strategy 'x.toml' line 8, column 10: key 'scheme': unknown scheme 'int9' \
             (expected keep, int2..int8, uint2..uint8"
        ),
        "{shown}"
    );

    let (line, _, key, shown) = parse_err("[[rule]]\nrole = \"trunkk\"\nscheme = \"int4\"\n");
    assert_eq!((line, key.as_deref()), (2, Some("role")));
    assert!(
        shown.contains("unknown role 'trunkk' (expected stem, trunk"),
        "{shown}"
    );

    match Strategy::parse("[[rule]]\nrole = 7\nscheme = \"int4\"\n", "x.toml") {
        Err(StrategyError::Parse { problem, .. }) => assert_eq!(
            problem,
            StrategyProblem::Selector(SelectorError::RolesType { found: "integer" })
        ),
        other => panic!("expected a parse error, got {other:?}"),
    }
    let (line, _, key, _) = parse_err("[[rule]]\nlayers = \"5-3\"\nscheme = \"int4\"\n");
    assert_eq!((line, key.as_deref()), (2, Some("layers")));
    let (line, _, key, _) = parse_err("[[rule]]\nscheme = \"int4\"\ngranularity = \"group:0\"\n");
    assert_eq!((line, key.as_deref()), (3, Some("granularity")));
    let (line, _, key, _) = parse_err("[default]\nscheme = \"int4\"\nclip = \"percentile:120\"\n");
    assert_eq!((line, key.as_deref()), (3, Some("clip")));
    let (line, _, key, _) = parse_err("[default]\nscheme = \"int4\"\noutliers = 60\n");
    assert_eq!((line, key.as_deref()), (3, Some("outliers")));
    let (line, _, key, shown) = parse_err("[default]\nscheme = \"lut4\"\nclip = \"mse\"\n");
    assert_eq!((line, key.as_deref()), (3, Some("clip")));
    assert!(shown.contains("no effect with lut4"), "{shown}");

    // Unknown keys and syntax errors come from the TOML reader, with lines.
    let (line, _, _, shown) = parse_err("[[rule]]\nscheme = \"int4\"\nbits = 3\n");
    assert_eq!(line, 3, "{shown}");
    assert!(shown.contains("bits"), "{shown}");
    let (line, _, _, shown) = parse_err("[[rule]]\nrole = \"trunk\"\n");
    assert!(shown.contains("scheme"), "{shown}");
    assert!(line <= 2);
    let (line, _, _, _) = parse_err("name = \"x\"\n[default\nscheme = \"int4\"\n");
    assert_eq!(line, 2);
}

#[test]
fn uniform_strategy() {
    let spec = QuantSpec::new(Scheme::Int {
        bits: 4,
        symmetric: true,
    })
    .with_granularity(Granularity::Group(32));
    let s = Strategy::uniform(spec).unwrap();
    assert_eq!(s.name(), "int4-group:32");
    assert_eq!(s.resolve(&t("a", Role::Stem, None, true)), (None, spec));
    let bad = QuantSpec::new(Scheme::Lut { bits: 9 });
    let e = Strategy::uniform(bad).unwrap_err();
    assert_eq!(
        e.to_string(),
        "strategy 'lut9-channel': default: lut bits must be 1..=8, got 9"
    );
    assert!(matches!(
        e,
        StrategyError::Invalid {
            place: SpecPlace::Default,
            problem: SpecError::LutBits { bits: 9 },
            ..
        }
    ));
}

#[test]
fn canonical_json_ignores_labels_and_is_stable() {
    let a = Strategy::parse(EXAMPLE, "a.toml").unwrap();
    let renamed = EXAMPLE
        .replace("int4-trunk-fp-heads", "other")
        .replace("example", "x");
    let b = Strategy::parse(&renamed, "b.toml").unwrap();
    assert_eq!(a.canonical_json(), b.canonical_json());
    assert_eq!(a.canonical_json(), a.clone().canonical_json());
    let c = Strategy::parse(&EXAMPLE.replace("int8", "int6"), "c.toml").unwrap();
    assert_ne!(a.canonical_json(), c.canonical_json());
}

#[test]
fn json_round_trip_validates() {
    let a = Strategy::parse(EXAMPLE, "a.toml").unwrap();
    let json = serde_json::to_string(&a).unwrap();
    let back: Strategy = serde_json::from_str(&json).unwrap();
    assert_eq!(a, back);
    let broken = json.replace("\"bits\":8", "\"bits\":12");
    assert!(serde_json::from_str::<Strategy>(&broken).is_err());
}

#[test]
fn integer_outliers_are_accepted() {
    let s = Strategy::parse("[default]\nscheme = \"int4\"\noutliers = 1\n", "o").unwrap();
    assert_eq!(s.default_spec().unwrap().outlier_percent, 1.0);
}

#[test]
fn keep_rules_are_normalised() {
    let s = Strategy::parse(
        "[[rule]]\nscheme = \"keep\"\ngranularity = \"tensor\"\n",
        "k",
    )
    .unwrap();
    assert_eq!(s.rules()[0].spec, QuantSpec::KEEP);
}

#[test]
fn shipped_strategies_parse_and_round_trip() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../strategies");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let s = Strategy::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            Some(s.name()),
            path.file_stem().and_then(|x| x.to_str()),
            "a shipped strategy is named after its file"
        );
        assert!(s.description().is_some());
        let again = Strategy::parse(&s.to_toml(), "round-trip").unwrap();
        assert_eq!(s, again);
        n += 1;
    }
    assert!(n >= 6, "found only {n} strategies in {}", dir.display());
}

#[test]
fn missing_file_names_the_path() {
    let e = Strategy::from_file("no/such/strategy.toml").unwrap_err();
    assert!(e.to_string().contains("no/such/strategy.toml"), "{e}");
}

#[test]
fn an_oversized_or_binary_file_is_refused_by_name_before_parsing() {
    let dir = std::env::temp_dir().join(format!("qarena-strategy-size-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A sparse file that claims far more than any strategy needs: nothing
    // past the limit is read.
    let big = dir.join("huge.toml");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(crate::MAX_STRATEGY_BYTES * 64).unwrap();
    let e = Strategy::from_file(&big).unwrap_err();
    assert!(
        matches!(e, StrategyError::TooLarge { bytes, .. } if bytes == crate::MAX_STRATEGY_BYTES * 64),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("huge.toml") && msg.contains("limited to"),
        "{msg}"
    );
    // Exactly at the limit is read (and then judged as TOML).
    f.set_len(crate::MAX_STRATEGY_BYTES).unwrap();
    let e = Strategy::from_file(&big).unwrap_err();
    assert!(matches!(e, StrategyError::Parse { .. }), "{e:?}");
    // Bytes that are not text name the file too.
    let bin = dir.join("binary.toml");
    std::fs::write(&bin, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let e = Strategy::from_file(&bin).unwrap_err();
    assert!(
        e.to_string().contains("binary.toml") && e.to_string().contains("UTF-8"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

fn spec_strategy() -> impl proptest::strategy::Strategy<Value = QuantSpec> {
    let scheme = prop_oneof![
        Just("keep".to_string()),
        (2u8..=8).prop_map(|b| format!("int{b}")),
        (2u8..=8).prop_map(|b| format!("uint{b}")),
        (1u32..=127).prop_map(|l| format!("levels{l}")),
        Just("nf4".to_string()),
        Just("fp4".to_string()),
        Just("fp8_e4m3".to_string()),
        Just("fp8_e5m2".to_string()),
        (1u8..=8).prop_map(|b| format!("lut{b}")),
    ];
    let gran = prop_oneof![
        Just(Granularity::Tensor),
        Just(Granularity::Channel),
        (1u32..4096).prop_map(Granularity::Group),
    ];
    let clip = prop_oneof![
        Just(Clipping::None),
        Just(Clipping::Mse),
        (0.001f64..100.0).prop_map(Clipping::Percentile),
    ];
    (scheme, gran, clip, 0.0f64..50.0, any::<bool>(), 0usize..3).prop_map(|(s, g, c, o, ec, st)| {
        let scheme: Scheme = s.parse().unwrap();
        let c = if matches!(scheme, Scheme::Lut { .. }) {
            Clipping::None
        } else {
            c
        };
        let spec = QuantSpec::new(scheme)
            .with_granularity(g)
            .with_clipping(c)
            .with_outlier_percent(o)
            .with_rounding(if ec {
                Rounding::ErrorCompensating
            } else {
                Rounding::Nearest
            })
            .with_scale_type([ScaleType::F16, ScaleType::Bf16, ScaleType::F32][st]);
        if scheme == Scheme::Keep {
            QuantSpec::KEEP
        } else {
            spec
        }
    })
}

fn rule_strategy() -> impl proptest::strategy::Strategy<Value = Rule> {
    (
        proptest::sample::subsequence(Role::ALL.to_vec(), 0..4),
        proptest::option::of("[a-z.*?\"\\\\]{0,12}"),
        proptest::option::of((0u32..50, proptest::option::of(0u32..50))),
        proptest::option::of(any::<bool>()),
        spec_strategy(),
    )
        .prop_map(|(roles, name, layers, biases, spec)| Rule {
            selector: Selector {
                roles,
                name: name.map(|n| Glob::new(&n)),
                layers: layers.map(|(a, b)| LayerRange {
                    start: a,
                    end: b.map(|b| a + b),
                }),
                biases,
            },
            spec,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn to_toml_round_trips(
        name in "[ -~]{0,20}",
        desc in proptest::option::of("[ -~\n]{0,40}"),
        rules in proptest::collection::vec(rule_strategy(), 0..5),
        default in proptest::option::of(spec_strategy()),
    ) {
        let s = Strategy::new(name, desc, rules, default).unwrap();
        let text = s.to_toml();
        let back = Strategy::parse(&text, "rt").unwrap_or_else(|e| panic!("{e}\n{text}"));
        prop_assert_eq!(s, back);
    }

    #[test]
    fn parse_never_panics(text in "[\\[\\]a-z_=\"0-9.:*\n -]{0,200}") {
        let _ = Strategy::parse(&text, "fuzz");
    }
}
