r"""Symbolic derivations with sympy, used by the book's chapters and the tests.

The functions return sympy expressions or solution sets; the chapters show
them and check them with :func:`noisyprop_lib.book.claims.claim_sympy_equal`, so the
derivations in the book are recomputed on every build.

Symbols are shared so that results combine: ``q``, ``sigma_w2``,
``sigma_b2``, ``mu2``, ``sigma_eps2``, ``alpha``, ``c`` and ``z``.
"""
from __future__ import annotations

import sympy as sp

__all__ = [
    "z",
    "q",
    "c",
    "sigma_w2",
    "sigma_b2",
    "mu2",
    "sigma_eps2",
    "alpha",
    "standard_normal_pdf",
    "gaussian_expectation_sym",
    "gaussian_expectation",
    "relu",
    "relu_second_moment",
    "relu_derivative_second_moment",
    "leaky_relu_second_moment",
    "arccos_kernel",
    "relu_variance_map",
    "solve_critical_point",
    "additive_critical_point_solutions",
    "noise_moments",
]

z = sp.Symbol("z", real=True)
q = sp.Symbol("q", nonnegative=True)
c = sp.Symbol("c", real=True)
sigma_w2 = sp.Symbol("sigma_w^2", positive=True)
sigma_b2 = sp.Symbol("sigma_b^2", nonnegative=True)
mu2 = sp.Symbol("mu_2", positive=True)
sigma_eps2 = sp.Symbol("sigma_epsilon^2", positive=True)
alpha = sp.Symbol("alpha", nonnegative=True)


def standard_normal_pdf(var=z):
    r"""The standard normal density :math:`e^{-z^2/2}/\sqrt{2\pi}`."""
    return sp.exp(-var**2 / 2) / sp.sqrt(2 * sp.pi)


def gaussian_expectation_sym(expr, var=z, lower=-sp.oo, upper=sp.oo):
    r""":math:`\int_{lower}^{upper} \mathrm{expr}(z)\,\frac{e^{-z^2/2}}{\sqrt{2\pi}}dz`, simplified.

    Restricting the range is how a rectifier is integrated: ``ReLU(sqrt(q) z)``
    vanishes for :math:`z<0`.
    """
    return sp.simplify(sp.integrate(expr * standard_normal_pdf(var), (var, lower, upper)))


#: the former name of :func:`gaussian_expectation_sym` (kept; it shadowed the numeric
#: :func:`noisyprop_lib.gaussian_expectation`)
gaussian_expectation = gaussian_expectation_sym


def relu(x):
    """Symbolic ReLU as a Piecewise (so sympy can integrate it)."""
    return sp.Piecewise((x, x > 0), (0, True))


def relu_second_moment():
    r""":math:`E[\mathrm{ReLU}(\sqrt q z)^2] = q/2`, derived by integrating over :math:`z>0`."""
    return gaussian_expectation_sym((sp.sqrt(q) * z) ** 2, z, 0, sp.oo)


def relu_derivative_second_moment():
    r""":math:`E[\mathbf 1(\sqrt q z>0)^2] = 1/2`."""
    return gaussian_expectation_sym(sp.Integer(1), z, 0, sp.oo)


def leaky_relu_second_moment():
    r""":math:`E[\phi(\sqrt q z)^2] = (1+\alpha^2)q/2` for leaky slope :math:`\alpha`."""
    pos = gaussian_expectation_sym((sp.sqrt(q) * z) ** 2, z, 0, sp.oo)
    neg = gaussian_expectation_sym((alpha * sp.sqrt(q) * z) ** 2, z, -sp.oo, 0)
    return sp.simplify(pos + neg)


def arccos_kernel(var=c):
    r"""The arc-cosine kernel :math:`R(c) = (\sqrt{1-c^2} + (\pi - \arccos c)c)/\pi` as a sympy expression."""
    return (sp.sqrt(1 - var**2) + (sp.pi - sp.acos(var)) * var) / sp.pi


def relu_variance_map(kind: str = "multiplicative", q_prev=q):
    r"""The ReLU variance map with noise, built from :func:`relu_second_moment`.

    ``kind="multiplicative"``: :math:`\sigma_w^2\mu_2 q/2 + \sigma_b^2`;
    ``kind="additive"``: :math:`\sigma_w^2(q/2 + \sigma_\epsilon^2) + \sigma_b^2`;
    ``kind="none"``: :math:`\sigma_w^2 q/2 + \sigma_b^2`.
    """
    m = relu_second_moment().subs(q, q_prev)
    if kind == "multiplicative":
        return sigma_w2 * mu2 * m + sigma_b2
    if kind == "additive":
        return sigma_w2 * (m + sigma_eps2) + sigma_b2
    if kind == "none":
        return sigma_w2 * m + sigma_b2
    raise ValueError(f"kind must be 'multiplicative', 'additive' or 'none', got {kind!r}")


def solve_critical_point(kind: str = "multiplicative"):
    r"""Solve for a fixed point of the ReLU variance map whose slope is 1.

    Returns the list of solutions for :math:`(\sigma_w^2, \sigma_b^2)` of
    :math:`\partial_q f = 1` and :math:`f(q) = q` *for every* :math:`q` in the
    multiplicative case (the map must be the identity), i.e.
    ``[{sigma_w2: 2/mu2, sigma_b2: 0}]``.
    """
    f = relu_variance_map(kind)
    slope_eq = sp.Eq(sp.diff(f, q), 1)
    # a fixed point with slope one of an affine map: f(q) - q must vanish identically
    fixed_eq = sp.Eq(sp.expand(f - q).subs(q, 0), 0)
    return sp.solve([slope_eq, fixed_eq], [sigma_w2, sigma_b2], dict=True)


def additive_critical_point_solutions():
    r"""Solve the criticality conditions for ReLU with additive noise: there are none.

    Unknowns :math:`\sigma_w^2>0,\ \sigma_b^2\ge0,\ q^*\ge0`; equations
    :math:`\partial_q f = 1` and :math:`f(q^*) = q^*`. With
    :math:`\sigma_\epsilon^2>0` declared positive, sympy returns the empty list.
    """
    f = relu_variance_map("additive")
    return sp.solve([sp.Eq(sp.diff(f, q), 1), sp.Eq(f, q)], [sigma_w2, sigma_b2, q], dict=True)


def noise_moments(noise, symbolic: bool = True):
    """Mean, second moment and variance of a noise model, computed by sympy.stats.

    Returns a dict with keys ``mu1``, ``mu2``, ``variance`` (sympy expressions
    in the law's parameter symbols when ``symbolic``).
    """
    import sympy.stats as st

    eps = noise.sympy_rv("epsilon", symbolic=symbolic)
    m1 = sp.simplify(st.E(eps))
    m2 = sp.simplify(st.E(eps**2))
    return {"mu1": m1, "mu2": m2, "variance": sp.simplify(m2 - m1**2)}
