"""Validation of the arguments every Gaussian moment takes: variances and correlations (private).

Shared by the quadrature (:mod:`.gauss`), the kernels and activations (:mod:`.activations`) and the maps.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_real_array, check_range

_C_TOL = 1e-12  # rounding slack accepted (and clipped) outside [-1, 1]
_Q_TINY = 1e-300  # derivative moments at q = 0 are taken as the limit q -> 0+


def _check_c(c) -> np.ndarray:
    arr = as_real_array("c", c)
    if np.any(np.isnan(arr)) or np.any(np.abs(arr) > 1.0 + _C_TOL):
        bad = arr[np.isnan(arr) | (np.abs(arr) > 1.0 + _C_TOL)]
        raise ValueError(f"c (a correlation) must lie in [-1, 1], got {bad.ravel()[:3].tolist()}")
    return np.clip(arr, -1.0, 1.0)


def _check_q(name, q) -> np.ndarray:
    return check_range(name, q, 0.0, None)
