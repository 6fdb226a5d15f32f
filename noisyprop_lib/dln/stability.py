r"""Sharpness and stepsizes: the loss Hessian in :math:`(u, v)`, the edge-of-stability stepsize, a search for the
largest convergent stepsize, and the support ratio."""
from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from .._validation import check_finite, check_positive_int, check_range, scalar_or_array
from ._common import SeedLike
from ._uv import _hessian_uv
from .interpolators import implicit_bias_solution
from .mirror import _alpha
from .train import train_dln

__all__ = ["loss_hessian", "sharpness", "interpolator_sharpness", "gamma_eos", "StepsizeSearch", "largest_convergent_stepsize",
           "support_ratio"]


def loss_hessian(X, y, u, v) -> np.ndarray:
    r"""Hessian of :math:`F(u,v) = L(u\odot v)` in :math:`(u, v)`, a :math:`2d\times2d` matrix.

    .. math::

       \nabla^2F = \begin{pmatrix} D_vHD_v & D_vHD_u + D_g\\ D_uHD_v + D_g & D_uHD_u\end{pmatrix},

    with :math:`H = X^\top X/n`, :math:`g = \nabla L(u\odot v)` and :math:`D_a = \mathrm{diag}(a)`.
    """
    X = check_finite("X", X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d), got shape {X.shape}")
    n, d = X.shape
    u = check_finite("u", u)
    v = check_finite("v", v)
    if u.shape != (d,) or v.shape != (d,):
        raise ValueError(f"u and v must have shape ({d},), got {u.shape} and {v.shape}")
    return _hessian_uv(X, None if y is None else check_finite("y", y), u, v)


def sharpness(X, y, u, v) -> float:
    r"""Sharpness :math:`\lambda_{\max}\nabla^2F(u,v)` of the diagonal network (see :func:`loss_hessian`).

    ``y=None`` drops the gradient blocks, which vanish at an interpolator.
    """
    return float(np.linalg.eigvalsh(loss_hessian(X, y, u, v))[-1])


def interpolator_sharpness(X, beta, alpha) -> float:
    r"""Sharpness at an interpolator reached with invariant :math:`u^2-v^2 = 2\alpha^2`.

    .. math:: S(\beta) = \lambda_{\max}\big(H^{1/2}\,\mathrm{diag}(2\sqrt{\beta^2+\alpha^4})\,H^{1/2}\big).
    """
    X = check_finite("X", X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d), got shape {X.shape}")
    n, d = X.shape
    beta = check_finite("beta", beta)
    if beta.shape != (d,):
        raise ValueError(f"beta must have shape ({d},), got shape {beta.shape}")
    a = np.broadcast_to(_alpha(alpha), (d,))
    s = np.sqrt(2.0 * np.sqrt(beta**2 + a**4))
    H = X.T @ X / n
    return float(np.linalg.eigvalsh(s[:, None] * H * s[None, :])[-1])


def gamma_eos(X, y, alpha) -> float:
    r"""The edge-of-stability stepsize :math:`\gamma_{\rm EoS} = 2/S(\beta^{GF}_\alpha)`.

    The largest stepsize for which the gradient-flow interpolator :math:`\arg\min_{X\beta=y}\psi_\alpha`
    is a linearly stable fixed point of GD.
    """
    beta = implicit_bias_solution(X, y, alpha)
    return 2.0 / interpolator_sharpness(X, beta, alpha)


@dataclass
class StepsizeSearch:
    """Result of :func:`largest_convergent_stepsize`.

    With a stack of D datasets every per-dataset field has a leading axis of length D.

    Attributes
    ----------
    gamma_max : float or array (D,)
        Largest grid stepsize whose run converged; NaN where none did (then ``found`` is False).
    found : bool or array (D,)
        Whether at least one grid stepsize converged.
    grid : array (G,)
        The stepsizes tried.
    converged, diverged : array of bool, (G,) or (D, G)
        Per grid point.
    loss_ratio : array, (G,) or (D, G)
        Final loss over initial loss per grid point (inf for diverged runs).
    batch_size : int
    n_steps : int
    seed : object
        The sampling seed (SGD), for the record.
    """

    gamma_max: np.ndarray
    found: np.ndarray
    grid: np.ndarray
    converged: np.ndarray
    diverged: np.ndarray
    loss_ratio: np.ndarray
    batch_size: int
    n_steps: int
    seed: object = None


def largest_convergent_stepsize(X, y, alpha, *, batch_size: int | None = None, grid=None, n_steps: int = 20_000,
                                loss_rtol: float = 1e-3, seed: SeedLike = 0) -> StepsizeSearch:
    r"""Largest stepsize of a geometric grid for which (S)GD converges.

    Every grid stepsize (on every dataset of a stack) is trained with :func:`train_dln`; a stepsize
    counts as convergent when its run did not diverge and its loss after ``n_steps`` is at most
    ``loss_rtol`` :math:`L(0)`. For SGD the answer is random; it is reported with its ``seed``.

    To save time the grid is first screened for ``n_steps // 10`` steps; only stepsizes that did not
    diverge there are trained for the full ``n_steps``, with the same sampling streams, so the
    screening changes nothing in the result.

    Parameters
    ----------
    X : array (n, d) or (D, n, d)
    y : array (n,) or (D, n)
    alpha : float or array, > 0
    batch_size : int, optional
        None (GD) or the SGD batch size.
    grid : array, optional
        Stepsizes to try (default: 24 geometric points on [1e-3, 1e2]).
    n_steps : int
    loss_rtol : float
        Convergence level, in (0, 1].
    seed : int or Generator
        Sampling seed; each grid run gets its own stream derived from it.
    """
    grid = np.geomspace(1e-3, 1e2, 24) if grid is None else check_range("grid", grid, 0.0, None, low_inclusive=False)
    grid = np.sort(np.atleast_1d(grid))
    if grid.ndim != 1:
        raise ValueError(f"grid must be a 1-d array of stepsizes, got shape {grid.shape}")
    loss_rtol = float(check_range("loss_rtol", loss_rtol, 0.0, 1.0, low_inclusive=False))
    n_steps = check_positive_int("n_steps", n_steps)
    Xa = check_finite("X", X)
    if _is_array_seed(seed):
        raise ValueError(f"seed must be an int or a Generator for a stepsize search, got {seed!r}")
    D = 1 if Xa.ndim == 2 else Xa.shape[0]
    G = grid.size
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    run_seeds = rng.integers(0, 2**63 - 1, size=(D, G))  # one stream per (dataset, stepsize), reused by both stages

    def run(cols, steps):
        gam = grid[cols] if Xa.ndim == 2 else np.broadcast_to(grid[cols], (D, cols.size))
        sd = run_seeds[0, cols] if Xa.ndim == 2 else run_seeds[:, cols]
        return train_dln(X, y, gam, alpha, batch_size=batch_size, n_steps=steps, seed=sd,
                         record_loss_every=steps, stop_rtol=min(loss_rtol, 1e-12))

    cols = np.arange(G)
    diverged = np.zeros((D, G), dtype=bool)
    if n_steps >= 100:
        screen = run(cols, n_steps // 10)
        diverged = np.asarray(screen.diverged).reshape(D, G).copy()
        cols = np.flatnonzero(~diverged.all(axis=0))
    ratio = np.full((D, G), np.inf)
    if cols.size:
        res = run(cols, n_steps)
        div_full = np.asarray(res.diverged).reshape(D, cols.size)
        diverged[:, cols] = div_full
        ratio[:, cols] = np.where(div_full, np.inf, np.asarray(res.final_loss).reshape(D, cols.size)
                                  / np.asarray(res.initial_loss).reshape(D, cols.size))
    conv = ~diverged & (ratio <= loss_rtol)
    found = conv.any(axis=-1)
    gmax = np.where(found, np.max(np.where(conv, grid, -np.inf), axis=-1), np.nan)
    if Xa.ndim == 2:
        gmax, found, conv, diverged, ratio = gmax[0], bool(found[0]), conv[0], diverged[0], ratio[0]
    b_used = Xa.shape[-2] if batch_size is None else batch_size
    return StepsizeSearch(gamma_max=scalar_or_array(gmax), found=found, grid=grid, converged=conv, diverged=diverged,
                          loss_ratio=ratio, batch_size=b_used, n_steps=n_steps, seed=seed)


def _is_array_seed(seed) -> bool:
    return seed is not None and not isinstance(seed, (numbers.Integral, np.integer, np.random.Generator))


def support_ratio(values, support) -> np.ndarray:
    """Mean of ``values`` on the support over its mean off the support (over the last axis)."""
    values = check_finite("values", values)
    support = np.asarray(support, dtype=bool)
    if support.shape != values.shape[-1:]:
        raise ValueError(f"support must be a boolean mask of shape {values.shape[-1:]}, got shape {support.shape}")
    if support.all() or not support.any():
        raise ValueError("support must contain at least one True and one False entry")
    return scalar_or_array(values[..., support].mean(axis=-1) / values[..., ~support].mean(axis=-1))
