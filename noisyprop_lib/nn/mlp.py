r"""The book's network, :class:`NoisyMLP`: ``Linear -> activation -> noise`` per hidden block.

It lives in its own module, above :mod:`~noisyprop_lib.nn.layers` and
:mod:`~noisyprop_lib.nn.init`, because it is built from the first and
initialised by the second (``init="critical"``).
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import nn

from .._validation import check_positive_int
from ..theory import Activation, LeakyReLU, NoNoise, Noise, as_noise, get_activation
from ._common import _check_generator, _draw_
from .init import InitReport, critical_init_
from .layers import ActivationLayer, NoiseLayer

__all__ = ["NoisyMLP"]

_TORCH_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU, "swish": nn.SiLU}


def _check_mlp_args(sizes: dict, init: str, bias, generator) -> list[int]:
    """The checks shared by the MLP constructors: positive sizes (returned in order), init, bias, generator."""
    out = [check_positive_int(name, value) for name, value in sizes.items()]
    if init not in ("critical", "he", "torch"):
        raise ValueError(f"init must be 'critical', 'he' or 'torch', got {init!r}")
    if not isinstance(bias, bool):
        raise ValueError(f"bias must be a bool, got {bias!r}")
    _check_generator(generator)
    return out


def _activation_module(activation) -> nn.Module:
    if isinstance(activation, str) and activation.lower() in _TORCH_ACTIVATIONS:
        return _TORCH_ACTIVATIONS[activation.lower()]()
    act = get_activation(activation)
    if isinstance(act, LeakyReLU):
        return nn.ReLU() if act.alpha == 0 else nn.LeakyReLU(act.alpha)
    return ActivationLayer(act)


class NoisyMLP(nn.Sequential):
    r"""The book's noisy fully connected network.

    ``depth`` hidden blocks ``Linear -> activation -> noise`` followed by a
    final ``Linear``, i.e.

    .. math:: h^1 = W^1x + b^1,\qquad h^{l} = W^{l}\,\nu(\phi(h^{l-1}),\epsilon) + b^{l},\quad l = 2..\text{depth}+1,

    so every linear layer after the first receives the noisy post-activation
    signal. The noise acts in training mode only.

    Parameters
    ----------
    in_features, width, out_features : int
        Input, hidden and output widths (>= 1).
    depth : int
        Number of hidden blocks (>= 1); the network has ``depth + 1`` linear layers.
    noise : Noise, torch dropout module or None
        Noise model of every block (e.g. ``npl.Dropout(keep_prob=0.8)``); None: no noise.
    activation : str or Activation
        ``"relu"``, ``"leaky_relu"``, ``"tanh"``, ``"gelu"``, ``"silu"``, ``"erf"``
        or a library :class:`~noisyprop_lib.Activation` with a torch implementation.
    init : {"critical", "he", "torch"}
        ``"critical"``: :func:`critical_init_`; ``"he"``: :math:`\sigma_w^2 = 2`
        for every layer and zero biases; ``"torch"``: torch's default.
    bias : bool
    generator : torch.Generator, optional
        Source of randomness for the initial weights.

    Attributes
    ----------
    init_report : InitReport or None
        The report of :func:`critical_init_` (``init="critical"`` only).
    """

    def __init__(
        self,
        in_features: int,
        width: int,
        depth: int,
        out_features: int,
        noise: Optional[Union[Noise, nn.Module]] = None,
        activation: Union[str, Activation] = "relu",
        init: str = "critical",
        bias: bool = True,
        generator: Optional[torch.Generator] = None,
    ):
        in_features, width, depth, out_features = _check_mlp_args(
            dict(in_features=in_features, width=width, depth=depth, out_features=out_features), init, bias, generator)
        nz = as_noise(noise)
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Linear(in_features if i == 0 else width, width, bias=bias))
            layers.append(_activation_module(activation))
            if not isinstance(nz, NoNoise):
                layers.append(NoiseLayer(nz))
        layers.append(nn.Linear(width, out_features, bias=bias))
        super().__init__(*layers)
        self.noise = nz
        self.init_report: Optional[InitReport] = None
        if init == "critical":
            self.init_report = critical_init_(self, generator=generator)
        elif init == "he":
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    _draw_(m, 2.0, generator)
