#!/usr/bin/env python3
"""Channels-last time over channels-first time of the fused path, measured side by side (issue 12's goal).

Each round runs `batchnorm bench` once per layout, shape and thread count, the two layouts of a cell one
after the other in their own processes, channels-first first in even rounds and channels-last first in odd
ones: a layout timed second in one process (`--layout both`) ran up to 1.3x slower on the same code (the
2-D shape d, whose two layouts are the same memory and loops), so neither layout always goes second. The
table gives, per cell, the median over rounds of the per-round ratio channels-last / channels-first, and
each layout's median ms. Only ratios mean anything on a shared host; use an even number of rounds.

    scripts/layout_ratios.py [--binary .build/release/batchnorm] [--rounds 4] [--threads 1 --threads 2]
                             [--shape 32x64x56x56 ...] [--direction all]
"""
import argparse
import collections
import json
import statistics
import subprocess

DEFAULT_SHAPES = ["32x64x56x56", "32x256x14x14", "32x2048x7x7", "4096x1024", "64x128x56x56"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=".build/release/batchnorm")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", action="append", type=int)
    parser.add_argument("--shape", action="append")
    parser.add_argument("--direction", default="all")
    options = parser.parse_args()
    times = collections.defaultdict(lambda: collections.defaultdict(dict))
    for round_index in range(options.rounds):
        for shape in options.shape or DEFAULT_SHAPES:
            for threads in options.threads or [1, 2]:
                layouts = ["channels-first", "channels-last"]
                for layout in layouts if round_index % 2 == 0 else reversed(layouts):
                    output = subprocess.run(
                        [options.binary, "bench", "--json", "--path", "fused", "--layout", layout,
                         "--direction", options.direction, "--shape", shape, "--threads", str(threads)],
                        check=True, capture_output=True, text=True).stdout
                    for line in output.splitlines():
                        row = json.loads(line)
                        if row.get("path") != "fused":
                            continue
                        times[(shape, row["direction"], threads)][round_index][row["layout"]] = row["median_ms"]
    print("| shape | direction | threads | last/first (median) | per round | first ms | last ms |")
    print("|---|---|---|---|---|---|---|")
    for (shape, direction, threads), rounds in times.items():
        pairs = [r for r in rounds.values() if "channels-first" in r and "channels-last" in r]
        ratios = [r["channels-last"] / r["channels-first"] for r in pairs]
        print(f"| {shape} | {direction} | {threads} | {statistics.median(ratios):.2f} | "
              + " ".join(f"{x:.2f}" for x in ratios)
              + f" | {statistics.median(r['channels-first'] for r in pairs):.3g}"
              + f" | {statistics.median(r['channels-last'] for r in pairs):.3g} |")


if __name__ == "__main__":
    main()
