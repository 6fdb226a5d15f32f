r"""Signal-propagation diagnostics of torch models: measured and predicted per-layer second moments.

:func:`layer_moments` measures, with hooks on one forward (and backward) pass,
the mean squared output :math:`q^l = E[(h^l)^2]` of every weight layer and the
mean squared gradient of the loss with respect to it;
:func:`predicted_variances` iterates the mean-field variance map
:func:`~noisyprop_lib.variance_map` through the model's weight layers, as the
walker (:func:`~noisyprop_lib.nn.walk_model`) reads them, to predict the same
:math:`q^l`.
"""
from __future__ import annotations

from typing import Callable, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..theory import LeakyReLU, Noise, variance_map
from ._common import _NONNEGATIVE_NOISE, _WEIGHT_LAYERS
from .walk import WalkedLayer, walk_model

__all__ = ["layer_moments", "LayerMoments", "predicted_variances"]


class LayerMoments(NamedTuple):
    """What :func:`layer_moments` measured, one entry per weight layer in forward order (unpacks as ``q, g``)."""

    q: np.ndarray
    """Mean squared output (pre-activation) of each layer, :math:`E[(h^l)^2]`."""
    g: Optional[np.ndarray]
    """Mean squared gradient of the loss with respect to each layer's output; None without labels."""


def _weight_layers(model: nn.Module, include_output: bool) -> list[nn.Module]:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    layers = [m for m in model.modules() if isinstance(m, _WEIGHT_LAYERS)]
    hidden = layers if include_output else layers[:-1]
    if not hidden:
        raise ValueError(
            f"layer_moments: {type(model).__name__} has {len(layers)} weight layer(s) (nn.Linear, nn.Conv1d/2d/3d) "
            f"and so no {'weight' if include_output else 'hidden weight'} layer to measure"
            + ("" if include_output or not layers else "; pass include_output=True to measure the output layer")
        )
    return hidden


def _check_labels(x: torch.Tensor, y) -> None:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor (one batch of inputs), got {type(x).__name__}")
    if y is None:
        return
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"y must be a torch.Tensor of labels or None, got {type(y).__name__}")
    if y.dim() == 0 or x.dim() == 0 or y.shape[0] != x.shape[0]:
        raise ValueError(f"y must have one label per input: x has shape {tuple(x.shape)} and y {tuple(y.shape)}; "
                         "their first dimensions (the batch) must agree")


def layer_moments(
    model: nn.Module,
    x: torch.Tensor,
    y: Optional[torch.Tensor] = None,
    *,
    loss: Callable = F.cross_entropy,
    include_output: bool = False,
) -> LayerMoments:
    r"""Mean squared output of every hidden weight layer and, given labels, of the loss gradient w.r.t. it.

    Runs one forward pass of ``x`` in the model's current mode (``model.train()``:
    with its noise; ``model.eval()``: without), with forward hooks on every
    ``nn.Linear`` and ``nn.Conv1d/2d/3d`` but the last (the output layer, unless
    ``include_output``), and records :math:`E[(h^l)^2]`, the mean over batch and
    units of each layer's squared output. With labels ``y`` it also back-propagates
    ``loss(model(x), y)`` and records the mean squared gradient
    :math:`E[(\partial\ell/\partial h^l)^2]`; the parameters' ``.grad`` are left
    untouched. Without labels the forward pass runs without gradients.

    Parameters
    ----------
    model : torch.nn.Module
    x : torch.Tensor
        One batch of inputs.
    y : torch.Tensor, optional
        Labels, one per input (the first dimensions of ``x`` and ``y`` must agree).
    loss : callable, default ``torch.nn.functional.cross_entropy``
        ``loss(output, y)``, a scalar.
    include_output : bool, default False
        Also measure the last weight layer.

    Returns
    -------
    LayerMoments
        ``(q, g)``: float64 arrays with one entry per measured layer in forward
        order; ``g`` is None without labels.

    Raises
    ------
    ValueError
        For a model without (hidden) weight layers, labels whose batch size is not
        that of ``x``, or a measured layer called other than once.

    Examples
    --------
    >>> import torch, torch.nn as tnn
    >>> import noisyprop_lib as npl
    >>> net = tnn.Sequential(tnn.Linear(3, 2), tnn.ReLU(), tnn.Linear(2, 1))
    >>> with torch.no_grad():
    ...     _ = net[0].weight.fill_(1.0), net[0].bias.zero_()
    >>> npl.nn.layer_moments(net, torch.ones(4, 3)).q   # every output is 3
    array([9.])
    """
    layers = _weight_layers(model, include_output)
    _check_labels(x, y)
    outputs: list[torch.Tensor] = []
    calls = {id(m): 0 for m in layers}

    def keep_output(module, inputs, out):
        calls[id(module)] += 1
        outputs.append(out)

    hooks = [m.register_forward_hook(keep_output) for m in layers]
    try:
        if y is None:
            with torch.no_grad():
                model(x)
        else:
            with torch.enable_grad():
                value = loss(model(x), y)
                grads = torch.autograd.grad(value, outputs, allow_unused=True) if outputs else ()
    finally:
        for h in hooks:
            h.remove()
    if any(n != 1 for n in calls.values()):
        raise ValueError("layer_moments: every measured weight layer must be called exactly once in forward; "
                         f"the calls were {list(calls.values())}")
    q = np.array([float(h.detach().double().pow(2).mean()) for h in outputs])
    if y is None:
        return LayerMoments(q, None)
    g = np.array([float(gr.double().pow(2).mean()) if gr is not None else 0.0 for gr in grads])
    return LayerMoments(q, g)


_Scale = Union[None, float, Sequence[float], Callable[[int], float]]


def _per_layer(what: str, value: _Scale, layers: list[WalkedLayer], measured) -> list[float]:
    if value is None:
        return [measured(r.module, r.fan_in) for r in layers]
    if callable(value):
        return [float(value(r.fan_in)) for r in layers]
    if np.ndim(value) == 0:
        return [float(value)] * len(layers)
    values = [float(v) for v in value]
    if len(values) != len(layers):
        raise ValueError(f"{what} has {len(values)} entries for {len(layers)} weight layers")
    return values


def _measured_sigma_w2(module: nn.Module, fan_in: int) -> float:
    # fan-in times the mean square of the weights: what the variance map calls sigma_w^2
    return float(module.weight.detach().double().pow(2).mean()) * fan_in


def _measured_sigma_b2(module: nn.Module, fan_in: int) -> float:
    bias = getattr(module, "bias", None)
    return 0.0 if bias is None else float(bias.detach().double().pow(2).mean())


def _check_walked(layers: list[WalkedLayer], model: nn.Module) -> None:
    if not layers:
        raise ValueError(f"predicted_variances: {type(model).__name__} has no weight layer (nn.Linear, nn.Conv1d/2d/3d)")
    for r in layers:
        why = r.problem
        if why is None and r.fan_in is None:
            why = "it is a lazy module whose weight is not materialised yet"
        if why is None and not r.first and r.activation is None:
            why = "no activation module between it and the previous weight layer"
        if why is None and not r.first and r.order == "noise-first" and not (
                isinstance(r.activation, LeakyReLU) and isinstance(r.noise, _NONNEGATIVE_NOISE)):
            why = f"the noise {r.noise!r} comes before the activation {r.activation!r}, which the variance map does not describe"
        if why is not None:
            raise ValueError(f"predicted_variances: cannot predict layer {r.name!r}: {why}")


def predicted_variances(
    model: nn.Module,
    q1: Union[float, torch.Tensor],
    *,
    sigma_w2: _Scale = None,
    sigma_b2: _Scale = None,
    default_noise: Optional[Union[Noise, nn.Module]] = None,
    example_input: Optional[torch.Tensor] = None,
) -> np.ndarray:
    r"""The mean-field prediction of every weight layer's :math:`q^l = E[(h^l)^2]`, in forward order.

    Walks the model (:func:`~noisyprop_lib.nn.walk_model`) and iterates

    .. math:: q^l = \text{variance\_map}(q^{l-1};\ \sigma_{w,l}^2, \sigma_{b,l}^2,
              \text{noise}_l, \phi_l),\qquad l = 2, \dots, L,

    with each layer's own noise and activation (those between it and the previous
    weight layer) and its weight and bias variances: by default the *current*
    ones, :math:`\sigma_{w,l}^2 = N_\text{in}\,\overline{W_{ij}^2}` and
    :math:`\sigma_{b,l}^2 = \overline{b_i^2}` (the mean squares, which is what the
    map averages over units), or the values given.

    Parameters
    ----------
    model : torch.nn.Module
        A chain of weight layers, activations and noise modules (as for
        :func:`~noisyprop_lib.nn.critical_init_`).
    q1 : float or torch.Tensor
        The first layer's :math:`q^1`, or a batch of inputs, from which
        :math:`q^1 = \sigma_{w,1}^2 E[x^2] + \sigma_{b,1}^2` (no noise module
        may then precede the first layer).
    sigma_w2, sigma_b2 : None, float, sequence or callable, optional
        Per-layer variances: None (measured from the model), one value for every
        layer, one per weight layer, or a function of the layer's fan-in (e.g.
        ``lambda n: 1 / (3 * n)`` for torch's default bias variance).
    default_noise, example_input
        As for :func:`~noisyprop_lib.nn.walk_model`.

    Returns
    -------
    numpy.ndarray
        :math:`q^1, \dots, q^L` for the :math:`L` weight layers, output layer included.

    Raises
    ------
    ValueError
        For a model without weight layers, a layer the map does not describe (an
        unknown module, a missing activation, noise before a non-rectifier), or
        per-layer values of the wrong length.

    Examples
    --------
    >>> import torch.nn as tnn
    >>> import noisyprop_lib as npl
    >>> net = tnn.Sequential(tnn.Linear(4, 8), tnn.ReLU(), tnn.Dropout(0.5), tnn.Linear(8, 8))
    >>> npl.nn.predicted_variances(net, 1.0, sigma_w2=1.0, sigma_b2=0.0)   # q -> sigma_w^2 mu2 q / 2 = q
    array([1., 1.])
    """
    layers = walk_model(model, default_noise=default_noise, example_input=example_input)
    _check_walked(layers, model)
    sw2 = _per_layer("sigma_w2", sigma_w2, layers, _measured_sigma_w2)
    sb2 = _per_layer("sigma_b2", sigma_b2, layers, _measured_sigma_b2)
    if isinstance(q1, torch.Tensor):
        if layers[0].noise is not None:
            raise ValueError("predicted_variances: q1 given as inputs, but noise precedes the first weight layer; pass q1 as a number")
        q = [sw2[0] * float(q1.detach().double().pow(2).mean()) + sb2[0]]
    else:
        q = [float(q1)]
        if not np.isfinite(q[0]) or q[0] < 0:
            raise ValueError(f"q1 must be a finite number >= 0 or a batch of inputs, got {q1!r}")
    for r, w, b in zip(layers[1:], sw2[1:], sb2[1:]):
        q.append(float(variance_map(q[-1], w, b, noise=r.noise, activation=r.activation)))
    return np.array(q)
