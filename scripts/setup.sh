#!/usr/bin/env bash
# Create .venv beside this repository and install tunegen with its test tools. Safe to run again.
# TORCH_SPEC picks the PyTorch build (default torch==2.13.0, the CPU build on our machines).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first and pinned: left to the resolver, a bare "torch" can pull a multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "${TORCH_SPEC:-torch==2.13.0}"
.venv/bin/python -m pip install --quiet --editable ".[dev]"
echo "tunegen installed in $(pwd)/.venv (activate with: source .venv/bin/activate)"
