#!/usr/bin/env python3
"""The frozen backward's input gradient alone against PyTorch's FrozenBatchNorm2d, side by side.

usage: .venv-torch/bin/python scripts/frozen_compare.py BATCHNORM_BINARY [--rounds R]

torchvision's and detectron2's FrozenBatchNorm2d compute `y = x * scale + bias` with `scale` and `bias`
buffers, so autograd's backward is `dx = dy * scale` (MulBackward; the add passes `dy` through). Through
ReLU it is `dz = threshold_backward(dy, y, 0)`, then `dx = dz * scale`; with a residual add, `dresidual`
is the same `dz` (autograd hands both inputs of the add one tensor). This script times those aten calls
(what eager autograd runs, without its bookkeeping, into outputs allocated once) and `batchnorm bench --direction bwd-infer-dx` with
`--activation none|relu-y|add-relu` (ours writes `dresidual` as its own tensor), shapes a-e, both
layouts, 1 and 2 threads, `rounds` times in turn, and prints the medians and their ratio (ours / torch)
as a Markdown table. Needs the venv of scripts/torch-env.sh. Not part of the test command.
"""
import argparse
import json
import statistics
import subprocess
import time

import torch

SHAPES = [("a", (32, 64, 56, 56)), ("b", (32, 256, 14, 14)), ("c", (32, 2048, 7, 7)), ("d", (4096, 1024)),
          ("e", (64, 128, 56, 56))]
ACTIVATIONS = ["none", "relu-y", "add-relu"]


def median_ms(call, minimum=20, budget=0.3, most=200):
    for _ in range(3):
        call()
    times, total = [], 0.0
    while len(times) < most and (len(times) < minimum or total < budget):
        start = time.perf_counter()
        call()
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        total += elapsed
    return statistics.median(times) * 1e3


def torch_times(threads):
    """{(shape name, layout, activation): ms} of PyTorch's frozen backward (dx alone)."""
    torch.set_num_threads(threads)
    generator = torch.Generator().manual_seed(0)
    threshold_backward = torch.ops.aten.threshold_backward.grad_input
    result = {}
    for name, dims in SHAPES:
        channels = dims[1]
        layouts = ["channels-first"] if len(dims) == 2 else ["channels-first", "channels-last"]
        for layout in layouts:
            def tensor():
                values = torch.rand(dims, generator=generator) - 0.5
                return values.contiguous(memory_format=torch.channels_last) if layout == "channels-last" else values
            dy, y = tensor(), tensor()
            # Outputs allocated once and reused (`out=`), as the anchors' "reuse" rows: a fresh 100 MB
            # tensor per call pays its page faults, which would flatter us.
            dz, dx = torch.empty_like(dy), torch.empty_like(dy)
            scale = (torch.rand(channels, generator=generator) + 1).reshape([1, channels] + [1] * (len(dims) - 2))
            result[(name, layout, "none")] = median_ms(lambda: torch.mul(dy, scale, out=dx))
            masked = median_ms(lambda: torch.mul(threshold_backward(dy, y, 0, grad_input=dz), scale, out=dx))
            result[(name, layout, "relu-y")] = masked
            result[(name, layout, "add-relu")] = masked
    return result


def our_times(binary, threads):
    result = {}
    for activation in ACTIVATIONS:
        command = [binary, "bench", "--direction", "bwd-infer-dx", "--activation", activation, "--layout", "both",
                   "--threads", str(threads), "--path", "fused", "--json"]
        for _, dims in SHAPES:
            command += ["--shape", "x".join(map(str, dims))]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        for line in output.splitlines():
            record = json.loads(line)
            if record.get("kind") == "copy_bandwidth":
                continue
            for name, dims in SHAPES:
                # Channels-last shapes are reported in NHWC order; 2-D ones once per layout (same memory).
                if len(dims) == 2 and record["layout"] == "channels-last":
                    continue
                nhwc = (dims[0],) + tuple(dims[2:]) + (dims[1],)
                order = nhwc if record["layout"] == "channels-last" and len(dims) > 2 else dims
                if record["shape"] == "x".join(map(str, order)):
                    result[(name, record["layout"], activation)] = record["median_ms"]
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("binary")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    samples = {}
    for _ in range(arguments.rounds):
        for threads in [1, 2]:
            for side, times in [("torch", torch_times(threads)), ("ours", our_times(arguments.binary, threads))]:
                for key, value in times.items():
                    samples.setdefault((side, threads) + key, []).append(value)
    print(f"torch {torch.__version__}, {arguments.rounds} rounds, medians in ms (1 / 2 threads)")
    print()
    print("| shape | layout | activation | torch | ours | ours / torch |")
    print("|---|---|---|---|---|---|")
    for name, dims in SHAPES:
        for layout in ["channels-first", "channels-last"]:
            for activation in ACTIVATIONS:
                cells = []
                for threads in [1, 2]:
                    torch_ms = samples.get(("torch", threads, name, layout, activation))
                    ours_ms = samples.get(("ours", threads, name, layout, activation))
                    if not torch_ms or not ours_ms:
                        break
                    cells.append((statistics.median(torch_ms), statistics.median(ours_ms)))
                if len(cells) < 2:
                    continue
                print(f"| {name} | {layout} | {activation} | "
                      + " / ".join(f"{t:.3g}" for t, _ in cells) + " | "
                      + " / ".join(f"{o:.3g}" for _, o in cells) + " | "
                      + " / ".join(f"{o / t:.2f}" for t, o in cells) + " |")


if __name__ == "__main__":
    main()
