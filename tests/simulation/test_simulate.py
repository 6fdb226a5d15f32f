"""Monte Carlo engine against the mean-field theory (reference CLAIMS 2, 3, 11, 23-27), overflow, routes, bad input.

Widths, network counts and tolerances follow the reference's CLAIMS; every run
has a fixed seed, so a test either always passes or always fails for a given
version of the code.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats

import noisyprop_lib as npl

N = 1000
FIG4 = {
    "none": (npl.NoNoise(), 2.0),
    "dropout 0.6": (npl.Dropout(0.6), 1.2),
    "dropout 0.8": (npl.Dropout(0.8), 1.6),
    "gauss 0.25": (npl.GaussianNoise(0.25), 2 / 1.0625),
    "gauss 2": (npl.GaussianNoise(2.0), 0.4),
}


def one_layer_q(q0, sigma_w2, noise, activation, seed):
    x = npl.gaussian_inputs(30, N, q0=q0, seed=seed)
    res = npl.propagate(x, 1, sigma_w2, noise=noise, activation=activation, n_networks=50, seed=seed, pairs=None)
    return res.q_mean()[1]


# ---------------------------------------------------------------------------
# variance maps (CLAIMS 2, 3)
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("activation,sigma_w2", [("relu", 2.0), ("tanh", 1.0)])
@pytest.mark.parametrize("noise", [npl.Dropout(0.6), npl.Dropout(0.8), npl.GaussianNoise(0.25), npl.GaussianNoise(2.0)], ids=repr)
def test_multiplicative_variance_map_one_layer(activation, sigma_w2, noise):
    for i, q in enumerate([0.5, 4.0, 15.0]):
        sim = one_layer_q(q, sigma_w2, noise, activation, seed=10 + i)
        theory = npl.variance_map(q, sigma_w2, noise=noise, activation=activation)
        assert sim == pytest.approx(theory, rel=0.03), (q, sim, theory)


@pytest.mark.parametrize("activation,sigma_w2", [("relu", 2.0), ("tanh", 1.0)])
def test_additive_variance_map_one_layer(activation, sigma_w2):
    noise = npl.AdditiveGaussianNoise(1.0)
    for i, q in enumerate([0.5, 4.0, 15.0]):
        sim = one_layer_q(q, sigma_w2, noise, activation, seed=20 + i)
        theory = npl.variance_map(q, sigma_w2, noise=noise, activation=activation)
        assert sim == pytest.approx(theory, rel=0.03), (q, sim, theory)


def test_wrong_theory_is_rejected_by_the_same_tolerance():
    # the noiseless map differs from the truth by a factor mu2 = 5/3: the check must not pass it
    sim = one_layer_q(4.0, 2.0, npl.Dropout(0.6), "relu", seed=30)
    assert sim != pytest.approx(npl.variance_map(4.0, 2.0), rel=0.03)


# ---------------------------------------------------------------------------
# variance dynamics (CLAIMS 23-25)
# ---------------------------------------------------------------------------


def fifteen_layers(sigma_w2, noise, activation="relu", seed=0):
    x = npl.gaussian_inputs(50, N, q0=4.0, seed=seed)
    return npl.propagate(x, 15, sigma_w2, noise=noise, activation=activation, n_networks=50, seed=seed, pairs=None)


@pytest.mark.parametrize("noise", [npl.Dropout(0.6), npl.GaussianNoise(0.25)], ids=repr)
def test_critical_runs_stay_at_q0(noise):
    res = fifteen_layers(npl.critical_sigma_w2(noise), noise, seed=40)
    q = res.q_mean()
    assert np.all((q >= 3.6) & (q <= 4.4)), q


@pytest.mark.parametrize(
    "noise,factor",
    [(npl.Dropout(0.6), 1.15**2), (npl.Dropout(0.6), 0.85**2), (npl.GaussianNoise(0.25), 1.25**2), (npl.GaussianNoise(0.25), 0.75**2)],
    ids=["dropout-over", "dropout-under", "gauss-over", "gauss-under"],
)
def test_off_critical_runs_follow_q0_r_to_the_l(noise, factor):
    res = fifteen_layers(factor * npl.critical_sigma_w2(noise), noise, seed=41)
    ratio = res.q_mean() / (4.0 * factor ** np.arange(16))
    assert np.all((ratio >= 0.8) & (ratio <= 1.25)), ratio


def test_relu_he_with_additive_noise_grows_linearly():
    res = fifteen_layers(2.0, npl.AdditiveGaussianNoise(1.0), seed=42)
    q = res.q_mean()[:11]
    ratio = q / (4.0 + 2.0 * np.arange(11))
    assert np.all((ratio >= 0.92) & (ratio <= 1.08)), ratio


def test_tanh_with_additive_noise_settles_at_its_fixed_point():
    res = fifteen_layers(1.0, npl.AdditiveGaussianNoise(1.0), activation="tanh", seed=43)
    q = res.q_mean()[3:]
    assert np.all((q >= 1.39) & (q <= 1.54)), q


# ---------------------------------------------------------------------------
# correlations (CLAIMS 11, 26, 27) and the shared mask
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(FIG4))
def test_single_layer_correlation_map(name):
    noise, sw = FIG4[name]
    cin = np.linspace(0.0, 1.0, 11)
    x, pairs, group = npl.correlated_inputs(cin, 5, N, seed=50)
    res = npl.propagate(x, 1, sw, noise=noise, n_networks=50, seed=51, pairs=pairs)
    cout = np.array([res.c_mean(np.nonzero(group == g)[0])[1] for g in range(len(cin))])
    theory = npl.correlation_map(cin, noise=noise)
    assert np.max(np.abs(cout - theory)) <= 0.03, np.c_[cin, cout, theory]


def test_correlation_map_does_not_depend_on_sigma_w2():
    noise = npl.Dropout(0.6)
    x, pairs, _ = npl.correlated_inputs([0.5], 20, N, seed=52)
    theory = npl.correlation_map(0.5, noise=noise)
    for k, factor in enumerate([0.5, 1.2, 3.0]):
        res = npl.propagate(x, 1, factor * 1.2, noise=noise, n_networks=50, seed=53 + k, pairs=pairs)
        assert abs(res.c_mean()[1] - theory) <= 0.02


@pytest.mark.slow
@pytest.mark.parametrize("name,cstar", [("dropout 0.6", 0.284), ("dropout 0.8", 0.473), ("gauss 0.25", 0.720), ("gauss 2", 0.071)])
def test_thirty_layers_converge_to_c_star(name, cstar):
    noise, sw = FIG4[name]
    assert npl.correlation_fixed_point(noise) == pytest.approx(cstar, abs=5e-4)
    for k, c0 in enumerate([0.0, 0.5, 0.9]):
        x, pairs, _ = npl.correlated_inputs([c0], 20, N, seed=60 + k)
        res = npl.propagate(x, 30, sw, noise=noise, n_networks=20, seed=61 + k, pairs=pairs)
        assert abs(res.c_mean()[-1] - cstar) <= 0.03, (c0, res.c_mean()[-1])


def test_noiseless_relu_creeps_to_one():
    x, pairs, _ = npl.correlated_inputs([0.0], 20, N, seed=70)
    res = npl.propagate(x, 30, 2.0, n_networks=20, seed=71, pairs=pairs)
    assert abs(res.c_mean()[-1] - 0.972) <= 0.02


def test_shared_mask_keeps_correlation_one_reachable():
    noise = npl.Dropout(0.6)
    x, pairs, _ = npl.correlated_inputs([0.5], 20, N, seed=72)
    shared = npl.propagate(x, 30, 1.2, noise=noise, n_networks=20, seed=73, pairs=pairs, shared_mask=True)
    theory = npl.iterate_correlation_map(0.5, 30, noise=noise, shared_mask=True)[-1]
    assert abs(shared.c_mean()[-1] - theory) <= 0.03
    assert theory > 0.95  # far from the independent-mask fixed point 0.284


def test_identical_inputs_with_shared_mask_stay_identical():
    # the covariance of identical inputs is singular: the Gram route must fall back to an exact square root
    x = npl.gaussian_inputs(1, N, seed=74).repeat(4, 1)
    res = npl.propagate(x, 10, 1.2, noise=npl.Dropout(0.6), n_networks=5, seed=75, shared_mask=True, method="gram")
    assert np.all(res.failed_layer == -1)
    assert np.allclose(res.c[1:], 1.0, atol=1e-5)
    indep = npl.propagate(x, 3, 1.2, noise=npl.Dropout(0.6), n_networks=20, seed=76, method="gram")
    assert abs(indep.c_mean()[1] - 0.6) <= 0.03  # c-map(1) = 1/mu2


# ---------------------------------------------------------------------------
# the two routes agree in distribution
# ---------------------------------------------------------------------------


def test_gram_and_explicit_routes_have_the_same_distribution():
    noise = npl.Dropout(0.7)
    x, pairs, _ = npl.correlated_inputs([0.2, 0.8], 2, 200, seed=80)
    kw = dict(noise=noise, n_networks=600, pairs=pairs, width=200, dtype="float64")
    g = npl.propagate(x, 2, 1.5, sigma_b2=0.1, method="gram", seed=81, **kw)
    e = npl.propagate(x, 2, 1.5, sigma_b2=0.1, method="explicit", seed=82, **kw)
    for layer in (1, 2):
        for a, b in [(g.q[layer, :, 0], e.q[layer, :, 0]), (g.c[layer, :, 0], e.c[layer, :, 0]), (g.c[layer, :, 3], e.c[layer, :, 3])]:
            z = (a.mean() - b.mean()) / math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
            assert abs(z) < 4, z
            assert stats.ks_2samp(a, b).pvalue > 1e-3
            # spreads agree: log variance ratio within 4 of its standard error sqrt(2/(n-1) * 2)
            assert abs(math.log(a.var(ddof=1) / b.var(ddof=1))) < 4 * math.sqrt(4 / (a.size - 1))


def test_auto_route_choice():
    small = npl.propagate(npl.gaussian_inputs(4, 64, seed=0), 1, 2.0, n_networks=2, seed=0)
    large = npl.propagate(npl.gaussian_inputs(40, 64, seed=0), 1, 2.0, n_networks=2, seed=0)
    assert small.config["method"] == "gram" and large.config["method"] == "explicit"


# ---------------------------------------------------------------------------
# overflow and underflow (against overflow_depth)
# ---------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sigma_w2,kind", [(0.3, "underflow"), (0.6, "underflow"), (1.8, "overflow"), (2.5, "overflow")])
def test_float32_overflow_layer_matches_the_theory(sigma_w2, kind):
    keep = 0.6
    noise = npl.Dropout(keep)
    predicted = npl.overflow_depth(sigma_w2, noise, q0=1.0, dtype="float32")
    x = npl.gaussian_inputs(8, N, q0=1.0, seed=90)
    res = npl.propagate(x, int(predicted) + 40, sigma_w2, noise=noise, n_networks=8, seed=91, pairs=None)
    assert set(res.failure) == {kind}
    # finite width: ln q^L fluctuates with standard deviation sqrt(L (6/p - 1) / N); in layers that is
    # sd / |ln r|, and the first of 8 inputs to cross is early by up to a few sd
    r = sigma_w2 / (2 * keep)
    sd_layers = math.sqrt(predicted * (6 / keep - 1) / N) / abs(math.log(r))
    assert np.all(res.failed_layer >= predicted - 4 * sd_layers - 2), (res.failed_layer, predicted)
    assert np.all(res.failed_layer <= predicted + 3 * sd_layers + 2), (res.failed_layer, predicted)
    # statistics before the failure are kept and finite; after it they are NaN
    for m, fl in enumerate(res.failed_layer):
        assert np.all(np.isfinite(res.q[:fl, m])) and np.all(np.isnan(res.q[fl:, m]))
    assert res.alive[0] == 8 and res.alive[-1] == 0


def test_critical_network_never_overflows():
    x = npl.gaussian_inputs(4, N, q0=1.0, seed=92)
    res = npl.propagate(x, 300, 1.2, noise=npl.Dropout(0.6), n_networks=4, seed=93, pairs=None)
    assert np.all(res.failed_layer == -1) and np.all(np.isfinite(res.q))


def test_nan_inputs_from_an_exploding_float64_net_are_reported_not_propagated():
    x = npl.gaussian_inputs(3, 50, q0=1.0, seed=94)
    res = npl.propagate(x, 2000, 50.0, n_networks=2, seed=95, dtype="float64", pairs=None)
    assert set(res.failure) == {"overflow"}
    assert np.all(res.failed_layer > 0)


# ---------------------------------------------------------------------------
# determinism, options, results
# ---------------------------------------------------------------------------


def test_same_seed_same_result_and_generator_equivalent():
    x = npl.gaussian_inputs(5, 100, seed=1)
    a = npl.propagate(x, 5, 1.2, noise=npl.Dropout(0.6), n_networks=3, seed=7)
    b = npl.propagate(x, 5, 1.2, noise=npl.Dropout(0.6), n_networks=3, seed=7)
    c = npl.propagate(x, 5, 1.2, noise=npl.Dropout(0.6), n_networks=3, seed=8)
    d = npl.propagate(x, 5, 1.2, noise=npl.Dropout(0.6), n_networks=3, generator=torch.Generator().manual_seed(7))
    assert np.array_equal(a.q, b.q) and np.array_equal(a.c, b.c)
    assert not np.array_equal(a.q, c.q)
    assert np.array_equal(a.q, d.q)


def test_inputs_are_not_modified():
    x = npl.gaussian_inputs(3, 50, seed=2)
    before = x.clone()
    identity = npl.Activation(lambda v: v, lambda v: np.ones_like(v), name="identity", torch_fn=lambda t: t)
    npl.propagate(x, 3, 1.0, noise=npl.Dropout(0.5), activation=identity, n_networks=2, seed=0)
    assert torch.equal(x, before)


def test_float64_and_pearson_options():
    x, pairs, _ = npl.correlated_inputs([0.5], 10, 500, seed=3)
    r64 = npl.propagate(x, 3, 1.6, noise=npl.Dropout(0.8), n_networks=10, seed=4, pairs=pairs, dtype="float64")
    rp = npl.propagate(x, 3, 1.6, noise=npl.Dropout(0.8), n_networks=10, seed=4, pairs=pairs, dtype="float64", correlation="pearson")
    assert r64.config["dtype"] == "float64"
    assert np.allclose(r64.q, rp.q)  # same random stream, same lengths
    # at initialisation the mean over units is O(N^-1/2): Pearson and cosine correlations nearly agree
    assert np.max(np.abs(r64.c_mean() - rp.c_mean())) < 0.05


def test_layer_zero_reports_the_inputs():
    x, pairs, _ = npl.correlated_inputs([0.3, -0.4], 3, 300, q0=2.5, seed=5)
    res = npl.propagate(x, 1, 2.0, n_networks=2, seed=0, pairs=pairs)
    assert np.allclose(res.c[0], np.repeat([0.3, -0.4], 3)[None, :])
    assert np.allclose(res.q[0], (x.numpy() ** 2).mean(axis=1)[None, :])


def test_network_batches_bound_memory_and_keep_statistics():
    x = npl.gaussian_inputs(10, 200, q0=4.0, seed=6)
    res = npl.propagate(x, 5, 1.2, noise=npl.Dropout(0.6), n_networks=40, seed=9, network_batch=7, pairs=None)
    assert res.config["network_batch"] == 7
    assert np.all(np.isfinite(res.q))
    assert abs(res.q_mean()[-1] / 4.0 - 1) < 0.1


def test_real_data_shaped_inputs():
    # inputs of a different dimension than the width (e.g. 784 pixels into width 300), values in [0, 1]
    rng = np.random.default_rng(0)
    x = rng.random((12, 784))
    res = npl.propagate(x, 3, 1.2, noise=npl.Dropout(0.6), width=300, n_networks=4, seed=0, pairs=None)
    qx = (x**2).mean()  # ReLU is the identity on [0, 1]: q^1 = sigma_w2 mu2 E[x^2]
    assert res.q_mean()[1] == pytest.approx(1.2 / 0.6 * qx, rel=0.1)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------


X = npl.gaussian_inputs(3, 20, seed=0)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(width=0), "width"),
        (dict(depth=0), "depth"),
        (dict(depth=2.5), "depth"),
        (dict(sigma_w2=-1.0), "sigma_w2"),
        (dict(sigma_b2=-0.1), "sigma_b2"),
        (dict(n_networks=0), "n_networks"),
        (dict(inputs=np.ones(20)), "inputs must have shape"),
        (dict(inputs=np.full((2, 20), np.nan)), "inf or NaN"),
        (dict(inputs=np.ones((2, 20), dtype=complex)), "inputs"),
        (dict(pairs=np.array([[0, 5]])), "pairs must index"),
        (dict(pairs=np.array([0, 1])), "pairs must be"),
        (dict(pairs="some"), "pairs must be"),
        (dict(device="tpu"), "device"),
        (dict(dtype="float16"), "dtype"),
        (dict(method="fast"), "method"),
        (dict(correlation="spearman"), "correlation"),
        (dict(seed=-1), "seed"),
        (dict(seed=1, generator=torch.Generator()), "either seed or generator"),
        (dict(noise=npl.Dropout(np.array([0.5, 0.6]))), "scalar"),
        (dict(noise="dropout"), "noise"),
        (dict(activation=npl.Activation(np.tanh)), "torch"),
        (dict(network_batch=0), "network_batch"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(kwargs, match):
    args = dict(inputs=X, depth=2, sigma_w2=2.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        npl.propagate(args.pop("inputs"), args.pop("depth"), args.pop("sigma_w2"), n_networks=args.pop("n_networks", 2), **args)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when CUDA is absent")
def test_cuda_requested_without_cuda():
    with pytest.raises(ValueError, match="CUDA is not available"):
        npl.propagate(X, 1, 2.0, n_networks=1, device="cuda")


def test_input_helpers_validate():
    with pytest.raises(ValueError, match="q0"):
        npl.gaussian_inputs(3, 10, q0=0.0)
    with pytest.raises(ValueError, match="correlations"):
        npl.correlated_inputs([1.5], 3, 10)
    with pytest.raises(ValueError, match="n_per_value"):
        npl.correlated_inputs([0.5], 0, 10)
