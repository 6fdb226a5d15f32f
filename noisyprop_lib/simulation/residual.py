r"""Monte Carlo propagation through deep residual networks with noise in the branch, in torch.

:func:`propagate_residual` simulates ``n_networks`` independent networks of blocks

.. math:: h^{l+1} = h^l + \alpha\,F(h^l),\qquad F = \text{branch\_depth layers } u\mapsto W\nu(\phi(u)) + b,

with fresh weights and noise in every block, and records per block the length of every input and
the correlations of chosen pairs (a :class:`SimulationResult`; layer 0 is the inputs, layer
:math:`l` the output of block :math:`l`). The skip connection needs equal widths: the width is the
input dimension.

Both sampling routes of :func:`~noisyprop_lib.propagate` stay exact: given the block input, the
branch output has i.i.d. Gaussian rows with the Gram covariance of its last noisy signal (fresh
weights), so it is sampled by ``method="gram"`` or by the explicit product as in a plain layer and
added to :math:`h^l`. It is uncorrelated with the skip term (the weights have mean zero), though not
independent of it: its covariance is a function of :math:`h^l`. Networks whose signal leaves the
floating-point range are stopped as in :func:`~noisyprop_lib.propagate`.

The mean-field theory (:mod:`noisyprop_lib.theory.residual`) assumes that the units of the inputs are
Gaussian; the skip carries the inputs' own finite-width empirical distribution to every block, so
to compare with it averaged over inputs as well, pass one input set per network (a 3-D ``inputs``).
"""
from __future__ import annotations

import numpy as np
import torch

from .._validation import check_positive_int, check_range
from ._backend import _simulation_activation_and_noise, _torch_dtype, make_generator, resolve_device
from ._kernels import _Buffers, _check_options, _noisy_signal, _record_layer, _sample_explicit, _sample_gram, _stats
from .forward import _check_inputs, _check_pairs
from .result import SimulationResult

__all__ = ["propagate_residual"]


def propagate_residual(
    inputs,
    depth: int,
    sigma_w2,
    sigma_b2=0.0,
    noise=None,
    activation="relu",
    *,
    alpha=1.0,
    branch_depth: int = 1,
    droppath_keep: float = 1.0,
    n_networks: int = 50,
    pairs="auto",
    correlation: str = "cosine",
    dtype="float32",
    device="auto",
    seed: int | None = None,
    generator=None,
    method: str = "auto",
    network_batch: int | None = None,
) -> SimulationResult:
    r"""Propagate ``inputs`` through ``n_networks`` independent noisy residual networks of ``depth`` blocks.

    Parameters
    ----------
    inputs : array-like, shape (n_inputs, width) or (n_networks, n_inputs, width)
        Block 0's input :math:`h^0`, the same for all networks, or one set per network. The width of
        every block is ``width`` (the skip needs equal widths).
    depth : int
        Number of residual blocks :math:`L\ge1`.
    sigma_w2, sigma_b2 : float
        Weight and bias **variances** of the branch layers (fan-in normalised).
    noise, activation :
        As in :func:`~noisyprop_lib.propagate` (independent noise per input; the branch's
        post-activations carry it).
    alpha : float
        Branch scale :math:`\alpha\ge0`; it multiplies the branch bias too.
    branch_depth : int
        Layers in each branch (1: :math:`h+\alpha(W\nu\phi(h)+b)`; 2: the pre-activation block).
    droppath_keep : float
        Keep probability :math:`p\in(0, 1]` of stochastic depth (DropPath): each block's branch is
        multiplied by :math:`m/p`, :math:`m\sim\text{Bernoulli}(p)`, one draw per network, input and
        block, shared by all units (1: no DropPath). See :mod:`noisyprop_lib.theory.droppath`.
    n_networks, pairs, correlation, dtype, device, seed, generator, method :
        As in :func:`~noisyprop_lib.propagate`.
    network_batch : int, optional
        Networks simulated at once (default: all, up to about 256 MB of signal on the CPU).

    Returns
    -------
    SimulationResult
    """
    act, nz = _simulation_activation_and_noise(activation, noise)
    depth = check_positive_int("depth", depth)
    n_networks = check_positive_int("n_networks", n_networks)
    k = check_positive_int("branch_depth", branch_depth)
    sw2 = float(check_range("sigma_w2", sigma_w2, 0.0, None))
    sb2 = float(check_range("sigma_b2", sigma_b2, 0.0, None))
    a = float(check_range("alpha", alpha, 0.0, None))
    keep = float(check_range("droppath_keep", droppath_keep, 0.0, 1.0, low_inclusive=False))
    _check_options(correlation, method)
    dev = resolve_device(device)
    dt = _torch_dtype(dtype)
    gen = make_generator(seed, generator, dev)
    x = _residual_inputs(inputs, n_networks, dev, dt)
    _, n_inputs, width = x.shape
    pair_idx = _check_pairs(pairs, n_inputs)
    route = method if method != "auto" else ("gram" if n_inputs <= width // 2 else "explicit")
    if network_batch is None:
        per_net = (4 if dt == torch.float32 else 8) * width * (n_inputs * (5 + k) + (width if route == "explicit" else 0))
        network_batch = int(max(1, min(n_networks, 256 * 2**20 // max(per_net, 1))))
    network_batch = check_positive_int("network_batch", network_batch)

    q = np.full((depth + 1, n_networks, n_inputs), np.nan)
    c = np.full((depth + 1, n_networks, len(pair_idx)), np.nan)
    failed_layer = np.full(n_networks, -1, dtype=np.int64)
    failure = np.array([""] * n_networks, dtype=object)
    finfo = torch.finfo(dt)
    with torch.no_grad():
        q[0], c[0] = _stats(x, pair_idx, correlation)
        for bstart in range(0, n_networks, network_batch):
            ids = np.arange(bstart, min(n_networks, bstart + network_batch))
            h = x.index_select(0, torch.as_tensor(ids, device=dev)) if x.shape[0] > 1 else x.expand(len(ids), -1, -1)
            _run_batch(h, ids, depth, (sw2, sb2, a, k, keep), nz, act, route, gen, dt, dev, pair_idx, correlation,
                       (finfo.max, finfo.tiny), (q, c, failed_layer, failure))
    config = dict(depth=depth, width=width, input_dim=width, n_inputs=n_inputs, n_networks=n_networks, sigma_w2=sw2,
                  sigma_b2=sb2, noise=repr(nz), activation=act.name, alpha=a, branch_depth=k, droppath_keep=keep, residual=True,
                  shared_mask=False, dtype=str(dt).replace("torch.", ""), device=str(dev), method=route,
                  correlation=correlation, network_batch=network_batch, seed=seed, per_network_inputs=x.shape[0] > 1)
    return SimulationResult(q=q, c=c, pairs=pair_idx, failed_layer=failed_layer, failure=failure.astype(str), config=config)


def _residual_inputs(inputs, n_networks, dev, dt):
    """The inputs as a (1 or n_networks, n_inputs, width) tensor."""
    t = inputs if isinstance(inputs, torch.Tensor) else torch.as_tensor(np.asarray(inputs))
    if t.ndim == 3:
        if t.shape[0] != n_networks:
            raise ValueError(f"3-D inputs must hold one input set per network, shape (n_networks={n_networks}, "
                             f"n_inputs, width), got shape {tuple(t.shape)}")
        return torch.stack([_check_inputs(t[i], dev, dt) for i in range(n_networks)])
    if t.ndim != 2:
        raise ValueError(f"inputs must have shape (n_inputs, width) or (n_networks, n_inputs, width), got shape "
                         f"{tuple(t.shape)}")
    return _check_inputs(t, dev, dt)[None]


def _block(h, params, nz, act, route, gen, dt, dev, bufs):
    r""":math:`h + \alpha F(h)` for h of shape (m, B, N); h itself is never written to (the skip needs it)."""
    sw2, sb2, a, k, keep = params
    sample = _sample_gram if route == "gram" else _sample_explicit
    width = h.shape[2]
    u = h
    for layer in range(k):
        # own_h only for the branch's own hidden signal: rectifying h in place would destroy the skip
        y, factor = _noisy_signal(u, nz, act, False, gen, dt, dev, bufs, own_h=layer > 0)
        u = sample(y, factor, width, sw2, sb2, gen, dt, dev, bufs)
    if keep < 1.0:  # DropPath: one mask per network and input, shared by the units
        mask = (torch.rand((u.shape[0], u.shape[1], 1), generator=gen, dtype=dt, device=dev) < keep).to(dt)
        u.mul_(mask.mul_(a / keep))
        return u.add_(h)
    return u.mul_(a).add_(h)


def _run_batch(h, ids, depth, params, nz, act, route, gen, dt, dev, pair_idx, correlation, limits, out):
    active = np.arange(len(ids))
    bufs = _Buffers(dt, dev, gen)
    for layer in range(1, depth + 1):
        h = _block(h, params, nz, act, route, gen, dt, dev, bufs)
        h, active = _record_layer(h, layer, ids, active, pair_idx, correlation, limits, out, dev)
        if active.size == 0:
            break
