"""Property-based tests over the whole domain of the theory.

c in [-1, 1]; mu2 from 1 to 1e6 (Dropout with keep_prob down to 1e-6, Gaussian noise with std up
to sqrt(1e6 - 1)); sigma_w2 in [1e-8, 1e8]; sigma_b2 in [0, 1e8]; q in [0, 1e12].
Design section 6; paper 1 section 3.6 (CLAIMS 14, 18, 19).
"""
from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import noisyprop_lib as npl

c_st = st.floats(-1.0, 1.0)
q_st = st.floats(0.0, 1e12)
sw_st = st.floats(1e-8, 1e8)
sb_st = st.one_of(st.just(0.0), st.floats(0.0, 1e8))
keep_st = st.floats(1e-6, 1.0)
std_st = st.floats(0.0, math.sqrt(1e6 - 1))
mult_noise_st = st.one_of(keep_st.map(npl.Dropout), std_st.map(npl.GaussianNoise), keep_st.map(npl.GaussianDropout))
noisy_st = st.one_of(st.floats(1e-6, 1.0, exclude_max=True).map(npl.Dropout), st.floats(1e-6, math.sqrt(1e6 - 1)).map(npl.GaussianNoise))
any_noise_st = st.one_of(st.none(), mult_noise_st, st.floats(0.0, 1e3).map(npl.AdditiveGaussianNoise), st.floats(0.0, 1e3).map(npl.AdditiveLaplaceNoise))
rectifier_st = st.one_of(st.just("relu"), st.floats(0.0, 0.99).map(npl.LeakyReLU))

FAST = settings(max_examples=150, deadline=None)
SLOW = settings(max_examples=25, deadline=None)


def _finite_or_inf(x):
    """No NaN (an infinite depth scale or overflow depth is a legitimate answer)."""
    return not np.any(np.isnan(np.asarray(x, dtype=float)))


# ---------------------------------------------------------------------------
# no NaN anywhere
# ---------------------------------------------------------------------------


@FAST
@given(q=q_st, sw=sw_st, sb=sb_st, nz=any_noise_st, act=rectifier_st)
def test_variance_maps_never_nan(q, sw, sb, nz, act):
    v = npl.variance_map(q, sw, sb, nz, act)
    assert np.isfinite(v) and v >= 0
    assert np.isfinite(npl.variance_map_slope(q, sw, sb, nz, act))
    assert _finite_or_inf(npl.variance_fixed_point(sw, sb, nz, act))
    assert _finite_or_inf(npl.variance_depth_scale(sw, sb, nz, act))
    assert _finite_or_inf(npl.gradient_depth_scale(sw, sb, nz, act))
    d = npl.overflow_depth(sw, nz, q0=max(q, 1e-30), activation=act, sigma_b2=sb)
    assert _finite_or_inf(d) and d >= 0


@FAST
@given(c=c_st, q=st.floats(1e-300, 1e12), sw=sw_st, sb=sb_st, nz=any_noise_st, act=rectifier_st, shared=st.booleans())
def test_correlation_maps_never_nan(c, q, sw, sb, nz, act, shared):
    out = npl.correlation_map(c, sw, sb, nz, act, q=q, shared_mask=shared)
    assert np.isfinite(out) and -1.0 <= out <= 1.0
    assert np.isfinite(npl.correlation_map_slope(c, sw, sb, nz, act, q=q, shared_mask=shared))
    qa, qb, qab = npl.covariance_map(q, q, c * q, sw, sb, nz, act, shared_mask=shared)
    assert all(np.isfinite([qa, qb, qab]))
    assert abs(qab) <= math.sqrt(qa) * math.sqrt(qb) * (1 + 1e-12)


@FAST
@given(nz=st.one_of(st.none(), mult_noise_st), act=rectifier_st, sw=st.one_of(st.none(), sw_st))
def test_fixed_point_quantities_never_nan(nz, act, sw):
    fp = npl.correlation_fixed_point_analysis(nz, act, sw)
    assert np.isfinite(fp.c_star) and 0 < fp.c_star <= 1
    assert np.isfinite(fp.chi) and 0 < fp.chi <= 1
    assert not math.isnan(fp.depth_scale) and fp.depth_scale > 0
    assert np.isfinite(npl.critical_sigma_w2(nz, act))
    assert not math.isnan(npl.trainable_depth(nz, act, sw))


@SLOW
@given(c=c_st, q=st.floats(0.0, 50.0), sw=st.floats(1e-4, 1e4), sb=st.floats(0.0, 10.0), nz=any_noise_st, act=st.sampled_from(["tanh", "erf", "gelu", "silu"]))
def test_smooth_activation_maps_never_nan(c, q, sw, sb, nz, act):
    assume(q > 0 or sb > 0)  # q = 0 with sigma_b2 = 0 has an undefined correlation (a ValueError)
    assert np.isfinite(npl.variance_map(q, sw, sb, nz, act))
    assert np.isfinite(npl.variance_map_slope(q, sw, sb, nz, act))
    out = npl.correlation_map(c, sw, sb, nz, act, q=q)
    assert np.isfinite(out) and -1 - 1e-12 <= out <= 1 + 1e-12
    assert np.isfinite(npl.correlation_map_slope(c, sw, sb, nz, act, q=q))


# ---------------------------------------------------------------------------
# the fixed point and its depth scale
# ---------------------------------------------------------------------------


@FAST
@given(nz=noisy_st)
def test_fixed_point_in_unit_interval_and_slope_bounds(nz):
    """CLAIM 14/18: for mu2 > 1, c* in (0, 1) and 1/(2 mu2) < chi(c*) < 1/mu2."""
    mu2 = nz.mu2
    assume(mu2 > 1)
    c = npl.correlation_fixed_point(nz)
    chi = npl.correlation_fixed_point_slope(nz)
    assert 0 < c < 1
    assert 1 / (2 * mu2) < chi < 1 / mu2
    # c* is a fixed point of the c-map, to a few ulp of c*
    assert abs(npl.correlation_map(c, noise=nz) - c) <= 8e-16 * c


@FAST
@given(nz=noisy_st)
def test_depth_scale_bounds(nz):
    """CLAIM 18: 1/ln(2 mu2) < xi_c < 1/ln(mu2)."""
    mu2 = nz.mu2
    assume(mu2 > 1)
    xi = npl.depth_scale(nz)
    assert 1 / math.log(2 * mu2) < xi < 1 / math.log1p(nz.relative_variance)


@FAST
@given(a=st.floats(1e-6, math.sqrt(1e6 - 1)), b=st.floats(1e-6, math.sqrt(1e6 - 1)))
def test_depth_scale_strictly_decreasing_in_mu2(a, b):
    """CLAIM 19: more noise, shorter depth scale (distinct noise levels at a relative separation >= 1e-9)."""
    lo, hi = min(a, b), max(a, b)
    assume(hi > lo * (1 + 1e-9))
    x_lo, x_hi = npl.depth_scale(npl.GaussianNoise(np.array([lo, hi])))
    assert x_lo > x_hi
    c_lo, c_hi = npl.correlation_fixed_point(npl.GaussianNoise(np.array([lo, hi])))
    assert c_lo > c_hi


@FAST
@given(p=st.floats(1e-6, 1.0, exclude_max=True))
def test_gaussian_dropout_and_dropout_share_the_theory(p):
    d, g = npl.Dropout(p), npl.GaussianDropout(p)
    assert npl.correlation_fixed_point(d) == npl.correlation_fixed_point(g)
    assert npl.depth_scale(d) == npl.depth_scale(g)


# ---------------------------------------------------------------------------
# the maps
# ---------------------------------------------------------------------------


@FAST
@given(c=c_st, nz=st.one_of(st.none(), mult_noise_st), sw=sw_st, sb=sb_st, q=q_st)
def test_relu_correlation_map_maps_into_unit_interval(c, nz, sw, sb, q):
    """ReLU with multiplicative noise sends every c in [-1, 1] into [0, 1] (any bias, any length)."""
    out = npl.correlation_map(c, noise=nz)
    assert 0.0 <= out <= 1.0
    assume(q > 0 or sb > 0)
    out = npl.correlation_map(c, sw, sb, nz, "relu", q=q)
    assert 0.0 <= out <= 1.0
    # the slope lies in [0, 1/mu2]
    s = npl.correlation_map_slope(c, noise=nz)
    assert 0.0 <= s <= 1.0 / npl.as_noise(nz).mu2 * (1 + 1e-15)


@FAST
@given(c1=c_st, c2=c_st, nz=st.one_of(st.none(), mult_noise_st))
def test_relu_correlation_map_monotone_and_convex_chord(c1, c2, nz):
    lo, hi = min(c1, c2), max(c1, c2)
    f_lo, f_hi = npl.correlation_map(np.array([lo, hi]), noise=nz)
    assert f_lo <= f_hi
    mid = npl.correlation_map(0.5 * (lo + hi), noise=nz)
    assert mid <= 0.5 * (f_lo + f_hi) + 1e-16  # convex


@FAST
@given(q1=q_st, q2=q_st, sw=sw_st, sb=sb_st, nz=any_noise_st, act=st.one_of(rectifier_st, st.sampled_from(["tanh", "erf"])))
def test_variance_map_nonnegative_and_monotone_in_q(q1, q2, sw, sb, nz, act):
    lo, hi = min(q1, q2), max(q1, q2)
    v_lo, v_hi = npl.variance_map(np.array([lo, hi]), sw, sb, nz, act)
    assert v_lo >= 0 and v_hi >= 0
    assert v_lo <= v_hi


@FAST
@given(nz=st.one_of(st.none(), mult_noise_st, st.floats(1e-6, 1.0).map(npl.PlainDropout), st.floats(1e-3, 1e3).map(npl.GammaNoise), st.floats(0.0, 1e3).map(npl.LaplaceNoise), st.floats(1e-6, 1e3).map(npl.PoissonNoise), st.floats(0.0, 1e3).map(npl.UniformNoise)))
def test_critical_sigma_w2_times_mu2_is_two(nz):
    mu2 = npl.as_noise(nz).mu2
    crit = npl.critical_sigma_w2(nz)
    assert abs(crit * mu2 - 2.0) <= 4e-16 * 2
    # and the variance map is the identity there
    assert math.isclose(npl.variance_map(3.0, crit, 0.0, nz), 3.0, rel_tol=1e-14)


@FAST
@given(alpha=st.floats(0.0, 0.99), nz=st.one_of(st.none(), mult_noise_st))
def test_leaky_critical_sigma_w2(alpha, nz):
    mu2 = npl.as_noise(nz).mu2
    crit = npl.critical_sigma_w2(nz, npl.LeakyReLU(alpha))
    assert math.isclose(crit * mu2 * (1 + alpha * alpha), 2.0, rel_tol=1e-15)
