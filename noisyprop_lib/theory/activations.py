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
moments, go through the graded Gauss–Legendre rules of :mod:`noisyprop_lib.theory.gauss`.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy import special

from .._validation import check_range, scalar_or_array
from ._domain import _C_TOL, _Q_TINY, _check_c, _check_q  # noqa: F401  (_C_TOL: tools/mutate.py)
from .arccos import (  # noqa: F401  (_EXCESS_SERIES, _excess_from_eps: importable here as before)
    _EXCESS_SERIES,
    _excess_from_eps,
    arccos_kernel,
    arccos_kernel_derivative,
    arccos_kernel_excess,
    arccos_kernel_second_derivative,
)
from . import _gelu
from ._torch_fns import _torch_elu, _torch_erf, _torch_gelu, _torch_silu, _torch_tanh
from .gauss import _CHUNK, _gauss_rule, bivariate_gaussian_expectation, gaussian_expectation

__all__ = [
    "Activation",
    "LeakyReLU",
    "ReLU",
    "Tanh",
    "Erf",
    "GELU",
    "SiLU",
    "ELU",
    "get_activation",
    "arccos_kernel",
    "arccos_kernel_derivative",
    "arccos_kernel_second_derivative",
    "arccos_kernel_excess",
    "gaussian_expectation",  # re-exported from .gauss
    "bivariate_gaussian_expectation",
]

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

    @property
    def torch_fn(self) -> Callable | None:
        """The activation on torch tensors (``None`` if it has none), as given by ``torch_fn=``; read-only."""
        return self._torch_fn

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

    def _beyond_closed_form(self, q_a, q_b):
        return bool(np.any(np.maximum(q_a, q_b) > self._CLOSED_FORM_MAX_Q))

    def cross_moment(self, q_a, q_b, c):
        r""":math:`E[\phi(u_a)\phi(u_b)]` in closed form (see the class docstring)."""
        q_a = _check_q("q_a", q_a)
        q_b = _check_q("q_b", q_b)
        c = _check_c(c)
        if self._beyond_closed_form(q_a, q_b):
            return super().cross_moment(q_a, q_b, c)
        return scalar_or_array(_gelu.cross_moment(q_a, q_b, c))

    def derivative_cross_moment(self, q_a, q_b, c):
        r""":math:`E[\phi'(u_a)\phi'(u_b)]` in closed form (the limit :math:`q\to0^+` where a variance is 0)."""
        q_a = np.maximum(_check_q("q_a", q_a), _Q_TINY)
        q_b = np.maximum(_check_q("q_b", q_b), _Q_TINY)
        c = _check_c(c)
        if self._beyond_closed_form(q_a, q_b):
            return super().derivative_cross_moment(q_a, q_b, c)
        return scalar_or_array(_gelu.derivative_cross_moment(q_a, q_b, c))


class SiLU(Activation):
    r""":math:`\phi(x) = x\,\sigma(x)` (SiLU / swish), by quadrature."""

    def __init__(self, order: int = 12):
        def fn(x):
            return x * special.expit(x)

        def dfn(x):
            s = special.expit(x)
            return s * (1.0 + x * (1.0 - s))

        super().__init__(fn, dfn, name="silu", torch_fn=_torch_silu, order=order)


class ELU(Activation):
    r""":math:`\phi(x) = x` for :math:`x>0`, :math:`e^x-1` otherwise (ELU, :math:`\alpha=1`; Clevert et al., 2016), by quadrature."""

    def __init__(self, order: int = 12):
        super().__init__(lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
                         lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))),
                         name="elu", torch_fn=_torch_elu, order=order)


_NAMED = {
    "relu": ReLU,
    "tanh": Tanh,
    "erf": Erf,
    "gelu": GELU,
    "silu": SiLU,
    "swish": SiLU,
    "elu": ELU,
    "leaky_relu": LeakyReLU,
}


def get_activation(activation="relu") -> Activation:
    """Normalise an ``activation`` argument.

    Accepts an :class:`Activation`, one of the names ``"relu"``, ``"leaky_relu"``
    (slope 0.01), ``"tanh"``, ``"erf"``, ``"gelu"``, ``"silu"``, ``"elu"``, or any
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
