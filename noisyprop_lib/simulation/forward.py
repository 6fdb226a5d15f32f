r"""Monte Carlo propagation through deep noisy networks, in torch, on CPU or GPU.

:func:`propagate` pushes a set of inputs through ``n_networks`` independent
random networks of the book's form,

.. math:: h^l = W^l\,\nu\big(\phi(h^{l-1}), \epsilon^{l-1}\big) + b^l,\qquad
          W^l_{ij}\sim\mathcal N(0, \sigma_w^2/N_{l-1}),\ b^l_i\sim\mathcal N(0,\sigma_b^2),

with the inputs themselves as :math:`h^0` (the convention of the paper's code),
and records per layer the length :math:`q^l_b = \frac1N\sum_i (h^l_{ib})^2` of
every input in every network and the correlations of chosen pairs of inputs.

**Two exact routes.** Given the previous layer's noisy signal :math:`Y`
(:math:`N_{l-1}\times B`), the rows of :math:`h^l` are independent Gaussian
vectors with covariance :math:`K = \frac{\sigma_w^2}{N_{l-1}}Y^\top Y + \sigma_b^2\mathbf 1\mathbf 1^\top`,
because a fresh weight matrix is drawn in every layer. So :math:`h^l` can be
sampled as :math:`Z L^\top` with :math:`LL^\top = K` and :math:`Z` standard
normal (``method="gram"``): :math:`O(NB^2)` work and :math:`NB` random numbers
instead of :math:`O(N^2B)` work and :math:`N^2` random numbers for the explicit
product :math:`W Y` (``method="explicit"``). Both have exactly the same
distribution; ``"auto"`` takes the Gram route when :math:`B \le N/2`.

**Overflow, not NaN.** In float32 a badly initialised network leaves the
floating-point range. A network is stopped at the first layer where its signal
contains inf or NaN, or where the variance of some input leaves the range of
the simulation dtype (above its largest finite value: ``"overflow"``; below its
smallest normal value, including exactly zero: ``"underflow"``). The statistics
of the layers before are kept; later layers are NaN for that network. The
variance criterion is the one :func:`noisyprop_lib.overflow_depth`
predicts.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .._progress import progress_bar
from .._validation import check_positive_int, check_range
from ._backend import _simulation_activation_and_noise, _torch_dtype, make_generator, resolve_device
from ._kernels import _Buffers, _check_options, _noisy_signal, _record_layer, _sample_explicit, _sample_gram, _stats
from .result import SimulationResult

__all__ = ["propagate"]


def propagate(
    inputs,
    depth: int,
    sigma_w2,
    sigma_b2=0.0,
    noise=None,
    activation="relu",
    *,
    n_networks: int = 50,
    width: int | None = None,
    pairs="auto",
    correlation: str = "cosine",
    shared_mask: bool = False,
    dtype="float32",
    device="auto",
    seed: int | None = None,
    generator=None,
    method: str = "auto",
    network_batch: int | None = None,
    memory_budget_mb: float | None = None,
    progress: bool | None = None,
) -> SimulationResult:
    r"""Propagate ``inputs`` through ``n_networks`` independent noisy networks and record per-layer statistics.

    Parameters
    ----------
    inputs : array-like, shape (n_inputs, input_dim)
        The inputs, used as :math:`h^0` (so the first layer applies the activation
        and the noise to them). See :func:`gaussian_inputs` and :func:`correlated_inputs`.
    depth : int
        Number of layers :math:`L\ge1`.
    sigma_w2, sigma_b2 : float
        Weight and bias **variances** (fan-in normalised).
    noise : Noise or None
        Injected noise, redrawn per unit, per input and per network.
    activation : Activation, str or callable
        Needs a torch implementation (all built-in activations have one).
    n_networks : int
        Number of independent networks (weights and noise).
    width : int, optional
        Hidden width :math:`N` (default: the input dimension).
    pairs : "auto", "all", None or array of shape (n_pairs, 2)
        Input pairs whose correlation is recorded; ``"auto"`` means all pairs when
        there are at most 64 inputs and none otherwise.
    correlation : {"cosine", "pearson"}
        ``"cosine"`` is the theory's :math:`q_{ab}/\sqrt{q_{aa}q_{bb}}`; ``"pearson"``
        centres each input's pre-activations across units first (the paper's code).
    shared_mask : bool
        Use one noise draw for all inputs of a network in each layer, instead of
        independent draws per input (the theory's assumption, the default).
    dtype : {"float32", "float64"}
    device : "auto", "cpu", "cuda" or torch.device
    seed, generator :
        Randomness: same seed, same result on the same device. Pass at most one.
    method : {"auto", "gram", "explicit"}
        How the pre-activations are sampled (see the module docstring); both routes
        are exact and have the same distribution.
    network_batch : int, optional
        Networks simulated at once; by default as many as fit ``memory_budget_mb``
        (256 MB on CPU, 4096 MB on GPU). Weight matrices exist for one layer at a time.
    progress : bool, optional
        Show a tqdm bar; by default only for long runs with a terminal.

    Returns
    -------
    SimulationResult
    """
    act, nz = _simulation_activation_and_noise(activation, noise)
    depth = check_positive_int("depth", depth)
    n_networks = check_positive_int("n_networks", n_networks)
    sw2 = float(check_range("sigma_w2", sigma_w2, 0.0, None))
    sb2 = float(check_range("sigma_b2", sigma_b2, 0.0, None))
    _check_options(correlation, method)
    dev = resolve_device(device)
    dt = _torch_dtype(dtype)
    gen = make_generator(seed, generator, dev)
    x = _check_inputs(inputs, dev, dt)
    n_inputs, in_dim = x.shape
    width = in_dim if width is None else check_positive_int("width", width)
    pair_idx = _check_pairs(pairs, n_inputs)
    route = method
    if route == "auto":
        route = "gram" if n_inputs <= width // 2 else "explicit"
    network_batch = _network_batch(network_batch, memory_budget_mb, n_networks, n_inputs, in_dim, width, route, dt, dev)

    q, c, failed_layer, failure = _run(x, pair_idx, n_networks, network_batch, depth, width, sw2, sb2, nz, act,
                                       shared_mask, route, gen, dt, dev, correlation, progress)

    config = dict(depth=depth, width=width, input_dim=in_dim, n_inputs=n_inputs, n_networks=n_networks, sigma_w2=sw2,
                  sigma_b2=sb2, noise=repr(nz), activation=act.name, shared_mask=bool(shared_mask), dtype=str(dt).replace("torch.", ""),
                  device=str(dev), method=route, correlation=correlation, network_batch=network_batch, seed=seed)
    return SimulationResult(q=q, c=c, pairs=pair_idx, failed_layer=failed_layer, failure=failure.astype(str), config=config)


def _run(x, pair_idx, n_networks, network_batch, depth, width, sw2, sb2, nz, act, shared_mask, route, gen, dt, dev,
         correlation, progress):
    """Run all networks, ``network_batch`` at a time: the arrays (q, c, failed_layer, failure) of the result."""
    n_inputs, in_dim = x.shape
    q = np.full((depth + 1, n_networks, n_inputs), np.nan)
    c = np.full((depth + 1, n_networks, len(pair_idx)), np.nan)
    failed_layer = np.full(n_networks, -1, dtype=np.int64)
    failure = np.array([""] * n_networks, dtype=object)
    q[0], c[0] = _stats(x[None], pair_idx, correlation)  # layer 0: the inputs themselves

    finfo = torch.finfo(dt)
    limits = (finfo.max, finfo.tiny)
    flops = n_networks * depth * (width * max(in_dim, width) * n_inputs if route == "explicit" else 2 * width * n_inputs**2)
    # the default rule of the progress bar: only for long runs (over 5e11 flops) with a terminal
    bar = progress_bar(math.ceil(n_networks / network_batch) * depth, progress=progress, desc=f"simulate ({route}, {dev.type})",
                       unit="layer", auto=flops > 5e11)
    pair_t = torch.as_tensor(pair_idx, device=dev)
    with torch.no_grad():
        for bstart in range(0, n_networks, network_batch):
            ids = np.arange(bstart, min(n_networks, bstart + network_batch))
            _run_batch(x, ids, depth, width, sw2, sb2, nz, act, shared_mask, route, gen, dt, dev, pair_t, pair_idx,
                       correlation, limits, q, c, failed_layer, failure, bar)
    bar.close()
    return q, c, failed_layer, failure


def _check_inputs(inputs, dev, dt):
    """The inputs as a (n_inputs, input_dim) tensor of the simulation's dtype on its device."""
    x = torch.as_tensor(np.asarray(inputs) if not isinstance(inputs, torch.Tensor) else inputs)
    if x.ndim != 2:
        raise ValueError(f"inputs must have shape (n_inputs, input_dim), got shape {tuple(x.shape)}")
    if not (x.dtype.is_floating_point or x.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise ValueError(f"inputs must be real numbers, got dtype {x.dtype}")
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"inputs must contain at least one input of dimension >= 1, got shape {tuple(x.shape)}")
    x = x.to(device=dev, dtype=dt)
    if not torch.all(torch.isfinite(x)):
        raise ValueError("inputs contain inf or NaN")
    return x


def _all_pairs(b: int) -> np.ndarray:
    i, j = np.triu_indices(b, k=1)
    return np.stack([i, j], axis=1).astype(np.int64)


def _check_pairs(pairs, n_inputs: int) -> np.ndarray:
    """The ``pairs`` argument of :func:`propagate` as an (n_pairs, 2) int64 array."""
    if isinstance(pairs, str):
        if pairs == "all" or (pairs == "auto" and n_inputs <= 64):
            return _all_pairs(n_inputs)
        if pairs == "auto":
            return np.zeros((0, 2), dtype=np.int64)
        raise ValueError(f"pairs must be 'auto', 'all', None or an (n_pairs, 2) array, got {pairs!r}")
    if pairs is None:
        return np.zeros((0, 2), dtype=np.int64)
    pair_idx = np.asarray(pairs)
    if pair_idx.ndim != 2 or pair_idx.shape[1] != 2 or pair_idx.dtype.kind not in "iu":
        raise ValueError(f"pairs must be an integer array of shape (n_pairs, 2), got shape {pair_idx.shape}")
    if pair_idx.size and (pair_idx.min() < 0 or pair_idx.max() >= n_inputs):
        raise ValueError(f"pairs must index inputs in [0, {n_inputs - 1}]")
    return pair_idx.astype(np.int64)


def _network_batch(network_batch, memory_budget_mb, n_networks, n_inputs, in_dim, width, route, dt, dev) -> int:
    """The networks simulated at once: ``network_batch``, or by default as many as fit the memory budget
    (256 MB on CPU, 4096 MB on GPU by default)."""
    elt = 4 if dt == torch.float32 else 8
    if memory_budget_mb is None:
        memory_budget_mb = 4096.0 if dev.type == "cuda" else 256.0
    budget = float(check_range("memory_budget_mb", memory_budget_mb, 0.0, None, low_inclusive=False)) * 2**20
    nprev = max(in_dim, width)
    per_net = elt * (4 * width * n_inputs + nprev * n_inputs + (width * nprev if route == "explicit" else 3 * n_inputs * n_inputs))
    if network_batch is None:
        return int(max(1, min(n_networks, budget // max(per_net, 1))))
    return check_positive_int("network_batch", network_batch)


def _run_batch(x, ids, depth, width, sw2, sb2, nz, act, shared_mask, route, gen, dt, dev, pair_t, pair_idx,
               correlation, limits, q, c, failed_layer, failure, bar):
    m = len(ids)
    h = x.unsqueeze(0).expand(m, -1, -1)  # (m, B, N0): inputs along dim 1, units along dim 2
    active = np.arange(m)  # positions within the batch still running
    bufs = _Buffers(dt, dev, gen)
    for layer in range(1, depth + 1):
        y, factor = _noisy_signal(h, nz, act, shared_mask, gen, dt, dev, bufs, own_h=layer > 1)
        h = (_sample_gram if route == "gram" else _sample_explicit)(y, factor, width, sw2, sb2, gen, dt, dev, bufs)
        h, active = _record_layer(h, layer, ids, active, pair_idx, correlation, limits, (q, c, failed_layer, failure), dev)
        bar.update(1)
        if active.size == 0:
            bar.update(depth - layer)
            break
