#!/usr/bin/env bash
# Soak benchmark: plays N games (default 200) with fault-injecting engines
# against real ones and watches the qarena process for leaks.
#
#   half the games: Go, the fake engine in `chaos` mode (every fault mode at
#                   random) against GNU Go, 7x7;
#   half the games: chess, the fake engine in `chaos` mode against Stockfish
#                   at 200 nodes per move.
#
# Every few seconds it prints the qarena process's open file descriptors,
# threads, resident memory, live children, zombie children, and the bytes of
# the run's transcripts; at the end the first, last and peak of each.
# With --check it fails (exit 1) on growth beyond the limits below.
#
# Usage: bash scripts/soak.sh [N] [--check] [--fault-rate P]
set -euo pipefail
cd "$(dirname "$0")/.."

games=200
check=0
rate=5
while (($#)); do
  case "$1" in
    --check) check=1 ;;
    --fault-rate) rate="$2"; shift ;;
    -h | --help) sed -n 2,16p "$0"; exit 0 ;;
    *) games="$1" ;;
  esac
  shift
done

cargo build --release --quiet -p qarena -p qarena-fake-engine
root="$(pwd)"
qarena="$root/target/release/qarena"
fake="$root/target/release/qarena-fake-engine"
find_prog() { command -v "$1" || { [ -x "/usr/games/$1" ] && echo "/usr/games/$1"; } || { echo "soak: $1 is not installed (bash scripts/setup.sh)" >&2; exit 2; }; }
gnugo="$(find_prog gnugo)"
stockfish="$(find_prog stockfish)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"

# Limits for --check: growth from the first sample to the last, and peaks.
max_fd_growth=8
max_thread_growth=8
max_rss_kib=$((300 * 1024))
max_zombies=4

sample() { # pid tag -> "fds threads rss_kib children zombies transcript_bytes"
  local pid="$1" tag="$2" fds threads rss kids=0 zombies=0 bytes
  fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l) || return 1
  threads=$(awk '/^Threads:/{print $2}' "/proc/$pid/status" 2>/dev/null) || return 1
  rss=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null) || return 1
  [ -n "$threads" ] || return 1
  for stat in /proc/[0-9]*/stat; do
    # Fields after the command (which may hold spaces): state is 3rd, ppid 4th.
    { read -r rest <"$stat"; } 2>/dev/null || continue
    rest="${rest##*) }"
    set -- $rest
    if [ "$2" = "$pid" ]; then
      if [ "$1" = Z ]; then zombies=$((zombies + 1)); else kids=$((kids + 1)); fi
    fi
  done
  bytes=$(du -sb "runs/$tag/logs" 2>/dev/null | cut -f1)
  echo "$fds $threads $rss $kids $zombies ${bytes:-0}"
}

stored() {
  sqlite3 qarena.sqlite "select count(*) from games g join runs r on r.id = g.run_id where r.tag = '$1'" 2>/dev/null || echo 0
}

fail=0
phase() { # tag games args...
  local tag="$1" n="$2"
  shift 2
  echo "soak: $tag: $n games"
  "$qarena" match --run-tag "$tag" --games "$n" -j 2 --timeout-move 1 --timeout-command 2 \
    --restarts 1000000 "$@" >"$tag.out" 2>"$tag.err" &
  local pid=$! first="" last="" peak="0 0 0 0 0 0" s t0=$SECONDS
  printf '  %6s %5s %7s %9s %5s %6s %12s\n' secs fds threads rss_kib kids zombie transcript_B
  while kill -0 "$pid" 2>/dev/null; do
    if s=$(sample "$pid" "$tag"); then
      # The baseline is the first sample once games are being played (the
      # engines, their reader threads and pipes exist by then).
      if [ -z "$first" ] && [ "$(stored "$tag")" -ge 2 ]; then first="$s"; fi
      last="$s"
      peak=$(paste -d' ' <(tr ' ' '\n' <<<"$peak") <(tr ' ' '\n' <<<"$s") | awk '{print ($1>$2)?$1:$2}' | paste -sd' ')
      # shellcheck disable=SC2086
      printf '  %6d %5s %7s %9s %5s %6s %12s\n' $((SECONDS - t0)) $s
    fi
    sleep 1
  done
  local rc=0
  wait "$pid" || rc=$?
  [ -n "$first" ] || first="$last"
  local played
  played=$(stored "$tag")
  echo "  exit $rc, $played games stored, $(grep -c . "$tag.err" || true) lines on stderr"
  echo "  first: $first"
  echo "  last:  $last"
  echo "  peak:  $peak"
  if ((check)); then
    read -r f_fd f_th _ <<<"$first"
    read -r l_fd l_th _ <<<"$last"
    read -r _ _ p_rss _ p_z _ <<<"$peak"
    ((rc == 0)) || { echo "  FAIL: qarena exited $rc"; tail -5 "$tag.err"; fail=1; }
    ((played == n)) || { echo "  FAIL: $played of $n games stored"; fail=1; }
    ((l_fd - f_fd <= max_fd_growth)) || { echo "  FAIL: descriptors grew from $f_fd to $l_fd"; fail=1; }
    ((l_th - f_th <= max_thread_growth)) || { echo "  FAIL: threads grew from $f_th to $l_th"; fail=1; }
    ((p_rss <= max_rss_kib)) || { echo "  FAIL: peak RSS $p_rss KiB"; fail=1; }
    ((p_z <= max_zombies)) || { echo "  FAIL: $p_z zombie children at once"; fail=1; }
  fi
}

half=$((games / 2))
half=$((half - half % 2))
phase soak-go "$half" --protocol gtp --board-size 7 \
  --engine-a "$fake --mode chaos --fault-rate $rate --delay-ms 300" \
  --engine-b "$gnugo --mode gtp --level 0 --chinese-rules"
phase soak-chess "$((games - half))" --protocol uci --nodes 200 \
  --engine-a "$fake --protocol uci --mode chaos --fault-rate $rate --delay-ms 300" \
  --engine-b "$stockfish"
left=""
for c in /proc/[0-9]*/cmdline; do
  if tr '\0' ' ' <"$c" 2>/dev/null | grep -qF "$fake"; then left="$left ${c//[^0-9]/}"; fi
done
if [ -n "$left" ]; then
  echo "soak: FAIL: fake engine processes left: $left"
  fail=1
fi
if ((check)); then
  ((fail == 0)) && echo "soak: within limits" || { echo "soak: limits exceeded"; exit 1; }
fi
