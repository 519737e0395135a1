#!/usr/bin/env bash
# The transformers engine on a GPU, checked with a small random model built on the spot (no download):
# every protocol feature the stages use, and greedy outputs equal on CPU and GPU. See scripts/gpu_check.py.
# Usage: bash scripts/gpu_check.sh [--device cuda|cuda:N|cpu] [--dtype float32|float16|bfloat16]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=${PYTHON:-python3}
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi -L 2>/dev/null || true
fi
exec "$PY" scripts/gpu_check.py "$@"
