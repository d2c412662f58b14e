#!/usr/bin/env bash
# The batch-norm experiment: trains `bn-train` over a grid (batch norm on/off x sigmoid/ReLU x four
# learning rates spanning 1000x x three seeds; 8 hidden layers of 100, plain SGD, batch 32, 30 epochs,
# one thread) and writes docs/TRAINING.md with the table, the timing shares and the SVG plots in
# docs/training/. About 5 minutes on a quiet 2-core machine (48 runs of 30 epochs at about 0.1 s).
#
#     bash scripts/train-demo.sh            # the full grid, rewrites docs/TRAINING.md
#     bash scripts/train-demo.sh --quick    # 2 epochs, 1 seed, into /tmp/train-demo (checks the script)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/fetch-digits.sh
swift build -c release --product bn-train
exec python3 scripts/train_demo.py .build/release/bn-train "$@"
