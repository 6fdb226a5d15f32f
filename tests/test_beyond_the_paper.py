"""Library functions of chapter 7: finite-width log-variance moments and backpropagated gradient norms."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import noisyprop_lib as npl


# ---------------------------------------------------------------------------
# finite width (reference CLAIM 29)
# ---------------------------------------------------------------------------


def test_finite_width_moments_closed_forms():
    for p in (0.5, 0.6, 0.8, 1.0):
        fw = npl.finite_width_log_variance_moments(npl.Dropout(p), width=200, depth=100)
        assert fw.step_variance == pytest.approx(6 / p - 1, rel=1e-12)
        assert fw.mean == pytest.approx(-100 * (6 / p - 1) / 400, rel=1e-12)
        assert fw.variance == pytest.approx(100 * (6 / p - 1) / 200, rel=1e-12)
    # Hanin and Rolnick's 5/N for a noiseless ReLU network
    assert npl.finite_width_log_variance_moments(None, 1, 1).step_variance == pytest.approx(5.0)
    # Gaussian noise: E eps^4 = 1 + 6 s^2 + 3 s^4
    s = 0.5
    fw = npl.finite_width_log_variance_moments(npl.GaussianNoise(s), 100, 10)
    assert fw.step_variance == pytest.approx(6 * (1 + 6 * s**2 + 3 * s**4) / (1 + s**2) ** 2 - 1, rel=1e-12)
    # leaky ReLU: E phi(g)^4 = 3 (1 + a^4) / 2, E phi(g)^2 = (1 + a^2) / 2
    a = 0.3
    fw = npl.finite_width_log_variance_moments(npl.Dropout(0.7), 100, 10, activation=npl.LeakyReLU(a))
    assert fw.step_variance == pytest.approx(6 * (1 + a**4) / (0.7 * (1 + a**2) ** 2) - 1, rel=1e-12)


def test_finite_width_step_variance_by_monte_carlo():
    # Var M for M = sigma_w2/N sum eps^2 phi(g)^2 at criticality, sampled directly
    rng = np.random.default_rng(0)
    a, p, n = 0.2, 0.6, 50
    sw2 = npl.critical_sigma_w2(npl.Dropout(p), npl.LeakyReLU(a))
    g = rng.normal(size=(200_000, n))
    phi = np.where(g > 0, g, a * g)
    eps2 = (rng.random(size=g.shape) < p) / p**2
    M = sw2 / n * (eps2 * phi**2).sum(axis=1)
    s = npl.finite_width_log_variance_moments(npl.Dropout(p), n, 1, activation=npl.LeakyReLU(a)).step_variance
    assert M.mean() == pytest.approx(1.0, abs=0.01)
    assert M.var() * n == pytest.approx(s, rel=0.03)


def test_finite_width_moments_match_network_simulation():
    nz = npl.Dropout(0.8)
    n, depth = 100, 60
    x = npl.gaussian_inputs(1, n, seed=1)
    res = npl.propagate(x, depth, npl.critical_sigma_w2(nz), noise=nz, n_networks=2000, pairs=None, seed=2)
    lr = np.log(res.q[depth, :, 0] / res.q[0, :, 0])
    fw = npl.finite_width_log_variance_moments(nz, n, depth)
    assert lr.mean() == pytest.approx(fw.mean, rel=0.1)
    assert lr.var() == pytest.approx(fw.variance, rel=0.1)


def test_finite_width_moments_broadcast_over_depth():
    depths = np.arange(0, 6)
    many = npl.finite_width_log_variance_moments(npl.Dropout(0.6), 200, depths)
    for i, d in enumerate(depths):
        one = npl.finite_width_log_variance_moments(npl.Dropout(0.6), 200, int(d))
        assert many.mean[i] == pytest.approx(one.mean) and many.variance[i] == pytest.approx(one.variance)
    assert many.mean[0] == 0.0 and many.variance[0] == 0.0


@pytest.mark.parametrize(
    "call,pattern",
    [
        (lambda: npl.finite_width_log_variance_moments(npl.Dropout(0.5), 0, 10), r"width must be an integer >= 1, got 0"),
        (lambda: npl.finite_width_log_variance_moments(npl.Dropout(0.5), 10, 2.5), r"depth must be a non-negative integer.*got 2\.5"),
        (lambda: npl.finite_width_log_variance_moments(npl.Dropout(0.5), 10, np.array([3, -1])), r"depth must be a non-negative integer"),
        (lambda: npl.finite_width_log_variance_moments(npl.Dropout(0.5), 10, True), r"depth must be a non-negative integer"),
        (lambda: npl.finite_width_log_variance_moments(npl.Dropout(0.5), 10, 10, activation="tanh"), r"activation must be a rectifier"),
        (lambda: npl.finite_width_log_variance_moments(npl.AdditiveGaussianNoise(1.0), 10, 10), r"additive noise.*no critical"),
        (lambda: npl.finite_width_log_variance_moments(npl.Dropout(np.array([0.5, 0.6])), 10, 10), r"noise must have scalar parameters"),
    ],
)
def test_finite_width_bad_input(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


# ---------------------------------------------------------------------------
# gradients (reference CLAIM 30)
# ---------------------------------------------------------------------------


def test_gradient_ratio_shape_and_reproducibility():
    r1 = npl.gradient_norm_ratio(5, 1.2, npl.Dropout(0.6), width=50, batch=4, n_runs=3, seed=1, device="cpu")
    r2 = npl.gradient_norm_ratio(5, 1.2, npl.Dropout(0.6), width=50, batch=4, n_runs=3, seed=1, device="cpu")
    assert r1.shape == (3, 6)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_allclose(r1[:, -1], 1.0)
    g = torch.Generator().manual_seed(1)
    np.testing.assert_array_equal(npl.gradient_norm_ratio(5, 1.2, npl.Dropout(0.6), width=50, batch=4, n_runs=3, generator=g, device="cpu"), r1)


def test_gradient_ratio_is_exactly_homogeneous_in_sigma_w2():
    # ReLU without bias: scaling sigma_w2 by f scales every backward step by exactly f, path by path
    kw = dict(width=60, batch=8, n_runs=3, seed=4, device="cpu", dtype="float64")
    base = npl.gradient_norm_ratio(8, 1.6, npl.Dropout(0.8), **kw)
    scaled = npl.gradient_norm_ratio(8, 1.6 * 1.3, npl.Dropout(0.8), **kw)
    np.testing.assert_allclose(scaled[:, 0], 1.3**8 * base[:, 0], rtol=1e-9)


def test_gradient_ratio_matches_theory():
    nz = npl.Dropout(0.7)
    crit = npl.critical_sigma_w2(nz)
    r = npl.gradient_norm_ratio(20, crit, nz, width=300, batch=16, n_runs=20, seed=5, device="cpu")
    assert 0.8 <= r[:, 0].mean() <= 1.25
    r = npl.gradient_norm_ratio(20, 0.8 * crit, nz, width=300, batch=16, n_runs=20, seed=6, device="cpu")
    assert r[:, 0].mean() == pytest.approx(0.8**20, rel=0.25)


def test_gradient_ratio_additive_noise_factor():
    # additive noise: the backward factor is sigma_w2 E[phi'^2] = sigma_w2 / 2, the noise does not enter
    r = npl.gradient_norm_ratio(10, 1.8, npl.AdditiveGaussianNoise(1.0), width=300, batch=16, n_runs=20, seed=7, device="cpu")
    assert r[:, 0].mean() == pytest.approx(0.9**10, rel=0.25)


@pytest.mark.parametrize(
    "kwargs,pattern",
    [
        (dict(depth=0, sigma_w2=1.0), r"depth must be an integer >= 1, got 0"),
        (dict(depth=2, sigma_w2=0.0), r"sigma_w2 must lie in \(0, inf\), got 0\.0"),
        (dict(depth=2, sigma_w2=1.0, width=0), r"width must be an integer >= 1, got 0"),
        (dict(depth=2, sigma_w2=1.0, batch=-1), r"batch must be an integer >= 1, got -1"),
        (dict(depth=2, sigma_w2=1.0, n_runs=1.5), r"n_runs must be an integer >= 1, got 1\.5"),
        (dict(depth=2, sigma_w2=1.0, q0=-1.0), r"q0 must lie in \(0, inf\), got -1\.0"),
        (dict(depth=2, sigma_w2=1.0, dtype="int8"), r"dtype must be 'float32' or 'float64'"),
        (dict(depth=2, sigma_w2=1.0, seed=-3), r"seed must be a non-negative integer"),
        (dict(depth=2, sigma_w2=1.0, device="tpu"), r"device must be"),
        (dict(depth=2, sigma_w2=1.0, noise=npl.Dropout(np.array([0.5, 0.6]))), r"noise must have scalar parameters"),
    ],
)
def test_gradient_ratio_bad_input(kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        npl.gradient_norm_ratio(**kwargs)
