"""Monte Carlo of noisy residual networks against the residual mean-field maps; seeds, routes, overflow, bad input.

The z-score bound: over blocks 1..30 of the six settings below (c0 = 0.9), 16 seeds each (inputs and
networks), the largest |z| measured was 3.2 for the variance and 3.8 for the correlation; the bound is 5,
and each wrong theory below misses by more than twice that.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import noisyprop_lib as npl

N, NETS, L = 300, 40, 30
Z_BOUND = 5.0


def per_network_inputs(seed, c0=0.9, n_pairs=3, n_networks=NETS, width=N):
    """One correlated input set per network (the theory averages over Gaussian inputs too)."""
    sets = [npl.correlated_inputs([c0], n_pairs, width, seed=seed * 1000 + i) for i in range(n_networks)]
    return torch.stack([s[0] for s in sets]), sets[0][1]


def run(activation, noise, branch_depth, alpha, seed, **kw):
    sw = kw.pop("sigma_w2", npl.order_chaos_boundary(0.0, activation, noise))  # the residual default
    a = math.sqrt(npl.residual_branch_scale(L, noise, activation, branch_depth=branch_depth)) if alpha == "scale" else alpha
    x, pairs = per_network_inputs(seed)
    res = npl.propagate_residual(x, L, sw, noise=noise, activation=activation, alpha=a, branch_depth=branch_depth,
                                 n_networks=NETS, pairs=pairs, seed=seed, device="cpu", **kw)
    q, c = npl.iterate_residual_maps(1.0, 0.9, L, sw, noise=noise, activation=activation, alpha=a, branch_depth=branch_depth)
    return res, q, c, sw, a


CASES = [("relu", npl.Dropout(0.8), 1, "scale"), ("relu", npl.GaussianNoise(0.5), 2, "scale"),
         ("tanh", npl.Dropout(0.8), 1, "scale"), ("tanh", npl.GaussianNoise(0.5), 2, "scale"),
         ("relu", npl.Dropout(0.8), 1, 1.0), ("tanh", npl.Dropout(0.7), 1, 1.0)]


@pytest.mark.parametrize("activation,noise,branch_depth,alpha", CASES, ids=lambda v: repr(v) if not isinstance(v, str) else v)
def test_variance_and_correlation_per_block_follow_the_theory(activation, noise, branch_depth, alpha):
    res, q, c, _, _ = run(activation, noise, branch_depth, alpha, seed=5)
    assert res.alive[-1] == NETS
    zq, zc = res.z_scores(q, of="q")[1:], res.z_scores(c, of="c")[1:]
    assert np.all(np.abs(zq) < Z_BOUND), zq
    assert np.all(np.abs(zc) < Z_BOUND), zc


def test_wrong_theories_are_rejected_by_the_same_bound():
    nz = npl.Dropout(0.8)
    res, q, c, sw, a = run("relu", nz, 1, 1.0, seed=6)
    # the noise ignored in the branch variance (mu2 -> 1)
    q_wrong, _ = npl.iterate_residual_maps(1.0, 0.9, L, sw, alpha=a)
    assert np.max(np.abs(res.z_scores(q_wrong, of="q")[1:])) > 2 * Z_BOUND
    # the skip's covariance forgotten: the plain network's correlations
    plain = npl.iterate_correlation_map(0.9, L, noise=nz)
    assert np.max(np.abs(res.z_scores(plain, of="c")[1:])) > 2 * Z_BOUND
    # the noise carried by the off-diagonal as well (a shared mask): no loss of correlation at all
    assert np.max(np.abs(res.z_scores(np.full(L + 1, 0.9), of="c")[1:])) > 2 * Z_BOUND


def test_alpha_zero_is_the_identity_and_layer_zero_reports_the_inputs():
    x, pairs = per_network_inputs(7, n_networks=4)
    res = npl.propagate_residual(x, 3, 2.0, noise=npl.Dropout(0.5), alpha=0.0, n_networks=4, pairs=pairs, seed=0,
                                 dtype="float64", device="cpu")
    np.testing.assert_allclose(res.q, np.broadcast_to(res.q[0], res.q.shape), rtol=1e-14)
    np.testing.assert_allclose(res.q[0], (x.double() ** 2).mean(dim=2).numpy(), rtol=1e-14)
    np.testing.assert_allclose(res.c[0], 0.9, rtol=1e-12)


def test_same_seed_same_result_inputs_untouched_and_shared_inputs():
    x = npl.gaussian_inputs(4, 64, seed=1)
    x0 = x.clone()
    kw = dict(noise=npl.Dropout(0.7), alpha=0.5, branch_depth=2, n_networks=5, device="cpu")
    a = npl.propagate_residual(x, 6, 1.4, **kw, seed=11)
    b = npl.propagate_residual(x, 6, 1.4, **kw, generator=torch.Generator().manual_seed(11))
    other = npl.propagate_residual(x, 6, 1.4, **kw, seed=12)
    np.testing.assert_array_equal(a.q, b.q)
    np.testing.assert_array_equal(a.c, b.c)
    assert not np.array_equal(a.q, other.q)
    assert torch.equal(x, x0)
    assert a.config["residual"] and a.config["branch_depth"] == 2 and a.config["alpha"] == 0.5
    assert a.q.shape == (7, 5, 4) and a.c.shape == (7, 5, 6)


def test_gram_and_explicit_routes_agree_in_distribution():
    x, pairs = per_network_inputs(8, n_networks=30, width=200)
    kw = dict(noise=npl.GaussianNoise(0.5), activation="tanh", alpha=0.8, n_networks=30, pairs=pairs, device="cpu")
    g = npl.propagate_residual(x, 10, 1.0, method="gram", seed=1, **kw)
    e = npl.propagate_residual(x, 10, 1.0, method="explicit", seed=2, **kw)
    assert g.config["method"] == "gram" and e.config["method"] == "explicit"
    for of in ("q", "c"):
        mg, me = (g.q_mean(), e.q_mean()) if of == "q" else (g.c_mean(), e.c_mean())
        sg, se = (g.q_sem(), e.q_sem()) if of == "q" else (g.c_sem(), e.c_sem())
        z = (mg - me)[1:] / np.hypot(sg, se)[1:]
        assert np.all(np.abs(z) < Z_BOUND), (of, z)


def test_float32_overflow_block_is_the_theorys():
    # alpha = 10 at He init: q multiplies by 1 + 100 = 101 per block, passing the float32 maximum in block 20
    x = npl.gaussian_inputs(4, 100, seed=3)
    res = npl.propagate_residual(x, 25, 2.0, alpha=10.0, n_networks=6, seed=4, device="cpu")
    q, _ = npl.iterate_residual_maps(1.0, 0.0, 25, 2.0, alpha=10.0)
    predicted = int(np.argmax(q > torch.finfo(torch.float32).max))
    assert predicted == 20
    assert np.all(res.failed_layer == predicted) and set(res.failure) == {"overflow"}
    assert np.all(np.isfinite(res.q[:predicted])) and np.all(np.isnan(res.q[predicted:]))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_runs_and_follows_the_theory():
    x, pairs = per_network_inputs(9)
    nz = npl.Dropout(0.8)
    res = npl.propagate_residual(x, L, 1.6, noise=nz, alpha=1.0, n_networks=NETS, pairs=pairs, seed=9, device="cuda")
    q, c = npl.iterate_residual_maps(1.0, 0.9, L, 1.6, noise=nz, alpha=1.0)
    assert res.config["device"].startswith("cuda")
    assert np.all(np.abs(res.z_scores(q, of="q")[1:]) < Z_BOUND) and np.all(np.abs(res.z_scores(c, of="c")[1:]) < Z_BOUND)


X = npl.gaussian_inputs(3, 20, seed=0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(inputs=X[0]), r"inputs must have shape \(n_inputs, width\) or \(n_networks, n_inputs, width\)"),
    (dict(inputs=torch.stack([X, X])), r"3-D inputs must hold one input set per network"),
    (dict(alpha=-1.0), r"alpha must lie in \[0, inf\)"),
    (dict(branch_depth=0), "branch_depth must be an integer >= 1"),
    (dict(depth=0), "depth must be an integer >= 1"),
    (dict(sigma_w2=-1.0), r"sigma_w2 must lie in \[0, inf\)"),
    (dict(method="fast"), "method must be 'auto', 'gram' or 'explicit'"),
    (dict(correlation="spearman"), "correlation must be 'cosine' or 'pearson'"),
    (dict(network_batch=0), "network_batch must be an integer >= 1"),
    (dict(inputs=X * float("nan")), "inputs contain inf or NaN"),
])
def test_bad_input_is_refused_with_a_clear_message(kwargs, match):
    args = dict(inputs=X, depth=2, sigma_w2=2.0, n_networks=3, device="cpu")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        npl.propagate_residual(**args)
