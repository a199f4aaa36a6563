#!/usr/bin/env bash
# The PPO study of notebook 06 (every reward × regime × seed, rmens_utils/study.py), resumable:
# run it again after any interruption. Each finished run lands in results/<profile>/ppo/. The
# study whose runs are committed is the pilot's (results/pilot, docs/reproducing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
export RMENS_PROFILE="${RMENS_PROFILE:-pilot}"
. scripts/committed_kernels.sh  # float32, AVX2 kernels: as the committed runs were made
python -m rmens_utils.study "$@"
