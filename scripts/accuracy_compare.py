#!/usr/bin/env python3
"""Float32 accuracy of `batchnorm` and PyTorch CPU side by side, against one float64 reference.

Both get the same float32 data; every result is compared with float64 math on those values:

    error = max over elements of |result - reference| / max(1, |reference|)

(the measure of scripts/e2e_cli.py). Quantities: the training forward's y and updated running variance
(unbiased, momentum 0.1), and the training backward's dx, dgamma, dbeta. The shapes are large on purpose:
with hundreds of thousands of values per channel, the per-channel sums decide the errors of dgamma and
dbeta (a channel whose sum cancels to near 0 shows them in full), which small tests never reach.

Usage (needs numpy and torch; the project's scripts find torch in /usr/bin/python3):

    swift build -c release --product batchnorm
    /usr/bin/python3 scripts/accuracy_compare.py .build/release/batchnorm [--threads 2]

Prints one line per shape and layout. Results are in docs/BENCHMARK_NOTES.md ("Accuracy against
PyTorch") and the Numerics article. Takes about a minute and 2 GB of memory.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_cli  # noqa: E402  (the float64 references)

EPS = 1e-5
MOMENTUM = 0.1

# (shape in NCHW order, channels-last?, mean offset of x)
CASES = [
    ((16, 64, 112, 112), False, 0.3),
    ((16, 64, 112, 112), True, 0.3),
    ((400000, 8), False, 0.3),
    ((32, 256, 28, 28), True, 100.0),
    ((2048, 1024), False, 0.0),
]


def scaled_error(actual, expected):
    return float(np.max(np.abs(actual.astype(np.float64) - expected) / np.maximum(1.0, np.abs(expected))))


def reference(x, dy, gamma, beta, running_var):
    """float64 training forward, running variance update and backward (scripts/e2e_cli.py's references;
    x in channels-first order)."""
    y, _, _, _, updated_var = e2e_cli.ref_forward_training(
        x, "channels-first", gamma, beta, np.zeros_like(running_var), running_var, MOMENTUM, EPS)
    dx, dgamma, dbeta = e2e_cli.ref_backward_training(x, dy, "channels-first", gamma, EPS)
    return {"y": y, "running_var": updated_var, "dx": dx, "dgamma": dgamma, "dbeta": dbeta}


def torch_results(x, dy, gamma, beta, running_var, channels_last, threads):
    torch.set_num_threads(threads)
    tx, tdy = torch.from_numpy(x), torch.from_numpy(dy)
    if channels_last:
        tx = tx.contiguous(memory_format=torch.channels_last)
        tdy = tdy.contiguous(memory_format=torch.channels_last)
    tx.requires_grad_(True)
    weight = torch.from_numpy(gamma.copy()).requires_grad_(True)
    bias = torch.from_numpy(beta.copy()).requires_grad_(True)
    running_mean_t = torch.zeros(x.shape[1])
    running_var_t = torch.from_numpy(running_var.copy())
    y = torch.nn.functional.batch_norm(tx, running_mean_t, running_var_t, weight, bias, training=True,
                                       momentum=MOMENTUM, eps=EPS)
    y.backward(tdy)
    return {"y": y.detach().numpy(), "running_var": running_var_t.numpy(), "dx": tx.grad.numpy(),
            "dgamma": weight.grad.numpy(), "dbeta": bias.grad.numpy()}


def our_results(binary, x, dy, gamma, beta, running_var, channels_last, threads, directory):
    # Channels-last files are in NHWC order.
    order = [0] + list(range(2, x.ndim)) + [1] if channels_last else list(range(x.ndim))
    back = np.argsort(order)
    path = lambda name: os.path.join(directory, name + ".npy")
    np.save(path("x"), np.ascontiguousarray(x.transpose(order)))
    np.save(path("dy"), np.ascontiguousarray(dy.transpose(order)))
    np.save(path("gamma"), gamma)
    np.save(path("beta"), beta)
    np.save(path("running_mean"), np.zeros_like(running_var))
    np.save(path("running_var"), running_var)
    layout = ["--layout", "channels-last" if channels_last else "channels-first"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))  # the kernels follow OpenBLAS's setting
    subprocess.run([binary, "forward", "--input", path("x"), "--output", path("y"), *layout, "--gamma", path("gamma"),
                    "--beta", path("beta"), "--eps", str(EPS), "--momentum", str(MOMENTUM),
                    "--running-mean", path("running_mean"), "--running-var", path("running_var"),
                    "--updated-running-mean", path("updated_mean"), "--updated-running-var", path("updated_var")],
                   check=True, env=env)
    subprocess.run([binary, "backward", "--input", path("x"), "--grad-output", path("dy"), "--grad-input", path("dx"),
                    *layout, "--gamma", path("gamma"), "--eps", str(EPS), "--grad-gamma", path("dgamma"),
                    "--grad-beta", path("dbeta")], check=True, env=env)
    return {"y": np.load(path("y")).transpose(back), "running_var": np.load(path("updated_var")),
            "dx": np.load(path("dx")).transpose(back), "dgamma": np.load(path("dgamma")),
            "dbeta": np.load(path("dbeta"))}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary", help="a release build of the batchnorm command")
    parser.add_argument("--threads", type=int, default=2, help="threads for both (default 2)")
    parser.add_argument("--seed", type=int, default=3)
    arguments = parser.parse_args()
    rng = np.random.default_rng(arguments.seed)
    quantities = ["y", "running_var", "dx", "dgamma", "dbeta"]
    print("scaled error |a - e| / max(1, |e|), ours / torch; M = values per channel")
    with tempfile.TemporaryDirectory() as directory:
        for shape, channels_last, offset in CASES:
            x = (rng.standard_normal(shape) * 2 + offset).astype(np.float32)
            dy = rng.standard_normal(shape).astype(np.float32)
            gamma = rng.standard_normal(shape[1]).astype(np.float32)
            beta = rng.standard_normal(shape[1]).astype(np.float32)
            running_var = np.ones(shape[1], np.float32)
            expected = reference(x, dy, gamma, beta, running_var)
            ours = our_results(arguments.binary, x, dy, gamma, beta, running_var, channels_last, arguments.threads,
                               directory)
            theirs = torch_results(x, dy, gamma, beta, running_var, channels_last, arguments.threads)
            cells = "  ".join(f"{q} {scaled_error(ours[q], expected[q]):.1e} / {scaled_error(theirs[q], expected[q]):.1e}"
                              for q in quantities)
            label = "x".join(map(str, shape)) + (" channels-last" if channels_last else " channels-first")
            print(f"{label} offset {offset:g} M={x.size // shape[1]}: {cells}", flush=True)


if __name__ == "__main__":
    main()
