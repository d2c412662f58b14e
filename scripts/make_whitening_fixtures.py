#!/usr/bin/env python3
"""Generates the PyTorch/NumPy parity fixtures of decorrelated batch norm (group whitening).

Usage: python scripts/make_whitening_fixtures.py [OUT_DIR]   (default Tests/Fixtures/whitening)
       python scripts/make_whitening_fixtures.py --random COUNT SEED OUT_DIR   (seeded random shapes, to
       run e2e_whitening.py on by hand; see random_cases)
       (needs torch; scripts/torch-env.sh makes a venv with it)

For each case (a subfolder) it writes small .npy files:
  x, dy, gamma, beta (inputs, in the case's dtype), running_mean, running_whitening (initial running
  statistics, random), and the float64 expectations
  y                        forward output: NumPy float64, numpy.linalg.eigh for ZCA, the paper's
                           Newton-Schulz loop P <- (3P - P^3 Sigma_N)/2 for IterNorm
  updated_running_mean, updated_running_whitening   momentum 0.1 updates of the running statistics
  y_inference              gamma * running_whitening (x - running_mean) + beta with the given ones
  dx, dgamma, dbeta        torch float64 autograd of sum(y * dy) through torch.linalg.eigh (ZCA) or
                           the unrolled Newton-Schulz loop (IterNorm), on the case's inputs as float64
and meta.json (layout, group size, method, iterations, eps, momentum, versions). Every number is
seeded, so rerunning with the same NumPy/PyTorch reproduces the files up to float64 rounding.
"""
import json
import os
import sys

import numpy as np
import torch

EPS = 1e-5
MOMENTUM = 0.1

# (name, shape, layout, G, method, T, dtype)
CASES = [
    ("zca_nchw_g4_f64", (4, 8, 5, 5), "channels-first", 4, "zca", 0, np.float64),
    ("zca_nhwc_g8_f64", (6, 3, 3, 8), "channels-last", 8, "zca", 0, np.float64),
    ("iternorm_nchw_g4_f64", (5, 8, 3, 4), "channels-first", 4, "iternorm", 5, np.float64),
    ("iternorm_nc_g3_f64", (32, 6), "channels-first", 3, "iternorm", 5, np.float64),
    ("zca_nchw_g16_f32", (8, 16, 4, 4), "channels-first", 16, "zca", 0, np.float32),
    ("iternorm_nhwc_g4_f32", (8, 4, 4, 8), "channels-last", 4, "iternorm", 5, np.float32),
]


def to_groups(x, layout, G):
    """(N, C, *S) or (N, *S, C) -> (C/G, G, M), float64."""
    if layout == "channels-last":
        x = np.moveaxis(x, -1, 1)
    C = x.shape[1]
    return np.moveaxis(x, 1, 0).reshape(C // G, G, -1)


def from_groups(g, shape, layout):
    if layout == "channels-last":
        cf = (shape[0], shape[-1]) + tuple(shape[1:-1])
    else:
        cf = tuple(shape)
    x = np.moveaxis(g.reshape((cf[1], cf[0]) + cf[2:]), 0, 1)
    return np.moveaxis(x, 1, -1) if layout == "channels-last" else x


def whitening_numpy(sigma, method, T):
    if method == "zca":
        lam, U = np.linalg.eigh(sigma)
        return (U / np.sqrt(lam)) @ U.T
    tr = np.trace(sigma)
    sn = sigma / tr
    P = np.eye(sigma.shape[0])
    for _ in range(T):
        P = 1.5 * P - 0.5 * P @ P @ P @ sn
    return P / np.sqrt(tr)


def forward_torch(xg, gamma, beta, method, T):
    """xg (ng, G, M) float64 tensor requiring grad -> whitened, scaled output (ng, G, M)."""
    ng, G, M = xg.shape
    mean = xg.mean(-1, keepdim=True)
    xc = xg - mean
    eye = torch.eye(G, dtype=xg.dtype)
    sigma = xc @ xc.transpose(1, 2) / M + EPS * eye
    if method == "zca":
        lam, U = torch.linalg.eigh(sigma)
        phi = U @ torch.diag_embed(lam.rsqrt()) @ U.transpose(1, 2)
    else:
        tr = sigma.diagonal(dim1=1, dim2=2).sum(-1).reshape(ng, 1, 1)
        sn = sigma / tr
        P = eye.expand(ng, G, G)
        for _ in range(T):
            P = 1.5 * P - 0.5 * torch.linalg.matrix_power(P, 3) @ sn
        phi = P / tr.sqrt()
    return (phi @ xc) * gamma.reshape(ng, G, 1) + beta.reshape(ng, G, 1)


def make(out_dir, name, shape, layout, G, method, T, dtype, seed):
    rng = np.random.default_rng(seed)
    C = shape[1] if layout == "channels-first" else shape[-1]
    ng = C // G
    # Correlated channels within each group: uniform plus 0.8 x the group's first channel.
    base = rng.uniform(-1, 1, size=shape)
    xg = to_groups(base, layout, G).copy()
    xg[:, 1:, :] += 0.8 * xg[:, :1, :]
    x = from_groups(xg, shape, layout).astype(dtype) + 0.5
    dy = rng.uniform(-1, 1, size=shape).astype(dtype)
    gamma = rng.uniform(0.5, 1.5, size=C).astype(dtype)
    beta = rng.uniform(-0.5, 0.5, size=C).astype(dtype)
    running_mean = rng.uniform(-0.2, 0.2, size=C).astype(dtype)
    running_whitening = (np.eye(G)[None] + rng.uniform(-0.1, 0.1, size=(ng, G, G))).astype(dtype)

    x64 = x.astype(np.float64)
    g = to_groups(x64, layout, G)
    M = g.shape[-1]
    mean = g.mean(-1, keepdims=True)
    xc = g - mean
    phis = []
    condition = 1.0   # the largest condition number of the groups' covariances
    yg = np.empty_like(g)
    for k in range(ng):
        sigma = xc[k] @ xc[k].T / M + EPS * np.eye(G)
        condition = max(condition, float(np.linalg.cond(sigma)))
        phi = whitening_numpy(sigma, method, T)
        phis.append(phi)
        yg[k] = (phi @ xc[k]) * gamma[k * G:(k + 1) * G, None].astype(np.float64) \
            + beta[k * G:(k + 1) * G, None].astype(np.float64)
    y = from_groups(yg, shape, layout)
    upd_mean = (1 - MOMENTUM) * running_mean.astype(np.float64) + MOMENTUM * mean.reshape(C)
    upd_whitening = (1 - MOMENTUM) * running_whitening.astype(np.float64) + MOMENTUM * np.stack(phis)
    yi = np.empty_like(g)
    for k in range(ng):
        ch = slice(k * G, (k + 1) * G)
        yi[k] = (running_whitening[k].astype(np.float64) @ (g[k] - running_mean[ch, None])) \
            * gamma[ch, None] + beta[ch, None]
    y_inference = from_groups(yi, shape, layout)

    xt = torch.tensor(g, dtype=torch.float64, requires_grad=True)
    gt = torch.tensor(gamma.astype(np.float64), requires_grad=True)
    bt = torch.tensor(beta.astype(np.float64), requires_grad=True)
    out = forward_torch(xt, gt, bt, method, T)
    dyt = torch.tensor(to_groups(dy.astype(np.float64), layout, G))
    dxg, dgamma, dbeta = torch.autograd.grad(out, (xt, gt, bt), dyt)
    dx = from_groups(dxg.numpy(), shape, layout)
    # The torch forward must agree with the NumPy one (two independent float64 implementations).
    assert np.abs(out.detach().numpy() - yg).max() < 1e-9, name

    folder = os.path.join(out_dir, name)
    os.makedirs(folder, exist_ok=True)
    arrays = dict(x=x, dy=dy, gamma=gamma, beta=beta, running_mean=running_mean,
                  running_whitening=running_whitening, y=y, updated_running_mean=upd_mean,
                  updated_running_whitening=upd_whitening, y_inference=y_inference,
                  dx=dx, dgamma=dgamma.numpy(), dbeta=dbeta.numpy())
    for key, value in arrays.items():
        np.save(os.path.join(folder, key + ".npy"), np.ascontiguousarray(value))
    meta = dict(shape=list(shape), layout=layout, group_size=G, whitening=method, iterations=T or None,
                eps=EPS, momentum=MOMENTUM, dtype=np.dtype(dtype).name, seed=seed, condition=condition,
                torch=torch.__version__, numpy=np.__version__)
    with open(os.path.join(folder, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")


def random_cases(count, seed):
    """`count` seeded random cases beyond CASES: group sizes 1-64 (1-4 groups), 2 to ~20,000 / C values per
    channel (at least 4 G in float32, so that its groups' covariance has full rank; float64 goes down to M = 2,
    rank-deficient groups regularized by eps alone), ranks 2-4 with short and long inner sizes, both layouts,
    ZCA or IterNorm with 1-7 iterations, both precisions."""
    rng = np.random.default_rng(seed)
    for index in range(count):
        G = int(rng.choice([1, 2, 3, 5, 8, 16, 32, 48, 64]))
        C = G * int(rng.integers(1, 5))
        dtype = [np.float32, np.float64][int(rng.integers(0, 2))]
        least = 4 * G if dtype == np.float32 else 2
        M = max(2, int(np.exp(rng.uniform(np.log(least), np.log(max(least + 1, 20000 // C))))))
        layout = str(rng.choice(["channels-first", "channels-last"]))
        rank = int(rng.integers(2, 5))
        if rank == 2:
            shape = (M, C)
        else:
            inner = int(rng.integers(1, max(2, min(M, 20))))
            spatial = [inner] + [1] * (rank - 3)
            rng.shuffle(spatial)
            batch = max(2 if inner == 1 else 1, M // inner)
            shape = (batch, C, *spatial) if layout == "channels-first" else (batch, *spatial, C)
        method = str(rng.choice(["zca", "iternorm"]))
        T = int(rng.integers(1, 8)) if method == "iternorm" else 0
        name = f"random{index}_{method}_{layout}_{'x'.join(map(str, shape))}_g{G}_{np.dtype(dtype).name}"
        yield name, shape, layout, G, method, T, dtype, int(rng.integers(0, 1 << 30))


def main():
    arguments = sys.argv[1:]
    if arguments[:1] == ["--random"]:
        # make_whitening_fixtures.py --random COUNT SEED OUT_DIR: random cases for
        # `e2e_whitening.py BINARY OUT_DIR`, which widens its tolerances by the cases' recorded condition numbers.
        count, seed, out_dir = int(arguments[1]), int(arguments[2]), arguments[3]
        for name, shape, layout, G, method, T, dtype, case_seed in random_cases(count, seed):
            make(out_dir, name, shape, layout, G, method, T, dtype, seed=case_seed)
        print(f"wrote {count} random cases to {out_dir}")
        return
    out_dir = arguments[0] if arguments else "Tests/Fixtures/whitening"
    for index, case in enumerate(CASES):
        make(out_dir, *case, seed=1300 + index)
        print("wrote", os.path.join(out_dir, case[0]))


if __name__ == "__main__":
    main()
