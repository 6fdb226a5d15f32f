r"""Mirror geometry of the diagonal network: the hyperbolic entropy :math:`\psi_\alpha`, its gradient, inverse mirror
map, conjugate and Bregman divergence; the scalar functions :math:`q, q_\pm` and the effective initialisation."""
from __future__ import annotations

import numpy as np

from .._validation import check_finite, check_range, scalar_or_array

__all__ = ["hyperbolic_entropy", "hyperbolic_entropy_grad", "hyperbolic_entropy_conjugate", "mirror_map_inverse", "bregman_divergence",
           "q", "q_plus", "q_minus", "effective_alpha"]


def _alpha(alpha, shape=None, name="alpha") -> np.ndarray:
    a = check_range(name, alpha, 0.0, None, low_inclusive=False)
    return a if shape is None else np.broadcast_to(a, shape)


def hyperbolic_entropy(beta, alpha, *, coordinatewise: bool = False) -> np.ndarray:
    r"""The hyperbolic entropy :math:`\psi_\alpha(\beta)`, summed over the last axis.

    .. math::

       \psi_\alpha(\beta) = \frac12\sum_i\Big(\beta_i\,\mathrm{arcsinh}\frac{\beta_i}{\alpha_i^2}
       - \sqrt{\beta_i^2+\alpha_i^4} + \alpha_i^2\Big),

    evaluated as :math:`\frac12\sum_i\big(\beta_i\,\mathrm{arcsinh}(\beta_i/\alpha_i^2) - \beta_i^2/(\sqrt{\beta_i^2+\alpha_i^4}+\alpha_i^2)\big)`
    to avoid cancellation for :math:`|\beta_i|\ll\alpha_i^2`. A scalar ``beta`` gives the one-coordinate value.
    Strictly convex, :math:`\psi_\alpha(0) = 0`; it tends to :math:`\|\beta\|_2^2/(4\alpha^2)` as
    :math:`\alpha\to\infty` and to :math:`\ln(1/\alpha)\|\beta\|_1` as :math:`\alpha\to0` (Woodworth et al., 2020).

    Parameters
    ----------
    beta : float or array
    alpha : float or array broadcastable to ``beta``, > 0
    coordinatewise : bool
        Return the per-coordinate terms instead of their sum over the last axis.
    """
    beta = check_finite("beta", beta)
    a2 = _alpha(alpha) ** 2
    root = np.sqrt(beta**2 + a2**2)
    terms = 0.5 * (beta * np.arcsinh(beta / a2) - beta**2 / (root + a2))
    return scalar_or_array(terms if (terms.ndim == 0 or coordinatewise) else terms.sum(axis=-1))


def hyperbolic_entropy_grad(beta, alpha) -> np.ndarray:
    r"""The mirror map :math:`\nabla\psi_\alpha(\beta) = \frac12\mathrm{arcsinh}(\beta/\alpha^2)` (elementwise)."""
    beta = check_finite("beta", beta)
    return scalar_or_array(0.5 * np.arcsinh(beta / _alpha(alpha) ** 2))


def mirror_map_inverse(z, alpha) -> np.ndarray:
    r"""The inverse mirror map :math:`(\nabla\psi_\alpha)^{-1}(z) = \alpha^2\sinh(2z)` (elementwise)."""
    z = check_finite("z", z)
    return scalar_or_array(_alpha(alpha) ** 2 * np.sinh(2.0 * z))


def hyperbolic_entropy_conjugate(z, alpha, *, coordinatewise: bool = False) -> np.ndarray:
    r"""The convex conjugate :math:`\psi_\alpha^*(z) = \sum_i\frac12\alpha_i^2(\cosh 2z_i - 1)`, summed over the last axis.

    ``coordinatewise=True`` returns the terms of the sum instead.
    """
    z = check_finite("z", z)
    terms = _alpha(alpha) ** 2 * np.sinh(z) ** 2  # (cosh 2z - 1)/2 = sinh(z)^2, no cancellation
    return scalar_or_array(terms if (terms.ndim == 0 or coordinatewise) else terms.sum(axis=-1))


def bregman_divergence(beta, beta_ref, alpha) -> np.ndarray:
    r"""Bregman divergence :math:`D_{\psi_\alpha}(\beta,\beta') = \psi_\alpha(\beta)-\psi_\alpha(\beta')-\langle\nabla\psi_\alpha(\beta'),\beta-\beta'\rangle`.

    Summed over the last axis; non-negative, zero only at :math:`\beta = \beta'`.
    """
    beta = check_finite("beta", beta)
    beta_ref = check_finite("beta_ref", beta_ref)
    a = _alpha(alpha)
    grad = 0.5 * np.arcsinh(beta_ref / a**2)
    lin = (grad * (beta - beta_ref))
    lin = lin if lin.ndim == 0 else lin.sum(axis=-1)
    return scalar_or_array(np.asarray(hyperbolic_entropy(beta, a)) - np.asarray(hyperbolic_entropy(beta_ref, a)) - lin)


def _check_away_from(name, x, points, domain):
    x = check_finite(name, x)
    for p in points:
        if np.any(x == p):
            raise ValueError(f"{name} must lie in {domain}, got a value equal to {p:g}")
    return x


def _q_raw(x: np.ndarray) -> np.ndarray:
    """q(x) = -ln|1 - x^2|, accurate near 0 (log1p), no warnings; +inf at |x| = 1."""
    t = x * x
    small = t < 0.5
    with np.errstate(divide="ignore"):
        return np.where(small, -np.log1p(-np.where(small, t, 0.0)), -np.log(np.abs(1.0 - np.where(small, 0.0, t))))


def _dq_raw(x: np.ndarray) -> np.ndarray:
    r"""q_+(x) - q_-(x) = -4x + 2 ln|(1+x)/(1-x)| (= 4(artanh x - x) on (-1, 1)), accurate near 0."""
    ax = np.abs(x)
    tiny = ax < 1e-2
    xs = np.where(tiny, x, 0.0)
    x2 = xs * xs
    series = 4.0 * xs * x2 * (1.0 / 3 + x2 * (1.0 / 5 + x2 * (1.0 / 7 + x2 * (1.0 / 9))))
    xb = np.where(tiny, 0.5, x)
    with np.errstate(divide="ignore"):
        big = -4.0 * xb + 2.0 * (np.log(np.abs(1.0 + xb)) - np.log(np.abs(1.0 - xb)))
    return np.where(tiny, series, big)


def q(x) -> np.ndarray:
    r"""The gain function :math:`q(x) = -\tfrac12\ln\big((1-x^2)^2\big) = -\ln|1-x^2|`, :math:`x\ne\pm1`.

    Even; :math:`q(x) = x^2 + x^4/2 + O(x^6)`; :math:`q\ge0` exactly on :math:`|x|\le\sqrt2`;
    :math:`x^2\le q(x)\le 2x^2` for :math:`|x|\le1/\sqrt2`. The effective initialisation of (S)GD is
    :math:`\alpha_\infty = \alpha\odot\exp(-\frac12\sum_k q(\gamma_k g_k))` (Even et al., 2023).

    Raises
    ------
    ValueError
        If some ``x`` equals :math:`\pm1`, where :math:`q` is infinite.
    """
    x = _check_away_from("x", x, (1.0, -1.0), "R minus {-1, 1}")
    return scalar_or_array(_q_raw(x))


def q_plus(x) -> np.ndarray:
    r""":math:`q_+(x) = -2x - \ln\big((1-x)^2\big)`, :math:`x\ne1`; :math:`q_+(x) = x^2 + \tfrac23x^3 + O(x^4)`."""
    x = _check_away_from("x", x, (1.0,), "R minus {1}")
    with np.errstate(divide="ignore"):
        out = np.where(np.abs(x) < 0.5, -2.0 * x - 2.0 * np.log1p(-np.clip(x, -0.5, 0.5)),
                       -2.0 * x - 2.0 * np.log(np.abs(1.0 - np.where(np.abs(x) < 0.5, 0.0, x))))
    return scalar_or_array(out)


def q_minus(x) -> np.ndarray:
    r""":math:`q_-(x) = 2x - \ln\big((1+x)^2\big) = q_+(-x)`, :math:`x\ne-1`."""
    x = _check_away_from("x", x, (-1.0,), "R minus {-1}")
    return q_plus(-x)


def effective_alpha(alpha, gain) -> np.ndarray:
    r"""The effective initialisation :math:`\alpha_\infty = \alpha\odot e^{-\mathrm{Gain}/2}`.

    :math:`\mathrm{Gain} = \ln(\alpha^2/\alpha_\infty^2) = \sum_k q(\gamma_k g_k)` (elementwise).
    """
    a = _alpha(alpha)
    gain = check_finite("gain", gain)
    return scalar_or_array(a * np.exp(-0.5 * gain))
