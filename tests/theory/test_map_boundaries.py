"""Boundaries of the maps that earlier tests did not pin: an unbounded variance is inf, correlations stay in [-1, 1]."""
from __future__ import annotations

import math

import numpy as np
import pytest

import noisyprop_lib as npl


def test_an_unbounded_smooth_variance_is_infinite_not_huge():
    """GELU at sigma_w2 = 3 grows like q -> 1.5 q: the limit is inf (not a large finite number near 1e300), and the
    correlation map, which needs the fixed point, refuses instead of using a huge one."""
    assert npl.variance_fixed_point(3.0, activation="gelu") == math.inf
    assert npl.variance_fixed_point(3.0, activation="silu") == math.inf
    with pytest.raises(ValueError, match="no finite stable fixed point"):
        npl.correlation_map(0.5, sigma_w2=3.0, activation="gelu")


@pytest.mark.parametrize("act", ["tanh", "erf", "gelu", "silu"])
def test_correlations_of_identical_or_opposite_inputs_stay_in_range(act):
    sw = np.array([0.5, 1.0, 1.5, 2.0, 3.0, 4.0])
    for sb in (0.0, 0.05, 0.3):
        for s in sw:
            for nz in (None, npl.Dropout(0.8)):
                try:
                    out = npl.correlation_map(np.array([-1.0, 1.0]), s, sb, nz, act, q=1.0)
                except ValueError:
                    continue
                assert np.all(np.abs(out) <= 1.0), (act, s, sb, nz, out)
    # at the variance fixed point (q=None): tanh at sigma_w2 = 4 without bias would give |c| = 1 + 8e-15 unclipped
    for s in (3.5, 4.0) if act in ("tanh", "erf") else ():  # bounded activations: a finite fixed point
        out = npl.correlation_map(np.array([-1.0, 1.0]), s, 0.0, None, act)
        assert np.all(np.abs(out) <= 1.0), (act, s, out)
    # without noise, identical inputs stay identical: c = 1 maps to 1 to rounding
    assert float(npl.correlation_map(1.0, 1.5, 0.1, None, act, q=1.0)) == pytest.approx(1.0, abs=64 * np.finfo(float).eps)
