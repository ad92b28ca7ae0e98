#!/usr/bin/env bash
# Sets up (idempotently) and runs the whole test suite against real engines.
# KataGo comes from ../shared/katago unless QARENA_KATAGO points elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export QARENA_KATAGO="${QARENA_KATAGO:-$(cd .. && pwd)/shared/katago/katago}"
export QARENA_PYTHON="${QARENA_PYTHON:-$(pwd)/.venv/bin/python}"
# A fresh CI clone builds once: incremental caches would only cost disk.
if [ "${CI:-}" = "true" ]; then export CARGO_INCREMENTAL=0; fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
# A short soak: 100 games of every fault mode against real engines, with
# hard limits on growth of descriptors, threads, memory and zombies.
bash scripts/soak.sh 100 --check
echo "test: all green"
