"""Monte Carlo of the backward pass: backpropagated gradient norms through random noisy networks."""
from __future__ import annotations

import math

import numpy as np
import torch

from .._validation import check_positive_int, check_range
from ._backend import _simulation_activation_and_noise, _torch_dtype, make_generator, resolve_device

__all__ = ["gradient_norm_ratio"]


def gradient_norm_ratio(
    depth: int,
    sigma_w2,
    noise=None,
    activation="relu",
    *,
    width: int = 500,
    batch: int = 32,
    n_runs: int = 20,
    sigma_b2=0.0,
    q0=1.0,
    dtype="float32",
    device="auto",
    seed: int | None = None,
    generator=None,
) -> np.ndarray:
    r"""Backpropagated squared gradient norms through random noisy networks, relative to the top layer.

    Each run draws a network of ``depth`` layers of width ``width`` (the book's
    form, :math:`h^l = W^l\nu(\phi(h^{l-1}),\epsilon^{l-1}) + b^l`, inputs as
    :math:`h^0`, noise redrawn per unit and per example), pushes a batch of
    ``batch`` Gaussian inputs of variance ``q0`` through it, and backpropagates
    the loss :math:`\ell = \sum_b g_b\cdot h^L_b` with a standard normal
    :math:`g` by autograd. The backward pass therefore multiplies by the **same
    noise draws** as the forward pass (:math:`\partial\nu/\partial\phi = \epsilon`:
    a dropped unit passes no gradient), as in training. Returned is

    .. math:: \rho^l = \frac{\|\partial\ell/\partial h^l\|^2}{\|\partial\ell/\partial h^L\|^2},\qquad l = 0,\dots,L,

    summed over the batch. In the mean-field limit (with the usual assumption
    that the backward weights are independent of the forward ones)
    :math:`E\rho^{l-1}/E\rho^{l} = \sigma_w^2\mu_2E[\phi'(u)^2]`, which for ReLU is
    :math:`\sigma_w^2\mu_2/2`: exactly 1 at noisy criticality
    (:func:`noisyprop_lib.gradient_depth_scale`; Schoenholz et al., 2017).

    Parameters
    ----------
    depth : int
        Number of layers :math:`L\ge1`.
    sigma_w2, sigma_b2 : float
        Weight and bias **variances** (fan-in normalised).
    noise : Noise or None
    activation : Activation, str or callable (with a torch implementation)
    width, batch, n_runs : int
        Width of every layer (and of the inputs), inputs per batch, independent networks.
    q0 : float
        Variance of the input entries.
    dtype : {"float32", "float64"}
    device : "auto", "cpu", "cuda" or torch.device
    seed, generator :
        Randomness; pass at most one.

    Returns
    -------
    numpy.ndarray of shape (n_runs, depth + 1)
        :math:`\rho^l` per run; column 0 is the ratio over all ``depth`` layers and
        column ``depth`` is 1.
    """
    act, nz = _simulation_activation_and_noise(activation, noise)
    depth = check_positive_int("depth", depth)
    width = check_positive_int("width", width)
    batch = check_positive_int("batch", batch)
    n_runs = check_positive_int("n_runs", n_runs)
    sw2 = float(check_range("sigma_w2", sigma_w2, 0.0, None, low_inclusive=False))
    sb2 = float(check_range("sigma_b2", sigma_b2, 0.0, None))
    q0 = float(check_range("q0", q0, 0.0, None, low_inclusive=False))
    dev = resolve_device(device)
    dt = _torch_dtype(dtype)
    gen = make_generator(seed, generator, dev)
    scale = math.sqrt(sw2 / width)
    out = np.empty((n_runs, depth + 1))
    with torch.enable_grad():
        for run in range(n_runs):
            norms = _squared_gradient_norms(depth, width, batch, scale, sb2, q0, nz, act, gen, dt, dev)
            if not np.all(np.isfinite(norms)):
                raise FloatingPointError(
                    f"the backpropagated gradient left the {dtype} range in run {run}; use dtype='float64' or fewer layers"
                )
            out[run] = norms / norms[-1]
    return out


def _squared_gradient_norms(depth, width, batch, scale, sb2, q0, nz, act, gen, dt, dev) -> np.ndarray:
    """One network's ``||d loss / d h^l||^2`` for l = 0..depth (the loss is a random projection of h^L)."""
    h = math.sqrt(q0) * torch.randn(batch, width, generator=gen, dtype=dt, device=dev)
    h.requires_grad_(True)
    hs = [h]
    for _ in range(depth):
        y = nz.apply(act.torch(hs[-1]), generator=gen)  # the draw is part of the graph: backward reuses it
        w = scale * torch.randn(width, width, generator=gen, dtype=dt, device=dev)
        h_next = y @ w.T
        if sb2 > 0:
            h_next = h_next + math.sqrt(sb2) * torch.randn(width, generator=gen, dtype=dt, device=dev)
        h_next.retain_grad()
        hs.append(h_next)
    g = torch.randn(batch, width, generator=gen, dtype=dt, device=dev)
    (hs[-1] * g).sum().backward()
    return torch.stack([hh.grad.double().pow(2).sum() for hh in hs]).cpu().numpy()
