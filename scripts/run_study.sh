#!/usr/bin/env bash
# The PPO study of notebook 06 (every reward × regime × seed, rmens_utils/study.py), resumable:
# run it again after any interruption. Each finished run lands in results/<profile>/ppo/. The
# study whose runs are committed is the pilot's (results/pilot, docs/reproducing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${VIRTUAL_ENV:-}" ] || . .venv/bin/activate
export RMENS_PROFILE="${RMENS_PROFILE:-pilot}"
if { [ "$RMENS_PROFILE" = cpu ] || [ "$RMENS_PROFILE" = pilot ]; } && [ "$(uname -m)" = x86_64 ]; then
  # The cpu runs in results/ were made in float32 on an AVX2-only CPU: the same kernels on any
  # x86 CPU (docs/reproducing.md says what an AVX-512 CPU's own kernels built instead).
  export RMENS_PRECISION="${RMENS_PRECISION:-fp32}" ATEN_CPU_CAPABILITY="${ATEN_CPU_CAPABILITY:-avx2}"
  export MKL_CBWR="${MKL_CBWR:-AVX2}"
fi
python -m rmens_utils.study "$@"
