r"""Torch modules of the library: noise and activation layers.

:class:`NoiseLayer` applies any library noise model inside a model,
:class:`Dropout` is inverted dropout that takes ``p=`` (torch's *drop*
probability) or ``keep_prob=`` explicitly, and :class:`ActivationLayer` wraps a
library activation that has no torch module. :func:`~noisyprop_lib.nn.critical_init_`
recognises all three.

``noisyprop_lib.nn.Dropout`` is this torch module (a layer); ``noisyprop_lib.Dropout``
is the noise law it samples.
"""
from __future__ import annotations

from typing import Any, Optional, Union

import torch
from torch import nn

from ..theory import Activation, NoNoise, Noise, as_noise, get_activation, keep_prob_from_torch
from ..theory import Dropout as _DropoutNoise
from ._common import _check_generator, _has_torch_fn

__all__ = ["NoiseLayer", "Dropout", "ActivationLayer"]


class NoiseLayer(nn.Module):
    r"""Apply a library noise model to the signal in training mode; identity in eval mode.

    Computes :math:`x\epsilon` (multiplicative noise) or :math:`x+\epsilon`
    (additive noise), with :math:`\epsilon` redrawn per element and per forward
    pass. Place it after the activation, before the next linear layer (the
    book's convention :math:`h^l = W^l\,\nu(\phi(h^{l-1}),\epsilon) + b^l`);
    :func:`critical_init_` recognises it.

    Parameters
    ----------
    noise : Noise or torch dropout module
        A noise model with scalar parameters, e.g. ``npl.GaussianNoise(0.5)``;
        a torch ``nn.Dropout`` is converted with :meth:`noisyprop_lib.Noise.from_torch`.
    generator : torch.Generator, optional
        Source of randomness (on the same device as the input) for
        reproducible noise; default: torch's global generator.
    """

    def __init__(self, noise: Union[Noise, nn.Module], generator: Optional[torch.Generator] = None):
        super().__init__()
        if noise is None:
            raise ValueError("noise must be a noisyprop_lib noise model or a torch dropout module, got None")
        nz = as_noise(noise)
        if not nz.is_scalar:
            raise ValueError(f"noise must have scalar parameters to be sampled, got {nz!r}")
        _check_generator(generator)
        self.noise = nz
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or isinstance(self.noise, NoNoise):
            return x
        return self.noise.apply(x, generator=self.generator)

    def extra_repr(self) -> str:
        return repr(self.noise)


class Dropout(NoiseLayer):
    r"""Inverted dropout, :math:`x\,B/p` with :math:`B\sim\mathrm{Bernoulli}(p)`, :math:`p` = ``keep_prob``.

    A torch module, not to be confused with its homonym ``noisyprop_lib.Dropout``,
    the noise law (``npl.nn.Dropout(keep_prob=0.8)`` samples ``npl.Dropout(0.8)``).

    Takes **exactly one** of ``p=`` (torch's *drop* probability, so
    ``keep_prob = 1 - p``) or ``keep_prob=``, by keyword, so the two
    conventions can never be confused. Identity in eval mode.

    Parameters
    ----------
    p : float, optional
        Drop probability in :math:`[0, 1)`, as in ``torch.nn.Dropout``.
    keep_prob : float, optional
        Keep probability in :math:`(0, 1]`.
    generator : torch.Generator, optional
        Source of randomness for reproducible masks.
    """

    def __init__(self, *args: Any, p: Optional[float] = None, keep_prob: Optional[float] = None, generator: Optional[torch.Generator] = None):
        if args:
            raise ValueError(
                f"Dropout takes its rate by keyword only, got the positional argument(s) {args!r}: pass "
                "p= (torch's drop probability, in [0, 1)) or keep_prob= (the keep probability, in (0, 1])"
            )
        if (p is None) == (keep_prob is None):
            raise ValueError(
                "Dropout needs exactly one of p= (torch's drop probability, in [0, 1)) or keep_prob= "
                f"(the keep probability, in (0, 1]), got p={p!r} and keep_prob={keep_prob!r}"
            )
        kp = keep_prob_from_torch(p) if p is not None else keep_prob
        super().__init__(_DropoutNoise(kp), generator=generator)

    @property
    def keep_prob(self) -> float:
        """The keep probability."""
        return float(self.noise.keep_prob)

    @property
    def p(self) -> float:
        """The drop probability ``1 - keep_prob`` (torch's convention)."""
        return 1.0 - self.keep_prob

    def extra_repr(self) -> str:
        return f"keep_prob={self.keep_prob:g}"


class ActivationLayer(nn.Module):
    """A library :class:`~noisyprop_lib.Activation` as a torch module.

    Used for activations without a torch module (e.g. ``"erf"``); recognised
    by :func:`critical_init_`.
    """

    def __init__(self, activation: Union[str, Activation]):
        super().__init__()
        act = get_activation(activation)
        if not _has_torch_fn(act):
            raise ValueError(f"activation {act!r} has no torch implementation (pass torch_fn= to Activation)")
        self.activation = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation.torch(x)

    def extra_repr(self) -> str:
        return repr(self.activation)
