"""The DropPath maps: exact moments of the per-example growth and the correlation update."""
from __future__ import annotations

import math

import numpy as np
import pytest

import noisyprop_lib as npl

EPS = np.finfo(float).eps


@pytest.mark.parametrize("p, alpha2, L", [(0.5, 0.5, 10), (0.9, 0.02, 50), (0.2, 1.0, 3)])
def test_growth_distribution_and_its_moments(p, alpha2, L):
    g = npl.droppath_branch_gain(math.sqrt(alpha2), 2.0)
    assert g == pytest.approx(alpha2, rel=4 * EPS)  # ReLU at sigma_w2 = 2, no noise: r = 1
    gr = npl.droppath_growth(L, p, g)
    assert gr.probabilities.sum() == pytest.approx(1.0, abs=(L + 1) * 4 * EPS)
    assert float(gr.values @ gr.probabilities) == pytest.approx(gr.mean, rel=1e-12)
    # in expectation DropPath is dropout inside the branch at equal mu2 = 1/p (sigma_w2 = 2 with Dropout(p))
    q = 1.0
    for _ in range(L):
        q = float(npl.residual_variance_map(q, 2.0, noise=npl.Dropout(p), alpha=math.sqrt(alpha2)))
    assert gr.mean == pytest.approx(q, rel=64 * L * EPS)
    # the typical example: exp(E ln) = (1 + g/p^2)^(pL), below the mean (Jensen) unless p = 1
    logs = np.log(gr.values)
    assert gr.typical == pytest.approx(math.exp(float(logs @ gr.probabilities)), rel=1e-12)
    assert gr.log_std == pytest.approx(math.sqrt(float((logs - logs @ gr.probabilities) ** 2 @ gr.probabilities)), rel=1e-9)
    assert gr.typical < gr.mean


def test_keep_one_is_a_plain_residual_network():
    gr = npl.droppath_growth(7, 1.0, 0.3)
    assert gr.mean == pytest.approx(1.3**7, rel=1e-14) and gr.typical == pytest.approx(1.3**7, rel=1e-14)
    assert gr.log_std == 0.0
    c = npl.droppath_correlation_samples(0.4, 5, 1.0, alpha=0.6, sigma_w2=2.0, n_samples=3, seed=0)
    q, cc = npl.iterate_residual_maps(1.0, 0.4, 5, 2.0, alpha=0.6)
    np.testing.assert_allclose(c[:, 0], cc, rtol=0, atol=64 * 5 * EPS)


def test_correlation_update_by_mask_pattern():
    """Both kept: the residual map with g/p^2; one kept: c / sqrt(1 + g/p^2); none: c. Checked on the sample
    paths by recomputing each step from the masks implied by the sampled values."""
    p, a, L = 0.5, 0.7, 1
    g = a * a
    samples = npl.droppath_correlation_samples(0.3, L, p, alpha=a, sigma_w2=2.0, n_samples=4000, seed=1)[1]
    both = (0.3 + g / p**2 * float(npl.correlation_map(0.3, 2.0))) / (1 + g / p**2)
    one = 0.3 / math.sqrt(1 + g / p**2)
    values, counts = np.unique(np.round(samples, 12), return_counts=True)
    assert set(values) == {round(both, 12), round(one, 12), 0.3}
    frac = dict(zip(values, counts / counts.sum()))
    assert frac[round(both, 12)] == pytest.approx(p * p, abs=5 * math.sqrt(p * p * (1 - p * p) / 4000))


@pytest.mark.parametrize("call, match", [
    (lambda: npl.droppath_growth(0, 0.5, 0.1), "depth"),
    (lambda: npl.droppath_growth(5, 0.0, 0.1), r"keep_prob must lie in \(0, 1\]"),
    (lambda: npl.droppath_growth(5, 0.5, -1.0), "branch_gain"),
    (lambda: npl.droppath_branch_gain(0.5, 2.0, activation="tanh"), "rectifier branches"),
    (lambda: npl.droppath_branch_gain(0.5, 2.0, noise=npl.AdditiveGaussianNoise(0.1)), "multiplicative noise"),
    (lambda: npl.droppath_correlation_samples(1.5, 3, 0.5, alpha=0.5, sigma_w2=2.0), "c0"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
