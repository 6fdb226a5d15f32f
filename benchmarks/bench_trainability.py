"""Benchmark: the trainability grid's batched ensemble against training one network at a time.

Workload: one depth of the paper's Figure 6(b) grid, i.e. the 10 keep probabilities
0.1, ..., 1.0 at the same depth, each network critically initialised (sigma_w^2 = 2p),
trained to reconstruct MNIST images (MSE) for one epoch. The library trains the 10
networks as one batched ensemble (``noisyprop_lib.experiments.train_ensemble``: one
``baddbmm`` per layer for all of them). The baseline trains the same 10 networks one
after the other with the same code at ensemble size 1, so the two differ only in the
batching. The ratio reported is network-steps per second, batched over sequential, with
both measured in this process (best of ``--repeats``); the target is at least 5x on a GPU.

Defaults are the paper's full scale (width 1000, depth 40, batch 128) on CUDA when it is
available, and the ``"cpu"`` preset's width 128, batch 64 on CPU.

Run: python benchmarks/bench_trainability.py [--device cuda] [--depth 40] [--width 1000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from noisyprop_lib.data import load_mnist, train_validation_split
from noisyprop_lib.experiments import train_ensemble
from noisyprop_lib.simulation import resolve_device

KEEP = np.round(np.linspace(0.1, 1.0, 10), 6)


def _sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device, repeats):
    best = np.inf
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best, out


def measure(device="auto", depth: int = 40, width: int | None = None, batch_size: int | None = None,
            n_train: int | None = None, repeats: int = 3, data_root=None) -> dict:
    """Time the batched ensemble against one network at a time; return the rates and their ratio."""
    dev = resolve_device(device)
    gpu = str(dev).startswith("cuda")
    width = width or (1000 if gpu else 128)
    bs = batch_size or (128 if gpu else 64)
    n_train = n_train or 64 * bs
    images = load_mnist("test", root=data_root).images
    xtr, xva = train_validation_split(images, n_train, 256, seed=0)
    steps = n_train // bs
    common = dict(depth=depth, width=width, epochs=1, lr=1e-3, batch_size=bs, device=dev, dtype=torch.float32,
                  optimizer="sgd")

    def batched():
        return train_ensemble(xtr, xva, KEEP, 2 * KEEP, seed=0, **common)

    def sequential():
        return [train_ensemble(xtr, xva, KEEP[i : i + 1], 2 * KEEP[i : i + 1], seed=0, **common) for i in range(len(KEEP))]

    batched()  # warm-up (allocator, kernels)
    t_b, (tl_b, vl_b) = timed(batched, dev, repeats)
    t_s, seq = timed(sequential, dev, repeats)
    vl_s = np.concatenate([v for _, v in seq])[:, 0]
    name = torch.cuda.get_device_name(dev) if gpu else f"CPU ({torch.get_num_threads()} threads)"
    return {"device_name": name, "depth": depth, "width": width, "batch_size": bs, "steps": steps, "networks": len(KEEP),
            "batched_s": t_b, "sequential_s": t_s, "batched_rate": len(KEEP) * steps / t_b,
            "sequential_rate": len(KEEP) * steps / t_s, "ratio": t_s / t_b,
            # both trained the same kind of networks (different random streams, so not identical)
            "max_relative_val_gap": float(np.nanmax(np.abs(vl_b[:, 0] - vl_s) / vl_s))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--depth", type=int, default=40)
    ap.add_argument("--width", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--n-train", type=int, default=None, help="training images per epoch (default: 64 batches)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args(argv)
    r = measure(args.device, args.depth, args.width, args.batch_size, args.n_train, args.repeats, args.data_root)
    print(f"device: {r['device_name']}; depth {r['depth']}, width {r['width']}, batch {r['batch_size']}, "
          f"{r['steps']} steps x {r['networks']} networks")
    print(f"batched ensemble : {r['batched_s']:8.3f} s  -> {r['batched_rate']:10.1f} network-steps/s")
    print(f"one at a time    : {r['sequential_s']:8.3f} s  -> {r['sequential_rate']:10.1f} network-steps/s")
    print(f"ratio (batched / sequential): {r['ratio']:.2f}x   (target >= 5x on a GPU)")
    print(f"validation losses after one epoch, batched vs sequential: max relative gap {r['max_relative_val_gap']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
