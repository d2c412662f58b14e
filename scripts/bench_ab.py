#!/usr/bin/env python3
"""A/B comparison of `batchnorm bench` builds (or environment settings) on a shared, noisy host.

Runs every variant once per repetition, alternating the order (A B, then B A, ...), and prints the
median over repetitions of each row's median ms, one column per variant. Only ratios between columns
of one invocation mean anything: the host's memory bandwidth drifts by up to 2x within minutes.

    scripts/bench_ab.py --runs 5 \\
        --variant old=/tmp/batchnorm-old --variant new=.build/release/batchnorm \\
        -- --shape 32x64x56x56 --threads 1 --threads 2 --path fused

A variant is NAME=BINARY or NAME=BINARY:VAR=VALUE,VAR=VALUE (extra environment for that variant).
Everything after `--` goes to `batchnorm bench` (which gets `--json` added).
"""
import argparse
import collections
import json
import os
import statistics
import subprocess
import sys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--variant", action="append", required=True, metavar="NAME=BINARY[:VAR=VALUE,...]")
    parser.add_argument("bench", nargs=argparse.REMAINDER, help="-- then batchnorm bench arguments")
    options = parser.parse_args()
    bench = options.bench[1:] if options.bench[:1] == ["--"] else options.bench

    variants = []
    for spec in options.variant:
        name, _, rest = spec.partition("=")
        binary, _, settings = rest.partition(":")
        environment = dict(os.environ)
        for setting in filter(None, settings.split(",")):
            key, _, value = setting.partition("=")
            environment[key] = value
        variants.append((name, binary, environment))

    results = collections.defaultdict(list)
    for repetition in range(options.runs):
        for name, binary, environment in (variants if repetition % 2 == 0 else variants[::-1]):
            completed = subprocess.run([binary, "bench", "--json", *bench], env=environment,
                                       capture_output=True, text=True)
            if completed.returncode not in (0, 1):
                sys.exit(f"{name}: batchnorm bench exited {completed.returncode}: {completed.stderr.strip()}")
            for line in completed.stdout.splitlines():
                row = json.loads(line)
                if "median_ms" in row:
                    key = (row["shape"], row["layout"], row["direction"], row["path"], row["threads"])
                    results[(key, name)].append(row["median_ms"])

    names = [name for name, _, _ in variants]
    print("shape layout direction path threads".ljust(56) + "".join(name.rjust(12) for name in names))
    for key in sorted({key for key, _ in results}):
        cells = [results[(key, name)] for name in names]
        print(" ".join(map(str, key)).ljust(56)
              + "".join((f"{statistics.median(cell):.4g}" if cell else "-").rjust(12) for cell in cells))


if __name__ == "__main__":
    main()
