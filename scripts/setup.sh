#!/usr/bin/env bash
# Installs what qarena needs on a Debian machine (idempotent) and builds it.
#   Debian packages: gnugo, stockfish, sqlite3, libzip4 (for the shared KataGo binary),
#   fonts-dejavu-core (text in the report's plots), slurmctld slurmd
#   slurm-client munge (the Slurm test's throwaway cluster, scripts/slurm-local.sh)
#   Python packages (into .venv): the independent checkers used by the tests
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

if [ "${1:-}" != "--no-build" ]; then
  echo "setup: building qarena (release)"
  cargo build --release --quiet --workspace --bins
fi
echo "setup: done"
