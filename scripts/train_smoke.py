#!/usr/bin/env python3
"""Smoke run of `bn-train` for the test command (seconds): one epoch on the digits with --json, the
same run again (identical losses and accuracies: deterministic at one thread), a run that diverges
(non-finite loss reported as null, clean stop, exit 0), missing data (one line naming the script,
non-zero exit) and a refused flag.

    python3 scripts/train_smoke.py path/to/bn-train
"""
import json
import math
import subprocess
import sys

REQUIRED = ["epoch", "train_loss", "test_loss", "test_accuracy", "seconds"]
TIMES = ["seconds", "batch_norm_seconds", "sgemm_seconds", "other_seconds", "evaluation_seconds"]


def run(binary, *args):
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=300)


def json_lines(result):
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return [json.loads(line) for line in result.stdout.splitlines()]


def main():
    binary = sys.argv[1]
    one_epoch = ["--epochs", "1", "--json", "--seed", "5"]
    first = json_lines(run(binary, *one_epoch))
    assert len(first) == 1, f"expected one line per epoch, got {len(first)}"
    report = first[0]
    assert list(report)[:5] == REQUIRED, f"keys {list(report)}"
    assert report["epoch"] == 1
    assert all(isinstance(report[key], float) and math.isfinite(report[key]) for key in REQUIRED[1:]), report
    # One epoch of the default network (8 x 100 sigmoid with batch norm) is far above chance (0.1).
    assert report["test_accuracy"] > 0.5, report
    assert abs(report["test_accuracy"] - report["test_accuracy_batch_statistics"]) < 0.1, report
    assert 0 < report["batch_norm_seconds"] + report["sgemm_seconds"] < report["seconds"], report

    again = json_lines(run(binary, *one_epoch))[0]
    strip = lambda row: {key: value for key, value in row.items() if key not in TIMES}
    assert strip(again) == strip(report), f"not deterministic:\n{report}\n{again}"

    diverging = json_lines(run(binary, "--batch-norm", "off", "--activation", "relu",
                               "--learning-rate", "10", "--epochs", "3", "--json"))
    assert diverging[-1]["train_loss"] is None, diverging
    assert len(diverging) < 3, "training continued after the loss became non-finite"

    missing = run(binary, "--data", "/nonexistent-digits-folder")
    assert missing.returncode != 0 and missing.stdout == "", missing
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "scripts/fetch-digits.sh" in lines[0], missing.stderr

    refused = run(binary, "--batch-norm", "maybe")
    assert refused.returncode != 0, refused

    print(f"train_smoke: bn-train one epoch: test accuracy {report['test_accuracy']:.3f}, "
          f"{report['seconds'] * 1000:.0f} ms (debug build); deterministic; divergence, missing data, bad flag handled")


if __name__ == "__main__":
    main()
