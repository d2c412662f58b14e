#!/usr/bin/env bash
# Decorrelated batch norm against PyTorch on 64x128x28x28 float32 (G = 16, 64; ZCA, IterNorm T = 5),
# 1 and 2 threads, alternating `batchnorm bench-whitening` and the anchors' py/dbn_torch.py so that
# both see the same machine load; ROUNDS rounds (default 3), the median over rounds of each program's
# per-call median. Both run with the anchors' `_reuse` malloc settings (freed blocks reused, no page
# faults from fresh buffers). Needs ./.venv-torch (scripts/torch-env.sh) and ../shared/anchors.
# Output: results_whitening/*.csv and a summary table on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${ROUNDS:-3}"
anchors="${ANCHORS:-../shared/anchors}"
out=results_whitening
mkdir -p "$out"
swift build -c release --product batchnorm >/dev/null
binary="$(swift build -c release --show-bin-path)/batchnorm"
export MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=4294967296
for round in $(seq 1 "$rounds"); do
    for threads in 1 2; do
        OPENBLAS_NUM_THREADS=$threads "$binary" bench-whitening --threads "$threads" > "$out/swift_t${threads}_r${round}.csv"
        OPENBLAS_NUM_THREADS=$threads BN_LIB_LABEL=torch_reuse .venv-torch/bin/python "$anchors/py/dbn_torch.py" "$threads" \
            > "$out/torch_t${threads}_r${round}.csv" 2> "$out/torch_t${threads}_r${round}.err"
    done
done
python3 - "$out" <<'PY'
import csv, glob, statistics, sys, collections
out = sys.argv[1]
ours = collections.defaultdict(list); torch = collections.defaultdict(list)
for path in glob.glob(f"{out}/swift_*.csv"):
    for row in csv.DictReader(open(path)):
        ours[(row["method"], int(row["G"]), row["direction"], int(row["threads"]))].append(float(row["median_ms"]))
for path in glob.glob(f"{out}/torch_*.csv"):
    for line in open(path):
        parts = line.strip().split(",")
        if len(parts) < 10 or not parts[2].startswith("w_g"):
            continue
        direction, method = parts[5].rsplit("_", 1)
        torch[(method, int(parts[2][3:]), direction, int(parts[6]))].append(float(parts[8]))
med = lambda v: statistics.median(v) if v else float("nan")
print("| method | G | threads | direction | ours ms | torch ms | ratio | plain BN ms (same runs) |")
print("|---|---|---|---|---|---|---|---|")
for (method, G, direction, threads) in sorted(torch):
    o, t = med(ours[(method, G, direction, threads)]), med(torch[(method, G, direction, threads)])
    plain = med(ours[("batchnorm", 1, "fwd_train", threads)]) if direction == "fwd_train" else \
        med(ours[("batchnorm", 1, "fwd_train", threads)]) + med(ours[("batchnorm", 1, "bwd", threads)])
    print(f"| {method} | {G} | {threads} | {direction} | {o:.3g} | {t:.3g} | {o / t:.2f} | {plain:.3g} |")
for (method, G, direction, threads) in sorted(k for k in ours if k[2] == "bwd" and k[0] != "batchnorm"):
    print(f"| {method} | {G} | {threads} | bwd (ours alone) | {med(ours[(method, G, direction, threads)]):.3g} | | | "
          f"{med(ours[('batchnorm', 1, 'bwd', threads)]):.3g} |")
PY
