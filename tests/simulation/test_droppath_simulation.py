"""DropPath in simulated residual networks against its theory: a per-example growth that stays random."""
from __future__ import annotations

import math

import numpy as np
import pytest

import noisyprop_lib as npl

P, ALPHA2, L, WIDTH, NETS = 0.5, 0.5, 8, 4000, 200


@pytest.fixture(scope="module")
def runs():
    x, pairs, _ = npl.correlated_inputs([0.5], 1, WIDTH, seed=3)
    common = dict(alpha=math.sqrt(ALPHA2), n_networks=NETS, pairs=pairs)
    drop_path = npl.propagate_residual(x, L, 2.0, droppath_keep=P, seed=4, **common)
    dropout = npl.propagate_residual(x, L, 2.0, noise=npl.Dropout(P), seed=5, **common)  # equal mu2 = 1/p
    return drop_path, dropout


def test_each_example_grows_by_a_power_of_one_plus_g_over_p_squared(runs):
    """Wide networks (4000 units): every example's ln(q^L/q^0) is K ln(1 + g/p^2) for an integer K, and K is
    Binomial(L, p). Spread measured over 3 seeds: all examples within 0.25 of an integer, mean K within 2.2 SE."""
    drop_path, _ = runs
    g = npl.droppath_branch_gain(math.sqrt(ALPHA2), 2.0)
    K = np.log(drop_path.q[-1] / drop_path.q[0]).ravel() / math.log1p(g / P**2)
    assert np.mean(np.abs(K - np.round(K)) < 0.25) >= 0.99
    k = np.round(K)
    se = math.sqrt(L * P * (1 - P) / k.size)
    assert abs(k.mean() - L * P) < 5 * se
    assert k.var(ddof=1) == pytest.approx(L * P * (1 - P), rel=0.3)  # relative SE of a variance of 400: 7 %


def test_dropout_at_equal_mu2_has_the_same_mean_but_no_spread(runs):
    drop_path, dropout = runs
    g = npl.droppath_branch_gain(math.sqrt(ALPHA2), 2.0)
    gr = npl.droppath_growth(L, P, g)
    log_dp = np.log(drop_path.q[-1] / drop_path.q[0]).ravel()
    log_do = np.log(dropout.q[-1] / dropout.q[0]).ravel()
    assert log_dp.std() == pytest.approx(gr.log_std, rel=0.25)   # measured 1.52-1.60 against 1.55
    assert log_do.std() < 0.3                                     # measured 0.09-0.10: finite width only
    # dropout concentrates at the mean growth; DropPath's typical example is at (1 + g/p^2)^(pL)
    assert abs(log_do.mean() - math.log(gr.mean)) < 0.15
    assert abs(log_dp.mean() - math.log(gr.typical)) < 5 * gr.log_std / math.sqrt(log_dp.size)


def test_correlation_matches_the_sampled_mask_maps(runs):
    drop_path, _ = runs
    theory = npl.droppath_correlation_samples(0.5, L, P, alpha=math.sqrt(ALPHA2), sigma_w2=2.0, n_samples=40_000,
                                              seed=6)[-1]
    sim = drop_path.c[-1].ravel()
    se = math.hypot(sim.std(ddof=1) / math.sqrt(sim.size), theory.std(ddof=1) / math.sqrt(theory.size))
    assert abs(sim.mean() - theory.mean()) < 5 * se


def test_bad_droppath_keep_is_refused():
    x = np.eye(2, 8)
    with pytest.raises(ValueError, match=r"droppath_keep must lie in \(0, 1\]"):
        npl.propagate_residual(x, 2, 2.0, droppath_keep=0.0)
