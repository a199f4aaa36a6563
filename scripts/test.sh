#!/usr/bin/env bash
# Install everything, then run the unit tests and every notebook on the smoke profile.
# With arguments, one pytest run of those instead: bash scripts/test.sh tests/test_gold.py
# On another Python and torch: the variables of scripts/setup.sh (.ci/run tests Colab's too).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -n "${VIRTUAL_ENV:-}" ] || . "${RMENS_VENV:-.venv}/bin/activate"
export RMENS_PROFILE=smoke
# Two processes of one thread each (on 2 cores they get through more than one process of two
# threads): the unit tests in the background, the notebooks in order in the foreground, each
# notebook building only what the ones before it have not.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
pytest=(python -m pytest --nbmake --nbmake-timeout=1200 -q -p no:cacheprovider)
if [ $# -gt 0 ]; then exec "${pytest[@]}" "$@"; fi
unit_log="$(mktemp)"
"${pytest[@]}" tests > "$unit_log" 2>&1 &
unit=$!
notebooks_status=0
"${pytest[@]}" notebooks || notebooks_status=$?
unit_status=0
wait "$unit" || unit_status=$?
echo "--- the unit tests:"
cat "$unit_log"
rm -f "$unit_log"
[ "$notebooks_status" -eq 0 ] && [ "$unit_status" -eq 0 ]
