"""Shared internals of :mod:`noisyprop_lib.nn` (private): module kinds, checks, fan-in and the weight draw."""
from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import nn

from ..theory import Activation, GammaNoise, NoNoise, PlainDropout, PoissonNoise
from ..theory import Dropout as _DropoutNoise

_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TORCH_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_ALPHA_DROPOUT = (nn.AlphaDropout, nn.FeatureAlphaDropout)
#: leaf modules that leave the signal's statistics unchanged
_TRANSPARENT = (nn.Identity, nn.Flatten, nn.Unflatten)
#: noise laws that are non-negative, so that phi(x * eps) = phi(x) * eps for a rectifier phi
_NONNEGATIVE_NOISE = (NoNoise, _DropoutNoise, PlainDropout, GammaNoise, PoissonNoise)


class _Problem(NamedTuple):
    """Why a layer cannot be analysed (a value, so that the analysis can finish before anything is refused)."""

    reason: str


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {generator!r}")


def _has_torch_fn(act: Activation) -> bool:
    return act.torch_fn is not None


def _describe(module: nn.Module) -> str:
    return f"{type(module).__name__}({module.extra_repr()})"


def _fan_in(layer: nn.Module) -> int:
    # Linear: in_features; ConvNd: in_channels / groups * prod(kernel_size)
    return int(math.prod(layer.weight.shape[1:]))


def _draw_(layer: nn.Module, sigma_w2: float, generator: Optional[torch.Generator], sigma_b2: float = 0.0) -> None:
    """Set ``layer.weight ~ N(0, sigma_w2 / fan_in)`` and ``layer.bias ~ N(0, sigma_b2)`` (0 by default), in place."""
    w = layer.weight
    std = math.sqrt(sigma_w2 / _fan_in(layer))
    dev = generator.device if generator is not None else w.device
    dtype = w.dtype if w.dtype in (torch.float32, torch.float64) else torch.float32
    with torch.no_grad():
        sample = torch.randn(w.shape, generator=generator, dtype=dtype, device=dev)
        w.copy_(sample.mul_(std))
        if layer.bias is not None:
            if sigma_b2 > 0:
                bias = torch.randn(layer.bias.shape, generator=generator, dtype=dtype, device=dev)
                layer.bias.copy_(bias.mul_(math.sqrt(sigma_b2)))
            else:
                layer.bias.zero_()
