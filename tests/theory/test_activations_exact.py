"""Activations, exactly: closed forms of the rectifiers at arbitrary slopes, the arc-cosine kernel and its
series against 50-digit references, the correlation check's tolerance, and the constructors' contracts.

Written to kill the mutants of ``make mutate`` (tools/mutate.py) that test_activations.py leaves alive.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
import torch

import noisyprop_lib as npl
from noisyprop_lib.theory import activations as A


@pytest.fixture(autouse=True)
def _fifty_digits():
    """mpmath at 50 digits inside these tests only (the global precision is left alone)."""
    with mpmath.workdps(50):
        yield


def _r_mp(c):
    c = mpmath.mpf(c)
    return (mpmath.sqrt(1 - c * c) + (mpmath.pi - mpmath.acos(c)) * c) / mpmath.pi


# ---------------------------------------------------------------------------
# the correlation argument
# ---------------------------------------------------------------------------


def test_correlations_within_rounding_of_one_are_clipped():
    got = A._check_c(np.array([1.0 + 5e-13, -1.0 - 5e-13, 0.25, 1.0, -1.0]))
    assert got.tolist() == [1.0, -1.0, 0.25, 1.0, -1.0]


@pytest.mark.parametrize("bad", [1.0 + 1.5e-12, -1.0 - 1.5e-12, 1.5, float("nan")])
def test_correlations_beyond_rounding_are_refused(bad):
    with pytest.raises(ValueError, match=r"c \(a correlation\) must lie in \[-1, 1\]"):
        A._check_c(bad)


def test_refusal_lists_only_the_offending_correlations():
    with pytest.raises(ValueError) as info:
        npl.arccos_kernel(np.array([0.5, 1.5, -1.0, -2.0]))
    assert str(info.value).endswith("got [1.5, -2.0]")


# ---------------------------------------------------------------------------
# the arc-cosine kernel
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("eps", [0.0099, 0.00999, 0.009, 0.005, 0.002])
def test_excess_series_against_50_digits_just_below_the_switch(eps):
    """The series branch (eps < 1e-2) to 4e-15 relative: its coefficients up to eps^4 matter there."""
    c = 1.0 - eps
    ref = _r_mp(c) - mpmath.mpf(c)
    got = npl.arccos_kernel_excess(c)
    assert abs(got - float(ref)) <= 4e-15 * float(ref), (eps, got, ref)


@pytest.mark.parametrize("c", [-0.999, -0.6, -0.01, 0.0, 0.01, 0.3, 0.6, 0.99])
def test_kernel_and_its_derivatives_against_50_digits(c):
    assert npl.arccos_kernel(c) == pytest.approx(float(_r_mp(c)), rel=2e-15, abs=1e-300)
    d = (mpmath.pi - mpmath.acos(mpmath.mpf(c))) / mpmath.pi
    assert npl.arccos_kernel_derivative(c) == pytest.approx(float(d), rel=2e-15)
    d2 = 1 / (mpmath.pi * mpmath.sqrt(1 - mpmath.mpf(c) ** 2))
    assert npl.arccos_kernel_second_derivative(c) == pytest.approx(float(d2), rel=2e-15)


def test_kernel_second_derivative_is_infinite_at_the_ends():
    assert npl.arccos_kernel_second_derivative(np.array([-1.0, 1.0])).tolist() == [math.inf, math.inf]


# ---------------------------------------------------------------------------
# rectifiers with a leaky slope: every closed form
# ---------------------------------------------------------------------------

ALPHAS = [0.0, 0.01, 0.3, 0.7]


@pytest.mark.parametrize("a", ALPHAS)
def test_leaky_relu_closed_forms(a):
    act = npl.LeakyReLU(a)
    g = 0.5 * (1 + a * a)
    assert act.gain == g
    q = np.array([0.0, 0.5, 3.0])
    assert np.array_equal(act.second_moment(q), g * q)
    assert act.derivative_second_moment(q).tolist() == [g] * 3
    assert act.second_moment_slope(q).tolist() == [g] * 3
    for c in (-0.8, 0.0, 0.4, 1.0):
        R, dR = npl.arccos_kernel(c), npl.arccos_kernel_derivative(c)
        assert act.normalised_kernel(c) == pytest.approx((2 * a * c + (1 - a) ** 2 * R) / (1 + a * a), rel=1e-15, abs=1e-16)
        assert act.normalised_kernel_derivative(c) == pytest.approx((2 * a + (1 - a) ** 2 * dR) / (1 + a * a), rel=1e-15)
        assert act.cross_moment(2.0, 8.0, c) == pytest.approx(4.0 * (a * c + 0.5 * (1 - a) ** 2 * R), rel=1e-15, abs=1e-16)
        assert act.derivative_cross_moment(2.0, 8.0, c) == pytest.approx(a + 0.5 * (1 - a) ** 2 * dR, rel=1e-15)
    assert act.normalised_kernel(1.0) == pytest.approx(1.0, rel=1e-15)
    assert act.derivative_cross_moment(np.ones(3), 2.0, 0.5).shape == (3,)


@pytest.mark.parametrize("a", ALPHAS)
def test_leaky_relu_function_derivative_and_torch(a):
    act = npl.LeakyReLU(a)
    x = np.array([-2.0, 0.0, 3.0])
    assert act(x).tolist() == [-2.0 * a, 0.0, 3.0]
    assert act.derivative(x).tolist() == [a, 0.5 * (1 + a), 1.0]
    t = act.torch(torch.tensor([-2.0, 3.0], dtype=torch.float64))
    assert t.tolist() == [-2.0 * a, 3.0]


def test_leaky_relu_default_slope_and_range():
    assert npl.LeakyReLU().alpha == 0.01
    assert npl.get_activation("leaky_relu").alpha == 0.01
    assert npl.get_activation("ReLU").alpha == 0.0
    with pytest.raises(ValueError, match="alpha"):
        npl.LeakyReLU(1.0)


# ---------------------------------------------------------------------------
# the quadrature rules and generic activations
# ---------------------------------------------------------------------------


def test_gauss_rule_moments_of_the_standard_normal():
    for k, m, rel in [(0, 1.0, 1e-14), (2, 1.0, 1e-14), (4, 3.0, 1e-13), (6, 15.0, 1e-12), (8, 105.0, 1e-11)]:
        assert npl.gaussian_expectation(lambda u, k=k: u**k, 1.0) == pytest.approx(m, rel=rel)
    # odd moments vanish to rounding: the rule is symmetric
    assert abs(npl.gaussian_expectation(lambda u: u**3, 2.0)) < 1e-16
    # the variance scales the argument
    assert npl.gaussian_expectation(lambda u: u**2, np.array([0.0, 0.25, 9.0])) == pytest.approx([0.0, 0.25, 9.0], rel=1e-14)


def test_gaussian_expectation_in_chunks_equals_pointwise():
    q = np.linspace(0.01, 30.0, A._CHUNK + 7)
    whole = npl.gaussian_expectation(lambda u: np.tanh(u) ** 2, q)
    assert whole.shape == q.shape
    for i in (0, A._CHUNK - 1, A._CHUNK, q.size - 1):
        assert whole[i] == pytest.approx(npl.gaussian_expectation(lambda u: np.tanh(u) ** 2, q[i]), rel=1e-15)


def test_generic_activation_contract():
    act = npl.Activation(np.sin)
    assert act.name == "sin" and act.order == 12
    x = np.linspace(-2, 2, 9)
    np.testing.assert_allclose(act.derivative(x), np.cos(x), rtol=0, atol=1e-11)
    with pytest.raises(ValueError, match="no torch implementation"):
        act.torch(torch.zeros(2))
    for kw, match in [(dict(fn=3), "fn must be callable"), (dict(fn=np.sin, derivative=2), "derivative must be callable"),
                      (dict(fn=np.sin, order=7), "order must be an even integer"),
                      (dict(fn=np.sin, order=True), "order must be an even integer"),
                      (dict(fn=np.sin, order=0), "order must be an even integer")]:
        with pytest.raises(ValueError, match=match):
            npl.Activation(**kw)
    assert npl.Activation(np.sin, order=2).order == 2


@pytest.mark.parametrize("cls", [npl.Tanh, npl.Erf, npl.GELU, npl.SiLU])
def test_smooth_activations_default_order_and_torch(cls):
    act = cls()
    assert act.order == 12
    x = np.array([-1.5, -0.2, 0.0, 0.7, 2.0])
    np.testing.assert_allclose(act.torch(torch.tensor(x)).numpy(), act(x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(act.derivative(x), [(act(xi + 1e-6) - act(xi - 1e-6)) / 2e-6 for xi in x], rtol=0, atol=1e-8)


def test_slopes_at_zero_variance_are_the_limits():
    """d/dq E[phi(sqrt q z)^2] at q = 0 is phi'(0)^2 for phi(0) = 0; E[phi'(u)^2] at q = 0 is the q -> 0+ limit."""
    assert npl.Tanh().second_moment_slope(0.0) == pytest.approx(1.0, rel=1e-9)
    assert npl.Erf().second_moment_slope(0.0) == pytest.approx(4 / math.pi, rel=1e-9)
    assert npl.GELU().second_moment_slope(0.0) == pytest.approx(0.25, rel=1e-6)
    relu = npl.Activation(lambda x: np.maximum(x, 0.0), derivative=lambda x: np.where(x > 0, 1.0, 0.0))
    assert relu.derivative_second_moment(0.0) == pytest.approx(0.5, rel=1e-14)
    assert relu.derivative_cross_moment(0.0, 1.0, 0.3) == pytest.approx(npl.arccos_kernel_derivative(0.3) / 2, rel=1e-12)


def test_tanh_second_moment_slope_against_stein_by_mpmath():
    """d/dq E[tanh(sqrt q z)^2] = E[tanh'(u)^2 + tanh(u) tanh''(u)], at q = 2, to 1e-13."""
    q = 2.0
    s = mpmath.sqrt(q)

    def integrand(z):
        u = s * z
        t = mpmath.tanh(u)
        d = 1 - t * t
        return (d * d + t * (-2 * t * d)) * mpmath.exp(-z * z / 2) / mpmath.sqrt(2 * mpmath.pi)

    with mpmath.workdps(30):
        ref = mpmath.quad(integrand, [-mpmath.inf, 0, mpmath.inf])
    assert npl.Tanh().second_moment_slope(q) == pytest.approx(float(ref), rel=1e-12)


def test_get_activation_refusals():
    with pytest.raises(ValueError, match="activation must be one of"):
        npl.get_activation("sigmoid")
    with pytest.raises(ValueError, match="an Activation, a name or a callable"):
        npl.get_activation(3)
    act = npl.get_activation(np.sin)
    assert isinstance(act, npl.Activation) and act.fn is np.sin
    relu = npl.ReLU()
    assert npl.get_activation(relu) is relu and repr(relu) == "ReLU()"


def test_correlation_tolerance_boundary_is_inclusive():
    """Exactly 1 + 1e-12 (the documented slack) is accepted; the refusal names only what is beyond it."""
    assert A._check_c(1.0 + 1e-12) == 1.0
    assert A._check_c(-(1.0 + 1e-12)) == -1.0
    with pytest.raises(ValueError) as info:
        A._check_c(np.array([1.0 + 1e-12, 2.0]))
    assert str(info.value).endswith("got [2.0]")


def test_numerical_derivative_is_fourth_order_with_step_1e3():
    """The default derivative is the fourth-order central difference with h = 1e-3: for sin its error is
    h^4 |sin^(5)|/30 plus rounding, below 2.5e-13 (with h = 2e-3 it would be 5e-13)."""
    x = np.linspace(-2, 2, 41)
    assert np.abs(npl.Activation(np.sin).derivative(x) - np.cos(x)).max() < 2.5e-13


@pytest.mark.parametrize("a", [0.0, 0.3])
def test_leaky_relu_derivative_between_zero_and_one(a):
    act = npl.LeakyReLU(a)
    assert act.derivative(np.array([0.25, 0.5, 1.0, -0.5])).tolist() == [1.0, 1.0, 1.0, a]
