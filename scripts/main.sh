#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode and runs `batchnorm bench`
# (parity of every kernel path against the float64 reference, and naive-vs-BLAS timings).
# Extra arguments go to `batchnorm bench`, e.g. `scripts/main.sh --quick`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build -c release --product batchnorm
exec .build/release/batchnorm bench "$@"
