r"""Critical initialisation, fixed points and depth scales of noisy networks.

Central results (Pretorius et al., 2018), for ReLU:

* additive noise admits **no** critical initialisation
  (:class:`NoCriticalPointError`);
* multiplicative noise with second moment :math:`\mu_2` is critical at
  :math:`\sigma_w^2 = 2/\mu_2,\ \sigma_b^2 = 0` (dropout with keep probability
  :math:`p`: :math:`2p`);
* the correlation map :math:`c\mapsto R(c)/\mu_2` has a unique stable fixed
  point :math:`c^* < 1` whenever :math:`\mu_2>1`, with slope
  :math:`\chi(c^*) = R'(c^*)/\mu_2` and depth scale
  :math:`\xi_c = -1/\ln\chi(c^*)`; networks train up to about :math:`6\xi_c`
  layers (Schoenholz et al., 2017).

All functions broadcast over array-valued parameters (including noise models
built from arrays) and are accurate for :math:`\mu_2` from 1 to :math:`10^6`.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validation import check_range, scalar_or_array
from ._moments import _affine_variance_map, _general_case, _prepare
from ._fixed_point import (  # noqa: F401  (the solvers, importable here as before)
    _general_correlation_fixed_point,
    _iterated_correlation_fixed_point,
    _newton_correlation_fixed_point,
)
from ._rectifier import _rectifier_delta, _solve_rectifier_fixed_point
from .activations import LeakyReLU, get_activation
from .meanfield import correlation_map, correlation_map_slope, variance_fixed_point, variance_map_slope
from .noise import ADDITIVE, as_noise
from ._signature import accepts_layer
from .critical_point import (  # noqa: F401  (importable from here, as before)
    CriticalPoint,
    NoCriticalPointError,
    _small_signal_sigma_w2,
    critical_point,
    critical_sigma_w2,
)

__all__ = [
    "NoCriticalPointError",
    "critical_sigma_w2",
    "critical_point",
    "CriticalPoint",
    "chi1",
    "correlation_fixed_point",
    "correlation_fixed_point_slope",
    "correlation_fixed_point_analysis",
    "CorrelationFixedPoint",
    "depth_scale",
    "variance_depth_scale",
    "gradient_depth_scale",
    "trainable_depth",
    "order_chaos_boundary",
]


# ---------------------------------------------------------------------------
# the variance map
# ---------------------------------------------------------------------------


@accepts_layer
def chi1(sigma_w2, sigma_b2=0.0, noise=None, activation="relu"):
    r"""Slope of the correlation map at :math:`c=1`, at the variance fixed point.

    Without noise this is Poole et al.'s :math:`\chi_1 = \sigma_w^2E[\phi'(\sqrt{q^*}z)^2]`,
    which separates order (:math:`\chi_1<1`) from chaos (:math:`\chi_1>1`). With noise it is
    :math:`\sigma_w^2\mu_1^2 q^* E[\phi'(u)^2]/q^{l}` (additive noise: :math:`\mu_1^2\to1`).
    At :math:`c = 1` the two arguments coincide, so the moment is one-dimensional and is
    computed as such (faster and more accurate than the general two-dimensional slope).
    """
    act, nz, sb, closed = _prepare(activation, noise, sigma_w2, sigma_b2)
    if closed:
        return correlation_map_slope(1.0, sigma_w2, sb, nz, act)
    q_eff, sw, _, qaa, off, _ = _general_case(None, sigma_w2, sb, nz, act, False)
    return scalar_or_array(sw * off * q_eff * np.asarray(act.derivative_second_moment(q_eff)) / qaa)


# ---------------------------------------------------------------------------
# the correlation fixed point
# ---------------------------------------------------------------------------


@accepts_layer
def correlation_fixed_point(noise=None, activation="relu", sigma_w2=None, sigma_b2=0.0):
    r"""The stable fixed point :math:`c^*` of the correlation map.

    For ReLU with multiplicative mean-one noise and :math:`\sigma_b^2 = 0` it is the
    unique root in :math:`(0, 1)` of :math:`R(c)/\mu_2 = c` when :math:`\mu_2>1`
    (and :math:`c^*=1` without noise); leaky slopes and non-unit means enter
    through :math:`(\mu_2/\mu_1^2)(1+\alpha^2)/(1-\alpha)^2`. This case is solved by
    a vectorised monotone Newton iteration, accurate to a few ulp over
    :math:`\mu_2\in[1, 10^6]`. Other cases (bias, additive noise, other
    activations; ``sigma_w2`` then required) iterate the map from :math:`c=0` at
    the variance fixed point.

    Examples
    --------
    >>> import noisyprop_lib as npl
    >>> round(npl.correlation_fixed_point(npl.Dropout(0.6)), 6)
    0.283909
    """
    act, nz, sb, closed = _prepare(activation, noise, sigma_w2, sigma_b2)
    if closed:
        c, _ = _solve_rectifier_fixed_point(_rectifier_delta(nz, act))
        return scalar_or_array(c)
    if sigma_w2 is None:
        raise ValueError(
            "sigma_w2 is required: the correlation fixed point depends on it unless the activation is a "
            "rectifier, the noise multiplicative and sigma_b2 = 0"
        )
    sw = check_range("sigma_w2", sigma_w2, 0.0, None)
    return scalar_or_array(_general_correlation_fixed_point(sw, sb, nz, act))


class CorrelationFixedPoint(NamedTuple):
    """The stable correlation fixed point, its slope and the depth scale, from one solve."""

    c_star: float | np.ndarray
    chi: float | np.ndarray
    depth_scale: float | np.ndarray


@accepts_layer
def correlation_fixed_point_analysis(noise=None, activation="relu", sigma_w2=None, sigma_b2=0.0) -> CorrelationFixedPoint:
    r""":math:`c^*`, :math:`\chi(c^*)` and :math:`\xi_c` together, solving for the fixed point once.

    Equivalent to calling :func:`correlation_fixed_point`,
    :func:`correlation_fixed_point_slope` and :func:`depth_scale`, at a third of the
    cost; use it on large grids.

    Examples
    --------
    >>> import noisyprop_lib as npl
    >>> fp = npl.correlation_fixed_point_analysis(npl.Dropout(0.5))
    >>> round(fp.c_star, 6), round(fp.chi, 6), round(fp.depth_scale, 6)
    (0.217234, 0.284852, 0.796314)
    """
    act, nz, sb, closed = _prepare(activation, noise, sigma_w2, sigma_b2)
    if closed:
        a = act.alpha
        rel = np.asarray(nz.relative_variance, dtype=float)
        c, theta = _solve_rectifier_fixed_point(_rectifier_delta(nz, act))
        # 1 - chi = ((1+a^2) delta + (1-a)^2 (1 - R'(c*))) / (kappa (1+a^2)), with 1 - R'(c) = arccos(c)/pi
        acos_pi = theta / math.pi  # arccos(c*) / pi
        one_minus_chi = ((1 + a * a) * rel + (1 - a) ** 2 * acos_pi) / ((1.0 + rel) * (1 + a * a))
        # chi itself, without the cancellation of 1 - (1 - chi) when chi is small (large noise)
        chi = ((1 + a * a) - (1 - a) ** 2 * acos_pi) / ((1.0 + rel) * (1 + a * a))
    else:
        c = np.asarray(correlation_fixed_point(nz, act, sigma_w2, sb), dtype=float)
        chi = np.asarray(correlation_map_slope(c, sigma_w2, sb, nz, act), dtype=float)
        one_minus_chi = 1.0 - chi
    # log1p keeps xi accurate as chi -> 1, log as chi -> 0 (each evaluated only where it is used)
    chi = np.asarray(chi, dtype=float)
    one_minus_chi = np.broadcast_to(one_minus_chi, chi.shape)
    low = chi < 0.5
    log_chi = np.empty(chi.shape)
    log_chi[low] = np.log(chi[low])
    log_chi[~low] = np.log1p(-one_minus_chi[~low])
    with np.errstate(divide="ignore"):
        xi = -1.0 / log_chi
    return CorrelationFixedPoint(scalar_or_array(c), scalar_or_array(chi), scalar_or_array(xi))


@accepts_layer
def correlation_fixed_point_slope(noise=None, activation="relu", sigma_w2=None, sigma_b2=0.0):
    r"""The slope :math:`\chi(c^*)` of the correlation map at its stable fixed point.

    ReLU with mean-one multiplicative noise: :math:`\chi(c^*) = (\pi - \arccos c^*)/(\pi\mu_2)`,
    which lies in :math:`(1/(2\mu_2), 1/\mu_2)` for :math:`\mu_2>1` and equals 1 without noise.
    """
    return correlation_fixed_point_analysis(noise, activation, sigma_w2, sigma_b2).chi


@accepts_layer
def depth_scale(noise=None, activation="relu", sigma_w2=None, sigma_b2=0.0):
    r"""The correlation depth scale :math:`\xi_c = -1/\ln\chi(c^*)` (Schoenholz et al., 2017).

    Correlations approach their fixed point as :math:`|c^l - c^*|\sim e^{-l/\xi_c}`.
    Infinite without noise (:math:`\mu_2=1`, the edge of chaos), finite and strictly
    decreasing in :math:`\mu_2` otherwise, with
    :math:`1/\ln(2\mu_2) < \xi_c < 1/\ln\mu_2` for ReLU.

    Examples
    --------
    >>> import noisyprop_lib as npl
    >>> round(npl.depth_scale(npl.Dropout(0.6)), 5)
    0.96553
    """
    return correlation_fixed_point_analysis(noise, activation, sigma_w2, sigma_b2).depth_scale


@accepts_layer
def trainable_depth(noise=None, activation="relu", sigma_w2=None, sigma_b2=0.0, factor=6.0):
    r"""Predicted trainable depth :math:`6\,\xi_c` (Schoenholz et al., 2017; Pretorius et al., 2018).

    ``factor`` replaces the empirical constant 6.
    """
    f = check_range("factor", factor, 0.0, None, low_inclusive=False)
    return scalar_or_array(f * np.asarray(depth_scale(noise, activation, sigma_w2, sigma_b2)))


@accepts_layer
def variance_depth_scale(sigma_w2, sigma_b2=0.0, noise=None, activation="relu"):
    r"""Depth scale of the variance map, :math:`\xi_q = -1/\ln\chi_q` at the variance fixed point.

    For rectifiers :math:`\chi_q = r = \sigma_w^2\mu_2(1+\alpha^2)/2` for every :math:`q`.
    Positive when :math:`\chi_q<1` (deviations decay as :math:`e^{-l/\xi_q}`), infinite at
    criticality, negative when :math:`\chi_q>1`: then :math:`|\xi_q|` is the e-folding depth
    of the growth.
    """
    act = get_activation(activation)
    nz = as_noise(noise)
    if isinstance(act, LeakyReLU):
        sw = check_range("sigma_w2", sigma_w2, 0.0, None)
        check_range("sigma_b2", sigma_b2, 0.0, None)
        r, _ = _affine_variance_map(sw, 0.0, nz, act)
    else:
        qs = variance_fixed_point(sigma_w2, sigma_b2, nz, act)
        r = np.asarray(variance_map_slope(np.where(np.isfinite(qs), qs, 0.0), sigma_w2, sigma_b2, nz, act))
    with np.errstate(divide="ignore"):
        return scalar_or_array(_depth_from_factor(r))


def _depth_from_factor(r):
    """-1/ln r, with +inf (not -1/(+0.0) = -inf) at exactly r = 1."""
    r = np.asarray(r, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(r == 1.0, np.inf, -1.0 / np.log(r))


@accepts_layer
def gradient_depth_scale(sigma_w2, sigma_b2=0.0, noise=None, activation="relu"):
    r"""Depth scale of the backward pass: :math:`-1/\ln(\sigma_w^2\mu_2E[\phi'(u)^2])`.

    The squared gradient norm changes per layer by :math:`\sigma_w^2\mu_2E[\phi'(u)^2]`
    (same mask in the forward and backward passes); for ReLU this is
    :math:`\sigma_w^2\mu_2/2`, exactly 1 at noisy criticality, so the depth scale is
    infinite there even though :math:`\xi_c` is finite. Sign convention as in
    :func:`variance_depth_scale`.
    """
    act = get_activation(activation)
    nz = as_noise(noise)
    sw = check_range("sigma_w2", sigma_w2, 0.0, None)
    check_range("sigma_b2", sigma_b2, 0.0, None)
    diag = 1.0 if nz.kind == ADDITIVE else np.asarray(nz.mu2, dtype=float)
    if isinstance(act, LeakyReLU):
        d2 = act.gain
    else:
        qs = variance_fixed_point(sigma_w2, sigma_b2, nz, act)
        d2 = np.asarray(act.derivative_second_moment(np.where(np.isfinite(qs), qs, 0.0)))
    factor = sw * diag * d2
    with np.errstate(divide="ignore"):
        return scalar_or_array(_depth_from_factor(factor))


def order_chaos_boundary(sigma_b2, activation="tanh", noise=None, bracket=(1e-2, 1e3), xtol=1e-12):
    r"""The order/chaos boundary: the :math:`\sigma_w^2` at which :math:`\chi_1 = 1` at the variance fixed point.

    :math:`\chi_1` (:func:`chi1`) is the slope of the correlation map at :math:`c = 1`; below the
    boundary correlations converge to 1 (order), above it they are pulled to :math:`c^* < 1` (chaos),
    and the correlation depth scale diverges on it (Poole et al., 2016; Schoenholz et al., 2017). With
    :math:`\sigma_b^2 = 0` it is :math:`1/(\mu_2\phi'(0)^2)` (the slope at :math:`q^* = 0`); with bias it is the root of
    :math:`\chi_1 - 1` in ``bracket``, by Brent's method to ``xtol``, for each bias variance.

    Raises
    ------
    ValueError
        Where :math:`\chi_1 - 1` does not change sign in ``bracket`` (no boundary there: e.g. a
        rectifier with bias, whose :math:`\chi_1` stays below 1 wherever the variance is finite).

    Examples
    --------
    >>> import noisyprop_lib as npl
    >>> round(float(npl.order_chaos_boundary(0.05)), 6)
    1.760955
    """
    from scipy.optimize import brentq

    sb = np.asarray(check_range("sigma_b2", sigma_b2, 0.0, None), dtype=float)
    act = get_activation(activation)
    nz = as_noise(noise)
    lo, hi = (float(x) for x in bracket)
    out = np.empty(sb.shape)
    for idx in np.ndindex(sb.shape):
        b = float(sb[idx])
        if b == 0:
            out[idx] = _small_signal_sigma_w2(nz, act)
            continue

        def excess(sw, b=b):
            return float(chi1(sw, b, nz, act)) - 1.0

        f_lo, f_hi = excess(lo), excess(hi) if np.isfinite(variance_fixed_point(hi, b, nz, act)) else np.nan
        if not (f_lo < 0 < f_hi):
            raise ValueError(f"chi_1 - 1 does not change sign for sigma_w2 in {bracket} at sigma_b2 = {b!r} "
                             f"({act!r}, {nz!r}): no order/chaos boundary there")
        out[idx] = brentq(excess, lo, hi, xtol=xtol)
    return scalar_or_array(out)
