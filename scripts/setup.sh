#!/usr/bin/env bash
# Create .venv (unless a virtual environment is already active) and install rmens, JupyterLab
# and the test tools. torch comes first and pinned, as a CPU build wherever no NVIDIA GPU is
# present, so that nothing pulls PyPI's multi-GB CUDA build onto a laptop.
# Another Python and torch, e.g. Colab's (.ci/run tests both):
#   RMENS_PYTHON=python3.13 RMENS_VENV=.venv-py313 RMENS_TORCH=torch==2.11.0 bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH="${RMENS_TORCH:-torch==2.13.0}"
VENV="${RMENS_VENV:-.venv}"
if [ -z "${VIRTUAL_ENV:-}" ]; then
  [ -d "$VENV" ] || "${RMENS_PYTHON:-python3}" -m venv "$VENV"
  # shellcheck disable=SC1091
  . "$VENV/bin/activate"
fi
python -m pip install -q --upgrade pip
if python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '${TORCH#torch==}')" 2>/dev/null; then
  echo "torch ${TORCH#torch==} is installed"
elif [ "$(uname -s)" = Linux ] && ! command -v nvidia-smi >/dev/null; then
  # PyPI's Linux wheels bundle CUDA; PyTorch's CPU index has the same release without it.
  python -m pip install -q "$TORCH" --index-url https://download.pytorch.org/whl/cpu --timeout 20 --retries 1 \
    || { echo "PyTorch's CPU index is out of reach: installing $TORCH from the default index"
         python -m pip install -q "$TORCH"; }
else
  python -m pip install -q "$TORCH"  # macOS and Windows wheels carry no CUDA; with a GPU, CUDA is wanted
fi
python -m pip install -q -r requirements.txt -r requirements-dev.txt "$TORCH"
python -m pip install -q --no-deps -r requirements-offline.txt
python -m pip install -q --no-deps -e .
python -c "import torch, transformers, trl; print('torch', torch.__version__, '| transformers', transformers.__version__, '| trl', trl.__version__)"
