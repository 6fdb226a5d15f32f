"""The noisy mean-field maps, exactly: every branch against the ReLU closed forms (the rectifier moments
are exact), written out by hand in each test, including the quadrature path (bias, additive noise,
non-unit noise mean) that the closed-form shortcut skips.

Written to kill the mutants of ``make mutate`` (tools/mutate.py) that test_meanfield.py leaves alive.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import noisyprop_lib as npl
from noisyprop_lib.theory.activations import arccos_kernel as R
from noisyprop_lib.theory.activations import arccos_kernel_derivative as dR

EXACT = dict(rel=1e-14, abs=1e-15)


def test_variance_map_multiplicative_and_additive():
    # ReLU: E[phi^2] = q/2
    assert npl.variance_map(3.0, 1.5, 0.25, npl.Dropout(0.5)) == pytest.approx(1.5 * 2.0 * 1.5 + 0.25, **EXACT)
    assert npl.variance_map(3.0, 1.5, 0.25, npl.PlainDropout(0.5)) == pytest.approx(1.5 * 0.5 * 1.5 + 0.25, **EXACT)
    # additive: sigma_w2 (E[phi^2] + Var eps) + sigma_b2
    assert npl.variance_map(3.0, 1.5, 0.25, npl.AdditiveGaussianNoise(2.0)) == pytest.approx(1.5 * (1.5 + 4.0) + 0.25, **EXACT)
    assert npl.variance_map(3.0, 1.5, noise=npl.AdditiveLaplaceNoise(1.0)) == pytest.approx(1.5 * (1.5 + 2.0), **EXACT)


def test_variance_map_slope_multiplicative_and_additive():
    assert npl.variance_map_slope(3.0, 1.5, 0.25, npl.Dropout(0.5)) == pytest.approx(1.5 * 2.0 * 0.5, **EXACT)
    assert npl.variance_map_slope(3.0, 1.5, 0.25, npl.AdditiveGaussianNoise(2.0)) == pytest.approx(0.75, **EXACT)


@pytest.mark.parametrize("shared", [False, True])
def test_covariance_map_relu_every_noise_kind(shared):
    qa, qb, qab, sw, sb = 2.0, 8.0, 1.2, 1.5, 0.25
    c = qab / 4.0
    cross = 0.5 * 4.0 * R(c)
    for nz, diag, off, add in [
        (npl.Dropout(0.5), 2.0, 2.0 if shared else 1.0, 0.0),
        (npl.PlainDropout(0.5), 0.5, 0.5 if shared else 0.25, 0.0),
        (npl.AdditiveGaussianNoise(2.0), 1.0, 1.0, 4.0),
    ]:
        a, b, ab = npl.covariance_map(qa, qb, qab, sw, sb, nz, shared_mask=shared)
        assert a == pytest.approx(sw * (diag * qa / 2 + add) + sb, **EXACT)
        assert b == pytest.approx(sw * (diag * qb / 2 + add) + sb, **EXACT)
        add_off = add if shared else 0.0
        assert ab == pytest.approx(sw * (off * cross + add_off) + sb, **EXACT), (nz, shared)


def test_covariance_map_zero_length_and_cauchy_schwarz():
    # a zero-length input: the correlation is taken as 0, the cross moment vanishes
    a, b, ab = npl.covariance_map(0.0, 4.0, 0.0, 2.0, 0.5)
    assert (a, b, ab) == (0.5, 4.5, 0.5)
    # |q_ab| at the bound, and within its rounding slack, is accepted
    assert np.isfinite(npl.covariance_map(4.0, 9.0, -6.0 * (1 + 5e-13), 1.0)[2])
    assert npl.covariance_map(4.0, 9.0, 6.0, 1.0)[2] == pytest.approx(0.5 * 6.0, **EXACT)
    for qa, qb, qab in [(4.0, 9.0, 6.0 * (1 + 3e-12)), (4.0, 9.0, -6.1), (0.0, 1.0, 1e-300)]:
        with pytest.raises(ValueError, match=r"q_ab must satisfy q_ab\^2 <= q_a q_b") as info:
            npl.covariance_map(qa, qb, qab, 1.0)
        assert f"q_ab = {qab!r}" in str(info.value)


def test_covariance_map_error_names_the_offending_entry():
    qab = np.array([0.5, 0.0, 3.0])
    with pytest.raises(ValueError) as info:
        npl.covariance_map(np.array([1.0, 1.0, 2.0]), 4.0, qab, 1.0)
    assert "q_ab = 3.0 with q_a = 2.0, q_b = 4.0" in str(info.value)


def test_correlation_map_closed_forms_with_non_unit_mean_and_leaky_slope():
    c = 0.3
    assert npl.correlation_map(c, noise=npl.Dropout(0.8)) == pytest.approx(0.8 * R(c), **EXACT)
    assert npl.correlation_map(c, noise=npl.PlainDropout(0.8)) == pytest.approx(0.8 * R(c), **EXACT)
    assert npl.correlation_map(c, noise=npl.Dropout(0.8), shared_mask=True) == pytest.approx(R(c), **EXACT)
    a = 0.2
    k = (2 * a * c + (1 - a) ** 2 * R(c)) / (1 + a * a)
    assert npl.correlation_map(c, noise=npl.GaussianNoise(0.5), activation=npl.LeakyReLU(a)) == pytest.approx(k / 1.25, **EXACT)
    dk = (2 * a + (1 - a) ** 2 * dR(c)) / (1 + a * a)
    assert npl.correlation_map_slope(c, noise=npl.GaussianNoise(0.5), activation=npl.LeakyReLU(a)) == pytest.approx(dk / 1.25, **EXACT)
    assert npl.correlation_map_slope(c, noise=npl.Dropout(0.8), shared_mask=True) == pytest.approx(dR(c), **EXACT)
    # sigma_w2 may be given (it cancels) but must be valid
    assert npl.correlation_map(c, 7.0, noise=npl.Dropout(0.8)) == pytest.approx(0.8 * R(c), **EXACT)
    with pytest.raises(ValueError, match="sigma_w2"):
        npl.correlation_map(c, -1.0, noise=npl.Dropout(0.8))


@pytest.mark.parametrize("shared", [False, True])
def test_correlation_map_general_path_relu_with_bias(shared):
    """sigma_b2 > 0: q_aa = sw (mu2 q/2) + sb, q_ab = sw (off q/2 R(c)) + sb, at a given q."""
    c, q, sw, sb = 0.3, 2.0, 1.5, 0.5
    for nz, mu2, mu1sq in [(npl.Dropout(0.5), 2.0, 1.0), (npl.PlainDropout(0.5), 0.5, 0.25)]:
        off = mu2 if shared else mu1sq
        qaa = sw * mu2 * q / 2 + sb
        want = (sw * off * q / 2 * R(c) + sb) / qaa
        assert npl.correlation_map(c, sw, sb, nz, q=q, shared_mask=shared) == pytest.approx(want, **EXACT)
        slope = sw * off * q * (dR(c) / 2) / qaa
        assert npl.correlation_map_slope(c, sw, sb, nz, q=q, shared_mask=shared) == pytest.approx(slope, **EXACT)


@pytest.mark.parametrize("shared", [False, True])
def test_correlation_map_general_path_additive_noise(shared):
    c, q, sw = -0.4, 3.0, 2.0
    nz = npl.AdditiveGaussianNoise(0.5)
    qaa = sw * (q / 2 + 0.25)
    want = sw * (q / 2 * R(c) + (0.25 if shared else 0.0)) / qaa
    assert npl.correlation_map(c, sw, 0.0, nz, q=q, shared_mask=shared) == pytest.approx(want, **EXACT)
    assert npl.correlation_map_slope(c, sw, 0.0, nz, q=q) == pytest.approx(sw * q * dR(c) / 2 / qaa, **EXACT)


def test_correlation_map_general_path_defaults_to_the_variance_fixed_point():
    # ReLU, sigma_w2 = 1, sigma_b2 = 0.5, no noise: q* = 0.5/(1 - 1/2) = 1
    c = 0.2
    assert npl.correlation_map(c, 1.0, 0.5) == pytest.approx((0.5 * R(c) + 0.5) / 1.0, **EXACT)
    assert npl.correlation_map(c, 1.0, 0.5) == pytest.approx(npl.correlation_map(c, 1.0, 0.5, q=1.0), **EXACT)


def test_correlation_map_general_path_refusals():
    with pytest.raises(ValueError, match="sigma_w2 is required here"):
        npl.correlation_map(0.5, None, 0.1)
    with pytest.raises(ValueError, match="no finite stable fixed point"):
        npl.correlation_map(0.5, 3.0, 0.1)  # r = 1.5 > 1
    with pytest.raises(ValueError, match="the output variance q\\^l is zero"):
        npl.correlation_map(0.5, 0.0, 0.0, npl.AdditiveGaussianNoise(0.0), q=1.0)  # sigma_w2 = sigma_b2 = 0
    # q = 0 with a bias is a valid limit (the map sends every c to 1)
    assert npl.correlation_map(0.5, 1.0, 0.1, q=0.0) == pytest.approx(1.0, rel=1e-10)


def test_iterate_variance_map_is_geometric_for_relu():
    qs = npl.iterate_variance_map(2.0, 5, 3.0, noise=npl.Dropout(0.5))  # r = 3 * 2 / 2 = 3
    assert qs.shape == (6,)
    np.testing.assert_allclose(qs, 2.0 * 3.0 ** np.arange(6), rtol=1e-14)
    grid = npl.iterate_variance_map(np.array([1.0, 2.0]), 3, np.array([[1.0], [2.0]]), 0.5)
    assert grid.shape == (4, 2, 2)
    assert grid[0].tolist() == [[1.0, 2.0], [1.0, 2.0]]
    assert grid[1, 1].tolist() == pytest.approx([1.5, 2.5])
    with pytest.raises(ValueError, match="depth"):
        npl.iterate_variance_map(1.0, 0, 1.0)


def test_iterate_correlation_map_with_and_without_evolving_length():
    # closed form: c^l = R(c^{l-1})/mu2, independent of q
    cs = npl.iterate_correlation_map(0.1, 3, noise=npl.Dropout(0.5))
    c = 0.1
    for l in range(1, 4):
        c = 0.5 * R(c)
        assert cs[l] == pytest.approx(c, **EXACT)
    # bias: with q0 the length follows the variance map, q^l = q^{l-1}/2 + 0.5 for sigma_w2 = 1
    cs = npl.iterate_correlation_map(0.1, 3, 1.0, 0.5, q0=4.0)
    q, c = 4.0, 0.1
    for l in range(1, 4):
        c = (q / 2 * R(c) + 0.5) / (q / 2 + 0.5)
        q = q / 2 + 0.5
        assert cs[l] == pytest.approx(c, **EXACT)
    assert npl.iterate_correlation_map(np.array([0.1, 0.5]), 2, noise=npl.Dropout(0.5)).shape == (3, 2)


def test_covariance_map_small_variances_and_the_slack_of_the_bound():
    # lengths below one: c = q_ab/sqrt(q_a q_b) still
    a, b, ab = npl.covariance_map(0.25, 0.16, 0.1, 1.0)
    assert ab == pytest.approx(0.5 * 0.2 * R(0.5), **EXACT)
    # the rounding slack is 1e-12 relative: 1.5e-12 beyond the bound is refused
    with pytest.raises(ValueError, match="Cauchy-Schwarz"):
        npl.covariance_map(4.0, 9.0, 6.0 * (1 + 1.5e-12), 1.0)


def test_covariance_map_error_points_at_the_first_violation():
    # entry 0 sits exactly on the bound (allowed), entry 1 is beyond it
    with pytest.raises(ValueError) as info:
        npl.covariance_map(np.array([1.0, 2.0]), 4.0, np.array([2.0, 3.0]), 1.0)
    assert "q_ab = 3.0 with q_a = 2.0, q_b = 4.0" in str(info.value)
    with pytest.raises(ValueError) as info:
        npl.covariance_map(np.array([1.0, 2.0]), 4.0, np.array([1.5, 3.0]), 1.0)
    assert "q_ab = 3.0 with q_a = 2.0" in str(info.value)


def test_iterate_correlation_map_accepts_small_input_lengths():
    cs = npl.iterate_correlation_map(0.1, 1, 1.0, 0.5, q0=0.5)
    assert cs[1] == pytest.approx((0.25 * R(0.1) + 0.5) / (0.25 + 0.5), **EXACT)


def test_covariance_map_error_finds_a_small_first_violation():
    # entry 0 exceeds its bound by 1.5e-12 relative (a violation), entry 1 by far more: entry 0 is reported
    qab = np.array([2.0 * (1 + 1.5e-12), 3.0])
    with pytest.raises(ValueError) as info:
        npl.covariance_map(np.array([1.0, 2.0]), 4.0, qab, 1.0)
    assert f"q_ab = {float(qab[0])!r} with q_a = 1.0" in str(info.value)
