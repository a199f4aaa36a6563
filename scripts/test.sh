#!/usr/bin/env bash
# Install everything, then run the unit tests and every notebook on the smoke profile.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
export RMENS_PROFILE=smoke
# Two workers of one thread each: the notebooks in order on one, the unit tests on the other
# (on 2 cores, two one-thread processes get through more than one process of two threads).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m pytest tests notebooks --nbmake --nbmake-timeout=1200 -q -p no:cacheprovider \
  -n 2 --dist loadgroup "$@"
