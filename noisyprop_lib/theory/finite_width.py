r"""Finite precision and finite width: the depth at which the variance overflows, the log-variance walk.

:func:`overflow_depth` is exact for rectifiers (their variance map is affine); at finite width
:func:`finite_width_log_variance_moments` gives the drift and spread of the log signal variance at
criticality (Hanin and Rolnick, 2018, extended to noise).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validation import check_positive_int, check_range, scalar_or_array
from ._moments import _affine_variance_map
from .activations import LeakyReLU, get_activation
from .critical_point import _NO_CRIT_ADDITIVE, NoCriticalPointError
from .noise import ADDITIVE, as_noise
from ._signature import accepts_layer

__all__ = ["overflow_depth", "FiniteWidthLogVariance", "finite_width_log_variance_moments"]


# ---------------------------------------------------------------------------
# floating-point overflow
# ---------------------------------------------------------------------------


def _float_limits(dtype):
    name = str(dtype).replace("torch.", "")
    try:
        info = np.finfo(np.dtype(name))
    except (TypeError, ValueError) as exc:  # ValueError: an integer dtype ("not inexact")
        raise ValueError(f"dtype must be a floating type such as 'float32' or 'float64', got {dtype!r}") from exc
    return float(info.max), float(info.tiny)


@accepts_layer
def overflow_depth(sigma_w2, noise=None, q0=1.0, dtype="float32", activation="relu", sigma_b2=0.0):
    r"""Depth at which the expected variance leaves the range of ``dtype``.

    For rectifiers the variance map is affine, :math:`q^l = r q^{l-1} + \beta`, so
    :math:`q^l = q^* + (q^0 - q^*)r^l` and the depth solving :math:`q^l = K` is exact.
    With :math:`\beta = 0` this is

    .. math:: L^* = \frac{\ln(K/q^0)}{\ln r},\qquad r = \frac{\sigma_w^2\mu_2(1+\alpha^2)}{2},

    with :math:`K` the largest finite value of ``dtype`` when :math:`r>1` (overflow)
    and its smallest normal value when :math:`r<1` (underflow) (paper Figure 6a).
    Returns ``inf`` at criticality or when the variance settles inside the range.
    """
    act = get_activation(activation)
    if not isinstance(act, LeakyReLU):
        raise ValueError(f"overflow_depth uses the exact affine variance map of rectifiers; {act!r} is not one")
    nz = as_noise(noise)
    sw = check_range("sigma_w2", sigma_w2, 0.0, None, low_inclusive=False)
    sb = check_range("sigma_b2", sigma_b2, 0.0, None)
    q0 = check_range("q0", q0, 0.0, None, low_inclusive=False)
    kmax, ktiny = _float_limits(dtype)
    r, beta = _affine_variance_map(sw, sb, nz, act)
    r, beta, q0 = np.broadcast_arrays(np.asarray(r, float), np.asarray(beta, float), q0)
    out = np.full(r.shape, np.inf)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        up = r > 1
        shift = np.where(up, beta / np.where(up, r - 1.0, 1.0), 0.0)
        depth_up = np.log((kmax + shift) / (q0 + shift)) / np.log(np.where(up, r, 2.0))
        out = np.where(up, depth_up, out)
        lin = (r == 1) & (beta > 0)
        out = np.where(lin, (kmax - q0) / np.where(lin, beta, 1.0), out)
        down = r < 1
        qstar = np.where(down, beta / np.where(down, 1.0 - r, 1.0), 0.0)
        under = down & (qstar < ktiny) & (q0 > ktiny)
        depth_down = np.log((ktiny - qstar) / (q0 - qstar)) / np.log(np.where(under, r, 0.5))
        out = np.where(under, depth_down, out)
    return scalar_or_array(out)


# ---------------------------------------------------------------------------
# finite width
# ---------------------------------------------------------------------------


class FiniteWidthLogVariance(NamedTuple):
    r"""Mean and variance of :math:`\ln(v^L/v^0)`, and the per-layer variance of the multiplicative step."""

    mean: float | np.ndarray
    variance: float | np.ndarray
    step_variance: float | np.ndarray


@accepts_layer
def finite_width_log_variance_moments(noise=None, width=1000, depth=1, activation="relu") -> FiniteWidthLogVariance:
    r"""Finite-width drift and spread of the signal variance of one input at criticality.

    At width :math:`N` the conditional variance :math:`v^l` of the pre-activations
    of one input follows an exact multiplicative random walk,
    :math:`v^{l+1} = v^l M_l` with i.i.d.

    .. math:: M_l = \frac{\sigma_w^2}{N}\sum_{i=1}^N \epsilon_i^2\,\phi(g_i)^2,\qquad g_i\sim\mathcal N(0,1),

    because the rectifier is positively homogeneous. At the critical
    :math:`\sigma_w^2 = 2/(\mu_2(1+\alpha^2))`, :math:`E M_l = 1` (the mean-field
    statement) and

    .. math:: \operatorname{Var} M_l = \frac{s}{N},\qquad
              s = \frac{6\,E[\epsilon^4]\,(1+\alpha^4)}{\mu_2^2\,(1+\alpha^2)^2} - 1,

    :math:`(6/p - 1)` for dropout and Hanin and Rolnick's :math:`5` for a noiseless
    ReLU network. To first order in :math:`1/N` (the delta method,
    :math:`E\ln M\approx -\operatorname{Var}M/2`),

    .. math:: E\ln\frac{v^L}{v^0}\approx -\frac{Ls}{2N},\qquad
              \operatorname{Var}\ln\frac{v^L}{v^0}\approx\frac{Ls}{N},

    while :math:`E[v^L/v^0] = 1` exactly: the typical network's signal shrinks,
    a few grow large, and the average is preserved.

    Parameters
    ----------
    noise : Noise or None
        Multiplicative noise; its fourth moment comes from :meth:`noisyprop_lib.Noise.moment`.
    width : int
        :math:`N\ge1`.
    depth : int or array of int
        :math:`L\ge0`; an array gives the moments at every depth in it.
    activation : LeakyReLU or "relu"
        A rectifier (the walk is exact only for positively homogeneous activations).

    Returns
    -------
    FiniteWidthLogVariance
        ``mean`` and ``variance`` of :math:`\ln(v^L/v^0)`, and ``step_variance`` :math:`s`
        (so that :math:`\operatorname{Var}M = s/N`).

    References
    ----------
    Hanin and Rolnick (2018) for the noiseless ReLU network; the noisy case is
    this book's extension (chapter "Beyond the paper").
    """
    act = get_activation(activation)
    if not isinstance(act, LeakyReLU):
        raise ValueError(f"activation must be a rectifier (ReLU or LeakyReLU): the random walk is exact only for those, got {act!r}")
    nz = as_noise(noise)
    if nz.kind == ADDITIVE:
        raise NoCriticalPointError(_NO_CRIT_ADDITIVE.format(noise=nz))
    if not nz.is_scalar:
        raise ValueError(f"noise must have scalar parameters, got {nz!r}")
    n = check_positive_int("width", width)
    d = np.asarray(depth)
    if d.dtype.kind not in "iu" or np.any(d < 0):
        raise ValueError(f"depth must be a non-negative integer or an array of them, got {depth!r}")
    a2 = act.alpha**2
    mu2 = float(nz.mu2)
    s = 6.0 * float(nz.moment(4)) * (1.0 + a2 * a2) / (mu2 * mu2 * (1.0 + a2) ** 2) - 1.0
    return FiniteWidthLogVariance(scalar_or_array(-d * s / (2.0 * n)), scalar_or_array(d * s / n), s)
