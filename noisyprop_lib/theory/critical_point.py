r"""The critical initialisation of a noisy layer: :func:`critical_point` and :func:`critical_sigma_w2`.

For a rectifier with multiplicative noise the variance map is the identity at
:math:`\sigma_w^2 = 2/(\mu_2(1+\alpha^2))` (Pretorius et al., 2018); additive noise has no
critical point (:class:`NoCriticalPointError`). For other activations the map bends, and the
critical point is set at an operating point :math:`q_0`: a fixed point there that neither repels
nor amplifies gradients.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .._validation import check_range, scalar_or_array
from ._signature import accepts_layer
from .activations import LeakyReLU, get_activation
from .noise import ADDITIVE, as_noise

__all__ = ["NoCriticalPointError", "CriticalPoint", "critical_point", "critical_sigma_w2"]


class NoCriticalPointError(ValueError):
    """Raised when a noise model admits no critical initialisation (e.g. additive noise with ReLU)."""


_NO_CRIT_ADDITIVE = (
    "{noise!r} is additive noise, and a ReLU-family network with additive noise has no critical "
    "initialisation. Its variance map is affine, q' = r q + beta with slope r = sigma_w2 (1 + alpha^2)/2 "
    "and offset beta = sigma_w2 Var[eps] + sigma_b2 > 0. Criticality needs a fixed point with slope 1, "
    "i.e. r = 1, but then q' = q + beta has no fixed point: at sigma_w2 = 2/(1 + alpha^2) the variance "
    "grows linearly with depth, below it the signal is pulled to a fixed point and gradients vanish, and "
    "above it the variance explodes exponentially."
)



class CriticalPoint(NamedTuple):
    r"""A critical initialisation and what holds there (:func:`critical_point`).

    Attributes
    ----------
    sigma_w2, sigma_b2 : float or ndarray
        The weight and bias variances.
    q_star : float or ndarray
        The variance fixed point they put at the operating point ``q0``.
    variance_slope : float or ndarray
        :math:`V'(q^*)`, the slope of the noisy variance map there (stable if below 1).
    chi : float or ndarray
        :math:`\sigma_w^2\mu_2E[\phi'(\sqrt{q^*}z)^2]`, the factor by which a layer
        multiplies the squared gradient (and a small variance perturbation at
        :math:`c = 1`); 1 on the edge of chaos.
    rule : str or ndarray of str
        Which constraint set :math:`\sigma_w^2`: ``"rectifier"`` (the variance map
        is the identity), ``"fixed point"`` (:math:`\sigma_b^2 = 0`),
        ``"edge of chaos"`` (:math:`\chi = 1`) or ``"marginal stability"``
        (:math:`V'(q^*) = 1`).
    """

    sigma_w2: float | np.ndarray
    sigma_b2: float | np.ndarray
    q_star: float | np.ndarray
    variance_slope: float | np.ndarray
    chi: float | np.ndarray
    rule: str | np.ndarray


def _checked_noise(nz, act, caller):
    """The noise for a critical point: additive noise of variance 0 is none; otherwise refused with the reason."""
    if nz.kind == ADDITIVE:
        v = np.asarray(nz.variance)
        if np.all(v == 0):
            return as_noise(None)
        if isinstance(act, LeakyReLU):
            raise NoCriticalPointError(_NO_CRIT_ADDITIVE.format(noise=nz))
        raise ValueError(
            f"{caller} does not analyse additive noise with {act!r}; it is proven only for "
            "rectifiers, which have no critical point with additive noise"
        )
    return nz


_RULES = np.array(["fixed point", "marginal stability", "edge of chaos"])


@accepts_layer
def critical_point(noise=None, activation="relu", q0=1.0, *, bias=True) -> CriticalPoint:
    r"""The critical initialisation :math:`(\sigma_w^2, \sigma_b^2)` for an activation and a noise.

    With multiplicative noise of second moment :math:`\mu_2` the noisy variance
    map is :math:`V(q) = \sigma_w^2\mu_2E(q) + \sigma_b^2` with
    :math:`E(q) = E[\phi(\sqrt q z)^2]`. The critical point puts a fixed point of
    :math:`V` at the operating point :math:`q_0` (the pre-activation second
    moment the network should keep), where it must not amplify: the map's slope
    :math:`V'(q_0) = \sigma_w^2\mu_2E'(q_0)` and the gradient factor
    :math:`\chi = \sigma_w^2\mu_2D(q_0)`, :math:`D(q) = E[\phi'(\sqrt q z)^2]`,
    both at most 1. On the line of fixed points,
    :math:`\sigma_b^2 = q_0 - \sigma_w^2\mu_2E(q_0)\ge0`, both grow with
    :math:`\sigma_w^2`, so the critical point is the largest :math:`\sigma_w^2`
    that satisfies all three constraints:

    .. math:: \sigma_w^2 = \frac{1}{\mu_2}\min\!\Big(\frac{q_0}{E(q_0)},\ \frac{1}{E'(q_0)},\
              \frac{1}{D(q_0)}\Big),\qquad \sigma_b^2 = q_0 - \sigma_w^2\mu_2E(q_0).

    For a rectifier, :math:`E(q) = (1+\alpha^2)q/2` and all three coincide:
    :math:`\sigma_w^2 = 2/(\mu_2(1+\alpha^2))`, :math:`\sigma_b^2 = 0`, for every
    :math:`q_0` (Pretorius et al., 2018). For tanh and erf the gradient factor binds
    (edge of chaos with a small bias, as for the bias-dependent edge of chaos of
    Poole et al., 2016). For GELU and SiLU, :math:`E(q)/q` grows with :math:`q`,
    so without bias the fixed point would be unstable (:math:`V'(q_0) > 1`): the
    slope binds and a small bias holds the signal (marginal stability). The
    multiplier of :math:`1/\mu_2` and :math:`\sigma_b^2` do not depend on the noise.

    Parameters
    ----------
    noise : Noise, optional
        Multiplicative noise (additive noise has no critical point with a rectifier
        and is not analysed for other activations).
    activation : Activation or str
    q0 : float
        The operating point :math:`q_0 > 0`: the second moment of the
        pre-activations to preserve (1 for standardised inputs).
    bias : bool
        Whether the layer has a bias. Without one (``bias=False``) the only
        fixed point at :math:`q_0` is :math:`\sigma_w^2 = q_0/(\mu_2E(q_0))` with
        :math:`\sigma_b^2 = 0` (rule ``"fixed point"``), whatever its slopes: for
        GELU and SiLU it is unstable (``variance_slope`` above 1), so deviations
        from :math:`q_0` grow by that factor per layer.

    Returns
    -------
    CriticalPoint
        ``(sigma_w2, sigma_b2, q_star, variance_slope, chi, rule)``; arrays when
        the noise holds arrays.

    Raises
    ------
    NoCriticalPointError
        For additive noise with a rectifier.
    ValueError
        For additive noise with another activation, or ``q0`` not a positive finite number.

    Examples
    --------
    >>> import noisyprop_lib as npl
    >>> cp = npl.critical_point(npl.Dropout(0.8), "gelu")
    >>> round(cp.sigma_w2, 4), round(cp.sigma_b2, 4), cp.rule
    (1.6445, 0.1259, 'marginal stability')
    """
    act = get_activation(activation)
    nz = _checked_noise(as_noise(noise), act, "critical_point")
    q0 = float(check_range("q0", q0, 0.0, None, low_inclusive=False))
    mu2 = np.asarray(nz.mu2, dtype=float)
    if isinstance(act, LeakyReLU):
        sw2 = 1.0 / (mu2 * act.gain)
        ones = np.ones_like(sw2)
        return CriticalPoint(scalar_or_array(sw2), scalar_or_array(0.0 * ones), scalar_or_array(q0 * ones),
                             scalar_or_array(ones), scalar_or_array(ones),
                             "rectifier" if sw2.ndim == 0 else np.full(sw2.shape, "rectifier"))
    e, de, d = (float(act.second_moment(q0)), float(act.second_moment_slope(q0)),
                float(act.derivative_second_moment(q0)))
    if not (e > 0 and math.isfinite(e)):
        raise ValueError(f"{act!r} has E[phi(sqrt(q0) z)^2] = {e!r} at q0 = {q0!r}: no fixed point can be put there")
    bounds = np.array([q0 / e, 1.0 / de if de > 0 else math.inf, 1.0 / d if d > 0 else math.inf])
    k = int(np.argmin(bounds)) if bias else 0
    scale = float(bounds[k])
    sw2 = scale / mu2
    sb2 = max(q0 - scale * e, 0.0) if k else 0.0
    shape = np.ones_like(sw2)
    rule = str(_RULES[k])
    return CriticalPoint(scalar_or_array(sw2), scalar_or_array(sb2 * shape), scalar_or_array(q0 * shape),
                         scalar_or_array(scale * de * shape), scalar_or_array(scale * d * shape),
                         rule if sw2.ndim == 0 else np.full(sw2.shape, rule))


@accepts_layer
def critical_sigma_w2(noise=None, activation="relu", q0=1.0):
    r"""The critical weight variance :math:`\sigma_w^2`, for networks without bias.

    For rectifiers with leaky slope :math:`\alpha` and multiplicative noise,

    .. math:: \sigma_w^2 = \frac{2}{\mu_2\,(1+\alpha^2)},

    which is He initialisation without noise, :math:`2p` for dropout with keep
    probability :math:`p` and :math:`2/(1+\sigma^2)` for Gaussian noise. There
    the variance map is the identity, whatever ``q0``. For other activations it is
    the :math:`\sigma_w^2` of :func:`critical_point` at the operating point
    ``q0``, returned only where that point needs no bias; where it needs one
    (tanh, GELU, SiLU, ...), use :func:`critical_point`, which returns both
    variances.

    Raises
    ------
    NoCriticalPointError
        For additive noise with a rectifier (any positive noise variance).
    ValueError
        For additive noise with another activation, or where the critical point
        needs a bias variance (the message gives it).
    """
    cp = critical_point(noise, activation, q0)
    if np.any(np.asarray(cp.sigma_b2) > 0):
        raise ValueError(
            f"the critical point of {get_activation(activation)!r} at q0 = {q0!r} needs a bias variance as well "
            f"(sigma_w2 = {np.round(cp.sigma_w2, 6).tolist()}, sigma_b2 = {np.round(cp.sigma_b2, 6).tolist()}, "
            f"rule: {np.asarray(cp.rule).tolist()}): "
            "use npl.critical_point(noise, activation, q0), which returns both; a weight variance alone, "
            "with zero biases, would put the signal's fixed point elsewhere"
        )
    return cp.sigma_w2


def _small_signal_sigma_w2(nz, act):
    r""":math:`1/(\mu_2\phi'(0)^2)`: the order/chaos boundary without bias of an activation with :math:`\phi(0)=0`."""
    nz = _checked_noise(nz, act, "order_chaos_boundary")
    mu2 = np.asarray(nz.mu2, dtype=float)
    if isinstance(act, LeakyReLU):
        return scalar_or_array(1.0 / (mu2 * act.gain))
    phi0 = float(act(np.array(0.0)))
    if abs(phi0) > 1e-14:
        raise ValueError(
            f"{act!r} has phi(0) = {phi0:g} != 0, so q = 0 is not a fixed point with sigma_b2 = 0; "
            "order_chaos_boundary at sigma_b2 = 0 covers rectifiers and activations with phi(0) = 0"
        )
    return scalar_or_array(1.0 / (mu2 * float(act.second_moment_slope(0.0))))
