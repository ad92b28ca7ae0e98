#!/usr/bin/env bash
# Wall time of one sweep played unsharded (-j CPUS) against the same sweep
# as an N-shard Slurm job array with its merge job (scheduler overhead
# included), on a throwaway single-node cluster (scripts/slurm-local.sh;
# root, the Slurm packages from scripts/setup.sh).
#   bash scripts/bench-shards.sh [SHARDS] [GAMES_PER_POINT]
# Prints both times and their ratio (sharded / unsharded).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
shards=${1:-4}
games=${2:-60}
q="$repo/target/release/qarena"
[ -x "$q" ] || { echo "build first: cargo build --release" >&2; exit 2; }
sf=$(command -v stockfish || echo /usr/games/stockfish)
work=$(mktemp -d)
chmod 755 "$work"   # the munge user must reach the cluster's socket
trap 'bash "$repo/scripts/slurm-local.sh" stop "$work/cluster"; rm -rf "$work"' EXIT
bash "$repo/scripts/slurm-local.sh" start "$work/cluster"
export SLURM_CONF="$work/cluster/slurm.conf"
cd "$work"
printf 'export_net %s\nquit\n' "$work/sf.nnue" | "$sf" >/dev/null
cat > s.toml <<TOML
name = "bench"
model = "$work/sf.nnue"
baseline = "original"
games = $games
[engine]
command = "$sf"
protocol = "uci"
model_option = "EvalFile"
options = { Threads = "1", Hash = "16" }
[chess]
limit = { nodes = 1000 }
node_jitter = 0.1
[generator]
levels = [31, 7]
[[generator.targets]]
name = "ft"
roles = ["feature_transformer"]
TOML
cpus=$(nproc)
# Variants are built once, outside both timings.
"$q" sweep s.toml --games 2 --run-tag warm --db warm.sqlite --runs-dir warm-runs --cache variants >/dev/null
t0=$(date +%s.%N)
"$q" sweep s.toml -j "$cpus" --run-tag bench --db plain.sqlite --runs-dir plain-runs --cache variants >/dev/null 2>&1
t1=$(date +%s.%N)
# The tasks share one variant cache: the one already built.
mkdir -p sharded && cp -r variants sharded/variants
"$q" slurm sweep s.toml --shards "$shards" --dir sharded --cpus-per-task 1 --submit >/dev/null
until [ -z "$(squeue -h)" ]; do sleep 0.2; done
t2=$(date +%s.%N)
[ -f sharded/merged.sqlite ] || { echo "the merge did not run; see $work/sharded/logs" >&2; exit 1; }
awk -v a="$t0" -v b="$t1" -v c="$t2" -v n="$shards" -v j="$cpus" 'BEGIN {
  printf "unsharded sweep (-j %d):               %.1f s\n", j, b - a
  printf "%d-shard Slurm array + merge job:      %.1f s (submission to merge done)\n", n, c - b
  printf "ratio sharded / unsharded:            %.3f\n", (c - b) / (b - a)
}'
