//! Go opening books: pairs start from a book line with colours swapped, the
//! book moves are stored and marked, bad books are refused before any game,
//! `qarena openings go` draws a balanced book from the shared net, and
//! `qarena openings merge` joins books without repeating an opening.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

mod common;

use common::*;

/// `qarena match` between two GNU Go level 1 engines with `rest` appended.
fn gnugo_match(ws: &Ws, rest: &[&str]) -> std::process::Output {
    let engine = gnugo_cmd(1);
    let mut args = vec!["match", "--engine-a", &engine, "--engine-b", &engine];
    args.extend_from_slice(rest);
    ws.run(&args)
}

const BOOK: &str = "# three openings\nboard_size 9\nkomi 7\nE5 C3 G7\nC3 G3\nD4 F6 F4 D6\n";

#[test]
fn both_games_of_a_pair_start_from_one_book_line_with_colours_swapped() {
    let ws = Ws::new();
    let book = ws.path().join("book.txt");
    std::fs::write(&book, BOOK).unwrap();
    let out = gnugo_match(
        &ws,
        &[
            "--games",
            "6",
            "-j",
            "2",
            "--openings",
            book.to_str().unwrap(),
            "--seed",
            "5",
            "--run-tag",
            "book",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let store = ws.store();
    let run = store.run_by_tag("book").unwrap().unwrap();
    let games = store.games(run.id).unwrap();
    assert_eq!(games.len(), 6);
    let lines = ["E5 C3 G7", "C3 G3", "D4 F6 F4 D6"];
    let mut used = Vec::new();
    for pair in games.chunks(2) {
        let opening = pair[0].opening.clone().unwrap();
        assert_eq!(pair[1].opening.as_deref(), Some(opening.as_str()));
        assert!(lines.contains(&opening.as_str()), "{opening}");
        assert_eq!(pair[0].black_engine, pair[1].white_engine);
        used.push(opening.clone());
        let book_moves: Vec<&str> = opening.split_whitespace().collect();
        for g in pair {
            let moves = store.game_moves(g.id).unwrap();
            assert!(moves.len() > book_moves.len() + 10, "game {}", g.game_index);
            for (k, want) in book_moves.iter().enumerate() {
                assert_eq!(moves[k].mv, *want, "game {} ply {k}", g.game_index);
                assert_eq!(moves[k].color.as_str(), if k % 2 == 0 { "B" } else { "W" });
                assert_eq!(moves[k].time_ms, 0);
            }
            assert_eq!(
                g.record.matches("C[opening]").count(),
                book_moves.len(),
                "{}",
                g.record
            );
        }
    }
    // Three pairs, three openings: a permutation uses each once.
    used.sort();
    used.dedup();
    assert_eq!(used.len(), 3, "{used:?}");

    // The records replay from the empty board under another program's rules.
    let out = ws.run(&["export", "sgf", "--run", "book", "-o", "sgf"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sgfmill_replay(&ws.path().join("sgf")), 6);

    // The book and seed are part of the stored settings, so a resume plays
    // the same openings.
    assert!(
        run.settings.to_string().contains("book.txt"),
        "{}",
        run.settings
    );
}

#[test]
fn bad_books_are_refused_before_any_game_naming_file_and_line() {
    let ws = Ws::new();
    let cases = [
        (
            "illegal.txt",
            "E5 C3\nE5 E5\n",
            "illegal.txt:2: move 2 `E5` is illegal",
        ),
        (
            "size.txt",
            "board_size 19\nE5\n",
            "the book is for board size `19`",
        ),
        ("empty.txt", "# nothing\n", "holds no openings"),
        ("pass.txt", "E5 pass\n", "is a pass"),
    ];
    for (name, body, want) in cases {
        let path = ws.path().join(name);
        std::fs::write(&path, body).unwrap();
        let out = gnugo_match(&ws, &["--games", "2", "--openings", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{name}: {err}");
    }
    let out = gnugo_match(&ws, &["--openings", "no-such-book.txt"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no-such-book.txt"), "{}", text(&out));
    // Refused while reading the flags: no run, no database.
    assert!(!ws.db().exists());
}

#[test]
fn a_drawn_book_is_balanced_distinct_seeded_and_playable() {
    let ws = Ws::new();
    let (_, net, _) = qarena_testkit::katago();
    // `threads`: RAYON_NUM_THREADS for the run (unset: qarena's default).
    let draw_with = |seed: &str, out: &str, threads: Option<&str>| {
        let mut cmd = std::process::Command::new(qarena());
        cmd.args([
            "openings",
            "go",
            net.to_str().unwrap(),
            "--count",
            "24",
            "--max-plies",
            "5",
            "--max-gap",
            "0.08",
            "--seed",
            seed,
            "-o",
            out,
        ])
        .env_remove("RAYON_NUM_THREADS")
        .current_dir(ws.path());
        if let Some(t) = threads {
            cmd.env("RAYON_NUM_THREADS", t);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("a second"), "progress: {}", text(&o));
        std::fs::read_to_string(ws.path().join(out)).unwrap()
    };
    let draw = |seed: &str, out: &str| draw_with(seed, out, None);
    let a = draw("3", "a.txt");
    assert_eq!(a, draw("3", "b.txt"), "same seed, same book");
    assert_ne!(a, draw("4", "c.txt"), "another seed, another book");
    // The forward pass runs on one thread unless RAYON_NUM_THREADS asks
    // for more; the book does not depend on it.
    assert_eq!(
        a,
        draw_with("3", "d.txt", Some("2")),
        "threads change nothing"
    );
    let book = qarena_go::parse_book(&a, "a.txt", 9).unwrap();
    assert_eq!(book.len(), 24);
    let mut texts: Vec<String> = book.iter().map(|o| o.text(9)).collect();
    for o in &book {
        assert!((2..=5).contains(&o.moves.len()), "{}", o.text(9));
    }
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 24);
    let winrates: Vec<f64> = a
        .lines()
        .filter_map(|l| l.strip_prefix("# black "))
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(winrates.len(), 24);
    assert!(
        winrates.iter().all(|w| (w - 0.5).abs() <= 0.08),
        "{winrates:?}"
    );

    // A file that is not a net is refused with its name.
    std::fs::write(ws.path().join("junk.bin.gz"), b"not a net").unwrap();
    let o = ws.run(&["openings", "go", "junk.bin.gz", "-o", "j.txt"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("junk.bin.gz"), "{}", text(&o));
}

#[test]
fn merged_books_keep_each_opening_once_up_to_symmetry_and_play() {
    let ws = Ws::new();
    let p = |name: &str, body: &str| {
        let path = ws.path().join(name);
        std::fs::write(&path, body).unwrap();
        path.to_str().unwrap().to_string()
    };
    let a = p("a.txt", BOOK);
    // C7 G7 is C3 G3 turned upside down; E5 C7 G3 is E5 C3 G7 mirrored.
    let b = p(
        "b.txt",
        "board_size 9\n# black 0.512\nC7 G7\n# black 0.498\nD5 E3\nE5 C7 G3\n",
    );
    let o = ws.run(&["openings", "merge", &a, &b, "-o", "m.txt"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("wrote 4 openings"), "{}", text(&o));
    assert!(text(&o).contains("2 dropped"), "{}", text(&o));
    let merged = std::fs::read_to_string(ws.path().join("m.txt")).unwrap();
    let lines: Vec<&str> = merged
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter(|l| !l.starts_with("board_size") && !l.starts_with("komi"))
        .collect();
    assert_eq!(lines, ["E5 C3 G7", "C3 G3", "D4 F6 F4 D6", "D5 E3"]);
    assert!(merged.contains("# black 0.498\nD5 E3\n"), "{merged}");
    assert!(merged.contains("board_size 9\nkomi 7\n"), "{merged}");
    assert!(merged.contains("b.txt: 1 of its 3 openings"), "{merged}");

    // A book whose name holds a line break still makes a book whose
    // comments stay comments.
    let odd = p("odd\nD4.txt", "board_size 9\nE3\n");
    let o = ws.run(&["openings", "merge", &odd, &a, "-o", "odd.txt"]);
    assert!(o.status.success(), "{}", text(&o));
    let merged_odd = std::fs::read_to_string(ws.path().join("odd.txt")).unwrap();
    assert!(
        merged_odd.contains("odd?D4.txt: 1 of its 1 openings"),
        "{merged_odd}"
    );
    assert!(
        !merged_odd.lines().any(|l| l.starts_with("D4.txt")),
        "{merged_odd}"
    );

    // The merged book is one a match reads.
    let out = gnugo_match(
        &ws,
        &["--games", "2", "--openings", "m.txt", "--run-tag", "merged"],
    );
    assert!(out.status.success(), "{}", text(&out));

    // A book for another board is refused, naming it; nothing is written.
    let c = p("c.txt", "board_size 13\nD4\n");
    let o = ws.run(&["openings", "merge", &a, &c, "-o", "bad.txt"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("c.txt:1"), "{}", text(&o));
    assert!(!ws.path().join("bad.txt").exists());
}

#[test]
fn a_merge_past_what_a_match_reads_is_refused_at_the_book_that_crosses_it() {
    let ws = Ws::new();
    // Openings that start on A2, a point no turn or mirror of the board
    // keeps, then four distinct inner points: no two are equal under a
    // symmetry, and none can capture.
    let cols = ['C', 'D', 'E', 'F', 'G'];
    let inner: Vec<String> = (3..=7)
        .flat_map(|r| cols.iter().map(move |c| format!("{c}{r}")))
        .collect();
    let mut lines = Vec::new();
    'all: for a in &inner {
        for b in inner.iter().filter(|b| *b != a) {
            for c in inner.iter().filter(|c| *c != a && *c != b) {
                for d in inner.iter().filter(|d| *d != a && *d != b && *d != c) {
                    lines.push(format!("A2 {a} {b} {c} {d}"));
                    if lines.len() == 240_000 {
                        break 'all;
                    }
                }
            }
        }
    }
    let book = |name: &str, part: &[String]| {
        let path = ws.path().join(name);
        std::fs::write(&path, format!("board_size 9\n{}\n", part.join("\n"))).unwrap();
        path.display().to_string()
    };
    let (a, b, c) = (
        book("a.txt", &lines[..120_000]),
        book("b.txt", &lines[120_000..]),
        book("c.txt", &["not a move".to_string()]),
    );
    // The limit is crossed at b.txt, before c.txt (unreadable) is read.
    let o = ws.run(&["openings", "merge", &a, &b, &c, "-o", "big.txt"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("merge fewer books") && text(&o).contains("b.txt"),
        "{}",
        text(&o)
    );
    assert!(!ws.path().join("big.txt").exists());
    // Each half alone is a book.
    let o = ws.run(&["openings", "merge", &a, "-o", "half.txt"]);
    assert!(o.status.success(), "{}", text(&o));
}
