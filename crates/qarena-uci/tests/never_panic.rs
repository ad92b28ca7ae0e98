//! Property tests: the line parser is total, formatters always produce one
//! clean command line, and structured info lines read back what they say.

use proptest::prelude::*;
use qarena_uci::{
    classify_info_strings, format_go, format_position, format_setoption, parse_line, GoLimit, Info,
    Message, Score,
};

/// Tokens that steer the parser into each of its branches.
fn uci_token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "info",
            "id",
            "name",
            "author",
            "option",
            "type",
            "default",
            "min",
            "max",
            "var",
            "bestmove",
            "ponder",
            "uciok",
            "readyok",
            "depth",
            "score",
            "cp",
            "mate",
            "wdl",
            "pv",
            "string",
            "currmove",
            "lowerbound",
            "upperbound",
            "refutation",
            "ERROR",
            "NNUE",
            "evaluation",
            "using",
            "enabled",
            "(",
            ")",
        ])
        .prop_map(String::from),
        any::<i64>().prop_map(|n| n.to_string()),
        "[a-h][1-8][a-h][1-8]",
        "\\PC{0,5}",
    ]
}

fn go_limit() -> impl Strategy<Value = GoLimit> {
    prop_oneof![
        any::<u64>().prop_map(GoLimit::Nodes),
        any::<u32>().prop_map(GoLimit::Depth),
        any::<u64>().prop_map(GoLimit::MoveTime),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            prop::option::of(any::<u32>())
        )
            .prop_map(
                |(wtime_ms, btime_ms, winc_ms, binc_ms, movestogo)| GoLimit::Clock {
                    wtime_ms,
                    btime_ms,
                    winc_ms,
                    binc_ms,
                    movestogo,
                }
            ),
    ]
}

fn is_one_clean_line(line: &str) -> bool {
    !line.chars().any(char::is_control)
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn parse_line_never_panics(line in any::<String>()) {
        let _ = parse_line(&line);
    }

    #[test]
    fn parse_line_never_panics_on_keyword_soup(tokens in prop::collection::vec(uci_token(), 0..40)) {
        let line = tokens.join(" ");
        let _ = parse_line(&line);
        let _ = classify_info_strings(&tokens);
        let _ = classify_info_strings(&[line]);
    }

    #[test]
    fn classify_never_panics(strings in prop::collection::vec(any::<String>(), 0..8)) {
        let _ = classify_info_strings(&strings);
    }

    #[test]
    fn formatters_emit_one_clean_line(
        fen in prop::option::of(any::<String>()),
        moves in prop::collection::vec(any::<String>(), 0..6),
        name in any::<String>(),
        value in prop::option::of(any::<String>()),
        limit in go_limit(),
    ) {
        prop_assert!(is_one_clean_line(&format_position(fen.as_deref(), &moves)));
        prop_assert!(is_one_clean_line(&format_setoption(&name, value.as_deref())));
        prop_assert!(is_one_clean_line(&format_go(&limit)));
    }

    #[test]
    fn info_fields_round_trip(
        depth in any::<u32>(),
        nodes in any::<u64>(),
        cp in any::<i32>(),
        mate in any::<bool>(),
        wdl in (0u32..1001, 0u32..1001, 0u32..1001),
        pv in prop::collection::vec("[a-h][1-8][a-h][1-8][qrbn]?", 0..8),
        text in prop::option::of("[ -~]*"),
    ) {
        let score = if mate { Score::Mate(cp) } else { Score::Cp(cp) };
        let score_text = match score {
            Score::Mate(n) => format!("mate {n}"),
            Score::Cp(n) => format!("cp {n}"),
        };
        let mut line = format!(
            "info depth {depth} score {score_text} wdl {} {} {} nodes {nodes} pv {}",
            wdl.0, wdl.1, wdl.2, pv.join(" ")
        );
        if let Some(text) = &text {
            line.push_str(" string ");
            line.push_str(text);
        }
        let expected = Info {
            depth: Some(depth),
            score: Some(score),
            wdl: Some(wdl),
            nodes: Some(nodes),
            pv,
            string: text.map(|t| t.trim().to_owned()),
            ..Info::default()
        };
        prop_assert_eq!(parse_line(&line), Message::Info(expected));
    }
}
