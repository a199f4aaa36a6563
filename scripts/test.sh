#!/usr/bin/env bash
# Install everything, then run the unit tests and every notebook on the smoke profile.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
export RMENS_PROFILE=smoke
python -m pytest tests notebooks --nbmake --nbmake-timeout=1200 -q -p no:cacheprovider "$@"
