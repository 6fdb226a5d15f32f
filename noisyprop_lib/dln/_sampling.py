"""SGD batch sampling of :func:`train_dln`: per-run generators and mini-batch gradients (shared internals)."""
from __future__ import annotations

import numbers

import numpy as np

from ._common import SeedLike


def _make_generators(seed: SeedLike, run_shape: tuple) -> list:
    """Per-run sampling generators, in row-major order over ``run_shape``.

    Run ``i`` draws from ``SeedSequence(s, spawn_key=(j,))``: with an int seed ``s`` and ``j = i``; with
    an array of seeds, ``s = seed[i]`` and ``j = 0``. So run ``i`` of a batch trained with an array of
    seeds is the run trained alone with ``seed=int(seed[i])``. A Generator spawns independent streams.
    """
    R = int(np.prod(run_shape, dtype=int))
    if isinstance(seed, np.random.Generator):
        return list(seed.spawn(R))
    if seed is None:
        return [np.random.default_rng(s) for s in np.random.SeedSequence().spawn(R)]
    if isinstance(seed, (numbers.Integral, np.integer)) and not isinstance(seed, bool):
        if int(seed) < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        return [np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(i,))) for i in range(R)]
    arr = np.asarray(seed)
    if arr.dtype.kind not in "iu" or np.any(arr < 0):
        raise ValueError(f"seed must be an int, a Generator or an array of non-negative ints of shape {tuple(run_shape)}, got {seed!r}")
    if arr.shape != tuple(run_shape):
        raise ValueError(f"seed must give one seed per run: shape {tuple(run_shape)}, got shape {arr.shape}")
    return [np.random.default_rng(np.random.SeedSequence(int(s), spawn_key=(0,))) for s in arr.reshape(-1)]


class _BatchSampler:
    """Mini-batch gradients of SGD: per-run index streams drawn ``chunk`` steps at a time."""

    chunk = 1024

    def __init__(self, gens, lay, n_steps: int):  # lay: train._Layout
        self.gens, self.lay, self.n_steps = gens, lay, n_steps
        self.b_flat = lay.b_run.reshape(-1)
        # per-run batch weights 1/b on the first b slots (runs with different batch sizes share one array program)
        self.bw = (np.arange(lay.bmax)[None, None, :] < lay.b_run[:, :, None]) / lay.b_run[:, :, None]
        self.dix = np.arange(lay.D)[:, None]  # broadcasts against (D, G)
        self.gix = np.arange(lay.G)[None, :]
        self.idx_chunk = None

    def draw(self, k0):
        lay, n, m = self.lay, self.lay.n, min(self.chunk, self.n_steps - k0)
        if lay.bmax == 1:
            idx = np.stack([g.integers(0, n, size=m) for g in self.gens], axis=-1)  # (m, R)
            return idx.reshape(m, lay.D, lay.G)
        idx = np.zeros((m, len(self.gens), lay.bmax), dtype=np.int64)
        for j, (g, bj) in enumerate(zip(self.gens, self.b_flat)):
            if bj == 1:
                idx[:, j, 0] = g.integers(0, n, size=m)
            else:  # a uniformly random subset of size b: the b smallest of n uniform keys
                idx[:, j, :bj] = g.random((m, n)).argpartition(bj - 1, axis=1)[:, :bj]
        return idx.reshape(m, lay.D, lay.G, lay.bmax)

    def gradient(self, k, r):
        """The mini-batch gradient of step ``k`` from the residuals ``r`` (D, G, n)."""
        lay, dix = self.lay, self.dix
        if k % self.chunk == 0:
            self.idx_chunk = self.draw(k)
        idx = self.idx_chunk[k % self.chunk]
        if lay.bmax == 1:  # idx (D, G)
            return lay.Xd[dix, idx] * r[dix, self.gix, idx][:, :, None]
        xb = lay.Xd[dix[:, :, None], idx]  # (D, G, bmax, d)
        rb = np.take_along_axis(r, idx, axis=-1)  # (D, G, bmax)
        if not lay.uniform_b:
            return np.einsum("dgbk,dgb->dgk", xb, rb * self.bw)
        return np.einsum("dgbk,dgb->dgk", xb, rb) / lay.bmax
