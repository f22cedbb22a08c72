#!/usr/bin/env bash
# compare.sh: revserve side by side with PyTorch and ONNX Runtime (bench/compare.py), in a venv
# under .build-bench that this script creates on first use (PyTorch from PyPI is ~5 GB with its
# CUDA libraries). Usage: bench/compare.sh [compare.py options], e.g. --sections infer --rounds 1
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.build-bench/venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import torch, onnxruntime, h5py, fastapi, uvicorn, PIL' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r bench/anchors/requirements.txt
fi
command -v curl >/dev/null || { echo "compare.sh needs curl (apt-get install curl)" >&2; exit 1; }
exec "$venv/bin/python" bench/compare.py "$@"
