"""Noisy NNGP kernels and GP regression (noisyprop_lib.nngp): closed forms, Monte Carlo, limits, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import noisyprop_lib as npl


def _inputs(n=4, d=1000, seed=0):
    x, _, _ = npl.correlated_inputs([0.2, 0.7], n // 2 - 1 if n > 2 else 1, d, seed=seed)
    return x.numpy()


def test_one_layer_closed_form():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    nz = npl.Dropout(0.8)
    # layer 1 is exact for the inputs (phi(x) = x for non-negative inputs), layer 2 is the Gaussian map
    K1 = npl.nngp_kernel(X, depth=1, sigma_w2=1.6, sigma_b2=0.1, noise=nz)
    expected1 = 1.6 * X @ X.T / 2 + 0.1
    np.fill_diagonal(expected1, 1.6 * 1.25 * (X**2).sum(1) / 2 + 0.1)
    np.testing.assert_allclose(K1, expected1, rtol=1e-13)
    K2 = npl.nngp_kernel(X, depth=2, sigma_w2=1.6, sigma_b2=0.1, noise=nz)
    q1 = np.diag(K1)
    c1 = K1 / np.sqrt(np.outer(q1, q1))
    expected2 = 1.6 * np.sqrt(np.outer(q1, q1)) / 2 * npl.arccos_kernel(np.clip(c1, -1, 1)) + 0.1
    np.fill_diagonal(expected2, 1.6 * 1.25 * q1 / 2 + 0.1)
    np.testing.assert_allclose(K2, expected2, rtol=1e-13)
    # a negative input coordinate is rectified in layer 1
    Xn = np.array([[1.0, -1.0], [2.0, 0.5]])
    np.testing.assert_allclose(npl.nngp_kernel(Xn, depth=1, sigma_w2=2.0)[0, 1], 2.0 * 2.0 / 2)


@pytest.mark.parametrize("noise,sigma_b2", [(npl.Dropout(0.6), 0.0), (npl.GaussianNoise(0.5), 0.2), (None, 0.0)], ids=["dropout", "gauss+bias", "none"])
def test_kernel_matches_wide_networks(noise, sigma_b2):
    # the kernel is the mean over networks of the last layer's lengths and overlaps; at width 1000 one network's
    # length fluctuates by about 15 % (the finite-width random walk), so 400 networks give about 1 % precision
    X = _inputs(6, 1000, seed=1)
    sw2 = npl.critical_sigma_w2(noise)
    depth = 3
    K = npl.nngp_kernel(X, depth=depth, sigma_w2=sw2, sigma_b2=sigma_b2, noise=noise)
    res = npl.propagate(X, depth, sw2, sigma_b2, noise=noise, n_networks=400, width=1000, pairs="all", seed=2, dtype="float64")
    q_sim = res.q[depth].mean(axis=0)
    np.testing.assert_allclose(q_sim, np.diag(K), rtol=0.03)
    c_theory = np.array([K[a, b] / np.sqrt(K[a, a] * K[b, b]) for a, b in res.pairs])
    np.testing.assert_allclose(res.c[depth].mean(axis=0), c_theory, atol=0.02)


def test_cross_kernel_treats_entries_as_distinct_evaluations():
    X = _inputs(4, 50, seed=3)
    nz = npl.Dropout(0.7)
    K_same = npl.nngp_kernel(X, depth=4, sigma_w2=1.4, noise=nz)
    K_cross = npl.nngp_kernel(X, X, depth=4, sigma_w2=1.4, noise=nz)
    off = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose(K_cross[off], K_same[off], rtol=1e-13)
    # the same input evaluated twice with independent masks: the diagonal loses the factor mu2
    assert np.all(np.diag(K_cross) < np.diag(K_same))


def test_symmetric_and_positive_semidefinite():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 30))
    for noise, act in [(npl.Dropout(0.5), "relu"), (npl.GaussianNoise(1.0), npl.LeakyReLU(0.2)), (None, "relu")]:
        K = npl.nngp_kernel(X, depth=6, sigma_w2=1.3, sigma_b2=0.05, noise=noise, activation=act)
        assert np.array_equal(K, K.T)
        ev = np.linalg.eigvalsh(K)
        assert ev.min() > -1e-10 * ev.max()


def test_noiseless_limit_is_the_arccos_recursion():
    # He initialisation, no bias: lengths are preserved and correlations follow c -> R(c) (Cho and Saul, 2009)
    X = _inputs(4, 20, seed=4)
    depth = 7
    K = npl.nngp_kernel(X, depth=depth, sigma_w2=2.0, noise=None)
    F = np.maximum(X, 0.0)
    K1 = 2.0 * F @ F.T / X.shape[1]
    q1 = np.diag(K1)
    c1 = K1 / np.sqrt(np.outer(q1, q1))
    cL = npl.iterate_correlation_map(np.clip(c1, -1, 1), depth - 1)[-1]
    np.testing.assert_allclose(K, np.sqrt(np.outer(q1, q1)) * cL, rtol=1e-12, atol=1e-15)


def test_relu_kernel_is_homogeneous_in_sigma_w2_without_bias():
    X = _inputs(4, 30, seed=5)
    nz = npl.Dropout(0.8)
    K1 = npl.nngp_kernel(X, depth=5, sigma_w2=1.0, noise=nz)
    K2 = npl.nngp_kernel(X, depth=5, sigma_w2=1.7, noise=nz)
    np.testing.assert_allclose(K2, 1.7**5 * K1, rtol=1e-12)


def test_general_activation_uses_quadrature():
    X = _inputs(4, 1000, seed=6)
    K = npl.nngp_kernel(X, depth=2, sigma_w2=1.0, sigma_b2=0.1, noise=npl.Dropout(0.8), activation="tanh")
    res = npl.propagate(X, 2, 1.0, 0.1, noise=npl.Dropout(0.8), activation="tanh", n_networks=400, pairs="all", seed=7, dtype="float64")
    np.testing.assert_allclose(res.q[2].mean(axis=0), np.diag(K), rtol=0.03)
    c_theory = np.array([K[a, b] / np.sqrt(K[a, a] * K[b, b]) for a, b in res.pairs])
    np.testing.assert_allclose(res.c[2].mean(axis=0), c_theory, atol=0.02)


def test_depth_zero_is_the_input_kernel():
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    np.testing.assert_allclose(npl.nngp_kernel(X, depth=0, sigma_w2=2.0), X @ X.T / 2)


def test_docstring_example():
    K = npl.nngp_kernel(np.array([[1.0, 0.0], [0.0, 1.0]]), depth=2, sigma_w2=1.6, noise=npl.Dropout(0.8))
    np.testing.assert_allclose(K, [[1.0, 0.8 / np.pi], [0.8 / np.pi, 1.0]], rtol=1e-13)


def test_gp_regression_interpolates_and_matches_direct_solve():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 5))
    Xs = rng.normal(size=(7, 5))
    y = np.sin(X[:, 0])
    K = npl.nngp_kernel(X, depth=2, sigma_w2=2.0, sigma_b2=0.1)
    Kc = npl.nngp_kernel(Xs, X, depth=2, sigma_w2=2.0, sigma_b2=0.1)
    kss = np.diag(npl.nngp_kernel(Xs, depth=2, sigma_w2=2.0, sigma_b2=0.1))
    pred = npl.gp_regression(K, Kc, y, noise_var=1e-3, K_test_diag=kss)
    A = K + 1e-3 * np.eye(30)
    np.testing.assert_allclose(pred.mean, Kc @ np.linalg.solve(A, y), rtol=1e-9)
    np.testing.assert_allclose(pred.variance, kss - np.einsum("ij,ji->i", Kc, np.linalg.solve(A, Kc.T)), rtol=1e-7, atol=1e-12)
    assert np.all(pred.variance > 0)
    # at the training inputs, with tiny observation noise, the posterior mean reproduces the targets
    fit = npl.gp_regression(K, K, np.stack([y, -y], axis=1), noise_var=1e-10).mean
    np.testing.assert_allclose(fit, np.stack([y, -y], axis=1), atol=1e-5)
    assert npl.gp_regression(K, Kc, y).variance is None


BAD = [
    ("X1 1-d", lambda: npl.nngp_kernel(np.ones(3), depth=1, sigma_w2=2.0), r"X1 must have shape \(n_inputs, input_dim\)"),
    ("X1 nan", lambda: npl.nngp_kernel(np.array([[np.nan, 1.0]]), depth=1, sigma_w2=2.0), r"X1 must be finite"),
    ("X1 strings", lambda: npl.nngp_kernel(np.array([["a", "b"]]), depth=1, sigma_w2=2.0), r"X1 must be a real array"),
    ("X2 dim", lambda: npl.nngp_kernel(np.ones((2, 3)), np.ones((2, 4)), depth=1, sigma_w2=2.0), r"X2 must have the input dimension of X1, 3, got 4"),
    ("depth -1", lambda: npl.nngp_kernel(np.ones((2, 3)), depth=-1, sigma_w2=2.0), r"depth must be an integer >= 0, got -1"),
    ("depth 1.5", lambda: npl.nngp_kernel(np.ones((2, 3)), depth=1.5, sigma_w2=2.0), r"depth must be an integer >= 0, got 1\.5"),
    ("sigma_w2 -1", lambda: npl.nngp_kernel(np.ones((2, 3)), depth=1, sigma_w2=-1.0), r"sigma_w2 must lie in \[0, inf\), got -1\.0"),
    ("sigma_b2 nan", lambda: npl.nngp_kernel(np.ones((2, 3)), depth=1, sigma_w2=1.0, sigma_b2=float("nan")), r"sigma_b2 must not be NaN"),
    ("noise array", lambda: npl.nngp_kernel(np.ones((2, 3)), depth=1, sigma_w2=1.0, noise=npl.Dropout(np.array([0.5, 0.6]))), r"noise must have scalar parameters"),
    ("K_train not square", lambda: npl.gp_regression(np.ones((2, 3)), np.ones((1, 3)), np.ones(2)), r"K_train must be a square \(n, n\) matrix, got shape \(2, 3\)"),
    ("K_train asymmetric", lambda: npl.gp_regression(np.array([[1.0, 0.5], [0.0, 1.0]]), np.ones((1, 2)), np.ones(2)), r"K_train must be symmetric"),
    ("K_train nan", lambda: npl.gp_regression(np.array([[np.nan, 0.0], [0.0, 1.0]]), np.ones((1, 2)), np.ones(2)), r"K_train must be finite"),
    ("K_cross shape", lambda: npl.gp_regression(np.eye(2), np.ones((1, 3)), np.ones(2)), r"K_cross must have shape \(n_test, 2\) to match K_train, got shape \(1, 3\)"),
    ("y shape", lambda: npl.gp_regression(np.eye(2), np.ones((1, 2)), np.ones(3)), r"y must have shape \(2,\) or \(2, k\) to match K_train, got shape \(3,\)"),
    ("noise_var -1", lambda: npl.gp_regression(np.eye(2), np.ones((1, 2)), np.ones(2), noise_var=-1.0), r"noise_var must lie in \[0, inf\), got -1\.0"),
    ("not PD", lambda: npl.gp_regression(np.ones((2, 2)), np.ones((1, 2)), np.ones(2)), r"not numerically positive definite \(noise_var = 0\); increase noise_var"),
    ("K_test_diag shape", lambda: npl.gp_regression(np.eye(2), np.ones((1, 2)), np.ones(2), K_test_diag=np.ones(2)), r"K_test_diag must have shape \(1,\) to match K_cross, got shape \(2,\)"),
]


@pytest.mark.parametrize("name,call,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises_value_error(name, call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
