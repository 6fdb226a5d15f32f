"""Shared internals of the maps and of criticality (private): parameters, noise moments, the common length.

:mod:`.meanfield` (the maps) and :mod:`.criticality` (fixed points, depth scales) both normalise their
arguments here, so that neither imports the other's privates and the import graph stays one way:
``_moments -> meanfield -> criticality``.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_range
from .activations import LeakyReLU, get_activation
from .noise import ADDITIVE, Noise, as_noise


def _params(sigma_w2, sigma_b2):
    sw = check_range("sigma_w2", sigma_w2, 0.0, None)
    sb = check_range("sigma_b2", sigma_b2, 0.0, None)
    return sw, sb


def _noise_moments(noise: Noise, shared_mask: bool):
    """(diagonal factor, off-diagonal factor, additive variance) of the noise."""
    if noise.kind == ADDITIVE:
        v = np.asarray(noise.variance, dtype=float)
        return np.ones_like(v), np.ones_like(v), v, (v if shared_mask else np.zeros_like(v))
    mu2 = np.asarray(noise.mu2, dtype=float)
    off = mu2 if shared_mask else np.asarray(noise.mu1, dtype=float) ** 2
    return mu2, off, np.zeros_like(mu2), np.zeros_like(mu2)


def _variance_step(q, sw, sb, nz, act):
    """One step of the variance map on validated arguments (the body of :func:`.meanfield.variance_map`)."""
    diag, _, add_var, _ = _noise_moments(nz, False)
    return sw * (diag * act.second_moment(q) + add_var) + sb


def _affine_variance_map(sw, sb, nz, act):
    """(slope r, offset beta) of a rectifier's affine variance map."""
    gain = act.gain
    if nz.kind == ADDITIVE:
        v = np.asarray(nz.variance, dtype=float)
        return sw * gain, sw * v + sb
    mu2 = np.asarray(nz.mu2, dtype=float)
    return sw * mu2 * gain, sb + 0.0 * mu2


def _variance_fixed_point(sigma_w2, sigma_b2, nz, act, q0=1.0, max_iter=100_000, tol=1e-13, stacklevel=3):
    """The algorithm of :func:`.meanfield.variance_fixed_point` (``nz`` and ``act`` already normalised)."""
    sw = check_range("sigma_w2", sigma_w2, 0.0, None)
    sb = check_range("sigma_b2", sigma_b2, 0.0, None)
    q0 = check_range("q0", q0, 0.0, None)
    if isinstance(act, LeakyReLU):
        r, beta = _affine_variance_map(sw, sb, nz, act)
        r, beta, q0b = np.broadcast_arrays(r, beta, q0)
        out = np.full(r.shape, np.inf)
        lt = r < 1
        with np.errstate(divide="ignore", invalid="ignore"):
            out[lt] = beta[lt] / (1.0 - r[lt])
        eq = (r == 1) & (beta == 0)
        out[eq] = q0b[eq]
        gt0 = (r > 1) & (beta == 0) & (q0b == 0)
        out[gt0] = 0.0
        return out
    q = np.broadcast_to(q0, np.broadcast(sw, sb, q0, np.asarray(nz.mu2)).shape).astype(float)
    done = np.zeros(q.shape, dtype=bool)
    for _ in range(int(max_iter)):
        q_new = np.asarray(_variance_step(np.minimum(q, 1e300), sw, sb, nz, act), dtype=float)
        step = np.abs(q_new - q)
        done = (step <= tol * np.maximum(q_new, 1e-300)) | (q_new > 1e300) | (q_new == q)
        q = q_new
        if np.all(done):
            break
    q = np.where(q > 1e300, np.inf, q)
    if not np.all(done):
        warnings.warn(f"variance_fixed_point: {np.sum(~done)} point(s) did not converge in {max_iter} iterations",
                      RuntimeWarning, stacklevel=stacklevel)
    return q


def _is_rectifier_multiplicative_unbiased(act, nz, sb) -> bool:
    return isinstance(act, LeakyReLU) and nz.kind != ADDITIVE and np.all(np.asarray(sb) == 0)


def _prepare(activation, noise, sigma_w2, sigma_b2):
    """Normalise the arguments shared by the correlation functions.

    Returns ``(activation, noise, sigma_b2, closed)``, where ``closed`` says that
    sigma_w2 and q cancel from the correlation map (a rectifier, multiplicative
    noise and no bias), so the closed forms apply and sigma_w2 may be omitted.
    """
    act = get_activation(activation)
    nz = as_noise(noise)
    sb = check_range("sigma_b2", sigma_b2, 0.0, None)
    closed = _is_rectifier_multiplicative_unbiased(act, nz, sb)
    if closed and sigma_w2 is not None:
        check_range("sigma_w2", sigma_w2, 0.0, None)
    return act, nz, sb, closed


def _general_case(q, sigma_w2, sb, nz, act, shared_mask):
    """Common length q, parameters, output variance q_aa and off-diagonal noise terms, for the quadrature path."""
    q_eff = _resolve_q(q, sigma_w2, sb, nz, act)
    sw, sb = _params(sigma_w2, sb)
    diag, off, add_var, add_off = _noise_moments(nz, shared_mask)
    qaa = sw * (diag * act.second_moment(q_eff) + add_var) + sb
    _check_nonzero_length(qaa)
    return q_eff, sw, sb, qaa, off, add_off


def _check_nonzero_length(qaa):
    if np.any(np.asarray(qaa) <= 0):
        raise ValueError(
            "the output variance q^l is zero (q = 0 with sigma_b2 = 0), so the correlation is undefined; "
            "use q > 0 or sigma_b2 > 0"
        )


def _resolve_q(q, sigma_w2, sigma_b2, nz, act):
    if sigma_w2 is None:
        raise ValueError(
            "sigma_w2 is required here: it only cancels from the correlation map for rectifiers with "
            "multiplicative noise and sigma_b2 = 0"
        )
    if q is not None:
        return np.maximum(check_range("q", q, 0.0, None), 1e-12)
    qs = np.asarray(_variance_fixed_point(sigma_w2, sigma_b2, nz, act), dtype=float)
    if np.any(~np.isfinite(qs)):
        raise ValueError(
            "the variance map has no finite stable fixed point for these parameters (the variance "
            "grows without bound), so pass the input variance q explicitly"
        )
    return np.maximum(qs, 1e-12)
