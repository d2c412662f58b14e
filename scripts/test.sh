#!/usr/bin/env bash
# The test command: installs what is missing, builds once (debug, tests included), runs the
# end-to-end checks of the `batchnorm` tool against NumPy (and, for --whitening, against the committed
# NumPy/PyTorch fixtures of Tests/Fixtures/whitening) and on 60 seeded random shapes (and 12 of
# 8,191-65,537 channels) against a long-double reference (scripts/shape_sweep.py), a quick smoke of
# `batchnorm bench`, a one-epoch smoke run of `bn-train` on the digits (scripts/train_smoke.py,
# seconds), the Open MPI tests (scripts/test-mpi.sh: installs Open MPI, builds MPI/, runs 2 and 4
# ranks), the whole suite under AddressSanitizer and ThreadSanitizer (scripts/sanitizers.sh), and last
# the plain Swift test suite (Swift Testing: unit, parity, property-based and concurrency tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --with-numpy
python3 scripts/snippets.py --check
swift build --build-tests
python3 scripts/snippets.py --top-level "$(swift build --show-bin-path)"
binary="$(swift build --show-bin-path)/batchnorm"
python3 scripts/e2e_cli.py "$binary"
python3 scripts/shape_sweep.py "$binary" --seed 1 --cases 60 --max-elements 300000
python3 scripts/shape_sweep.py "$binary" --wide --seed 1 --cases 12 --max-elements 600000
bash scripts/fetch-digits.sh
python3 scripts/train_smoke.py "$(swift build --show-bin-path)/bn-train"
python3 scripts/e2e_whitening.py "$binary"
"$binary" bench --quick
"$binary" bench-activation --shape 4x16x12x12 --shape 64x10 --rounds 3
bash scripts/test-mpi.sh
bash scripts/sanitizers.sh
swift test --skip-build
