"""The loss Hessian in (u, v) without argument checks (shared by run.py and stability.py)."""
from __future__ import annotations

import numpy as np


def _hessian_uv(X, y, u, v):
    n, d = X.shape
    H = X.T @ X / n
    Hm = np.empty((2 * d, 2 * d))
    Hm[:d, :d] = v[:, None] * H * v[None, :]
    Hm[:d, d:] = v[:, None] * H * u[None, :]
    Hm[d:, :d] = Hm[:d, d:].T
    Hm[d:, d:] = u[:, None] * H * u[None, :]
    if y is not None:
        g = X.T @ (X @ (u * v) - y) / n
        Hm[np.arange(d), d + np.arange(d)] += g
        Hm[d + np.arange(d), np.arange(d)] += g
    return Hm


def _sharpness_uv(X, y, u, v):
    return float(np.linalg.eigvalsh(_hessian_uv(X, y, u, v))[-1])
