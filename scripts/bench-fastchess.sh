#!/usr/bin/env bash
# Chess throughput of qarena against the reference: fastchess.
#
# Both harnesses play the same match on the same machine: Stockfish against
# itself, fixed nodes per move, Threads=1, Hash=16, the same EPD suite in
# order, each opening played twice with colours swapped, no adjudication.
# For each harness it prints games per minute (wall clock) and the CPU time
# of the harness process itself (all its threads, engines excluded) per move.
#
# Usage:
#   FASTCHESS=/path/to/fastchess bash scripts/bench-fastchess.sh [GAMES]
#
# Environment:
#   FASTCHESS    fastchess binary (required; this script never downloads it)
#   GAMES        number of games, even (default 200; the first argument wins)
#   CONCURRENCY  games in parallel (default 2)
#   NODES        nodes per move (default 1000)
#   STOCKFISH    engine binary (default: `stockfish` on PATH or in /usr/games)
#   QARENA       qarena binary (default: target/release/qarena of this repo)
#   OPENINGS     EPD file (default: openings/default.epd of this repo)
#   PYTHON       python3 interpreter used for measuring (default: python3)
#   HANG_TIMEOUT seconds after which a harness run counts as hung and is
#                stopped (default: 20 per game + 120)
#   KEEP_DIR     keep the databases, PGN and logs in this directory instead
#                of a temporary one that is removed at the end
#
# Harness CPU is measured soundly: the harness runs as a child of a small
# Python wrapper which, when the harness exits, waits for it with WNOWAIT (so
# it stays an unreaped zombie), reads utime+stime from /proc/PID/stat (the
# process's own time over all its threads; engine time is in the separate
# children fields), and only then reaps it.
set -euo pipefail

die() {
  echo "bench-fastchess: $*" >&2
  exit 2
}

repo="$(cd "$(dirname "$0")/.." && pwd)"

if [[ -z "${FASTCHESS:-}" ]]; then
  die "FASTCHESS is not set; point it at a fastchess binary, e.g. FASTCHESS=/path/to/fastchess bash $0"
fi
if [[ ! -f "$FASTCHESS" || ! -x "$FASTCHESS" ]]; then
  die "FASTCHESS='$FASTCHESS' is not an executable file"
fi
FASTCHESS="$(cd "$(dirname "$FASTCHESS")" && pwd)/$(basename "$FASTCHESS")"

GAMES="${1:-${GAMES:-200}}"
CONCURRENCY="${CONCURRENCY:-2}"
NODES="${NODES:-1000}"
PYTHON="${PYTHON:-python3}"
QARENA="${QARENA:-$repo/target/release/qarena}"
OPENINGS="${OPENINGS:-$repo/openings/default.epd}"

[[ "$GAMES" =~ ^[0-9]+$ && "$GAMES" -ge 2 && $((GAMES % 2)) -eq 0 ]] ||
  die "GAMES must be an even number >= 2 (got '$GAMES')"
HANG_TIMEOUT="${HANG_TIMEOUT:-$((GAMES * 20 + 120))}"
[[ "$HANG_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "HANG_TIMEOUT must be a positive integer (got '$HANG_TIMEOUT')"
command -v timeout >/dev/null 2>&1 || die "'timeout' (coreutils) not found"
[[ "$CONCURRENCY" =~ ^[1-9][0-9]*$ ]] || die "CONCURRENCY must be a positive integer (got '$CONCURRENCY')"
[[ "$NODES" =~ ^[1-9][0-9]*$ ]] || die "NODES must be a positive integer (got '$NODES')"
[[ -x "$QARENA" ]] ||
  die "qarena binary '$QARENA' not found; build it with: cargo build --release -p qarena (or set QARENA)"
[[ -f "$OPENINGS" ]] || die "openings file '$OPENINGS' not found (set OPENINGS)"
command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found (set PYTHON)"
if [[ -z "${STOCKFISH:-}" ]]; then
  STOCKFISH="$(PATH="$PATH:/usr/games" command -v stockfish || true)"
  [[ -n "$STOCKFISH" ]] || die "stockfish not found on PATH or in /usr/games (set STOCKFISH)"
fi
[[ -x "$STOCKFISH" ]] || die "STOCKFISH='$STOCKFISH' is not executable"
OPENINGS="$(cd "$(dirname "$OPENINGS")" && pwd)/$(basename "$OPENINGS")"

if [[ -n "${KEEP_DIR:-}" ]]; then
  mkdir -p "$KEEP_DIR"
  work="$(cd "$KEEP_DIR" && pwd)"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/bench-fastchess.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
fi

# The measuring wrapper: measure.py OUT.json CMD ARGS...
cat >"$work/measure.py" <<'PY'
import json, os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
t0 = time.monotonic()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
wall = time.monotonic() - t0
with open(f"/proc/{pid}/stat") as f:
    stat = f.read()
fields = stat[stat.rindex(")") + 2:].split()
tck = os.sysconf("SC_CLK_TCK")
utime, stime = int(fields[11]) / tck, int(fields[12]) / tck
_, status = os.waitpid(pid, 0)
rc = os.waitstatus_to_exitcode(status)
with open(out, "w") as f:
    json.dump({"wall_s": wall, "cpu_s": utime + stime, "utime_s": utime, "stime_s": stime, "rc": rc}, f)
sys.exit(rc)
PY

echo "bench-fastchess: $GAMES games, concurrency $CONCURRENCY, nodes $NODES, Threads=1 Hash=16"
echo "  stockfish: $STOCKFISH"
echo "  openings:  $OPENINGS"
echo "  work dir:  $work"

# --- fastchess -------------------------------------------------------------
mkdir -p "$work/fastchess"
# fastchess reads every line of an EPD file as a position; a `#` comment
# line is an invalid FEN that stops its tournament, so give it the same
# positions without comments or blank lines.
tr -d '\r' <"$OPENINGS" | grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' >"$work/fastchess/openings.epd" ||
  die "no positions in '$OPENINGS'"
echo "running fastchess ..."
(
  cd "$work/fastchess"
  timeout --kill-after=30 "$HANG_TIMEOUT" \
    "$PYTHON" "$work/measure.py" "$work/fastchess.json" "$FASTCHESS" \
    -engine cmd="$STOCKFISH" name=sf-a \
    -engine cmd="$STOCKFISH" name=sf-b \
    -each proto=uci tc=inf nodes="$NODES" option.Threads=1 option.Hash=16 \
    -openings file="$work/fastchess/openings.epd" format=epd order=sequential \
    -repeat -rounds $((GAMES / 2)) -concurrency "$CONCURRENCY" \
    -pgnout file="$work/fastchess/games.pgn" \
    >"$work/fastchess/out.log" 2>&1
) || {
  tail -n 20 "$work/fastchess/out.log" >&2
  die "fastchess failed or ran longer than ${HANG_TIMEOUT}s (log: $work/fastchess/out.log)"
}

# --- qarena ----------------------------------------------------------------
mkdir -p "$work/qarena"
echo "running qarena ..."
timeout --kill-after=30 "$HANG_TIMEOUT" \
  "$PYTHON" "$work/measure.py" "$work/qarena.json" "$QARENA" match --protocol uci \
  --engine-a "$STOCKFISH" --engine-b "$STOCKFISH" --name-a sf-a --name-b sf-b \
  --nodes "$NODES" --node-jitter 0 --uci-option Threads=1 --uci-option Hash=16 \
  --openings "$OPENINGS" --games "$GAMES" -j "$CONCURRENCY" --run-tag bench-qarena \
  --db "$work/qarena/q.sqlite" --runs-dir "$work/qarena/runs" \
  >"$work/qarena/out.log" 2>&1 || {
  tail -n 20 "$work/qarena/out.log" >&2
  die "qarena failed or ran longer than ${HANG_TIMEOUT}s (log: $work/qarena/out.log)"
}

# --- report ----------------------------------------------------------------
"$PYTHON" - "$work" "$GAMES" <<'PY'
import json, re, sqlite3, sys
work, games = sys.argv[1], int(sys.argv[2])

def load(name):
    with open(f"{work}/{name}.json") as f:
        return json.load(f)

fc, qa = load("fastchess"), load("qarena")

with open(f"{work}/fastchess/games.pgn", encoding="utf-8", errors="replace") as f:
    pgn = f.read()
fc_games = len(re.findall(r'^\[Result "', pgn, re.M))
fc_plies = sum(int(n) for n in re.findall(r'^\[PlyCount "(\d+)"\]', pgn, re.M))

db = sqlite3.connect(f"file:{work}/qarena/q.sqlite?mode=ro", uri=True)
qa_games, qa_plies = db.execute(
    "SELECT count(*), coalesce(sum(g.move_count), 0) FROM games g JOIN runs r ON r.id = g.run_id "
    "WHERE r.tag = 'bench-qarena'").fetchone()
qa_moves_rows = db.execute(
    "SELECT count(*) FROM moves m JOIN games g ON g.id = m.game_id JOIN runs r ON r.id = g.run_id "
    "WHERE r.tag = 'bench-qarena'").fetchone()[0]

problems = []
for name, n in (("fastchess", fc_games), ("qarena", qa_games)):
    if n != games:
        problems.append(f"{name} stored {n} games, expected {games}")
if fc_plies == 0 or qa_plies == 0:
    problems.append(f"no moves counted (fastchess {fc_plies}, qarena {qa_plies})")

def row(name, m, g, plies):
    gpm = g / m["wall_s"] * 60
    ms_per_move = m["cpu_s"] * 1000 / plies if plies else float("nan")
    print(f"{name:<22} {g:>6} {plies:>7} {m['wall_s']:>8.1f} {gpm:>9.1f} "
          f"{m['cpu_s']:>10.2f} {ms_per_move:>11.3f}")
    return gpm, ms_per_move

print()
print(f"{'harness':<22} {'games':>6} {'moves':>7} {'wall s':>8} {'games/min':>9} "
      f"{'harness cpu s':>10} {'cpu ms/move':>11}")
fc_gpm, fc_ms = row("reference: fastchess", fc, fc_games, fc_plies)
qa_gpm, qa_ms = row("qarena", qa, qa_games, qa_plies)
print()
print(f"throughput ratio qarena/fastchess: {qa_gpm / fc_gpm:.3f}  (>= 1.0: qarena at least as fast)")
print(f"harness CPU per move ratio qarena/fastchess: {qa_ms / fc_ms:.2f}")
print(f"(moves: fastchess from PGN PlyCount, qarena from games.move_count; "
      f"qarena moves table rows: {qa_moves_rows})")
if problems:
    print("PROBLEMS: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
PY
