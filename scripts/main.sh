#!/usr/bin/env bash
# The main job: installs what is missing, puts the digits data in place (scripts/fetch-digits.sh;
# the committed files are only checked), builds `batchnorm` and `bn-train` in release mode and runs
# `batchnorm bench` (parity of every kernel path against the float64 reference, and naive-vs-BLAS
# timings). `.build/release/bn-train` then trains on the digits (docs/TRAINING.md).
# Extra arguments go to `batchnorm bench`, e.g. `scripts/main.sh --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/fetch-digits.sh
swift build -c release --product batchnorm
swift build -c release --product bn-train
exec .build/release/batchnorm bench "$@"
