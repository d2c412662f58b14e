#!/usr/bin/env bash
# Runs our benchmark and the peer anchors (../shared/anchors: oneDNN, PyTorch 1.13 / 2.x, NumPy, a naive
# C loop, STREAM copy) side by side on shapes a–e with 1 and 2 threads, then writes docs/BENCHMARKS.md
# and docs/benchmarks.svg.
#
#   scripts/bench-compare.sh                 one run (≈ 8–11 min on 2 cores; ≈ 2 of them our naive path)
#   scripts/bench-compare.sh --runs 3        three runs, medians over runs (≈ 25–35 min, plus waits)
#   scripts/bench-compare.sh --install       first install the anchors' dependencies with their own
#                                            installer (run_all.sh --install: apt packages + a torch 2.x
#                                            venv, ≈ 1.6 GB; it also runs its own suite once, ≈ 4 min)
#
# Options:
#   --runs N              repeat the whole side-by-side run N times (default 1)
#   --install             install the anchors' dependencies first (see above); without it, anchors
#                         whose libraries are missing are skipped and the report says so
#   --shapes a,b,c,d,e    a subset of the shapes (default all)
#   --threads 1,2         thread counts (default 1,2)
#   --default-path PATH   which of naive|blas|fused the report treats as the default (default fused)
#   --scratch DIR         where the anchors are copied and results kept
#                         (default $BENCH_SCRATCH or /tmp/swift-batchnorm-bench)
#   --anchors DIR         the anchors to copy (default ../shared/anchors)
#   --docs DIR            where BENCHMARKS.md and benchmarks.svg go (default docs)
#   --wait-quiet MIN      before each step, wait (at most MIN minutes in all) until other processes
#                         leave the CPU idle; this host is shared, and a busy neighbour wrecks the
#                         2-thread numbers (default 0: do not wait; the report flags contended cells)
#   --no-anchors          our benchmark only
#   --quick               `batchnorm bench --quick` (a smoke test of this script; numbers meaningless)
#   --report-only DIR     rewrite the docs from an earlier results folder, measuring nothing
#
# Do not run two of these at once, nor beside other heavy work, if the numbers are to mean anything;
# the report records the load average and the CPU other processes used.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

RUNS=1 INSTALL=0 SHAPES=a,b,c,d,e THREADS=1,2 DEFAULT_PATH=fused QUICK=0 NO_ANCHORS=0 REPORT_ONLY= WAIT_QUIET=0
SCRATCH=${BENCH_SCRATCH:-/tmp/swift-batchnorm-bench}
ANCHORS_SOURCE=$ROOT/../shared/anchors
DOCS=docs
INVOCATION="scripts/bench-compare.sh $*"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --runs) RUNS=$2; shift 2 ;;
        --install) INSTALL=1; shift ;;
        --shapes) SHAPES=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --default-path) DEFAULT_PATH=$2; shift 2 ;;
        --scratch) SCRATCH=$2; shift 2 ;;
        --anchors) ANCHORS_SOURCE=$2; shift 2 ;;
        --docs) DOCS=$2; shift 2 ;;
        --wait-quiet) WAIT_QUIET=$2; shift 2 ;;
        --no-anchors) NO_ANCHORS=1; shift ;;
        --quick) QUICK=1; shift ;;
        --report-only) REPORT_ONLY=$2; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$RUNS" =~ ^[1-9][0-9]*$ ]] || { echo "--runs takes a positive integer" >&2; exit 2; }

if [[ -n "$REPORT_ONLY" ]]; then
    exec python3 scripts/bench_compare.py report --results "$REPORT_ONLY" --docs "$DOCS" \
        --default-path "$DEFAULT_PATH"
fi

started=$(date +%s)
echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- (a) our CLI, release
BUILD=(swift build -c release --product batchnorm --scratch-path .build-bench)
echo "== ${BUILD[*]}"
bash scripts/install-deps.sh   # libopenblas-dev, pkgconf (does nothing when they are there)
"${BUILD[@]}"
BATCHNORM=$ROOT/.build-bench/release/batchnorm

# ---------------------------------------------------------------- (b) anchors in a scratch copy
mkdir -p "$SCRATCH"
ANCHORS=$SCRATCH/anchors
if [[ "$NO_ANCHORS" == 0 ]]; then
    [[ -d "$ANCHORS_SOURCE" ]] || { echo "no anchors at $ANCHORS_SOURCE (--anchors DIR, or --no-anchors)" >&2; exit 2; }
    # ../shared may be read-only: copy its files over (keeping a .venv-torch made by an earlier --install)
    mkdir -p "$ANCHORS"
    chmod -R u+w "$ANCHORS" 2>/dev/null || true
    (cd "$ANCHORS_SOURCE" && tar --exclude=./results\* --exclude=./build --exclude=./.venv-torch -cf - .) \
        | (cd "$ANCHORS" && tar -xf -)
    chmod -R u+w "$ANCHORS"
    if [[ "$INSTALL" == 1 ]]; then
        echo "== installing the anchors' dependencies: (cd $ANCHORS && ./run_all.sh --install)"
        echo "   (their installer also runs their own suite once; its results stay in $ANCHORS/results_install)"
        (cd "$ANCHORS" && RESULTS_DIR=results_install ./run_all.sh --install) \
            || echo "!! run_all.sh --install exited non-zero; anchors that still lack their library are skipped"
    fi
else
    mkdir -p "$ANCHORS/py"
fi

# ---------------------------------------------------------------- (c) side by side
RESULTS=$SCRATCH/results/$(date -u +%Y%m%dT%H%M%SZ)
echo "== measuring: $RUNS run(s), shapes $SHAPES, threads $THREADS; raw results in $RESULTS"
extra=()
[[ "$QUICK" == 1 ]] && extra+=(--quick)
[[ "$NO_ANCHORS" == 1 ]] && extra+=(--no-anchors)
python3 scripts/bench_compare.py run --batchnorm "$BATCHNORM" --anchors "$ANCHORS" --results "$RESULTS" \
    --runs "$RUNS" --shapes "$SHAPES" --threads "$THREADS" --wait-quiet "$WAIT_QUIET" --invocation "$INVOCATION" \
    --build-command "${BUILD[*]}" ${extra[@]+"${extra[@]}"}

# ---------------------------------------------------------------- (d) the report
python3 scripts/bench_compare.py report --results "$RESULTS" --docs "$DOCS" --default-path "$DEFAULT_PATH"
echo "== done in $(( ($(date +%s) - started) / 60 )) min; load average now $(cut -d' ' -f1-3 /proc/loadavg)"
echo "   $DOCS/BENCHMARKS.md, $DOCS/benchmarks.svg; raw: $RESULTS"
