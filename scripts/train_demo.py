#!/usr/bin/env python3
"""Runs the batch-norm training grid with `bn-train` and writes docs/TRAINING.md with a table, the
timing shares and SVG plots (plain SVG text, no plotting library). Called by scripts/train-demo.sh.

    python3 scripts/train_demo.py path/to/bn-train [--quick]

The text between the `findings` markers of an existing docs/TRAINING.md is kept: it is written by
hand from the data, and has to be re-read against the new table whenever the grid is re-run.
"""
import json
import os
import platform
import statistics
import subprocess
import sys
import time

LAYERS, WIDTH, BATCH, MOMENTUM, EPOCHS = 8, 100, 32, 0.0, 30
LEARNING_RATES = [0.01, 0.1, 1.0, 10.0]
SEEDS = [1, 2, 3]
ACTIVATIONS = ["sigmoid", "relu"]
BATCH_NORM = ["on", "off"]
TARGET = 0.90
COLORS = {"on": "#1f77b4", "off": "#d62728"}
FINDINGS_START, FINDINGS_END = "<!-- findings: start -->", "<!-- findings: end -->"


def run_grid(binary, epochs, seeds):
    runs = []
    total = len(ACTIVATIONS) * len(LEARNING_RATES) * len(BATCH_NORM) * len(seeds)
    for activation in ACTIVATIONS:
        for rate in LEARNING_RATES:
            for norm in BATCH_NORM:
                for seed in seeds:
                    args = [binary, "--batch-norm", norm, "--layers", str(LAYERS), "--width", str(WIDTH),
                            "--activation", activation, "--learning-rate", str(rate), "--momentum", str(MOMENTUM),
                            "--epochs", str(epochs), "--batch-size", str(BATCH), "--seed", str(seed),
                            "--threads", "1", "--json"]
                    result = subprocess.run(args, capture_output=True, text=True, check=True)
                    epochs_out = [json.loads(line) for line in result.stdout.splitlines()]
                    runs.append({"activation": activation, "learning_rate": rate, "batch_norm": norm, "seed": seed,
                                 "epochs": epochs_out})
                    last = epochs_out[-1]
                    print(f"[{len(runs)}/{total}] {activation} lr {rate} bn {norm} seed {seed}: "
                          f"{len(epochs_out)} epochs, last test accuracy {last['test_accuracy']:.3f}", flush=True)
    return runs


def diverged(run):
    return any(epoch["train_loss"] is None for epoch in run["epochs"])


def epochs_to_target(run):
    for epoch in run["epochs"]:
        if epoch["test_accuracy"] is not None and epoch["test_accuracy"] >= TARGET:
            return epoch["epoch"]
    return None


def best_accuracy(run):
    return max(epoch["test_accuracy"] or 0 for epoch in run["epochs"])


def cell(runs, activation, rate, norm):
    return [r for r in runs if r["activation"] == activation and r["learning_rate"] == rate and r["batch_norm"] == norm]


def table(runs, epochs):
    lines = ["| activation | learning rate | batch norm | epochs to 90% (per seed) | best test accuracy (mean, min-max) "
             "| final test accuracy: running / batch statistics | diverged |",
             "|---|---:|---|---|---|---|---|"]
    for activation in ACTIVATIONS:
        for rate in LEARNING_RATES:
            for norm in BATCH_NORM:
                group = cell(runs, activation, rate, norm)
                reach = [epochs_to_target(r) for r in group]
                reach_text = ", ".join("-" if e is None else str(e) for e in reach)
                best = [best_accuracy(r) for r in group]
                finals = [r["epochs"][-1] for r in group if not diverged(r)]
                final_text = (f"{statistics.mean(f['test_accuracy'] for f in finals):.3f} / "
                              f"{statistics.mean(f['test_accuracy_batch_statistics'] for f in finals):.3f}"
                              if finals else "-")
                count = sum(diverged(r) for r in group)
                lines.append(f"| {activation} | {rate:g} | {norm} | {reach_text} | {statistics.mean(best):.3f} "
                             f"({min(best):.3f}-{max(best):.3f}) | {final_text} | {count} of {len(group)} |")
    return "\n".join(lines)


def timing(runs):
    lines = ["| activation | batch norm | epochs | median ms per epoch | batch norm | sgemm | rest |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for activation in ACTIVATIONS:
        for norm in BATCH_NORM:
            epochs = [e for r in runs if r["activation"] == activation and r["batch_norm"] == norm
                      for e in r["epochs"] if e["train_loss"] is not None]
            if not epochs:
                continue
            total = sum(e["seconds"] for e in epochs)
            shares = [sum(e[key] for e in epochs) / total for key in ("batch_norm_seconds", "sgemm_seconds", "other_seconds")]
            lines.append(f"| {activation} | {norm} | {len(epochs)} | {statistics.median(e['seconds'] for e in epochs) * 1000:.1f} | "
                         + " | ".join(f"{share * 100:.0f}%" for share in shares) + " |")
    return "\n".join(lines)


def svg_chart(runs, key, title, y_range, y_label, epochs, path):
    """A grid of panels (rows: activations, columns: learning rates), one line per run."""
    panel_w, panel_h, left, top, gap = 230, 170, 60, 56, 28
    plot_w, plot_h = panel_w - 40, panel_h - 45
    width = left + len(LEARNING_RATES) * (panel_w + gap)
    height = top + len(ACTIVATIONS) * (panel_h + gap) + 30
    y_min, y_max = y_range
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="20" font-size="14" font-weight="bold">{title}</text>',
           f'<text x="{left}" y="38" fill="#444">{LAYERS} hidden layers of {WIDTH}, plain SGD, batch {BATCH}, '
           f'seeds {", ".join(map(str, SEEDS))}; '
           f'<tspan fill="{COLORS["on"]}">batch norm on</tspan>, <tspan fill="{COLORS["off"]}">off</tspan>; '
           f'a line that ends early diverged (non-finite loss)</text>']
    for row, activation in enumerate(ACTIVATIONS):
        for column, rate in enumerate(LEARNING_RATES):
            x0 = left + column * (panel_w + gap)
            y0 = top + row * (panel_h + gap)
            out.append(f'<text x="{x0 + plot_w / 2}" y="{y0 + 10}" text-anchor="middle">{activation}, learning rate {rate:g}</text>')
            px, py = x0, y0 + 18
            out.append(f'<rect x="{px}" y="{py}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#999"/>')
            for tick in range(5):
                value = y_min + (y_max - y_min) * tick / 4
                ty = py + plot_h - plot_h * tick / 4
                out.append(f'<line x1="{px}" x2="{px + plot_w}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#eee"/>')
                if column == 0:
                    out.append(f'<text x="{px - 4}" y="{ty + 4:.1f}" text-anchor="end">{value:g}</text>')
            for tick in (1, epochs // 2, epochs):
                tx = px + plot_w * (tick - 1) / max(1, epochs - 1)
                out.append(f'<text x="{tx:.1f}" y="{py + plot_h + 13}" text-anchor="middle">{tick}</text>')
            if row == len(ACTIVATIONS) - 1:
                out.append(f'<text x="{px + plot_w / 2}" y="{py + plot_h + 27}" text-anchor="middle" fill="#444">epoch</text>')
            for norm in BATCH_NORM:
                for run in cell(runs, activation, rate, norm):
                    points = []
                    for epoch in run["epochs"]:
                        value = epoch[key]
                        if value is None:
                            break
                        clipped = min(max(value, y_min), y_max)
                        x = px + plot_w * (epoch["epoch"] - 1) / max(1, epochs - 1)
                        y = py + plot_h - plot_h * (clipped - y_min) / (y_max - y_min)
                        points.append(f"{x:.1f},{y:.1f}")
                    if points:
                        out.append(f'<polyline points="{" ".join(points)}" fill="none" stroke="{COLORS[norm]}" '
                                   f'stroke-width="1.3" stroke-opacity="0.8"/>')
                        if diverged(run):
                            x, y = points[-1].split(",")
                            out.append(f'<text x="{x}" y="{float(y) + 4:.1f}" text-anchor="middle" fill="{COLORS[norm]}">x</text>')
        out.append(f'<text x="14" y="{top + row * (panel_h + gap) + panel_h / 2}" transform="rotate(-90 14 '
                   f'{top + row * (panel_h + gap) + panel_h / 2})" text-anchor="middle" fill="#444">{y_label}</text>')
    out.append("</svg>")
    with open(path, "w") as handle:
        handle.write("\n".join(out) + "\n")


def main():
    binary = sys.argv[1]
    quick = "--quick" in sys.argv[2:]
    epochs, seeds = (2, [1]) if quick else (EPOCHS, SEEDS)
    docs = "/tmp/train-demo" if quick else "docs"
    os.makedirs(f"{docs}/training", exist_ok=True)
    load_before = os.getloadavg()
    start = time.time()
    runs = run_grid(binary, epochs, seeds)
    minutes = (time.time() - start) / 60
    load_after = os.getloadavg()

    with open(f"{docs}/training/runs.json", "w") as handle:
        compact = [{**{k: v for k, v in r.items() if k != "epochs"},
                    "test_accuracy": [e["test_accuracy"] for e in r["epochs"]],
                    "test_accuracy_batch_statistics": [e["test_accuracy_batch_statistics"] for e in r["epochs"]],
                    "train_loss": [e["train_loss"] for e in r["epochs"]],
                    "test_loss": [e["test_loss"] for e in r["epochs"]]} for r in runs]
        json.dump(compact, handle, separators=(",", ":"))
        handle.write("\n")
    svg_chart(runs, "test_accuracy", "Test accuracy per epoch (inference mode, running statistics)",
              (0, 1), "test accuracy", epochs, f"{docs}/training/test-accuracy.svg")
    svg_chart(runs, "test_loss", "Test loss per epoch (cross-entropy; values above 3 drawn at 3)",
              (0, 3), "test loss", epochs, f"{docs}/training/test-loss.svg")

    findings = "(Not yet written: read the table and plots, then state what they show here.)"
    if os.path.exists(f"{docs}/TRAINING.md"):
        text = open(f"{docs}/TRAINING.md").read()
        if FINDINGS_START in text and FINDINGS_END in text:
            findings = text.split(FINDINGS_START)[1].split(FINDINGS_END)[0].strip()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    command = ("bn-train --batch-norm on|off --layers 8 --width 100 --activation sigmoid|relu --learning-rate LR "
               f"--momentum {MOMENTUM:g} --epochs {epochs} --batch-size {BATCH} --seed S --threads 1 --json")
    document = f"""# Training a network with batch norm

Generated by `bash scripts/train-demo.sh` (commit {commit}, {len(runs)} runs in {minutes:.1f} min on
{platform.machine()} with {os.cpu_count()} cores, load average {load_before[0]:.1f} before and
{load_after[0]:.1f} after: other jobs shared the machine). Every run is

```sh
{command}
```

on the UCI optical handwritten digits (scikit-learn's `load_digits`, 1,797 images of 8x8, CC BY 4.0;
`data/digits/`), pixels scaled to [0, 1], with a fixed stratified split: 1,438 training and 359 test
images. The network is {LAYERS} hidden layers of {WIDTH} units (dense on `cblas_sgemm`, then
BatchNormKit's batch norm when on, then the activation; no dense bias when batch norm follows, since
beta replaces it) and a dense softmax output; LeCun-normal weights for sigmoid, He-normal for ReLU;
plain SGD (momentum {MOMENTUM:g}) with batches of {BATCH} (44 steps per epoch, the last incomplete batch
left out); seeds {", ".join(map(str, seeds))} set the weights and the batch order. Test accuracy is
measured in inference mode with the running statistics after every epoch; the table also gives the
accuracy with the test batch's own statistics, which the running statistics estimate. The grid was
fixed before it was run and has not been tuned.

## Results

Epochs to {TARGET:.0%} test accuracy ("-": not within {epochs} epochs), the best test accuracy over the
epochs, the final accuracy with running and with batch statistics (runs that did not diverge), and how
many seeds diverged (training loss no longer finite; the run stops there).

{table(runs, epochs)}

![Test accuracy per epoch](training/test-accuracy.svg)

![Test loss per epoch](training/test-loss.svg)

## What the data show

{FINDINGS_START}
{findings}
{FINDINGS_END}

## Time per epoch

Training steps only (batch assembly, forward, backward, SGD update; evaluation excluded), one thread,
over every epoch of every run that had not diverged. The shares come from `ContinuousClock` timers
around the calls in the example: "batch norm" is BatchNormKit's training forward and backward,
"sgemm" is `cblas_sgemm` (forward, weight gradient, input gradient of every dense layer), "rest" is
everything else (activations, softmax cross-entropy, SGD updates, batch assembly). The machine was
shared with other jobs, so these are upper bounds.

{timing(runs)}

Per-run data: `docs/training/runs.json` (test accuracy with running and with batch statistics,
training and test loss per epoch).
"""
    with open(f"{docs}/TRAINING.md", "w") as handle:
        handle.write(document)
    print(f"train_demo: wrote {docs}/TRAINING.md and {docs}/training/ ({minutes:.1f} min)")


if __name__ == "__main__":
    main()
