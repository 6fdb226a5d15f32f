r"""A noisy residual MLP, :class:`NoisyResidualMLP`: the blocks of chapter 11 as a torch model.

Each block adds a branch of ``branch_depth`` noisy layers to its input,

.. math:: h^{l+1} = h^l + W_k\,\nu(\phi(\cdots W_1\,\nu(\phi(h^l))\cdots)),

the pre-activation form (activation and noise before every weight layer of
the branch) whose mean-field maps are :func:`~noisyprop_lib.residual_variance_map`
and :func:`~noisyprop_lib.residual_correlation_map`. An input layer maps the
data to the width and an output layer reads the last block.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import nn

from ..theory import NoNoise, Noise, as_noise
from ._common import _draw_
from .init import critical_init_
from .layers import NoiseLayer
from .mlp import _activation_module, _check_mlp_args
from .report import InitReport

__all__ = ["NoisyResidualMLP", "ResidualBlock"]


class ResidualBlock(nn.Module):
    """``x + branch(x)``, the branch being ``branch_depth`` times activation -> noise -> Linear(width, width)."""

    def __init__(self, width: int, branch_depth: int, noise: Noise, activation, bias: bool):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(branch_depth):
            layers.append(_activation_module(activation))
            if not isinstance(noise, NoNoise):
                layers.append(NoiseLayer(noise))
            layers.append(nn.Linear(width, width, bias=bias))
        self.branch = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.branch(x)


class NoisyResidualMLP(nn.Module):
    r"""Input layer, ``blocks`` residual blocks with noise in their branches, output layer.

    Parameters
    ----------
    in_features, width, blocks, out_features : int
    noise : Noise or torch dropout module, optional
        The noise before every weight layer of every branch.
    activation : str or Activation
    branch_depth : int
        Weight layers per branch (1: ``x + W nu(phi(x))``; 2: the pre-activation basic block).
    init : {"critical", "he", "torch"}
        ``"critical"``: :func:`~noisyprop_lib.nn.critical_init_` with ``residual_growth``
        (branches critical, their last layer scaled so that the signal grows by that
        factor over all blocks); ``"he"``: every weight :math:`\mathcal N(0, 2/N_\text{in})`,
        zero biases, no branch scaling; ``"torch"``: PyTorch's default.
    residual_growth : float
        For ``init="critical"``.
    bias : bool
    generator : torch.Generator, optional

    Attributes
    ----------
    init_report : InitReport or None
        What :func:`critical_init_` did (``init="critical"`` only).

    Examples
    --------
    >>> import noisyprop_lib as npl
    >>> net = npl.nn.NoisyResidualMLP(784, 64, 10, 10, noise=npl.Dropout(0.9))
    >>> round(net.init_report.sigma_w2["blocks.0.branch.5"] / net.init_report.sigma_w2["blocks.0.branch.2"], 6)
    0.071773
    """

    def __init__(self, in_features: int, width: int, blocks: int, out_features: int,
                 noise: Optional[Union[Noise, nn.Module]] = None, activation="relu", *, branch_depth: int = 2,
                 init: str = "critical", residual_growth: float = 2.0, bias: bool = True,
                 generator: Optional[torch.Generator] = None):
        super().__init__()
        in_features, width, blocks, out_features, branch_depth = _check_mlp_args(
            dict(in_features=in_features, width=width, blocks=blocks, out_features=out_features,
                 branch_depth=branch_depth), init, bias, generator)
        nz = as_noise(noise)
        self.noise = nz
        self.inp = nn.Linear(in_features, width, bias=bias)
        self.blocks = nn.Sequential(*[ResidualBlock(width, branch_depth, nz, activation, bias) for _ in range(blocks)])
        self.out = nn.Linear(width, out_features, bias=bias)
        self.init_report: Optional[InitReport] = None
        if init == "critical":
            self.init_report = critical_init_(self, generator=generator, residual_growth=residual_growth)
        elif init == "he":
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    _draw_(m, 2.0, generator)

    def forward(self, x):
        return self.out(self.blocks(self.inp(x)))

    def stream(self, x) -> list:
        """The residual stream: the input layer's output and every block's output, in order (for diagnostics)."""
        h = self.inp(x)
        out = [h]
        for blk in self.blocks:
            h = blk(h)
            out.append(h)
        return out
