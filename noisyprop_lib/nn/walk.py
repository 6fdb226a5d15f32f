r"""The model walker: the weight layers of a torch model, in forward order, with what feeds each.

:func:`walk_model` checks that the model's forward pass is the chain of its
modules (``torch.fx`` tracing, or hooks on one forward pass of
``example_input``; :class:`NotAChainError` otherwise), then reads
``model.named_modules()`` and returns one :class:`WalkedLayer` per ``nn.Linear``
and ``nn.Conv1d/2d/3d``: its fan-in, the noise and the activation between it and
the previous weight layer (read from the noise and activation modules, as a
library :class:`~noisyprop_lib.Noise` and :class:`~noisyprop_lib.Activation`),
and, if the layer cannot be analysed, why. :func:`~noisyprop_lib.nn.critical_init_`
and :func:`~noisyprop_lib.nn.predicted_variances` are built on it.
"""
from __future__ import annotations

from typing import NamedTuple, Optional, Union

import torch
from torch import nn

from ..theory import ELU, GELU, Activation, LeakyReLU, Noise, ReLU, SiLU, Tanh, as_noise
from ._chain import NotAChainError, _check_chain
from ._common import _ALPHA_DROPOUT, _TORCH_DROPOUT, _TRANSPARENT, _WEIGHT_LAYERS, _describe, _fan_in, _Problem
from .layers import ActivationLayer, NoiseLayer

__all__ = ["walk_model", "WalkedLayer", "NotAChainError"]


class WalkedLayer(NamedTuple):
    """One weight layer of a model as :func:`walk_model` sees it.

    Attributes
    ----------
    name : str
        Its name in ``model.named_modules()`` (``"<model>"`` for the model itself).
    module : torch.nn.Module
        The ``nn.Linear`` or ``nn.ConvNd``.
    fan_in : int or None
        ``in_features`` or ``in_channels / groups * prod(kernel_size)``; None for a
        lazy module whose weight is not materialised yet.
    noise : Noise or None
        The noise between it and the previous weight layer (from a noise module, or
        ``default_noise`` for the layers after the first); None: none.
    activation : Activation or None
        The activation between it and the previous weight layer; None: none (the
        first layer, or a missing activation module).
    noise_module, activation_module : torch.nn.Module or None
        The modules the noise and the activation were read from.
    order : {"activation-first", "noise-first"} or None
        Which of the two came first (None: neither).
    first : bool
        Whether it is the model's first weight layer.
    problem : str or None
        Why the noise or activation feeding it cannot be analysed (an unknown
        module, two noise modules in a row, ...), or None.
    """

    name: str
    module: nn.Module
    fan_in: Optional[int]
    noise: Optional[Noise]
    activation: Optional[Activation]
    noise_module: Optional[nn.Module]
    activation_module: Optional[nn.Module]
    order: Optional[str]
    first: bool
    problem: Optional[str]


def _torch_activation(module: nn.Module):
    """The library activation of a torch activation module, a _Problem, or None if not an activation."""
    if isinstance(module, ActivationLayer):
        return module.activation
    if isinstance(module, nn.ReLU):
        return ReLU()
    if isinstance(module, nn.LeakyReLU):
        slope = float(module.negative_slope)
        if not 0.0 <= slope < 1.0:
            return _Problem(f"nn.LeakyReLU(negative_slope={slope:g}) is outside the analysed range [0, 1)")
        return ReLU() if slope == 0.0 else LeakyReLU(slope)
    if isinstance(module, nn.PReLU):
        if module.weight.numel() != 1:
            return _Problem(
                f"nn.PReLU with {module.weight.numel()} slopes (one per channel) is not analysed; "
                "critical_init_ needs a single slope (num_parameters=1)"
            )
        slope = float(module.weight.detach().reshape(()).item())
        if not 0.0 <= slope < 1.0:
            return _Problem(f"nn.PReLU with current slope {slope:g} is outside the analysed range [0, 1)")
        return ReLU() if slope == 0.0 else LeakyReLU(slope)
    if isinstance(module, nn.Tanh):
        return Tanh()
    if isinstance(module, nn.GELU):
        # approximate="tanh" differs from the exact GELU by less than 1e-3, far below what the rule resolves
        return GELU()
    if isinstance(module, nn.SiLU):
        return SiLU()
    if isinstance(module, nn.ELU):
        if float(module.alpha) != 1.0:
            return _Problem(f"nn.ELU with alpha = {module.alpha:g} is not analysed; critical_init_ covers alpha = 1")
        return ELU()
    return None


_SUPPORTED_MODULES = (
    "supported between weight layers (nn.Linear, nn.Conv1d/2d/3d) are one activation module (nn.ReLU, "
    "nn.LeakyReLU, nn.PReLU with one slope, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, npl.nn.ActivationLayer), one noise "
    "module (nn.Dropout, nn.Dropout1d/2d/3d, npl.nn.NoiseLayer, npl.nn.Dropout) and nn.Identity, nn.Flatten, "
    "nn.Unflatten"
)
_KINDS = {
    "torch.nn.modules.pooling": ("pooling layer", "its effect on the second moment depends on the spatial statistics of the signal, not on the second moment alone"),
    "torch.nn.modules.normalization": ("normalisation layer", "it rescales the signal by statistics of the signal itself"),
    "torch.nn.modules.batchnorm": ("normalisation layer", "it rescales the signal by statistics of the signal itself"),
    "torch.nn.modules.instancenorm": ("normalisation layer", "it rescales the signal by statistics of the signal itself"),
    "torch.nn.modules.activation": ("activation", "its variance map is not one of those the library implements for initialisation"),
}


def _unsupported_module(module: nn.Module) -> str:
    """The refusal for a module kind critical_init_ does not analyse: what it is, why, what is supported."""
    kind, why = _KINDS.get(type(module).__module__, ("module", "its effect on the signal's second moment is unknown to the library"))
    return (
        f"it is fed by {_describe(module)}, {'an' if kind[0] in 'aeiou' else 'a'} {kind} ({type(module).__name__}) that critical_init_ does not analyse: "
        f"it is not covered by the mean-field theory of the critical initialisation ({why}); {_SUPPORTED_MODULES}"
    )


def _is_lazy(layer: nn.Module) -> bool:
    return any(isinstance(p, nn.parameter.UninitializedParameter) for p in layer.parameters(recurse=False))


class _Walk:
    """The state between two weight layers: the noise and activation met so far (or a _Problem)."""

    def __init__(self, default_noise: Optional[Noise]):
        self.default_noise = default_noise
        self.layers: list[WalkedLayer] = []
        self._reset()

    def _reset(self) -> None:
        self.noise = self.noise_src = self.act = self.act_src = self.order = None

    def weight_layer(self, name: str, module: nn.Module) -> None:
        first = not self.layers
        noise = self.noise if self.noise is not None else (self.default_noise if not first else None)
        problem = None
        if _is_lazy(module):
            problem = "it is a lazy module whose weight is not materialised yet; run one forward pass first"
        elif isinstance(noise, _Problem):
            problem = noise.reason
        elif isinstance(self.act, _Problem):
            problem = self.act.reason
        self.layers.append(WalkedLayer(
            name, module, None if _is_lazy(module) else _fan_in(module),
            None if isinstance(noise, _Problem) else noise, None if isinstance(self.act, _Problem) else self.act,
            self.noise_src, self.act_src, self.order, first, problem))
        self._reset()

    def noise_module(self, module: nn.Module) -> None:
        if self.noise is not None:
            self.noise = _Problem(f"two noise modules ({_describe(self.noise_src)} and {_describe(module)}) feed it; "
                                  "combine them into one noise model")
            return
        if isinstance(module, NoiseLayer):
            self.noise = module.noise
        else:
            try:
                self.noise = Noise.from_torch(module)
            except ValueError as exc:
                self.noise = _Problem(str(exc))
        self.noise_src = module
        if self.order is None:
            self.order = "noise-first" if self.act is None else "activation-first"

    def leaf_module(self, module: nn.Module) -> None:
        a = _torch_activation(module)
        if a is None:
            if isinstance(module, _TRANSPARENT):
                return
            a = _Problem(_unsupported_module(module))
        elif self.act is not None and not isinstance(self.act, _Problem) and not isinstance(a, _Problem):
            a = _Problem(f"two activation modules ({_describe(self.act_src)} and {_describe(module)}) feed it")
        if not isinstance(self.act, _Problem):
            self.act, self.act_src = a, module
        if self.order is None:
            self.order = "activation-first"


def _walk(model: nn.Module, default_noise: Optional[Noise]) -> list[WalkedLayer]:
    """The walk itself, on a model already checked to be a chain."""
    state = _Walk(default_noise)
    for name, module in model.named_modules():
        if isinstance(module, _WEIGHT_LAYERS):
            state.weight_layer(name or "<model>", module)
        elif isinstance(module, (NoiseLayer,) + _TORCH_DROPOUT + _ALPHA_DROPOUT):
            state.noise_module(module)
        elif isinstance(module, ActivationLayer) or not list(module.children()):
            state.leaf_module(module)
    return state.layers


def walk_model(
    model: nn.Module,
    *,
    default_noise: Optional[Union[Noise, nn.Module]] = None,
    example_input: Optional[torch.Tensor] = None,
) -> list[WalkedLayer]:
    """The weight layers of a torch model in forward order, with the noise and activation feeding each.

    Checks first that the forward pass is the chain of the model's modules (as
    :func:`~noisyprop_lib.nn.critical_init_` does, see there), so that the
    registration order the walk follows is the forward order.

    Parameters
    ----------
    model : torch.nn.Module
    default_noise : Noise or torch dropout module, optional
        Noise assumed between weight layers that contain no noise module (not
        for the first weight layer); allows functional dropout in ``forward``.
    example_input : torch.Tensor, optional
        One batch of inputs, used only when ``torch.fx`` cannot trace the model.

    Returns
    -------
    list of WalkedLayer
        One record per ``nn.Linear`` / ``nn.ConvNd``; a layer that cannot be
        analysed has its reason in ``problem`` (nothing is raised for it).

    Raises
    ------
    NotAChainError
        If the forward pass is not the chain of the modules.

    Examples
    --------
    >>> import torch.nn as tnn
    >>> import noisyprop_lib as npl
    >>> net = tnn.Sequential(tnn.Linear(4, 8), tnn.ReLU(), tnn.Dropout(0.2), tnn.Linear(8, 2))
    >>> [(r.name, r.fan_in, r.noise, r.activation) for r in npl.nn.walk_model(net)]
    [('0', 4, None, None), ('3', 8, Dropout(keep_prob=0.8), ReLU())]
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    default_nz = _default_noise(default_noise)
    if example_input is not None and not isinstance(example_input, torch.Tensor):
        raise ValueError(f"example_input must be a torch.Tensor or None, got {type(example_input).__name__}")
    _check_chain(model, example_input, allow_functional_dropout=default_nz is not None, who="walk_model")
    return _walk(model, default_nz)


def _default_noise(default_noise) -> Optional[Noise]:
    default_nz = None if default_noise is None else as_noise(default_noise)
    if default_nz is not None and not default_nz.is_scalar:
        raise ValueError(f"default_noise must have scalar parameters, got {default_nz!r}")
    return default_nz
