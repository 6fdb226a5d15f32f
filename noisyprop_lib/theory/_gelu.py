r"""GELU's two-dimensional Gaussian moments in closed form (private; see :class:`noisyprop_lib.GELU`).

The formulas, and the rearrangement used at large variances with :math:`c\to-1`, are derived in the
docstring of :class:`noisyprop_lib.GELU`. Arguments are validated there.
"""
from __future__ import annotations

import math

import numpy as np


def _pieces(q_a, q_b, c):
    qa, qb, cc = np.broadcast_arrays(q_a, q_b, c)
    e = (1.0 - cc) * (1.0 + cc)
    A, B = 1.0 + qa, 1.0 + qb
    AB = A * B
    qq = qa * qb
    D = 1.0 + qa + qb + e * qq
    k = cc * np.sqrt(qa) * np.sqrt(qb)
    rootD = np.sqrt(D)
    absk = np.abs(k)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        t = rootD / absk  # only used where it is below 1
    near = (cc < 0) & (t < 1.0)
    ts = np.where(near, t, 0.5)
    return qa, qb, cc, e, A, B, AB, qq, D, k, rootD, absk, ts, near


def cross_moment(q_a, q_b, c):
    r""":math:`E[\phi(u_a)\phi(u_b)]` for :math:`\phi(x) = x\Phi(x)` (validated arguments)."""
    qa, qb, cc, e, A, B, AB, qq, D, k, rootD, absk, ts, near = _pieces(q_a, q_b, c)
    theta = np.arctan2(rootD, -k)
    direct = k * theta / (2 * math.pi) + (qq * D + k * k) / (2 * math.pi * AB * rootD)
    p = A * qa + B * qb + AB + e * qq * (A + B)
    far = (k * k * ts * _t_minus_arctan(ts) - p / AB) / (2 * math.pi * rootD)
    return np.where(near, far, direct)


def derivative_cross_moment(q_a, q_b, c):
    r""":math:`E[\phi'(u_a)\phi'(u_b)]` for :math:`\phi(x) = x\Phi(x)` (validated, positive variances)."""
    qa, qb, cc, e, A, B, AB, qq, D, k, rootD, absk, ts, near = _pieces(q_a, q_b, c)
    theta = np.arctan2(rootD, -k)
    direct = (theta + k * (A + B) / (AB * rootD) + k / (D * rootD)) / (2 * math.pi)
    p = A * qa + B * qb + AB + e * qq * (AB + A + B)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        far = (p / (absk * AB * rootD) - _t_minus_arctan(ts) - absk / (D * rootD)) / (2 * math.pi)
    return np.where(near, far, direct)


# t - arctan t = sum_{n >= 1} (-1)^(n+1) t^(2n+1) / (2n+1); 24 terms reach 2^-48 t^3 for t <= 1/2
_T_MINUS_ARCTAN_SERIES = tuple((-1.0) ** (n + 1) / (2 * n + 1) for n in range(1, 25))


def _t_minus_arctan(t):
    r""":math:`t - \arctan t` for :math:`t\ge0`, without cancellation at small :math:`t`."""
    t = np.asarray(t, dtype=float)
    t2 = t * t
    poly = np.zeros_like(t)
    for coef in reversed(_T_MINUS_ARCTAN_SERIES):
        poly = poly * t2 + coef
    return np.where(t <= 0.5, t * t2 * poly, t - np.arctan(t))
