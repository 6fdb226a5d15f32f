r"""Noise-aware critical initialisation of torch models: :func:`critical_init_` and its report.

:func:`critical_init_` walks an existing torch model, finds every ``nn.Linear``
and ``nn.Conv1d/2d/3d``, works out the noise and the activation that feed it
and draws its weights from

.. math:: W_{ij}\sim\mathcal N\!\left(0, \frac{\sigma_w^2}{N_\text{in}}\right),\qquad
          \sigma_w^2 = \frac{2}{\mu_2\,(1+\alpha^2)}\ \text{(rectifiers)},\qquad
          \sigma_w^2 = \frac{1}{\mu_2\,\phi'(0)^2}\ \text{(smooth } \phi,\ \phi(0)=0),

with zero biases, so that the noisy variance map
:math:`q^{l} = \sigma_w^2\,\mu_2\,E[\phi(h^{l-1})^2]` is critical
(Pretorius et al., 2018; :func:`noisyprop_lib.critical_sigma_w2`).

The walk itself is :func:`~noisyprop_lib.nn.walk_model`; this module analyses
each layer it returns and draws the weights.
"""
from __future__ import annotations

import warnings
from typing import NamedTuple, Optional, Union

import torch
from torch import nn

from ..theory import ADDITIVE, LeakyReLU, NoNoise, Noise, critical_sigma_w2
from ._chain import NotAChainError, _check_chain
from ._common import _NONNEGATIVE_NOISE, _check_generator, _describe, _draw_, _Problem
from .layers import NoiseLayer
from .walk import WalkedLayer, _default_noise, _walk

__all__ = ["critical_init_", "NotAChainError", "InitReport", "InitRow"]

class InitRow(NamedTuple):
    """One initialised layer: its name in the model, type, fan-in, noise, activation and sigma_w2."""

    name: str
    layer_type: str
    fan_in: int
    noise: str
    activation: str
    sigma_w2: float


_HEADERS = ("layer", "type", "fan_in", "noise", "activation", "sigma_w2")


class InitReport(list):
    """What :func:`critical_init_` did: a list of :class:`InitRow`, one per initialised layer.

    ``skipped`` lists ``(layer name, reason)`` for the layers left untouched
    (only with ``on_unknown="warn"``). ``str(report)`` is an aligned text table;
    in a notebook the report renders as a markdown table.
    """

    def __init__(self, rows=(), skipped=()):
        super().__init__(rows)
        self.skipped: list[tuple[str, str]] = list(skipped)

    @property
    def sigma_w2(self) -> dict[str, float]:
        """``{layer name: sigma_w2}``."""
        return {r.name: r.sigma_w2 for r in self}

    def _cells(self) -> list[tuple[str, ...]]:
        return [(r.name, r.layer_type, str(r.fan_in), r.noise, r.activation, f"{r.sigma_w2:.6g}") for r in self]

    def __str__(self) -> str:
        rows = [_HEADERS] + self._cells()
        widths = [max(len(r[i]) for r in rows) for i in range(len(_HEADERS))]
        right = {2, 5}

        def line(r):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

        out = [line(rows[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in rows[1:]]
        for name, reason in self.skipped:
            out.append(f"skipped {name}: {reason}")
        return "\n".join(out)

    def _repr_markdown_(self) -> str:
        def esc(s):
            return s.replace("|", "\\|")

        out = ["| " + " | ".join(_HEADERS) + " |", "|" + "|".join(["---", "---", "---:", "---", "---", "---:"]) + "|"]
        out += ["| " + " | ".join(f"`{esc(c)}`" if i in (0, 3) else esc(c) for i, c in enumerate(r)) + " |" for r in self._cells()]
        for name, reason in self.skipped:
            out.append(f"\n*skipped* `{name}`: {esc(reason)}")
        return "\n".join(out)

    def __repr__(self) -> str:
        return f"InitReport({len(self)} layers, {len(self.skipped)} skipped)"


def _analyse(layer: WalkedLayer):
    """sigma_w2 and the row labels (noise, activation) for one walked weight layer, or a _Problem."""
    if layer.problem is not None:
        return _Problem(layer.problem)
    noise, noise_src, act = layer.noise, layer.noise_module, layer.activation
    nz = noise if noise is not None else NoNoise()
    noise_label = repr(nz) if noise is not None else "none"
    if noise_src is not None and noise_src is not nz and not isinstance(noise_src, NoiseLayer):
        noise_label = f"{noise_label} [from {_describe(noise_src)}]"
    if act is None:
        if not layer.first:
            return _Problem(
                "no activation module between it and the previous weight layer; if the model applies a "
                "functional activation (e.g. F.relu in forward) the walker cannot see it, so use activation "
                "modules (nn.ReLU, ...) or initialise this layer yourself"
            )
        if nz.kind == ADDITIVE and float(nz.variance) > 0:
            return _Problem(f"additive noise {nz!r} before the first layer: its input's second moment cannot be preserved")
        mu2 = 1.0 if nz.kind == ADDITIVE else float(nz.mu2)
        return 1.0 / mu2, noise_label, "linear (input)"
    if layer.order == "noise-first" and not (isinstance(act, LeakyReLU) and isinstance(nz, _NONNEGATIVE_NOISE)):
        return _Problem(
            f"the noise {nz!r} comes before the activation {act!r}; only non-negative noise before a "
            "rectifier is equivalent to the book's activation -> noise order"
        )
    try:
        sw2 = float(critical_sigma_w2(nz, act))
    except ValueError as exc:
        return _Problem(str(exc))
    return sw2, noise_label, getattr(act, "name", repr(act))


def _plan(layers: list[WalkedLayer], on_unknown: str) -> tuple[InitReport, list[tuple[nn.Module, float]]]:
    """The report and the (layer, sigma_w2) draws to make; refuses (raise) or skips (warn) what cannot be analysed."""
    report = InitReport()
    pending: list[tuple[nn.Module, float]] = []
    for layer in layers:
        res = _analyse(layer)
        if isinstance(res, _Problem):
            msg = f"critical_init_: cannot initialise layer {layer.name!r}: {res.reason}"
            if on_unknown == "raise":
                raise ValueError(msg)
            # stacklevel: warn <- _plan <- critical_init_ <- the caller
            warnings.warn(msg + "; the layer is left untouched", UserWarning, stacklevel=3)
            report.skipped.append((layer.name, res.reason))
        else:
            sw2, noise_label, act_label = res
            pending.append((layer.module, sw2))
            report.append(InitRow(layer.name, type(layer.module).__name__, layer.fan_in, noise_label, act_label, sw2))
    return report, pending


def critical_init_(
    model: nn.Module,
    *,
    on_unknown: str = "raise",
    generator: Optional[torch.Generator] = None,
    default_noise: Optional[Union[Noise, nn.Module]] = None,
    example_input: Optional[torch.Tensor] = None,
) -> InitReport:
    r"""Noise-aware critical initialisation of a torch model, in place.

    Walks ``model.modules()`` (registration order, which is the forward order
    of ``nn.Sequential`` and of modules that register their children in the
    order they use them) and, for every ``nn.Linear`` and ``nn.Conv1d/2d/3d``,
    finds the noise and the activation between it and the previous weight
    layer, then sets

    .. math:: W\sim\mathcal N\!\left(0,\frac{\sigma_w^2}{N_\text{in}}\right),\quad b = 0,\qquad
              \sigma_w^2 = \frac{2}{\mu_2(1+\alpha^2)}\ \text{(ReLU, leaky ReLU, PReLU)},\quad
              \sigma_w^2 = \frac{1}{\mu_2\,\phi'(0)^2}\ \text{(tanh, GELU, SiLU)},

    from :func:`~noisyprop_lib.critical_sigma_w2` (Pretorius et
    al., 2018), where :math:`N_\text{in}` is ``in_features`` or
    ``in_channels / groups * prod(kernel_size)``. The **first** weight layer
    has no activation before it: it gets :math:`\sigma_w^2 = 1/\mu_2` (1
    without noise), which preserves the input's second moment,
    :math:`E[h^2] = \sigma_w^2\mu_2 E[x^2] = E[x^2]`.

    Noise is read from ``nn.Dropout``/``Dropout1d/2d/3d`` (torch's *drop*
    probability ``p`` becomes ``keep_prob = 1 - p``), :class:`NoiseLayer` and
    :class:`Dropout`; activations from ``nn.ReLU``, ``nn.LeakyReLU``
    (``negative_slope``), ``nn.PReLU`` (its current single slope), ``nn.Tanh``,
    ``nn.GELU``, ``nn.SiLU`` and :class:`ActivationLayer`. The model's
    train/eval mode does not matter: the initialisation is for training,
    with the noise on. ``nn.Identity``, ``nn.Flatten`` and ``nn.Unflatten``
    are ignored.

    A layer that cannot be analysed — an unknown module between weight layers
    (another activation, normalisation, pooling, ...), ``AlphaDropout``, two
    noise or two activation modules in a row, no activation module between two
    weight layers, noise before a non-rectifier, additive noise with a
    rectifier (no critical point) — raises ``ValueError`` naming the layer and
    the reason (``on_unknown="raise"``), or triggers a ``UserWarning`` and is
    left untouched (``on_unknown="warn"``). Nothing is skipped silently. Weights are
    drawn only after the whole model has been analysed, so a refusal leaves the
    model unchanged.

    The walk is only valid if the forward pass *is* that chain, so the model's
    graph is first read with ``torch.fx`` symbolic tracing (through every
    container, down to the modules without children): each step must take the
    previous step's output and nothing else, the modules must be called once
    each in their registration order, and the only function calls allowed
    between them are reshapes (``view``, ``reshape``, ``flatten``, ...) and, when
    ``default_noise`` is given, functional dropout. Skip connections
    (``x + f(x)``), concatenations, shared or unused modules, functional
    activations (``F.relu``) and parameters used directly in ``forward`` raise
    :class:`NotAChainError` (a ``ValueError``) naming the module where the graph
    departs from a chain, whatever ``on_unknown`` says. A model that ``torch.fx``
    cannot trace (data-dependent control flow) is checked on one forward pass of
    ``example_input`` instead, in eval mode and without gradients, by checking
    with hooks that every module receives the previous module's output (or a
    view of it) unmodified; without ``example_input`` it is refused.

    Parameters
    ----------
    model : torch.nn.Module
    on_unknown : {"raise", "warn"}
    generator : torch.Generator, optional
        Source of randomness for reproducible weights (CPU generator: weights
        are drawn on CPU and copied to the parameters' device).
    default_noise : Noise or torch dropout module, optional
        Noise assumed between weight layers that contain no noise module
        (e.g. when the noise is applied functionally, with ``F.dropout``); not
        used for the first weight layer.
    example_input : torch.Tensor, optional
        One batch of inputs, used only when ``torch.fx`` cannot trace the model:
        the chain check then runs on one forward pass (see above).

    Returns
    -------
    InitReport
        One row per initialised layer (name, type, fan-in, noise, activation,
        sigma_w2); ``report.skipped`` lists layers left untouched.

    Notes
    -----
    The hook-based check cannot see an in-place operation on a tensor that is
    not a module's output (it compares version counters of module outputs
    only), nor arithmetic that returns a view. Zero padding of convolutions
    lowers the effective fan-in at the borders; this is ignored.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if on_unknown not in ("raise", "warn"):
        raise ValueError(f"on_unknown must be 'raise' or 'warn', got {on_unknown!r}")
    _check_generator(generator)
    default_nz = _default_noise(default_noise)
    if example_input is not None and not isinstance(example_input, torch.Tensor):
        raise ValueError(f"example_input must be a torch.Tensor or None, got {type(example_input).__name__}")
    _check_chain(model, example_input, allow_functional_dropout=default_nz is not None)
    # weights are drawn only after the whole model has been analysed, so that a refusal in
    # strict mode leaves the model exactly as it was (no half-initialised models)
    report, pending = _plan(_walk(model, default_nz), on_unknown)
    for module, sw2 in pending:
        _draw_(module, sw2, generator)
    return report
