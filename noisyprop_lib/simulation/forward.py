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
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_positive_int, check_range
from ..theory.activations import get_activation
from ..theory.noise import ADDITIVE, as_noise

__all__ = ["SimulationResult", "propagate", "gradient_norm_ratio", "gaussian_inputs", "correlated_inputs", "resolve_device", "make_generator"]


# ---------------------------------------------------------------------------
# devices, generators, dtypes
# ---------------------------------------------------------------------------


def _simulation_activation_and_noise(activation, noise):
    """The activation and noise of a simulation: the activation needs a torch implementation, the noise scalar parameters."""
    act = get_activation(activation)
    if act._torch_fn is None:
        raise ValueError(f"activation {act.name!r} has no torch implementation; build it with Activation(..., torch_fn=...)")
    nz = as_noise(noise)
    if not nz.is_scalar:
        raise ValueError(f"noise must have scalar parameters in a simulation, got {nz!r}")
    return act, nz


def resolve_device(device="auto"):
    """``"auto"`` gives CUDA when available, else CPU; anything else must name a usable torch device."""
    import torch

    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was requested but CUDA is not available; use device='auto' or 'cpu'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be a CPU or CUDA device, got {device!r}")
    return dev


def make_generator(seed=None, generator=None, device="cpu"):
    """A ``torch.Generator`` on ``device``: the one given, one seeded with ``seed``, or a fresh random one."""
    import torch

    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator, got {generator!r}")
        if seed is not None:
            raise ValueError("pass either seed or generator, not both")
        if torch.device(generator.device).type != torch.device(device).type:
            raise ValueError(f"generator is on {generator.device} but the simulation runs on {device}")
        return generator
    g = torch.Generator(device=device)
    if seed is None:
        g.seed()
    else:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        g.manual_seed(int(seed))
    return g


def _torch_dtype(dtype):
    import torch

    table = {"float32": torch.float32, "float64": torch.float64, torch.float32: torch.float32, torch.float64: torch.float64,
             np.float32: torch.float32, np.float64: torch.float64}
    try:
        return table[dtype]
    except (KeyError, TypeError):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------


def gaussian_inputs(n_inputs: int, dim: int, q0=1.0, seed=None, generator=None, dtype="float64"):
    r"""``n_inputs`` independent vectors in :math:`\mathbb R^{dim}` with i.i.d. :math:`\mathcal N(0, q_0)` entries.

    Returns a CPU tensor of shape ``(n_inputs, dim)``.
    """
    import torch

    n_inputs = check_positive_int("n_inputs", n_inputs)
    dim = check_positive_int("dim", dim)
    q0 = float(check_range("q0", q0, 0.0, None, low_inclusive=False))
    g = make_generator(seed, generator, "cpu")
    return math.sqrt(q0) * torch.randn(n_inputs, dim, generator=g, dtype=_torch_dtype(dtype))


def correlated_inputs(correlations, n_per_value: int, dim: int, q0=1.0, seed=None, generator=None, exact=True, dtype="float64"):
    r"""Sets of inputs with prescribed correlations to a common base vector.

    For each value :math:`c` in ``correlations`` a base vector :math:`x` and
    ``n_per_value`` vectors :math:`y_k = c\,x + \sqrt{1-c^2}\,e_k` are drawn, with
    :math:`x, e_k` having i.i.d. :math:`\mathcal N(0,q_0)` entries (the
    construction of the paper's Figure 4). With ``exact=True`` each :math:`e_k` is
    first made orthogonal to :math:`x` and rescaled to its length, so that the
    cosine correlation of :math:`(x, y_k)` is exactly :math:`c`.

    Returns
    -------
    inputs : torch.Tensor
        Shape ``(len(correlations) * (n_per_value + 1), dim)``: each group is its base
        vector followed by its ``n_per_value`` partners.
    pairs : numpy.ndarray
        Shape ``(len(correlations) * n_per_value, 2)``: index pairs (base, partner).
    group : numpy.ndarray
        For each pair, the index of its correlation value.
    """
    import torch

    cs = np.atleast_1d(check_range("correlations", correlations, -1.0, 1.0)).ravel()
    n = check_positive_int("n_per_value", n_per_value)
    dim = check_positive_int("dim", dim, minimum=2)
    q0 = float(check_range("q0", q0, 0.0, None, low_inclusive=False))
    g = make_generator(seed, generator, "cpu")
    dt = _torch_dtype(dtype)
    blocks, pairs, group = [], [], []
    for gi, c in enumerate(cs):
        x = math.sqrt(q0) * torch.randn(dim, generator=g, dtype=torch.float64)
        e = math.sqrt(q0) * torch.randn(n, dim, generator=g, dtype=torch.float64)
        if exact:
            xn = x / x.norm()
            e = e - (e @ xn)[:, None] * xn[None, :]
            e = e / e.norm(dim=1, keepdim=True) * x.norm()
        y = float(c) * x[None, :] + math.sqrt(max(0.0, 1.0 - float(c) ** 2)) * e
        start = gi * (n + 1)
        blocks.append(torch.cat([x[None, :], y], dim=0))
        pairs += [(start, start + k + 1) for k in range(n)]
        group += [gi] * n
    return torch.cat(blocks, dim=0).to(dt), np.array(pairs, dtype=np.int64), np.array(group, dtype=np.int64)


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass
class SimulationResult:
    r"""Per-layer statistics of a simulation.

    Attributes
    ----------
    q : numpy.ndarray
        ``(depth + 1, n_networks, n_inputs)``: :math:`q^l_b = \frac1N\sum_i (h^l_{ib})^2` of
        every input in every network (layer 0: the inputs). NaN from a network's failure on.
    c : numpy.ndarray
        ``(depth + 1, n_networks, n_pairs)``: correlation of each requested pair
        (cosine, as in the theory, or Pearson across units).
    pairs : numpy.ndarray
        ``(n_pairs, 2)`` input indices of the pairs.
    failed_layer : numpy.ndarray
        ``(n_networks,)``: first layer at which the network overflowed, underflowed
        or produced NaN; -1 if it ran to the end.
    failure : numpy.ndarray
        ``(n_networks,)`` of ``""``, ``"overflow"``, ``"underflow"`` or ``"nan"``.
    config : dict
        The parameters of the run (including the route taken and the device).
    """

    q: np.ndarray
    c: np.ndarray
    pairs: np.ndarray
    failed_layer: np.ndarray
    failure: np.ndarray
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def depth(self) -> int:
        return self.q.shape[0] - 1

    @property
    def alive(self) -> np.ndarray:
        """``(depth + 1,)``: number of networks still running at each layer."""
        layers = np.arange(self.depth + 1)[:, None]
        fl = np.where(self.failed_layer < 0, self.depth + 1, self.failed_layer)[None, :]
        return np.sum(layers < fl, axis=1)

    def q_per_network(self) -> np.ndarray:
        """``(depth + 1, n_networks)``: each network's mean length over the inputs."""
        return self.q.mean(axis=2)

    def q_mean(self) -> np.ndarray:
        """``(depth + 1,)``: mean length over inputs and surviving networks."""
        return _nanmean(self.q_per_network(), axis=1)

    def q_std(self) -> np.ndarray:
        """``(depth + 1,)``: spread (standard deviation) across surviving networks of their input-mean length."""
        return _nanstd(self.q_per_network(), axis=1)

    def c_per_network(self, pairs=None) -> np.ndarray:
        """``(depth + 1, n_networks)``: each network's mean correlation over the selected pairs (default all)."""
        sel = self.c if pairs is None else self.c[:, :, np.asarray(pairs)]
        return sel.mean(axis=2)

    def c_mean(self, pairs=None) -> np.ndarray:
        """``(depth + 1,)``: mean correlation over the selected pairs and surviving networks."""
        return _nanmean(self.c_per_network(pairs), axis=1)

    def c_std(self, pairs=None) -> np.ndarray:
        """``(depth + 1,)``: spread across surviving networks of their pair-mean correlation."""
        return _nanstd(self.c_per_network(pairs), axis=1)


def _nanmean(a, axis):
    with np.errstate(invalid="ignore"):
        cnt = np.sum(~np.isnan(a), axis=axis)
        s = np.nansum(a, axis=axis)
        return np.where(cnt > 0, s / np.maximum(cnt, 1), np.nan)


def _nanstd(a, axis):
    m = _nanmean(a, axis)
    with np.errstate(invalid="ignore"):
        cnt = np.sum(~np.isnan(a), axis=axis)
        d = np.nansum((a - np.expand_dims(m, axis)) ** 2, axis=axis)
        return np.where(cnt > 1, np.sqrt(d / np.maximum(cnt - 1, 1)), np.nan)


# ---------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------


def _all_pairs(b: int) -> np.ndarray:
    i, j = np.triu_indices(b, k=1)
    return np.stack([i, j], axis=1).astype(np.int64)


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
    import torch

    act, nz = _simulation_activation_and_noise(activation, noise)
    depth = check_positive_int("depth", depth)
    n_networks = check_positive_int("n_networks", n_networks)
    sw2 = float(check_range("sigma_w2", sigma_w2, 0.0, None))
    sb2 = float(check_range("sigma_b2", sigma_b2, 0.0, None))
    if correlation not in ("cosine", "pearson"):
        raise ValueError(f"correlation must be 'cosine' or 'pearson', got {correlation!r}")
    if method not in ("auto", "gram", "explicit"):
        raise ValueError(f"method must be 'auto', 'gram' or 'explicit', got {method!r}")
    dev = resolve_device(device)
    dt = _torch_dtype(dtype)
    gen = make_generator(seed, generator, dev)

    x = torch.as_tensor(np.asarray(inputs) if not isinstance(inputs, torch.Tensor) else inputs)
    if x.ndim != 2:
        raise ValueError(f"inputs must have shape (n_inputs, input_dim), got shape {tuple(x.shape)}")
    if not (x.dtype.is_floating_point or x.dtype in (torch.int32, torch.int64, torch.uint8)):
        raise ValueError(f"inputs must be real numbers, got dtype {x.dtype}")
    n_inputs, in_dim = x.shape
    if n_inputs < 1 or in_dim < 1:
        raise ValueError(f"inputs must contain at least one input of dimension >= 1, got shape {tuple(x.shape)}")
    x = x.to(device=dev, dtype=dt)
    if not torch.all(torch.isfinite(x)):
        raise ValueError("inputs contain inf or NaN")
    width = in_dim if width is None else check_positive_int("width", width)

    if isinstance(pairs, str):
        if pairs == "all" or (pairs == "auto" and n_inputs <= 64):
            pair_idx = _all_pairs(n_inputs)
        elif pairs == "auto":
            pair_idx = np.zeros((0, 2), dtype=np.int64)
        else:
            raise ValueError(f"pairs must be 'auto', 'all', None or an (n_pairs, 2) array, got {pairs!r}")
    elif pairs is None:
        pair_idx = np.zeros((0, 2), dtype=np.int64)
    else:
        pair_idx = np.asarray(pairs)
        if pair_idx.ndim != 2 or pair_idx.shape[1] != 2 or pair_idx.dtype.kind not in "iu":
            raise ValueError(f"pairs must be an integer array of shape (n_pairs, 2), got shape {pair_idx.shape}")
        if pair_idx.size and (pair_idx.min() < 0 or pair_idx.max() >= n_inputs):
            raise ValueError(f"pairs must index inputs in [0, {n_inputs - 1}]")
        pair_idx = pair_idx.astype(np.int64)

    route = method
    if route == "auto":
        route = "gram" if n_inputs <= width // 2 else "explicit"

    elt = 4 if dt == torch.float32 else 8
    if memory_budget_mb is None:
        memory_budget_mb = 4096.0 if dev.type == "cuda" else 256.0
    budget = float(check_range("memory_budget_mb", memory_budget_mb, 0.0, None, low_inclusive=False)) * 2**20
    nprev = max(in_dim, width)
    per_net = elt * (4 * width * n_inputs + nprev * n_inputs + (width * nprev if route == "explicit" else 3 * n_inputs * n_inputs))
    if network_batch is None:
        network_batch = int(max(1, min(n_networks, budget // max(per_net, 1))))
    else:
        network_batch = check_positive_int("network_batch", network_batch)

    q = np.full((depth + 1, n_networks, n_inputs), np.nan)
    c = np.full((depth + 1, n_networks, len(pair_idx)), np.nan)
    failed_layer = np.full(n_networks, -1, dtype=np.int64)
    failure = np.array([""] * n_networks, dtype=object)

    # layer 0: the inputs themselves
    q0, c0 = _stats(x[None], pair_idx, correlation)
    q[0] = q0
    c[0] = c0

    finfo = torch.finfo(dt)
    limits = (finfo.max, finfo.tiny)
    n_batches = math.ceil(n_networks / network_batch)
    if progress is None:
        flops = n_networks * depth * (width * nprev * n_inputs if route == "explicit" else 2 * width * n_inputs**2)
        progress = flops > 5e11 and sys.stderr.isatty()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_batches * depth, desc=f"simulate ({route}, {dev.type})", unit="layer")

    pair_t = torch.as_tensor(pair_idx, device=dev)
    with torch.no_grad():
        for bstart in range(0, n_networks, network_batch):
            ids = np.arange(bstart, min(n_networks, bstart + network_batch))
            _run_batch(x, ids, depth, width, sw2, sb2, nz, act, shared_mask, route, gen, dt, dev, pair_t, pair_idx,
                       correlation, limits, q, c, failed_layer, failure, bar)
    if bar is not None:
        bar.close()

    config = dict(depth=depth, width=width, input_dim=in_dim, n_inputs=n_inputs, n_networks=n_networks, sigma_w2=sw2,
                  sigma_b2=sb2, noise=repr(nz), activation=act.name, shared_mask=bool(shared_mask), dtype=str(dt).replace("torch.", ""),
                  device=str(dev), method=route, correlation=correlation, network_batch=network_batch, seed=seed)
    return SimulationResult(q=q, c=c, pairs=pair_idx, failed_layer=failed_layer, failure=failure.astype(str), config=config)


def _stats(h, pair_idx, correlation):
    """Per-input lengths and per-pair correlations of pre-activations ``h`` of shape (m, B, N).

    Computed in the simulation dtype; networks whose float32 statistics are not
    finite (a square above the float32 range, which happens a little before the
    variance itself leaves it) are recomputed in float64, so that overflow is
    judged on the variance, as the theory's overflow depth assumes.
    """
    import torch

    qv, cv = _stats_in(h, pair_idx, correlation)
    if h.dtype != torch.float64:
        bad = ~torch.isfinite(qv).all(dim=1)
        if cv.shape[1]:
            bad |= ~torch.isfinite(cv).all(dim=1) & torch.isfinite(qv).all(dim=1) & (qv > 0).all(dim=1)
        if torch.any(bad):
            q64, c64 = _stats_in(h[bad].to(torch.float64), pair_idx, correlation)
            qv = qv.to(torch.float64)
            cv = cv.to(torch.float64)
            qv[bad] = q64
            cv[bad] = c64
    return qv.to(torch.float64).cpu().numpy(), cv.to(torch.float64).cpu().numpy()


def _stats_in(h, pair_idx, correlation):
    import torch

    qv = (h * h).mean(dim=2)  # (m, B)
    m, nb, n = h.shape
    if len(pair_idx) == 0:
        return qv, torch.zeros((m, 0), dtype=h.dtype, device=h.device)
    hc = h - h.mean(dim=2, keepdim=True) if correlation == "pearson" else h
    qc = (hc * hc).mean(dim=2) if correlation == "pearson" else qv
    ia = torch.as_tensor(pair_idx[:, 0], device=h.device)
    ib = torch.as_tensor(pair_idx[:, 1], device=h.device)
    if 8 * len(pair_idx) > nb * nb:
        g = hc @ hc.transpose(1, 2) / n  # (m, B, B)
        num = g[:, ia, ib]
    else:
        num = (hc.index_select(1, ia) * hc.index_select(1, ib)).mean(dim=2)
    den = torch.sqrt(qc[:, ia] * qc[:, ib])
    cv = torch.where(den > 0, num / torch.where(den > 0, den, torch.ones_like(den)), torch.full_like(num, float("nan")))
    return qv, cv


class _Buffers:
    r"""Scratch tensors reused from layer to layer (fresh 20 MB allocations cost as much as filling them).

    On the CPU it also holds a NumPy PCG64 bit generator, seeded from the run's
    torch generator, for dropout masks: comparing raw 32-bit integers with
    :math:`\lfloor p\,2^{32}\rfloor` is an exact Bernoulli draw up to a bias below
    :math:`2.4\times10^{-10}` (torch's float32 ``rand`` is quantised to :math:`2^{-24}`),
    and takes half the time of ``torch.rand``.
    """

    def __init__(self, dt, dev, gen=None):
        import torch

        self.dt, self.dev, self.store = dt, dev, {}
        self.bits = None
        if dev.type == "cpu" and gen is not None:
            self.bits = np.random.PCG64(int(torch.randint(0, 2**62, (1,), generator=gen, device=dev)))

    def keep_mask(self, shape, p):
        """Boolean tensor of independent Bernoulli(p) draws (CPU only)."""
        import torch

        n = int(np.prod(shape))
        raw = self.bits.random_raw((n + 1) // 2).view(np.uint32)[:n].reshape(shape)
        return torch.from_numpy(raw < np.uint32(min(int(p * 2.0**32), 2**32 - 1)))

    def get(self, name, shape):
        import torch

        buf = self.store.get(name)
        if buf is None or tuple(buf.shape) != tuple(shape):
            buf = torch.empty(shape, dtype=self.dt, device=self.dev)
            self.store[name] = buf
        return buf


def _noisy_signal(h, nz, act, shared_mask, gen, dt, dev, bufs=None, own_h=False):
    """``nu(phi(h), eps)`` for h of shape (m, B, N), as (signal, scalar factor to apply later).

    A shared mask is one draw per unit for all B inputs. Inverted dropout is
    returned unscaled with factor ``1/p``, which the next layer folds into its
    weight scale (one pass over the signal instead of three).
    """
    import torch

    from ..theory.noise import Dropout

    from ..theory.activations import LeakyReLU

    if own_h and isinstance(act, LeakyReLU):
        # h is this run's own scratch tensor, no longer needed: rectify it in place
        y = torch.relu_(h) if act.alpha == 0 else torch.nn.functional.leaky_relu_(h, act.alpha)
    else:
        y = act.torch(h)
        if y.data_ptr() == h.data_ptr():  # an identity-like activation: never write into the caller's tensor
            y = y.clone()
    shape = (h.shape[0], 1, h.shape[2]) if shared_mask else h.shape
    if isinstance(nz, Dropout):
        p = float(nz.keep_prob)
        if p == 1.0:
            return y, 1.0
        if bufs is not None and bufs.bits is not None:
            return y.mul_(bufs.keep_mask(shape, p)), 1.0 / p
        u = torch.rand(shape, generator=gen, dtype=dt, device=dev, out=bufs.get("u", shape)) if bufs else torch.rand(shape, generator=gen, dtype=dt, device=dev)
        return y.mul_(u.lt_(p)), 1.0 / p  # u < p becomes the 0/1 mask in place
    if nz.kind == ADDITIVE:
        return y + nz.sample(shape, generator=gen, dtype=dt, device=dev), 1.0
    if nz.variance == 0 and nz.mu1 == 1:
        return y, 1.0
    return y * nz.sample(shape, generator=gen, dtype=dt, device=dev), 1.0


def _sample_gram(y, factor, width, sw2, sb2, gen, dt, dev, bufs=None):
    r"""Units of h ~ N(0, K) across the B inputs, K = (sigma_w2/N_prev) Y^T Y + sigma_b2 1 1^T, sampled as L Z.

    ``y`` has shape (m, B, N_prev); the result has shape (m, B, width).
    """
    import torch

    m, b, nprev = y.shape
    ys = y.mul_(factor * math.sqrt(sw2 / nprev))  # scale first (in place) so that K's entries are of the size of q, not N q
    k = ys @ ys.transpose(1, 2)
    if sb2 > 0:
        k = k + sb2
    # normalise by the mean variance so that the factorisation never sees subnormal or huge numbers
    scale = torch.diagonal(k, dim1=1, dim2=2).mean(dim=1).clamp_min(torch.finfo(dt).tiny)
    # a covariance that is itself out of range means the signal has overflowed: report it as inf
    blown = ~torch.isfinite(scale)  # an inf or NaN anywhere in K shows on its diagonal (Cauchy-Schwarz)
    if torch.any(blown):
        k = torch.where(blown[:, None, None], torch.eye(b, dtype=dt, device=dev).expand(m, b, b), k)
        scale = torch.where(blown, torch.ones_like(scale), scale)
    kn = k / scale[:, None, None]
    chol, info = torch.linalg.cholesky_ex(kn)
    bad = info != 0
    if torch.any(bad):
        # singular covariance (e.g. repeated inputs with a shared mask): a symmetric square root is just as exact
        evals, evecs = torch.linalg.eigh(kn[bad].to(torch.float64))
        root = evecs * torch.sqrt(torch.clamp(evals, min=0.0))[:, None, :]
        chol = chol.clone()
        chol[bad] = root.to(dt)
    zshape = (m, b, width)
    z = torch.randn(zshape, generator=gen, dtype=dt, device=dev, out=bufs.get("z", zshape)) if bufs else torch.randn(zshape, generator=gen, dtype=dt, device=dev)
    h = (chol * torch.sqrt(scale)[:, None, None]) @ z
    if torch.any(blown):
        h[blown] = float("inf")
    return h


def _sample_explicit(y, factor, width, sw2, sb2, gen, dt, dev, bufs=None):
    import torch

    m, b, nprev = y.shape
    wshape = (m, width, nprev)
    w = torch.randn(wshape, generator=gen, dtype=dt, device=dev, out=bufs.get("w", wshape)) if bufs else torch.randn(wshape, generator=gen, dtype=dt, device=dev)
    # scale whichever of the signal and the weights is smaller; the product is the same
    if b < width:
        h = y.mul_(factor * math.sqrt(sw2 / nprev)) @ w.transpose(1, 2)  # (m, B, width)
    else:
        h = y @ w.mul_(factor * math.sqrt(sw2 / nprev)).transpose(1, 2)
    if sb2 > 0:
        h = h + math.sqrt(sb2) * torch.randn((m, 1, width), generator=gen, dtype=dt, device=dev)
    return h


def _run_batch(x, ids, depth, width, sw2, sb2, nz, act, shared_mask, route, gen, dt, dev, pair_t, pair_idx,
               correlation, limits, q, c, failed_layer, failure, bar):
    import torch

    qmax, qtiny = limits
    m = len(ids)
    h = x.unsqueeze(0).expand(m, -1, -1)  # (m, B, N0): inputs along dim 1, units along dim 2
    active = np.arange(m)  # positions within the batch still running
    bufs = _Buffers(dt, dev, gen)
    for layer in range(1, depth + 1):
        y, factor = _noisy_signal(h, nz, act, shared_mask, gen, dt, dev, bufs, own_h=layer > 1)
        h = (_sample_gram if route == "gram" else _sample_explicit)(y, factor, width, sw2, sb2, gen, dt, dev, bufs)
        qv, cv = _stats(h, pair_idx, correlation)
        # an inf or NaN anywhere in h makes that input's float64 sum of squares inf or NaN
        with np.errstate(invalid="ignore"):
            nan_hit = np.any(np.isnan(qv), axis=1)
            over = nan_hit | np.any(np.isinf(qv), axis=1) | np.any(qv > qmax, axis=1)
            under = np.any(qv < qtiny, axis=1) & ~over
        fail = over | under
        nets = ids[active]
        ok = ~fail
        q[layer, nets[ok]] = qv[ok]
        c[layer, nets[ok]] = cv[ok]
        if np.any(fail):
            for pos in np.nonzero(fail)[0]:
                net = nets[pos]
                failed_layer[net] = layer
                failure[net] = "nan" if nan_hit[pos] else ("overflow" if over[pos] else "underflow")
            keep = torch.as_tensor(np.nonzero(ok)[0], device=dev)
            h = h.index_select(0, keep)
            active = active[ok]
        if bar is not None:
            bar.update(1)
        if active.size == 0:
            if bar is not None:
                bar.update(depth - layer)
            break


# ---------------------------------------------------------------------------
# the backward pass
# ---------------------------------------------------------------------------


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
    import torch

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
            norms = torch.stack([hh.grad.double().pow(2).sum() for hh in hs]).cpu().numpy()
            if not np.all(np.isfinite(norms)):
                raise FloatingPointError(
                    f"the backpropagated gradient left the {dtype} range in run {run}; use dtype='float64' or fewer layers"
                )
            out[run] = norms / norms[-1]
    return out
