"""Noise-aware data-driven calibration of the layers the theory does not cover (private).

In the spirit of LSUV (Mishkin and Matas, 2016), but with the noise on and with
targets from the theory: each calibrated layer is first drawn with unit scale
(weights :math:`\\mathcal N(0, 1/N_\\text{in})`, or gamma = 1 for a normalisation
layer, biases zero), then, in forward order, the model is run on the batch up to
that layer in training mode (dropout active) and the layer is rescaled so that
its output's second moment equals ``ratio`` times the measured second moment of
its reference node. The output is linear in the scale, so one pass per layer
suffices. Running statistics of normalisation layers, the train/eval modes and
the global random state are restored afterwards.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import fx, nn

from ._common import _draw_


def _second_moment(t) -> float:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"critical_init_: calibration met a value of type {type(t).__name__} where a tensor was expected")
    return float(t.detach().double().pow(2).mean())


class _Runner:
    """Runs an fx.GraphModule node by node on one batch, up to a given node."""

    def __init__(self, gm: fx.GraphModule, data):
        self.gm, self.data = gm, tuple(data) if isinstance(data, (tuple, list)) else (data,)

    def run_until(self, stop: Optional[fx.Node], want) -> dict:
        interp = fx.Interpreter(self.gm)
        interp.env = {}
        interp.args_iter = iter(self.data)
        out = {}
        for n in self.gm.graph.nodes:
            if n.op == "output":
                break
            interp.env[n] = interp.run_node(n)
            if n in want:
                out[n] = _second_moment(interp.env[n])
            if n is stop:
                break
        return out


def _norm_buffers(model: nn.Module) -> list:
    return [(b, b.detach().clone()) for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase)
            for b in m.buffers(recurse=False)]


def _unit_scale_(module: nn.Module, generator) -> None:
    if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        _draw_(module, 1.0, generator)
        return
    with torch.no_grad():
        module.weight.fill_(1.0)
        if getattr(module, "bias", None) is not None:
            module.bias.zero_()


def calibrate_(gm: fx.GraphModule, model: nn.Module, steps: list, data: torch.Tensor, generator, level_nodes) -> dict:
    """Calibrate ``steps`` (Step records with rule "calibrated") in order; the measured second moments after.

    Returns ``{node: E[x^2]}`` for ``level_nodes`` measured on one final pass, and
    sets ``step.sigma_w2`` (weights) or ``step.gain`` (normalisation) on each step.
    """
    modes = {m: m.training for m in model.modules()}
    saved = _norm_buffers(model)
    seed = int(torch.randint(0, 2**62, (1,), generator=generator)) if generator is not None else None
    first = data[0] if isinstance(data, (tuple, list)) else data
    devices = [first.device] if first.device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            model.train()
            runner = _Runner(gm, data)
            for step in steps:
                _unit_scale_(step.node.module, generator)
            # a layer is calibrated once its reference is final: a projection shortcut that torch runs after
            # the branch is calibrated before the branch's end, whose target is the shortcut's output
            order = sorted(steps, key=lambda st: (max(st.node.index, st.ref.index), st.node.index < st.ref.index))
            for step in order:
                _calibrate_step(runner, step)
            final = runner.run_until(None, {g.node for g in level_nodes})
    finally:
        for buf, value in saved:
            buf.copy_(value)
        for m, mode in modes.items():
            m.train(mode)
    return {g: final[g.node] for g in level_nodes if g.node in final}


def _calibrate_step(runner: _Runner, step) -> None:
    """Rescale one layer so that its output (or, at the end of a residual branch, the sum) meets its target."""
    end = getattr(step, "end", None)
    watch = [step.node, step.ref] + ([end.add, end.branch] if end is not None else [])
    last = max(watch, key=lambda g: g.index)
    got = runner.run_until(last.node, {g.node for g in watch})
    have, ref = got[step.node.node], got[step.ref.node]
    if not (math.isfinite(have) and math.isfinite(ref)) or have <= 0.0:
        raise ValueError(f"critical_init_: cannot calibrate layer {step.node.node.target!r}: the second moment of its "
                         f"output measured on calibration_data is {have:g} (its reference {step.ref.label}: {ref:g}); "
                         "check calibration_data (finite, not all zero) and the layers before it")
    if end is None:
        if not ref > 0.0:
            # e.g. a reference that follows a zero-initialised class token through torch.cat: scaling the layer
            # to a target of 0 would switch it off silently
            raise ValueError(f"critical_init_: cannot calibrate layer {step.node.node.target!r}: its target, the second "
                             f"moment of {step.ref.label} on calibration_data, is {ref:g}; a calibration target of 0 "
                             "would set the layer to zero. Initialise the parameter that feeds it (a class token, a "
                             "positional embedding) to a non-zero scale first, or initialise this layer yourself")
        scale = math.sqrt(step.ratio * ref / have)
    else:
        # the branch is positively homogeneous in this layer's scale s, so the sum's second moment is
        # A + 2 B s + C s^2 (A: skip, C: branch, B: their cross moment); solve it for (1 + ratio') A, where
        # ratio' A is the branch's share of the target (ratio times the factor after this layer)
        a, c, total = got[end.skip.node], got[end.branch.node], got[end.add.node]
        b = 0.5 * (total - a - c)
        extra = end.share * a  # the sum's target is A + extra
        root = math.sqrt(max(b * b + c * extra, 0.0))
        scale = extra / (b + root) if b + root > 0 else 0.0  # the non-negative root of C s^2 + 2 B s = extra
    step.node.module.weight.mul_(scale)
    if step.node.kind == "norm":
        step.gain = scale
    else:
        step.sigma_w2 = scale * scale
