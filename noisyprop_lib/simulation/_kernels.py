"""Per-layer kernels of the forward engine: the noisy signal, the two exact sampling routes, the statistics."""
from __future__ import annotations

import math

import numpy as np
import torch

from ..theory.activations import LeakyReLU
from ..theory.noise import ADDITIVE, Dropout


def _stats(h, pair_idx, correlation):
    """Per-input lengths and per-pair correlations of pre-activations ``h`` of shape (m, B, N).

    Computed in the simulation dtype; networks whose float32 statistics are not
    finite (a square above the float32 range, which happens a little before the
    variance itself leaves it) are recomputed in float64, so that overflow is
    judged on the variance, as the theory's overflow depth assumes.
    """
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
        self.dt, self.dev, self.store = dt, dev, {}
        self.bits = None
        if dev.type == "cpu" and gen is not None:
            self.bits = np.random.PCG64(int(torch.randint(0, 2**62, (1,), generator=gen, device=dev)))

    def keep_mask(self, shape, p):
        """Boolean tensor of independent Bernoulli(p) draws (CPU only)."""
        n = int(np.prod(shape))
        raw = self.bits.random_raw((n + 1) // 2).view(np.uint32)[:n].reshape(shape)
        return torch.from_numpy(raw < np.uint32(min(int(p * 2.0**32), 2**32 - 1)))

    def get(self, name, shape):
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


def _record_layer(h, layer, ids, active, pair_idx, correlation, limits, out, dev):
    """Record one layer's statistics for the networks still running and drop those that failed there.

    ``out`` is ``(q, c, failed_layer, failure)``; a network fails at the first layer where its signal holds
    inf or NaN or a variance leaves ``limits = (largest, smallest normal)``. Returns ``(h, active)`` without
    the failed networks.
    """
    q, c, failed_layer, failure = out
    qmax, qtiny = limits
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
        h = h.index_select(0, torch.as_tensor(np.nonzero(ok)[0], device=dev))
        active = active[ok]
    return h, active


def _check_options(correlation: str, method: str) -> None:
    if correlation not in ("cosine", "pearson"):
        raise ValueError(f"correlation must be 'cosine' or 'pearson', got {correlation!r}")
    if method not in ("auto", "gram", "explicit"):
        raise ValueError(f"method must be 'auto', 'gram' or 'explicit', got {method!r}")
