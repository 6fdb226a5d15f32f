"""Chapter 7 theory: finite-width log-variance moments (reference CLAIM 29)."""
from __future__ import annotations

import numpy as np
import pytest

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
