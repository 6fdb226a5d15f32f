r"""The rectifiers' correlation fixed point: :math:`\tan\theta - \theta = \pi\delta` by monotone Newton (private).

Used by :func:`noisyprop_lib.correlation_fixed_point` and its siblings for rectifiers with
multiplicative noise and no bias, where :math:`c^* = \cos\theta^*` and the effective noise level
:math:`\delta` is :func:`_rectifier_delta`.
"""
from __future__ import annotations

import math

import numpy as np

from .arccos import _excess_from_eps


def _rectifier_delta(nz, act) -> np.ndarray:
    r"""Effective noise level :math:`\delta` with :math:`c^*` solving :math:`R(c) - c = \delta c`."""
    a = act.alpha
    rel = np.asarray(nz.relative_variance, dtype=float)
    return rel * (1.0 + a * a) / (1.0 - a) ** 2


def _excess_eps(eps):
    r""":math:`R(1-\varepsilon) - (1-\varepsilon)` as a function of :math:`\varepsilon`, accurate for small :math:`\varepsilon`."""
    return _excess_from_eps(eps)


# tan(t) - t = t^3/3 + 2 t^5/15 + 17 t^7/315 + 62 t^9/2835 + 1382 t^11/155925 + ..., for small t
_TAN_MINUS_X = (1 / 3, 2 / 15, 17 / 315, 62 / 2835, 1382 / 155925, 21844 / 6081075)


def _solve_rectifier_fixed_point(delta):
    r"""Solve :math:`R(c) - c = \delta c` for :math:`c\in(0,1]`; returns (c*, theta* = arccos c*).

    With :math:`c = \cos\theta`, :math:`R(c) = (\sin\theta + (\pi-\theta)\cos\theta)/\pi`,
    and the fixed-point equation becomes

    .. math:: \tan\theta - \theta = \pi\delta,

    increasing and convex in :math:`\theta\in[0,\pi/2)`, with one transcendental
    function per Newton step. Newton's method then converges monotonically from a
    bound on the correct side:

    * :math:`\delta<1`: in :math:`\theta`, from
      :math:`\theta_0 = \min((3\pi\delta)^{1/3}, \arctan(\pi\delta+\pi/2))`, an upper bound
      (because :math:`\tan\theta-\theta\ge\theta^3/3` and :math:`\theta<\pi/2`), with the
      Taylor series of :math:`\tan\theta - \theta` for small :math:`\theta`, so that the
      relative precision holds as :math:`\delta\to0`;
    * :math:`\delta\ge1` (:math:`c^*<0.22`): in :math:`\varphi = \pi/2-\theta`, where the
      equation reads :math:`\cot\varphi + \varphi - \pi/2 = \pi\delta` and
      :math:`c^* = \sin\varphi`, from the lower bound :math:`\arctan(1/(\pi\delta+\pi/2))`.

    Only points that have not converged are updated (an active set); a point
    stops once its step is at the level of rounding or changes sign.
    """
    delta = np.asarray(delta, dtype=float)
    c_out = np.ones(delta.shape)
    theta_out = np.zeros(delta.shape)
    big = delta >= 1.0
    small = (delta > 0) & ~big
    half_pi = 0.5 * math.pi

    if np.any(small):
        pd = math.pi * delta[small]
        t = np.minimum(np.cbrt(3.0 * pd), np.arctan(pd + half_pi))
        # tighten the start with powers only: Newton on the truncated series t^3/3 + 2t^5/15 + 17t^7/315 = pi delta,
        # convex and below tan t - t, so its iterates from above stay above its root, which is above theta*
        for _ in range(2):
            t2 = t * t
            poly = t * t2 * (1.0 / 3.0 + t2 * (2.0 / 15.0 + t2 * (17.0 / 315.0)))
            dpoly = t2 * (1.0 + t2 * (2.0 / 3.0 + t2 * (17.0 / 45.0)))
            t = t - (poly - pd) / dpoly
        idx = np.arange(t.size)
        for _ in range(100):
            ta, pa = t[idx], pd[idx]
            tn = np.tan(ta)
            f = tn - ta
            ser = ta < 0.1
            if np.any(ser):
                ts = ta[ser]
                t2 = ts * ts
                poly = np.zeros_like(ts)
                for coef in reversed(_TAN_MINUS_X):
                    poly = poly * t2 + coef
                f[ser] = ts * t2 * poly
            step = (f - pa) / (tn * tn)
            t[idx] = ta - step
            idx = idx[(step > 0) & (step > 1e-15 * ta)]
            if idx.size == 0:
                break
        c_out[small] = np.cos(t)
        theta_out[small] = t
    if np.any(big):
        pd = math.pi * delta[big]
        ph = np.arctan(1.0 / (pd + half_pi))
        idx = np.arange(ph.size)
        for _ in range(100):
            pa, da = ph[idx], pd[idx]
            cot = 1.0 / np.tan(pa)
            step = (cot + pa - half_pi - da) / (cot * cot)  # Newton: phi + h/cot^2, h = cot + phi - pi/2 - pi delta
            ph[idx] = pa + step
            idx = idx[(step > 0) & (step > 1e-15 * pa)]
            if idx.size == 0:
                break
        c_out[big] = np.sin(ph)
        theta_out[big] = half_pi - ph
    return c_out, theta_out
