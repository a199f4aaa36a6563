#!/usr/bin/env bash
# The PPO study of notebook 06 (every reward × regime × seed, rmens_utils/study.py), resumable:
# run it again after any interruption. Each finished run lands in results/<profile>/ppo/.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
export RMENS_PROFILE="${RMENS_PROFILE:-cpu}"
python -m rmens_utils.study "$@"
