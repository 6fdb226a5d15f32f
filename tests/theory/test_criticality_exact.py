"""Criticality, exactly: fixed points, slopes and depth scales against 50-digit solutions of the
fixed-point equation, the affine variance map's closed forms (every branch), overflow depths against
the iterated map, and the finite-width step variance from exact noise moments.

Written to kill the mutants of ``make mutate`` (tools/mutate.py) that test_criticality.py leaves alive.
"""
from __future__ import annotations

import math
import warnings

import mpmath
import numpy as np
import pytest

import noisyprop_lib as npl
from noisyprop_lib.theory import _moments as M
from noisyprop_lib.theory import criticality as C
from noisyprop_lib.theory import finite_width as FW


@pytest.fixture(autouse=True)
def _fifty_digits():
    """mpmath at 50 digits inside these tests only (the global precision is left alone)."""
    with mpmath.workdps(50):
        yield


def _fixed_point_mp(kappa, a):
    """c* solving K(c)/kappa = c for the leaky kernel K(c) = (2ac + (1-a)^2 R(c))/(1+a^2), and chi = K'(c*)/kappa."""
    a = mpmath.mpf(a)
    kappa = mpmath.mpf(kappa) if not isinstance(kappa, mpmath.mpf) else kappa

    def K(c):
        r = (mpmath.sqrt(1 - c * c) + (mpmath.pi - mpmath.acos(c)) * c) / mpmath.pi
        return (2 * a * c + (1 - a) ** 2 * r) / (1 + a * a)

    c = mpmath.findroot(lambda c: K(c) / kappa - c, mpmath.mpf("0.5"), tol=mpmath.mpf(10) ** -45)
    dK = (2 * a + (1 - a) ** 2 * (mpmath.pi - mpmath.acos(c)) / mpmath.pi) / (1 + a * a)
    return c, dK / kappa


@pytest.mark.parametrize(
    "nz, a",
    [
        (npl.Dropout(0.9), 0.0),       # chi > 1/2: the log1p branch
        (npl.Dropout(0.3), 0.0),       # chi < 1/2: the log branch
        (npl.PlainDropout(0.7), 0.0),  # mean p, kappa = 1/p
        (npl.GaussianNoise(0.4), 0.3),
        (npl.Dropout(0.05), 0.1),      # delta >= 1: the second Newton iteration
        (npl.GaussianNoise(0.05), 0.0),  # small noise: the series of tan t - t
    ],
)
def test_fixed_point_analysis_against_50_digits(nz, a):
    act = npl.LeakyReLU(a)
    kappa = float(nz.kappa)
    c_ref, chi_ref = _fixed_point_mp(kappa, a)
    fp = npl.correlation_fixed_point_analysis(nz, act)
    assert fp.c_star == pytest.approx(float(c_ref), rel=1e-13)
    assert fp.chi == pytest.approx(float(chi_ref), rel=1e-13)
    assert fp.depth_scale == pytest.approx(float(-1 / mpmath.log(chi_ref)), rel=1e-12)
    assert npl.correlation_fixed_point(nz, act) == fp.c_star
    assert npl.correlation_fixed_point_slope(nz, act) == fp.chi
    assert npl.depth_scale(nz, act) == fp.depth_scale
    assert npl.trainable_depth(nz, act) == pytest.approx(6 * fp.depth_scale, rel=1e-15)
    assert npl.trainable_depth(nz, act, factor=2.5) == pytest.approx(2.5 * fp.depth_scale, rel=1e-15)
    assert C._rectifier_delta(nz, act) == pytest.approx(float(nz.relative_variance) * (1 + a * a) / (1 - a) ** 2, rel=1e-15)


def test_fixed_point_without_noise_is_one_with_infinite_depth_scale():
    fp = npl.correlation_fixed_point_analysis(None)
    assert (fp.c_star, fp.chi, fp.depth_scale) == (1.0, 1.0, math.inf)
    with pytest.raises(ValueError, match="factor"):
        npl.trainable_depth(npl.Dropout(0.5), factor=0.0)


def test_general_path_fixed_point_relu_with_bias_against_the_closed_map():
    """ReLU, sigma_w2 = 1, sigma_b2 = 0.5, dropout 0.8: q* = 0.5/(1 - 1.25/2) = 4/3, c* solves
    c = (q*/2 R(c) + 0.5)/(1.25 q*/2 + 0.5)."""
    sw, sb, p = 1.0, 0.5, 0.8
    q = sb / (1 - sw / p / 2)
    c = mpmath.findroot(lambda c: ((q / 2) * (mpmath.sqrt(1 - c * c) + (mpmath.pi - mpmath.acos(c)) * c) / mpmath.pi + sb)
                        / (sw / p * q / 2 + sb) - c, 0.5)
    got = npl.correlation_fixed_point(npl.Dropout(p), sigma_w2=sw, sigma_b2=sb)
    assert got == pytest.approx(float(c), rel=1e-12)
    fp = npl.correlation_fixed_point_analysis(npl.Dropout(p), sigma_w2=sw, sigma_b2=sb)
    chi = sw * q * ((mpmath.pi - mpmath.acos(c)) / mpmath.pi / 2) / (sw / p * q / 2 + sb)
    assert fp.chi == pytest.approx(float(chi), rel=1e-11)
    assert fp.depth_scale == pytest.approx(float(-1 / mpmath.log(chi)), rel=1e-10)
    with pytest.raises(ValueError, match="sigma_w2 is required"):
        npl.correlation_fixed_point(npl.Dropout(p), sigma_b2=sb)


def test_general_path_fixed_point_reports_non_convergence():
    with pytest.warns(RuntimeWarning, match="did not converge in 3 iterations"):
        c = C._iterated_correlation_fixed_point(np.asarray(1.0), np.asarray(0.5), npl.as_noise(npl.Dropout(0.8)),
                                                npl.ReLU(), max_iter=3)
    assert 0 < c < 1


# ---------------------------------------------------------------------------
# the variance map: critical point, fixed point, depth scales
# ---------------------------------------------------------------------------


def test_critical_sigma_w2_closed_forms():
    assert npl.critical_sigma_w2(npl.Dropout(0.6)) == pytest.approx(1.2, rel=1e-15)
    assert npl.critical_sigma_w2(npl.Dropout(0.6), npl.LeakyReLU(0.5)) == pytest.approx(0.6 * 2 / 1.25, rel=1e-15)
    assert npl.critical_sigma_w2(npl.AdditiveGaussianNoise(0.0)) == 2.0
    # smooth activations need a bias at their critical point: critical_sigma_w2 says so and names critical_point
    for act in ("tanh", "erf", "gelu", "silu", "elu"):
        with pytest.raises(ValueError, match=r"needs a bias variance as well.*npl\.critical_point"):
            npl.critical_sigma_w2(None, act)
    # cos: E[cos(sqrt(q) z)^2] = (1 + exp(-2q))/2 decreases with q, so the fixed point without bias is stable and
    # sigma_w2 mu2 E[sin^2] = (1 - e^-2)/(1 + e^-2) < 1: no bias needed, sigma_w2 = 2/(mu2 (1 + e^-2))
    cos = npl.Activation(np.cos, lambda x: -np.sin(x))
    assert npl.critical_point(npl.Dropout(0.5), cos).rule == "fixed point"
    assert npl.critical_sigma_w2(npl.Dropout(0.5), cos) == pytest.approx(1.0 / (1 + math.exp(-2)), rel=1e-12)
    with pytest.raises(ValueError, match="does not analyse additive noise"):
        npl.critical_sigma_w2(npl.AdditiveGaussianNoise(0.1), "tanh")


def test_variance_fixed_point_rectifier_branches():
    # r < 1: beta/(1 - r)
    assert npl.variance_fixed_point(1.0, 0.5) == pytest.approx(1.0, rel=1e-15)
    assert npl.variance_fixed_point(1.0, 0.5, npl.AdditiveGaussianNoise(1.0)) == pytest.approx(3.0, rel=1e-15)
    # r = 1, beta = 0 (critical): the input variance
    assert npl.variance_fixed_point(1.2, 0.0, npl.Dropout(0.6), q0=7.0) == pytest.approx(7.0)
    # r > 1 with beta = 0 and q0 = 0: stays at 0; with q0 > 0: infinite
    assert npl.variance_fixed_point(4.0, 0.0, q0=0.0) == 0.0
    assert npl.variance_fixed_point(4.0, 0.0, q0=1.0) == math.inf
    # r = 1 with beta > 0 grows linearly: infinite
    assert npl.variance_fixed_point(2.0, 0.1) == math.inf
    assert npl.variance_fixed_point(np.array([1.0, 4.0]), 0.5).tolist() == [1.0, math.inf]


def test_variance_fixed_point_quadrature_path():
    q = npl.variance_fixed_point(1.5, 0.1, npl.Dropout(0.9), "tanh")
    assert q == pytest.approx(npl.variance_map(q, 1.5, 0.1, npl.Dropout(0.9), "tanh"), rel=1e-12)
    assert npl.variance_fixed_point(0.5, 0.0, None, "tanh") == pytest.approx(0.0, abs=1e-6)
    with pytest.warns(RuntimeWarning, match="did not converge in 2 iterations"):
        npl.variance_fixed_point(1.5, 0.1, None, "tanh", max_iter=2)


def test_chi1_closed_and_quadrature_forms():
    # rectifier, no bias: sigma_w2 cancels, chi_1 = 1/kappa
    assert npl.chi1(1.7) == pytest.approx(1.0, rel=1e-15)
    assert npl.chi1(1.7, noise=npl.Dropout(0.5)) == pytest.approx(0.5, rel=1e-15)
    # with a bias: sigma_w2 mu1^2 q* E[phi'^2]/q* = sigma_w2/2 for ReLU
    assert npl.chi1(1.0, 0.5) == pytest.approx(0.5, rel=1e-14)
    q = npl.variance_fixed_point(1.5, 0.1, npl.Dropout(0.9), "tanh")
    d2 = npl.Tanh().derivative_second_moment(q)
    assert npl.chi1(1.5, 0.1, npl.Dropout(0.9), "tanh") == pytest.approx(1.5 * d2, rel=1e-10)


def test_variance_and_gradient_depth_scales_closed_forms():
    r = 1.5 * 2.0 * 0.5  # sigma_w2 mu2 / 2 for dropout 0.5
    assert npl.variance_depth_scale(1.5, 0.0, npl.Dropout(0.5)) == pytest.approx(-1 / math.log(r), rel=1e-14)
    assert npl.variance_depth_scale(1.0, 0.0, npl.Dropout(0.5)) == math.inf
    assert npl.gradient_depth_scale(1.5, 0.0, npl.Dropout(0.5)) == pytest.approx(-1 / math.log(r), rel=1e-14)
    assert npl.gradient_depth_scale(3.0, 0.0, npl.AdditiveGaussianNoise(1.0)) == pytest.approx(-1 / math.log(1.5), rel=1e-14)
    a = 0.3
    assert npl.gradient_depth_scale(1.0, 0.0, None, npl.LeakyReLU(a)) == pytest.approx(-1 / math.log(0.5 * (1 + a * a)), rel=1e-14)
    # quadrature path: slope of the variance map and E[phi'^2] at the fixed point
    q = npl.variance_fixed_point(1.5, 0.1, None, "tanh")
    chi_q = npl.variance_map_slope(q, 1.5, 0.1, None, "tanh")
    assert npl.variance_depth_scale(1.5, 0.1, None, "tanh") == pytest.approx(-1 / math.log(chi_q), rel=1e-12)
    g = 1.5 * npl.Tanh().derivative_second_moment(q)
    assert npl.gradient_depth_scale(1.5, 0.1, None, "tanh") == pytest.approx(-1 / math.log(g), rel=1e-12)
    assert C._depth_from_factor(np.array([1.0, 0.5, 2.0])).tolist() == pytest.approx([math.inf, 1 / math.log(2), -1 / math.log(2)])


# ---------------------------------------------------------------------------
# overflow and underflow depths
# ---------------------------------------------------------------------------


def _first_depth_beyond(r, beta, q0, K, up):
    q, l = q0, 0
    while (q <= K) if up else (q >= K):
        q = r * q + beta
        l += 1
        if l > 100_000:
            return math.inf
    return l


@pytest.mark.parametrize(
    "sw, sb, nz, q0, dtype, up",
    [
        (2.4, 0.0, npl.Dropout(0.8), 1.0, "float32", True),
        (2.4, 0.3, npl.Dropout(0.8), 2.0, "float32", True),
        (3.0, 0.0, npl.AdditiveGaussianNoise(0.5), 1.0, "float16", True),
        (1.0, 0.0, npl.Dropout(0.9), 1.0, "float32", False),
        (1.0, 0.0, None, 3.0, "float64", False),
    ],
)
def test_overflow_depth_against_the_iterated_affine_map(sw, sb, nz, q0, dtype, up):
    r, beta = M._affine_variance_map(np.asarray(sw), np.asarray(sb), npl.as_noise(nz), npl.ReLU())
    kmax, ktiny = FW._float_limits(dtype)
    L = npl.overflow_depth(sw, nz, q0=q0, dtype=dtype, sigma_b2=sb)
    first = _first_depth_beyond(float(r), float(beta), q0, kmax if up else ktiny, up)
    assert math.ceil(L) == first or (math.floor(L) == first and L == int(L)), (L, first)
    if sb == 0 and nz is None or (sb == 0 and getattr(nz, "kind", "") != "additive"):
        K = kmax if up else ktiny
        assert L == pytest.approx(math.log(K / q0) / math.log(float(r)), rel=1e-14)


def test_overflow_depth_linear_growth_and_settling():
    # r = 1 with beta > 0 (He initialisation with additive noise): q^l = q0 + l beta
    kmax, _ = FW._float_limits("float32")
    L = npl.overflow_depth(2.0, npl.AdditiveGaussianNoise(1.0), q0=1.0)
    assert L == pytest.approx((kmax - 1.0) / 2.0, rel=1e-14)
    # r < 1 with a bias: the variance settles at q* = beta/(1 - r) inside the range
    assert npl.overflow_depth(1.0, None, sigma_b2=0.5) == math.inf
    # critical: never
    assert npl.overflow_depth(1.2, npl.Dropout(0.6)) == math.inf
    # q0 already below the smallest normal: no underflow depth to report
    assert npl.overflow_depth(1.0, None, q0=1e-40, dtype="float32") == math.inf


def test_float_limits_and_refusals():
    assert FW._float_limits("float32") == (float(np.finfo(np.float32).max), float(np.finfo(np.float32).tiny))
    import torch

    assert FW._float_limits(torch.float16) == (65504.0, float(np.finfo(np.float16).tiny))
    with pytest.raises(ValueError, match="dtype must be a floating type"):
        FW._float_limits("int32")
    with pytest.raises(ValueError, match="is not one"):
        npl.overflow_depth(2.0, None, activation="tanh")


# ---------------------------------------------------------------------------
# finite width
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("nz, a", [(None, 0.0), (npl.Dropout(0.6), 0.0), (npl.GaussianNoise(0.5), 0.3), (npl.Dropout(0.8), 0.1)])
def test_finite_width_step_variance_from_exact_moments(nz, a):
    noise = npl.as_noise(nz)
    m4 = {type(None): 1.0}.get(type(nz))
    if isinstance(nz, npl.Dropout):
        m4 = 1 / nz.keep_prob**3
    elif isinstance(nz, npl.GaussianNoise):
        s2 = nz.std**2
        m4 = 1 + 6 * s2 + 3 * s2 * s2
    mu2 = float(noise.mu2)
    s = 6 * m4 * (1 + a**4) / (mu2 * mu2 * (1 + a * a) ** 2) - 1
    fw = npl.finite_width_log_variance_moments(nz, width=50, depth=np.array([0, 3, 10]), activation=npl.LeakyReLU(a))
    assert fw.step_variance == pytest.approx(s, rel=1e-13)
    assert fw.mean == pytest.approx(-np.array([0, 3, 10]) * s / 100, rel=1e-13)
    assert fw.variance == pytest.approx(np.array([0, 3, 10]) * s / 50, rel=1e-13)
    if nz is None and a == 0:
        assert s == pytest.approx(5.0, rel=1e-15)  # Hanin and Rolnick
    if isinstance(nz, npl.Dropout) and a == 0:
        assert s == pytest.approx(6 / nz.keep_prob - 1, rel=1e-13)


def test_finite_width_defaults_and_refusals():
    fw = npl.finite_width_log_variance_moments(npl.Dropout(0.5))
    assert fw.mean == pytest.approx(-11 / 2000, rel=1e-13) and fw.variance == pytest.approx(11 / 1000, rel=1e-13)
    with pytest.raises(ValueError, match="must be a rectifier"):
        npl.finite_width_log_variance_moments(None, activation="tanh")
    with pytest.raises(npl.NoCriticalPointError):
        npl.finite_width_log_variance_moments(npl.AdditiveGaussianNoise(0.1))
    with pytest.raises(ValueError, match="scalar parameters"):
        npl.finite_width_log_variance_moments(npl.Dropout(np.array([0.5, 0.6])))
    for bad in (-1, 2.5, np.array([1, -2])):
        with pytest.raises(ValueError, match="depth must be a non-negative integer"):
            npl.finite_width_log_variance_moments(None, depth=bad)
    with pytest.raises(ValueError, match="width"):
        npl.finite_width_log_variance_moments(None, width=0)


def test_boundaries_of_the_refusals():
    # phi(0) = 1e-14 exactly is still "zero" for the boundary without bias
    assert np.isfinite(npl.order_chaos_boundary(0.0, npl.Activation(lambda x: np.tanh(x) + 1e-14)))
    # sigma_w2 below one is valid on the general path
    c = npl.correlation_fixed_point(npl.Dropout(0.8), sigma_w2=0.5, sigma_b2=0.5)
    assert c == pytest.approx(float(npl.correlation_map(c, 0.5, 0.5, npl.Dropout(0.8))), rel=1e-12)
    # the default bias of variance_depth_scale is zero on the quadrature path too
    assert npl.variance_depth_scale(1.5, noise=None, activation="tanh") == npl.variance_depth_scale(1.5, 0.0, None, "tanh")


def test_overflow_depth_linear_growth_in_half_precision():
    kmax, _ = FW._float_limits("float16")
    L = npl.overflow_depth(2.0, npl.AdditiveGaussianNoise(1.0), q0=1.0, dtype="float16")
    assert L == pytest.approx((kmax - 1.0) / 2.0, rel=1e-14)
    assert math.ceil(L) == _first_depth_beyond(1.0, 2.0, 1.0, kmax, True)


def test_underflow_depth_with_a_tiny_bias():
    """r = 1/2 and beta = 1e-40: the variance settles at q* = 2e-40, below float32's smallest normal,
    so it underflows after ln((tiny - q*)/(q0 - q*))/ln r layers."""
    sb = 1e-40
    kmax, ktiny = FW._float_limits("float32")
    L = npl.overflow_depth(1.0, None, q0=1.0, sigma_b2=sb)
    qstar = sb / 0.5
    assert L == pytest.approx(math.log((ktiny - qstar) / (1.0 - qstar)) / math.log(0.5), rel=1e-14)
    assert math.ceil(L) == _first_depth_beyond(0.5, sb, 1.0, ktiny, False)


def test_more_boundaries_and_defaults():
    with pytest.raises(ValueError, match=r"phi\(0\)"):
        npl.order_chaos_boundary(0.0, npl.Activation(lambda x: np.tanh(x) + 1.5e-14))
    # defaults: no bias, q0 = 1
    assert npl.variance_fixed_point(1.0) == 0.0
    assert npl.variance_fixed_point(2.0) == 1.0
    # additive noise with Var = 1/4: q* = (sigma_w2 Var + sigma_b2)/(1 - sigma_w2/2)
    assert npl.variance_fixed_point(1.0, 0.5, npl.AdditiveGaussianNoise(0.5)) == pytest.approx(1.5, rel=1e-15)
    assert npl.variance_depth_scale(0.5, 0.0, npl.Dropout(0.5)) == pytest.approx(-1 / math.log(0.5), rel=1e-14)
    assert npl.gradient_depth_scale(1.5, noise=None, activation="tanh") == npl.gradient_depth_scale(1.5, 0.0, None, "tanh")


def test_variance_fixed_point_quadrature_path_small_fixed_point():
    """q* ~ 2e-4 (tanh, sigma_w2 = 1/2, sigma_b2 = 1e-4): the relative tolerance holds there too."""
    q = npl.variance_fixed_point(0.5, 1e-4, None, "tanh")
    assert 1e-4 < q < 1e-3
    assert q == pytest.approx(npl.variance_map(q, 0.5, 1e-4, None, "tanh"), rel=1e-12, abs=0)


def test_chi1_quadrature_form_with_a_non_unit_noise_mean():
    p = 0.9
    q = npl.variance_fixed_point(1.5, 0.1, npl.PlainDropout(p), "tanh")
    d2 = npl.Tanh().derivative_second_moment(q)
    assert npl.chi1(1.5, 0.1, npl.PlainDropout(p), "tanh") == pytest.approx(1.5 * p * p * d2, rel=1e-10)


def test_depth_scale_at_tiny_noise_against_50_digits():
    """Gaussian noise with std 1e-6: chi = 1 - O(1e-8), where -1/ln(chi) needs the accurate 1 - chi."""
    nz = npl.GaussianNoise(1e-6)
    _, chi_ref = _fixed_point_mp(1 + mpmath.mpf(float(nz.relative_variance)), 0.0)  # kappa without rounding
    assert npl.depth_scale(nz) == pytest.approx(float(-1 / mpmath.log(chi_ref)), rel=1e-12)


def test_overflow_depth_more_branches():
    kmax, ktiny = FW._float_limits("float32")
    # linear growth with beta below one: q^l = q0 + l/2
    assert npl.overflow_depth(2.0, npl.AdditiveGaussianNoise(0.5), q0=1.0) == pytest.approx((kmax - 1.0) / 0.5, rel=1e-14)
    # q0 exactly at the smallest normal: already there, nothing to report
    assert npl.overflow_depth(1.0, None, q0=ktiny) == math.inf
    # growth with a bias in half precision, where the shift beta/(r - 1) is not negligible
    h_max, _ = FW._float_limits("float16")
    L = npl.overflow_depth(2.4, npl.Dropout(0.8), q0=1.0, dtype="float16", sigma_b2=1000.0)
    shift = 1000.0 / (2.4 / 0.8 / 2 - 1.0)
    assert L == pytest.approx(math.log((h_max + shift) / (1.0 + shift)) / math.log(1.5), rel=1e-13)
    assert math.ceil(L) == _first_depth_beyond(1.5, 1000.0, 1.0, h_max, True)
    # underflow from just above the smallest normal, towards q* = tiny/2
    sb = 0.25 * ktiny
    L = npl.overflow_depth(1.0, None, q0=4 * ktiny, sigma_b2=sb)
    qstar = 0.5 * ktiny
    assert L == pytest.approx(math.log((ktiny - qstar) / (4 * ktiny - qstar)) / math.log(0.5), rel=1e-13)


def test_newton_correlation_fixed_point_agrees_with_the_plain_iteration():
    """The general path's Newton solver (from chapter 2) against the old plain iteration, on a grid off the boundary."""
    sw, sb = np.meshgrid([0.8, 2.0, 3.5], [0.05, 0.3])
    for nz, act in [(npl.NoNoise(), npl.Tanh()), (npl.Dropout(0.8), npl.Tanh()), (npl.AdditiveGaussianNoise(0.3), npl.Erf())]:
        nz = npl.as_noise(nz)
        q = M._resolve_q(None, sw, sb, nz, act)
        newton = C._newton_correlation_fixed_point(sw, sb, nz, act, q)
        assert newton is not None
        plain = C._iterated_correlation_fixed_point(sw, sb, nz, act, q_star=q)
        slope = npl.correlation_map_slope(newton, sw, sb, nz, act, q=q)
        tol = 1e-13 * np.maximum(1.0, 1.0 / (1.0 - np.minimum(slope, 0.999)))  # the iteration stops at steps of 1e-13
        np.testing.assert_array_less(np.abs(newton - plain), 10 * tol + 1e-14)
        np.testing.assert_array_equal(npl.correlation_fixed_point(nz, act, sw, sb), newton)


def test_order_chaos_boundary():
    sb = np.array([0.0, 0.02, 0.05, 0.4])
    sw = npl.order_chaos_boundary(sb)
    assert sw[0] == pytest.approx(1.0, rel=1e-9) and np.all(np.diff(sw) > 0)  # 1/phi'(0)^2 without bias
    np.testing.assert_allclose(npl.chi1(sw[1:], sb[1:], None, "tanh"), 1.0, atol=1e-10)
    assert npl.Layer(sigma_b2=0.05, activation="tanh").critical().sigma_w2 == npl.order_chaos_boundary(0.05)
    with pytest.raises(ValueError, match="no order/chaos boundary"):
        npl.order_chaos_boundary(0.1, "relu")


# ---------------------------------------------------------------------------
# critical_point: a fixed point at the operating point that does not amplify
# ---------------------------------------------------------------------------

_EPS = np.finfo(float).eps


def _quad_moments(fn, dfn, q):
    """E[phi^2], d/dq E[phi^2] and E[phi'^2] at q by scipy's adaptive quadrature, independently of the library."""
    from scipy import integrate

    def gauss(g):
        return sum(integrate.quad(lambda z: g(z) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi), a, b,
                                  epsabs=1e-14, epsrel=1e-13, limit=200)[0] for a, b in ((-40, 0), (0, 40)))

    s = math.sqrt(q)
    # Stein's lemma: d/dq E[phi(sqrt q z)^2] = E[z phi phi'] / sqrt q
    return gauss(lambda z: fn(s * z) ** 2), gauss(lambda z: z * fn(s * z) * dfn(s * z)) / s, gauss(lambda z: dfn(s * z) ** 2)


_SMOOTH = {
    "tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2),
    "gelu": (lambda x: x * 0.5 * math.erfc(-x / math.sqrt(2)),
             lambda x: 0.5 * math.erfc(-x / math.sqrt(2)) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)),
    "silu": (lambda x: x / (1 + math.exp(-x)),
             lambda x: (1 / (1 + math.exp(-x))) * (1 + x * (1 - 1 / (1 + math.exp(-x))))),
    "elu": (lambda x: x if x > 0 else math.expm1(x), lambda x: 1.0 if x > 0 else math.exp(x)),
}


@pytest.mark.parametrize("name", sorted(_SMOOTH))
@pytest.mark.parametrize("q0", [0.25, 1.0, 4.0])
@pytest.mark.parametrize("nz", [None, npl.Dropout(0.8), npl.GaussianNoise(0.5), npl.Dropout(0.3)], ids=repr)
def test_critical_point_constraints_by_independent_quadrature(name, q0, nz):
    """V(q0) = q0, V'(q0) <= 1, chi <= 1, sigma_b2 >= 0, and the largest sigma_w2 with these: one constraint is active."""
    e, de, d = _quad_moments(*_SMOOTH[name], q0)
    cp = npl.critical_point(nz, name, q0=q0)
    mu2 = 1.0 if nz is None else float(nz.mu2)
    scale = cp.sigma_w2 * mu2
    # the quadratures agree to ~1e-10 relative (ELU's kink in phi'' limits the library's graded rule)
    tol = 1e-9
    assert scale * e + cp.sigma_b2 == pytest.approx(q0, rel=tol)  # a fixed point at q0
    assert scale * de == pytest.approx(cp.variance_slope, rel=tol)
    assert scale * d == pytest.approx(cp.chi, rel=tol)
    assert cp.sigma_b2 >= 0 and cp.variance_slope <= 1 + tol and cp.chi <= 1 + tol
    expected = min(q0 / e, 1 / de, 1 / d)
    assert scale == pytest.approx(expected, rel=tol)
    active = {"fixed point": cp.sigma_b2 == 0, "marginal stability": cp.variance_slope == pytest.approx(1, rel=tol),
              "edge of chaos": cp.chi == pytest.approx(1, rel=tol)}
    assert active[cp.rule]
    # the library's own variance map agrees with the tuple to rounding (a few operations on O(1) numbers)
    v = float(npl.variance_map(q0, cp.sigma_w2, cp.sigma_b2, nz, name))
    assert abs(v - q0) <= 64 * _EPS * q0


def test_critical_point_rules_by_activation():
    """Which constraint binds at q0 = 1, and that it does not depend on the noise (sigma_w2 scales as 1/mu2)."""
    rules = {"tanh": "edge of chaos", "erf": "edge of chaos", "elu": "edge of chaos",
             "gelu": "marginal stability", "silu": "marginal stability"}
    for act, rule in rules.items():
        plain = npl.critical_point(None, act)
        for nz in (npl.Dropout(0.5), npl.GaussianNoise(0.8)):
            cp = npl.critical_point(nz, act)
            assert cp.rule == rule == plain.rule
            assert cp.sigma_w2 * nz.mu2 == pytest.approx(plain.sigma_w2, rel=4 * _EPS)
            assert cp.sigma_b2 == plain.sigma_b2
    # a broadcast over keep probabilities
    ps = np.array([0.3, 0.6, 0.9])
    cp = npl.critical_point(npl.Dropout(ps), "gelu")
    np.testing.assert_allclose(cp.sigma_w2, ps * npl.critical_point(None, "gelu").sigma_w2, rtol=4 * _EPS)
    assert list(cp.rule) == ["marginal stability"] * 3


@pytest.mark.parametrize("act", [npl.ReLU(), npl.LeakyReLU(0.2)], ids=repr)
def test_critical_point_of_rectifiers_is_the_papers(act):
    for q0 in (0.1, 1.0, 30.0):
        cp = npl.critical_point(npl.Dropout(0.6), act, q0=q0)
        assert cp.sigma_w2 == pytest.approx(2 * 0.6 / (1 + act.alpha ** 2), rel=4 * _EPS)
        assert (cp.sigma_b2, cp.q_star, cp.variance_slope, cp.chi, cp.rule) == (0.0, q0, 1.0, 1.0, "rectifier")
        assert npl.critical_sigma_w2(npl.Dropout(0.6), act, q0=q0) == cp.sigma_w2


@pytest.mark.parametrize("act", ["gelu", "silu", "tanh", "elu"])
def test_critical_point_keeps_the_signal_over_50_layers_where_the_old_rule_did_not(act):
    """The old rule sigma_w2 = 1/(mu2 phi'(0)^2) (q* = 0) exploded GELU/SiLU and let tanh decay; the new one holds q0."""
    nz = npl.Dropout(0.8)
    cp = npl.critical_point(nz, act)
    q = float(npl.iterate_variance_map(1.0, 50, cp.sigma_w2, cp.sigma_b2, nz, act)[-1])
    assert q == pytest.approx(1.0, rel=1e-9)  # a fixed point: iterating it only accumulates rounding
    # a 10 % perturbation stays within [0.5, 2] for 50 layers (stable or marginally stable fixed point)
    for q_start in (0.9, 1.1):
        q = q_start
        for _ in range(50):
            q = float(npl.variance_map(q, cp.sigma_w2, cp.sigma_b2, nz, act))
        assert 0.5 <= q <= 2.0
    old = npl.order_chaos_boundary(0.0, act, nz)
    q = 1.0
    for _ in range(50):
        q = float(npl.variance_map(q, old, 0.0, nz, act))
    if act in ("gelu", "silu"):
        assert q > 1e3  # the harmful old rule
    else:
        assert q < 0.5  # tanh and ELU decay towards q* = 0 under the old rule


def test_layer_critical_sets_the_bias_of_smooth_activations():
    lay = npl.Layer(noise=npl.Dropout(0.8), activation="gelu").critical()
    cp = npl.critical_point(npl.Dropout(0.8), "gelu")
    assert (lay.sigma_w2, lay.sigma_b2) == (cp.sigma_w2, cp.sigma_b2)
    assert npl.Layer(noise=npl.Dropout(0.8)).critical().sigma_b2 == 0.0
