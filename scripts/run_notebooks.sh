#!/usr/bin/env bash
# Install everything, then execute the notebook series in order, in place, on the
# cpu profile (override with RMENS_PROFILE=...). Finished stages are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
export RMENS_PROFILE="${RMENS_PROFILE:-cpu}"
# Progress bars in committed notebooks: one update every 20 s, not every 0.1 s.
export TQDM_MININTERVAL="${TQDM_MININTERVAL:-20}"
for nb in notebooks/[0-9][0-9]_*.ipynb; do
  echo "== $nb (profile $RMENS_PROFILE)"
  start=$(date +%s)
  jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 "$nb"
  echo "   done in $(( $(date +%s) - start )) s"
done
