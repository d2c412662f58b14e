#!/usr/bin/env python3
"""End-to-end checks of `batchnorm forward` and `batchnorm backward` against NumPy.

Usage: python3 scripts/e2e_cli.py PATH/TO/batchnorm

Writes seeded random .npy inputs to a temporary directory, runs the tool on them, and compares
every output with a float64 NumPy implementation of PyTorch's batch_norm (biased variance to
normalize, unbiased variance in the running update). Then runs error cases and checks that each
exits non-zero with exactly one stderr line `batchnorm: error: ...` and leaves the outputs alone.
Prints one line per check and ends with `e2e: N passed, M failed`; exits 1 if anything failed.
"""

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
except ImportError:
    sys.exit("e2e_cli.py needs NumPy: install it with `python3 -m pip install numpy` "
             "or `apt-get install python3-numpy`")

# Tolerances: |actual - expected| <= tol * max(1, |expected|) elementwise, with `expected` the float64
# reference computed from the same (already rounded) inputs.
#   float32: 1e-5, i.e. ~100 ulps at magnitude 1; the data here are O(1) with M <= 512 values per
#            channel, so rounding in the reductions stays far below that.
#   float64: 1e-12, the same margin over float64's ulp (2.2e-16) and summation-order differences.
TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}

EPS = 1e-5

# The references' working precision. float64 here; scripts/shape_sweep.py sets np.longdouble (x86's 64-bit
# significand), so that its float64 checks on badly conditioned data (a large mean offset with a small spread)
# measure the tool's rounding rather than the reference's.
REFERENCE = np.float64

passed = 0
failed = 0


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"PASS {name}")
    else:
        failed += 1
        print(f"FAIL {name}{': ' + detail if detail else ''}")


# MARK: - Reference (in REFERENCE precision, PyTorch semantics)

def channel_axis(x, layout):
    return 1 if layout == "channels-first" else x.ndim - 1


def per_channel(v, x, layout):
    """A length-C vector broadcast against x."""
    shape = [1] * x.ndim
    shape[channel_axis(x, layout)] = -1
    return np.asarray(v, dtype=REFERENCE).reshape(shape)


def reduce_axes(x, layout):
    c = channel_axis(x, layout)
    return tuple(a for a in range(x.ndim) if a != c)


def ref_forward_training(x, layout, gamma, beta, rm, rv, momentum, eps=EPS):
    """Returns y, saved mean, saved invstd, updated running mean, updated running var (PyTorch)."""
    x = x.astype(REFERENCE)
    axes = reduce_axes(x, layout)
    m = x.size // x.shape[channel_axis(x, layout)]
    mean = x.mean(axis=axes)
    var = ((x - per_channel(mean, x, layout)) ** 2).mean(axis=axes)   # biased, for normalization
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - per_channel(mean, x, layout)) * per_channel(invstd, x, layout)
    y = xhat if gamma is None else xhat * per_channel(gamma, x, layout) + per_channel(beta, x, layout)
    factor = 1.0 if momentum is None else momentum   # cumulative average after one batch: factor 1
    rm = np.zeros_like(mean) if rm is None else rm.astype(REFERENCE)
    rv = np.ones_like(mean) if rv is None else rv.astype(REFERENCE)
    new_rm = (1 - factor) * rm + factor * mean
    new_rv = (1 - factor) * rv + factor * var * m / (m - 1)            # unbiased in the running update
    return y, mean, invstd, new_rm, new_rv


def ref_forward_inference(x, layout, gamma, beta, rm, rv, eps=EPS):
    x = x.astype(REFERENCE)
    invstd = 1.0 / np.sqrt(rv.astype(REFERENCE) + eps)
    y = (x - per_channel(rm, x, layout)) * per_channel(invstd, x, layout)
    return y if gamma is None else y * per_channel(gamma, x, layout) + per_channel(beta, x, layout)


def ref_backward_training(x, dy, layout, gamma, eps=EPS):
    """dx = gamma * invstd / M * (M * dy - dbeta - xhat * dgamma); returns dx, dgamma, dbeta."""
    x = x.astype(REFERENCE)
    dy = dy.astype(REFERENCE)
    axes = reduce_axes(x, layout)
    m = x.size // x.shape[channel_axis(x, layout)]
    mean = x.mean(axis=axes)
    var = ((x - per_channel(mean, x, layout)) ** 2).mean(axis=axes)
    invstd = 1.0 / np.sqrt(var + eps)
    xhat = (x - per_channel(mean, x, layout)) * per_channel(invstd, x, layout)
    dbeta = dy.sum(axis=axes)
    dgamma = (dy * xhat).sum(axis=axes)
    g = np.ones_like(mean) if gamma is None else gamma.astype(REFERENCE)
    dx = per_channel(g * invstd / m, x, layout) * (
        m * dy - per_channel(dbeta, x, layout) - xhat * per_channel(dgamma, x, layout))
    return dx, dgamma, dbeta


def ref_backward_inference(x, dy, layout, gamma, rm, rv, eps=EPS):
    x = x.astype(REFERENCE)
    dy = dy.astype(REFERENCE)
    axes = reduce_axes(x, layout)
    invstd = 1.0 / np.sqrt(rv.astype(REFERENCE) + eps)
    xhat = (x - per_channel(rm, x, layout)) * per_channel(invstd, x, layout)
    g = np.ones_like(invstd) if gamma is None else gamma.astype(REFERENCE)
    dx = dy * per_channel(g * invstd, x, layout)
    return dx, (dy * xhat).sum(axis=axes), dy.sum(axis=axes)


def relu_mask(dy, y):
    """PyTorch's threshold_backward(dy, y, 0): dy where y > 0 (or y is NaN), 0 where y <= 0."""
    return np.where(y.astype(REFERENCE) <= 0, 0.0, dy.astype(REFERENCE))


def epilogue(y, residual, relu):
    """relu(y + residual) in REFERENCE precision, each step only when asked (NaN stays NaN)."""
    if residual is not None:
        y = y + residual.astype(REFERENCE)
    return np.where(y < 0, 0.0, y) if relu else y


# MARK: - Running the tool

class Runner:
    def __init__(self, binary, directory):
        self.binary = binary
        self.directory = directory
        self.rng = np.random.default_rng(20240611)

    def path(self, name):
        return os.path.join(self.directory, name)

    def save(self, name, array):
        np.save(self.path(name), array)
        return self.path(name)

    def random(self, name, shape, dtype, scale=1.0, offset=0.0):
        array = (self.rng.standard_normal(shape) * scale + offset).astype(dtype)
        self.save(name, array)
        return array

    def run(self, *args, env=None):
        return subprocess.run([self.binary, *args], capture_output=True, text=True, timeout=30, env=env)


def check_success(name, result):
    ok = result.returncode == 0 and result.stderr == ""
    report(ok, f"{name}: exit 0, quiet stderr",
           f"exit {result.returncode}, stderr {result.stderr.strip()!r}")
    return ok


def check_output(name, path, expected, dtype):
    """The file at `path` has `expected`'s shape, dtype `dtype`, and values within tolerance."""
    if not os.path.exists(path):
        report(False, name, "output file missing")
        return
    actual = np.load(path)
    if actual.dtype != dtype or actual.shape != expected.shape:
        report(False, name, f"got {actual.dtype}{actual.shape}, want {np.dtype(dtype)}{expected.shape}")
        return
    tol = TOLERANCE[dtype]
    error = np.abs(actual.astype(np.float64) - expected) / np.maximum(1.0, np.abs(expected))
    worst = float(error.max()) if error.size else 0.0
    report(worst <= tol, f"{name} (max scaled error {worst:.2e}, tolerance {tol:g})")


# MARK: - Numerical checks

def numerical_checks(r):
    f32, f64 = np.float32, np.float64

    # Forward training, float32 NCHW, affine, given running statistics, saved statistics.
    x = r.random("fwd32_x.npy", (4, 3, 5, 6), f32, scale=2.0, offset=0.5)
    gamma = r.random("fwd32_g.npy", (3,), f32, scale=0.5, offset=1.0)
    beta = r.random("fwd32_b.npy", (3,), f32)
    rm = r.random("fwd32_rm.npy", (3,), f32)
    rv = np.abs(r.random("fwd32_rv_raw.npy", (3,), f32)) + f32(0.5)
    r.save("fwd32_rv.npy", rv)
    res = r.run("forward", "--input", r.path("fwd32_x.npy"), "--output", r.path("fwd32_y.npy"),
                "--gamma", r.path("fwd32_g.npy"), "--beta", r.path("fwd32_b.npy"),
                "--running-mean", r.path("fwd32_rm.npy"), "--running-var", r.path("fwd32_rv.npy"),
                "--updated-running-mean", r.path("fwd32_nrm.npy"),
                "--updated-running-var", r.path("fwd32_nrv.npy"),
                "--saved-mean", r.path("fwd32_sm.npy"), "--saved-invstd", r.path("fwd32_si.npy"))
    name = "forward training float32 NCHW affine"
    if check_success(name, res):
        y, mean, invstd, nrm, nrv = ref_forward_training(x, "channels-first", gamma, beta, rm, rv, 0.1)
        check_output(f"{name}: output", r.path("fwd32_y.npy"), y, f32)
        check_output(f"{name}: saved mean", r.path("fwd32_sm.npy"), mean, f32)
        check_output(f"{name}: saved invstd", r.path("fwd32_si.npy"), invstd, f32)
        check_output(f"{name}: updated running mean", r.path("fwd32_nrm.npy"), nrm, f32)
        check_output(f"{name}: updated running var", r.path("fwd32_nrv.npy"), nrv, f32)

    # Forward training, float64 NHWC, non-affine, momentum none, running stats from PyTorch's 0 / 1.
    x = r.random("fwd64_x.npy", (3, 4, 5, 2), f64, scale=3.0, offset=-1.0)
    res = r.run("forward", "--input", r.path("fwd64_x.npy"), "--output", r.path("fwd64_y.npy"),
                "--layout", "channels-last", "--momentum", "none",
                "--updated-running-mean", r.path("fwd64_nrm.npy"),
                "--updated-running-var", r.path("fwd64_nrv.npy"),
                "--saved-mean", r.path("fwd64_sm.npy"), "--saved-invstd", r.path("fwd64_si.npy"))
    name = "forward training float64 NHWC non-affine momentum none"
    if check_success(name, res):
        y, mean, invstd, nrm, nrv = ref_forward_training(x, "channels-last", None, None, None, None, None)
        check_output(f"{name}: output", r.path("fwd64_y.npy"), y, f64)
        check_output(f"{name}: saved mean", r.path("fwd64_sm.npy"), mean, f64)
        check_output(f"{name}: saved invstd", r.path("fwd64_si.npy"), invstd, f64)
        check_output(f"{name}: updated running mean", r.path("fwd64_nrm.npy"), nrm, f64)
        check_output(f"{name}: updated running var", r.path("fwd64_nrv.npy"), nrv, f64)

    # Forward inference, float32 NCL, affine (reuses the float32 parameters and running statistics).
    x = r.random("inf32_x.npy", (5, 3, 7), f32, scale=1.5)
    res = r.run("forward", "--input", r.path("inf32_x.npy"), "--output", r.path("inf32_y.npy"),
                "--mode", "inference", "--gamma", r.path("fwd32_g.npy"), "--beta", r.path("fwd32_b.npy"),
                "--running-mean", r.path("fwd32_rm.npy"), "--running-var", r.path("fwd32_rv.npy"))
    name = "forward inference float32 NCL affine"
    if check_success(name, res):
        check_output(f"{name}: output", r.path("inf32_y.npy"),
                     ref_forward_inference(x, "channels-first", gamma, beta, rm, rv), f32)

    # Backward training, float64 NCHW, affine.
    x = r.random("bwd64_x.npy", (4, 3, 4, 4), f64, scale=2.0, offset=3.0)
    dy = r.random("bwd64_dy.npy", (4, 3, 4, 4), f64)
    gamma64 = r.random("bwd64_g.npy", (3,), f64, scale=0.5, offset=1.0)
    res = r.run("backward", "--input", r.path("bwd64_x.npy"), "--grad-output", r.path("bwd64_dy.npy"),
                "--grad-input", r.path("bwd64_dx.npy"), "--gamma", r.path("bwd64_g.npy"),
                "--grad-gamma", r.path("bwd64_dg.npy"), "--grad-beta", r.path("bwd64_db.npy"))
    name = "backward training float64 NCHW affine"
    if check_success(name, res):
        dx, dg, db = ref_backward_training(x, dy, "channels-first", gamma64)
        check_output(f"{name}: grad input", r.path("bwd64_dx.npy"), dx, f64)
        check_output(f"{name}: grad gamma", r.path("bwd64_dg.npy"), dg, f64)
        check_output(f"{name}: grad beta", r.path("bwd64_db.npy"), db, f64)

    # Backward inference, float32 NC, affine (parameters and running statistics of the first case).
    x = r.random("binf32_x.npy", (16, 3), f32)
    dy = r.random("binf32_dy.npy", (16, 3), f32)
    res = r.run("backward", "--input", r.path("binf32_x.npy"), "--grad-output", r.path("binf32_dy.npy"),
                "--grad-input", r.path("binf32_dx.npy"), "--mode", "inference",
                "--gamma", r.path("fwd32_g.npy"),
                "--running-mean", r.path("fwd32_rm.npy"), "--running-var", r.path("fwd32_rv.npy"),
                "--grad-gamma", r.path("binf32_dg.npy"), "--grad-beta", r.path("binf32_db.npy"))
    name = "backward inference float32 NC affine"
    if check_success(name, res):
        dx, dg, db = ref_backward_inference(x, dy, "channels-first", gamma, rm, rv)
        check_output(f"{name}: grad input", r.path("binf32_dx.npy"), dx, f32)
        check_output(f"{name}: grad gamma", r.path("binf32_dg.npy"), dg, f32)
        check_output(f"{name}: grad beta", r.path("binf32_db.npy"), db, f32)


def layout_and_precision_checks(r):
    """Channels-last backward, float64 inference, a non-default epsilon and the momentum extremes:
    paths the cases above leave out."""
    f32, f64 = np.float32, np.float64

    # Backward training, float32 NHWC, affine, epsilon 0.5 (large enough to change every digit).
    x = r.random("bwdcl_x.npy", (3, 4, 5, 6), f32, scale=0.8, offset=2.0)
    dy = r.random("bwdcl_dy.npy", (3, 4, 5, 6), f32)
    gamma = r.random("bwdcl_g.npy", (6,), f32, scale=0.5, offset=1.0)
    res = r.run("backward", "--input", r.path("bwdcl_x.npy"), "--grad-output", r.path("bwdcl_dy.npy"),
                "--grad-input", r.path("bwdcl_dx.npy"), "--layout", "channels-last", "--eps", "0.5",
                "--gamma", r.path("bwdcl_g.npy"),
                "--grad-gamma", r.path("bwdcl_dg.npy"), "--grad-beta", r.path("bwdcl_db.npy"))
    name = "backward training float32 NHWC affine eps 0.5"
    if check_success(name, res):
        dx, dg, db = ref_backward_training(x, dy, "channels-last", gamma, eps=0.5)
        check_output(f"{name}: grad input", r.path("bwdcl_dx.npy"), dx, f32)
        check_output(f"{name}: grad gamma", r.path("bwdcl_dg.npy"), dg, f32)
        check_output(f"{name}: grad beta", r.path("bwdcl_db.npy"), db, f32)

    # Backward inference, float64 NDHWC, affine.
    x = r.random("binfcl_x.npy", (2, 3, 2, 4, 5), f64)
    dy = r.random("binfcl_dy.npy", (2, 3, 2, 4, 5), f64)
    gamma = r.random("binfcl_g.npy", (5,), f64, scale=0.5, offset=1.0)
    rm = r.random("binfcl_rm.npy", (5,), f64)
    rv = np.abs(r.random("binfcl_rv_raw.npy", (5,), f64)) + 0.5
    r.save("binfcl_rv.npy", rv)
    res = r.run("backward", "--input", r.path("binfcl_x.npy"), "--grad-output", r.path("binfcl_dy.npy"),
                "--grad-input", r.path("binfcl_dx.npy"), "--layout", "channels-last", "--mode", "inference",
                "--gamma", r.path("binfcl_g.npy"),
                "--running-mean", r.path("binfcl_rm.npy"), "--running-var", r.path("binfcl_rv.npy"),
                "--grad-gamma", r.path("binfcl_dg.npy"), "--grad-beta", r.path("binfcl_db.npy"))
    name = "backward inference float64 NDHWC affine"
    if check_success(name, res):
        dx, dg, db = ref_backward_inference(x, dy, "channels-last", gamma, rm, rv)
        check_output(f"{name}: grad input", r.path("binfcl_dx.npy"), dx, f64)
        check_output(f"{name}: grad gamma", r.path("binfcl_dg.npy"), dg, f64)
        check_output(f"{name}: grad beta", r.path("binfcl_db.npy"), db, f64)

    # Forward inference, float64 NCHW, affine, epsilon 0.25.
    x = r.random("inf64_x.npy", (3, 4, 3, 5), f64, scale=2.0)
    gamma = r.random("inf64_g.npy", (4,), f64, scale=0.5, offset=1.0)
    beta = r.random("inf64_b.npy", (4,), f64)
    rm = r.random("inf64_rm.npy", (4,), f64)
    rv = np.abs(r.random("inf64_rv_raw.npy", (4,), f64)) + 0.5
    r.save("inf64_rv.npy", rv)
    res = r.run("forward", "--input", r.path("inf64_x.npy"), "--output", r.path("inf64_y.npy"),
                "--mode", "inference", "--eps", "0.25", "--gamma", r.path("inf64_g.npy"),
                "--beta", r.path("inf64_b.npy"),
                "--running-mean", r.path("inf64_rm.npy"), "--running-var", r.path("inf64_rv.npy"))
    name = "forward inference float64 NCHW affine eps 0.25"
    if check_success(name, res):
        check_output(f"{name}: output", r.path("inf64_y.npy"),
                     ref_forward_inference(x, "channels-first", gamma, beta, rm, rv, eps=0.25), f64)

    # Momentum 0 keeps the running statistics, momentum 1 replaces them (float64 NCL).
    x = r.random("mom_x.npy", (6, 3, 4), f64, scale=2.0, offset=1.0)
    rm3 = r.random("mom_rm.npy", (3,), f64)
    rv3 = np.abs(r.random("mom_rv_raw.npy", (3,), f64)) + 0.5
    r.save("mom_rv.npy", rv3)
    for momentum in ("0", "1"):
        res = r.run("forward", "--input", r.path("mom_x.npy"), "--output", r.path(f"mom{momentum}_y.npy"),
                    "--momentum", momentum, "--eps", "0.125",
                    "--running-mean", r.path("mom_rm.npy"), "--running-var", r.path("mom_rv.npy"),
                    "--updated-running-mean", r.path(f"mom{momentum}_nrm.npy"),
                    "--updated-running-var", r.path(f"mom{momentum}_nrv.npy"),
                    "--saved-invstd", r.path(f"mom{momentum}_si.npy"))
        name = f"forward training float64 NCL momentum {momentum} eps 0.125"
        if check_success(name, res):
            y, _, invstd, nrm, nrv = ref_forward_training(x, "channels-first", None, None, rm3, rv3,
                                                          float(momentum), eps=0.125)
            check_output(f"{name}: output", r.path(f"mom{momentum}_y.npy"), y, f64)
            check_output(f"{name}: saved invstd", r.path(f"mom{momentum}_si.npy"), invstd, f64)
            check_output(f"{name}: updated running mean", r.path(f"mom{momentum}_nrm.npy"), nrm, f64)
            check_output(f"{name}: updated running var", r.path(f"mom{momentum}_nrv.npy"), nrv, f64)


# MARK: - Fused ReLU and residual add

def activation_checks(r):
    """--activation relu and --residual forward (training, inference) and backward (with
    --forward-output, --grad-residual), against relu(batch_norm(x) + r) and threshold_backward."""
    f32, f64 = np.float32, np.float64
    # The small cases, then shapes whose rows and runs take the AVX2 loops' other walks where the CPU has
    # AVX2 (WideLoopsTemplate.h, RunLoopsTemplate.h): 2,048-channel rows of whole cache lines (channel
    # tiles with a residual, row blocks without), 2,040 channels (row blocks, a lane tail), float64 rows of
    # 1,032 (ragged tiles), channels-first runs of 49 (the run loops), and a wide [N, C].
    cases = [("float32 NCHW", f32, (4, 3, 5, 6), "channels-first"),
             ("float64 NHWC", f64, (3, 4, 5, 2), "channels-last"),
             ("float32 NHWC 2048 channels", f32, (2, 3, 3, 2048), "channels-last"),
             ("float32 NHWC 2040 channels", f32, (2, 2, 3, 2040), "channels-last"),
             ("float64 NHWC 1032 channels", f64, (2, 3, 3, 1032), "channels-last"),
             ("float32 NCHW runs of 49", f32, (3, 40, 7, 7), "channels-first"),
             ("float32 [N, C] 70x1648", f32, (70, 1648), "channels-first")]
    for index, (label, dtype, shape, layout) in enumerate(cases):
        tag = f"{np.dtype(dtype).name}{index}"
        channels = shape[1] if layout == "channels-first" else shape[-1]
        x = r.random(f"act_{tag}_x.npy", shape, dtype, scale=2.0, offset=0.5)
        res = r.random(f"act_{tag}_r.npy", shape, dtype)
        dy = r.random(f"act_{tag}_dy.npy", shape, dtype)
        gamma = r.random(f"act_{tag}_g.npy", (channels,), dtype, scale=0.5, offset=1.0)
        beta = r.random(f"act_{tag}_b.npy", (channels,), dtype)
        rm = r.random(f"act_{tag}_rm.npy", (channels,), dtype)
        rv = (np.abs(r.random(f"act_{tag}_rv_raw.npy", (channels,), dtype)) + 0.5).astype(dtype)
        r.save(f"act_{tag}_rv.npy", rv)
        params = ["--layout", layout, "--gamma", r.path(f"act_{tag}_g.npy"), "--beta", r.path(f"act_{tag}_b.npy")]
        running = ["--running-mean", r.path(f"act_{tag}_rm.npy"), "--running-var", r.path(f"act_{tag}_rv.npy")]
        for mode in ["training", "inference"]:
            for kind, activation, with_residual in [("relu", "relu", False), ("add-relu", "relu", True),
                                                    ("add", "none", True)]:
                name = f"{kind} {mode} {label}"
                y_path = r.path(f"act_{tag}_{mode}_{kind}_y.npy")
                extra = ["--residual", r.path(f"act_{tag}_r.npy")] if with_residual else []
                result = r.run("forward", "--input", r.path(f"act_{tag}_x.npy"), "--output", y_path,
                               "--mode", mode, "--activation", activation, *params, *running, *extra)
                if not check_success(f"forward {name}", result):
                    continue
                if mode == "training":
                    plain = ref_forward_training(x, layout, gamma, beta, rm, rv, 0.1)[0]
                else:
                    plain = ref_forward_inference(x, layout, gamma, beta, rm, rv)
                check_output(f"forward {name}: output", y_path,
                             epilogue(plain, res if with_residual else None, activation == "relu"), dtype)

                y = np.load(y_path)
                dx_path, dr_path = r.path(f"act_{tag}_{mode}_{kind}_dx.npy"), r.path(f"act_{tag}_{mode}_{kind}_dr.npy")
                dg_path, db_path = r.path(f"act_{tag}_{mode}_{kind}_dg.npy"), r.path(f"act_{tag}_{mode}_{kind}_db.npy")
                extra = ["--residual", r.path(f"act_{tag}_r.npy"), "--grad-residual", dr_path] if with_residual else []
                result = r.run("backward", "--input", r.path(f"act_{tag}_x.npy"), "--grad-output",
                               r.path(f"act_{tag}_dy.npy"), "--grad-input", dx_path, "--mode", mode,
                               "--activation", activation, "--forward-output", y_path, "--layout", layout,
                               "--gamma", r.path(f"act_{tag}_g.npy"), "--grad-gamma", dg_path, "--grad-beta", db_path,
                               *(running if mode == "inference" else []), *extra)
                if not check_success(f"backward {name}", result):
                    continue
                dz = relu_mask(dy, y) if activation == "relu" else dy.astype(np.float64)
                if mode == "training":
                    dx, dg, db = ref_backward_training(x, dz, layout, gamma)
                else:
                    dx, dg, db = ref_backward_inference(x, dz, layout, gamma, rm, rv)
                check_output(f"backward {name}: grad input", dx_path, dx, dtype)
                check_output(f"backward {name}: grad gamma", dg_path, dg, dtype)
                check_output(f"backward {name}: grad beta", db_path, db, dtype)
                if with_residual:
                    check_output(f"backward {name}: grad residual", dr_path, dz, dtype)
                if mode == "inference":
                    # Without --grad-gamma/--grad-beta: dx alone (frozen batch norm with fixed gamma and beta).
                    dx_only, dr_only = r.path(f"act_{tag}_{kind}_dx_only.npy"), r.path(f"act_{tag}_{kind}_dr_only.npy")
                    extra = (["--residual", r.path(f"act_{tag}_r.npy"), "--grad-residual", dr_only]
                             if with_residual else [])
                    result = r.run("backward", "--input", r.path(f"act_{tag}_x.npy"), "--grad-output",
                                   r.path(f"act_{tag}_dy.npy"), "--grad-input", dx_only, "--mode", mode,
                                   "--activation", activation, "--forward-output", y_path, "--layout", layout,
                                   "--gamma", r.path(f"act_{tag}_g.npy"), *running, *extra)
                    if check_success(f"backward {name} dx alone", result):
                        check_output(f"backward {name} dx alone: grad input", dx_only, dx, dtype)
                        if with_residual:
                            check_output(f"backward {name} dx alone: grad residual", dr_only, dz, dtype)


# MARK: - Folding

def ref_fold(weight, bias, rm, rv, gamma, beta, eps=EPS):
    """W' = W * scale along the first (out) axis, b' = (b - rm) * scale + beta, scale = g / sqrt(rv + eps)."""
    scale = (1.0 if gamma is None else gamma.astype(np.float64)) / np.sqrt(rv.astype(np.float64) + eps)
    w = weight.astype(np.float64) * scale.reshape([-1] + [1] * (weight.ndim - 1))
    b = (0.0 if bias is None else bias.astype(np.float64)) - rm.astype(np.float64)
    return w, b * scale + (0.0 if beta is None else beta.astype(np.float64))


def fold_checks(r):
    """batchnorm fold for the three weight layouts, with and without bias and affine parameters."""
    f32, f64 = np.float32, np.float64
    for name, dtype, shape, layout, has_bias, affine in [
            ("float32 out-in-kh-kw bias affine", f32, (6, 2, 3, 3), "out-in-kh-kw", True, True),
            ("float64 out-in no bias", f64, (5, 7), "out-in", False, True),
            ("float32 out-kh-kw-in non-affine", f32, (4, 3, 2, 5), "out-kh-kw-in", True, False)]:
        tag = name.replace(" ", "_")
        out = shape[0]
        w = r.random(f"fold_{tag}_w.npy", shape, dtype)
        b = r.random(f"fold_{tag}_b.npy", (out,), dtype) if has_bias else None
        rm = r.random(f"fold_{tag}_rm.npy", (out,), dtype)
        rv = (np.abs(r.random(f"fold_{tag}_rv_raw.npy", (out,), dtype)) + 0.5).astype(dtype)
        r.save(f"fold_{tag}_rv.npy", rv)
        g = r.random(f"fold_{tag}_g.npy", (out,), dtype, scale=0.5, offset=1.0) if affine else None
        be = r.random(f"fold_{tag}_be.npy", (out,), dtype) if affine else None
        args = ["fold", "--weight", r.path(f"fold_{tag}_w.npy"), "--weight-layout", layout,
                "--running-mean", r.path(f"fold_{tag}_rm.npy"), "--running-var", r.path(f"fold_{tag}_rv.npy"),
                "--folded-weight", r.path(f"fold_{tag}_fw.npy"), "--folded-bias", r.path(f"fold_{tag}_fb.npy")]
        if has_bias:
            args += ["--bias", r.path(f"fold_{tag}_b.npy")]
        if affine:
            args += ["--gamma", r.path(f"fold_{tag}_g.npy"), "--beta", r.path(f"fold_{tag}_be.npy")]
        if check_success(f"fold {name}", r.run(*args)):
            fw, fb = ref_fold(w, b, rm, rv, g, be)
            check_output(f"fold {name}: folded weight", r.path(f"fold_{tag}_fw.npy"), fw, dtype)
            check_output(f"fold {name}: folded bias", r.path(f"fold_{tag}_fb.npy"), fb, dtype)


def fold_error_checks(r):
    f32, f64 = np.float32, np.float64
    r.random("ferr_w.npy", (3, 4), f32)
    r.random("ferr_rm.npy", (3,), f32)
    r.random("ferr_rv.npy", (3,), f32)
    r.random("ferr_rv2.npy", (2,), f32)
    r.random("ferr_rv64.npy", (3,), f64)
    fw, fb = r.path("ferr_fw.npy"), r.path("ferr_fb.npy")

    def fold(*extra, layout="out-in", running_var="ferr_rv.npy"):
        return ["fold", "--weight", r.path("ferr_w.npy"), "--weight-layout", layout,
                "--running-mean", r.path("ferr_rm.npy"), "--running-var", r.path(running_var),
                "--folded-weight", fw, "--folded-bias", fb, *extra]

    check_error(r, "fold --weight-layout in-out", fold(layout="in-out"), fw,
                "The value 'in-out' is invalid for '--weight-layout <layout>'. Please provide one of 'out-in', 'out-in-kh-kw' or 'out-kh-kw-in'.")
    check_error(r, "fold rank 2 weight as out-in-kh-kw", fold(layout="out-in-kh-kw"), fw,
                "weight shape [3, 4] has rank 2 but layout out-in-kh-kw needs rank 4",
                preexisting=b"not touched\n")
    check_error(r, "fold running var of length 2", fold(running_var="ferr_rv2.npy"), fb,
                "--running-var '{d}/ferr_rv2.npy' has shape (2,) but needs (3,): one value per output channel of --weight")
    check_error(r, "fold float64 running var for a float32 weight", fold(running_var="ferr_rv64.npy"), fw,
                "--running-var '{d}/ferr_rv64.npy' holds float64 but --weight holds float32; every file must have the weight's dtype")
    check_error(r, "fold --gamma without --beta", fold("--gamma", r.path("ferr_rm.npy")), fw,
                "--gamma needs --beta as well")


# MARK: - Error cases

def check_error(r, name, args, output, message, preexisting=None):
    """The run fails with exactly the line `batchnorm: error: <message>` (`{d}` in `message` stands for
    the temporary directory) and `output` is not created (or, if it existed with `preexisting` bytes,
    is byte-identical afterwards). The whole message is compared, so swapped or misreported numbers
    fail."""
    if preexisting is not None:
        with open(output, "wb") as f:
            f.write(preexisting)
    elif os.path.exists(output):
        os.remove(output)
    result = r.run(*args)
    lines = result.stderr.splitlines()
    want = "batchnorm: error: " + message.format(d=r.directory)
    ok = (result.returncode != 0 and len(lines) == 1 and lines[0] == want and result.stderr.endswith("\n"))
    report(ok, f"error {name}: exit {result.returncode}, stderr {result.stderr.strip()!r}",
           f"want a non-zero exit and the one line {want!r}; got {len(lines)} line(s)")
    if preexisting is None:
        report(not os.path.exists(output), f"error {name}: output not created")
    else:
        with open(output, "rb") as f:
            unchanged = f.read() == preexisting
        report(unchanged, f"error {name}: pre-existing output byte-identical")


def error_checks(r):
    f32, f64 = np.float32, np.float64
    x = r.random("err_x.npy", (4, 3), f32)
    r.random("err_dy.npy", (4, 3), f32)
    r.random("err_g.npy", (3,), f32)
    r.random("err_b.npy", (3,), f32)
    out = r.path("err_out.npy")

    def forward(input_path, *extra):
        return ["forward", "--input", input_path, "--output", out, *extra]

    with open(r.path("err_x.npy"), "rb") as f:
        data = f.read()
    with open(r.path("truncated.npy"), "wb") as f:
        f.write(data[:-5])
    check_error(r, "truncated .npy", forward(r.path("truncated.npy")), out,
                "--input '{d}/truncated.npy': truncated data: header declares 12 elements (48 bytes) but 43 bytes follow")

    r.save("int32.npy", np.arange(12, dtype=np.int32).reshape(4, 3))
    check_error(r, "int32 .npy", forward(r.path("int32.npy")), out,
                "--input '{d}/int32.npy': unsupported dtype '<i4' (need '<f4' or '<f8')")

    r.random("g64.npy", (3,), f64)
    check_error(r, "dtype mismatch input float32 / gamma float64",
                forward(r.path("err_x.npy"), "--gamma", r.path("g64.npy"), "--beta", r.path("err_b.npy")),
                out, "--gamma '{d}/g64.npy' holds float64 but --input holds float32; every file must have the input's dtype",
                preexisting=b"not touched\n")

    r.random("g4.npy", (4,), f32)
    check_error(r, "gamma of length 4 for 3 channels",
                forward(r.path("err_x.npy"), "--gamma", r.path("g4.npy"), "--beta", r.path("err_b.npy")), out,
                "--gamma '{d}/g4.npy' has shape (4,) but needs (3,): one value per channel of --input")

    r.random("rank1.npy", (5,), f32)
    check_error(r, "rank-1 input", forward(r.path("rank1.npy")), out,
                "--input '{d}/rank1.npy': shape [5] has rank 1; batch norm needs at least [N, C]")

    check_error(r, "--eps -1", forward(r.path("err_x.npy"), "--eps", "-1"), out,
                "The value '-1' is invalid for '--eps <eps>': it must be a finite number greater than 0")
    check_error(r, "--momentum 2", forward(r.path("err_x.npy"), "--momentum", "2"), out,
                "The value '2' is invalid for '--momentum <m>': it must be a number in [0, 1] or 'none'")
    check_error(r, "--layout sideways", forward(r.path("err_x.npy"), "--layout", "sideways"), out,
                "The value 'sideways' is invalid for '--layout <layout>'. Please provide one of 'channels-first' and 'channels-last'.")
    check_error(r, "inference without running stats", forward(r.path("err_x.npy"), "--mode", "inference"), out,
                "--mode inference needs --running-mean and --running-var")
    check_error(r, "only --gamma", forward(r.path("err_x.npy"), "--gamma", r.path("err_g.npy")), out,
                "--gamma needs --beta as well")

    r.random("one_per_channel.npy", (1, 3), f32)
    saved = r.path("err_saved.npy")
    if os.path.exists(saved):
        os.remove(saved)
    check_error(r, "one value per channel in training (1, 3)",
                forward(r.path("one_per_channel.npy"), "--saved-mean", saved), out,
                "shape [1, 3] gives one value per channel; training statistics need more than one")
    report(not os.path.exists(saved), "error one value per channel: --saved-mean not created")

    r.random("dy_wrong.npy", (4, 4), f32)
    check_error(r, "backward grad-output shape mismatch",
                ["backward", "--input", r.path("err_x.npy"), "--grad-output", r.path("dy_wrong.npy"),
                 "--grad-input", out], out,
                "--grad-output '{d}/dy_wrong.npy' has shape (4, 4) but --input has shape (4, 3)")
    check_error(r, "backward inference without running stats",
                ["backward", "--input", r.path("err_x.npy"), "--grad-output", r.path("err_dy.npy"),
                 "--grad-input", out, "--mode", "inference"], out,
                "--mode inference needs --running-mean and --running-var")

    r.random("err_y.npy", (4, 3), f32)
    backward = ["backward", "--input", r.path("err_x.npy"), "--grad-output", r.path("err_dy.npy"), "--grad-input", out]
    check_error(r, "--activation sigmoid", forward(r.path("err_x.npy"), "--activation", "sigmoid"), out,
                "The value 'sigmoid' is invalid for '--activation <activation>'. Please provide one of 'none' and 'relu'.")
    check_error(r, "residual shape mismatch", forward(r.path("err_x.npy"), "--residual", r.path("dy_wrong.npy")), out,
                "--residual '{d}/dy_wrong.npy' has shape (4, 4) but --input has shape (4, 3)",
                preexisting=b"not touched\n")
    check_error(r, "backward relu without --forward-output", backward + ["--activation", "relu"], out,
                "--activation relu needs --forward-output (the forward's y)")
    check_error(r, "backward --forward-output shape mismatch",
                backward + ["--activation", "relu", "--forward-output", r.path("dy_wrong.npy")], out,
                "--forward-output '{d}/dy_wrong.npy' has shape (4, 4) but --input has shape (4, 3)")
    check_error(r, "backward --grad-residual without --residual",
                backward + ["--activation", "relu", "--forward-output", r.path("err_y.npy"),
                            "--grad-residual", r.path("err_dr.npy")], out,
                "--grad-residual needs --residual as well")
    report(not os.path.exists(r.path("err_dr.npy")), "error --grad-residual without --residual: not created")

    leftovers = [n for n in os.listdir(r.directory) if n.endswith(".tmp")]
    report(not leftovers, "no temporary files left behind", ", ".join(leftovers))


# MARK: - Outputs at the edges (issue 14)

STAGED_MARKER = ".batchnorm-staged-"


def staged_files(directory):
    return sorted(n for n in os.listdir(directory) if STAGED_MARKER in n)


def check_one_error_line(name, result, status=None, limit=None):
    lines = result.stderr.splitlines()
    ok = (result.returncode != 0 and len(lines) == 1 and lines[0].startswith("batchnorm: error:")
          and (status is None or result.returncode == status)
          and (limit is None or len(result.stderr.encode()) <= limit))
    report(ok, f"{name}: exit {result.returncode}, one error line of {len(result.stderr.encode())} bytes",
           result.stderr[:300])


def default_signal_dispositions():
    for signal_number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signal_number, signal.SIG_DFL)


def tmpfs_available(directory):
    """Whether this process may mount a tmpfs in a private mount namespace (root with CAP_SYS_ADMIN)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    probe = os.path.join(directory, "probe")
    os.mkdir(probe)
    result = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=16k tmpfs '{probe}'"],
                            capture_output=True)
    os.rmdir(probe)
    return result.returncode == 0


def output_edge_checks(r):
    f32 = np.float32
    x = r.random("edge_x.npy", (4, 3, 5), f32)
    ok_dir = r.path("ok")
    os.mkdir(ok_dir)

    # 1. All or nothing: the second output's file system is full (a 16 KiB tmpfs, filled, in a private
    #    mount namespace), so the first output, though written fine, must not appear either.
    #    (Without root or CAP_SYS_ADMIN the NumPyFile unit test StagedWriteTests injects the failure.)
    full_dir = r.path("full")
    os.mkdir(full_dir)
    if tmpfs_available(r.directory):
        script = (f"mount -t tmpfs -o size=16k tmpfs '{full_dir}' && "
                  f"(cat /dev/zero > '{full_dir}/filler' 2>/dev/null; true) && "
                  f"exec '{r.binary}' forward --input '{r.path('edge_x.npy')}' --output '{ok_dir}/y.npy' "
                  f"--saved-mean '{full_dir}/sm.npy'")
        result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=30)
        check_one_error_line("full disk on the second output", result, status=1)
        report("No space left on device" in result.stderr, "full disk: the error names ENOSPC", result.stderr)
        report(os.listdir(ok_dir) == [], "full disk: the first output was not written either",
               ", ".join(os.listdir(ok_dir)))
    else:
        print("SKIP full disk through a tmpfs (needs root and unshare -m); StagedWriteTests covers it")

    # 2. Aliasing: an output through a symbolic link to the directory of another output.
    os.mkdir(r.path("d"))
    os.symlink("d", r.path("l"))
    result = r.run("forward", "--input", r.path("edge_x.npy"), "--output", r.path("d/y.npy"),
                   "--saved-mean", r.path("l/y.npy"))
    check_one_error_line("two outputs naming one file through a symbolic link", result, status=2)
    report(os.listdir(r.path("d")) == [], "aliased outputs: nothing written", ", ".join(os.listdir(r.path("d"))))

    #    Every refused command line has the usage status 2, whether ArgumentParser or the option's own
    #    type refuses it (unknown option, missing value, bad value, bad combination).
    for label, arguments in [
        ("unknown option", ["forward", "--input", r.path("edge_x.npy"), "--output", r.path("u.npy"), "--bogus"]),
        ("missing --output", ["forward", "--input", r.path("edge_x.npy")]),
        ("bad --eps", ["forward", "--input", r.path("edge_x.npy"), "--output", r.path("u.npy"), "--eps", "0"]),
        ("bad bench --layout", ["bench", "--layout", "sideways"]),
    ]:
        result = r.run(*arguments)
        check_one_error_line(f"usage status 2: {label}", result, status=2)
    report(not os.path.exists(r.path("u.npy")), "usage errors: nothing written")

    #    An output may replace an input: the running mean is updated in place.
    rm = r.random("edge_rm.npy", (3,), f32)
    rv = np.abs(r.random("edge_rv_raw.npy", (3,), f32)) + f32(0.5)
    r.save("edge_rv.npy", rv)
    result = r.run("forward", "--input", r.path("edge_x.npy"), "--output", r.path("edge_y.npy"),
                   "--running-mean", r.path("edge_rm.npy"), "--running-var", r.path("edge_rv.npy"),
                   "--updated-running-mean", r.path("edge_rm.npy"), "--updated-running-var", r.path("edge_rv.npy"))
    if check_success("running statistics updated in place", result):
        _, _, _, nrm, nrv = ref_forward_training(x, "channels-first", None, None, rm, rv, 0.1)
        check_output("in place: updated running mean", r.path("edge_rm.npy"), nrm, f32)
        check_output("in place: updated running var", r.path("edge_rv.npy"), nrv, f32)

    # 3. Special files: a FIFO, a symbolic link to it and (as root) a character device node made here
    #    (never the system's /dev/null) are refused, and stay what they were.
    os.mkfifo(r.path("fifo"))
    os.symlink("fifo", r.path("fifo_link"))
    specials = [("fifo", stat.S_ISFIFO), ("fifo_link", stat.S_ISFIFO)]
    if os.geteuid() == 0:
        os.mknod(r.path("null_device"), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        specials.append(("null_device", stat.S_ISCHR))
    for name, is_kind in specials:
        result = r.run("forward", "--input", r.path("edge_x.npy"), "--output", r.path(name))
        check_one_error_line(f"--output {name}", result, status=1)
        report(is_kind(os.stat(r.path(name)).st_mode) and "not a regular file" in result.stderr,
               f"--output {name}: left as it was", result.stderr)

    # 4. Staged files: SIGINT and SIGTERM remove them (the process ends with the signal); after SIGKILL
    #    the next run in the directory removes the leftover of the dead process.
    held = dict(os.environ, BATCHNORM_TEST_HOLD_STAGED_SECONDS="30")
    for signal_number in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        directory = r.path(f"signal_{signal_number.name}")
        os.mkdir(directory)
        # Default dispositions in the child: started from a background job, this script may itself run
        # with SIGINT ignored, and the tool keeps an inherited ignored signal ignored (as nohup expects).
        process = subprocess.Popen([r.binary, "forward", "--input", r.path("edge_x.npy"),
                                    "--output", f"{directory}/y.npy", "--saved-mean", f"{directory}/sm.npy"],
                                   env=held, stderr=subprocess.DEVNULL, preexec_fn=default_signal_dispositions)
        deadline = time.monotonic() + 20
        while len(staged_files(directory)) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        staged = staged_files(directory)
        report(len(staged) == 2 and all(n.endswith(".tmp") and n.startswith(".") for n in staged),
               f"{signal_number.name}: two recognizable staged files while held", ", ".join(staged))
        process.send_signal(signal_number)
        try:
            status = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            status = process.wait()
        report(status == -signal_number, f"{signal_number.name}: ended by the signal (status {status})")
        left = os.listdir(directory)
        if signal_number == signal.SIGKILL:
            report(len(left) == 2, "SIGKILL: the staged files stay behind", ", ".join(left))
            result = r.run("forward", "--input", r.path("edge_x.npy"), "--output", f"{directory}/z.npy")
            check_success("a later run in the directory", result)
            left = os.listdir(directory)
            report(left == ["z.npy"], "a later run removes the leftovers of the killed process", ", ".join(left))
        else:
            report(left == [], f"{signal_number.name}: no staged file and no output left", ", ".join(left))

    # 7. Error lines stay short whatever the paths: 10,000-character paths are shortened.
    long_dir = "/".join(["d" * 9] * 1000)
    long_path = r.path(long_dir + "/y.npy")
    for name, args in [
        ("missing --input", ["forward", "--input", long_path, "--output", r.path("short.npy")]),
        ("--output in a missing directory", ["forward", "--input", r.path("edge_x.npy"), "--output", long_path]),
        ("two outputs with one long path", ["forward", "--input", r.path("edge_x.npy"), "--output", long_path,
                                            "--saved-mean", long_path]),
        ("an unknown 10,000-character option", ["forward", "--" + "o" * 10000]),
    ]:
        result = r.run(*args)
        check_one_error_line(f"10,000-character path: {name}", result, limit=1100)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: python3 scripts/e2e_cli.py PATH/TO/batchnorm")
    binary = os.path.abspath(sys.argv[1])
    if not os.access(binary, os.X_OK):
        sys.exit(f"e2e_cli.py: {binary} is not an executable")
    with tempfile.TemporaryDirectory(prefix="batchnorm-e2e-") as directory:
        runner = Runner(binary, directory)
        numerical_checks(runner)
        layout_and_precision_checks(runner)
        activation_checks(runner)
        fold_checks(runner)
        error_checks(runner)
        output_edge_checks(runner)
        fold_error_checks(runner)
    print(f"e2e: {passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
