r"""The degree-one arc-cosine kernel :math:`R(c)` of Cho & Saul (2009) and its derivatives.

:math:`E[\mathrm{ReLU}(u_a)\mathrm{ReLU}(u_b)] = \tfrac12\sqrt{q_aq_b}\,R(c)`: the closed forms of
the rectifier family (:class:`noisyprop_lib.LeakyReLU`) are built on it.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .._validation import scalar_or_array
from ._domain import _check_c

__all__ = ["arccos_kernel", "arccos_kernel_excess", "arccos_kernel_derivative", "arccos_kernel_second_derivative"]


# ---------------------------------------------------------------------------
# the arc-cosine kernel
# ---------------------------------------------------------------------------


def arccos_kernel(c):
    r"""Normalised degree-one arc-cosine kernel :math:`R(c)` (Cho & Saul, 2009).

    .. math:: R(c) = \frac{\sqrt{1-c^2} + (\pi-\arccos c)\,c}{\pi}
                   = \frac{c\arcsin c + \sqrt{1-c^2}}{\pi} + \frac c2,

    so that :math:`E[\mathrm{ReLU}(u_a)\mathrm{ReLU}(u_b)] = \tfrac12\sqrt{q_aq_b}R(c)`.
    :math:`R(1)=1`, :math:`R(0)=1/\pi`, :math:`R(-1)=0`. Accepts any array of
    correlations in :math:`[-1, 1]`.
    """
    c = _check_c(c)
    # for c < 0 use R(c) = R(-c) + c = R(1 - (1 + c)) - (1 - (1 + c)), i.e. the excess at eps = 1 + c:
    # c + (R(c) - c) would cancel to an absolute error of 1e-16, and even go negative, near c = -1
    return scalar_or_array(np.where(c < 0, _excess_from_eps(1.0 + c), c + _excess_from_eps(1.0 - c)))


def arccos_kernel_excess(c):
    r""":math:`R(c) - c = \frac1\pi\int_c^1 \arccos t\,dt`, computed without cancellation near :math:`c=1`.

    Near :math:`c = 1` the two terms of :math:`\sqrt{1-c^2} - c\arccos c` nearly
    cancel; for :math:`\varepsilon = 1-c < 0.3` the series
    :math:`\frac{\sqrt2}{\pi}\varepsilon^{3/2}\sum_n \frac{a_n}{2^n(n+3/2)}\varepsilon^n
    = \frac{\sqrt2}{\pi}\varepsilon^{3/2}\big(\tfrac23 + \tfrac{\varepsilon}{30} + \tfrac{3\varepsilon^2}{560} + \dots\big)`,
    :math:`a_n = \binom{2n}{n}/(4^n(2n+1))` (30 terms), is used instead. Against a 50-digit reference the
    result is within 5 ulp over :math:`c\in[-1, 1]`.
    """
    c = _check_c(c)
    return scalar_or_array(_excess_from_eps(1.0 - c))


# coefficients of (R(1 - e) - (1 - e)) / (sqrt(2)/pi e^{3/2}) in powers of e, from integrating
# arccos(1 - t) = 2 arcsin(sqrt(t/2)) term by term: a_n / (2^n (n + 3/2)) with a_n = C(2n, n) / (4^n (2n + 1)),
# the arcsin series (checked against sympy in the tests); 30 terms reach 1e-17 relative at e = 0.3
_EXCESS_SERIES = tuple(float(Fraction(math.comb(2 * n, n), 4**n * (2 * n + 1)) / (2**n * Fraction(2 * n + 3, 2)))
                       for n in range(30))
#: below this eps = 1 - c the series is used; above it the closed form, whose cancellation is mild there
_SERIES_BELOW = 0.3


def _excess_from_eps(eps):
    r""":math:`R(1-\varepsilon) - (1-\varepsilon)` for :math:`\varepsilon\in[0,2]`, accurate to a few ulp."""
    e0 = np.clip(np.asarray(eps, dtype=float), 0.0, 2.0)
    # for eps > 1 (c < 0), R(c) - c = R(-c) = (eps - 1) + excess at 2 - eps: arcsin(sqrt(eps/2)) near
    # eps = 2 would lose up to half the digits (1/sqrt(1 - x^2) amplification)
    flip = e0 > 1.0
    e = np.where(flip, 2.0 - e0, e0)
    out = np.empty(e.shape)
    small = e < _SERIES_BELOW
    es = e[small]
    poly = np.zeros_like(es)
    for coef in reversed(_EXCESS_SERIES):
        poly = poly * es + coef
    out[small] = (math.sqrt(2.0) / math.pi) * es * np.sqrt(es) * poly
    el = e[~small]
    cl = 1.0 - el
    out[~small] = (np.sqrt(el * (2.0 - el)) - cl * 2.0 * np.arcsin(np.sqrt(el / 2.0))) / math.pi
    return np.where(flip, (e0 - 1.0) + out, out)


def arccos_kernel_derivative(c):
    r""":math:`R'(c) = (\pi - \arccos c)/\pi = \tfrac12 + \arcsin(c)/\pi`, which lies in :math:`[0, 1]`.

    Equal to :math:`2E[\mathbf 1(u_a>0)\mathbf 1(u_b>0)]`.
    """
    c = _check_c(c)
    return scalar_or_array((math.pi - np.arccos(c)) / math.pi)


def arccos_kernel_second_derivative(c):
    r""":math:`R''(c) = 1/(\pi\sqrt{1-c^2})`; infinite at :math:`c=\pm1`."""
    c = _check_c(c)
    with np.errstate(divide="ignore"):
        return scalar_or_array(1.0 / (math.pi * np.sqrt((1.0 - c) * (1.0 + c))))
