r"""Interpolators of overparametrised least squares: the implicit-bias solution
:math:`\arg\min_{X\beta=y} D_{\psi_\alpha}(\beta,\tilde\beta)` (dual Newton method), basis pursuit, minimum :math:`\ell_2`."""
from __future__ import annotations

import numpy as np

from .._validation import check_finite, check_positive_int, check_range
from ._common import SolverError
from .mirror import _alpha

__all__ = ["implicit_bias_solution", "basis_pursuit", "min_l2_interpolator"]


def _check_design(X, y):
    X = check_finite("X", X)
    if X.ndim != 2:
        raise ValueError(f"X must have shape (n, d), got shape {X.shape}")
    y = check_finite("y", y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got shape {y.shape}")
    n, d = X.shape
    if n > d or np.linalg.matrix_rank(X) < n:
        raise ValueError(f"X must have full row rank n <= d so that interpolators exist for every y, got shape {X.shape} and rank {np.linalg.matrix_rank(X)}")
    return X, y


def _dual_newton(X, y, la2, z0, lam, tol, max_iter):
    """Newton's method with Armijo backtracking on G(lam) = sum alpha^2 cosh(z0 + 2 X^T lam)/2 - lam.y."""
    ynorm = max(float(np.linalg.norm(y)), 1e-300)

    la = 0.5 * la2

    def evaluate(lam):
        # G = sum alpha^2 (cosh w - 1)/2 - lam.y = sum (alpha sinh(w/2))^2 - lam.y, computed without
        # the constant sum alpha^2/2 (no cancellation) and without overflow when alpha is tiny
        # alpha^2 sinh(w) = sign(w) e^{|w| + 2 ln alpha} (1 - e^{-2|w|})/2: no overflow for tiny alpha,
        # no cancellation for small |w| (large alpha)
        w = z0 + 2.0 * (lam @ X)
        aw = np.abs(w)
        big = np.exp(aw + la2)
        e2 = np.exp(-2.0 * aw)
        beta = 0.5 * np.sign(w) * big * (-np.expm1(-2.0 * aw))
        c = 0.5 * big * (1.0 + e2)
        sh = 0.5 * np.exp(0.5 * aw + la) * (-np.expm1(-aw))
        G = np.sum(sh * sh) - lam @ y
        return G, beta, c

    with np.errstate(over="ignore", invalid="ignore"):
        G, beta, c = evaluate(lam)
        if not np.isfinite(G):
            return lam, beta, False, 0
        for it in range(max_iter):
            grad = X @ beta - y
            gnorm = np.linalg.norm(grad)
            if gnorm <= tol * ynorm:
                return lam, beta, True, it
            Hs = 2.0 * (X * c) @ X.T
            try:
                step = -np.linalg.solve(Hs, grad)
            except np.linalg.LinAlgError:
                step = -np.linalg.lstsq(Hs, grad, rcond=None)[0]
            slope = grad @ step
            t = 1.0
            accepted = False
            for _ in range(60):
                lam_new = lam + t * step
                G_new, beta_new, c_new = evaluate(lam_new)
                if np.isfinite(G_new):
                    # Armijo, or (near the solution, where rounding hides the decrease of G)
                    # a step that halves the residual, as Newton's quadratic convergence does
                    accepted = bool(G_new <= G + 1e-4 * t * slope) or bool(np.linalg.norm(X @ beta_new - y) <= 0.5 * gnorm)
                if accepted:
                    break
                t *= 0.5
            if not accepted:
                return lam, beta, False, it
            lam, G, beta, c = lam_new, G_new, beta_new, c_new
        grad = X @ beta - y
        return lam, beta, bool(np.linalg.norm(grad) <= tol * ynorm), max_iter


def implicit_bias_solution(X, y, alpha, beta_ref=None, *, tol: float = 1e-12, max_iter: int = 200,
                           return_multiplier: bool = False):
    r"""The interpolator closest to ``beta_ref`` in the Bregman divergence of :math:`\psi_\alpha`.

    .. math::

       \hat\beta(\alpha,\tilde\beta) = \arg\min_{X\beta = y} D_{\psi_\alpha}(\beta,\tilde\beta),

    with :math:`\tilde\beta = 0` (``beta_ref=None``) giving :math:`\arg\min_{X\beta=y}\psi_\alpha(\beta)`,
    the limit of gradient flow from scale :math:`\alpha` (Woodworth et al., 2020). By the KKT conditions
    :math:`\hat\beta = \alpha^2\sinh(z_0 + 2X^\top\lambda)` with :math:`z_0 = \mathrm{arcsinh}(\tilde\beta/\alpha^2)`,
    where :math:`\lambda\in\mathbb R^n` minimises the dual
    :math:`G(\lambda) = \sum_i\frac12\alpha_i^2\cosh(z_{0,i}+2(X^\top\lambda)_i) - \lambda^\top y`.
    :math:`G` is minimised by Newton's method with Armijo backtracking (the Hessian is
    :math:`2X\,\mathrm{diag}(\alpha^2\cosh(\cdot))X^\top`), in overflow-free form
    (:math:`\alpha^2e^{\pm w} = e^{\pm w + 2\ln\alpha}`). When the smallest :math:`\alpha_i` is below
    :math:`10^{-3}` the solve is continued from a larger scale, dividing :math:`\alpha` by 10 at a time.

    Parameters
    ----------
    X : array (n, d)
        Full row rank, :math:`n\le d`.
    y : array (n,)
    alpha : float or array (d,), > 0
    beta_ref : array (d,), optional
        The reference point :math:`\tilde\beta` (default 0).
    tol : float
        Stop when :math:`\|X\beta - y\|\le` ``tol`` :math:`\|y\|`; must lie in [1e-15, 1e-6].
    max_iter : int
        Newton iterations per continuation stage.
    return_multiplier : bool
        Also return :math:`\lambda`.

    Returns
    -------
    beta : array (d,)
        (and ``lam`` with ``return_multiplier=True``)

    Raises
    ------
    SolverError
        If Newton's method does not reach the tolerance.
    """
    X, y = _check_design(X, y)
    n, d = X.shape
    alpha = np.broadcast_to(_alpha(alpha), (d,)).astype(float)
    tol = float(check_range("tol", tol, 1e-15, 1e-6))
    max_iter = check_positive_int("max_iter", max_iter)
    if beta_ref is None:
        beta_ref = np.zeros(d)
    else:
        beta_ref = check_finite("beta_ref", beta_ref)
        if beta_ref.shape != (d,):
            raise ValueError(f"beta_ref must have shape ({d},), got shape {beta_ref.shape}")
    amin = float(alpha.min())
    if amin < 1e-3:
        n_stages = int(np.ceil(np.log10(1e-2 / amin)))
        scales = 10.0 ** np.linspace(np.log10(1e-2 / amin), 0.0, n_stages + 1)
    else:
        scales = np.array([1.0])
    lam = np.zeros(n)
    ok = False
    for sc in scales:
        a = alpha * sc
        la2 = 2.0 * np.log(a)
        z0 = np.arcsinh(beta_ref / a**2)
        lam, beta, ok, _ = _dual_newton(X, y, la2, z0, lam, tol, max_iter)
    if not ok:
        res = np.linalg.norm(X @ beta - y) / max(np.linalg.norm(y), 1e-300)
        raise SolverError(f"implicit_bias_solution: dual Newton did not reach relative residual {tol:g} (got {res:.3g}); "
                          f"alpha in [{alpha.min():.3g}, {alpha.max():.3g}]")
    return (beta, lam) if return_multiplier else beta


def basis_pursuit(X, y, weights=None) -> np.ndarray:
    r"""(Weighted) basis pursuit :math:`\arg\min_{X\beta=y}\sum_i w_i|\beta_i|` as a linear program.

    Solved as :math:`\min w^\top(p+m)` subject to :math:`X(p-m) = y`, :math:`p, m\ge0`, with
    ``scipy.optimize.linprog`` (HiGHS).

    Parameters
    ----------
    X : array (n, d), full row rank
    y : array (n,)
    weights : array (d,), optional
        Positive weights (default all ones).
    """
    from scipy.optimize import linprog

    X, y = _check_design(X, y)
    n, d = X.shape
    w = np.ones(d) if weights is None else np.broadcast_to(check_range("weights", weights, 0.0, None, low_inclusive=False), (d,))
    res = linprog(np.concatenate([w, w]), A_eq=np.hstack([X, -X]), b_eq=y, bounds=(0, None), method="highs",
                  options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10})
    if res.status != 0:
        raise SolverError(f"basis_pursuit: linprog failed ({res.message})")
    return res.x[:d] - res.x[d:]


def min_l2_interpolator(X, y) -> np.ndarray:
    r"""The minimum-:math:`\ell_2` interpolator :math:`X^\top(XX^\top)^{-1}y`."""
    X, y = _check_design(X, y)
    return X.T @ np.linalg.solve(X @ X.T, y)
