r"""Noise-aware critical initialisation of torch models: :func:`critical_init_`.

:func:`critical_init_` reads a model's data flow from its ``torch.fx`` graph,
finds for every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` the noise and the
activation between it and its source, and draws its weights from

.. math:: W_{ij}\sim\mathcal N\!\left(0, \frac{\sigma_w^2}{N_\text{in}}\right),\qquad
          \sigma_w^2 = \frac{2}{\mu_2\,(1+\alpha^2)},\qquad b = 0

for rectifiers, so that the noisy variance map :math:`q^{l} = \sigma_w^2\,\mu_2\,E[\phi(h^{l-1})^2]`
is the identity (Pretorius et al., 2018). For smooth activations (tanh, GELU,
SiLU, ELU) the weight and bias variances of :func:`noisyprop_lib.critical_point`
put a non-amplifying fixed point of the map at unit second moment; residual
branches are scaled so that the signal grows by a set factor over the whole
depth, and what the theory does not cover is calibrated on data. The report
types are in ``noisyprop_lib.nn.report``; the graph reading, the plan and
the calibration in private modules of this subpackage.
"""
from __future__ import annotations

import math
import warnings
from typing import Optional, Union

import torch
from torch import nn

from ..theory import ADDITIVE, LeakyReLU, NoNoise, Noise, critical_point
from ._chain import NotAChainError, _check_chain
from ._common import _NONNEGATIVE_NOISE, _check_generator, _describe, _draw_, _Problem
from ._calibrate import calibrate_
from ._graph import direct_parameters, read_graph, trace
from ._graph_plan import Plan, Step, plan_graph
from .layers import NoiseLayer
from .report import InitReport, InitRow
from .walk import WalkedLayer, _default_noise, _walk

__all__ = ["critical_init_", "NotAChainError", "InitReport", "InitRow"]

def _analyse(layer: WalkedLayer):
    """(sigma_w2, noise label, activation label, sigma_b2, why) for one walked weight layer, or a _Problem."""
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
        return 1.0 / mu2, noise_label, "linear (input)", 0.0, ""
    if layer.order == "noise-first" and not (isinstance(act, LeakyReLU) and isinstance(nz, _NONNEGATIVE_NOISE)):
        return _Problem(
            f"the noise {nz!r} comes before the activation {act!r}; only non-negative noise before a "
            "rectifier is equivalent to the book's activation -> noise order"
        )
    has_bias = getattr(layer.module, "bias", None) is not None
    try:
        cp = critical_point(nz, act, OPERATING_POINT, bias=has_bias)
    except ValueError as exc:
        return _Problem(str(exc))
    return float(cp.sigma_w2), noise_label, getattr(act, "name", repr(act)), float(cp.sigma_b2), _rule_why(cp, has_bias)


#: the pre-activation second moment that analytic layers with a smooth activation are set to preserve
#: (standardised inputs: the first layer keeps E[x^2], normalisation layers give 1)
OPERATING_POINT = 1.0


def _rule_why(cp, has_bias: bool) -> str:
    """The report's why for a smooth activation's critical point (empty for rectifiers, whose rule is the paper's)."""
    if cp.rule == "rectifier":
        return ""
    what = {"edge of chaos": "chi = 1", "marginal stability": f"V' = 1, chi = {cp.chi:.3f}",
            "fixed point": f"V' = {cp.variance_slope:.3f}, chi = {cp.chi:.3f}"}[cp.rule]
    bias = f"sigma_b2 = {cp.sigma_b2:.3g}" if has_bias else "no bias"
    why = f"critical point at q0 = {OPERATING_POINT:g} ({cp.rule}: {what}; {bias})"
    if max(cp.variance_slope, cp.chi) > 1:
        why += "; above 1, deviations from q0 grow by that factor per layer"
    return why


def _plan(layers: list[WalkedLayer], on_unknown: str) -> tuple[InitReport, list[tuple[nn.Module, float]]]:
    """The report and the (layer, sigma_w2) draws to make; refuses (raise) or skips (warn) what cannot be analysed."""
    report = InitReport()
    pending: list[tuple[nn.Module, float, float]] = []
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
            sw2, noise_label, act_label, sb2, why = res
            pending.append((layer.module, sw2, sb2))
            report.append(InitRow(layer.name, type(layer.module).__name__, layer.fan_in, noise_label, act_label, sw2,
                                  why=why, sigma_b2=sb2))
    return report, pending


def critical_init_(
    model: nn.Module,
    *,
    on_unknown: str = "raise",
    generator: Optional[torch.Generator] = None,
    default_noise: Optional[Union[Noise, nn.Module]] = None,
    example_input: Optional[torch.Tensor] = None,
    calibration_data: Optional[torch.Tensor] = None,
    residual_growth: float = 2.0,
) -> InitReport:
    r"""Noise-aware critical initialisation of a torch model, in place.

    The model's data flow is read from its ``torch.fx`` graph (traced through
    containers and user modules down to modules without children; torch's own
    modules, such as attention, are kept whole), so skip connections, module
    subclasses and functional calls (``F.relu``, ``F.dropout``, ``x + f(x)``) are
    seen. Every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` is set by one of three rules,
    and the returned :class:`InitReport` says which and why, layer by layer.

    **Analytic.** When the path from the layer back to its *source* (the
    pre-activation it is a function of: another weight layer, a residual sum, a
    normalisation layer or the input) holds at most one activation and one noise
    the theory covers, the layer gets

    .. math:: W\sim\mathcal N\!\left(0,\frac{\sigma_w^2}{N_\text{in}}\right),\quad b = 0,\qquad
              \sigma_w^2 = \frac{2}{\mu_2(1+\alpha^2)}

    for ReLU, leaky ReLU and PReLU (Pretorius et al., 2018); for tanh, GELU, SiLU and ELU, the
    :math:`(\sigma_w^2, \sigma_b^2)` of :func:`~noisyprop_lib.critical_point` at
    the operating point :math:`q_0 = 1` (a fixed point of the noisy variance map
    there whose slope and gradient factor are at most 1; the bias
    :math:`b\sim\mathcal N(0,\sigma_b^2)` is small; without a bias, the fixed point
    without one, as the report says). Here
    :math:`N_\text{in}` is ``in_features`` or ``in_channels / groups *
    prod(kernel_size)``; with no activation on the path (the first layer, or a
    linear map) it gets :math:`\sigma_w^2 = 1/\mu_2`, which preserves the second
    moment. Noise is read from ``nn.Dropout``/``Dropout1d/2d/3d`` and functional
    dropout (torch's *drop* probability ``p`` becomes ``keep_prob = 1 - p``),
    :class:`NoiseLayer` and :class:`Dropout`; activations from ``nn.ReLU``,
    ``nn.LeakyReLU``, ``nn.PReLU`` (one slope), ``nn.Tanh``, ``nn.GELU``,
    ``nn.SiLU``, ``nn.ELU`` (alpha 1), :class:`ActivationLayer` and the functions ``F.relu``,
    ``torch.tanh``, ``F.gelu``, ``F.silu``, ``F.elu``, ``F.leaky_relu``. Inputs are taken to be
    standardised (:math:`E[x^2]\approx1`): for smooth activations the rule preserves that level. The train/eval mode
    does not matter: the initialisation is for training, with the noise on.

    **Residual connections.** A sum ``skip + branch`` of two signals, where the
    branch has weight or normalisation layers of its own, is a residual
    connection. Its branch's last weight or normalisation layer is scaled so
    that the sum's second moment is :math:`g^{1/L}` times the skip's, where
    :math:`g` is ``residual_growth`` and :math:`L` the number of residual
    connections on the longest path through the model: the signal grows by at
    most :math:`g` over the whole depth, instead of doubling at every block as it
    would with every layer critical (the :math:`1/L` branch scaling of the
    residual-network literature, with the noise's :math:`\mu_2` in the critical
    weight variance of the branch).

    **Calibrated.** Whatever the theory does not cover (a layer fed through
    pooling, concatenation, an unknown module or function, an activation
    without a variance map, and every normalisation layer with an affine weight)
    is calibrated on ``calibration_data``, a batch of inputs: in forward order,
    with the model in training mode so that dropout is active, each such layer
    is drawn at unit scale and rescaled so that its output's second moment is
    that of its source (or, at the end of a residual branch, the target above).
    Running statistics, modes and the global random state are restored. Without
    ``calibration_data`` such a layer raises ``ValueError`` naming it and saying
    why (``on_unknown="raise"``) or is left unchanged with a ``UserWarning``
    (``on_unknown="warn"``).

    **Unchanged.** Parameters of modules the theory does not cover (kept whole
    or unknown leaf modules) and of modules never called are left as they are
    and listed in ``report.skipped``. What cannot be handled at all raises
    ``ValueError`` (or warns): a weight layer called more than once (shared
    weights), a lazy module, additive noise before a rectifier (no critical
    point), a calibration that measures a zero or infinite second moment.
    Weights are drawn only after the whole model has been analysed, so a
    refusal leaves the model unchanged.

    A model that ``torch.fx`` cannot trace (data-dependent control flow) is
    accepted only if it is a plain chain of its modules, checked on one forward
    pass of ``example_input`` (see :class:`NotAChainError`); it is then
    initialised analytically in registration order, without calibration.

    Parameters
    ----------
    model : torch.nn.Module
    on_unknown : {"raise", "warn"}
    generator : torch.Generator, optional
        Source of randomness for reproducible weights and calibration (CPU
        generator: weights are drawn on CPU and copied to the parameters' device).
    default_noise : Noise or torch dropout module, optional
        Noise assumed before weight layers whose path from their source holds no
        noise (not for layers fed by the input).
    example_input : torch.Tensor, optional
        One batch of inputs, used only when ``torch.fx`` cannot trace the model.
    calibration_data : torch.Tensor or tuple of torch.Tensor, optional
        A batch of inputs (on the model's device; a tuple if ``forward`` takes
        several) for the calibrated layers; with
        it the report also holds the measured second moments of every layer.
    residual_growth : float
        :math:`g\ge 1`, the factor by which the signal's second moment may grow
        over all residual connections together (1: the branches start at zero).

    Returns
    -------
    InitReport
        One row per initialised layer (name, type, fan-in, noise, activation,
        sigma_w2 or gain, rule, why); ``report.skipped`` lists what was left
        unchanged, ``report.notes`` the residual connections and what was not
        analysed, ``report.second_moments`` what calibration measured.

    Notes
    -----
    Zero padding of convolutions lowers the effective fan-in at the borders and
    max pooling raises the second moment; the first is ignored by the analytic
    rule, the second is what calibration is for.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if on_unknown not in ("raise", "warn"):
        raise ValueError(f"on_unknown must be 'raise' or 'warn', got {on_unknown!r}")
    _check_generator(generator)
    default_nz = _default_noise(default_noise)
    if example_input is not None and not isinstance(example_input, torch.Tensor):
        raise ValueError(f"example_input must be a torch.Tensor or None, got {type(example_input).__name__}")
    _check_calibration_data(calibration_data)
    growth = _check_growth(residual_growth)
    gm = None
    if next(iter(model.children()), None) is not None:
        try:
            gm = trace(model)
        except Exception:  # data-dependent control flow, untraceable calls, ...
            gm = None
    if gm is None:
        # a single module, or a model torch.fx cannot trace: the chain walk, checked with hooks
        _check_chain(model, example_input, allow_functional_dropout=default_nz is not None)
        report, pending = _plan(_walk(model, default_nz), on_unknown)
        _report_unanalysed(model, report)
        for module, sw2, sb2 in pending:
            _draw_(module, sw2, generator, sb2)
        return report
    nodes = read_graph(gm)
    plan = plan_graph(nodes, model, default_nz, growth, _analyse, direct_parameters(gm))
    steps = _settle(plan, on_unknown, calibration_data is not None)
    # a calibration can still fail on the data (a zero or infinite second moment): the model is then restored
    saved = [(p, p.detach().clone()) for p in model.parameters()] if calibration_data is not None else []
    try:
        for st in steps:
            if st.rule == "analytic":
                _draw_(st.node.module, st.sigma_w2, generator, st.sigma_b2)
        moments = {}
        if calibration_data is not None:
            levels = [g for g in nodes if g.kind in ("weight", "norm", "add")]
            measured = calibrate_(gm, model, [st for st in steps if st.rule == "calibrated"], calibration_data,
                                  generator, levels)
            moments = {g.name: m for g, m in measured.items()}
    except Exception:
        with torch.no_grad():
            for p, value in saved:
                p.copy_(value)
        raise
    return InitReport([_row(st) for st in steps], plan.skipped, plan.notes, moments)


def _report_unanalysed(model: nn.Module, report: InitReport) -> None:
    """Modules with parameters of their own that the chain walk neither set nor skipped: listed and warned about."""
    done = {r.name for r in report} | {name for name, _ in report.skipped}
    for name, mod in model.named_modules():
        label = name or "<model>"  # the walker's name for a model that is a single module
        if label in done or not any(True for _ in mod.parameters(recurse=False)):
            continue
        reason = (f"{type(mod).__name__} is a module critical_init_ does not analyse (no mean-field rule for it): its "
                  "parameters are left as they are")
        report.skipped.append((label, reason))
        # stacklevel: warn <- _report_unanalysed <- critical_init_ <- the caller
        warnings.warn(f"critical_init_: {label!r} left unchanged: {reason}", UserWarning, stacklevel=3)


def _check_calibration_data(data) -> None:
    if data is None:
        return
    batch = data if isinstance(data, (tuple, list)) else (data,)
    for t in batch:
        if not isinstance(t, torch.Tensor):
            raise ValueError("calibration_data must be a torch.Tensor (a batch of inputs), a tuple of them (one per input "
                             f"of forward) or None, got {type(t).__name__}")
        if t.numel() == 0 or not t.is_floating_point() or not bool(torch.isfinite(t).all()):
            raise ValueError("calibration_data must be a non-empty floating-point tensor of finite values, "
                             f"got dtype {t.dtype} and shape {tuple(t.shape)}")


def _check_growth(growth) -> float:
    try:
        g = float(growth)
    except (TypeError, ValueError):
        raise ValueError(f"residual_growth must be a number >= 1, got {growth!r}") from None
    if not math.isfinite(g) or g < 1.0:
        raise ValueError(f"residual_growth must be a finite number >= 1, got {growth!r}")
    return g


def _settle(plan: Plan, on_unknown: str, have_data: bool) -> list[Step]:
    """The steps to carry out: refuses (raise) or drops with a warning (warn) what cannot be done."""
    failures = [(name, reason) for name, reason, _ in plan.problems]
    if not have_data:
        failures += [(st.node.node.target, f"{st.reason}; the theory does not cover it, so it needs the noise-aware "
                                           "calibration: pass calibration_data= (a batch of inputs)")
                     for st in plan.steps if st.rule == "calibrated"]
    failures.sort(key=lambda f: _order(plan, f[0]))
    for name, reason in failures:
        msg = f"critical_init_: cannot initialise layer {name!r}: {reason}"
        if on_unknown == "raise":
            raise ValueError(msg)
        # stacklevel: warn <- _settle <- critical_init_ <- the caller
        warnings.warn(msg + "; the layer is left untouched", UserWarning, stacklevel=3)
        plan.skipped.append((name, reason))
    dropped = {name for name, _ in failures}
    return [st for st in plan.steps if st.node.node.target not in dropped]


def _order(plan: Plan, name: str) -> int:
    return next((st.node.index for st in plan.steps if st.node.node.target == name), -1)


def _row(st: Step) -> InitRow:
    m = st.node.module
    fan_in = int(math.prod(m.weight.shape[1:])) if st.node.kind == "weight" else None
    act = st.activation or ("" if st.node.kind == "norm" else "linear")
    return InitRow(st.node.node.target, type(m).__name__, fan_in, st.noise if st.node.kind == "weight" else "",
                   act, st.sigma_w2 if st.node.kind == "weight" else None, st.rule, st.why, st.gain,
                   st.sigma_b2 if st.rule == "analytic" else None)
