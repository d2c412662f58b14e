#!/usr/bin/env python3
"""Seeded random shapes through `batchnorm forward` and `batchnorm backward`, against a long-double reference.

Usage: python3 scripts/shape_sweep.py PATH/TO/batchnorm [--seed S] [--cases N] [--max-elements E] [--threads 1,2] [--wide]

scripts/e2e_cli.py checks fixed shapes chosen to reach each loop. This sweep draws the shapes instead, so the
loops also meet channel counts, ranks, run lengths and sizes nobody picked. Per case: a layout, a precision, rank
2-5, a channel count (40% under a vector of 16, the rest from widths around the vector, tile and cache-line edges
up to 6,144; with --wide all from 8,191-65,537, around the thresholds where the per-channel steps and the partial
sums' merge go over the threads), a size log-uniform up to --max-elements, an inner (spatial) size of 1-16 in half
the rank-3+ cases (channels-first runs shorter than a vector), 1 or 2 threads (OPENBLAS_NUM_THREADS, which
OpenBLAS caps at the core count; --threads draws from other counts on larger machines), training or inference, an
epilogue (none, ReLU, add, add + ReLU), affine or not, and data with a mean offset of up to 50 over a spread down
to 0.05, sometimes a constant channel, one NaN or infinity, or a first sample 30 or 1,000 spreads above the others
(the moments' exact fallback). It runs the forward (output, saved and updated statistics), then the backward with
that forward's `y`: dx, and dgamma and dbeta (in inference half the cases ask for dx alone, the frozen form), and
dresidual with a residual.

The references are e2e_cli's, evaluated in np.longdouble (a 64-bit significand on x86), so that the float64
checks measure the tool's rounding and not NumPy float64's: on a channel with mean 50 and spread 0.05 NumPy's
own float64 `y` is 1.5e-12 off while the tool's is 4e-16.

Tolerances (T = 1e-5 for float32, 1e-12 for float64, as in e2e_cli), on |actual - expected| / scale, with
NaN matching NaN and equal infinities matching:
- y, saved and running statistics, inference dx, dresidual: scale max(1, |expected|), e2e_cli's measure;
- training dx = g * invstd / M * (M * dy - dbeta - xhat * dgamma): scale max(1, |g * invstd / M| * (M |dy| +
  |dbeta| + |xhat * dgamma|)), the size of the terms the formula cancels. With M = 2 the exact dx is near 0
  while each term is O(invstd), so e2e_cli's measure would ask for more than the formula's inputs carry;
- dgamma, dbeta: scale max(1, |expected|, sum |term| / SHARE), SHARE 5 for float32 and 100 for float64. The
  float32 kernels round each product dz * (x - c) to float32 (at most u/2 of its term, u = 2^-24) and add up
  to 64 of them per SIMD lane in float32 before Double takes over (each addition at most u/2 of a partial
  sum no larger than the lane's terms), as Numerics.md states: at most (64 + 1) * u/2 = 1.94e-6 of the
  terms' absolute sum, within T/5 = 2e-6. The rounded products alone reach 0.96u of it on a 12,289-channel
  case even with exact sums, and the lanes 2.6u, so a bound of a few u fails by chance on wide channel
  counts (seed 15, --wide, case 54 did at 1e-7 = 1.7u). A sum of a wrong channel, slice or center is off by
  whole terms, far beyond it. For float64 T/100 = 1e-14 (90u) stands: it has held on every sweep.

Prints one line per failed check, one line every 10 cases, and `sweep: N cases, M failed checks`; exits 1 if
any check failed. The seed and case number of a failure reproduce it.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import e2e_cli as E  # noqa: E402  (the references)

E.REFERENCE = np.longdouble

WIDTHS = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 96, 127, 128, 129, 255, 256, 257,
          384, 511, 512, 513, 1000, 1023, 1024, 1025, 1032, 1536, 2040, 2047, 2048, 2049, 3000, 4096, 4097, 6144]
# dgamma and dbeta: the share of the terms' absolute sum their tolerance scales with (the docstring's bound).
SUM_SHARE = {np.dtype(np.float32): 5, np.dtype(np.float64): 100}
# Drawn for 40% of the cases: channel counts under a vector of 16, where the kernels repeat the per-channel
# coefficients across a vector (channels-first runs shorter than a vector, channels-last rows).
NARROW = [1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 15]
# Drawn for every case with --wide: channel counts around the thresholds where the per-channel steps split their
# channels over the threads (8,192) and the threads merge the parts' partial sums (32,768 positions), so that
# few rows of many channels meet those splits with slices that are not whole vectors.
WIDE = [8191, 8192, 8193, 12289, 16384, 20003, 32767, 32768, 32769, 40000, 65536, 65537]


class Sweep:
    def __init__(self, binary, directory, seed, thread_choices=(1, 2), wide=False):
        self.binary, self.directory, self.seed, self.wide = binary, directory, seed, wide
        self.thread_choices = list(thread_choices)
        self.rng = np.random.default_rng(seed)
        self.failures = 0

    def path(self, name):
        return os.path.join(self.directory, name)

    def run(self, args, threads):
        env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
        return subprocess.run([self.binary, *args], capture_output=True, text=True, env=env, timeout=600)

    def check(self, label, name, expected, dtype, scale=None):
        actual = np.load(self.path(f"{name}.npy"))
        if actual.shape != expected.shape or actual.dtype != dtype:
            self.fail(label, f"{name}: got {actual.dtype}{actual.shape}, want {np.dtype(dtype)}{expected.shape}")
            return
        a = actual.astype(np.longdouble)
        scale = np.maximum(1.0, np.abs(expected) if scale is None else scale)
        with np.errstate(invalid="ignore"):
            same = (np.isnan(a) & np.isnan(expected)) | (a == expected)
            error = np.where(same, 0.0, np.abs(a - expected) / scale)
        error = np.where(np.isnan(error), np.inf, error)
        worst = float(error.max()) if error.size else 0.0
        if worst > E.TOLERANCE[dtype]:
            self.fail(label, f"{name}: scaled error {worst:.3e} > {E.TOLERANCE[dtype]:g}")

    def fail(self, label, detail):
        self.failures += 1
        print(f"FAIL seed {self.seed} {label}: {detail}", flush=True)

    def shape(self, layout, channels, max_elements):
        """A rank 2-5 shape with `channels` channels, M >= 2 values per channel (log-uniform up to
        `max_elements` in all), and an inner size (the spatial product) of 1-16 in half the rank-3+ cases
        and log-uniform in 1...M otherwise, so that channels-first runs shorter than a vector come up often."""
        rank = int(self.rng.integers(2, 6))
        low = np.log(2)
        values = max(2, int(np.exp(self.rng.uniform(low, max(low, np.log(max(2, max_elements // channels)))))))
        if rank == 2:
            inner = 1
        elif self.rng.random() < 0.5:
            inner = min(values, int(self.rng.integers(1, 17)))
        else:
            inner = max(1, min(values, int(np.exp(self.rng.uniform(0, np.log(values))))))
        batch = max(1, values // inner)   # batch * inner >= 2: inner 1 leaves batch = values
        spatial, rest = [], inner
        for axis in range(rank - 2):
            size = rest if axis == rank - 3 else max(1, round(rest ** self.rng.uniform(0.0, 1.0)))
            spatial.append(size)
            rest = max(1, rest // size)
        self.rng.shuffle(spatial)
        return (batch, channels, *spatial) if layout == "channels-first" else (batch, *spatial, channels)

    def case(self, index, max_elements):
        rng = self.rng
        layout = str(rng.choice(["channels-first", "channels-last"]))
        dtype = [np.float32, np.float64][int(rng.integers(0, 2))]
        channels = int(rng.choice(WIDE if self.wide else NARROW if rng.random() < 0.4 else WIDTHS))
        shape = self.shape(layout, channels, max_elements)
        offset, spread = float(rng.choice([0.0, 0.5, 3.0, 50.0])), float(rng.choice([1.0, 2.0, 0.05]))
        threads = int(rng.choice(self.thread_choices))
        epilogue = str(rng.choice(["none", "relu", "add", "add-relu"]))
        mode = str(rng.choice(["training", "inference"]))
        affine = bool(rng.random() < 0.8)
        label = (f"case {index}: {np.dtype(dtype).name} {layout} {shape}, offset {offset}, spread {spread}, "
                 f"{threads} thread(s), {epilogue}, {mode}, {'affine' if affine else 'non-affine'}")

        x = (rng.standard_normal(shape) * spread + offset).astype(dtype)
        if rng.random() < 0.1:
            index_of = [slice(None)] * len(shape)
            index_of[E.channel_axis(x, layout)] = int(rng.integers(0, channels))
            x[tuple(index_of)] = dtype(offset)
            label += ", a constant channel"
        if rng.random() < 0.15:
            x.reshape(-1)[int(rng.integers(0, x.size))] = rng.choice([np.nan, np.inf, -np.inf])
            label += ", one NaN or infinity"
        if rng.random() < 0.1:
            # A trend: the first sample far above the others, so that a shift taken from the first values
            # lies more than a standard deviation from the mean and the exact fallback runs.
            x[0] = (x[0].astype(np.float64) + float(rng.choice([30.0, 1000.0])) * spread).astype(dtype)
            label += ", the first sample far off"
        dy = rng.standard_normal(shape).astype(dtype)
        residual = rng.standard_normal(shape).astype(dtype)
        gamma = (rng.standard_normal(channels) * 0.5 + 1).astype(dtype)
        beta = rng.standard_normal(channels).astype(dtype)
        running_mean = (rng.standard_normal(channels) * spread + offset).astype(dtype)
        running_var = ((np.abs(rng.standard_normal(channels)) + 0.5) * spread * spread).astype(dtype)
        for name, array in [("x", x), ("dy", dy), ("r", residual), ("g", gamma), ("b", beta),
                            ("rm", running_mean), ("rv", running_var)]:
            np.save(self.path(f"{name}.npy"), array)
        for name in ["y", "sm", "si", "nrm", "nrv", "dx", "dg", "db", "dr"]:
            if os.path.exists(self.path(f"{name}.npy")):
                os.remove(self.path(f"{name}.npy"))

        relu, add = epilogue in ("relu", "add-relu"), epilogue in ("add", "add-relu")
        g, b = (gamma, beta) if affine else (None, None)
        affine_args = ["--gamma", self.path("g.npy"), "--beta", self.path("b.npy")] if affine else []
        running = ["--running-mean", self.path("rm.npy"), "--running-var", self.path("rv.npy")]
        activation = ["--activation", "relu" if relu else "none"]
        statistics = (["--updated-running-mean", self.path("nrm.npy"), "--updated-running-var", self.path("nrv.npy"),
                       "--saved-mean", self.path("sm.npy"), "--saved-invstd", self.path("si.npy")]
                      if mode == "training" else [])
        result = self.run(["forward", "--input", self.path("x.npy"), "--output", self.path("y.npy"), "--layout", layout,
                           "--mode", mode, *affine_args, *running, *activation, *statistics,
                           *(["--residual", self.path("r.npy")] if add else [])], threads)
        if result.returncode != 0:
            self.fail(label, f"forward exit {result.returncode}: {result.stderr.strip()}")
            return
        with np.errstate(invalid="ignore", over="ignore"):
            if mode == "training":
                plain, mean, invstd, new_mean, new_var = E.ref_forward_training(x, layout, g, b, running_mean,
                                                                                running_var, 0.1)
                for name, expected in [("sm", mean), ("si", invstd), ("nrm", new_mean), ("nrv", new_var)]:
                    self.check(label, name, expected, dtype)
            else:
                plain = E.ref_forward_inference(x, layout, g, b, running_mean, running_var)
                mean = running_mean.astype(np.longdouble)
                invstd = 1 / np.sqrt(running_var.astype(np.longdouble) + E.EPS)
            self.check(label, "y", E.epilogue(plain, residual if add else None, relu), dtype)

        y = np.load(self.path("y.npy"))
        dx_alone = mode == "inference" and bool(rng.random() < 0.5)
        result = self.run(["backward", "--input", self.path("x.npy"), "--grad-output", self.path("dy.npy"),
                           "--grad-input", self.path("dx.npy"), "--layout", layout, "--mode", mode,
                           *(["--gamma", self.path("g.npy")] if affine else []),
                           *(running if mode == "inference" else []), *activation,
                           *(["--forward-output", self.path("y.npy")] if relu else []),
                           *(["--residual", self.path("r.npy"), "--grad-residual", self.path("dr.npy")] if add else []),
                           *([] if dx_alone else ["--grad-gamma", self.path("dg.npy"), "--grad-beta", self.path("db.npy")])],
                          threads)
        if result.returncode != 0:
            self.fail(label + (", dx alone" if dx_alone else ""), f"backward exit {result.returncode}: {result.stderr.strip()}")
            return
        label += ", backward" + (" dx alone" if dx_alone else "")
        with np.errstate(invalid="ignore", over="ignore"):
            dz = E.relu_mask(dy, y) if relu else dy.astype(np.longdouble)
            axes = E.reduce_axes(x, layout)
            xhat = (x.astype(np.longdouble) - E.per_channel(mean, x, layout)) * E.per_channel(invstd, x, layout)
            if mode == "training":
                dx, dgamma, dbeta = E.ref_backward_training(x, dz, layout, g)
                count = x.size // channels
                k = np.abs((1 if g is None else g.astype(np.longdouble)) * invstd / count)
                terms = (count * np.abs(dz) + E.per_channel(np.abs(dbeta), x, layout)
                         + np.abs(xhat * E.per_channel(dgamma, x, layout)))
                self.check(label, "dx", dx, dtype, scale=E.per_channel(k, x, layout) * terms)
            else:
                dx, dgamma, dbeta = E.ref_backward_inference(x, dz, layout, g, running_mean, running_var)
                self.check(label, "dx", dx, dtype)
            if not dx_alone:
                share = SUM_SHARE[np.dtype(dtype)]
                self.check(label, "dg", dgamma, dtype,
                           scale=np.maximum(np.abs(dgamma), np.abs(dz * xhat).sum(axis=axes) / share))
                self.check(label, "db", dbeta, dtype, scale=np.maximum(np.abs(dbeta), np.abs(dz).sum(axis=axes) / share))
            if add:
                self.check(label, "dr", dz, dtype)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("binary")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--max-elements", type=int, default=3_000_000)
    parser.add_argument("--threads", default="1,2", help="thread counts to draw from, comma-separated (default 1,2)")
    parser.add_argument("--wide", action="store_true", help="draw every channel count from 8,191-65,537 (WIDE)")
    args = parser.parse_args()
    if np.finfo(np.longdouble).nmant < 63:
        print("shape_sweep: np.longdouble is no wider than float64 here; the float64 checks of badly conditioned "
              "cases may fail on the reference's own rounding", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="shape-sweep-") as directory:
        sweep = Sweep(os.path.abspath(args.binary), directory, args.seed,
                      [int(count) for count in args.threads.split(",")], args.wide)
        for index in range(args.cases):
            sweep.case(index, args.max_elements)
            if index % 10 == 9:
                print(f"sweep: {index + 1} cases", flush=True)
    print(f"sweep: seed {args.seed}, {args.cases} cases, {sweep.failures} failed checks")
    sys.exit(1 if sweep.failures else 0)


if __name__ == "__main__":
    main()
