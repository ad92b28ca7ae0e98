#!/usr/bin/env bash
# Go throughput of qarena: a GNU Go against GNU Go match on 9x9, played at
# concurrency 1 (the reference) and at concurrency 2. Prints games per minute
# for both (from qarena's own summary) and the ratio j2/j1, and checks that
# every game was stored.
#
# Usage:
#   bash scripts/bench-go.sh [GAMES]
#
# Environment:
#   GAMES         number of games per run (default 100; the first argument wins)
#   GNUGO         GNU Go binary (default: `gnugo` on PATH or in /usr/games)
#   GNUGO_ARGS    its arguments (default: --mode gtp --level 1 --chinese-rules
#                 --capture-all-dead)
#   QARENA        qarena binary (default: target/release/qarena of this repo)
#   PYTHON        python3 interpreter used to read the results (default: python3)
#   HANG_TIMEOUT  seconds after which a run counts as hung and is stopped
#                 (default: 20 per game + 120)
#   KEEP_DIR      keep the database and run folders in this directory instead
#                 of a temporary one that is removed at the end
set -euo pipefail

die() {
  echo "bench-go: $*" >&2
  exit 2
}

repo="$(cd "$(dirname "$0")/.." && pwd)"

GAMES="${1:-${GAMES:-100}}"
GNUGO_ARGS="${GNUGO_ARGS:---mode gtp --level 1 --chinese-rules --capture-all-dead}"
QARENA="${QARENA:-$repo/target/release/qarena}"
PYTHON="${PYTHON:-python3}"

[[ "$GAMES" =~ ^[1-9][0-9]*$ ]] || die "GAMES must be a positive integer (got '$GAMES')"
HANG_TIMEOUT="${HANG_TIMEOUT:-$((GAMES * 20 + 120))}"
[[ "$HANG_TIMEOUT" =~ ^[1-9][0-9]*$ ]] || die "HANG_TIMEOUT must be a positive integer (got '$HANG_TIMEOUT')"
[[ -x "$QARENA" ]] ||
  die "qarena binary '$QARENA' not found; build it with: cargo build --release -p qarena (or set QARENA)"
command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found (set PYTHON)"
command -v timeout >/dev/null 2>&1 || die "'timeout' (coreutils) not found"
if [[ -z "${GNUGO:-}" ]]; then
  GNUGO="$(PATH="$PATH:/usr/games" command -v gnugo || true)"
  [[ -n "$GNUGO" ]] || die "gnugo not found on PATH or in /usr/games (set GNUGO)"
fi
[[ -x "$GNUGO" ]] || die "GNUGO='$GNUGO' is not executable"

if [[ -n "${KEEP_DIR:-}" ]]; then
  mkdir -p "$KEEP_DIR"
  work="$(cd "$KEEP_DIR" && pwd)"
else
  work="$(mktemp -d "${TMPDIR:-/tmp}/bench-go.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
fi

engine="$GNUGO $GNUGO_ARGS"
stamp="$(date +%Y%m%d%H%M%S)-$$"
echo "bench-go: $GAMES games per run, engine: $engine"
echo "  work dir: $work"

for j in 1 2; do
  tag="bench-go-j$j-$stamp"
  echo "running -j $j ..."
  rc=0
  timeout --kill-after=30 "$HANG_TIMEOUT" "$QARENA" match \
    --engine-a "$engine" --engine-b "$engine" --name-a gnugo-a --name-b gnugo-b \
    --games "$GAMES" -j "$j" --run-tag "$tag" \
    --db "$work/go.sqlite" --runs-dir "$work/runs" --json \
    >"$work/j$j.json" 2>"$work/j$j.log" || rc=$?
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    die "the -j $j run did not finish within ${HANG_TIMEOUT}s (hang?); log: $work/j$j.log"
  elif [[ $rc -ne 0 ]]; then
    tail -n 20 "$work/j$j.log" >&2
    die "qarena exited with code $rc in the -j $j run (log: $work/j$j.log)"
  fi
  echo "$tag" >"$work/j$j.tag"
done

"$PYTHON" - "$work" "$GAMES" <<'PY'
import json, sqlite3, sys
work, games = sys.argv[1], int(sys.argv[2])
db = sqlite3.connect(f"file:{work}/go.sqlite?mode=ro", uri=True)
problems, gpm = [], {}
print()
print(f"{'run':<18} {'games':>6} {'stored':>6} {'wall s':>8} {'games/min':>9}  status")
for j in (1, 2):
    with open(f"{work}/j{j}.json") as f:
        s = json.load(f)
    with open(f"{work}/j{j}.tag") as f:
        tag = f.read().strip()
    stored = db.execute(
        "SELECT count(DISTINCT g.game_index) FROM games g JOIN runs r ON r.id = g.run_id "
        "WHERE r.tag = ? AND g.termination <> 'aborted'", (tag,)).fetchone()[0]
    name = "reference: -j 1" if j == 1 else "-j 2"
    gpm[j] = s["games_per_minute"]
    print(f"{name:<18} {s['games']:>6} {stored:>6} {s['elapsed_s']:>8.1f} {gpm[j]:>9.1f}  {s['status']}")
    if s["games"] != games or stored != games or s["status"] != "completed":
        problems.append(f"-j {j}: summary {s['games']} games, {stored} stored, status {s['status']}, expected {games} completed")
print()
print(f"throughput ratio j2/j1: {gpm[2] / gpm[1]:.3f}")
if problems:
    print("PROBLEMS: " + "; ".join(problems), file=sys.stderr)
    sys.exit(1)
PY
