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

Any other activation (tanh, erf, GELU, SiLU or any callable) goes through
quadrature. One-dimensional moments use Gauss–Legendre panels on each half
of the real line, split at 0 and graded geometrically towards it; the
two-dimensional ones use Gauss–Legendre in polar coordinates, with the angular
range split where either argument changes sign and the radial range graded
towards 0. Activations with a kink at zero, and saturating activations whose
Gaussian moments change over a scale :math:`1/\sqrt q` at large :math:`q`, are
both integrated to near machine precision. (A plain Gauss–Hermite rule is
exact for the rectifiers' one-dimensional moments by symmetry, but loses
digits quickly for :math:`\tanh` and erf once :math:`q` exceeds about 2.)
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import numpy as np
from scipy import special

from ._validation import as_real_array, check_range, scalar_or_array

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

_C_TOL = 1e-12  # rounding slack accepted (and clipped) outside [-1, 1]
_Q_TINY = 1e-300  # derivative moments at q = 0 are taken as the limit q -> 0+


def _check_c(c) -> np.ndarray:
    arr = as_real_array("c", c)
    if np.any(np.isnan(arr)) or np.any(np.abs(arr) > 1.0 + _C_TOL):
        bad = arr[np.isnan(arr) | (np.abs(arr) > 1.0 + _C_TOL)]
        raise ValueError(f"c (a correlation) must lie in [-1, 1], got {bad.ravel()[:3].tolist()}")
    return np.clip(arr, -1.0, 1.0)


def _check_q(name, q) -> np.ndarray:
    return check_range(name, q, 0.0, None)


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


def bivariate_gaussian_expectation(f: Callable, g: Callable, q_a, q_b, c, order: int = 32, radius: float = 11.0):
    r""":math:`E[f(u_a)g(u_b)]` for a centred Gaussian pair with variances :math:`q_a,q_b` and correlation :math:`c`.

    Writes :math:`u_a=\sqrt{q_a}\,r\cos\theta` and
    :math:`u_b=\sqrt{q_b}\,r\cos(\theta-\beta)` with :math:`\cos\beta=c`, then
    integrates :math:`\frac1{2\pi}\int d\theta\int_0^R r e^{-r^2/2}\,dr` by
    Gauss–Legendre on four angular arcs, bounded by the angles where
    :math:`u_a` or :math:`u_b` changes sign, times Gauss–Legendre in
    :math:`r\in[0, R]`. Functions smooth away from zero are integrated to near
    machine precision; the truncation at ``radius`` costs
    :math:`O(R^3 e^{-R^2/2})`.
    """
    q_a = _check_q("q_a", q_a)
    q_b = _check_q("q_b", q_b)
    c = _check_c(c)
    qa, qb, cc = np.broadcast_arrays(q_a, q_b, c)
    shape = qa.shape
    qa, qb, cc = (a.ravel() for a in (qa, qb, cc))
    xl, wl = _legendre(int(order))
    r, wr = _graded_half_line(16, 8, float(radius))
    wr_eff = wr * r * np.exp(-0.5 * r * r) / (2.0 * math.pi)
    out = np.empty(qa.shape)
    chunk = max(1, _CHUNK // 16)
    for s in range(0, qa.size, chunk):
        a = np.sqrt(qa[s : s + chunk])
        b = np.sqrt(qb[s : s + chunk])
        beta = np.arccos(cc[s : s + chunk])
        half = 0.5 * math.pi
        br = np.stack([np.full_like(beta, half), np.full_like(beta, 3 * half), (beta + half) % (2 * math.pi), (beta + 3 * half) % (2 * math.pi)], axis=1)
        br.sort(axis=1)
        ends = np.concatenate([br[:, 1:], br[:, :1] + 2 * math.pi], axis=1)  # (P, 4)
        width = ends - br
        theta = br[:, :, None] + 0.5 * width[:, :, None] * (xl + 1.0)  # (P, 4, n)
        wt = 0.5 * width[:, :, None] * wl  # (P, 4, n)
        ua = a[:, None, None, None] * np.cos(theta)[..., None] * r  # (P, 4, n, m)
        ub = b[:, None, None, None] * np.cos(theta - beta[:, None, None])[..., None] * r
        vals = f(ua) * g(ub)
        out[s : s + chunk] = np.einsum("pknm,pkn,m->p", vals, wt, wr_eff)
    return scalar_or_array(out.reshape(shape))


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
    r""":math:`\phi(x) = x\Phi(x)` (Hendrycks & Gimpel, 2016), by quadrature."""

    def __init__(self, order: int = 12):
        def fn(x):
            return x * special.ndtr(x)

        def dfn(x):
            return special.ndtr(x) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

        super().__init__(fn, dfn, name="gelu", torch_fn=_torch_gelu, order=order)


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
