#!/usr/bin/env bash
# Install PyTorch into the current Python environment, choosing the build for this machine:
#   - a machine with an NVIDIA GPU gets the default (CUDA) build from the package index;
#   - a CPU-only machine gets the CPU build (a few hundred MB instead of several GB of CUDA libraries).
# An existing torch install is kept as it is, so GPU users can bring their own build first.
# Override with TORCH_SPEC, e.g. TORCH_SPEC="torch==2.5.1" scripts/install_torch.sh
set -euo pipefail
PY=${PYTHON:-python}

if "$PY" -c "import torch" 2>/dev/null; then
  echo "torch $("$PY" -c 'import torch; print(torch.__version__)') already installed; keeping it"
  exit 0
fi
if [ -n "${TORCH_SPEC:-}" ]; then
  exec "$PY" -m pip install -q "$TORCH_SPEC"
fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "GPU found: installing the default (CUDA) torch build"
  exec "$PY" -m pip install -q torch
fi
echo "no GPU found: installing the CPU build of torch"
"$PY" -m pip install -q "torch==2.13.0+cpu" 2>/dev/null \
  || "$PY" -m pip install -q "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
  || "$PY" -m pip install -q torch --index-url https://download.pytorch.org/whl/cpu
