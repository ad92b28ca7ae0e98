//! Cross-checks the rules against GNU Go over GTP.
//!
//! Random legal games are played on our [`Game`] and replayed in GNU Go;
//! GNU Go must accept every move, and after every move both must agree on
//! the stones on the board, the capture counts and the set of legal moves.
//! GNU Go forbids suicide and enforces only simple ko, so the comparison of
//! legal moves uses exactly those rules.
//!
//! GNU Go is required (CI installs the `gnugo` package); without it the test
//! fails and says so rather than passing silently.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use qarena_go::{format_vertex, Color, Game, IllegalMove, Move, Point, Rules, Superko};

const SIZE: u8 = 9;
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);

/// Finds GNU Go: `QARENA_GNUGO`, then `PATH`, then Debian's install location.
fn find_gnugo() -> PathBuf {
    if let Some(path) = std::env::var_os("QARENA_GNUGO") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "QARENA_GNUGO is set to {}, which is not a file; point it at the gnugo binary \
             or unset it and install gnugo (Debian/Ubuntu: `apt-get install gnugo`)",
            path.display()
        );
        return path;
    }
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("gnugo"))
                .collect()
        })
        .unwrap_or_default();
    let debian = ["/usr/games/gnugo", "/usr/bin/gnugo"].map(PathBuf::from);
    on_path
        .into_iter()
        .chain(debian)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "GNU Go not found on PATH, in /usr/games or in /usr/bin; this test \
                 checks the Go rules against it. Install it (Debian/Ubuntu: \
                 `apt-get install gnugo`) or set QARENA_GNUGO to the binary."
            )
        })
}

/// A minimal GTP session; replies are read on a thread so a stuck engine
/// fails the test after a deadline instead of hanging it.
struct Gtp {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Gtp {
    fn start() -> Gtp {
        let path = find_gnugo();
        let mut child = Command::new(&path)
            .args(["--mode", "gtp", "--boardsize", "9"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", path.display()));
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Gtp {
            child,
            stdin,
            lines,
        }
    }

    /// Sends a command and returns `Ok(body)` for `=` or `Err(body)` for `?`.
    fn send(&mut self, command: &str) -> Result<String, String> {
        writeln!(self.stdin, "{command}").expect("writing to gnugo");
        self.stdin.flush().expect("flushing gnugo's stdin");
        let mut reply = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(REPLY_TIMEOUT)
                .unwrap_or_else(|e| panic!("no reply from gnugo to {command:?}: {e}"));
            if line.trim().is_empty() {
                if reply.is_empty() {
                    continue;
                }
                break;
            }
            reply.push(line);
        }
        let text = reply.join("\n");
        if let Some(body) = text.strip_prefix('=') {
            Ok(body.trim().to_string())
        } else if let Some(body) = text.strip_prefix('?') {
            Err(body.trim().to_string())
        } else {
            panic!("malformed GTP reply to {command:?}: {text:?}")
        }
    }

    fn ok(&mut self, command: &str) -> String {
        self.send(command)
            .unwrap_or_else(|e| panic!("gnugo rejected {command:?}: {e}"))
    }

    fn vertex_set(&mut self, command: &str) -> BTreeSet<String> {
        self.ok(command)
            .split_whitespace()
            .map(|v| v.to_ascii_uppercase())
            .collect()
    }
}

impl Drop for Gtp {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

fn our_stones(game: &Game, color: Color) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for y in 0..SIZE {
        for x in 0..SIZE {
            let p = Point { x, y };
            if game.stone(p) == Some(color) {
                set.insert(format_vertex(Move::Play(p), SIZE));
            }
        }
    }
    set
}

/// xorshift64*: a seeded generator so the games are reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

#[test]
fn random_games_agree_with_gnugo() {
    let mut gtp = Gtp::start();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // GNU Go's own rules: no suicide, simple ko only.
    let rules = Rules {
        suicide_allowed: false,
        superko: Superko::None,
    };
    let mut total_captures = 0;
    let mut ko_bans_seen = 0;
    for game_number in 0..20 {
        gtp.ok(&format!("boardsize {SIZE}"));
        gtp.ok("clear_board");
        let mut game = Game::new(SIZE, 7.5, rules).expect("9x9 game");
        for move_number in 1..=100 {
            let color = game.to_move();
            let legal = game.legal_moves(color);
            let context =
                format!("game {game_number}, move {move_number}, {color} to play:\n{game}");

            let ours: BTreeSet<String> = legal.iter().map(|&mv| format_vertex(mv, SIZE)).collect();
            let theirs = gtp.vertex_set(&format!("all_legal {color}"));
            assert_eq!(ours, theirs, "legal moves differ in {context}");
            if legal.is_empty() {
                break;
            }
            ko_bans_seen += (0..SIZE * SIZE)
                .map(|i| {
                    Move::Play(Point {
                        x: i % SIZE,
                        y: i / SIZE,
                    })
                })
                .filter(|&mv| game.is_legal(color, mv) == Err(IllegalMove::Ko))
                .count();

            let mv = legal[rng.below(legal.len())];
            let vertex = format_vertex(mv, SIZE);
            game.play(color, mv)
                .expect("a move from legal_moves is legal");
            if let Err(e) = gtp.send(&format!("play {color} {vertex}")) {
                panic!("gnugo rejected {color} {vertex} ({e}) in {context}");
            }

            for side in [Color::Black, Color::White] {
                assert_eq!(
                    our_stones(&game, side),
                    gtp.vertex_set(&format!("list_stones {side}")),
                    "{side} stones differ after {color} {vertex} in {context}"
                );
                let captures: u32 = gtp
                    .ok(&format!("captures {side}"))
                    .parse()
                    .expect("gnugo prints a capture count");
                assert_eq!(
                    game.captures(side),
                    captures,
                    "stones captured by {side} differ after {color} {vertex} in {context}"
                );
            }
        }
        total_captures += game.captures(Color::Black) + game.captures(Color::White);
    }
    assert!(total_captures > 0, "the games should include captures");
    assert!(ko_bans_seen > 0, "the games should include a ko");
}

#[test]
fn games_under_default_rules_are_accepted_by_gnugo() {
    // Positional superko only removes moves, so every move we allow under
    // the default rules must be legal for GNU Go as well.
    let mut gtp = Gtp::start();
    let mut rng = Rng(42);
    gtp.ok("clear_board");
    let mut game = Game::new(SIZE, 7.5, Rules::default()).expect("9x9 game");
    for _ in 0..30 {
        let color = game.to_move();
        let legal = game.legal_moves(color);
        if legal.is_empty() {
            break;
        }
        let mv = legal[rng.below(legal.len())];
        game.play(color, mv)
            .expect("a move from legal_moves is legal");
        gtp.ok(&format!("play {color} {}", format_vertex(mv, SIZE)));
    }
    for side in [Color::Black, Color::White] {
        assert_eq!(
            our_stones(&game, side),
            gtp.vertex_set(&format!("list_stones {side}"))
        );
    }
}
