r"""The noisy mean-field maps: variance, covariance and correlation, their slopes, and depth iteration.

For a layer :math:`\tilde h^l = W^l\nu(\phi(\tilde h^{l-1}),\epsilon) + b^l` with
:math:`W_{ij}\sim\mathcal N(0,\sigma_w^2/N)` and :math:`b_i\sim\mathcal N(0,\sigma_b^2)`,
the infinite-width limit gives (Poole et al., 2016; Pretorius et al., 2018)

.. math::

   q^l_{aa} &= \sigma_w^2\,\mu_2\,E[\phi(u_a)^2] + \sigma_b^2,\\
   q^l_{aa} &= \sigma_w^2\,(E[\phi(u_a)^2] + \sigma_\epsilon^2) + \sigma_b^2,\\
   q^l_{ab} &= \sigma_w^2\,\mu_1^2\,E[\phi(u_a)\phi(u_b)] + \sigma_b^2,

for multiplicative noise, for additive noise, and for two inputs :math:`a\ne b`
with independent masks.

Noise enters the diagonal only, because the masks of two different inputs
are independent. With ``shared_mask=True`` both inputs see the same mask and
the off-diagonal carries :math:`\mu_2` (or :math:`+\sigma_\epsilon^2`) as well.

Every function broadcasts over its array arguments, including noise models
built from arrays of parameters. Scalars in, scalars out.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_positive_int, check_range, scalar_or_array
from ._domain import _check_c
from ._moments import (  # noqa: F401  (_resolve_q, _prepare: importable here as before)
    _general_case,
    _noise_moments,
    _params,
    _prepare,
    _resolve_q,
    _variance_fixed_point,
)
from .activations import get_activation
from .noise import as_noise
from ._signature import accepts_layer

__all__ = [
    "variance_map",
    "variance_map_slope",
    "covariance_map",
    "correlation_map",
    "correlation_map_slope",
    "iterate_variance_map",
    "iterate_correlation_map",
    "variance_fixed_point",
]


@accepts_layer
def variance_map(q, sigma_w2, sigma_b2=0.0, noise=None, activation="relu"):
    r"""One layer of the noisy variance (length) map :math:`q^{l-1}\mapsto q^l`.

    .. math::

       q^l &= \sigma_w^2\mu_2\,E[\phi(\sqrt{q^{l-1}}z)^2] + \sigma_b^2,\\
       q^l &= \sigma_w^2\big(E[\phi(\sqrt{q^{l-1}}z)^2] + \sigma_\epsilon^2\big) + \sigma_b^2,

    for multiplicative and for additive noise.

    For ReLU and multiplicative noise this is :math:`q^l = \tfrac{\sigma_w^2\mu_2}{2}q^{l-1} + \sigma_b^2`.

    Parameters
    ----------
    q : float or array
        Pre-activation variance of the previous layer, :math:`q\ge0`.
    sigma_w2, sigma_b2 : float or array
        Weight and bias **variances** (fan-in normalised), :math:`\ge 0`.
    noise : Noise or None
        The injected noise (``None``: noiseless).
    activation : Activation, str or callable
        The nonlinearity (default ReLU).

    References
    ----------
    Poole et al. (2016); Pretorius et al. (2018).
    """
    act = get_activation(activation)
    nz = as_noise(noise)
    q = check_range("q", q, 0.0, None)
    sw, sb = _params(sigma_w2, sigma_b2)
    diag, _, add_var, _ = _noise_moments(nz, False)
    return scalar_or_array(sw * (diag * act.second_moment(q) + add_var) + sb)


@accepts_layer
def variance_map_slope(q, sigma_w2, sigma_b2=0.0, noise=None, activation="relu"):
    r"""Slope :math:`\chi_q = \partial q^l/\partial q^{l-1}` of the variance map.

    :math:`\chi_q = \sigma_w^2\mu_2\,E[\phi'(u)^2 + \phi(u)\phi''(u)]` (multiplicative;
    :math:`\mu_2\to1` for additive noise). For ReLU it is :math:`\sigma_w^2\mu_2/2`
    for every :math:`q`.
    """
    act = get_activation(activation)
    nz = as_noise(noise)
    q = check_range("q", q, 0.0, None)
    sw, _ = _params(sigma_w2, sigma_b2)
    diag, _, _, _ = _noise_moments(nz, False)
    return scalar_or_array(sw * diag * act.second_moment_slope(q))


@accepts_layer
def covariance_map(q_a, q_b, q_ab, sigma_w2, sigma_b2=0.0, noise=None, activation="relu", shared_mask=False):
    r"""One layer of the noisy covariance map :math:`(q_{aa}, q_{bb}, q_{ab})\mapsto(q'_{aa}, q'_{bb}, q'_{ab})`.

    The off-diagonal is :math:`q'_{ab} = \sigma_w^2\mu_1^2E[\phi(u_a)\phi(u_b)] + \sigma_b^2`
    for independent masks (``shared_mask=False``, the theory's assumption) and
    :math:`\sigma_w^2\mu_2E[\phi(u_a)\phi(u_b)] + \sigma_b^2` for a shared mask.
    ``q_ab`` must satisfy :math:`q_{ab}^2\le q_{aa}q_{bb}`.

    Returns
    -------
    tuple of (q_aa', q_bb', q_ab')
    """
    act = get_activation(activation)
    nz = as_noise(noise)
    qa = check_range("q_a", q_a, 0.0, None)
    qb = check_range("q_b", q_b, 0.0, None)
    qab = check_range("q_ab", q_ab)
    sw, sb = _params(sigma_w2, sigma_b2)
    denom = np.sqrt(qa) * np.sqrt(qb)  # not sqrt(qa * qb), which under- or overflows
    if np.any((denom == 0) & (qab != 0)) or np.any(np.abs(qab) > denom * (1 + 1e-12)):
        qab_b, qa_b, qb_b = np.broadcast_arrays(qab, qa, qb)
        i = np.unravel_index(np.argmax(np.abs(qab_b) > np.sqrt(qa_b) * np.sqrt(qb_b) * (1 + 1e-12)), qab_b.shape)
        raise ValueError(
            "q_ab must satisfy q_ab^2 <= q_a q_b (Cauchy-Schwarz), i.e. |q_ab| <= sqrt(q_a q_b); got "
            f"q_ab = {float(qab_b[i])!r} with q_a = {float(qa_b[i])!r}, q_b = {float(qb_b[i])!r}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.where(denom > 0, qab / np.where(denom > 0, denom, 1.0), 0.0)
    diag, off, add_var, add_off = _noise_moments(nz, shared_mask)
    new_a = sw * (diag * act.second_moment(qa) + add_var) + sb
    new_b = sw * (diag * act.second_moment(qb) + add_var) + sb
    new_ab = sw * (off * act.cross_moment(qa, qb, np.clip(c, -1, 1)) + add_off) + sb
    return scalar_or_array(new_a), scalar_or_array(new_b), scalar_or_array(new_ab)


@accepts_layer
def correlation_map(c, sigma_w2=None, sigma_b2=0.0, noise=None, activation="relu", q=None, shared_mask=False):
    r"""One layer of the noisy correlation map :math:`c^{l-1}\mapsto c^l` for two inputs of equal length.

    .. math:: c^l = \frac{q^l_{ab}}{q^l_{aa}},\qquad q_{aa}=q_{bb}=q .

    For rectifiers (leaky slope :math:`\alpha`), multiplicative noise and
    :math:`\sigma_b^2=0`, :math:`\sigma_w^2` and :math:`q` cancel and

    .. math:: c^l = \frac{\mu_1^2}{\mu_2}K(c^{l-1}),\qquad K = R\ \text{for ReLU},

    e.g. :math:`R(c)/\mu_2` for dropout (Pretorius et al., 2018). In that case
    ``sigma_w2`` may be omitted.

    Parameters
    ----------
    c : float or array
        Input correlation in :math:`[-1, 1]`.
    sigma_w2 : float or array, optional
        Required unless it cancels (rectifier, multiplicative noise, no bias).
    q : float or array, optional
        Common input variance. Default: the stable fixed point of the variance
        map (see :func:`noisyprop_lib.variance_fixed_point`); irrelevant when
        :math:`\sigma_w^2` cancels.
    shared_mask : bool
        Use the same noise mask for both inputs (default False, the theory's
        independent masks).
    """
    act, nz, sb, closed = _prepare(activation, noise, sigma_w2, sigma_b2)
    c = _check_c(c)
    if closed:
        factor = 1.0 if shared_mask else 1.0 / np.asarray(nz.kappa, dtype=float)
        # K(1) = 1 up to rounding (e.g. 1 + 2e-16 for some leaky slopes): keep c in [-1, 1]
        return scalar_or_array(np.clip(factor * np.asarray(act.normalised_kernel(c)), -1.0, 1.0))
    q_eff, sw, sb, qaa, off, add_off = _general_case(q, sigma_w2, sb, nz, act, shared_mask)
    qab = sw * (off * act.cross_moment(q_eff, q_eff, c) + add_off) + sb
    # |q_ab| <= q_aa for equal lengths; clip the rounding (and quadrature) error that could leave [-1, 1]
    return scalar_or_array(np.clip(qab / qaa, -1.0, 1.0))


@accepts_layer
def correlation_map_slope(c, sigma_w2=None, sigma_b2=0.0, noise=None, activation="relu", q=None, shared_mask=False):
    r"""Slope :math:`\chi(c) = \partial c^l/\partial c^{l-1}` of the correlation map.

    By Price's theorem :math:`\partial_c E[\phi(u_a)\phi(u_b)] = \sqrt{q_aq_b}\,E[\phi'(u_a)\phi'(u_b)]`, so

    .. math:: \chi(c) = \frac{\sigma_w^2\mu_1^2\,q\,E[\phi'(u_a)\phi'(u_b)]}{q^l_{aa}},

    which for ReLU with multiplicative noise and no bias is
    :math:`\chi(c) = R'(c)/\mu_2 = (\pi-\arccos c)/(\pi\mu_2)`. At :math:`c=1` and
    without noise it is Poole et al.'s :math:`\chi_1 = \sigma_w^2E[\phi'(u)^2]`.
    Arguments as in :func:`correlation_map`.
    """
    act, nz, sb, closed = _prepare(activation, noise, sigma_w2, sigma_b2)
    c = _check_c(c)
    if closed:
        factor = 1.0 if shared_mask else 1.0 / np.asarray(nz.kappa, dtype=float)
        return scalar_or_array(factor * np.asarray(act.normalised_kernel_derivative(c)))
    q_eff, sw, sb, qaa, off, _ = _general_case(q, sigma_w2, sb, nz, act, shared_mask)
    return scalar_or_array(sw * off * q_eff * act.derivative_cross_moment(q_eff, q_eff, c) / qaa)


@accepts_layer
def variance_fixed_point(sigma_w2, sigma_b2=0.0, noise=None, activation="relu", q0=1.0, max_iter=100_000, tol=1e-13):
    r"""The limit :math:`q^* = \lim_{l\to\infty} q^l` of the variance map started at ``q0``.

    For rectifiers the map is affine, :math:`q' = rq + \beta`, and the limit is
    exact: :math:`\beta/(1-r)` if :math:`r<1`; ``q0`` if :math:`r=1,\beta=0`
    (critical: every :math:`q` is a fixed point); ``inf`` if the variance grows
    without bound. Other activations are iterated until the relative change is
    below ``tol`` (a ``RuntimeWarning`` reports points that did not converge).
    """
    act = get_activation(activation)
    nz = as_noise(noise)
    return scalar_or_array(_variance_fixed_point(sigma_w2, sigma_b2, nz, act, q0, max_iter, tol, stacklevel=3))


@accepts_layer
def iterate_variance_map(q0, depth, sigma_w2, sigma_b2=0.0, noise=None, activation="relu"):
    r"""Iterate the variance map: returns :math:`q^0, q^1, \dots, q^L` stacked on axis 0.

    Parameters
    ----------
    q0 : float or array
        Input variance(s).
    depth : int
        Number of layers :math:`L\ge 1`.

    Returns
    -------
    numpy.ndarray of shape ``(depth + 1,) + broadcast shape``
    """
    depth = check_positive_int("depth", depth)
    act = get_activation(activation)
    nz = as_noise(noise)
    q = check_range("q0", q0, 0.0, None)
    _params(sigma_w2, sigma_b2)
    out = [np.broadcast_to(q, np.broadcast(q, np.asarray(sigma_w2), np.asarray(sigma_b2), np.asarray(nz.mu2)).shape)]
    with np.errstate(over="ignore"):
        for _ in range(depth):
            out.append(np.asarray(variance_map(np.minimum(out[-1], np.finfo(float).max), sigma_w2, sigma_b2, nz, act)))
    return np.stack(out)


@accepts_layer
def iterate_correlation_map(c0, depth, sigma_w2=None, sigma_b2=0.0, noise=None, activation="relu", q0=None, shared_mask=False):
    r"""Iterate the correlation map of two equal-length inputs: returns :math:`c^0,\dots,c^L` on axis 0.

    When ``q0`` is given, the common length evolves by the variance map and each
    step uses the current :math:`q^l`; otherwise the lengths sit at the variance
    fixed point (irrelevant for rectifiers with multiplicative noise and no bias).
    """
    depth = check_positive_int("depth", depth)
    act = get_activation(activation)
    nz = as_noise(noise)
    c = _check_c(c0)
    cs = [c]
    q = None if q0 is None else check_range("q0", q0, 0.0, None)
    for _ in range(depth):
        cs.append(np.asarray(correlation_map(cs[-1], sigma_w2, sigma_b2, nz, act, q=q, shared_mask=shared_mask)))
        if q is not None:
            q = np.asarray(variance_map(q, sigma_w2, sigma_b2, nz, act))
    shape = np.broadcast_shapes(*(np.shape(x) for x in cs))  # np.broadcast takes at most 64 arrays
    return np.stack([np.broadcast_to(x, shape) for x in cs])
