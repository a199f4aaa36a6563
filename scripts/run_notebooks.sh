#!/usr/bin/env bash
# Install everything, then execute the notebook series in order (or the notebooks named:
# bash scripts/run_notebooks.sh notebooks/03_*.ipynb), in place, on the cpu profile (override
# with RMENS_PROFILE=...), with the kernels the committed runs were made with. Finished stages
# are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
export RMENS_PROFILE="${RMENS_PROFILE:-cpu}"
. scripts/committed_kernels.sh
# Progress bars while a notebook runs: one update every 20 s, not every 0.1 s (the tidy step
# then keeps each bar's last state only).
export TQDM_MININTERVAL="${TQDM_MININTERVAL:-20}"
[ $# -gt 0 ] || set -- notebooks/[0-9][0-9]_*.ipynb
for nb in "$@"; do
  echo "== $nb (profile $RMENS_PROFILE)"
  start=$(date +%s)
  jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 "$nb"
  python scripts/tidy_notebooks.py "$nb"  # solutions' outputs out, progress bars' last states
  echo "   done in $(( $(date +%s) - start )) s"
done
