"""The torch side of the noise laws (private): validated sampling and samplers that take a generator.

torch is imported inside each function, so that importing the theory never imports it.
"""
from __future__ import annotations

import math

import numpy as np


def checked_sample(noise, shape, generator=None, dtype=None, device=None):
    """Validate the arguments of :meth:`Noise.sample` and draw."""
    import torch

    if not noise.is_scalar:
        raise ValueError(f"sampling needs scalar noise parameters, got {noise!r}")
    dtype = torch.float32 if dtype is None else dtype
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch dtype, got {dtype!r}")
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    shape = tuple(int(s) for s in (shape if isinstance(shape, (tuple, list, torch.Size)) else (shape,)))
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must have non-negative entries, got {shape}")
    return noise._sample(shape, generator, dtype, torch.device(device))


def _sample_laplace(shape, generator, dtype, device):
    """Standard Laplace(0, 1) as the difference of two unit exponentials (never infinite)."""
    import torch

    work = torch.float64 if dtype == torch.float64 else torch.float32
    u = torch.rand((2,) + tuple(shape), generator=generator, dtype=work, device=device)
    e = -torch.log1p(-u)  # 1 - u lies in (0, 1], so e is finite
    return (e[0] - e[1]).to(dtype)


def _sample_standard_gamma(k, shape, generator, dtype, device):
    """Gamma(k, 1) by Marsaglia & Tsang (2000), with Gamma(k+1) U^(1/k) for k < 1.

    torch.distributions.Gamma cannot take a ``torch.Generator``; this sampler
    can, so noisy simulations stay reproducible.
    """
    import torch

    work = torch.float64
    boost = k < 1.0
    kk = k + 1.0 if boost else k
    d = kk - 1.0 / 3.0
    c = 1.0 / math.sqrt(9.0 * d)
    n = int(np.prod(shape)) if len(shape) else 1
    out = torch.empty(n, dtype=work, device=device)
    todo = torch.arange(n, device=device)
    while todo.numel() > 0:
        m = todo.numel()
        x = torch.randn(m, generator=generator, dtype=work, device=device)
        u = torch.rand(m, generator=generator, dtype=work, device=device)
        v = (1.0 + c * x) ** 3
        ok = (v > 0) & (torch.log(u) < 0.5 * x * x + d - d * v + d * torch.log(torch.clamp(v, min=1e-300)))
        out[todo[ok]] = d * v[ok]
        todo = todo[~ok]
    if boost:
        u = torch.rand(n, generator=generator, dtype=work, device=device)
        out = out * u ** (1.0 / k)
    return out.reshape(shape).to(dtype)
