r"""The correlation fixed point off the rectifier closed form (private): Newton from chapter 2, plain iteration.

Used by :func:`noisyprop_lib.correlation_fixed_point` for bias, additive noise and smooth activations.
"""
from __future__ import annotations

import warnings

import numpy as np

from ._moments import _resolve_q
from .meanfield import correlation_map, correlation_map_slope


def _iterated_correlation_fixed_point(sw, sb, nz, act, max_iter=20_000, tol=1e-13, q_star=None):
    """The plain iteration of the map from c = 0 (the fallback of :func:`_general_correlation_fixed_point`)."""
    c = np.zeros(np.broadcast(sw, sb, np.asarray(nz.mu2)).shape)
    done = np.zeros(c.shape, dtype=bool)
    # the lengths sit at the variance fixed point: solve for it once, not in every iteration
    q_star = _resolve_q(None, sw, sb, nz, act) if q_star is None else q_star
    for _ in range(max_iter):
        c_new = np.asarray(correlation_map(c, sw, sb, nz, act, q=q_star), dtype=float)
        done = np.abs(c_new - c) <= tol
        c = c_new
        if np.all(done):
            break
    if not np.all(done):
        warnings.warn(
            f"correlation_fixed_point: {np.sum(~done)} point(s) did not converge in {max_iter} iterations "
            "(convergence is algebraic, not exponential, at the order-to-chaos transition)",
            RuntimeWarning,
            stacklevel=3,
        )
    return c


def _newton_correlation_fixed_point(sw, sb, nz, act, q_star, max_iter=60, tol=1e-13):
    r"""Newton's method on :math:`g(c) = \rho(c) - c` from :math:`c = 0`, every point at once; ``None`` if it fails.

    :math:`g` is convex on :math:`[0, 1]` (its second derivative is :math:`\sigma_w^2\mu_1^2q^*E[\phi''(u_a)
    \phi''(u_b)]/q^l\ge0` there, by Price's theorem and a Hermite expansion), so where :math:`g(0) > 0`
    Newton climbs monotonically to the smallest root, the stable fixed point (chapter 2). Points stop
    once their step is below ``tol`` (quadratic convergence: the error is then far below it). The answer
    is accepted only if every point has converged to a
    fixed point (:math:`|g(c^*)|\le 10^{-13}`) with slope below 1; otherwise ``None``.
    """
    c = np.zeros(np.broadcast(sw, sb, q_star, np.asarray(nz.mu2)).shape)
    active = np.ones(c.shape, dtype=bool)
    for _ in range(max_iter):
        g = np.asarray(correlation_map(c, sw, sb, nz, act, q=q_star), dtype=float) - c
        dg = np.asarray(correlation_map_slope(c, sw, sb, nz, act, q=q_star), dtype=float) - 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(active, -g / dg, 0.0)
        if not np.all(np.isfinite(step)):
            return None
        c = np.clip(c + step, -1.0, 1.0)
        active &= np.abs(step) > tol
        if not np.any(active):
            break
    residual = np.abs(np.asarray(correlation_map(c, sw, sb, nz, act, q=q_star), dtype=float) - c)
    slope = np.asarray(correlation_map_slope(c, sw, sb, nz, act, q=q_star), dtype=float)
    if np.any(residual > 1e-13) or np.any(slope > 1.0 + 1e-9) or np.any(c < 0):
        return None
    return c


def _general_correlation_fixed_point(sw, sb, nz, act, max_iter=20_000, tol=1e-13):
    """The stable correlation fixed point off the rectifier closed form: Newton, else plain iteration."""
    # the lengths sit at the variance fixed point: solve for it once
    q_star = _resolve_q(None, sw, sb, nz, act)
    c = _newton_correlation_fixed_point(sw, sb, nz, act, q_star)
    if c is not None:
        return c
    return _iterated_correlation_fixed_point(sw, sb, nz, act, max_iter, tol, q_star=q_star)
