"""Benchmark of the Monte Carlo engine on the paper's Figure 4(b) workload.

Workload: width 1000, 30 layers, 50 networks; for each starting correlation
c0 in {0, 0.5, 0.9}, 100 inputs correlated with one base vector (101 inputs),
dropout keep probability 0.6 at its critical sigma_w^2 = 1.2. Statistics: the
correlation of each input with the base, per layer, averaged over inputs and
networks.

Baseline (CPU): the original code's approach, a plain NumPy float32 loop over
networks with an explicit 1000 x 1000 weight matrix per layer. It runs on a
subset of the networks (its cost is linear in the number of networks) and its
time is scaled to 50 networks; the script checks that both give statistically
equal layer-30 correlations (a two-sample z-test on per-network means).

GPU (when CUDA is available): achieved FLOP/s of the explicit route against a
plain torch.bmm of the same shapes, and the wall time of the whole data set
behind paper Figures 2-5 (see ``figures_2_to_5_workload``).

Run: python benchmarks/bench_simulate.py [--baseline-networks 5]
"""
from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

import noisyprop_lib as npl

WIDTH, DEPTH, NETS, PER_VALUE = 1000, 30, 50, 100
C0 = (0.0, 0.5, 0.9)
KEEP = 0.6


def numpy_baseline(inputs: np.ndarray, pairs: np.ndarray, n_networks: int, seed: int) -> np.ndarray:
    """Per-network mean correlation (cosine) of the pairs, per layer: shape (DEPTH + 1, n_networks)."""
    rng = np.random.default_rng(seed)
    sw = math.sqrt(2 * KEEP / WIDTH)
    out = np.empty((DEPTH + 1, n_networks))
    x = inputs.T.astype(np.float32)  # (N, B): columns are inputs, used as h^0
    for m in range(n_networks):
        h = x
        for layer in range(DEPTH + 1):
            if layer > 0:
                y = np.maximum(h, 0) * (rng.random(h.shape, dtype=np.float32) < KEEP) / np.float32(KEEP)
                w = rng.standard_normal((WIDTH, h.shape[0]), dtype=np.float32) * np.float32(sw)
                h = w @ y
            a, b = h[:, pairs[:, 0]].astype(np.float64), h[:, pairs[:, 1]].astype(np.float64)
            out[layer, m] = np.mean((a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0)))
    return out


def figures_2_to_5_workload(device, *, width: int = WIDTH, networks: int = NETS, depth: int = DEPTH,
                            per_value: int = PER_VALUE) -> float:
    """Wall time of the simulations behind paper Figures 2-5 (default: the paper's scale, width 1000, 50 networks)."""
    WIDTH, NETS, DEPTH, PER_VALUE = width, networks, depth, per_value  # noqa: N806 (the module's names, rescaled)
    t0 = time.perf_counter()
    g = 0
    noises = {"none": (npl.NoNoise(), 2.0), "dropout 0.6": (npl.Dropout(0.6), 1.2), "dropout 0.8": (npl.Dropout(0.8), 1.6),
              "gauss 0.25": (npl.GaussianNoise(0.25), 2 / 1.0625), "gauss 2": (npl.GaussianNoise(2.0), 0.4)}
    # Fig 2/3: 30 input variances x 30 inputs, one layer; 50 inputs, 15 layers
    for noise, sw in list(noises.values())[:3]:
        for q in np.linspace(0.5, 15, 30):
            npl.propagate(npl.gaussian_inputs(30, WIDTH, q0=q, seed=g), 1, sw, noise=noise, n_networks=NETS, seed=g, device=device, pairs=None)
            g += 1
        npl.propagate(npl.gaussian_inputs(50, WIDTH, q0=4.0, seed=g), 15, sw, noise=noise, n_networks=NETS, seed=g, device=device, pairs=None)
    # Fig 4a: one layer, 50 correlation values; Fig 4b/5: 30 layers from 3 starting correlations, for every noise of Fig 5
    grid5 = [npl.Dropout(p) for p in np.arange(0.1, 1.0, 0.1)] + [npl.GaussianNoise(s) for s in np.arange(0.1, 2.0, 0.15)]
    for noise in list(n for n, _ in noises.values()) + grid5:
        sw = npl.critical_sigma_w2(noise)
        x, pairs, _ = npl.correlated_inputs(np.linspace(0, 1, 50), 1, WIDTH, seed=g)
        npl.propagate(x, 1, sw, noise=noise, n_networks=NETS, seed=g, device=device, pairs=pairs)
        for c0 in C0:
            x, pairs, _ = npl.correlated_inputs([c0], PER_VALUE, WIDTH, seed=g)
            npl.propagate(x, DEPTH, sw, noise=noise, n_networks=NETS, seed=g, device=device, pairs=pairs)
            g += 1
    _sync(device)
    return time.perf_counter() - t0


def gpu_flops(device, *, networks: int = 50, width: int = WIDTH, depth: int = DEPTH, batch: int = 512) -> dict:
    """Achieved FLOP/s of the explicit route against a plain ``torch.bmm`` of the same shapes.

    Returns a dict with both rates (TFLOP/s) and their ratio (``explicit / bmm``, target >= 60 %).
    Runs on any device (on a CPU it measures the CPU).
    """
    m, b = networks, batch
    x = npl.gaussian_inputs(b, width, seed=0)
    flops = m * depth * 2 * width * width * b
    npl.propagate(x, 2, 2.0, n_networks=m, device=device, method="explicit", pairs=None, seed=0)  # warm-up
    _sync(device)
    t0 = time.perf_counter()
    npl.propagate(x, depth, 2.0, n_networks=m, device=device, method="explicit", pairs=None, seed=0)
    _sync(device)
    t_sim = time.perf_counter() - t0
    a = torch.randn(m, width, width, device=device)
    y = torch.randn(m, width, b, device=device)
    torch.bmm(a, y)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(depth):
        torch.bmm(a, y)
    _sync(device)
    t_bmm = time.perf_counter() - t0
    return {"explicit_tflops": flops / t_sim / 1e12, "bmm_tflops": flops / t_bmm / 1e12, "ratio": t_bmm / t_sim,
            "networks": m, "width": width, "depth": depth, "batch": b}


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline-networks", type=int, default=4)
    args = ap.parse_args()
    torch.manual_seed(0)
    cpu = torch.device("cpu")
    print(f"torch threads: {torch.get_num_threads()}; workload: width {WIDTH}, depth {DEPTH}, {NETS} networks, "
          f"{len(C0)} x {PER_VALUE} inputs correlated with a base vector, dropout keep {KEEP}")

    t_lib, t_base, lib_c, base_c = 0.0, 0.0, [], []
    for i, c0 in enumerate(C0):
        x, pairs, _ = npl.correlated_inputs([c0], PER_VALUE, WIDTH, seed=100 + i)
        t0 = time.perf_counter()
        res = npl.propagate(x, DEPTH, 2 * KEEP, noise=npl.Dropout(KEEP), n_networks=NETS, seed=i, device=cpu, pairs=pairs)
        t_lib += time.perf_counter() - t0
        lib_c.append(res.c_per_network()[-1])
        t0 = time.perf_counter()
        base = numpy_baseline(x.numpy(), pairs, args.baseline_networks, seed=i)
        t_base += (time.perf_counter() - t0) * NETS / args.baseline_networks
        base_c.append(base[-1])
    print(f"library (route {res.config['method']}, CPU): {t_lib:.2f} s for all {NETS} networks x 3 starting correlations")
    print(f"NumPy float32 loop, explicit weights: {t_base:.2f} s (measured on {args.baseline_networks} networks per c0, scaled to {NETS})")
    print(f"speed ratio: {t_base / t_lib:.1f}x (target >= 10x)")
    cstar = npl.correlation_fixed_point(npl.Dropout(KEEP))
    for c0, lc, bc in zip(C0, lib_c, base_c):
        se = math.sqrt(lc.var(ddof=1) / lc.size + bc.var(ddof=1) / bc.size)
        z = (lc.mean() - bc.mean()) / se
        print(f"  c0 = {c0}: layer-30 mean correlation library {lc.mean():.4f}, baseline {bc.mean():.4f} (c* = {cstar:.4f}); "
              f"z = {z:+.2f} -> {'statistically equal' if abs(z) < 3 else 'DIFFERENT'}")

    if torch.cuda.is_available():
        dev = torch.device("cuda")
        print(f"GPU: {torch.cuda.get_device_name(0)}")
        r = gpu_flops(dev)
        print(f"GPU explicit route: {r['explicit_tflops']:.1f} TFLOP/s; plain bmm of the same shapes: {r['bmm_tflops']:.1f} TFLOP/s; "
              f"ratio {r['ratio']:.0%} (target >= 60%)")
        print(f"Figures 2-5 data set on GPU: {figures_2_to_5_workload(dev):.1f} s (target < 30 s on one H100)")
    else:
        print("GPU: none available; the GPU figures were not measured (the CUDA code path is the same torch code).")


if __name__ == "__main__":
    main()
