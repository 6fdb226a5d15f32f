r"""Gaussian moments of activation functions.

Mean-field theory needs, for a pre-activation :math:`u\sim\mathcal N(0,q)` and a
pair :math:`(u_a,u_b)` with variances :math:`q_a, q_b` and correlation :math:`c`,

* :math:`E[\phi(u)^2]` and :math:`E[\phi'(u)^2]` (one-dimensional),
* :math:`E[\phi(u_a)\phi(u_b)]` and :math:`E[\phi'(u_a)\phi'(u_b)]` (two-dimensional).

The rectifier family (ReLU, leaky ReLU/PReLU) has closed forms built on the
degree-one arc-cosine kernel of Cho & Saul (2009),

.. math::

   R(c) = \frac{\sqrt{1-c^2} + (\pi - \arccos c)\,c}{\pi},\qquad
   E[\mathrm{ReLU}(u_a)\mathrm{ReLU}(u_b)] = \tfrac12\sqrt{q_a q_b}\,R(c).

GELU's two-dimensional moments have closed forms too (:class:`GELU`). Any
other activation (tanh, erf, SiLU or any callable), and GELU's one-dimensional
moments, go through quadrature. One-dimensional moments use Gauss–Legendre
panels on each half of the real line, split at 0 and graded geometrically
towards it; they reach about :math:`10^{-14}` relative for any :math:`q` in
:math:`[10^{-4}, 10^8]` (checked for erf and GELU against closed forms). The
two-dimensional ones use Gauss–Legendre in polar coordinates, with the angular
range split where either argument changes sign and the radial range graded
towards 0; above :math:`q = 2.89` the angular arcs are graded towards the sign
changes as well, with a number of levels growing like :math:`\log_2\sqrt q`,
because the bend of a smooth activation then lies within :math:`1/\sqrt q` of
them. The absolute error is below :math:`3\times10^{-14}` of
:math:`\sqrt{E[f(u_a)^2]E[g(u_b)^2]}` up to :math:`q = 10^8`, and the relative
error below :math:`10^{-12}` except where the expectation nearly cancels (see
:func:`bivariate_gaussian_expectation` for where). (A plain Gauss–Hermite rule is
exact for the rectifiers' one-dimensional moments by symmetry, but loses digits
quickly for :math:`\tanh` and erf once :math:`q` exceeds about 2; the ungraded
polar rule lost 2e-5 relative for GELU at :math:`q = 100` and 3e-4 for erf at
:math:`q = 10^4`.)
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np
from scipy import special

from .._validation import check_range, scalar_or_array
from ._domain import _C_TOL, _Q_TINY, _check_c, _check_q  # noqa: F401  (_C_TOL: tools/mutate.py)

__all__ = [
    "Activation",
    "LeakyReLU",
    "ReLU",
    "Tanh",
    "Erf",
    "GELU",
    "SiLU",
    "get_activation",
    "arccos_kernel",
    "arccos_kernel_derivative",
    "arccos_kernel_second_derivative",
    "arccos_kernel_excess",
    "gaussian_expectation",
    "bivariate_gaussian_expectation",
]

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
    cancel; for :math:`\varepsilon = 1-c < 10^{-2}` the series
    :math:`\frac{\sqrt2}{\pi}\varepsilon^{3/2}\big(\tfrac23 + \tfrac{\varepsilon}{30} + \tfrac{3\varepsilon^2}{560} + \dots\big)`
    (eight terms) is used instead.
    """
    c = _check_c(c)
    return scalar_or_array(_excess_from_eps(1.0 - c))


# coefficients of (R(1 - e) - (1 - e)) / (sqrt(2)/pi e^{3/2}) in powers of e, from integrating
# arccos(1 - t) = 2 arcsin(sqrt(t/2)) term by term (checked against sympy in the tests)
_EXCESS_SERIES = (2 / 3, 1 / 30, 3 / 560, 5 / 4032, 35 / 101376, 63 / 585728, 77 / 2129920, 143 / 11141120)


def _excess_from_eps(eps):
    r""":math:`R(1-\varepsilon) - (1-\varepsilon)` for :math:`\varepsilon\in[0,2]`, accurate to a few ulp."""
    e0 = np.clip(np.asarray(eps, dtype=float), 0.0, 2.0)
    # for eps > 1 (c < 0), R(c) - c = R(-c) = (eps - 1) + excess at 2 - eps: arcsin(sqrt(eps/2)) near
    # eps = 2 would lose up to half the digits (1/sqrt(1 - x^2) amplification)
    flip = e0 > 1.0
    e = np.where(flip, 2.0 - e0, e0)
    out = np.empty(e.shape)
    small = e < 1e-2
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


# ---------------------------------------------------------------------------
# quadrature
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _graded_half_line(order: int, levels: int, radius: float):
    r"""Gauss–Legendre nodes and weights on :math:`[0, R]`, on panels graded geometrically towards 0.

    The panels are :math:`[0, R2^{-L}]` and :math:`[R2^{-k-1}, R2^{-k}]` for
    :math:`k = 0..L-1`, each with ``order`` nodes, so features of any width down to
    :math:`R2^{-L}` next to the origin (where a kink sits, or where
    :math:`\tanh(\sqrt q z)` turns over when :math:`q` is large) are resolved.
    """
    x, w = np.polynomial.legendre.leggauss(order)
    edges = [0.0] + [radius * 2.0 ** (-k) for k in range(levels, -1, -1)]
    nodes = np.concatenate([0.5 * (b - a) * (x + 1.0) + a for a, b in zip(edges[:-1], edges[1:])])
    weights = np.concatenate([0.5 * (b - a) * w for a, b in zip(edges[:-1], edges[1:])])
    return nodes, weights


@functools.lru_cache(maxsize=16)
def _gauss_rule(order: int):
    r"""Nodes :math:`z_k` and weights :math:`w_k` with :math:`\sum_k w_k f(z_k)\approx E[f(z)]`, :math:`z\sim\mathcal N(0,1)`.

    Graded Gauss–Legendre panels on each half of :math:`[-12, 12]`, split at 0
    (see :func:`_graded_half_line`); symmetric, so odd integrands cancel exactly.
    The truncation at :math:`|z| = 12` costs :math:`O(e^{-72})`.
    """
    z, w = _graded_half_line(order, 30, 12.0)
    w = w * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    return np.concatenate([-z[::-1], z]), np.concatenate([w[::-1], w])


@functools.lru_cache(maxsize=16)
def _legendre(order: int):
    return np.polynomial.legendre.leggauss(order)


_CHUNK = 4096


def gaussian_expectation(f: Callable, q, order: int = 12):
    r""":math:`E[f(\sqrt q\,z)]` for :math:`z\sim\mathcal N(0,1)` by graded Gauss–Legendre quadrature.

    Parameters
    ----------
    f : callable
        Vectorised function of a numpy array.
    q : float or array
        Variance(s), :math:`q\ge0`; the result broadcasts over ``q``.
    order : int
        Nodes per panel (31 graded panels on each half-line). The rule is
        symmetric and split at 0, so functions with a kink at the origin (the
        rectifiers) and functions that change over a scale :math:`1/\sqrt q`
        near it (tanh or erf at large :math:`q`) are integrated to near machine
        precision; a plain Gauss–Hermite rule is not (e.g. 1.8 % error for
        :math:`E[\tanh(10z)^2]` with 200 nodes).
    """
    q = _check_q("q", q)
    z, w = _gauss_rule(int(order))
    flat = np.sqrt(q).ravel()
    out = np.empty(flat.shape)
    for s in range(0, flat.size, _CHUNK):
        sq = flat[s : s + _CHUNK, None]
        out[s : s + _CHUNK] = f(sq * z) @ w
    return scalar_or_array(out.reshape(q.shape))


# the two-dimensional rule: one Gauss-Legendre panel per arc while sqrt(max(q_a, q_b)) <= _GRADE_ABOVE
# (accurate to 2e-14 there; the cost of the common tanh/erf paths is unchanged); above, the arcs and the
# radius are graded geometrically towards the sign changes, with as many levels as sqrt(q) needs
_GRADE_ABOVE = 1.7  # q = 2.89: the ungraded rule is at 2e-14 there and 4e-13 at q = 4
_GRADED_THETA_ORDER = 10  # nodes per angular panel of the graded rule
_RADIAL_ORDER = 16
_MAX_GRADING_SQRT_Q = 1e8  # grading stops growing beyond q = 1e16 (see the docstring)
_BIV_BUDGET = 256 * 4 * 32 * 144  # quadrature nodes times points evaluated at once (the ungraded rule's chunk)


def _bivariate_levels(s: np.ndarray):
    r"""Angular and radial grading levels for :math:`s = \sqrt{\max(q_a, q_b)}` (-1: the ungraded rule)."""
    s = np.minimum(s, _MAX_GRADING_SQRT_Q)
    graded = s > _GRADE_ABOVE
    with np.errstate(divide="ignore"):
        lt = np.where(graded, np.ceil(np.log2(np.maximum(3.0 * s, 1.0))), -1).astype(int)
        lr = np.where(graded, np.maximum(8, np.ceil(np.log2(np.maximum(30.0 * s, 1.0)))), -1).astype(int)
    return lt, lr


def _split_angles(beta: np.ndarray):
    r"""The four angles where :math:`\cos\theta` or :math:`\cos(\theta-\beta)` vanishes, sorted, and the arcs' ends."""
    half = 0.5 * math.pi
    br = np.stack([np.full_like(beta, half), np.full_like(beta, 3 * half), (beta + half) % (2 * math.pi), (beta + 3 * half) % (2 * math.pi)], axis=1)
    br.sort(axis=1)
    ends = np.concatenate([br[:, 1:], br[:, :1] + 2 * math.pi], axis=1)  # (P, 4)
    return br, ends


def bivariate_gaussian_expectation(f: Callable, g: Callable, q_a, q_b, c, order: int = 32, radius: float = 11.0):
    r""":math:`E[f(u_a)g(u_b)]` for a centred Gaussian pair with variances :math:`q_a,q_b` and correlation :math:`c`.

    Writes :math:`u_a=\sqrt{q_a}\,r\cos\theta` and
    :math:`u_b=\sqrt{q_b}\,r\cos(\theta-\beta)` with :math:`\cos\beta=c`, then
    integrates :math:`\frac1{2\pi}\int d\theta\int_0^R r e^{-r^2/2}\,dr` by
    Gauss–Legendre on the four angular arcs bounded by the angles where
    :math:`u_a` or :math:`u_b` changes sign, times Gauss–Legendre in
    :math:`r\in[0, R]`.

    For :math:`s=\sqrt{\max(q_a,q_b)}\le 1.7` (:math:`q\le 2.89`) each arc is one panel of ``order``
    nodes and the radius has 9 panels graded towards 0 (16 nodes each). For
    larger variances a feature of :math:`f` or :math:`g` at a scale of order 1
    (the bend of tanh, erf or GELU) sits within :math:`1/s` of the origin and of
    the sign-change lines, so the rule is graded there: each arc is halved and
    each half cut into :math:`\lceil\log_2 3s\rceil + 1` panels shrinking
    geometrically towards its end (10 nodes each), and the radius into
    :math:`\max(8, \lceil\log_2 30s\rceil) + 1` panels towards 0. The cost per
    point grows like :math:`\log^2 s`: 18,432 nodes for :math:`s\le1.7`, about
    70,000 at :math:`q = 10`, 200,000 at :math:`q = 10^4` and 440,000 at
    :math:`q = 10^8`. The grading stops growing at :math:`q = 10^{16}`.

    Accuracy (measured against 50-digit references for erf, whose kernel is
    Williams' closed form, and for GELU, see :class:`GELU`, over
    :math:`q_a, q_b\in[10^{-4}, 10^8]` and :math:`c\in[-1, 1]` including
    :math:`\pm1`; ``tests/test_activations.py``): the absolute error is below
    :math:`3\times10^{-14}` times the scale :math:`\sqrt{E[f(u_a)^2]E[g(u_b)^2]}`
    (typically a few :math:`10^{-15}`), and the relative error below
    :math:`10^{-12}` (typically :math:`10^{-14}`) wherever the expectation exceeds
    :math:`10^{-3}` of that scale. Where it is smaller, through cancellation, only
    the absolute bound holds: GELU at :math:`c\approx0` with :math:`q\lesssim10^{-2}`
    (the odd parts :math:`u/2` cancel; :math:`10^{-11}` relative at
    :math:`q = 10^{-4}`), and next to a correlation where the expectation changes
    sign (GELU near :math:`c = -1` at large :math:`q`). Beyond :math:`q = 10^{16}` the
    grading no longer grows and features at the scale :math:`1/\sqrt q` go
    unresolved. Functions smooth away from zero, or with a kink or jump there, are covered;
    the truncation at ``radius`` costs :math:`O(R^3 e^{-R^2/2})`.
    """
    q_a = _check_q("q_a", q_a)
    q_b = _check_q("q_b", q_b)
    c = _check_c(c)
    qa, qb, cc = np.broadcast_arrays(q_a, q_b, c)
    shape = qa.shape
    qa, qb, cc = (np.ascontiguousarray(a, dtype=float).ravel() for a in (qa, qb, cc))
    out = np.empty(qa.shape)
    lt, lr = _bivariate_levels(np.sqrt(np.maximum(qa, qb)))
    for key in sorted(set(zip(lt.tolist(), lr.tolist()))):
        idx = np.flatnonzero((lt == key[0]) & (lr == key[1]))
        if key[0] < 0:
            out[idx] = _bivariate_ungraded(f, g, qa[idx], qb[idx], cc[idx], int(order), float(radius))
        else:
            out[idx] = _bivariate_graded(f, g, qa[idx], qb[idx], cc[idx], key[0], key[1], float(radius))
    return scalar_or_array(out.reshape(shape))


def _bivariate_ungraded(f, g, qa, qb, cc, order, radius):
    xl, wl = _legendre(order)
    r, wr = _graded_half_line(_RADIAL_ORDER, 8, radius)
    wr_eff = wr * r * np.exp(-0.5 * r * r) / (2.0 * math.pi)
    out = np.empty(qa.shape)
    chunk = max(1, _BIV_BUDGET // (4 * order * r.size))
    for s in range(0, qa.size, chunk):
        a = np.sqrt(qa[s : s + chunk])
        b = np.sqrt(qb[s : s + chunk])
        beta = np.arccos(cc[s : s + chunk])
        br, ends = _split_angles(beta)
        width = ends - br
        theta = br[:, :, None] + 0.5 * width[:, :, None] * (xl + 1.0)  # (P, 4, n)
        wt = 0.5 * width[:, :, None] * wl  # (P, 4, n)
        ua = a[:, None, None, None] * np.cos(theta)[..., None] * r  # (P, 4, n, m)
        ub = b[:, None, None, None] * np.cos(theta - beta[:, None, None])[..., None] * r
        vals = f(ua) * g(ub)
        out[s : s + chunk] = np.einsum("pknm,pkn,m->p", vals, wt, wr_eff)
    return out


def _bivariate_graded(f, g, qa, qb, cc, levels_theta, levels_r, radius):
    t, wt1 = _graded_half_line(_GRADED_THETA_ORDER, levels_theta, 1.0)  # on [0, 1], graded towards 0
    r, wr = _graded_half_line(_RADIAL_ORDER, levels_r, radius)
    wr_eff = wr * r * np.exp(-0.5 * r * r) / (2.0 * math.pi)
    out = np.empty(qa.shape)
    chunk = max(1, _BIV_BUDGET // (8 * t.size * r.size))
    for s in range(0, qa.size, chunk):
        a = np.sqrt(qa[s : s + chunk])
        b = np.sqrt(qb[s : s + chunk])
        beta = np.arccos(cc[s : s + chunk])
        br, ends = _split_angles(beta)
        h = 0.5 * (ends - br)[:, :, None]  # half-arcs, each graded towards its outer end
        theta = np.concatenate([br[:, :, None] + h * t, ends[:, :, None] - h * t], axis=1)  # (P, 8, n)
        wt = np.concatenate([h * wt1, h * wt1], axis=1)
        ua = a[:, None, None, None] * np.cos(theta)[..., None] * r  # (P, 8, n, m)
        ub = b[:, None, None, None] * np.cos(theta - beta[:, None, None])[..., None] * r
        vals = f(ua) * g(ub)
        out[s : s + chunk] = np.einsum("pknm,pkn,m->p", vals, wt, wr_eff)
    return out


# ---------------------------------------------------------------------------
# activations
# ---------------------------------------------------------------------------


class Activation:
    r"""An activation function and its Gaussian moments, by quadrature.

    Parameters
    ----------
    fn : callable
        Vectorised numpy function :math:`\phi`.
    derivative : callable, optional
        :math:`\phi'`. If omitted, a fourth-order central difference with step
        ``1e-3`` is used (accurate to about ``1e-11`` for smooth functions; pass
        the exact derivative for functions with kinks).
    name : str, optional
    torch_fn : callable, optional
        The same function on torch tensors, used by the simulations.
    order : int
        Nodes per panel of the graded Gauss–Legendre rule for one-dimensional
        moments (even; see :func:`gaussian_expectation`).
    """

    #: whether phi(a x) = a phi(x) for every a > 0, as for the rectifiers
    homogeneous = False

    def __init__(self, fn: Callable, derivative: Callable | None = None, name: str | None = None, torch_fn: Callable | None = None, order: int = 12):
        if not callable(fn):
            raise ValueError(f"fn must be callable, got {fn!r}")
        if derivative is not None and not callable(derivative):
            raise ValueError(f"derivative must be callable or None, got {derivative!r}")
        if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 2 or order % 2:
            raise ValueError(f"order must be an even integer >= 2, got {order!r}")
        self.fn = fn
        self._derivative = derivative
        self.name = name or getattr(fn, "__name__", "activation")
        self._torch_fn = torch_fn
        self.order = int(order)

    # evaluation -------------------------------------------------------------
    def __call__(self, x):
        return self.fn(np.asarray(x, dtype=float))

    def derivative(self, x):
        r""":math:`\phi'(x)` (exact if given, else a fourth-order central difference)."""
        x = np.asarray(x, dtype=float)
        if self._derivative is not None:
            return self._derivative(x)
        h = 1e-3
        f = self.fn
        return (8.0 * (f(x + h) - f(x - h)) - (f(x + 2 * h) - f(x - 2 * h))) / (12.0 * h)

    def torch(self, x):
        """Apply the activation to a torch tensor."""
        if self._torch_fn is None:
            raise ValueError(f"activation {self.name!r} has no torch implementation; pass torch_fn=")
        return self._torch_fn(x)

    # one-dimensional moments ---------------------------------------------------
    def second_moment(self, q):
        r""":math:`E[\phi(\sqrt q z)^2]`."""
        return gaussian_expectation(lambda u: self.fn(u) ** 2, q, self.order)

    def derivative_second_moment(self, q):
        r""":math:`E[\phi'(\sqrt q z)^2]`.

        At :math:`q = 0` the limit :math:`q\to0^+` is returned (as by the closed
        forms of the rectifiers), not :math:`\phi'(0)^2`, which is arbitrary at a kink.
        """
        q = _check_q("q", q)
        return gaussian_expectation(lambda u: self.derivative(u) ** 2, np.maximum(q, _Q_TINY), self.order)

    def second_moment_slope(self, q):
        r""":math:`\frac{d}{dq}E[\phi(\sqrt q z)^2] = E[\phi'(u)^2 + \phi(u)\phi''(u)]`.

        Computed by Stein's lemma as :math:`E[z\,\phi(\sqrt q z)\phi'(\sqrt q z)]/\sqrt q`,
        which needs only :math:`\phi'`; at :math:`q=0` the limit is taken at
        :math:`q = 10^{-12}`.
        """
        q = _check_q("q", q)
        qe = np.maximum(q, 1e-12)
        z, w = _gauss_rule(self.order)
        flat = np.sqrt(qe).ravel()
        out = np.empty(flat.shape)
        for s in range(0, flat.size, _CHUNK):
            sq = flat[s : s + _CHUNK, None]
            u = sq * z
            out[s : s + _CHUNK] = ((z * self.fn(u) * self.derivative(u)) @ w) / sq[:, 0]
        return scalar_or_array(out.reshape(q.shape))

    # two-dimensional moments ---------------------------------------------------
    def cross_moment(self, q_a, q_b, c):
        r""":math:`E[\phi(u_a)\phi(u_b)]` for variances ``q_a``, ``q_b`` and correlation ``c``."""
        return bivariate_gaussian_expectation(self.fn, self.fn, q_a, q_b, c)

    def derivative_cross_moment(self, q_a, q_b, c):
        r""":math:`E[\phi'(u_a)\phi'(u_b)]` (the limit :math:`q\to0^+` where a variance is 0)."""
        q_a = np.maximum(_check_q("q_a", q_a), _Q_TINY)
        q_b = np.maximum(_check_q("q_b", q_b), _Q_TINY)
        return bivariate_gaussian_expectation(self.derivative, self.derivative, q_a, q_b, c)

    def __repr__(self):
        return f"Activation({self.name})"


class LeakyReLU(Activation):
    r"""Leaky ReLU / PReLU :math:`\phi(x) = \max(x,0) + \alpha\min(x,0)`, with closed-form moments.

    Writing :math:`\phi(x) = \alpha x + (1-\alpha)\mathrm{ReLU}(x)`:

    * :math:`E[\phi(u)^2] = \tfrac{1+\alpha^2}{2}q`, :math:`E[\phi'(u)^2] = \tfrac{1+\alpha^2}{2}`;
    * :math:`E[\phi(u_a)\phi(u_b)] = \sqrt{q_aq_b}\,\big(\alpha c + \tfrac{(1-\alpha)^2}{2}R(c)\big)`;
    * :math:`E[\phi'(u_a)\phi'(u_b)] = \alpha + \tfrac{(1-\alpha)^2}{2}R'(c)`.

    ``alpha`` must lie in :math:`[0, 1)` (``alpha = 1`` is the identity).
    """

    homogeneous = True

    def __init__(self, alpha: float = 0.01):
        a = float(check_range("alpha", alpha, 0.0, 1.0, high_inclusive=False))
        self.alpha = a

        def fn(x, a=a):
            return np.where(x > 0, x, a * x)

        def dfn(x, a=a):
            # the value at exactly 0 is immaterial for the Gaussian integrals;
            # the midpoint keeps symmetric quadrature rules exact
            return np.where(x > 0, 1.0, np.where(x < 0, a, 0.5 * (1.0 + a)))

        def tfn(x, a=a):
            import torch.nn.functional as F

            return F.leaky_relu(x, a) if a else F.relu(x)

        super().__init__(fn, dfn, name=f"leaky_relu({a:g})", torch_fn=tfn)

    @property
    def gain(self) -> float:
        r""":math:`E[\phi(u)^2]/q = (1+\alpha^2)/2`."""
        return 0.5 * (1.0 + self.alpha**2)

    def second_moment(self, q):
        q = _check_q("q", q)
        return scalar_or_array(self.gain * q)

    def derivative_second_moment(self, q):
        q = _check_q("q", q)
        return scalar_or_array(np.full(q.shape, self.gain))

    def second_moment_slope(self, q):
        q = _check_q("q", q)
        return scalar_or_array(np.full(q.shape, self.gain))

    def normalised_kernel(self, c):
        r""":math:`K(c) = E[\phi(u_a)\phi(u_b)]/E[\phi(u)^2]` at equal variances: :math:`K(1) = 1`."""
        c = _check_c(c)
        a = self.alpha
        return scalar_or_array((2 * a * c + (1 - a) ** 2 * arccos_kernel(c)) / (1 + a * a))

    def normalised_kernel_derivative(self, c):
        c = _check_c(c)
        a = self.alpha
        return scalar_or_array((2 * a + (1 - a) ** 2 * arccos_kernel_derivative(c)) / (1 + a * a))

    def cross_moment(self, q_a, q_b, c):
        q_a = _check_q("q_a", q_a)
        q_b = _check_q("q_b", q_b)
        c = _check_c(c)
        a = self.alpha
        return scalar_or_array(np.sqrt(q_a) * np.sqrt(q_b) * (a * c + 0.5 * (1 - a) ** 2 * arccos_kernel(c)))

    def derivative_cross_moment(self, q_a, q_b, c):
        q_a = _check_q("q_a", q_a)
        q_b = _check_q("q_b", q_b)
        c = _check_c(c)
        a = self.alpha
        val = a + 0.5 * (1 - a) ** 2 * arccos_kernel_derivative(c)
        return scalar_or_array(val * np.ones(np.broadcast(q_a, q_b, c).shape))

    def __repr__(self):
        return f"LeakyReLU(alpha={self.alpha:g})"


class ReLU(LeakyReLU):
    r"""The rectifier :math:`\phi(x)=\max(x, 0)`: :math:`E[\phi(u)^2] = q/2`, :math:`E[\phi'(u)^2] = 1/2`."""

    def __init__(self):
        super().__init__(0.0)
        self.name = "relu"

    def __repr__(self):
        return "ReLU()"


def _torch_tanh(x):
    import torch

    return torch.tanh(x)


def _torch_erf(x):
    import torch

    return torch.erf(x)


def _torch_gelu(x):
    import torch.nn.functional as F

    return F.gelu(x)


def _torch_silu(x):
    import torch.nn.functional as F

    return F.silu(x)


class Tanh(Activation):
    r""":math:`\phi = \tanh`, by quadrature."""

    def __init__(self, order: int = 12):
        super().__init__(np.tanh, lambda x: 1.0 - np.tanh(x) ** 2, name="tanh", torch_fn=_torch_tanh, order=order)


class Erf(Activation):
    r""":math:`\phi = \operatorname{erf}`, by quadrature.

    Its cross moment has a closed form (Williams, 1997),
    :math:`E[\operatorname{erf}(u_a)\operatorname{erf}(u_b)] = \frac2\pi\arcsin\frac{2c\sqrt{q_aq_b}}{\sqrt{(1+2q_a)(1+2q_b)}}`,
    which the tests use to check the quadrature.
    """

    def __init__(self, order: int = 12):
        super().__init__(special.erf, lambda x: 2.0 / math.sqrt(math.pi) * np.exp(-x * x), name="erf", torch_fn=_torch_erf, order=order)


class GELU(Activation):
    r""":math:`\phi(x) = x\Phi(x)` (Hendrycks & Gimpel, 2016).

    One-dimensional moments by quadrature (:func:`gaussian_expectation`, about
    :math:`10^{-14}` relative for any :math:`q`); the two-dimensional ones in
    closed form. With :math:`k = c\sqrt{q_aq_b}`, :math:`A = 1+q_a`,
    :math:`B = 1+q_b`, :math:`D = AB - k^2` and :math:`\theta = \operatorname{atan2}(\sqrt D, -k)
    = \tfrac\pi2 + \arcsin(k/\sqrt{AB})`, two applications of Stein's lemma and
    the Gaussian integrals :math:`E[\Phi(u_a)\Phi(u_b)] = \theta/2\pi`,
    :math:`E[\varphi(u_a)\varphi(u_b)] = 1/(2\pi\sqrt D)`,
    :math:`E[u_a\varphi(u_a)\Phi(u_b)] = k/(2\pi A\sqrt D)` and
    :math:`E[u_a\varphi(u_a)u_b\varphi(u_b)] = k/(2\pi D^{3/2})` give

    .. math::

       E[\phi(u_a)\phi(u_b)] &= \frac{k\theta}{2\pi} + \frac{q_aq_bD + k^2}{2\pi AB\sqrt D},\\
       E[\phi'(u_a)\phi'(u_b)] &= \frac{\theta}{2\pi} + \frac{k(A+B)}{2\pi AB\sqrt D} + \frac{k}{2\pi D^{3/2}}.

    At large variances and :math:`c\to-1` both are small differences of large
    terms; there (:math:`c<0` and :math:`t = \sqrt D/|k| < 1`) they are evaluated as

    .. math::

       2\pi\sqrt D\,E[\phi\phi] &= k^2t\,(t - \arctan t) - \frac{Aq_a + Bq_b + AB + e\,q_aq_b(A+B)}{AB},\\
       2\pi\,E[\phi'\phi'] &= \frac{Aq_a + Bq_b + AB + e\,q_aq_b(AB+A+B)}{|k|AB\sqrt D} - (t - \arctan t) - \frac{|k|}{D^{3/2}},

    with :math:`e = (1-c)(1+c)` and :math:`t-\arctan t` by its series for
    :math:`t\le 1/2`. Checked against 50-digit references over
    :math:`q_a, q_b\in[10^{-4},10^8]` and :math:`c\in[-1,1]`: relative error
    below :math:`10^{-13}` away from the correlation where the expectation changes
    sign (near it, a few ulp of the terms). For :math:`\max(q_a,q_b) > 10^{60}`
    (where the products would overflow) the quadrature is used.
    """

    _CLOSED_FORM_MAX_Q = 1e60

    def __init__(self, order: int = 12):
        def fn(x):
            return x * special.ndtr(x)

        def dfn(x):
            return special.ndtr(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

        super().__init__(fn, dfn, name="gelu", torch_fn=_torch_gelu, order=order)

    @staticmethod
    def _pieces(q_a, q_b, c):
        qa, qb, cc = np.broadcast_arrays(q_a, q_b, c)
        e = (1.0 - cc) * (1.0 + cc)
        A, B = 1.0 + qa, 1.0 + qb
        AB = A * B
        qq = qa * qb
        D = 1.0 + qa + qb + e * qq
        k = cc * np.sqrt(qa) * np.sqrt(qb)
        rootD = np.sqrt(D)
        absk = np.abs(k)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            t = rootD / absk  # only used where it is below 1
        near = (cc < 0) & (t < 1.0)
        ts = np.where(near, t, 0.5)
        return qa, qb, cc, e, A, B, AB, qq, D, k, rootD, absk, ts, near

    def _beyond_closed_form(self, q_a, q_b):
        return bool(np.any(np.maximum(q_a, q_b) > self._CLOSED_FORM_MAX_Q))

    def cross_moment(self, q_a, q_b, c):
        r""":math:`E[\phi(u_a)\phi(u_b)]` in closed form (see the class docstring)."""
        q_a = _check_q("q_a", q_a)
        q_b = _check_q("q_b", q_b)
        c = _check_c(c)
        if self._beyond_closed_form(q_a, q_b):
            return super().cross_moment(q_a, q_b, c)
        qa, qb, cc, e, A, B, AB, qq, D, k, rootD, absk, ts, near = self._pieces(q_a, q_b, c)
        theta = np.arctan2(rootD, -k)
        direct = k * theta / (2 * math.pi) + (qq * D + k * k) / (2 * math.pi * AB * rootD)
        p = A * qa + B * qb + AB + e * qq * (A + B)
        far = (k * k * ts * _t_minus_arctan(ts) - p / AB) / (2 * math.pi * rootD)
        return scalar_or_array(np.where(near, far, direct))

    def derivative_cross_moment(self, q_a, q_b, c):
        r""":math:`E[\phi'(u_a)\phi'(u_b)]` in closed form (the limit :math:`q\to0^+` where a variance is 0)."""
        q_a = np.maximum(_check_q("q_a", q_a), _Q_TINY)
        q_b = np.maximum(_check_q("q_b", q_b), _Q_TINY)
        c = _check_c(c)
        if self._beyond_closed_form(q_a, q_b):
            return super().derivative_cross_moment(q_a, q_b, c)
        qa, qb, cc, e, A, B, AB, qq, D, k, rootD, absk, ts, near = self._pieces(q_a, q_b, c)
        theta = np.arctan2(rootD, -k)
        direct = (theta + k * (A + B) / (AB * rootD) + k / (D * rootD)) / (2 * math.pi)
        p = A * qa + B * qb + AB + e * qq * (AB + A + B)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            far = (p / (absk * AB * rootD) - _t_minus_arctan(ts) - absk / (D * rootD)) / (2 * math.pi)
        return scalar_or_array(np.where(near, far, direct))


# t - arctan t = sum_{n >= 1} (-1)^(n+1) t^(2n+1) / (2n+1); 24 terms reach 2^-48 t^3 for t <= 1/2
_T_MINUS_ARCTAN_SERIES = tuple((-1.0) ** (n + 1) / (2 * n + 1) for n in range(1, 25))


def _t_minus_arctan(t):
    r""":math:`t - \arctan t` for :math:`t\ge0`, without cancellation at small :math:`t`."""
    t = np.asarray(t, dtype=float)
    t2 = t * t
    poly = np.zeros_like(t)
    for coef in reversed(_T_MINUS_ARCTAN_SERIES):
        poly = poly * t2 + coef
    return np.where(t <= 0.5, t * t2 * poly, t - np.arctan(t))


class SiLU(Activation):
    r""":math:`\phi(x) = x\,\sigma(x)` (SiLU / swish), by quadrature."""

    def __init__(self, order: int = 12):
        def fn(x):
            return x * special.expit(x)

        def dfn(x):
            s = special.expit(x)
            return s * (1.0 + x * (1.0 - s))

        super().__init__(fn, dfn, name="silu", torch_fn=_torch_silu, order=order)


_NAMED = {
    "relu": ReLU,
    "tanh": Tanh,
    "erf": Erf,
    "gelu": GELU,
    "silu": SiLU,
    "swish": SiLU,
    "leaky_relu": LeakyReLU,
}


def get_activation(activation="relu") -> Activation:
    """Normalise an ``activation`` argument.

    Accepts an :class:`Activation`, one of the names ``"relu"``, ``"leaky_relu"``
    (slope 0.01), ``"tanh"``, ``"erf"``, ``"gelu"``, ``"silu"``, or any
    vectorised callable (moments by quadrature).
    """
    if isinstance(activation, Activation):
        return activation
    if isinstance(activation, str):
        key = activation.lower()
        if key not in _NAMED:
            raise ValueError(f"activation must be one of {sorted(_NAMED)} or a callable, got {activation!r}")
        return _NAMED[key]()
    if callable(activation):
        return Activation(activation)
    raise ValueError(f"activation must be an Activation, a name or a callable, got {activation!r}")
