"""SimulationResult's standard errors count the surviving networks only (hand computations, with failures)."""
import numpy as np
import pytest

import noisyprop_lib as npl
from noisyprop_lib.simulation import SimulationResult


def _result():
    # depth 2, 4 networks, 2 inputs, 1 pair; network 3 fails at layer 2 (NaN from there on, as propagate records it)
    q = np.array([[[1.0, 1.0]] * 4,
                  [[1.0, 3.0], [2.0, 2.0], [3.0, 5.0], [6.0, 6.0]],
                  [[1.0, 1.0], [2.0, 4.0], [5.0, 5.0], [np.nan, np.nan]]])
    c = np.array([[[0.5]] * 4, [[0.1], [0.2], [0.3], [0.6]], [[0.2], [0.4], [0.9], [np.nan]]])
    return SimulationResult(q=q, c=c, pairs=np.array([[0, 1]]), failed_layer=np.array([-1, -1, -1, 2]),
                            failure=np.array(["", "", "", "overflow"]))


def test_q_sem_divides_by_the_surviving_networks():
    r = _result()
    assert r.alive.tolist() == [4, 4, 3]
    layer1 = np.array([2.0, 2.0, 4.0, 6.0])  # per-network input means
    layer2 = np.array([1.0, 3.0, 5.0])        # three survivors
    assert r.q_sem()[1] == pytest.approx(np.std(layer1, ddof=1) / np.sqrt(4))
    assert r.q_sem()[2] == pytest.approx(np.std(layer2, ddof=1) / np.sqrt(3))  # not sqrt(4)
    assert r.q_sem()[0] == 0.0


def test_c_sem_and_z_scores_by_hand():
    r = _result()
    se2 = np.std([0.2, 0.4, 0.9], ddof=1) / np.sqrt(3)
    assert r.c_sem()[2] == pytest.approx(se2)
    assert r.c_sem([0])[2] == pytest.approx(se2)
    z = r.z_scores(0.4, of="c")
    assert z[2] == pytest.approx((0.5 - 0.4) / se2)
    assert np.isnan(z[0])  # zero spread at the inputs: NaN, not inf
    zq = r.z_scores(np.array([1.0, 3.0, 2.0]))
    assert zq[1] == pytest.approx((3.5 - 3.0) / (np.std([2.0, 2.0, 4.0, 6.0], ddof=1) / 2))
    assert zq[2] == pytest.approx((3.0 - 2.0) / (np.std([1.0, 3.0, 5.0], ddof=1) / np.sqrt(3)))


def test_fewer_than_two_survivors_give_nan():
    r = _result()
    r.q[2, :2] = np.nan
    assert np.isnan(r.q_sem()[2]) and np.isnan(r.z_scores(1.0)[2])


def test_c_per_group_stacks_the_groups():
    x, pairs, group = npl.correlated_inputs([0.1, 0.8], 3, 30, seed=0)
    r = npl.propagate(x, 3, 2.0, n_networks=4, pairs=pairs, seed=1, device="cpu")
    per = r.c_per_group(group)
    assert per.shape == (2, 4, 4)
    for g in range(2):
        np.testing.assert_array_equal(per[g], r.c_per_network(np.flatnonzero(group == g)))


def test_bad_arguments_name_the_parameter():
    r = _result()
    with pytest.raises(ValueError, match="of must be"):
        r.z_scores(1.0, of="x")
    with pytest.raises(ValueError, match="group"):
        r.c_per_group([0, 1])
    with pytest.raises(ValueError, match="group"):
        r.c_per_group([-1])


def test_a_real_run_with_failures_uses_the_survivors():
    x = npl.gaussian_inputs(4, 20, seed=0)
    r = npl.propagate(x, 40, 30.0, n_networks=5, seed=9, device="cpu", pairs=None)
    layer = 33  # some networks have overflowed by now
    assert 1 < r.alive[layer] < 5
    per = r.q_per_network()[layer]
    alive = per[np.isfinite(per)]
    assert alive.size == r.alive[layer]
    assert r.q_sem()[layer] == pytest.approx(np.std(alive, ddof=1) / np.sqrt(alive.size))
