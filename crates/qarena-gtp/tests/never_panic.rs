//! Property tests: every parser accepts arbitrary input without panicking,
//! and the framing round-trips whatever a well-behaved engine can print.

use proptest::prelude::*;
use qarena_gtp::{
    check_command, format_command, parse_final_score, parse_genmove, parse_genmove_analyze,
    parse_list_commands, parse_vertex_list, ResponseReader,
};

/// Tokens that steer the analyze parser into each of its sections.
fn analyze_token() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "info",
            "move",
            "visits",
            "winrate",
            "scoreLead",
            "order",
            "pv",
            "pvVisits",
            "rootInfo",
            "ownership",
            "movesOwnership",
            "isSymmetryOf",
            "play",
            "pass",
            "resign",
            "nan",
            "-inf",
            "\n",
        ])
        .prop_map(String::from),
        "[A-Za-z]{1,2}[0-9]{1,3}",
        any::<f64>().prop_map(|f| f.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        "\\PC{0,6}",
    ]
}

proptest! {
    // Failures are reported with their minimal input; no regression files
    // are written into the source tree.
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn reader_survives_any_lines_and_recovers(lines in prop::collection::vec(any::<String>(), 0..20)) {
        let mut reader = ResponseReader::with_max_bytes(64);
        for line in &lines {
            let _ = reader.push(line);
        }
        reader.reset();
        prop_assert!(reader.push("=9 ok").is_none());
        let done = reader.push("").and_then(Result::ok).map(|r| (r.id, r.text));
        prop_assert_eq!(done, Some((Some(9), "ok".to_owned())));
    }

    #[test]
    fn reader_round_trips_well_formed_responses(
        id in prop::option::of(any::<u32>()),
        success in any::<bool>(),
        body in prop::collection::vec("[^\r\n]*[^\r\n\\s][^\r\n]*", 0..6),
    ) {
        let sign = if success { '=' } else { '?' };
        let id_text = id.map(|i| i.to_string()).unwrap_or_default();
        let mut reader = ResponseReader::new();
        let mut wire = vec![format!("{sign}{id_text} {}", body.first().cloned().unwrap_or_default())];
        wire.extend(body.iter().skip(1).cloned());
        for line in &wire {
            prop_assert!(reader.push(line).is_none(), "ended early at {:?}", line);
        }
        let response = reader.push("").expect("empty line ends a response").expect("well formed");
        prop_assert_eq!(response.id, id);
        prop_assert_eq!(response.success, success);
        let expected = body.join("\n");
        prop_assert_eq!(response.text.as_str(), expected.trim());
        prop_assert!(reader.is_idle());
    }

    #[test]
    fn text_parsers_never_panic(text in any::<String>()) {
        let _ = parse_genmove(&text);
        let _ = parse_final_score(&text);
        let _ = parse_list_commands(&text);
        let _ = parse_vertex_list(&text);
        let _ = parse_genmove_analyze(&text);
        let _ = check_command(&text);
    }

    #[test]
    fn analyze_parser_never_panics_on_keyword_soup(tokens in prop::collection::vec(analyze_token(), 0..60)) {
        let text = tokens.join(" ");
        if let Ok(parsed) = parse_genmove_analyze(&text) {
            prop_assert!(!parsed.mv.is_empty());
            for c in &parsed.candidates {
                prop_assert!(!c.mv.is_empty());
                if let Some(w) = c.winrate {
                    prop_assert!(w.is_finite());
                }
            }
        }
    }

    #[test]
    fn formatted_commands_are_one_clean_line(id in prop::option::of(any::<u32>()), command in any::<String>()) {
        let line = format_command(id, &command);
        prop_assert!(!line.chars().any(char::is_control));
        prop_assert_eq!(line.trim(), line.as_str());
        if check_command(&command).is_ok() {
            // Only whitespace runs may change for a command that passes the check.
            let words: Vec<&str> = command.split_whitespace().collect();
            prop_assert!(line.ends_with(&words.join(" ")));
        }
    }

    #[test]
    fn parsed_moves_are_fixed_points(text in any::<String>()) {
        if let Ok(mv) = parse_genmove(&text) {
            prop_assert_eq!(parse_genmove(&mv), Ok(mv.clone()));
        }
    }
}
