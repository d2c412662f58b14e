#!/usr/bin/env bash
# Makes ./.venv-torch with PyTorch (CPU) and NumPy, for scripts/make_whitening_fixtures.py and
# scripts/bench_whitening_torch.py; skips everything when the venv already imports torch. Not part of
# the test command (the fixtures it regenerates are committed).
# Verified here 2026-11-30: torch 2.13.0+cpu from /opt/wheels, numpy 2.4.6 from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-torch
if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import torch, numpy' 2>/dev/null; then
    exit 0
fi
python3 -m venv "$venv"
# A plain `pip install torch` resolves to PyPI's newest wheel, a CUDA build (measured: 3 min 40 s).
# The CPU wheel: from the local wheel folder when there is one, else from PyTorch's CPU index.
if "$venv/bin/pip" install --quiet --no-index --no-deps torch 2>/dev/null; then
    "$venv/bin/pip" install --quiet filelock typing-extensions sympy networkx jinja2 fsspec setuptools numpy
else
    "$venv/bin/pip" install --quiet --index-url https://download.pytorch.org/whl/cpu torch
    "$venv/bin/pip" install --quiet numpy
fi
"$venv/bin/python" -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__)'
