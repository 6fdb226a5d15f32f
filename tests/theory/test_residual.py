"""Residual blocks with noise in the branch: closed forms against the general path, sympy, branch scale, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import noisyprop_lib as npl
from noisyprop_lib.theory import symbolic as S
from noisyprop_lib.theory.activations import arccos_kernel as R
from noisyprop_lib.theory.activations import arccos_kernel_derivative as dR

EXACT = dict(rel=1e-13, abs=1e-15)
NOISES = [npl.Dropout(0.8), npl.GaussianNoise(0.5), npl.PlainDropout(0.7)]


# ---------------------------------------------------------------------------
# variance map
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("noise", NOISES, ids=repr)
def test_relu_variance_map_closed_forms(noise):
    q, sw, sb, a = 3.0, 1.7, 0.2, 0.6
    r = sw * noise.mu2 / 2
    assert npl.residual_variance_map(q, sw, sb, noise, alpha=a) == pytest.approx(q + a * a * (r * q + sb), **EXACT)
    two = npl.residual_variance_map(q, sw, sb, noise, alpha=a, branch_depth=2)
    assert two == pytest.approx(q + a * a * (r * (r * q + sb) + sb), **EXACT)


def test_variance_map_is_q_plus_alpha2_times_iterated_plain_map_for_tanh_and_additive_noise():
    for act, nz in [("tanh", npl.Dropout(0.7)), ("relu", npl.AdditiveGaussianNoise(0.5)), ("gelu", npl.GaussianNoise(0.3))]:
        q, sw, sb, a = 2.0, 1.3, 0.1, 0.4
        b = npl.variance_map(npl.variance_map(q, sw, sb, nz, act), sw, sb, nz, act)
        got = npl.residual_variance_map(q, sw, sb, nz, act, alpha=a, branch_depth=2)
        assert got == pytest.approx(q + a * a * b, **EXACT)
    # broadcasting over alpha and q
    out = npl.residual_variance_map(np.array([1.0, 2.0])[:, None], 2.0, alpha=np.array([0.0, 1.0, 2.0]))
    np.testing.assert_allclose(out, np.array([[1, 2, 5], [2, 4, 10]], dtype=float), rtol=1e-15)


def test_no_fixed_point_for_any_positive_alpha():
    alpha = np.array([1e-4, 0.1, 1.0, 10.0])
    q = np.logspace(-3, 3, 7)[:, None]
    assert np.all(npl.residual_variance_map(q, 1.2, noise=npl.Dropout(0.6), alpha=alpha) > q)
    assert np.all(npl.residual_variance_map(q, 1.0, noise=npl.Dropout(0.6), activation="tanh", alpha=alpha) > q)


# ---------------------------------------------------------------------------
# correlation map
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("noise", NOISES, ids=repr)
def test_relu_correlation_map_closed_form_and_independent_of_q(noise):
    c = np.linspace(-1, 1, 21)
    sw, a = 2.3, 0.7
    g = a * a * sw * noise.mu2 / 2
    rho = noise.mu1**2 * R(c) / noise.mu2
    want = (c + g * rho) / (1 + g)
    for q in [0.01, 1.0, 50.0]:
        np.testing.assert_allclose(npl.residual_correlation_map(c, sw, noise=noise, q=q, alpha=a), want, rtol=1e-13, atol=1e-15)
    # two branch layers: rho applied twice, gain squared
    g2 = a * a * (sw * noise.mu2 / 2) ** 2
    want2 = (c + g2 * noise.mu1**2 * R(rho) / noise.mu2) / (1 + g2)
    np.testing.assert_allclose(npl.residual_correlation_map(c, sw, noise=noise, q=3.0, alpha=a, branch_depth=2), want2,
                               rtol=1e-13, atol=1e-15)


def test_tanh_correlation_map_by_bivariate_quadrature_with_bias():
    q, c, sw, sb, a, nz = 1.5, 0.4, 1.4, 0.05, 0.8, npl.Dropout(0.75)
    e2 = npl.gaussian_expectation(lambda x: np.tanh(x) ** 2, q)
    ecross = npl.bivariate_gaussian_expectation(np.tanh, np.tanh, q, q, c)
    baa = sw * nz.mu2 * e2 + sb
    bab = sw * ecross + sb
    want = (c * q + a * a * bab) / (q + a * a * baa)
    got = npl.residual_correlation_map(c, sw, sb, nz, "tanh", q=q, alpha=a)
    assert got == pytest.approx(want, rel=1e-10)


def test_sympy_fixed_point_and_slope_of_the_relu_residual_map():
    a, cc = sp.symbols("a c", positive=True)
    Rf = sp.Function("R")
    c_next = (cc + a * Rf(cc)) / (1 + a * S.mu2)  # a = alpha^2 sigma_w^2 / 2, lengths cancel
    # the fixed-point equation reduces to the plain network's mu2 c = R(c), for every a > 0
    assert sp.simplify(sp.numer(sp.together(c_next - cc)) - a * (Rf(cc) - S.mu2 * cc)) == 0
    slope = sp.diff(c_next, cc)
    assert sp.simplify(slope - (1 + a * sp.Derivative(Rf(cc), cc)) / (1 + a * S.mu2)) == 0
    # and the library's kernel derivative is the derivative of sympy's arc-cosine kernel
    dk = sp.lambdify(S.c, sp.diff(S.arccos_kernel(S.c), S.c), "numpy")
    cs = np.linspace(-0.95, 0.95, 9)
    np.testing.assert_allclose(dk(cs), dR(cs), rtol=1e-13)


# ---------------------------------------------------------------------------
# joint iteration and branch scale
# ---------------------------------------------------------------------------


def test_iterate_matches_repeated_single_steps_for_tanh():
    nz, sw, sb, a = npl.GaussianNoise(0.4), 1.1, 0.02, 0.5
    q, c = npl.iterate_residual_maps(1.3, 0.2, 6, sw, sb, nz, "tanh", alpha=a, branch_depth=2)
    assert q.shape == c.shape == (7,)
    qq, cc = 1.3, 0.2
    for layer in range(1, 7):
        cc = npl.residual_correlation_map(cc, sw, sb, nz, "tanh", q=qq, alpha=a, branch_depth=2)
        qq = npl.residual_variance_map(qq, sw, sb, nz, "tanh", alpha=a, branch_depth=2)
        assert (q[layer], c[layer]) == pytest.approx((qq, cc), rel=1e-13)


@pytest.mark.parametrize("activation", ["relu", "tanh", npl.LeakyReLU(0.2)], ids=str)
@pytest.mark.parametrize("branch_depth", [1, 2])
@pytest.mark.parametrize("noise", [npl.Dropout(0.8), npl.GaussianNoise(0.5)], ids=repr)
def test_branch_scale_gives_exactly_the_growth(activation, branch_depth, noise):
    for depth, growth in [(50, 2.0), (7, 10.0)]:
        a2 = npl.residual_branch_scale(depth, noise, activation, growth=growth, branch_depth=branch_depth)
        # the default branch weight variance: critical for rectifiers, 1/(mu2 phi'(0)^2) for tanh
        sw = npl.order_chaos_boundary(0.0, activation, noise)
        q, _ = npl.iterate_residual_maps(1.0, 0.5, depth, sw, noise=noise, activation=activation, alpha=math.sqrt(a2),
                                         branch_depth=branch_depth)
        assert q[-1] / q[0] == pytest.approx(growth, rel=1e-10)


def test_branch_scale_numeric_path_with_additive_noise_and_q0():
    nz = npl.AdditiveGaussianNoise(0.5)
    for q0 in (0.5, 4.0):
        a2 = npl.residual_branch_scale(20, nz, sigma_w2=2.0, growth=3.0, q0=q0)
        q, _ = npl.iterate_residual_maps(q0, 0.5, 20, 2.0, noise=nz, alpha=math.sqrt(a2))
        assert q[-1] / q0 == pytest.approx(3.0, rel=1e-10)
    # the additive offset makes a small input grow faster: less branch is needed
    assert npl.residual_branch_scale(20, nz, sigma_w2=2.0, q0=0.5) < npl.residual_branch_scale(20, nz, sigma_w2=2.0, q0=4.0)


def test_branch_scale_closed_form_and_one_over_l():
    nz = npl.Dropout(0.8)
    assert npl.residual_branch_scale(50, nz) == pytest.approx(2 ** (1 / 50) - 1, **EXACT)
    # off-critical sigma_w2: divided by the branch gain r^k
    r = 3.0 * nz.mu2 / 2
    assert npl.residual_branch_scale(50, nz, sigma_w2=3.0, branch_depth=2) == pytest.approx((2 ** (1 / 50) - 1) / r**2, **EXACT)
    # alpha^2 L -> ln(growth)
    a2 = npl.residual_branch_scale(np.int64(10**6), nz, growth=3.0)
    assert a2 * 10**6 == pytest.approx(math.log(3.0), rel=1e-6)


# ---------------------------------------------------------------------------
# correlation fixed point and depth scale
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("noise", NOISES, ids=repr)
@pytest.mark.parametrize("branch_depth", [1, 2])
def test_depth_scale_fixed_point_and_slope(noise, branch_depth):
    a2, sw = 0.3, 1.9
    res = npl.residual_correlation_depth_scale(noise, alpha2=a2, sigma_w2=sw, branch_depth=branch_depth)
    plain = npl.correlation_fixed_point_analysis(noise)
    assert res.c_star == pytest.approx(plain.c_star, **EXACT)
    kw = dict(alpha=math.sqrt(a2), branch_depth=branch_depth)
    assert npl.residual_correlation_map(res.c_star, sw, noise=noise, **kw) == pytest.approx(res.c_star, rel=1e-12)
    h = 1e-6
    num = (npl.residual_correlation_map(res.c_star + h, sw, noise=noise, **kw)
           - npl.residual_correlation_map(res.c_star - h, sw, noise=noise, **kw)) / (2 * h)
    assert res.chi == pytest.approx(num, rel=1e-7)
    assert res.depth_scale == pytest.approx(-1 / math.log(res.chi), rel=1e-12)
    if branch_depth == 1 and noise.mu1 == 1:  # the brief's form (1 + a R'(c*)) / (1 + a mu2), a = alpha^2 sigma_w2 / 2
        a = a2 * sw / 2
        assert res.chi == pytest.approx((1 + a * dR(plain.c_star)) / (1 + a * noise.mu2), **EXACT)
    # slower than the plain network's loss of correlation
    assert res.chi > plain.chi and res.depth_scale > plain.depth_scale


def test_one_over_l_limit_of_the_correlation_contraction():
    nz, kappa = npl.Dropout(0.6), 0.9
    chi = npl.correlation_fixed_point_slope(nz)
    for k in (1, 2):
        limit = math.exp(-kappa * (1 - chi**k))
        vals = [npl.residual_correlation_depth_scale(nz, alpha2=kappa / L, branch_depth=k).chi ** L for L in (10**3, 10**5)]
        assert abs(vals[1] - limit) < abs(vals[0] - limit) and vals[1] == pytest.approx(limit, rel=1e-4)


def test_no_noise_and_no_branch_give_infinite_depth_scale():
    assert npl.residual_correlation_depth_scale(None, alpha2=0.5).depth_scale == math.inf
    assert npl.residual_correlation_depth_scale(npl.Dropout(0.5), alpha2=0.0).depth_scale == math.inf
    out = npl.residual_correlation_depth_scale(npl.Dropout(np.array([0.5, 0.9])), alpha2=np.array([[0.1], [1.0]]))
    assert np.shape(out.chi) == (2, 2) and np.shape(out.c_star) == (2, 2)


@settings(max_examples=60, deadline=None)
@given(c=st.floats(-1, 1), keep=st.floats(0.05, 1.0), alpha=st.floats(0.0, 20.0), sw=st.floats(0.1, 5.0), k=st.integers(1, 3))
def test_relu_map_is_a_convex_combination_of_identity_and_the_branch(c, keep, alpha, sw, k):
    nz = npl.Dropout(keep)
    rho = c
    for _ in range(k):
        rho = float(npl.correlation_map(rho, noise=nz))
    out = npl.residual_correlation_map(c, sw, noise=nz, alpha=alpha, branch_depth=k)
    assert min(c, rho) - 1e-12 <= out <= max(c, rho) + 1e-12


@settings(max_examples=60, deadline=None)
@given(q=st.floats(1e-6, 1e6), a1=st.floats(0.0, 5.0), a2=st.floats(0.0, 5.0), act=st.sampled_from(["relu", "tanh", "erf"]))
def test_variance_map_increases_with_alpha(q, a1, a2, act):
    lo, hi = sorted((a1, a2))
    f = lambda a: npl.residual_variance_map(q, 1.5, 0.0, npl.Dropout(0.8), act, alpha=a)  # noqa: E731
    assert q <= f(lo) <= f(hi) * (1 + 1e-14)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("call,match", [
    (lambda: npl.residual_variance_map(1.0, 2.0, alpha=-0.1), r"alpha must lie in \[0, inf\)"),
    (lambda: npl.residual_variance_map(1.0, 2.0, branch_depth=0), "branch_depth must be an integer >= 1"),
    (lambda: npl.residual_variance_map(-1.0, 2.0), r"q must lie in \[0, inf\)"),
    (lambda: npl.residual_variance_map(1.0, -2.0), r"sigma_w2 must lie in \[0, inf\)"),
    (lambda: npl.residual_correlation_map(1.5, 2.0), r"c \(a correlation\) must lie in \[-1, 1\]"),
    (lambda: npl.residual_correlation_map(0.5, 2.0, q=0.0), r"q must lie in \(0, inf\)"),
    (lambda: npl.iterate_residual_maps(1.0, 0.5, 0, 2.0), "depth must be an integer >= 1"),
    (lambda: npl.iterate_residual_maps(1.0, 0.5, 3, 2.0, branch_depth=1.5), "branch_depth must be an integer"),
    (lambda: npl.residual_branch_scale(10, growth=1.0), r"growth must lie in \(1, inf\)"),
    (lambda: npl.residual_branch_scale(0), "depth must be an integer >= 1"),
    (lambda: npl.residual_branch_scale(10, sigma_w2=0.0), r"sigma_w2 must lie in \(0, inf\)"),
    (lambda: npl.residual_branch_scale(10, npl.AdditiveGaussianNoise(1.0)), "no critical initialisation"),
    (lambda: npl.residual_correlation_depth_scale(npl.Dropout(0.5), "tanh", alpha2=0.1), "covers rectifiers"),
    (lambda: npl.residual_correlation_depth_scale(npl.Dropout(0.5), alpha2=-0.1), r"alpha2 must lie in \[0, inf\)"),
])
def test_bad_input_is_refused_with_a_clear_message(call, match):
    with pytest.raises(ValueError, match=match):
        call()
