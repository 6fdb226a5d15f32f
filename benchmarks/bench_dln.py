"""Benchmark: the stepsize sweep behind chapter 10's headline figure, vectorised vs a per-run loop.

The sweep trains GD and SGD (batch 1) on 5 sparse-regression datasets (n = 20, d = 30, s = 3,
alpha = 0.1) at 8 stepsizes each: 80 runs. The library trains all runs of an algorithm as one
array program (``noisyprop_lib.dln.train_dln`` with a (datasets, stepsizes) grid of stepsizes).
The baseline is what one would write without it: a plain NumPy loop over the runs, each run a
loop over steps on 1-d vectors, accumulating the gain -ln|1 - (gamma g)^2| (the approach of
public reproductions of the paper). Both draw SGD batches from the same per-run streams, so the
two must agree run by run; the script checks the final predictors, gains and test losses.

Run: python benchmarks/bench_dln.py [n_steps]      (default 20000 steps per run)
"""
from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from noisyprop_lib import dln  # noqa: E402

ALPHA = 0.1
FRACTIONS = np.array([0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95])
# thresholds from chapter 10's stepsize search (GD, SGD) for datasets 0-4; fixed here so that
# both implementations time the same sweep
GAMMA_MAX_GD = np.array([3.008, 1.105, 1.823, 0.406, 0.670])
GAMMA_MAX_SGD = np.array([0.670, 0.246, 0.406, 0.0905, 0.149])
CHUNK = 1024  # the library draws SGD batches in chunks of this many steps from each run's stream


def plain_run(X, y, gamma, alpha, n_steps, stochastic, seed):
    """One run, step by step, the straightforward way. Returns (beta, gain)."""
    n, d = X.shape
    u = np.full(d, np.sqrt(2.0) * alpha)
    v = np.zeros(d)
    gain = np.zeros(d)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))) if stochastic else None
    idx = None
    for k in range(n_steps):
        r = X @ (u * v) - y
        if stochastic:
            if k % CHUNK == 0:
                idx = rng.integers(0, n, size=min(CHUNK, n_steps - k))
            i = idx[k % CHUNK]
            g = r[i] * X[i]
        else:
            g = X.T @ r / n
        x = gamma * g
        gain -= np.log(np.abs(1.0 - x * x))
        u, v = u - x * v, v - x * u
    return u * v, gain


def main() -> None:
    n_steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    sets = [dln.make_sparse_regression(20, 30, 3, seed=sd) for sd in range(5)]
    Xs, ys = np.stack([p.X for p in sets]), np.stack([p.y for p in sets])
    seeds = np.arange(40).reshape(5, 8) + 1000
    sweeps = {"GD": (GAMMA_MAX_GD[:, None] * FRACTIONS, None), "SGD": (GAMMA_MAX_SGD[:, None] * FRACTIONS, 1)}

    t0 = time.perf_counter()
    vec = {}
    for name, (gam, b) in sweeps.items():
        vec[name] = dln.train_dln(Xs, ys, gam, ALPHA, batch_size=b, seed=seeds if b else None, n_steps=n_steps,
                                  record_loss_every=n_steps)
    t_vec = time.perf_counter() - t0

    t0 = time.perf_counter()
    loop = {}
    for name, (gam, b) in sweeps.items():
        out = [[plain_run(sets[i].X, sets[i].y, gam[i, j], ALPHA, n_steps, b is not None, int(seeds[i, j]))
                for j in range(gam.shape[1])] for i in range(5)]
        loop[name] = (np.array([[o[0] for o in row] for row in out]), np.array([[o[1] for o in row] for row in out]))
    t_loop = time.perf_counter() - t0

    n_runs = sum(g.size for g, _ in sweeps.values())
    print(f"stepsize sweep: {n_runs} runs x {n_steps} steps (GD and SGD, 5 datasets x 8 stepsizes)")
    print(f"  vectorised (2 calls of dln.train_dln): {t_vec:7.2f} s")
    print(f"  per-run NumPy loop:                    {t_loop:7.2f} s")
    print(f"  speed-up: {t_loop / t_vec:.1f}x")

    worst_beta, worst_gain, worst_test = 0.0, 0.0, 0.0
    for name in sweeps:
        beta_v, gain_v = vec[name].beta, vec[name].gain
        beta_l, gain_l = loop[name]
        worst_beta = max(worst_beta, float(np.max(np.linalg.norm(beta_v - beta_l, axis=-1) / np.linalg.norm(beta_l, axis=-1))))
        worst_gain = max(worst_gain, float(np.max(np.abs(gain_v - gain_l) / (1e-12 + np.abs(gain_l)))))
        test_v = np.array([p.test_loss(b) for p, b in zip(sets, beta_v)])
        test_l = np.array([p.test_loss(b) for p, b in zip(sets, beta_l)])
        worst_test = max(worst_test, float(np.max(np.abs(test_v - test_l) / test_l)))
    print(f"  agreement: max relative difference of final beta {worst_beta:.1e}, of the gain {worst_gain:.1e}, "
          f"of the test loss {worst_test:.1e}")
    ok = worst_beta <= 1e-8 and worst_gain <= 1e-8 and worst_test <= 1e-8
    print("  the two implementations agree" if ok else "  MISMATCH between the implementations")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
