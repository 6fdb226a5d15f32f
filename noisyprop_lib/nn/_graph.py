"""A model's data flow as :func:`~noisyprop_lib.nn.critical_init_` reads it (private).

The model is traced with ``torch.fx`` down to its modules without children (and
the built-in ``torch.nn`` modules, such as attention, which are kept whole).
Every node of the graph that carries the signal becomes a :class:`GNode` of one
kind:

``input``, ``weight`` (``nn.Linear``/``nn.ConvNd``), ``norm`` (batch, layer,
group and instance normalisation), ``noise`` (dropout modules and functional
dropout), ``activation`` (modules and functional calls), ``shape`` (reshapes and
modules that leave the statistics alone), ``scale`` (multiplication or division
by a number), ``add`` (the sum of two signals: a residual connection) and
``other`` (pooling, concatenation, unknown modules and functions: what the
theory does not cover). Nodes that carry only sizes or parameters are left out.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..theory import ELU, GELU, Noise, ReLU, SiLU, Tanh
from ..theory import Dropout as _DropoutNoise
from . import _chain
from ._common import _ALPHA_DROPOUT, _TORCH_DROPOUT, _TRANSPARENT, _WEIGHT_LAYERS, _describe, _Problem
from .layers import ActivationLayer, NoiseLayer
from .walk import _torch_activation

_NORMS = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)
_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_SHAPE_METHODS = _chain._SHAPE_METHODS | {"clone", "detach"}
_SHAPE_FUNCTIONS = _chain._SHAPE_FUNCTIONS
_META_METHODS = _chain._META_METHODS
_META_ATTRS = _chain._META_ATTRS
_DROPOUT_FUNCTIONS = frozenset({F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, torch.dropout})
_ACTIVATION_FUNCTIONS = {F.relu: ReLU, torch.relu: ReLU, torch.relu_: ReLU, F.relu_: ReLU, torch.tanh: Tanh,
                         F.tanh: Tanh, F.gelu: GELU, F.silu: SiLU, F.elu: ELU}
_ACTIVATION_METHODS = {"relu": ReLU, "relu_": ReLU, "tanh": Tanh, "tanh_": Tanh}
_ADD = frozenset({operator.add, operator.iadd, torch.add})
_MUL = frozenset({operator.mul, operator.imul, torch.mul})
_DIV = frozenset({operator.truediv, operator.itruediv, torch.div})


@dataclass(eq=False)
class GNode:
    """One signal-carrying node of the traced graph."""

    node: fx.Node
    kind: str
    inputs: list = field(default_factory=list)
    module: Optional[nn.Module] = None
    noise: object = None  # Noise or _Problem for kind "noise"
    activation: object = None  # Activation or _Problem for kind "activation"
    factor: float = 1.0  # the factor on the second moment, for kind "scale"
    label: str = ""
    index: int = 0
    centred: bool = True  # for kind "add": both operands zero-mean pre-activations

    @property
    def name(self) -> str:
        return self.node.target if self.node.op == "call_module" else self.node.name


class _Tracer(fx.Tracer):
    """Traces through containers and user modules; stops at modules without children and at torch's own modules."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if next(iter(m.children()), None) is None:
            return True
        return type(m).__module__.startswith("torch.nn.modules") and not isinstance(m, _CONTAINERS)


def trace(model: nn.Module) -> fx.GraphModule:
    """The model as an ``fx.GraphModule`` that shares the model's modules and parameters."""
    graph = _Tracer().trace(model)
    return fx.GraphModule(model, graph)


def _fn_name(target) -> str:
    return f".{target}()" if isinstance(target, str) else _chain._fn_name(target)


def _number(a) -> Optional[float]:
    return float(a) if isinstance(a, (int, float)) and not isinstance(a, bool) else None


def _dropout_noise(n: fx.Node):
    p = n.kwargs.get("p", n.args[1] if len(n.args) > 1 else 0.5)
    if _number(p) is None or not 0.0 <= float(p) < 1.0:
        return _Problem(f"functional dropout with p={p!r}: critical_init_ needs a constant drop probability in [0, 1)")
    return Noise.from_torch(nn.Dropout(float(p)))


def _function_activation(n: fx.Node):
    if n.op == "call_method":
        cls = _ACTIVATION_METHODS.get(n.target)
        return cls() if cls else None
    if n.target is F.leaky_relu or n.target is F.leaky_relu_:
        slope = n.kwargs.get("negative_slope", n.args[1] if len(n.args) > 1 else 0.01)
        return _torch_activation(nn.LeakyReLU(float(slope))) if _number(slope) is not None else None
    if n.target is F.elu:
        alpha = n.kwargs.get("alpha", n.args[1] if len(n.args) > 1 else 1.0)
        return ELU() if _number(alpha) is not None and float(alpha) == 1.0 else None
    cls = _ACTIVATION_FUNCTIONS.get(n.target)
    return cls() if cls else None


def _droppath_keep(m: nn.Module):
    """The keep probability of a stochastic-depth module (timm's DropPath, torchvision's StochasticDepth in
    "row" mode), or None if ``m`` is not one."""
    name = type(m).__name__
    if name == "DropPath" and _number(getattr(m, "drop_prob", None)) is not None:
        p = float(m.drop_prob)
    elif name == "StochasticDepth" and getattr(m, "mode", None) == "row" and _number(getattr(m, "p", None)) is not None:
        p = float(m.p)
    else:
        return None
    return 1.0 - p if 0.0 <= p < 1.0 else None


def _classify_module(g: GNode, m: nn.Module) -> None:
    g.module, g.label = m, f"module {g.node.target!r} ({_describe(m)})"
    if isinstance(m, _WEIGHT_LAYERS):
        g.kind = "weight"
    elif isinstance(m, (NoiseLayer,) + _TORCH_DROPOUT + _ALPHA_DROPOUT):
        g.kind = "noise"
        if isinstance(m, NoiseLayer):
            g.noise = m.noise
        else:
            try:
                g.noise = Noise.from_torch(m)
            except ValueError as exc:
                g.noise = _Problem(str(exc))
    elif _droppath_keep(m) is not None:
        # stochastic depth: one Bernoulli(keep)/keep per example, shared by the units; in expectation over the
        # examples it scales the branch's second moment by 1/keep, as dropout of that keep probability does
        g.kind, g.noise = "noise", _DropoutNoise(_droppath_keep(m))
        g.label += " [DropPath: one mask per example]"
    elif isinstance(m, _NORMS):
        g.kind = "norm"
    elif isinstance(m, _TRANSPARENT):
        g.kind = "shape"
    else:
        act = _torch_activation(m)
        g.kind, g.activation = ("activation", act) if act is not None else ("other", None)
        if isinstance(m, ActivationLayer):
            g.kind, g.activation = "activation", m.activation


def _classify_call(g: GNode, n: fx.Node, data: list) -> None:
    g.label = f"{_fn_name(n.target)} (node {n.name!r})"
    consts = [_number(a) for a in n.args if not isinstance(a, fx.Node)]
    if n.op == "call_method" and n.target in _SHAPE_METHODS or n.op == "call_function" and n.target in _SHAPE_FUNCTIONS:
        g.kind = "shape"
    elif n.op == "call_function" and n.target in _DROPOUT_FUNCTIONS:
        g.kind, g.noise = "noise", _dropout_noise(n)
    elif _function_activation(n) is not None:
        g.kind, g.activation = "activation", _function_activation(n)
    elif n.op == "call_function" and n.target in _ADD and len(data) == 2 and not n.kwargs.get("alpha"):
        g.kind = "add"
    elif n.op == "call_function" and n.target in (_MUL | _DIV) and len(data) == 1 and len(consts) == 1 and consts[0] is not None:
        c = consts[0]
        if n.target in _DIV and data[0] is not n.args[0]:
            g.kind = "other"  # a number divided by the signal
        else:
            g.kind, g.factor = "scale", (c * c if n.target in _MUL else (1.0 / (c * c) if c != 0 else float("inf")))
    else:
        g.kind = "other"


def read_graph(gm: fx.GraphModule) -> list[GNode]:
    """The signal-carrying nodes of ``gm`` in execution order (the output node last, of kind ``output``)."""
    meta: set = set()
    params: set = set()
    out: list[GNode] = []
    by_node: dict = {}
    modules = dict(gm.named_modules())
    for n in gm.graph.nodes:
        ins = list(n.all_input_nodes)
        if n.op == "get_attr":
            params.add(n)
            continue
        if (n.op == "call_method" and n.target in _META_METHODS
                or n.op == "call_function" and n.target is getattr and len(n.args) > 1 and n.args[1] in _META_ATTRS
                or n.op in ("call_function", "call_method") and ins and all(a in meta for a in ins)):
            meta.add(n)
            continue
        data_nodes = [a for a in ins if a not in meta and a not in params]
        if n.op == "placeholder" and not any(u not in meta for u in n.users):
            continue
        g = GNode(n, "input" if n.op == "placeholder" else "output" if n.op == "output" else "other",
                  [by_node[a] for a in data_nodes if a in by_node], index=len(out))
        if n.op == "placeholder":
            g.label = f"the model's input {n.target!r}"
        elif n.op == "call_module":
            _classify_module(g, modules[n.target])
        elif n.op in ("call_function", "call_method"):
            _classify_call(g, n, data_nodes)
            if len(data_nodes) != len(ins) and g.kind not in ("other", "shape", "noise", "activation"):
                g.kind = "other"  # the signal combined with a parameter or buffer used directly
        by_node[n] = g
        out.append(g)
    return out


def direct_parameters(gm: fx.GraphModule) -> list[str]:
    """The parameters and buffers the forward pass uses directly (``get_attr`` nodes), in order, once each."""
    return list(dict.fromkeys(n.target for n in gm.graph.nodes if n.op == "get_attr"))


def residual_depth(nodes: list[GNode]) -> int:
    """The largest number of ``add`` nodes met on one path from the input to the output."""
    depth: dict = {}
    for g in nodes:
        d = max((depth[i.index] for i in g.inputs), default=0)
        depth[g.index] = d + (1 if g.kind == "add" else 0)
    return max(depth.values(), default=0)


def ancestors(nodes: list[GNode]) -> list[int]:
    """For each node, the bit set (an int) of itself and all nodes it depends on."""
    anc: list[int] = []
    for g in nodes:
        a = 1 << g.index
        for i in g.inputs:
            a |= anc[i.index]
        anc.append(a)
    return anc


def _mask(nodes: list[GNode], kinds) -> int:
    m = 0
    for g in nodes:
        if g.kind in kinds:
            m |= 1 << g.index
    return m


def split_residual(nodes: list[GNode], add: GNode, anc: list[int]) -> Optional[tuple[GNode, GNode, bool]]:
    """(skip, branch, ambiguous) of a two-input ``add``: the branch is the operand with more weight and
    normalisation layers of its own (not shared with the other operand); None if neither has any."""
    a, b = add.inputs
    scalable = _mask(nodes, ("weight", "norm"))
    own_a = bin(anc[a.index] & ~anc[b.index] & scalable).count("1")
    own_b = bin(anc[b.index] & ~anc[a.index] & scalable).count("1")
    if own_a == own_b == 0:
        return None
    if own_a > own_b:
        return b, a, False
    return a, b, own_a == own_b


def count_calls(nodes: list[GNode]) -> dict:
    """How many times each module is called in the traced forward pass."""
    calls: dict = {}
    for g in nodes:
        if g.module is not None:
            calls[id(g.module)] = calls.get(id(g.module), 0) + 1
    return calls


def shared_parameters(model) -> dict:
    """``{id(module): [names of the other modules holding one of its parameters]}`` for tied weights.

    Two modules that hold the same ``Parameter`` object (an embedding tied to an output projection, a weight
    reused by assignment) are one set of weights: initialising each for its own place cannot be right."""
    owners: dict = {}
    for name, mod in model.named_modules(remove_duplicate=False):
        for p in mod.parameters(recurse=False):
            owners.setdefault(id(p), []).append((name, mod))
    shared: dict = {}
    for holders in owners.values():
        distinct = {id(m): n for n, m in holders}
        if len(distinct) > 1:
            for n, m in holders:
                shared.setdefault(id(m), set()).update(o for i, o in distinct.items() if i != id(m))
    return {k: sorted(v) for k, v in shared.items()}
