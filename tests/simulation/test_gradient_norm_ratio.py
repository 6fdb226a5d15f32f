"""Chapter 7 in simulation: backpropagated gradient norms (reference CLAIM 30) and the finite-width
log-variance moments against simulated networks (reference CLAIM 29)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import noisyprop_lib as npl


def test_finite_width_moments_match_network_simulation():
    nz = npl.Dropout(0.8)
    n, depth = 100, 60
    x = npl.gaussian_inputs(1, n, seed=1)
    res = npl.propagate(x, depth, npl.critical_sigma_w2(nz), noise=nz, n_networks=2000, pairs=None, seed=2)
    lr = np.log(res.q[depth, :, 0] / res.q[0, :, 0])
    fw = npl.finite_width_log_variance_moments(nz, n, depth)
    assert lr.mean() == pytest.approx(fw.mean, rel=0.1)
    assert lr.var() == pytest.approx(fw.variance, rel=0.1)


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
