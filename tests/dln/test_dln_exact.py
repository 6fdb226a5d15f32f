"""Diagonal linear networks, exactly: the scalar functions and the potential against 50-digit values,
the first steps of (S)GD written out by hand (with their gain bookkeeping), the Hessian against finite
differences, the data model's formulas, and small-problem solver checks.

Written to kill the mutants of ``make mutate`` (tools/mutate.py) that test_dln.py leaves alive.
"""
from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest

from noisyprop_lib import dln
from noisyprop_lib.dln.mirror import _dq_raw, _q_raw


@pytest.fixture(autouse=True)
def _fifty_digits():
    """mpmath at 50 digits inside these tests only (the global precision is left alone)."""
    with mpmath.workdps(50):
        yield


def mp_q(x):
    x = mpmath.mpf(x)
    return -mpmath.log(abs(1 - x * x))


# ---------------------------------------------------------------------------
# q, q_+, q_- and the gain difference
# ---------------------------------------------------------------------------

XS = [-3.0, -1.2, -0.9, -0.6, -0.3, -0.05, -0.004, 1e-5, 0.003, 0.0099, 0.02, 0.4, 0.69, 0.71, 0.95, 1.1, 1.5, 4.0]


@pytest.mark.parametrize("x", XS)
def test_q_functions_against_50_digits(x):
    xm = mpmath.mpf(x)
    assert dln.q(x) == pytest.approx(float(mp_q(x)), rel=2e-15, abs=1e-300)
    qp = -2 * xm - mpmath.log((1 - xm) ** 2)
    qm = 2 * xm - mpmath.log((1 + xm) ** 2)
    # q_+ = -2x - 2 ln(1 - x) cancels to O(x^2) near 0: accurate to rounding of the O(x) terms
    slack = 4e-16 * abs(x)
    assert dln.q_plus(x) == pytest.approx(float(qp), rel=2e-14, abs=slack)
    assert dln.q_minus(x) == pytest.approx(float(qm), rel=2e-14, abs=slack)
    # the gain difference q_+ - q_- = O(x^3): relative accuracy from its series below |x| = 1e-2,
    # the rounding of the O(x) terms above
    d = -4 * xm + 2 * mpmath.log(abs((1 + xm) / (1 - xm)))
    assert _dq_raw(np.asarray(x)) == pytest.approx(float(d), rel=1e-14, abs=0.0 if abs(x) < 1e-2 else 4e-15 * abs(x))


def test_q_raw_is_infinite_at_the_poles_without_warnings():
    with np.errstate(all="raise"):
        assert _q_raw(np.array([1.0, -1.0])).tolist() == [math.inf, math.inf]
    for f, x in [(dln.q, 1.0), (dln.q, -1.0), (dln.q_plus, 1.0), (dln.q_minus, -1.0)]:
        with pytest.raises(ValueError, match="must lie in R minus"):
            f(x)
    assert dln.q_plus(-1.0) == pytest.approx(2.0 - 2 * math.log(2.0), rel=1e-15)
    assert dln.q_minus(1.0) == pytest.approx(2.0 - 2 * math.log(2.0), rel=1e-15)


def test_effective_alpha():
    assert dln.effective_alpha(0.5, 2.0) == pytest.approx(0.5 * math.exp(-1.0), rel=1e-15)
    np.testing.assert_allclose(dln.effective_alpha(np.array([1.0, 2.0]), np.array([0.0, -2.0])), [1.0, 2.0 * math.e], rtol=1e-15)
    with pytest.raises(ValueError, match="alpha"):
        dln.effective_alpha(0.0, 1.0)


# ---------------------------------------------------------------------------
# the hyperbolic entropy
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("beta, alpha", [(0.3, 0.5), (-2.0, 0.1), (1e-9, 2.0), (5.0, 1.0)])
def test_hyperbolic_entropy_family_against_50_digits(beta, alpha):
    b, a2 = mpmath.mpf(beta), mpmath.mpf(alpha) ** 2
    psi = (b * mpmath.asinh(b / a2) - mpmath.sqrt(b * b + a2 * a2) + a2) / 2
    assert dln.hyperbolic_entropy(beta, alpha) == pytest.approx(float(psi), rel=1e-14)
    assert dln.hyperbolic_entropy_grad(beta, alpha) == pytest.approx(float(mpmath.asinh(b / a2) / 2), rel=1e-14)
    z = 0.7 * np.sign(beta)
    assert dln.mirror_map_inverse(z, alpha) == pytest.approx(float(a2 * mpmath.sinh(2 * mpmath.mpf(z))), rel=1e-14)
    conj = a2 * (mpmath.cosh(2 * mpmath.mpf(z)) - 1) / 2
    assert dln.hyperbolic_entropy_conjugate(z, alpha) == pytest.approx(float(conj), rel=1e-14)


def test_entropy_sums_over_the_last_axis_unless_coordinatewise():
    beta = np.array([[0.3, -1.0], [2.0, 0.0]])
    alpha = np.array([0.5, 2.0])
    terms = dln.hyperbolic_entropy(beta, alpha, coordinatewise=True)
    assert terms.shape == (2, 2)
    np.testing.assert_allclose(dln.hyperbolic_entropy(beta, alpha), terms.sum(axis=-1), rtol=1e-15)
    assert terms[1, 1] == 0.0
    cterms = dln.hyperbolic_entropy_conjugate(beta, alpha, coordinatewise=True)
    np.testing.assert_allclose(dln.hyperbolic_entropy_conjugate(beta, alpha), cterms.sum(axis=-1), rtol=1e-15)


def test_bregman_divergence_by_its_definition():
    b, r, a = np.array([0.3, -1.0, 2.0]), np.array([0.1, 0.4, 2.5]), 0.7
    want = (dln.hyperbolic_entropy(b, a) - dln.hyperbolic_entropy(r, a)
            - np.sum(dln.hyperbolic_entropy_grad(r, a) * (b - r)))
    assert dln.bregman_divergence(b, r, a) == pytest.approx(want, rel=1e-14)
    assert dln.bregman_divergence(0.3, 0.3, a) == 0.0
    one = dln.bregman_divergence(0.5, -0.2, 1.3)
    want1 = dln.hyperbolic_entropy(0.5, 1.3) - dln.hyperbolic_entropy(-0.2, 1.3) - 0.5 * math.asinh(-0.2 / 1.69) * 0.7
    assert one == pytest.approx(want1, rel=1e-14)


# ---------------------------------------------------------------------------
# the data model
# ---------------------------------------------------------------------------


def test_population_second_moment_and_losses():
    np.testing.assert_array_equal(dln.population_second_moment(3, mean=0.5, std=2.0), 4.0 * np.eye(3) + 0.25)
    X = np.array([[1.0, 2.0], [3.0, -1.0], [0.0, 1.0]])
    y = np.array([1.0, 0.0, 2.0])
    data = dln.SparseRegression(X=X, y=y, beta_star=np.array([1.0, 0.0]), mean=0.5, std=2.0)
    beta = np.array([0.5, -1.0])
    r = X @ beta - y
    assert data.n == 3 and data.d == 2 and data.support.tolist() == [True, False]
    assert data.train_loss(beta) == pytest.approx(0.5 * np.mean(r**2), rel=1e-15)
    np.testing.assert_allclose(data.gradient(beta), X.T @ r / 3, rtol=1e-15)
    np.testing.assert_allclose(data.H, X.T @ X / 3, rtol=1e-15)
    delta = beta - data.beta_star
    H = dln.population_second_moment(2, 0.5, 2.0)
    assert data.test_loss(beta) == pytest.approx(0.5 * delta @ H @ delta, rel=1e-14)
    assert data.test_loss(np.stack([beta, data.beta_star])).tolist() == pytest.approx([0.5 * delta @ H @ delta, 0.0])


def test_make_sparse_regression_targets_and_noise():
    d = dln.make_sparse_regression(4, 6, 3, target="signs", mean=1.0, std=0.5, seed=1)
    assert d.beta_star.tolist() == [1.0, -1.0, 1.0, 0.0, 0.0, 0.0]
    np.testing.assert_allclose(d.y, d.X @ d.beta_star, rtol=1e-15)
    a = dln.make_sparse_regression(4, 6, 2, target="abs_gaussian", seed=2)
    g = dln.make_sparse_regression(4, 6, 2, target="gaussian", seed=2)
    np.testing.assert_array_equal(a.beta_star, np.abs(g.beta_star))
    assert (a.beta_star[:2] > 0).all() and (a.beta_star[2:] == 0).all()
    v = dln.make_sparse_regression(4, 6, 2, target=[3.0, -2.0], seed=3)
    assert v.beta_star.tolist() == [3.0, -2.0, 0.0, 0.0, 0.0, 0.0]
    noisy = dln.make_sparse_regression(200, 3, 1, target=[1.0], noise_std=0.5, seed=4)
    resid = noisy.y - noisy.X @ noisy.beta_star
    assert 0.4 < resid.std() < 0.6 and noisy.noise_std == 0.5
    quiet = dln.make_sparse_regression(200, 3, 1, target=[1.0], seed=4)
    np.testing.assert_array_equal(quiet.y, quiet.X @ quiet.beta_star)
    big = dln.make_sparse_regression(4000, 2, 1, target=[1.0], mean=2.0, std=3.0, seed=5)
    assert abs(big.X.mean() - 2.0) < 0.2 and abs(big.X.std() - 3.0) < 0.2


# ---------------------------------------------------------------------------
# training: the first steps by hand
# ---------------------------------------------------------------------------

X1 = np.array([[1.0, 0.5, -1.0], [0.0, 2.0, 1.0]])
Y1 = np.array([1.0, -0.5])


def _gd_by_hand(X, y, gamma, alpha, steps):
    n = X.shape[0]
    u = math.sqrt(2) * np.broadcast_to(alpha, (X.shape[1],)).astype(float)
    v = np.zeros(X.shape[1])
    gain = np.zeros_like(u)
    diff = np.zeros_like(u)
    S = np.zeros_like(u)
    sq = np.zeros_like(u)
    losses = []
    for _ in range(steps):
        r = X @ (u * v) - y
        losses.append(0.5 * np.mean(r**2))
        g = X.T @ r / n
        x = gamma * g
        gain += -np.log(np.abs(1 - x * x))
        diff += -4 * x + 2 * np.log(np.abs((1 + x) / (1 - x)))
        S += x
        sq += x * x
        u, v = u - x * v, v - x * u
    r = X @ (u * v) - y
    losses.append(0.5 * np.mean(r**2))
    return u, v, gain, diff, S, sq, np.array(losses)


@pytest.mark.parametrize("gamma", [0.05, 0.9])  # 0.9: steps with |gamma g| >= 1/2 take the general formulas
def test_gd_steps_and_bookkeeping_by_hand(gamma):
    u, v, gain, diff, S, sq, losses = _gd_by_hand(X1, Y1, gamma, 0.3, 6)
    run = dln.train_dln(X1, Y1, gamma, 0.3, n_steps=6)
    np.testing.assert_allclose(run.u, u, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(run.v, v, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(run.gain, gain, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(run.gain_diff, diff, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(run.step_sum, S, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(run.step_sq_sum, sq, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(run.loss, losses, rtol=1e-13)
    assert run.loss_sum == pytest.approx(losses[:-1].sum(), rel=1e-13)
    assert run.initial_loss == pytest.approx(0.5 * np.mean(Y1**2), rel=1e-15)
    assert run.final_loss == pytest.approx(losses[-1], rel=1e-13)
    assert run.n_steps == 6 and run.batch_size == 2 and not run.diverged and run.diverged_step == -1
    # the effective initialisation and the perturbation follow from the gains
    np.testing.assert_allclose(run.alpha_inf, 0.3 * np.exp(-gain / 2), rtol=1e-12)
    np.testing.assert_allclose(run.alpha_plus, 0.3 * np.exp(-(gain + diff / 2) / 2), rtol=1e-10)
    np.testing.assert_allclose(run.alpha_minus, 0.3 * np.exp(-(gain - diff / 2) / 2), rtol=1e-10)
    np.testing.assert_allclose(run.beta_tilde, 0.5 * (run.alpha_plus**2 - run.alpha_minus**2), rtol=1e-10, atol=1e-16)
    # and the closed form reproduces the final iterate (Even et al.)
    np.testing.assert_allclose(run.closed_form_beta(), run.beta, rtol=1e-9, atol=1e-14)


def test_large_steps_are_counted():
    run = dln.train_dln(X1, Y1, 3.0, 1.0, n_steps=3, diverge_factor=1e300)
    u, v, gain, diff, S, sq, losses = _gd_by_hand(X1, Y1, 3.0, 1.0, 3)
    xs = []
    uu, vv = math.sqrt(2) * np.ones(3), np.zeros(3)
    for _ in range(3):
        x = 3.0 * X1.T @ (X1 @ (uu * vv) - Y1) / 2
        xs.append(x)
        uu, vv = uu - x * vv, vv - x * uu
    ax = np.abs(np.array(xs))
    assert run.n_sign_flips == int((ax > 1).sum())
    assert run.n_negative_q == int((ax > math.sqrt(2)).sum())
    assert run.n_near_singular == 0
    assert run.max_abs_step == pytest.approx(ax.max(), rel=1e-14)
    np.testing.assert_allclose(run.gain, gain, rtol=1e-12)


def test_sgd_batch_of_one_uses_one_example_per_step():
    """With batch 1, g_k = (x_i . beta - y_i) x_i for the drawn example i: the run equals GD on the drawn rows."""
    X = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0], [1.0, 1.0, 0.0]])
    y = np.array([1.0, 2.0, 0.5])
    run = dln.train_dln(X, y, 0.1, 0.5, batch_size=1, n_steps=5, seed=3, record_every=1)
    rng = np.random.default_rng(np.random.SeedSequence(3, spawn_key=(0,)))
    idx = rng.integers(0, 3, size=5)
    u, v = math.sqrt(2) * 0.5 * np.ones(3), np.zeros(3)
    for i in idx:
        x = 0.1 * (X[i] @ (u * v) - y[i]) * X[i]
        u, v = u - x * v, v - x * u
    np.testing.assert_allclose(run.u, u, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(run.v, v, rtol=1e-13, atol=1e-16)
    assert run.history["u"].shape == (6, 3) and run.history["steps"].tolist() == list(range(6))
    assert run.seed == 3 and run.batch_size == 1


def test_sgd_batch_of_two_averages_two_distinct_examples():
    X = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0], [1.0, 1.0, 0.0], [2.0, -1.0, 1.0]])
    y = np.array([1.0, 2.0, 0.5, -1.0])
    run = dln.train_dln(X, y, 0.1, 0.5, batch_size=2, n_steps=4, seed=5)
    rng = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(0,)))
    keys = rng.random((4, 4))
    u, v = math.sqrt(2) * 0.5 * np.ones(3), np.zeros(3)
    for k in range(4):
        b = keys[k].argpartition(1)[:2]
        g = (X[b] @ (u * v) - y[b]) @ X[b] / 2
        x = 0.1 * g
        u, v = u - x * v, v - x * u
    np.testing.assert_allclose(run.u, u, rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(run.v, v, rtol=1e-13, atol=1e-16)


def test_track_sgf_conditional_second_moment_by_hand():
    X = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0], [1.0, 1.0, 0.0]])
    y = np.array([1.0, 2.0, 0.5])
    run = dln.train_dln(X, y, 0.1, 0.5, batch_size=1, n_steps=1, seed=0, track_sgf=True)
    # at step 0, beta = 0: r = -y; E[g_B^2] = grad^2 + (n-b)/(b(n-1)) (mean_i r_i^2 x_i^2 - grad^2)
    r = -y
    grad = X.T @ r / 3
    m2 = (r**2) @ (X**2) / 3
    want = 0.01 * (grad**2 + (3 - 1) / (1 * 2) * (m2 - grad**2))
    np.testing.assert_allclose(run.cond_step_sq_sum, want, rtol=1e-14)


def test_divergence_rolls_back_and_freezes():
    run = dln.train_dln(X1, Y1, np.array([0.05, 50.0]), 1.0, n_steps=40, diverge_factor=10.0)
    assert run.diverged.tolist() == [False, True]
    k = int(run.diverged_step[1])
    assert k > 0 and np.isnan(run.loss[1, k:]).all() and np.isfinite(run.loss[1, :k]).all()
    assert np.isfinite(run.final_loss[1]) and run.final_loss[1] <= 10.0 * run.initial_loss[1]
    assert not run.converged[1]


def test_loss_recording_and_increases():
    run = dln.train_dln(X1, Y1, 0.05, 0.3, n_steps=10, record_loss_every=3)
    assert run.loss_steps.tolist() == [0, 3, 6, 9]
    full = dln.train_dln(X1, Y1, 0.05, 0.3, n_steps=10)
    np.testing.assert_allclose(run.loss, full.loss[[0, 3, 6, 9]], rtol=1e-14)
    inc = np.diff(full.loss) > 0
    assert full.loss_increases() == int(inc.sum())
    assert full.loss_increases(up_to_step=4) == int(inc[:4].sum())


# ---------------------------------------------------------------------------
# Hessian, sharpness, interpolators
# ---------------------------------------------------------------------------


def test_loss_hessian_against_finite_differences():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3, 4))
    y = rng.standard_normal(3)
    u, v = rng.standard_normal(4), rng.standard_normal(4)

    def grad(w):
        uu, vv = w[:4], w[4:]
        g = X.T @ (X @ (uu * vv) - y) / 3
        return np.concatenate([g * vv, g * uu])

    w = np.concatenate([u, v])
    h = 1e-6
    fd = np.array([(grad(w + h * e) - grad(w - h * e)) / (2 * h) for e in np.eye(8)])
    H = dln.loss_hessian(X, y, u, v)
    np.testing.assert_allclose(H, fd, rtol=1e-6, atol=1e-7)
    assert dln.sharpness(X, y, u, v) == pytest.approx(np.linalg.eigvalsh(fd).max(), rel=1e-6)
    H0 = dln.loss_hessian(X, None, u, v)
    g = X.T @ (X @ (u * v) - y) / 3
    np.testing.assert_allclose(H - H0, np.block([[np.zeros((4, 4)), np.diag(g)], [np.diag(g), np.zeros((4, 4))]]), atol=1e-14)


def test_interpolator_sharpness_matches_the_hessian_at_the_invariant():
    """At u^2 - v^2 = 2 alpha^2 with u v = beta, S(beta) is the top eigenvalue of the y = None Hessian."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3, 5))
    beta = rng.standard_normal(5)
    a = 0.4
    # u^2 = sqrt(beta^2 + a^4) + a^2, v = beta/u
    u = np.sqrt(np.sqrt(beta**2 + a**4) + a**2)
    v = beta / u
    assert dln.interpolator_sharpness(X, beta, a) == pytest.approx(dln.sharpness(X, None, u, v), rel=1e-12)


def test_min_l2_and_basis_pursuit_on_a_small_problem():
    X = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    y = np.array([1.0, 1.0])
    np.testing.assert_allclose(dln.min_l2_interpolator(X, y), [1 / 3, 2 / 3, 1 / 3], rtol=1e-14)
    np.testing.assert_allclose(dln.basis_pursuit(X, y), [0.0, 1.0, 0.0], atol=1e-9)
    # a heavy weight on the middle coordinate moves the l1 solution to the outer ones
    np.testing.assert_allclose(dln.basis_pursuit(X, y, weights=np.array([1.0, 5.0, 1.0])), [1.0, 0.0, 1.0], atol=1e-9)


def test_implicit_bias_solution_small_and_large_alpha_limits():
    X = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    y = np.array([1.0, 1.0])
    np.testing.assert_allclose(dln.implicit_bias_solution(X, y, 1e3), [1 / 3, 2 / 3, 1 / 3], rtol=1e-5)
    np.testing.assert_allclose(dln.implicit_bias_solution(X, y, 1e-5), [0.0, 1.0, 0.0], atol=1e-3)
    beta, lam = dln.implicit_bias_solution(X, y, 0.5, return_multiplier=True)
    np.testing.assert_allclose(X @ beta, y, rtol=1e-12)
    np.testing.assert_allclose(beta, 0.25 * np.sinh(2 * X.T @ lam), rtol=1e-10)


def test_support_ratio():
    vals = np.array([[4.0, 2.0, 1.0, 1.0], [1.0, 1.0, 2.0, 4.0]])
    sup = np.array([True, True, False, False])
    np.testing.assert_allclose(dln.support_ratio(vals, sup), [3.0, 1 / 3], rtol=1e-15)
    with pytest.raises(ValueError, match="boolean mask of shape"):
        dln.support_ratio(vals, np.array([True, False]))
    with pytest.raises(ValueError, match="at least one True and one False"):
        dln.support_ratio(vals, np.zeros(4, bool))


def test_support_equal_to_dimension_is_allowed():
    d = dln.make_sparse_regression(3, 4, 4, target="signs", seed=0)
    assert d.beta_star.tolist() == [1.0, -1.0, 1.0, -1.0]


def test_batch_size_refusal_lists_the_bad_sizes():
    with pytest.raises(ValueError, match=r"got \[0, 9\]"):
        dln.train_dln(X1, Y1, np.array([0.1, 0.1, 0.1]), 0.1, batch_size=np.array([0, 1, 9]), seed=0)


def test_stop_rtol_is_checked_every_eight_steps():
    level = 1e-3
    run = dln.train_dln(X1, Y1, 0.2, 0.5, n_steps=5000, stop_rtol=level)
    full = dln.train_dln(X1, Y1, 0.2, 0.5, n_steps=run.n_steps + 16)
    first = int(np.argmax(full.loss <= level * full.initial_loss))
    assert run.n_steps % 8 == 0 and first <= run.n_steps < first + 8
    assert run.final_loss <= level * run.initial_loss


def test_divergence_stops_the_loss_sum():
    run = dln.train_dln(X1, Y1, np.array([0.05, 50.0]), 1.0, n_steps=40, diverge_factor=10.0)
    k = int(run.diverged_step[1])
    assert run.loss_sum[1] == pytest.approx(np.sum(run.loss[1, :k]), rel=1e-13)
    assert run.loss_sum[0] == pytest.approx(np.sum(run.loss[0, :40]), rel=1e-13)


def test_runs_on_a_stack_of_datasets_know_their_dataset():
    Xs = np.stack([X1, 2.0 * X1])
    ys = np.stack([Y1, Y1])
    run = dln.train_dln(Xs, ys, 0.05, 0.3, n_steps=20)
    assert run.run_shape == (2,) and run.dataset_index.tolist() == [0, 1]
    for i in range(2):
        single = dln.train_dln(Xs[i], ys[i], 0.05, 0.3, n_steps=20)
        assert run.sharpness(Xs, ys)[i] == pytest.approx(single.sharpness(Xs[i], ys[i]), rel=1e-12)
    with pytest.raises(ValueError, match="the design matrix"):
        run.sharpness(Xs[:1], ys[:1])


def test_predicted_beta_of_a_single_converged_run():
    X = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]])
    y = np.array([1.0, 1.0])
    run = dln.train_dln(X, y, 0.1, 0.5, n_steps=20_000, stop_rtol=1e-24)
    assert run.converged
    pred = run.predicted_beta(X, y)
    assert pred.shape == (3,)
    np.testing.assert_allclose(pred, run.beta, rtol=1e-6, atol=1e-9)
    short = dln.train_dln(X, y, 0.1, 0.5, n_steps=3)
    assert np.isnan(short.predicted_beta(X, y)).all()


def test_largest_convergent_stepsize_on_a_two_point_grid():
    res = dln.largest_convergent_stepsize(X1, Y1, 0.5, grid=np.array([0.05, 100.0]), n_steps=2000)
    assert res.gamma_max == 0.05 and res.found
    assert res.converged.tolist() == [True, False] and res.diverged.tolist() == [False, True]
    assert res.loss_ratio[1] == math.inf and res.loss_ratio[0] <= 1e-3
    default = dln.largest_convergent_stepsize(X1, Y1, 0.5, n_steps=50)
    np.testing.assert_array_equal(default.grid, np.geomspace(1e-3, 1e2, 24))


def test_loss_increases_counts_small_increases():
    run = dln.train_dln(X1, Y1, 1.5, 0.3, n_steps=30)  # at the edge of stability: tiny oscillations
    inc = np.diff(run.loss) > 0
    assert inc.sum() > 0 and np.max(np.diff(run.loss)) < 1e-3
    assert run.loss_increases() == int(inc.sum())


def test_a_diverging_run_leaves_its_neighbours_unchanged():
    both = dln.train_dln(X1, Y1, np.array([0.05, 50.0]), 1.0, n_steps=40, diverge_factor=10.0)
    alone = dln.train_dln(X1, Y1, 0.05, 1.0, n_steps=40, diverge_factor=10.0)
    np.testing.assert_allclose(both.loss[0], alone.loss, rtol=1e-14)
    assert both.loss_sum[0] == pytest.approx(alone.loss_sum, rel=1e-14)


def test_track_sgf_with_two_examples():
    """n = 2, b = 1: the finite-population factor (n - b)/(b (n - 1)) is 1."""
    X = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, -1.0]])
    y = np.array([1.0, 2.0])
    run = dln.train_dln(X, y, 0.1, 0.5, batch_size=1, n_steps=1, seed=0, track_sgf=True)
    m2 = (y**2) @ (X**2) / 2
    np.testing.assert_allclose(run.cond_step_sq_sum, 0.01 * m2, rtol=1e-14)


def test_population_second_moment_defaults_and_small_std():
    np.testing.assert_array_equal(dln.population_second_moment(3), np.eye(3))
    np.testing.assert_array_equal(dln.population_second_moment(2, std=0.5), 0.25 * np.eye(2))


# ---------------------------------------------------------------------------
# more contracts of the trainer and the search
# ---------------------------------------------------------------------------


def test_make_sparse_regression_draws_in_the_documented_order():
    """target (here given), then features mean + std z, then label noise, from one generator."""
    d = dln.make_sparse_regression(5, 4, 2, target=[1.0, -2.0], mean=0.5, std=2.0, noise_std=0.3, seed=9)
    rng = np.random.default_rng(9)
    X = 0.5 + 2.0 * rng.standard_normal((5, 4))
    y = X @ np.array([1.0, -2.0, 0.0, 0.0]) + 0.3 * rng.standard_normal(5)
    np.testing.assert_array_equal(d.X, X)
    np.testing.assert_allclose(d.y, y, rtol=1e-15)
    plain = dln.make_sparse_regression(5, 4, 2, target=[1.0, -2.0], seed=9)
    assert (plain.mean, plain.std, plain.noise_std) == (0.0, 1.0, 0.0)
    np.testing.assert_array_equal(plain.X, np.random.default_rng(9).standard_normal((5, 4)))


def test_one_dimensional_inputs_give_one_value():
    assert dln.hyperbolic_entropy_conjugate(np.array([0.3, -0.2]), 0.5) == pytest.approx(
        0.25 * (math.sinh(0.3) ** 2 + math.sinh(-0.2) ** 2), rel=1e-14)
    assert dln.support_ratio(np.array([4.0, 2.0, 1.0]), np.array([True, True, False])) == pytest.approx(3.0)
    with pytest.raises(ValueError, match=r"R minus \{-1\}"):
        dln.q_minus(-1.0)


def test_constant_losses_are_not_increases_and_stop_at_once():
    run = dln.train_dln(X1, np.zeros(2), 0.1, 0.3, n_steps=10)  # beta stays 0, the loss stays exactly 0
    assert run.loss.tolist() == [0.0] * 11 and run.loss_increases() == 0
    stopped = dln.train_dln(X1, np.zeros(2), 0.1, 0.3, n_steps=10, stop_rtol=0.0)
    assert stopped.n_steps == 0


def test_seeds_contract():
    X = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0], [1.0, 1.0, 0.0]])
    y = np.array([1.0, 2.0, 0.5])
    both = dln.train_dln(X, y, np.array([0.1, 0.2]), 0.5, batch_size=1, n_steps=30, seed=np.array([0, 4]))
    for i, s in enumerate([0, 4]):
        alone = dln.train_dln(X, y, [0.1, 0.2][i], 0.5, batch_size=1, n_steps=30, seed=s)
        np.testing.assert_allclose(both.u[i], alone.u, rtol=1e-13, atol=1e-16)
    for bad in (np.array([-1, 2]), np.array([1.0, 2.0]), True):
        with pytest.raises(ValueError, match="seed must be"):
            dln.train_dln(X, y, np.array([0.1, 0.2]), 0.5, batch_size=1, n_steps=3, seed=bad)


def test_sgd_longer_than_one_chunk_of_draws():
    """1100 steps of batch-1 SGD need two chunks of 1024 drawn indices; the stream continues across them."""
    X = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0], [1.0, 1.0, 0.0]])
    y = np.array([1.0, 2.0, 0.5])
    run = dln.train_dln(X, y, 0.05, 0.5, batch_size=1, n_steps=1100, seed=2)
    rng = np.random.default_rng(np.random.SeedSequence(2, spawn_key=(0,)))
    idx = np.concatenate([rng.integers(0, 3, size=1024), rng.integers(0, 3, size=76)])
    u, v = math.sqrt(2) * 0.5 * np.ones(3), np.zeros(3)
    for i in idx:
        x = 0.05 * (X[i] @ (u * v) - y[i]) * X[i]
        u, v = u - x * v, v - x * u
    np.testing.assert_allclose(run.u, u, rtol=1e-12, atol=1e-15)


def test_per_run_batch_sizes_equal_single_runs():
    X = np.random.default_rng(3).standard_normal((8, 5))
    y = np.random.default_rng(4).standard_normal(8)
    b = np.array([1, 3, 8])
    runs = dln.train_dln(X, y, np.array([0.02, 0.03, 0.04]), 0.5, batch_size=b, n_steps=40, seed=np.array([5, 6, 7]))
    assert runs.batch_size.tolist() == [1, 3, 8]
    for i in range(3):
        alone = dln.train_dln(X, y, [0.02, 0.03, 0.04][i], 0.5, batch_size=int(b[i]), n_steps=40, seed=[5, 6, 7][i])
        np.testing.assert_allclose(runs.u[i], alone.u, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(runs.v[i], alone.v, rtol=1e-12, atol=1e-15)


def test_batch_of_three_is_the_three_smallest_keys():
    X = np.random.default_rng(3).standard_normal((8, 5))
    y = np.random.default_rng(4).standard_normal(8)
    run = dln.train_dln(X, y, 0.05, 0.5, batch_size=3, n_steps=5, seed=8)
    rng = np.random.default_rng(np.random.SeedSequence(8, spawn_key=(0,)))
    keys = rng.random((5, 8))
    u, v = math.sqrt(2) * 0.5 * np.ones(5), np.zeros(5)
    for k in range(5):
        B = np.argsort(keys[k])[:3]
        x = 0.05 * (X[B] @ (u * v) - y[B]) @ X[B] / 3
        u, v = u - x * v, v - x * u
    np.testing.assert_allclose(run.u, u, rtol=1e-12, atol=1e-15)


def test_batch_size_refusals():
    for bad, match in [(np.array([1.5]), "batch_size must be an integer"), (np.array(2), "batch_size must be an integer")]:
        with pytest.raises(ValueError, match=match):
            dln.train_dln(X1, Y1, 0.1, 0.1, batch_size=bad)
    Xb = np.random.default_rng(0).standard_normal((5, 6))
    yb = np.ones(5)
    with pytest.raises(ValueError, match=r"got \[0, 9, 10\]"):
        dln.train_dln(Xb, yb, np.full(5, 0.1), 0.1, batch_size=np.array([0, 5, 9, 10, 11]), seed=0)


def test_stacks_with_per_dataset_and_grid_stepsizes():
    rng = np.random.default_rng(1)
    Xs = rng.standard_normal((3, 2, 4))
    ys = rng.standard_normal((3, 2))
    per = dln.train_dln(Xs, ys, np.array([0.01, 0.02, 0.03]), 0.5, n_steps=15)
    grid = dln.train_dln(Xs, ys, np.array([[0.01, 0.02]] * 3), 0.5, n_steps=15)
    assert per.run_shape == (3,) and grid.run_shape == (3, 2)
    for i in range(3):
        alone = dln.train_dln(Xs[i], ys[i], 0.01 * (i + 1), 0.5, n_steps=15)
        np.testing.assert_allclose(per.u[i], alone.u, rtol=1e-13)
        np.testing.assert_allclose(grid.u[i, 0], dln.train_dln(Xs[i], ys[i], 0.01, 0.5, n_steps=15).u, rtol=1e-13)
        assert per.sharpness(Xs, ys)[i] == pytest.approx(dln.sharpness(Xs[i], ys[i], per.u[i], per.v[i]), rel=1e-12)
    with pytest.raises(ValueError, match="gamma must be"):
        dln.train_dln(Xs, ys, np.ones(2), 0.5)


def test_track_sgf_with_one_example():
    X = np.array([[1.0, 2.0]])
    run = dln.train_dln(X, np.array([1.0]), 0.1, 0.5, n_steps=1, track_sgf=True)
    np.testing.assert_allclose(run.cond_step_sq_sum, 0.01 * np.array([1.0, 4.0]), rtol=1e-14)


def test_history_is_the_state_before_each_step():
    run = dln.train_dln(X1, Y1, 0.1, 0.5, n_steps=4, record_every=2)
    assert run.history["steps"].tolist() == [0, 2, 4]
    np.testing.assert_array_equal(run.history["u"][0], math.sqrt(2) * 0.5 * np.ones(3))
    np.testing.assert_array_equal(run.history["v"][0], np.zeros(3))
    np.testing.assert_array_equal(run.history["u"][-1], run.u)
    two = dln.train_dln(X1, Y1, 0.1, 0.5, n_steps=2)
    np.testing.assert_array_equal(run.history["u"][1], two.u)


def test_a_step_of_exactly_one_is_counted_as_near_singular():
    run = dln.train_dln(np.array([[1.0]]), np.array([1.0]), 1.0, 0.5, n_steps=1)  # gamma g = -1 at step 0
    assert run.n_near_singular == 1 and run.n_sign_flips == 0 and run.max_abs_step == 1.0


def test_converged_is_relative_to_the_initial_loss():
    y = 1000.0 * Y1
    run = dln.train_dln(X1, y, 1e-6, 1.0, n_steps=200_000, stop_rtol=1e-12)
    assert run.final_loss <= 1e-12 * run.initial_loss and run.converged
    assert dln.train_dln(X1, Y1, 0.05, 0.3).n_steps == 10_000  # the default budget (loss below 1e-10 L(0))


def test_design_checks():
    X = np.array([[1.0, 0.0], [0.0, 2.0]])
    np.testing.assert_allclose(dln.min_l2_interpolator(X, np.array([1.0, 1.0])), [1.0, 0.5])  # n = d
    with pytest.raises(ValueError, match="full row rank"):
        dln.min_l2_interpolator(np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]), np.ones(2))
    with pytest.raises(ValueError, match="u and v must have shape"):
        dln.loss_hessian(X1, Y1, np.ones(3), np.ones(2))


def test_stepsize_search_contracts():
    res = dln.largest_convergent_stepsize(X1, Y1, 0.5, grid=np.array([1e-5, 0.05, 0.1, 100.0]), n_steps=2000, seed=None)
    assert res.converged.tolist() == [False, True, True, False]
    assert res.gamma_max == 0.1 and res.found and res.batch_size == 2 and res.seed is None
    # the grid points that survive the screening train together, stopping once all are below 1e-12 L(0)
    run = dln.train_dln(X1, Y1, np.array([1e-5, 0.05, 0.1]), 0.5, n_steps=2000, stop_rtol=1e-12, record_loss_every=2000)
    np.testing.assert_allclose(res.loss_ratio[:3], run.final_loss / run.initial_loss, rtol=1e-12, atol=0)
    sgd = dln.largest_convergent_stepsize(X1, Y1, 0.5, batch_size=1, grid=np.array([0.05, 100.0]), n_steps=500)
    assert sgd.batch_size == 1 and sgd.seed == 0 and sgd.diverged.tolist() == [False, True]
    rng = np.random.default_rng(2)
    Xs, ys = rng.standard_normal((3, 2, 4)), rng.standard_normal((3, 2))
    stack = dln.largest_convergent_stepsize(Xs, ys, 0.5, grid=np.array([0.05, 100.0]), n_steps=500)
    assert stack.gamma_max.shape == (3,) and stack.converged.shape == (3, 2)


@pytest.mark.parametrize("alpha", [5e-4, 2e-5])
def test_implicit_bias_solution_at_small_scales_satisfies_the_kkt_conditions(alpha):
    """Below alpha = 1e-3 the solve is continued from larger scales; its last stage is alpha itself."""
    X = np.array([[1.0, 1.0, 0.0, 0.5], [0.0, 1.0, 1.0, -0.5]])
    y = np.array([1.0, 0.7])
    beta, lam = dln.implicit_bias_solution(X, y, alpha, return_multiplier=True)
    np.testing.assert_allclose(X @ beta, y, rtol=1e-10)
    np.testing.assert_allclose(beta, alpha**2 * np.sinh(2 * X.T @ lam), rtol=1e-8, atol=1e-14)
