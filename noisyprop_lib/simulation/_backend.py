"""Torch plumbing shared by the simulation modules: devices, generators, dtypes, and the checks of a
simulation's activation and noise."""
from __future__ import annotations

import numpy as np
import torch

from ..theory.activations import get_activation
from ..theory.noise import as_noise

__all__ = ["resolve_device", "make_generator"]


def _simulation_activation_and_noise(activation, noise):
    """The activation and noise of a simulation: the activation needs a torch implementation, the noise scalar parameters."""
    act = get_activation(activation)
    if act.torch_fn is None:
        raise ValueError(f"activation {act.name!r} has no torch implementation; build it with Activation(..., torch_fn=...)")
    nz = as_noise(noise)
    if not nz.is_scalar:
        raise ValueError(f"noise must have scalar parameters in a simulation, got {nz!r}")
    return act, nz


def resolve_device(device="auto"):
    """``"auto"`` gives CUDA when available, else CPU; anything else must name a usable torch device."""
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


_DTYPES = {"float32": torch.float32, "float64": torch.float64, torch.float32: torch.float32, torch.float64: torch.float64,
           np.float32: torch.float32, np.float64: torch.float64}


def _torch_dtype(dtype):
    try:
        return _DTYPES[dtype]
    except (KeyError, TypeError):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}") from None
