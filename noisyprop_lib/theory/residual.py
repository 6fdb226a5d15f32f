r"""Mean-field maps of residual networks with noise in the residual branch (our extension of the theory).

A residual block adds a scaled noisy branch to its input,

.. math:: h^{l+1} = h^l + \alpha\,F(h^l),\qquad
          F = \text{a plain noisy network of } k \text{ layers } u\mapsto W\nu(\phi(u)) + b,

with fresh weights :math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/N)`, biases :math:`b_i\sim\mathcal N(0,\sigma_b^2)`
and noise on the post-activations, as in :mod:`.meanfield`. ``branch_depth=1`` is
:math:`h + \alpha(W\nu(\phi(h)) + b)` (note: :math:`\alpha` scales the branch bias too);
``branch_depth=2`` is the pre-activation block :math:`h + \alpha(W_2\nu(\phi(W_1\nu(\phi(h)) + b_1)) + b_2)`
of He et al. (2016, "Identity mappings"), without normalisation. The skip needs equal widths.

Because the branch's weights are fresh and have mean zero, :math:`F(h)` is uncorrelated with
:math:`h`, and its covariance is the plain covariance map applied :math:`k` times. Hence

.. math:: q^{l+1}_{ab} = q^l_{ab} + \alpha^2\,B_{ab}(q^l),\qquad B = (\text{covariance map})^{\circ k},

where the diagonal of :math:`B` carries :math:`\mu_2` and the off-diagonal :math:`\mu_1^2` (independent
masks). For ReLU and mean-one multiplicative noise without bias, with branch gain
:math:`r = \sigma_w^2\mu_2/2` and :math:`g = \alpha^2 r^k`,

.. math:: q^{l+1} = (1+g)\,q^l,\qquad c^{l+1} = \frac{c^l + g\,\rho^{\circ k}(c^l)}{1+g},\qquad \rho(c) = R(c)/\mu_2,

so the variance has no fixed point for :math:`\alpha>0`, the correlation fixed point is the plain
network's :math:`c^*` and its slope is :math:`\chi_{\rm res} = (1+g\chi^k)/(1+g)`, :math:`\chi = R'(c^*)/\mu_2`.
These statements are for rectifiers without bias, where the length :math:`q` cancels from the
correlation map; with a bias or a smooth activation the map depends on the growing :math:`q^l`. With
:math:`g` chosen for growth :math:`G` over :math:`L` blocks, each block is an Euler step of the flow
:math:`dc/d\tau = \rho^{\circ k}(c) - c` (one flow per branch depth :math:`k`), followed up to
:math:`\tau = \ln G` as :math:`L\to\infty`.

References: Yang & Schoenholz (2017); Hayou et al. (2021); Pretorius et al. (2018) for the noise.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validation import check_positive_int, check_range, scalar_or_array
from ._domain import _check_c
from ._moments import _is_rectifier_multiplicative_unbiased, _params
from .activations import get_activation
from .critical_point import _small_signal_sigma_w2
from .criticality import correlation_fixed_point_analysis
from .meanfield import covariance_map, variance_map
from .noise import as_noise

__all__ = [
    "residual_variance_map",
    "residual_correlation_map",
    "iterate_residual_maps",
    "residual_branch_scale",
    "residual_correlation_depth_scale",
    "ResidualCorrelationDepthScale",
]


def _alpha_depth(alpha, branch_depth):
    a = check_range("alpha", alpha, 0.0, None)
    return a * a, check_positive_int("branch_depth", branch_depth)


def _branch_covariance(qa, qb, qab, sw, sb, nz, act, k):
    """The branch's output covariance (B_aa, B_bb, B_ab): the plain covariance map applied k times."""
    for _ in range(k):
        qa, qb, qab = (np.asarray(x, dtype=float) for x in covariance_map(qa, qb, qab, sw, sb, nz, act))
    return qa, qb, qab


def residual_variance_map(q, sigma_w2, sigma_b2=0.0, noise=None, activation="relu", *, alpha=1.0, branch_depth=1):
    r"""One residual block of the variance map: :math:`q^{l+1} = q^l + \alpha^2 B(q^l)`.

    :math:`B` is the plain noisy variance map (:func:`~noisyprop_lib.variance_map`) applied
    ``branch_depth`` times. For ReLU with multiplicative noise and one branch layer,
    :math:`q^{l+1} = q^l(1 + \alpha^2\sigma_w^2\mu_2/2) + \alpha^2\sigma_b^2`: no fixed point for
    :math:`\alpha>0` unless :math:`\sigma_w^2 = 0`.

    Parameters
    ----------
    q : float or array
        Variance of the block input, :math:`q\ge0`.
    sigma_w2, sigma_b2 : float or array
        Weight and bias **variances** of the branch layers.
    noise, activation :
        As in :func:`~noisyprop_lib.variance_map`.
    alpha : float or array
        Branch scale :math:`\alpha\ge0` (it multiplies the branch bias too).
    branch_depth : int
        Layers in the branch, :math:`k\ge1`.
    """
    a2, k = _alpha_depth(alpha, branch_depth)
    act = get_activation(activation)
    nz = as_noise(noise)
    q = check_range("q", q, 0.0, None)
    sw, sb = _params(sigma_w2, sigma_b2)
    b = q
    with np.errstate(over="ignore"):
        for _ in range(k):
            b = np.asarray(variance_map(b, sw, sb, nz, act), dtype=float)
        return scalar_or_array(q + a2 * b)


def _residual_correlation_step(q, c, sw, sb, nz, act, a2, k):
    """(q', c') of one block for two inputs of equal length q (validated arguments)."""
    ba, _, bab = _branch_covariance(q, q, c * q, sw, sb, nz, act, k)
    q_new = q + a2 * ba
    if np.any(q_new <= 0):
        raise ValueError("the block output variance is zero (q = 0 and no bias, or alpha = 0 with q = 0), so the "
                         "correlation is undefined; use q > 0")
    return q_new, np.clip((c * q + a2 * bab) / q_new, -1.0, 1.0)


def residual_correlation_map(c, sigma_w2, sigma_b2=0.0, noise=None, activation="relu", *, q=1.0, alpha=1.0,
                             branch_depth=1):
    r"""One residual block of the correlation map of two inputs of common length ``q``.

    .. math:: c^{l+1} = \frac{c^l q + \alpha^2 B_{ab}}{q + \alpha^2 B_{aa}},

    with :math:`(B_{aa}, B_{ab})` the branch covariance (:func:`~noisyprop_lib.covariance_map` applied
    ``branch_depth`` times; noise enters the diagonal only). For rectifiers, multiplicative noise and
    :math:`\sigma_b^2 = 0` it does not depend on ``q``: :math:`c' = (c + g\rho^{\circ k}(c))/(1+g)` with
    :math:`g = \alpha^2(\sigma_w^2\mu_2\,\mathrm{gain})^k` and :math:`\rho` the plain correlation map.
    Arguments as in :func:`residual_variance_map`; ``q > 0``.
    """
    a2, k = _alpha_depth(alpha, branch_depth)
    act = get_activation(activation)
    nz = as_noise(noise)
    c = _check_c(c)
    q = check_range("q", q, 0.0, None, low_inclusive=False)
    sw, sb = _params(sigma_w2, sigma_b2)
    return scalar_or_array(_residual_correlation_step(q, c, sw, sb, nz, act, a2, k)[1])


def iterate_residual_maps(q0, c0, depth, sigma_w2, sigma_b2=0.0, noise=None, activation="relu", *, alpha=1.0,
                          branch_depth=1):
    r"""Iterate the variance and correlation maps jointly over ``depth`` residual blocks.

    Needed for smooth activations, whose correlation map depends on the current length :math:`q^l`.

    Returns
    -------
    (q, c) : two numpy arrays of shape ``(depth + 1,) + broadcast shape``
        :math:`q^0,\dots,q^L` and :math:`c^0,\dots,c^L`.
    """
    depth = check_positive_int("depth", depth)
    a2, k = _alpha_depth(alpha, branch_depth)
    act = get_activation(activation)
    nz = as_noise(noise)
    q = check_range("q0", q0, 0.0, None, low_inclusive=False)
    c = _check_c(c0)
    sw, sb = _params(sigma_w2, sigma_b2)
    qs, cs = [q], [c]
    with np.errstate(over="ignore"):
        for _ in range(depth):
            q, c = _residual_correlation_step(np.minimum(q, np.finfo(float).max), c, sw, sb, nz, act, a2, k)
            qs.append(q)
            cs.append(c)
    shape = np.broadcast_shapes(*(np.shape(x) for x in qs + cs))
    return np.stack([np.broadcast_to(x, shape) for x in qs]), np.stack([np.broadcast_to(x, shape) for x in cs])


def _default_sigma_w2(sigma_w2, nz, act):
    if sigma_w2 is None:
        # rectifiers: the critical 2/(mu2 (1 + a^2)); other activations: the small-signal 1/(mu2 phi'(0)^2),
        # which needs no bias (the branch scale is then solved on the map itself)
        return np.asarray(_small_signal_sigma_w2(nz, act), dtype=float)
    return check_range("sigma_w2", sigma_w2, 0.0, None, low_inclusive=False)


def residual_branch_scale(depth, noise=None, activation="relu", *, sigma_w2=None, growth=2.0, branch_depth=1, q0=1.0):
    r"""The squared branch scale :math:`\alpha^2` for which :math:`q^L/q^0 = ` ``growth`` after ``depth`` blocks.

    With no bias, and for rectifiers with multiplicative noise, every block multiplies the variance by
    :math:`1+\alpha^2 r^k` with branch gain :math:`r = \sigma_w^2\mu_2(1+a^2)/2`, so

    .. math:: \alpha^2 = \frac{\mathrm{growth}^{1/L} - 1}{r^k} \approx \frac{\ln \mathrm{growth}}{L\,r^k},

    the :math:`\alpha^2\propto1/L` scaling of the residual-network literature, now with :math:`\mu_2` in
    :math:`r`. By default :math:`\sigma_w^2` is the plain network's critical value (:func:`~noisyprop_lib.critical_sigma_w2`,
    :math:`2/\mu_2` for ReLU), where :math:`r = 1`; for other activations, whose critical point needs a bias
    (:func:`~noisyprop_lib.critical_point`), it is the small-signal value :math:`1/(\mu_2\phi'(0)^2)`. For other activations (or additive noise) the variance
    map depends on :math:`q`: :math:`\alpha^2` is solved numerically (Brent) starting from ``q0``.

    Parameters
    ----------
    depth : int
        Number of blocks :math:`L\ge1`.
    sigma_w2 : float, optional
        Branch weight variance (default: critical).
    growth : float
        Target ratio :math:`q^L/q^0 > 1`.
    branch_depth : int
        Layers per branch.
    q0 : float
        Input variance (used only when the map is not linear).
    """
    depth = check_positive_int("depth", depth)
    k = check_positive_int("branch_depth", branch_depth)
    act = get_activation(activation)
    nz = as_noise(noise)
    growth = check_range("growth", growth, 1.0, None, low_inclusive=False)
    sw = _default_sigma_w2(sigma_w2, nz, act)
    if _is_rectifier_multiplicative_unbiased(act, nz, 0.0):
        r = sw * np.asarray(nz.mu2, dtype=float) * act.gain
        return scalar_or_array(np.expm1(np.log(growth) / depth) / r**k)
    q0 = float(check_range("q0", q0, 0.0, None, low_inclusive=False))
    if np.ndim(sw) or np.ndim(growth) or np.ndim(nz.mu2):
        raise ValueError("residual_branch_scale solves numerically for scalar sigma_w2, growth and noise only "
                         "outside the rectifier case")
    return _solve_branch_scale(depth, nz, act, float(sw), float(growth), k, q0)


def _solve_branch_scale(depth, nz, act, sw, growth, k, q0):
    from scipy.optimize import brentq

    target = np.log(growth)

    def excess(a2):
        q = q0
        for _ in range(depth):
            q = float(residual_variance_map(q, sw, 0.0, nz, act, alpha=np.sqrt(a2), branch_depth=k))
        return np.log(q / q0) - target

    hi = 1.0
    while excess(hi) <= 0:
        hi *= 4.0
        if hi > 1e12:
            raise ValueError(f"no branch scale reaches growth {growth:g} in {depth} blocks (the branch variance "
                             "vanishes); check sigma_w2 and the activation")
    return float(brentq(excess, 0.0, hi, xtol=1e-15, rtol=1e-13))


class ResidualCorrelationDepthScale(NamedTuple):
    """The residual correlation map's stable fixed point, its slope there and the depth scale."""

    c_star: float | np.ndarray
    chi: float | np.ndarray
    depth_scale: float | np.ndarray


def residual_correlation_depth_scale(noise=None, activation="relu", *, alpha2, sigma_w2=None, branch_depth=1):
    r"""Fixed point :math:`c^*`, slope :math:`\chi_{\rm res}` and depth scale :math:`\xi = -1/\ln\chi_{\rm res}`
    of the residual correlation map, for rectifiers with multiplicative noise and :math:`\sigma_b^2=0`.

    The map is :math:`c' = (c + g\rho^{\circ k}(c))/(1+g)`, :math:`g = \alpha^2 r^k`,
    :math:`r = \sigma_w^2\mu_2(1+a^2)/2`. Its fixed point is the plain network's
    (:func:`~noisyprop_lib.correlation_fixed_point`, independent of :math:`\alpha`), and

    .. math:: \chi_{\rm res} = \frac{1 + g\chi^k}{1+g},\qquad \chi = \rho'(c^*),

    where :math:`\chi = \mu_1^2R'(c^*)/\mu_2` for ReLU, which is :math:`R'(c^*)/\mu_2` for
    mean-one noise only. For ReLU, mean-one noise and one branch layer this is
    :math:`(1 + aR'(c^*))/(1 + a\mu_2)` with :math:`a = \alpha^2\sigma_w^2/2`. With
    :math:`\alpha^2` for growth :math:`G` over :math:`L` blocks, :math:`\chi_{\rm res}^L` tends to
    :math:`G^{-(1-\chi^k)}` as :math:`L\to\infty` (the limit, not a statement at finite depth).

    Parameters
    ----------
    alpha2 : float or array
        Squared branch scale :math:`\alpha^2\ge0`.
    sigma_w2 : float or array, optional
        Branch weight variance (default: critical, :math:`r = 1`).
    """
    act = get_activation(activation)
    nz = as_noise(noise)
    if not _is_rectifier_multiplicative_unbiased(act, nz, 0.0):
        raise ValueError(f"residual_correlation_depth_scale covers rectifiers with multiplicative noise, got "
                         f"{act!r} with {nz!r}; iterate the maps with iterate_residual_maps instead")
    k = check_positive_int("branch_depth", branch_depth)
    a2 = check_range("alpha2", alpha2, 0.0, None)
    sw = _default_sigma_w2(sigma_w2, nz, act)
    g = a2 * (sw * np.asarray(nz.mu2, dtype=float) * act.gain) ** k
    fp = correlation_fixed_point_analysis(nz, act)
    chi = np.asarray(fp.chi, dtype=float)
    chi_k = chi**k
    with np.errstate(divide="ignore"):
        one_minus_chi_k = -np.expm1(k * np.log(chi))  # 1 - chi^k without cancellation as chi -> 1
        chi_res = (1.0 + g * chi_k) / (1.0 + g)
        log_chi = np.log1p(-g * one_minus_chi_k / (1.0 + g))
        xi = np.where(log_chi < 0, -1.0 / np.where(log_chi < 0, log_chi, -1.0), np.inf)
    c_star = np.broadcast_to(np.asarray(fp.c_star, dtype=float), np.shape(chi_res))
    return ResidualCorrelationDepthScale(scalar_or_array(c_star), scalar_or_array(chi_res), scalar_or_array(xi))
