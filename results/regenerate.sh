#!/usr/bin/env bash
# Regenerates the shipped studies in results/ with qarena commands only:
#   (a) the KataGo 9x9 INT4 study: a sweep refined at the cliff with a GNU Go
#       anchor, every game judged by KataGo, the report and the four
#       notebooks executed into HTML;
#   (b) the NNUE demo ladder at 200 games per point with Stockfish UCI_Elo
#       anchors, its cost table and report.
# Usage (from a fresh clone with ../shared beside it):
#   bash results/regenerate.sh
# The database, run folders and variants go to results/.work (ignored by
# git; QARENA_RESULTS_WORK moves it). Running it again finishes what an
# interrupted run left and rewrites the reports.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
work=${QARENA_RESULTS_WORK:-$here/.work}
katago_bin=${QARENA_KATAGO:-$repo/../shared/katago/katago}
katago_dir=$(cd "$(dirname "$katago_bin")" && pwd)
start=$(date +%s)

bash "$repo/scripts/setup.sh"
"$repo/.venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
q="$repo/target/release/qarena"
mkdir -p "$work"
cd "$work"   # the database and run folders are named relative to it
exists() { "$q" runs show "$1" >/dev/null 2>&1; }
# Committed files name no machine paths: the repository, the KataGo folder
# and the work folder become relative names.
scrub() {
  sed -i -e "s#$repo/target/release/##g" -e "s#$katago_dir#../shared/katago#g" \
         -e "s#$work/##g" -e "s#$repo/##g" "$@"
}
step() { echo "== $1 ($(( ($(date +%s) - start) / 60 )) min so far)"; }

# (a) KataGo 9x9 INT4 study.
step "KataGo study: sweep"
k=katago-int4-study
out="$here/katago-9x9-int4"
if exists "$k"; then
  "$q" sweep --resume "$k" | tee "$out/table.txt"
else
  "$q" sweep "$out/sweep.toml" --refine --run-tag "$k" | tee "$out/table.txt"
fi
step "KataGo study: judge"
"$q" judge --run "$k" --katago-dir "$katago_dir" --visits 16 | tee "$out/judge.txt"
"$q" ratings --run "$k" > "$out/ratings.txt"
step "KataGo study: report and notebooks"
rm -rf "$out/report" "$out/notebooks"
"$q" report --run "$k" -o "$out/report" --html
mkdir -p "$out/notebooks"
for nb in "$repo"/notebooks/*.ipynb; do
  QARENA_DB=qarena.sqlite QARENA_RUN="$k" "$repo/.venv/bin/jupyter" nbconvert \
    --to html --execute --output-dir "$out/notebooks" "$nb"
done
scrub "$out"/*.txt "$out"/report/report.md "$out"/report/report.html "$out"/notebooks/*.html

# (b) The NNUE demo ladder on Stockfish's UCI_Elo scale.
step "NNUE demo ladder"
n=nnue-demo-anchored
out="$here/nnue-demo"
if exists "$n"; then
  "$q" sweep --resume "$n" | tee "$out/table.txt"
else
  "$q" demo --games 200 --anchors 1500,2000,2500 --anchor-games 50 --run-tag "$n" \
    | tee "$out/table.txt"
fi
"$q" ratings --run "$n" > "$out/ratings.txt"
rm -rf "$out/report"
"$q" report --run "$n" -o "$out/report" --html
scrub "$out"/*.txt "$out"/report/report.md "$out"/report/report.html

echo "results regenerated in $(( ($(date +%s) - start) / 60 )) min"
