"""The noisy mean-field maps: variance, covariance, correlation, slopes and depth iteration.

Reference: paper 1, sections 3.1, 3.3-3.5; CLAIMS 4, 5, 9, 11, 12, 13, 21.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import noisyprop_lib as npl


def _generic_relu():
    """ReLU as an anonymous activation: forces the quadrature path of every map."""
    return npl.Activation(lambda x: np.maximum(x, 0.0), lambda x: np.where(x > 0, 1.0, 0.0), name="generic_relu")


MULT = [npl.NoNoise(), npl.Dropout(0.6), npl.Dropout(0.1), npl.GaussianNoise(0.25), npl.GaussianNoise(2.0), npl.PoissonNoise(), npl.LaplaceNoise(0.5), npl.GammaNoise(3.0)]

# ---------------------------------------------------------------------------
# variance map
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("nz", MULT, ids=repr)
def test_relu_multiplicative_variance_map_is_affine(nz):
    """CLAIM 4: q' = sigma_w2 mu2 q / 2 + sigma_b2 exactly."""
    q = np.array([0.0, 1e-8, 0.5, 4.0, 15.0, 1e9])[:, None]
    sw = np.array([0.1, 1.2, 2.0, 7.5])[None, :]
    for sb in (0.0, 0.3):
        got = npl.variance_map(q, sw, sb, nz)
        assert got.shape == (6, 4)
        np.testing.assert_allclose(got, sw * nz.mu2 * q / 2 + sb, rtol=1e-15, atol=0)
        np.testing.assert_allclose(npl.variance_map_slope(q, sw, sb, nz), np.broadcast_to(sw * nz.mu2 / 2, got.shape), rtol=1e-15)


@pytest.mark.parametrize("nz", MULT, ids=repr)
def test_relu_variance_map_is_identity_at_criticality(nz):
    """CLAIM 4: at (2/mu2, 0) every q is a fixed point."""
    q = np.geomspace(1e-6, 1e6, 25)
    np.testing.assert_allclose(npl.variance_map(q, npl.critical_sigma_w2(nz), 0.0, nz), q, rtol=1e-15)


@pytest.mark.parametrize("nz, v", [(npl.AdditiveGaussianNoise(1.0), 1.0), (npl.AdditiveGaussianNoise(0.3), 0.09), (npl.AdditiveLaplaceNoise(0.5), 0.5)], ids=repr)
def test_relu_additive_variance_map(nz, v):
    """Additive: q' = sigma_w2 (q/2 + var) + sigma_b2; slope sigma_w2/2."""
    q = np.array([0.0, 0.5, 4.0, 100.0])
    for sw, sb in [(1.0, 0.0), (2.0, 0.0), (2.0, 0.25), (3.0, 1.0)]:
        np.testing.assert_allclose(npl.variance_map(q, sw, sb, nz), sw * (q / 2 + v) + sb, rtol=1e-15)
        np.testing.assert_allclose(npl.variance_map_slope(q, sw, sb, nz), sw / 2, rtol=1e-15)


def test_claim5_additive_he_grows_linearly_and_subcritical_has_fixed_point():
    nz = npl.AdditiveGaussianNoise(1.0)
    q = npl.iterate_variance_map(4.0, 10, 2.0, 0.0, nz)
    np.testing.assert_allclose(q, 4.0 + 2.0 * np.arange(11), rtol=1e-15)  # 4, 6, 8, ... (Figure 2)
    q = npl.iterate_variance_map(4.0, 10, 2.0, 0.5, nz)
    np.testing.assert_allclose(q, 4.0 + 2.5 * np.arange(11), rtol=1e-15)
    for sw, sb in [(1.0, 0.0), (1.5, 0.2), (0.5, 1.0)]:
        qstar = npl.variance_fixed_point(sw, sb, nz)
        assert qstar == pytest.approx((sw * 1.0 + sb) / (1 - sw / 2), rel=1e-14)
        assert npl.variance_map(qstar, sw, sb, nz) == pytest.approx(qstar, rel=1e-14)
        assert npl.variance_map_slope(qstar, sw, sb, nz) == pytest.approx(sw / 2, rel=1e-15)
    # above He the variance has no finite limit
    assert npl.variance_fixed_point(2.5, 0.0, nz) == math.inf
    assert npl.variance_fixed_point(2.0, 0.0, nz) == math.inf


def test_plain_dropout_variance_map_uses_mu2_equal_p():
    q = np.array([1.0, 3.0])
    np.testing.assert_allclose(npl.variance_map(q, 2.0, 0.0, npl.PlainDropout(0.5)), 2.0 * 0.5 * q / 2, rtol=1e-15)


@pytest.mark.parametrize("act", ["tanh", "erf", "gelu", "silu"])
def test_general_variance_map_form(act):
    a = npl.get_activation(act)
    q = np.array([0.0, 0.3, 1.0, 2.0])
    for nz in (None, npl.Dropout(0.8), npl.GaussianNoise(0.5)):
        mu2 = npl.as_noise(nz).mu2
        np.testing.assert_allclose(npl.variance_map(q, 1.5, 0.1, nz, act), 1.5 * mu2 * a.second_moment(q) + 0.1, rtol=1e-15)
    nz = npl.AdditiveGaussianNoise(0.7)
    np.testing.assert_allclose(npl.variance_map(q, 1.5, 0.1, nz, act), 1.5 * (a.second_moment(q) + 0.49) + 0.1, rtol=1e-15)


def test_claim9_tanh_variance_map():
    """CLAIM 9: tanh, sigma_w2 = 1, sigma_b2 = 0, q0 = 4: q1 = 0.6353 (noiseless), 1.6353 (additive var 1), q* = 1.46385."""
    assert npl.variance_map(4.0, 1.0, activation="tanh") == pytest.approx(0.6353, abs=1e-4)
    nz = npl.AdditiveGaussianNoise(1.0)
    assert npl.variance_map(4.0, 1.0, 0.0, nz, "tanh") == pytest.approx(1.6353, abs=1e-4)
    qstar = npl.variance_fixed_point(1.0, 0.0, nz, "tanh", q0=4.0)
    assert qstar == pytest.approx(1.46385, abs=1e-4)
    assert npl.variance_map(qstar, 1.0, 0.0, nz, "tanh") == pytest.approx(qstar, rel=1e-12)
    # it is reached within about 4 layers and is stable (slope < 1)
    q = npl.iterate_variance_map(4.0, 15, 1.0, 0.0, nz, "tanh")
    assert abs(q[4] - qstar) < 0.01 and abs(q[15] - qstar) < 1e-6
    assert 0 < npl.variance_map_slope(qstar, 1.0, 0.0, nz, "tanh") < 1
    # noiseless tanh at sigma_w2 = 1 decays slowly towards 0 (q^15 ~ 0.036)
    q = npl.iterate_variance_map(4.0, 15, 1.0, 0.0, None, "tanh")
    assert q[15] == pytest.approx(0.036, abs=1e-3)
    assert np.all(np.diff(q) < 0)


def test_variance_map_slope_by_finite_differences():
    h = 1e-6
    for act in ("tanh", "erf", "gelu", "silu"):
        for nz in (None, npl.Dropout(0.7), npl.AdditiveGaussianNoise(0.5)):
            for q in (0.3, 1.0, 2.0):
                fd = (npl.variance_map(q + h, 1.3, 0.2, nz, act) - npl.variance_map(q - h, 1.3, 0.2, nz, act)) / (2 * h)
                assert npl.variance_map_slope(q, 1.3, 0.2, nz, act) == pytest.approx(fd, rel=1e-7), (act, nz, q)


def test_torch_dropout_module_as_noise():
    from torch import nn

    assert npl.variance_map(2.0, 1.0, noise=nn.Dropout(0.5)) == pytest.approx(2.0, rel=1e-15)
    assert npl.correlation_map(1.0, noise=nn.Dropout(0.4)) == pytest.approx(0.6, rel=1e-14)


# ---------------------------------------------------------------------------
# correlation map
# ---------------------------------------------------------------------------

C = np.linspace(-1.0, 1.0, 41)


@pytest.mark.parametrize("nz", MULT, ids=repr)
def test_claim11_relu_correlation_map_closed_form(nz):
    """c' = R(c)/mu2 for ReLU, multiplicative mean-one noise, sigma_b2 = 0."""
    np.testing.assert_allclose(npl.correlation_map(C, noise=nz), npl.arccos_kernel(C) / nz.mu2, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(npl.correlation_map_slope(C, noise=nz), npl.arccos_kernel_derivative(C) / nz.mu2, rtol=1e-14)
    # CLAIM 13: chi(c) = (pi - arccos c)/(pi mu2) = (1/2 + arcsin(c)/pi)/mu2
    np.testing.assert_allclose(npl.correlation_map_slope(C, noise=nz), (np.pi - np.arccos(C)) / (np.pi * nz.mu2), rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(npl.correlation_map_slope(C, noise=nz), (0.5 + np.arcsin(C) / np.pi) / nz.mu2, rtol=1e-14, atol=1e-16)


@pytest.mark.parametrize("nz", [None, npl.Dropout(0.6), npl.GaussianNoise(2.0), npl.PoissonNoise()], ids=repr)
@pytest.mark.parametrize("sigma_w2", [1e-3, 0.5, 2.0, 1e3])
@pytest.mark.parametrize("q", [1e-6, 1.0, 1e6])
def test_relu_correlation_map_independent_of_sigma_w2_and_q(nz, sigma_w2, q):
    """CLAIM 11: sigma_w2 and q cancel; the quadrature path (generic ReLU, explicit q) equals the closed form."""
    g = _generic_relu()
    general = npl.correlation_map(C, sigma_w2, 0.0, nz, g, q=q)
    np.testing.assert_allclose(general, npl.correlation_map(C, noise=nz), rtol=0, atol=1e-13)
    # passing sigma_w2 to the shortcut changes nothing
    np.testing.assert_array_equal(npl.correlation_map(C, sigma_w2, noise=nz), npl.correlation_map(C, noise=nz))
    slope = npl.correlation_map_slope(C, sigma_w2, 0.0, nz, g, q=q)
    np.testing.assert_allclose(slope, npl.correlation_map_slope(C, noise=nz), rtol=0, atol=1e-13)


def test_claim12_special_values():
    nz = npl.Dropout(0.6)
    assert npl.correlation_map(1.0, noise=nz) == pytest.approx(0.6, abs=1e-15)
    assert npl.correlation_map(0.0, noise=nz) == pytest.approx(0.190986, abs=1e-6)
    assert npl.correlation_map(0.0, noise=nz) == pytest.approx(0.6 / math.pi, rel=1e-15)
    assert npl.correlation_map(-1.0, noise=nz) == pytest.approx(0.0, abs=1e-17)
    for mu2 in (1.0, 1.25, 2.0, 10.0, 1e6):
        nz = npl.Dropout(1 / mu2)
        assert npl.correlation_map(1.0, noise=nz) == pytest.approx(1 / mu2, rel=1e-14)
        assert npl.correlation_map(0.0, noise=nz) == pytest.approx(1 / (math.pi * mu2), rel=1e-14)
    # noiseless: c = 1 is a fixed point with slope 1 (edge of chaos)
    assert npl.correlation_map(1.0) == 1.0
    assert npl.correlation_map_slope(1.0) == 1.0


def test_only_mu2_matters():
    """CLAIM 17 (maps): dropout 0.5, Gaussian std 1 and Poisson(1) give the same c-map."""
    maps = [npl.correlation_map(C, noise=nz) for nz in (npl.Dropout(0.5), npl.GaussianNoise(1.0), npl.PoissonNoise(1.0), npl.GaussianDropout(0.5))]
    for m in maps[1:]:
        np.testing.assert_allclose(m, maps[0], rtol=1e-15, atol=1e-300)


def test_leaky_relu_and_plain_dropout_correlation_maps():
    a = 0.2
    lk = npl.LeakyReLU(a)
    k = (2 * a * C + (1 - a) ** 2 * npl.arccos_kernel(C)) / (1 + a * a)
    np.testing.assert_allclose(npl.correlation_map(C, noise=npl.Dropout(0.5), activation=lk), k / 2, rtol=1e-14, atol=1e-16)
    # the general path agrees (sigma_w2 and q cancel for leaky ReLU too)
    gen = npl.Activation(lambda x: np.where(x > 0, x, a * x), lambda x: np.where(x > 0, 1.0, a))
    np.testing.assert_allclose(npl.correlation_map(C, 0.7, 0.0, npl.Dropout(0.5), gen, q=3.0), k / 2, rtol=0, atol=1e-13)
    # non-inverted dropout: the map sees mu1^2/mu2 = p
    np.testing.assert_allclose(npl.correlation_map(C, noise=npl.PlainDropout(0.4)), 0.4 * npl.arccos_kernel(C), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("act", ["relu", "tanh", _generic_relu()], ids=["relu", "tanh", "generic_relu"])
@pytest.mark.parametrize("nz", [npl.Dropout(0.5), npl.GaussianNoise(1.0), npl.AdditiveGaussianNoise(1.0)], ids=repr)
def test_shared_mask_keeps_c1_fixed(act, nz):
    """With the same mask for both inputs, c = 1 stays a fixed point; with independent masks it does not."""
    q = 1.5
    shared = npl.correlation_map(1.0, 1.2, 0.0, nz, act, q=q, shared_mask=True)
    assert shared == pytest.approx(1.0, rel=1e-12)
    indep = npl.correlation_map(1.0, 1.2, 0.0, nz, act, q=q)
    assert indep < 1 - 0.1


def test_shared_mask_relu_shortcut_is_noiseless_map():
    np.testing.assert_allclose(npl.correlation_map(C, noise=npl.Dropout(0.3), shared_mask=True), npl.arccos_kernel(C), rtol=1e-15, atol=1e-300)


def test_additive_noise_breaks_c1():
    """Section 3.3: at sigma_w2 < 2 and q = q*, c'(1) = 1 - sigma_w2 var/q*; at He, c' = q R(c)/(q + 2 var)."""
    nz = npl.AdditiveGaussianNoise(1.0)
    qstar = npl.variance_fixed_point(1.0, 0.0, nz)
    assert qstar == pytest.approx(2.0, rel=1e-15)
    assert npl.correlation_map(1.0, 1.0, 0.0, nz) == pytest.approx(1 - 1.0 / qstar, rel=1e-13)
    for q in (0.5, 4.0, 40.0):
        np.testing.assert_allclose(npl.correlation_map(C, 2.0, 0.0, nz, q=q), q / (q + 2.0) * npl.arccos_kernel(C), rtol=1e-12, atol=1e-15)
    # at He the variance grows without bound: q must be given
    with pytest.raises(ValueError, match="pass the input variance q"):
        npl.correlation_map(0.5, 2.0, 0.0, nz)


def test_correlation_map_with_bias_uses_variance_fixed_point():
    """With sigma_b2 > 0 the map depends on q; by default q is the variance fixed point."""
    sw, sb, nz = 1.0, 0.5, npl.Dropout(0.8)
    qstar = npl.variance_fixed_point(sw, sb, nz)
    assert qstar == pytest.approx(sb / (1 - sw * nz.mu2 / 2), rel=1e-14)
    expected = (sw * qstar / 2 * npl.arccos_kernel(C) + sb) / (sw * nz.mu2 * qstar / 2 + sb)
    np.testing.assert_allclose(npl.correlation_map(C, sw, sb, nz), expected, rtol=1e-13)
    np.testing.assert_allclose(npl.correlation_map(C, sw, sb, nz, q=qstar), expected, rtol=1e-13)


def test_correlation_map_slope_by_finite_differences():
    h = 1e-6
    c = np.linspace(-0.9, 0.9, 7)
    cases = [
        dict(sigma_w2=1.3, sigma_b2=0.2, noise=npl.Dropout(0.7), activation="tanh", q=1.1),
        dict(sigma_w2=2.0, sigma_b2=0.0, noise=npl.GaussianNoise(0.4), activation="erf", q=0.7),
        dict(sigma_w2=1.0, sigma_b2=0.1, noise=npl.AdditiveGaussianNoise(0.5), activation="relu", q=2.0),
        dict(sigma_w2=1.5, sigma_b2=0.3, noise=None, activation="gelu", q=1.0),
    ]
    for kw in cases:
        fd = (npl.correlation_map(c + h, **kw) - npl.correlation_map(c - h, **kw)) / (2 * h)
        np.testing.assert_allclose(npl.correlation_map_slope(c, **kw), fd, rtol=1e-6, err_msg=str(kw))


# ---------------------------------------------------------------------------
# covariance map
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("act", ["relu", "tanh", npl.LeakyReLU(0.1)], ids=["relu", "tanh", "leaky"])
@pytest.mark.parametrize("nz", [None, npl.Dropout(0.6), npl.AdditiveGaussianNoise(0.8)], ids=repr)
@pytest.mark.parametrize("sb", [0.0, 0.3])
def test_covariance_map_consistent_with_correlation_and_variance_maps(act, nz, sb):
    q, sw = 1.7, 1.3
    c = np.array([-1.0, -0.4, 0.0, 0.6, 1.0])
    qa, qb, qab = npl.covariance_map(q, q, c * q, sw, sb, nz, act)
    assert qa == pytest.approx(npl.variance_map(q, sw, sb, nz, act), rel=1e-15)
    np.testing.assert_allclose(qab / qa, npl.correlation_map(c, sw, sb, nz, act, q=q), rtol=1e-13, atol=1e-15)
    # unequal lengths: the diagonals are each input's own variance map
    qa, qb, qab = npl.covariance_map(0.5, 3.0, 0.2, sw, sb, nz, act)
    assert qa == pytest.approx(npl.variance_map(0.5, sw, sb, nz, act), rel=1e-15)
    assert qb == pytest.approx(npl.variance_map(3.0, sw, sb, nz, act), rel=1e-15)


def test_covariance_map_relu_formula_and_shared_mask():
    qa, qb, c, sw, sb = 2.0, 8.0, 0.3, 1.5, 0.1
    nz = npl.Dropout(0.5)
    out = npl.covariance_map(qa, qb, c * 4.0, sw, sb, nz)
    expected_ab = sw * 4.0 / 2 * npl.arccos_kernel(c) + sb  # the noise does not enter the off-diagonal
    assert out == pytest.approx((sw * 2 * qa / 2 + sb, sw * 2 * qb / 2 + sb, expected_ab), rel=1e-14)
    shared = npl.covariance_map(qa, qb, c * 4.0, sw, sb, nz, shared_mask=True)
    assert shared[2] == pytest.approx(sw * 2 * 4.0 / 2 * npl.arccos_kernel(c) + sb, rel=1e-14)
    # zero-length inputs are allowed and give the bias
    assert npl.covariance_map(0.0, 0.0, 0.0, sw, sb, nz) == (sb, sb, sb)


def test_covariance_map_broadcasts():
    qa = np.array([1.0, 2.0, 3.0])[:, None]
    qab = np.array([0.0, 0.5])[None, :]
    out = npl.covariance_map(qa, 1.0, qab, 2.0, 0.0, npl.Dropout(np.array([0.5, 0.8])))
    assert all(np.shape(x) == (3, 2) for x in (out[0], out[2]))


# ---------------------------------------------------------------------------
# iteration over depth
# ---------------------------------------------------------------------------


def test_iterate_variance_map_values_and_shapes():
    q = npl.iterate_variance_map(4.0, 15, 2.0, 0.0, npl.Dropout(np.array([0.6, 0.8, 1.0])))
    assert q.shape == (16, 3)
    r = 2.0 / np.array([0.6, 0.8, 1.0]) / 2
    np.testing.assert_allclose(q, 4.0 * r[None, :] ** np.arange(16)[:, None], rtol=1e-13)
    q = npl.iterate_variance_map(np.array([1.0, 2.0]), 3, np.array([[1.0], [2.0]]))
    assert q.shape == (4, 2, 2)
    assert isinstance(npl.iterate_variance_map(1.0, 2, 2.0), np.ndarray)


def test_iterate_variance_map_overflows_to_inf_not_nan():
    q = npl.iterate_variance_map(1.0, 1200, 4.0)  # doubles every layer
    assert not np.any(np.isnan(q))
    assert np.isinf(q[-1])
    assert q[1000] == pytest.approx(2.0**1000, rel=1e-12)


def test_iterate_correlation_map_values_and_shapes():
    nz = npl.Dropout(np.array([0.6, 0.8]))
    c = npl.iterate_correlation_map(np.array([0.0, 0.5, 0.9])[:, None], 30, noise=nz)
    assert c.shape == (31, 3, 2)
    for l in range(30):
        np.testing.assert_allclose(c[l + 1], npl.correlation_map(c[l], noise=nz), rtol=1e-15)
    # CLAIM 27: after 30 layers the correlation sits at c*
    np.testing.assert_allclose(c[30], np.broadcast_to(npl.correlation_fixed_point(nz), (3, 2)), atol=1e-6)


def test_iterate_correlation_map_long_depth():
    """More than 64 layers (regression: np.broadcast accepted at most 64 arrays)."""
    c = npl.iterate_correlation_map(0.2, 200, noise=npl.Dropout(0.9))
    assert c.shape == (201,)
    assert c[-1] == pytest.approx(npl.correlation_fixed_point(npl.Dropout(0.9)), abs=1e-12)
    c = npl.iterate_correlation_map(np.array([0.2, -0.5]), 100, noise=npl.Dropout(0.9))
    assert c.shape == (101, 2)


def test_iterate_correlation_map_with_evolving_length():
    """With q0 given, each step uses the current q^l of the variance map."""
    nz = npl.AdditiveGaussianNoise(1.0)
    c = npl.iterate_correlation_map(0.5, 5, 2.0, 0.0, nz, "relu", q0=4.0)
    q = npl.iterate_variance_map(4.0, 5, 2.0, 0.0, nz)
    expected = [0.5]
    for l in range(5):
        expected.append(npl.correlation_map(expected[-1], 2.0, 0.0, nz, q=q[l]))
    np.testing.assert_allclose(c, expected, rtol=1e-14)
    # at He with additive noise, c' = q R(c)/(q + 2) with q = 4 + 2l
    np.testing.assert_allclose(c[1:], [(4 + 2 * l) / (6 + 2 * l) * npl.arccos_kernel(c[l]) for l in range(5)], rtol=1e-13)


def test_claim21_noiseless_algebraic_convergence():
    """CLAIM 21: from c0 = 0, l^2 (1 - c^l) = 44.25 at l = 1e4 (1 %), tending to 9 pi^2/2 = 44.413."""
    c = npl.iterate_correlation_map(0.0, 10_000)
    l = np.arange(10_001, dtype=float)
    s = l[1:] ** 2 * (1 - c[1:])
    assert s[-1] == pytest.approx(44.25, rel=1e-2)
    assert s[-1] < 9 * math.pi**2 / 2
    assert abs(s[-1] - 9 * math.pi**2 / 2) < abs(s[999] - 9 * math.pi**2 / 2)  # closer at 1e4 than at 1e3
    assert np.all(np.diff(c) > 0) and np.all(c < 1)
