"""Input validation shared by the library's modules.

Every public function checks its arguments here so that a bad value raises a
``ValueError`` that names the parameter, shows the value and states the valid
range, instead of propagating NaN or a cryptic numpy error.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = ["as_real_array", "check_range", "check_positive_int", "check_finite"]


def _show(value) -> str:
    arr = np.asarray(value)
    if arr.ndim == 0:
        return repr(arr.item()) if arr.dtype != object else repr(value)
    bad = arr.ravel()
    return f"array of shape {arr.shape} (e.g. {bad[:3].tolist()})"


def as_real_array(name: str, value) -> np.ndarray:
    """Convert ``value`` to a float64 array, rejecting non-numeric input."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a real number, got the boolean {value!r}")
    if isinstance(value, str) or value is None:
        raise ValueError(f"{name} must be a real number or array of real numbers, got {value!r}")
    try:
        arr = np.asarray(value)
    except Exception as exc:  # pragma: no cover - numpy rarely fails here
        raise ValueError(f"{name} must be a real number or array, got {value!r}") from exc
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "c":
            raise ValueError(f"{name} must be real, got the complex value {_show(value)}")
        raise ValueError(f"{name} must be a real number or array of real numbers, got {_show(value)}")
    return arr.astype(np.float64)


def check_finite(name: str, value) -> np.ndarray:
    arr = as_real_array(name, value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {_show(arr[~np.isfinite(arr)])}")
    return arr


def check_range(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    allow_inf: bool = False,
) -> np.ndarray:
    """Return ``value`` as a float array after checking ``low <= value <= high``.

    The error message names the parameter, shows the offending value and the
    valid interval in standard notation, e.g. ``keep_prob must lie in (0, 1]``.
    """
    arr = as_real_array(name, value)
    if np.any(np.isnan(arr)):
        raise ValueError(f"{name} must not be NaN, got {_show(value)}")
    if not allow_inf and np.any(np.isinf(arr)):
        raise ValueError(f"{name} must be finite, got {_show(value)}")
    ok = np.ones(arr.shape, dtype=bool)
    if low is not None:
        ok &= (arr >= low) if low_inclusive else (arr > low)
    if high is not None:
        ok &= (arr <= high) if high_inclusive else (arr < high)
    if not np.all(ok):
        lo = "-inf" if low is None else f"{low:g}"
        hi = "inf" if high is None else f"{high:g}"
        lb = "[" if (low is not None and low_inclusive) else "("
        hb = "]" if (high is not None and high_inclusive) else ")"
        bad = arr[~ok]
        shown = repr(bad.item()) if arr.ndim == 0 else f"{bad.size} value(s) outside, e.g. {bad.ravel()[:3].tolist()}"
        raise ValueError(f"{name} must lie in {lb}{lo}, {hi}{hb}, got {shown}")
    return arr


def check_positive_int(name: str, value, *, minimum: int = 1) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def scalar_or_array(arr: np.ndarray):
    """Scalars in, scalars out: turn 0-d arrays into Python floats."""
    arr = np.asarray(arr)
    if arr.ndim == 0:
        return float(arr)
    return arr
