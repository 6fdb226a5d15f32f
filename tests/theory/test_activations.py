"""Gaussian moments of activations: the arc-cosine kernel, closed forms and quadrature.

Reference: paper 1, section 3.2; CLAIMS 1, 10, 12, 13.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from scipy import integrate

import noisyprop_lib as npl

C_GRID = np.concatenate([np.linspace(-1.0, 1.0, 401), [-1 + 1e-15, -0.999999, 0.999999, 1 - 1e-15]])
C_INTERIOR = np.linspace(-0.99, 0.99, 199)


def _r_arccos_form(c):
    return (np.sqrt(1 - c * c) + (np.pi - np.arccos(c)) * c) / np.pi


def _r_arcsin_form(c):
    return (c * np.arcsin(c) + np.sqrt(1 - c * c)) / np.pi + c / 2


def _r_mp(c):
    c = mpmath.mpf(c)
    return (mpmath.sqrt(1 - c * c) + (mpmath.pi - mpmath.acos(c)) * c) / mpmath.pi


# ---------------------------------------------------------------------------
# the arc-cosine kernel R(c)
# ---------------------------------------------------------------------------


def test_two_forms_of_r_agree():
    """CLAIM 10: the arccos and arcsin forms of R agree to 1e-14, and the library matches both."""
    a, b = _r_arccos_form(C_GRID), _r_arcsin_form(C_GRID)
    assert np.max(np.abs(a - b)) < 1e-14
    r = npl.arccos_kernel(C_GRID)
    assert np.max(np.abs(r - a)) < 1e-14
    assert np.max(np.abs(r - b)) < 1e-14


def test_r_special_values():
    """CLAIM 12: R(1) = 1, R(0) = 1/pi, R(-1) = 0."""
    assert npl.arccos_kernel(1.0) == pytest.approx(1.0, abs=1e-16)
    assert npl.arccos_kernel(0.0) == pytest.approx(1 / math.pi, rel=1e-15)
    assert npl.arccos_kernel(-1.0) == pytest.approx(0.0, abs=1e-16)
    assert npl.arccos_kernel_derivative(1.0) == 1.0
    assert npl.arccos_kernel_derivative(0.0) == pytest.approx(0.5, rel=1e-15)
    assert npl.arccos_kernel_derivative(-1.0) == 0.0
    assert npl.arccos_kernel_second_derivative(0.0) == pytest.approx(1 / math.pi, rel=1e-15)
    assert npl.arccos_kernel_second_derivative(1.0) == math.inf
    assert npl.arccos_kernel_second_derivative(-1.0) == math.inf


def test_r_matches_high_precision_everywhere():
    mpmath.mp.dps = 40
    for c in C_GRID:
        assert abs(npl.arccos_kernel(c) - float(_r_mp(c))) < 2e-16 * 4


def test_r_derivatives_closed_forms():
    """CLAIM 12/13: R'(c) = (pi - arccos c)/pi = 1/2 + arcsin(c)/pi and R''(c) = 1/(pi sqrt(1 - c^2))."""
    d1 = npl.arccos_kernel_derivative(C_GRID)
    np.testing.assert_allclose(d1, (np.pi - np.arccos(C_GRID)) / np.pi, rtol=0, atol=1e-15)
    np.testing.assert_allclose(d1, 0.5 + np.arcsin(C_GRID) / np.pi, rtol=0, atol=1e-15)
    assert np.all((d1 >= 0) & (d1 <= 1))
    d2 = npl.arccos_kernel_second_derivative(C_INTERIOR)
    np.testing.assert_allclose(d2, 1 / (np.pi * np.sqrt(1 - C_INTERIOR**2)), rtol=1e-14)


def test_r_derivatives_against_high_precision_differentiation():
    """R' and R'' against mpmath numerical differentiation of the exact expression (40 digits)."""
    mpmath.mp.dps = 40
    for c in np.linspace(-0.95, 0.95, 39):
        d1 = mpmath.diff(_r_mp, c)
        d2 = mpmath.diff(_r_mp, c, 2)
        assert npl.arccos_kernel_derivative(c) == pytest.approx(float(d1), rel=1e-14, abs=1e-15)
        assert npl.arccos_kernel_second_derivative(c) == pytest.approx(float(d2), rel=1e-14)


def test_r_derivative_against_finite_differences_of_library_r():
    """The library's R' is the derivative of the library's R (central differences, h = 1e-5).

    Error bound: truncation h^2 max|R'''|/6 <= 1e-10 * 11/6 on |c| <= 0.9, plus rounding
    2 * 1.1e-16 / (2h) ~ 1e-11; 1e-9 leaves a margin of 5.
    """
    h = 1e-5
    c = np.linspace(-0.9, 0.9, 181)
    fd = (npl.arccos_kernel(c + h) - npl.arccos_kernel(c - h)) / (2 * h)
    np.testing.assert_allclose(npl.arccos_kernel_derivative(c), fd, rtol=0, atol=1e-9)
    fd2 = (npl.arccos_kernel_derivative(c + h) - npl.arccos_kernel_derivative(c - h)) / (2 * h)
    np.testing.assert_allclose(npl.arccos_kernel_second_derivative(c), fd2, rtol=1e-8)


def test_r_increasing_and_convex():
    r = npl.arccos_kernel(C_GRID)
    assert np.all(np.diff(np.sort(C_GRID)) >= 0)
    order = np.argsort(C_GRID)
    assert np.all(np.diff(r[order]) >= 0)
    assert np.all(r >= 0) and np.all(r <= 1)
    # R(c) >= c (the excess is the integral of arccos, non-negative)
    assert np.all(r >= C_GRID - 1e-16)


# ---------------------------------------------------------------------------
# R(c) - c near c = 1
# ---------------------------------------------------------------------------


def _excess_mp(c):
    c = mpmath.mpf(c)  # the exact double c
    return _r_mp(c) - c


def test_excess_equals_r_minus_c_on_grid():
    e = npl.arccos_kernel_excess(C_GRID)
    np.testing.assert_allclose(e, npl.arccos_kernel(C_GRID) - C_GRID, rtol=0, atol=2e-16)
    assert npl.arccos_kernel_excess(1.0) == 0.0
    assert npl.arccos_kernel_excess(-1.0) == pytest.approx(1.0, abs=1e-16)
    assert npl.arccos_kernel_excess(0.0) == pytest.approx(1 / math.pi, rel=1e-15)


def test_excess_relative_accuracy_near_one():
    """R(1 - eps) - (1 - eps) to relative 1e-12 for eps in [1e-12, 1e-2] (mpmath, 50 digits).

    This is the range where the direct formula loses up to 8 digits to cancellation.
    """
    mpmath.mp.dps = 50
    eps = np.concatenate([np.logspace(-12, -2, 121), [1e-3 * (1 - 1e-9), 1e-3, 1e-3 * (1 + 1e-9)]])
    c = 1.0 - eps
    got = npl.arccos_kernel_excess(c)
    for ci, gi in zip(c, got):
        ref = _excess_mp(ci)
        assert abs(gi - float(ref)) <= 1e-12 * float(ref), (ci, gi, ref)


def test_excess_leading_asymptotics():
    """R(1 - eps) = 1 - eps + (2 sqrt 2/(3 pi)) eps^(3/2) + O(eps^(5/2))."""
    for eps0 in [1e-10, 1e-8, 1e-6]:
        c = 1.0 - eps0
        eps = 1.0 - c  # exact: the eps the library actually sees
        got = npl.arccos_kernel_excess(c)
        lead = 2 * math.sqrt(2) / (3 * math.pi) * eps**1.5
        assert abs(got / lead - 1) < 2 * eps  # next term is eps/20 relative


# ---------------------------------------------------------------------------
# one-dimensional Gaussian moments
# ---------------------------------------------------------------------------

Q_GRID = np.array([0.0, 1e-12, 1e-6, 0.01, 0.3, 1.0, 2.5, 17.0, 1e3, 1e6, 1e12])


def test_claim1_relu_moments_by_gauss_hermite():
    """CLAIM 1: int Dz ReLU(sqrt q z)^2 = q/2 and int Dz 1[sqrt q z > 0] = 1/2, rel 1e-10."""
    q = Q_GRID[Q_GRID > 0]
    m = npl.gaussian_expectation(lambda u: np.maximum(u, 0.0) ** 2, q)
    np.testing.assert_allclose(m, q / 2, rtol=1e-10)
    ind = npl.gaussian_expectation(lambda u: (u > 0).astype(float), q)
    np.testing.assert_allclose(ind, 0.5, rtol=1e-10)
    assert npl.gaussian_expectation(lambda u: np.maximum(u, 0.0) ** 2, 0.0) == 0.0


def test_gaussian_expectation_known_moments():
    q = np.array([0.1, 1.0, 4.0])
    np.testing.assert_allclose(npl.gaussian_expectation(lambda u: u**2, q), q, rtol=1e-13)
    np.testing.assert_allclose(npl.gaussian_expectation(lambda u: u**4, q), 3 * q**2, rtol=1e-13)
    # cos is not a polynomial: the panel rule's accuracy is at the level of summation rounding (~1e-13)
    np.testing.assert_allclose(npl.gaussian_expectation(np.cos, q), np.exp(-q / 2), rtol=5e-13)
    # shape is preserved, scalars come back as floats
    assert npl.gaussian_expectation(np.cos, np.ones((2, 3))).shape == (2, 3)
    assert isinstance(npl.gaussian_expectation(np.cos, 1.0), float)


def _relu_like(alpha):
    def fn(x):
        return np.where(x > 0, x, alpha * x)

    def dfn(x):
        return np.where(x > 0, 1.0, alpha)

    return npl.Activation(fn, dfn, name=f"generic_leaky({alpha})")


CLOSED = [npl.ReLU(), npl.LeakyReLU(0.01), npl.LeakyReLU(0.2), npl.LeakyReLU(0.7)]


@pytest.mark.parametrize("closed", CLOSED, ids=repr)
def test_generic_quadrature_reproduces_rectifier_one_dimensional_moments(closed):
    generic = _relu_like(closed.alpha)
    q = Q_GRID
    # relative to the scale q of the moments
    np.testing.assert_allclose(generic.second_moment(q), closed.second_moment(q), rtol=1e-10, atol=0)
    np.testing.assert_allclose(generic.derivative_second_moment(q), closed.derivative_second_moment(q), rtol=1e-10)
    np.testing.assert_allclose(generic.second_moment_slope(q), closed.second_moment_slope(q), rtol=1e-10)
    np.testing.assert_allclose(closed.second_moment(q), (1 + closed.alpha**2) * q / 2, rtol=1e-15)
    np.testing.assert_allclose(closed.derivative_second_moment(q), (1 + closed.alpha**2) / 2, rtol=1e-15)


QQ = [(1.0, 1.0), (0.5, 2.0), (3.0, 0.1), (100.0, 1.0), (1e-6, 1e6), (0.0, 2.0)]


@pytest.mark.parametrize("closed", CLOSED, ids=repr)
@pytest.mark.parametrize("qa, qb", QQ)
def test_generic_quadrature_reproduces_rectifier_cross_moments(closed, qa, qb):
    """Polar Gauss-Legendre with arcs split at the sign changes is exact for kinks, including c = +-1."""
    generic = _relu_like(closed.alpha)
    c = np.linspace(-1.0, 1.0, 41)
    scale = max(math.sqrt(qa * qb), 1e-300)
    np.testing.assert_allclose(generic.cross_moment(qa, qb, c) / scale, closed.cross_moment(qa, qb, c) / scale, rtol=0, atol=1e-10)
    np.testing.assert_allclose(generic.derivative_cross_moment(qa, qb, c), closed.derivative_cross_moment(qa, qb, c), rtol=0, atol=1e-10)


def test_rectifier_cross_moment_formulas():
    """E[ReLU(u_a)ReLU(u_b)] = sqrt(q_a q_b) R(c)/2 and leaky relatives."""
    c = np.linspace(-1, 1, 21)
    np.testing.assert_allclose(npl.ReLU().cross_moment(2.0, 8.0, c), 4.0 * npl.arccos_kernel(c) / 2, rtol=1e-15, atol=1e-16)
    np.testing.assert_allclose(npl.ReLU().derivative_cross_moment(2.0, 8.0, c), npl.arccos_kernel_derivative(c) / 2, rtol=1e-15)
    a = 0.3
    lk = npl.LeakyReLU(a)
    np.testing.assert_allclose(lk.cross_moment(1.0, 1.0, c), a * c + (1 - a) ** 2 / 2 * npl.arccos_kernel(c), rtol=1e-14, atol=1e-16)
    # at c = 1 the cross moment is the second moment; K(1) = 1
    assert lk.cross_moment(3.0, 3.0, 1.0) == pytest.approx(lk.second_moment(3.0), rel=1e-15)
    assert lk.normalised_kernel(1.0) == pytest.approx(1.0, rel=1e-15)
    assert npl.ReLU().normalised_kernel(0.3) == pytest.approx(npl.arccos_kernel(0.3), rel=1e-15)


@pytest.mark.parametrize("qa, qb, c", [(1.0, 1.0, -0.9), (2.0, 0.5, 0.0), (1.0, 4.0, 0.5), (3.0, 3.0, 0.999)])
def test_relu_cross_moment_against_dblquad(qa, qb, c):
    """CLAIM 10: closed form against 2-D adaptive quadrature, abs 1e-7."""
    s = math.sqrt(1 - c * c)

    def integrand(z2, z1):
        ua = math.sqrt(qa) * z1
        ub = math.sqrt(qb) * (c * z1 + s * z2)
        return max(ua, 0.0) * max(ub, 0.0) * math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi)

    # ua > 0 iff z1 > 0: integrate over z1 in [0, 12] only
    val, _ = integrate.dblquad(integrand, 0, 12, -12, 12, epsabs=1e-11, epsrel=1e-11)
    assert npl.ReLU().cross_moment(qa, qb, c) == pytest.approx(val, abs=1e-7)


# ---------------------------------------------------------------------------
# smooth activations
# ---------------------------------------------------------------------------


def _dblquad_cross(fn, qa, qb, c):
    s = math.sqrt(max(1 - c * c, 0.0))

    def integrand(z2, z1):
        ua = math.sqrt(qa) * z1
        ub = math.sqrt(qb) * (c * z1 + s * z2)
        return float(fn(np.array(ua)) * fn(np.array(ub))) * math.exp(-(z1 * z1 + z2 * z2) / 2) / (2 * math.pi)

    val, err = integrate.dblquad(integrand, -12, 12, -12, 12, epsabs=1e-10, epsrel=1e-10)
    assert err < 1e-8
    return val


@pytest.mark.parametrize("act", [npl.Tanh(), npl.GELU(), npl.SiLU()], ids=lambda a: a.name)
@pytest.mark.parametrize("qa, qb, c", [(1.0, 1.0, 0.5), (0.5, 2.0, -0.7), (3.0, 3.0, 0.99), (2.0, 1.0, 1.0), (2.0, 1.0, -1.0)])
def test_smooth_cross_moments_against_dblquad(act, qa, qb, c):
    assert act.cross_moment(qa, qb, c) == pytest.approx(_dblquad_cross(act.fn, qa, qb, c), abs=1e-7)


@pytest.mark.parametrize("act", [npl.Tanh(), npl.Erf(), npl.GELU(), npl.SiLU()], ids=lambda a: a.name)
def test_smooth_cross_moment_at_c1_is_second_moment(act):
    q = np.array([0.01, 0.25, 0.5, 1.0])
    np.testing.assert_allclose(act.cross_moment(q, q, 1.0), act.second_moment(q), rtol=1e-12)
    np.testing.assert_allclose(act.derivative_cross_moment(q, q, 1.0), act.derivative_second_moment(q), rtol=1e-12)


@pytest.mark.parametrize("qa, qb", [(0.01, 0.01), (0.1, 1.0), (1.0, 1.0), (0.3, 2.0), (5.0, 0.5), (10.0, 10.0)])
def test_erf_cross_moment_williams(qa, qb):
    """Williams (1997): E[erf(u_a) erf(u_b)] = (2/pi) arcsin(2c sqrt(qa qb) / sqrt((1+2qa)(1+2qb)))."""
    c = np.linspace(-1.0, 1.0, 101)
    ref = 2 / np.pi * np.arcsin(2 * c * np.sqrt(qa * qb) / np.sqrt((1 + 2 * qa) * (1 + 2 * qb)))
    np.testing.assert_allclose(npl.Erf().cross_moment(qa, qb, c), ref, rtol=0, atol=1e-10)


def test_erf_second_moment_closed_form():
    q = np.array([0.0, 0.1, 1.0, 2.0])
    np.testing.assert_allclose(npl.Erf().second_moment(q), 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q)), rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("q", [10.0, 100.0, 1e4, 1e8])
def test_erf_second_moment_closed_form_large_q(q):
    # a plain 200-node Gauss-Hermite rule was off by 1.6e-6 at q = 10 and 2.7e-2 at q = 100; the graded rule is not
    ref = 2 / np.pi * np.arcsin(2 * q / (1 + 2 * q))
    assert npl.Erf().second_moment(q) == pytest.approx(ref, rel=1e-8)


def test_tanh_derivative_second_moment_at_q4():
    ref, _ = integrate.quad(
        lambda z: (1 - math.tanh(2 * z) ** 2) ** 2 * math.exp(-z * z / 2) / math.sqrt(2 * math.pi),
        -40, 40, points=[0], epsabs=1e-16, epsrel=1e-13, limit=500,
    )
    assert npl.Tanh().derivative_second_moment(4.0) == pytest.approx(ref, rel=1e-9)


def test_tanh_second_moment_claim9():
    """CLAIM 9: E[tanh(2z)^2] = 0.6353 (q = 4)."""
    assert npl.Tanh().second_moment(4.0) == pytest.approx(0.6353, abs=1e-4)


def test_second_moment_slope_by_finite_differences():
    """Stein's-lemma slope d/dq E[phi(sqrt q z)^2] against a central difference in q."""
    h = 1e-5
    for act in (npl.Tanh(), npl.Erf(), npl.GELU(), npl.SiLU()):
        for q in (0.2, 1.0, 3.0):
            fd = (act.second_moment(q + h) - act.second_moment(q - h)) / (2 * h)
            assert act.second_moment_slope(q) == pytest.approx(fd, rel=1e-7)


def test_numerical_derivative_of_smooth_activation():
    """Without an explicit derivative the fourth-order central difference is accurate to ~1e-11."""
    a = npl.Activation(np.tanh)
    x = np.linspace(-4, 4, 81)
    np.testing.assert_allclose(a.derivative(x), 1 - np.tanh(x) ** 2, atol=1e-11)
    np.testing.assert_allclose(a.derivative_second_moment(1.3), npl.Tanh().derivative_second_moment(1.3), rtol=1e-10)


def test_get_activation_names_and_callables():
    assert isinstance(npl.get_activation("relu"), npl.ReLU)
    assert isinstance(npl.get_activation("ReLU"), npl.ReLU)
    assert isinstance(npl.get_activation("swish"), npl.SiLU)
    assert npl.get_activation("leaky_relu").alpha == 0.01
    t = npl.Tanh()
    assert npl.get_activation(t) is t
    g = npl.get_activation(np.sin)
    assert isinstance(g, npl.Activation) and g.name == "sin"
    assert g.second_moment(1.0) == pytest.approx((1 - math.exp(-2)) / 2, rel=1e-13)


def test_torch_implementations_match_numpy():
    import torch

    x = np.linspace(-5, 5, 101)
    xt = torch.tensor(x, dtype=torch.float64)
    for act in (npl.ReLU(), npl.LeakyReLU(0.1), npl.Tanh(), npl.Erf(), npl.GELU(), npl.SiLU()):
        np.testing.assert_allclose(act.torch(xt).numpy(), act(x), rtol=1e-12, atol=1e-14)


# ---------------------------------------------------------------------------
# GELU and the graded two-dimensional rule at large variance, against 50 digits
# ---------------------------------------------------------------------------
#
# The reference is the closed-form GELU kernel evaluated with mpmath at 50 digits in its plain
# form (the library evaluates a rearranged form in float64). The closed form is itself checked
# against an independent route: a one-dimensional mpmath integral over u_a of the conditional
# expectation E[phi(u_b) | u_a], which is elementary for phi(x) = x Phi(x).

GELU_Q = [1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0, 4.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]
GELU_C = [-1.0, -0.999999, -0.999, -0.9, -0.5, -0.1, 0.0, 0.1, 0.5, 0.9, 0.999, 0.999999, 1.0]


def _gelu_kernel_mp(qa, qb, c, derivative=False):
    """E[phi(u_a)phi(u_b)] (or E[phi'(u_a)phi'(u_b)]) for phi = GELU, closed form at 50 digits."""
    with mpmath.workdps(50):
        qa, qb, c = mpmath.mpf(qa), mpmath.mpf(qb), mpmath.mpf(c)
        k = c * mpmath.sqrt(qa * qb)
        A, B = 1 + qa, 1 + qb
        D = A * B - k * k
        theta = mpmath.pi / 2 + mpmath.asin(k / mpmath.sqrt(A * B))
        if derivative:
            val = (theta + k * (A + B) / (A * B * mpmath.sqrt(D)) + k / D**1.5) / (2 * mpmath.pi)
        else:
            val = k * theta / (2 * mpmath.pi) + (qa * qb * D + k * k) / (2 * mpmath.pi * A * B * mpmath.sqrt(D))
        return float(val)


def _gelu_kernel_by_conditioning_mp(qa, qb, c, derivative=False):
    """The same expectation as a 1-D integral: E over u_a of phi(u_a) E[phi(u_b) | u_a] (conditional closed form)."""
    with mpmath.workdps(25):  # checks the 50-digit closed form to 1e-14: 25 digits are plenty, and fast
        qa, qb, c = mpmath.mpf(qa), mpmath.mpf(qb), mpmath.mpf(c)
        tau = mpmath.sqrt(1 + qb * (1 - c * c))  # u_b | z ~ N(m, qb (1 - c^2)); E[Phi(u_b)] = Phi(m / tau)

        def integrand(z):
            u = mpmath.sqrt(qa) * z
            m = mpmath.sqrt(qb) * c * z
            if derivative:  # E[Phi(v) + v phi(v)] = Phi(m/tau) + m phi(m/tau) / tau^3
                inner = mpmath.ncdf(m / tau) + m * mpmath.npdf(m / tau) / tau**3
                outer = mpmath.ncdf(u) + u * mpmath.npdf(u)
            else:  # E[v Phi(v)] = m Phi(m/tau) + (tau^2 - 1) phi(m/tau) / tau
                inner = m * mpmath.ncdf(m / tau) + (tau * tau - 1) * mpmath.npdf(m / tau) / tau
                outer = u * mpmath.ncdf(u)
            return outer * inner * mpmath.npdf(z)

        a = 1 / mpmath.sqrt(max(qa, qb))
        return float(mpmath.quad(integrand, [-mpmath.inf, -40, -8 * a, -a, 0, a, 8 * a, 40, mpmath.inf]))


@pytest.mark.parametrize("qa, qb, c", [(1e4, 30.0, -0.7), (0.5, 2.0, 0.999)])
@pytest.mark.parametrize("derivative", [False, True], ids=["kernel", "derivative"])
def test_gelu_closed_form_reference_against_independent_integral(qa, qb, c, derivative):
    assert _gelu_kernel_mp(qa, qb, c, derivative) == pytest.approx(_gelu_kernel_by_conditioning_mp(qa, qb, c, derivative), rel=1e-14)


@pytest.mark.parametrize("ratio", [1.0, 0.01, 7.0])
def test_gelu_cross_moments_accurate_to_1e12_relative_over_q_and_c(ratio):
    """Issue 15: 1e-12 relative over q in [1e-4, 1e8] and c in [-1, 1] (the old quadrature: 2e-5 at q = 100)."""
    g = npl.GELU()
    c = np.array(GELU_C)
    for q in GELU_Q:
        qa, qb = q, ratio * q
        ref = np.array([_gelu_kernel_mp(qa, qb, x) for x in GELU_C])
        dref = np.array([_gelu_kernel_mp(qa, qb, x, derivative=True) for x in GELU_C])
        np.testing.assert_allclose(g.cross_moment(qa, qb, c), ref, rtol=1e-12, atol=0, err_msg=f"q_a={qa}, q_b={qb}")
        np.testing.assert_allclose(g.derivative_cross_moment(qa, qb, c), dref, rtol=1e-12, atol=0, err_msg=f"q_a={qa}, q_b={qb}")


def test_gelu_one_dimensional_moments_accurate_over_q():
    g = npl.GELU()
    q = np.array(GELU_Q)
    np.testing.assert_allclose(g.second_moment(q), [_gelu_kernel_mp(x, x, 1.0) for x in q], rtol=1e-12, atol=0)
    np.testing.assert_allclose(g.derivative_second_moment(q), [_gelu_kernel_mp(x, x, 1.0, derivative=True) for x in q], rtol=1e-12, atol=0)
    np.testing.assert_allclose(g.cross_moment(q, q, 1.0), g.second_moment(q), rtol=1e-13)


def test_gelu_cross_moment_limits():
    g = npl.GELU()
    assert g.derivative_cross_moment(0.0, 0.0, -0.3) == pytest.approx(0.25, rel=1e-14)  # phi'(0)^2
    assert g.cross_moment(0.0, 2.0, 0.4) == 0.0
    # beyond the closed form's range (products would overflow) the quadrature gives the rectifier's kernel
    q = 1e70
    assert g.cross_moment(q, q, 0.5) == pytest.approx(npl.ReLU().cross_moment(q, q, 0.5), rel=1e-12)
    assert np.isfinite(g.derivative_cross_moment(q, q, -0.5))


def _gelu_np(x):
    from scipy import special

    return x * special.ndtr(x)


def _erf_kernel_mp(qa, qb, c):
    with mpmath.workdps(50):
        qa, qb, c = mpmath.mpf(qa), mpmath.mpf(qb), mpmath.mpf(c)
        return float(2 / mpmath.pi * mpmath.asin(2 * c * mpmath.sqrt(qa * qb) / mpmath.sqrt((1 + 2 * qa) * (1 + 2 * qb))))


QUAD_Q = [1e-4, 1e-2, 1.0, 2.8, 4.0, 10.0, 1e3, 1e5, 1e8]
QUAD_C = [-1.0, -0.9, -0.3, 0.0, 0.5, 0.999, 1.0]


@pytest.mark.parametrize("q", QUAD_Q)
def test_bivariate_quadrature_accuracy_stated_in_docstring(q):
    """The 2-D rule (graded above q = 2.89): absolute error < 3e-14 of sqrt(E f^2 E g^2), relative < 1e-12 unless the value is small against that scale.

    GELU through the generic rule (its library moments use the closed form) and erf (Williams' closed form),
    with q_b = q and q_b = q / 100.
    """
    c = np.array(QUAD_C)
    for qb in (q, q / 100):
        ref = np.array([_gelu_kernel_mp(q, qb, x) for x in QUAD_C])
        scale = math.sqrt(_gelu_kernel_mp(q, q, 1.0) * _gelu_kernel_mp(qb, qb, 1.0))
        err = np.abs(npl.bivariate_gaussian_expectation(_gelu_np, _gelu_np, q, qb, c) - ref)
        assert np.all(err <= 3e-14 * scale), (q, qb, err / scale)
        big = np.abs(ref) > 1e-3 * scale
        assert np.all(err[big] <= 1e-12 * np.abs(ref[big])), (q, qb, err / np.abs(ref))

        eref = np.array([_erf_kernel_mp(q, qb, x) for x in QUAD_C])
        escale = math.sqrt(_erf_kernel_mp(q, q, 1.0) * _erf_kernel_mp(qb, qb, 1.0))
        eerr = np.abs(npl.Erf().cross_moment(q, qb, c) - eref)
        assert np.all(eerr <= 3e-14 * escale), (q, qb, eerr / escale)
        nz = c != 0
        assert np.all(eerr[nz] <= 1e-12 * np.abs(eref[nz])), (q, qb, eerr / np.abs(eref))
