//! Shared helpers for the end-to-end tests: run the real `qarena` binary
//! against real engines in a fresh temporary workspace.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr
)] // test code
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn qarena() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_qarena"))
}

/// The fault-injecting engine, built next to `qarena`.
pub fn fake_engine() -> PathBuf {
    let dir = qarena().parent().map(Path::to_path_buf).unwrap_or_default();
    let p = dir.join("qarena-fake-engine");
    if !p.exists() {
        let st = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "qarena-fake-engine"])
            .status()
            .expect("running cargo build for the fake engine");
        assert!(st.success(), "building qarena-fake-engine failed");
    }
    assert!(p.exists(), "fake engine not found at {}", p.display());
    p
}

/// Finds a Debian-packaged program (PATH, then /usr/games); fails loudly.
pub fn program(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.push(PathBuf::from("/usr/games"));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: run `bash scripts/setup.sh` (apt-get install {name})"
            )
        })
}

pub fn gnugo_cmd(level: u32) -> String {
    format!(
        "{} --mode gtp --level {level} --chinese-rules --capture-all-dead",
        program("gnugo").display()
    )
}

/// KataGo (binary, net, `gtp.cfg`): `QARENA_KATAGO` or the shared bundle.
pub use qarena_testkit::katago;

/// Python with the independent checkers (sgfmill, python-chess).
pub fn python() -> PathBuf {
    let p = std::env::var_os("QARENA_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python"));
    assert!(
        p.exists(),
        "Python checkers not found at {} — run `bash scripts/setup.sh`",
        p.display()
    );
    p
}

pub struct Ws {
    pub dir: tempfile::TempDir,
}

impl Ws {
    pub fn new() -> Ws {
        Ws {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn db(&self) -> PathBuf {
        self.path().join("qarena.sqlite")
    }
    pub fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> Output {
        Command::new(qarena())
            .args(args)
            .current_dir(self.path())
            .output()
            .expect("running qarena")
    }
    pub fn store(&self) -> qarena_store::Store {
        qarena_store::Store::open(&self.db()).expect("open db")
    }
}

/// Games stored so far for `tag` (0 while the database or run is missing).
pub fn games_in(ws: &Ws, tag: &str) -> usize {
    let Ok(store) = qarena_store::Store::open(&ws.db()) else {
        return 0;
    };
    match store.run_by_tag(tag) {
        Ok(Some(run)) => store.games(run.id).map(|g| g.len()).unwrap_or(0),
        _ => 0,
    }
}

pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Processes whose command line contains `marker` (scans /proc).
pub fn processes_with(marker: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let me = std::process::id();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if pid == me {
                continue;
            }
            if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.contains(marker) {
                    // Zombies have an empty cmdline, so a match is a live process.
                    out.push(pid);
                }
            }
        }
    }
    out
}

/// Replays every SGF in `dir` with sgfmill; returns the number of games.
pub fn sgfmill_replay(dir: &Path) -> usize {
    let script = r#"
import sys, glob
from sgfmill import sgf, boards
n = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.sgf")):
    game = sgf.Sgf_game.from_bytes(open(path, "rb").read())
    size = game.get_size()
    board = boards.Board(size)
    for node in game.get_main_sequence()[1:]:
        colour, move = node.get_move()
        if colour is None:
            continue
        if move is None:
            continue
        row, col = move
        if board.get(row, col) is not None:
            raise SystemExit(f"{path}: occupied point {move}")
        board.play(row, col, colour)
        if board.get(row, col) is None:
            raise SystemExit(f"{path}: suicide at {move}")
    n += 1
print(n)
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(dir)
        .output()
        .expect("running python");
    assert!(
        out.status.success(),
        "sgfmill replay failed: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A folder of links to the shared KataGo bundle (binary, net, analysis
/// config), so the processes a test starts carry the test's own path and
/// can be told apart from every other KataGo on the machine.
pub fn katago_links(ws: &Ws, name: &str) -> PathBuf {
    let (bin, _, _) = katago();
    let shared = bin.parent().unwrap();
    let dir = ws.path().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["katago", "g170-b6c96.bin.gz", "analysis.cfg"] {
        std::os::unix::fs::symlink(shared.join(f), dir.join(f)).unwrap();
    }
    dir
}

/// Waits up to 5 s for every process whose command line contains `marker`
/// to be gone; fails naming `what` and the survivors.
pub fn assert_processes_gone(marker: &str, what: &str) {
    let t0 = std::time::Instant::now();
    loop {
        let left = processes_with(marker);
        if left.is_empty() {
            return;
        }
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(5),
            "{what}: processes left running 5 s later: {left:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Arguments of `qarena match` between two fake engines: `a` and `b` are
/// each engine's own flags (e.g. `--mode random --seed 3`), `rest` the
/// match's flags.
pub fn fake_match_args(a: &str, b: &str, rest: &[&str]) -> Vec<String> {
    match_args_with(&fake_engine(), a, b, rest)
}

/// [`fake_match_args`] with the fake engine at `fake` (e.g. a copy under a
/// name of the test's own).
pub fn match_args_with(fake: &Path, a: &str, b: &str, rest: &[&str]) -> Vec<String> {
    let fake = fake.display();
    let mut args = vec![
        "match".to_string(),
        "--engine-a".to_string(),
        format!("{fake} {a}"),
        "--engine-b".to_string(),
        format!("{fake} {b}"),
    ];
    args.extend(rest.iter().map(|r| r.to_string()));
    args
}

/// The sorted game indices stored for run `tag` (empty while the database
/// or the run is missing), after checking that the database passes
/// SQLite's integrity check and that every stored game has all its moves.
/// Duplicates are kept, so callers can check each index appears once.
pub fn stored_game_indices(ws: &Ws, tag: &str) -> Vec<i64> {
    if !ws.db().exists() {
        return Vec::new();
    }
    let store = ws.store();
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let Some(run) = store.run_by_tag(tag).unwrap() else {
        return Vec::new();
    };
    let games = store.games(run.id).unwrap();
    for g in &games {
        assert_eq!(
            store.game_moves(g.id).unwrap().len() as i64,
            g.move_count,
            "game {} is whole",
            g.game_index
        );
    }
    let mut idx: Vec<i64> = games.iter().map(|g| g.game_index).collect();
    idx.sort_unstable();
    idx
}

/// Stockfish's embedded net, exported into the workspace as `sf.nnue`.
pub fn export_stockfish_net(ws: &Ws) -> PathBuf {
    let net = ws.path().join("sf.nnue");
    let mut child = Command::new(program("stockfish"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("starting stockfish");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stockfish stdin");
        writeln!(stdin, "export_net {}", net.display()).expect("writing to stockfish");
        writeln!(stdin, "quit").expect("writing to stockfish");
    }
    assert!(child.wait().expect("waiting for stockfish").success());
    assert!(net.is_file(), "Stockfish did not export its net");
    net
}

/// Every game of a run: (point, game index) -> (moves, result).
pub type GameMap = std::collections::BTreeMap<(i64, i64), (Vec<String>, Option<String>)>;

/// The games of run `tag` in the database `db`, by their global key.
pub fn games_by_key(db: &Path, tag: &str) -> GameMap {
    let store = qarena_store::Store::open(db).unwrap();
    let run = store
        .run_by_tag(tag)
        .unwrap()
        .unwrap_or_else(|| panic!("no run {tag} in {}", db.display()));
    store
        .games(run.id)
        .unwrap()
        .into_iter()
        .map(|g| {
            let moves = store
                .game_moves(g.id)
                .unwrap()
                .into_iter()
                .map(|m| m.mv)
                .collect();
            ((g.point_index, g.game_index), (moves, g.result))
        })
        .collect()
}
