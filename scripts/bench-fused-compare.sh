#!/usr/bin/env bash
# Fused batch norm + ReLU / + add + ReLU side by side with PyTorch eager (batch_norm then relu_, add_)
# and oneDNN 2.6's fuse_norm_relu, in one run: copies ../shared/anchors to a scratch folder, builds its
# bn_dnnl_fused, runs the peers (PyTorch with the anchors' `_reuse` malloc settings, the closest to a
# kernel-only time) and `batchnorm bench --activation relu|add-relu`, alternating, then prints the table
# of scripts/fused_compare.py. Needs libdnnl-dev and python3-torch (the anchors' `run_all.sh --install`);
# a missing peer is skipped.
#
#   scripts/bench-fused-compare.sh [--runs N] [--threads "1 2"] [--scratch DIR]
#
# The host is shared: compare only within one invocation, and read docs/BENCHMARK_NOTES.md for how noisy.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS=1 THREADS="1 2" SCRATCH=${BENCH_SCRATCH:-/tmp/swift-batchnorm-fused}
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --scratch) SCRATCH=$2; shift 2 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
mkdir -p "$SCRATCH/results"
cp -r "$ROOT/../shared/anchors/." "$SCRATCH/anchors/"
swift build -c release --product batchnorm >/dev/null
BIN=$ROOT/.build/release/batchnorm
HAVE_DNNL=0
if g++ -O2 -fopenmp "$SCRATCH/anchors/src/bn_dnnl_fused.cpp" -ldnnl -o "$SCRATCH/bn_dnnl_fused" 2>/dev/null; then HAVE_DNNL=1; fi
HAVE_TORCH=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then HAVE_TORCH=1; fi
for run in $(seq 1 "$RUNS"); do
    for threads in $THREADS; do
        OPENBLAS_NUM_THREADS=$threads "$BIN" bench --json --path fused --threads "$threads" --activation relu \
            --shape 32x64x56x56 --shape 32x256x14x14 --shape 32x2048x7x7 --shape 4096x1024 --shape 64x128x56x56 \
            > "$SCRATCH/results/ours_relu_t${threads}_r$run.jsonl"
        if [[ $HAVE_TORCH == 1 ]]; then
            MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296 BN_LIB_LABEL=torch_reuse \
                /usr/bin/python3 "$SCRATCH/anchors/py/bn_torch_fused.py" "$threads" \
                > "$SCRATCH/results/torch_t${threads}_r$run.csv" 2>/dev/null
        fi
        OPENBLAS_NUM_THREADS=$threads "$BIN" bench --json --path fused --threads "$threads" --activation add-relu \
            --shape 32x64x56x56 --shape 32x256x14x14 --shape 32x2048x7x7 --shape 4096x1024 --shape 64x128x56x56 \
            > "$SCRATCH/results/ours_addrelu_t${threads}_r$run.jsonl"
        if [[ $HAVE_DNNL == 1 ]]; then
            OMP_NUM_THREADS=$threads "$SCRATCH/bn_dnnl_fused" "$threads" > "$SCRATCH/results/onednn_t${threads}_r$run.csv" 2>/dev/null
        fi
    done
done
ours=()
for f in "$SCRATCH"/results/ours_*.jsonl; do ours+=(--ours "$f"); done
python3 "$ROOT/scripts/fused_compare.py" "${ours[@]}" "$SCRATCH"/results/*.csv
