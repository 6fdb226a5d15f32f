"""Depth-scale estimators: recover a known depth scale from noisy synthetic trajectories; bad input is named."""
import numpy as np
import pytest

from noisyprop_lib.theory import estimate as E


def _synthetic(xi=2.5, c_star=0.4, starts=(0.0, 0.9, 0.4), depth=30, n_networks=50, noise=0.003, seed=0):
    rng = np.random.default_rng(seed)
    layers = np.arange(depth + 1)
    mean = np.array([c_star + (c0 - c_star) * np.exp(-layers / xi) for c0 in starts])
    return mean[:, :, None] + noise * rng.standard_normal((len(starts), depth + 1, n_networks)), np.array(starts)


def test_fit_depth_scale_recovers_a_known_depth_scale():
    per, starts = _synthetic()
    fit = E.fit_depth_scale(per, starts, 0.4, bootstrap=100, seed=1)
    assert abs(fit.c_hat - 0.4) < 1e-3
    assert [g for g, _ in fit.windows] == [0, 1]  # the start at c* is skipped
    assert all(n >= 3 for _, n in fit.windows)
    assert 0 < fit.se < 0.2
    assert abs(fit.xi - 2.5) < 4 * fit.se + 0.05
    assert float(fit) == fit.xi and fit.boot.shape == (100,)


def test_the_bootstrap_is_reproducible_and_takes_a_generator():
    per, starts = _synthetic()
    a = E.fit_depth_scale(per, starts, 0.4, bootstrap=20, seed=3)
    b = E.fit_depth_scale(per, starts, 0.4, bootstrap=20, seed=np.random.default_rng(3))
    np.testing.assert_array_equal(a.boot, b.boot)
    assert np.isnan(E.fit_depth_scale(per, starts, 0.4, bootstrap=0).se)


def test_fit_on_windows_is_exact_on_an_exponential():
    c = 0.4 + 0.5 * np.exp(-np.arange(31) / 2.5)
    assert E.fit_on_windows(c[None], 0.4, [(0, 12)]) == pytest.approx(2.5, rel=1e-10)


def test_the_paper_fit_matches_a_hand_polyfit():
    c = np.stack([0.4 + 0.5 * np.exp(-np.arange(31) / 2.5), 0.4 - 0.4 * np.exp(-np.arange(31) / 2.5)])
    fit = E.fit_depth_scale_paper(c)
    hand = []
    for row in np.abs(c - c[:, -1:]):
        keep = row > 0
        hand.append(-1.0 / np.polyfit(np.arange(31)[keep], np.log(row[keep]), 1)[0])
    assert fit.per_start == pytest.approx(hand, rel=1e-12) and fit.xi == pytest.approx(np.mean(hand), rel=1e-12)
    assert E.fit_depth_scale_paper(c, floor=1e-12).xi == pytest.approx(2.5, rel=0.2)


@pytest.mark.parametrize("call,name", [
    (lambda per, s: E.fit_depth_scale(per[0], s, 0.4), "per_network"),
    (lambda per, s: E.fit_depth_scale(per, s[:2], 0.4), "starts"),
    (lambda per, s: E.fit_depth_scale(per, s, 1.5), "c_star"),
    (lambda per, s: E.fit_depth_scale(per, s, 0.4, snr=0), "snr"),
    (lambda per, s: E.fit_depth_scale(per, s, 0.4, bootstrap=-1), "bootstrap"),
    (lambda per, s: E.fit_depth_scale(per, s, 0.4, tail=99), "tail"),
    (lambda per, s: E.fit_depth_scale(per, s, 0.4, min_layers=1), "min_layers"),
    (lambda per, s: E.fit_depth_scale_paper(np.zeros(2)), "trajectories"),
    (lambda per, s: E.fit_depth_scale_paper(per[:, :, 0], floor=-1), "floor"),
    (lambda per, s: E.fit_on_windows(per[:, :, 0], 0.4, []), "windows"),
    (lambda per, s: E.fit_on_windows(per[:, :, 0], 0.4, [(7, 3)]), "windows"),
])
def test_bad_input_names_the_parameter(call, name):
    per, starts = _synthetic(n_networks=5)
    with pytest.raises(ValueError, match=name):
        call(per, starts)
