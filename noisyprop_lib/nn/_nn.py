r"""PyTorch integration: noise-aware critical initialisation and noisy modules.

:func:`critical_init_` walks an existing torch model, finds every ``nn.Linear``
and ``nn.Conv1d/2d/3d``, works out the noise and the activation that feed it
and draws its weights from

.. math:: W_{ij}\sim\mathcal N\!\left(0, \frac{\sigma_w^2}{N_\text{in}}\right),\qquad
          \sigma_w^2 = \frac{2}{\mu_2\,(1+\alpha^2)}\ \text{(rectifiers)},\qquad
          \sigma_w^2 = \frac{1}{\mu_2\,\phi'(0)^2}\ \text{(smooth } \phi,\ \phi(0)=0),

with zero biases, so that the noisy variance map
:math:`q^{l} = \sigma_w^2\,\mu_2\,E[\phi(h^{l-1})^2]` is critical
(Pretorius et al., 2018; :func:`noisyprop_lib.critical_sigma_w2`).

:class:`NoiseLayer` applies any library noise model inside a model,
:class:`Dropout` is inverted dropout that takes ``p=`` (torch's *drop*
probability) or ``keep_prob=`` explicitly, and :class:`NoisyMLP` is the book's
network, ``Linear -> activation -> noise`` per hidden block.
"""
from __future__ import annotations

import math
import operator
import warnings
from typing import Any, NamedTuple, Optional, Union

import torch
import torch.nn.functional as F
from torch import fx, nn

from ..theory import activations as _act
from ..theory import noise as _noise
from .._validation import check_positive_int
from ..theory.criticality import critical_sigma_w2

__all__ = [
    "critical_init_",
    "NotAChainError",
    "InitReport",
    "InitRow",
    "NoiseLayer",
    "Dropout",
    "ActivationLayer",
    "NoisyMLP",
]

_WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TORCH_DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_ALPHA_DROPOUT = (nn.AlphaDropout, nn.FeatureAlphaDropout)
#: leaf modules that leave the signal's statistics unchanged
_TRANSPARENT = (nn.Identity, nn.Flatten, nn.Unflatten)
#: noise laws that are non-negative, so that phi(x * eps) = phi(x) * eps for a rectifier phi
_NONNEGATIVE_NOISE = (_noise.NoNoise, _noise.Dropout, _noise.PlainDropout, _noise.GammaNoise, _noise.PoissonNoise)


# ---------------------------------------------------------------------------
# noise and activation modules
# ---------------------------------------------------------------------------


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

    def __init__(self, noise: Union[_noise.Noise, nn.Module], generator: Optional[torch.Generator] = None):
        super().__init__()
        if noise is None:
            raise ValueError("noise must be a noisyprop_lib noise model or a torch dropout module, got None")
        nz = _noise.as_noise(noise)
        if not nz.is_scalar:
            raise ValueError(f"noise must have scalar parameters to be sampled, got {nz!r}")
        _check_generator(generator)
        self.noise = nz
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or isinstance(self.noise, _noise.NoNoise):
            return x
        return self.noise.apply(x, generator=self.generator)

    def extra_repr(self) -> str:
        return repr(self.noise)


class Dropout(NoiseLayer):
    r"""Inverted dropout, :math:`x\,B/p` with :math:`B\sim\mathrm{Bernoulli}(p)`, :math:`p` = ``keep_prob``.

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
        kp = _noise.keep_prob_from_torch(p) if p is not None else keep_prob
        super().__init__(_noise.Dropout(kp), generator=generator)

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

    def __init__(self, activation: Union[str, _act.Activation]):
        super().__init__()
        act = _act.get_activation(activation)
        if act._torch_fn is None:
            raise ValueError(f"activation {act!r} has no torch implementation (pass torch_fn= to Activation)")
        self.activation = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activation.torch(x)

    def extra_repr(self) -> str:
        return repr(self.activation)


# ---------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# is the forward pass the chain of the modules?
# ---------------------------------------------------------------------------


class NotAChainError(ValueError):
    """The model's forward pass is not the chain of its modules that :func:`critical_init_` analyses.

    Raised for skip connections (``x + f(x)``), concatenations, modules used twice
    or not at all, functional activations (``F.relu``) and parameters used directly
    in ``forward``: the walker would otherwise initialise such a model as if it were
    a plain chain, which is silently wrong (a 20-block residual ReLU network grows
    its signal's second moment by a factor of about 1e7).
    """


_SUPPORTED_GRAPH = (
    "critical_init_ supports models whose forward pass applies their modules one after the other, each "
    "taking the previous one's output (nn.Sequential, or an nn.Module that calls its children that way), "
    "with only reshaping (view, reshape, flatten, permute, ...) in between; skip connections (x + f(x)), "
    "concatenations, shared or unused modules, functional activations or noise (F.relu: use nn.ReLU; "
    "F.dropout: use nn.Dropout or pass default_noise=) and parameters used directly in forward are not "
    "supported (residual networks: a later version); initialise such a model yourself"
)
_SHAPE_METHODS = frozenset({"view", "reshape", "flatten", "unflatten", "squeeze", "unsqueeze", "permute", "transpose", "t", "contiguous", "movedim", "float", "double", "to"})
_SHAPE_FUNCTIONS = frozenset({torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, torch.permute, torch.transpose, torch.t, torch.movedim})
_META_METHODS = frozenset({"size", "dim", "ndimension", "numel"})
_META_ATTRS = frozenset({"shape", "dtype", "device", "ndim", "is_cuda"})
_FUNCTIONAL_DROPOUT = frozenset({F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, torch.dropout})


class _LeafTracer(fx.Tracer):
    """Traces through every container; stops at modules without children (what the walker reads)."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return next(iter(m.children()), None) is None


def _walked_leaves(model: nn.Module) -> list[str]:
    return [name or "<model>" for name, m in model.named_modules() if next(iter(m.children()), None) is None]


def _fn_name(target) -> str:
    if isinstance(target, str):
        return target
    mod = getattr(target, "__module__", None) or ""
    name = getattr(target, "__name__", repr(target))
    if mod in ("_operator", "operator"):
        return f"operator.{name}"
    if mod.startswith("torch.nn.functional"):
        return f"F.{name}"
    if mod.startswith("torch"):
        return f"torch.{name}"
    return f"{mod}.{name}" if mod else name


def _where(node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    if node.op == "call_module" and stack:
        stack = dict(list(stack.items())[:-1])  # the module itself is the last entry
    if not stack:
        return "in the model's own forward"
    qual, (_, cls) = list(stack.items())[-1]
    return f"in the forward of {qual!r} ({getattr(cls, '__name__', cls)})"


def _what(node) -> str:
    if node.op == "placeholder":
        return f"the model's input {node.target!r}"
    if node.op == "call_module":
        return f"the output of {node.target!r}"
    if node.op == "get_attr":
        return f"the parameter or buffer {node.target!r}"
    return f"the result of {_fn_name(node.target)}"


def _check_chain_fx(model: nn.Module, graph: "fx.Graph", allow_functional_dropout: bool) -> None:
    def refuse(detail: str):
        raise NotAChainError(f"critical_init_: the forward pass of {type(model).__name__} is not a chain of its modules: {detail}. {_SUPPORTED_GRAPH}.")

    nodes = list(graph.nodes)
    meta: set = set()  # nodes that carry shapes or sizes, not the signal
    for n in nodes:
        ins = [a for a in n.all_input_nodes]
        if n.op == "call_method" and n.target in _META_METHODS:
            meta.add(n)
        elif n.op == "call_function" and n.target is getattr and len(n.args) > 1 and n.args[1] in _META_ATTRS:
            meta.add(n)
        elif n.op in ("call_function", "call_method") and ins and all(a in meta for a in ins):
            meta.add(n)

    def data_inputs(n):
        return [a for a in _flat_node_args(n) if a not in meta]

    inputs = [n for n in nodes if n.op == "placeholder" and any(u not in meta for u in n.users)]
    if len(inputs) != 1:
        names = ", ".join(repr(n.target) for n in inputs) or "none"
        refuse(f"its forward uses {len(inputs)} input tensors ({names}) where a chain has exactly one")
    cur = inputs[0]
    modules: list[str] = []
    for n in nodes:
        if n.op == "placeholder" or n in meta:
            continue
        if n.op == "get_attr":
            refuse(f"{_where(n)}, {_what(n)} is used directly (a functional use of a weight) rather than through a module")
        args = data_inputs(n)
        if n.op == "output":
            if args != [cur]:
                refuse(f"the model returns {', '.join(_what(a) for a in args) or 'no tensor'}, not only {_what(cur)}, the end of the chain")
            break
        if args != [cur]:
            if len(args) > 1:
                parts = ", ".join(_what(a) for a in dict.fromkeys(args))
                label = f"module {n.target!r}" if n.op == "call_module" else _fn_name(n.target)
                kind = " (a skip connection)" if n.op == "call_function" and n.target in (operator.add, operator.iadd, torch.add) else ""
                refuse(f"{_where(n)}, {label} combines {parts}{kind}")
            label = f"module {n.target!r}" if n.op == "call_module" else _fn_name(n.target)
            got = _what(args[0]) if args else "no tensor of the chain"
            refuse(f"{_where(n)}, {label} takes {got} where a chain would pass it {_what(cur)}")
        if n.op == "call_module":
            modules.append(n.target)
        elif n.op == "call_method" and n.target in _SHAPE_METHODS:
            pass
        elif n.op == "call_function" and n.target in _SHAPE_FUNCTIONS:
            pass
        elif n.op == "call_function" and n.target in _FUNCTIONAL_DROPOUT and allow_functional_dropout:
            pass
        elif n.op == "call_function" and n.target in _FUNCTIONAL_DROPOUT:
            refuse(f"{_where(n)}, dropout is applied functionally ({_fn_name(n.target)}), which the walker cannot see; "
                   "use an nn.Dropout module, or pass default_noise= to declare the noise between weight layers")
        else:
            refuse(f"{_where(n)}, {_fn_name(n.target)} is applied to {_what(cur)} as a function call; critical_init_ reads "
                   "activations and noise only from modules, so use the module (nn.ReLU, nn.Tanh, nn.Dropout, ...)")
        users = [u for u in cur.users if u not in meta]
        if len(users) > 1:
            used_by = ", ".join(f"module {u.target!r}" if u.op == "call_module" else "the model's output" if u.op == "output" else _fn_name(u.target) for u in users)
            refuse(f"{_where(n)}, {_what(cur)} is used by {len(users)} operations ({used_by}): a branch, as at the start of a skip connection x + f(x)")
        cur = n
    _check_module_order(model, modules, refuse)


def _flat_node_args(n) -> list:
    out: list = []
    fx.node.map_arg((n.args, n.kwargs), lambda a: out.append(a))
    return out


def _check_module_order(model, called: list[str], refuse) -> None:
    walked = _walked_leaves(model)
    if called == walked:
        return
    seen = set()
    for name in called:
        if name in seen:
            refuse(f"module {name!r} is called more than once (shared weights)")
        seen.add(name)
    unused = [w for w in walked if w not in seen]
    if unused:
        refuse(f"module {unused[0]!r} is registered but never called in forward")
    for i, (a, b) in enumerate(zip(called, walked)):
        if a != b:
            refuse(f"forward calls {a!r} where the registration order, which the walker follows, has {b!r}")


def _check_chain_hooks(model: nn.Module, example_input: torch.Tensor) -> None:
    """The same check on one forward pass: each leaf module's input must be the previous one's output (or a view)."""

    def refuse(detail: str):
        raise NotAChainError(f"critical_init_: the forward pass of {type(model).__name__} (checked with hooks on example_input) "
                             f"is not a chain of its modules: {detail}. {_SUPPORTED_GRAPH}.")

    def same_signal(t, ref) -> bool:
        return (isinstance(t, torch.Tensor) and isinstance(ref, torch.Tensor) and t.numel() == ref.numel()
                and t.untyped_storage().data_ptr() == ref.untyped_storage().data_ptr())

    leaves = [(name or "<model>", m) for name, m in model.named_modules() if next(iter(m.children()), None) is None]
    called: list[str] = []
    state = {"prev": example_input, "version": example_input._version, "prev_name": "the model's input"}
    problems: list[str] = []

    def pre(name):
        def hook(mod, args):
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            if not problems:
                if len(tensors) != 1 or not same_signal(tensors[0], state["prev"]):
                    problems.append(f"module {name!r} does not take {state['prev_name']} as its only tensor input")
                elif tensors[0]._version != state["version"]:
                    problems.append(f"{state['prev_name']} is modified in place (e.g. out += x) before module {name!r}")
            called.append(name)
        return hook

    def post(name):
        def hook(mod, args, out):
            state.update(prev=out, version=out._version if isinstance(out, torch.Tensor) else None, prev_name=f"the output of {name!r}")
        return hook

    handles = []
    modes = {m: m.training for m in model.modules()}
    try:
        for name, m in leaves:
            handles += [m.register_forward_pre_hook(pre(name)), m.register_forward_hook(post(name))]
        model.eval()  # no dropout draws and no running-statistics updates
        with torch.no_grad():
            out = model(example_input)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)
    if problems:
        refuse(problems[0])
    if not same_signal(out, state["prev"]) or (isinstance(out, torch.Tensor) and out._version != state["version"]):
        refuse(f"the model returns something other than {state['prev_name']}")
    _check_module_order(model, called, refuse)


def _check_chain(model: nn.Module, example_input, allow_functional_dropout: bool) -> None:
    if next(iter(model.children()), None) is None:
        return  # a single module (e.g. one nn.Linear) is its own chain
    try:
        graph = _LeafTracer().trace(model)
    except Exception as exc:  # data-dependent control flow, untraceable calls, ...
        if example_input is None:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise NotAChainError(
                f"critical_init_: could not check that the forward pass of {type(model).__name__} is a chain of its "
                f"modules: torch.fx cannot trace it ({type(exc).__name__}: {reason}). Pass example_input= (one "
                "batch of inputs) to check it on one forward pass instead"
            ) from exc
        _check_chain_hooks(model, example_input)
        return
    _check_chain_fx(model, graph, allow_functional_dropout)


# ---------------------------------------------------------------------------
# the initialiser
# ---------------------------------------------------------------------------


class _Problem(NamedTuple):
    reason: str


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {generator!r}")


def _torch_activation(module: nn.Module):
    """The library activation of a torch activation module, a _Problem, or None if not an activation."""
    if isinstance(module, ActivationLayer):
        return module.activation
    if isinstance(module, nn.ReLU):
        return _act.ReLU()
    if isinstance(module, nn.LeakyReLU):
        slope = float(module.negative_slope)
        if not 0.0 <= slope < 1.0:
            return _Problem(f"nn.LeakyReLU(negative_slope={slope:g}) is outside the analysed range [0, 1)")
        return _act.ReLU() if slope == 0.0 else _act.LeakyReLU(slope)
    if isinstance(module, nn.PReLU):
        if module.weight.numel() != 1:
            return _Problem(
                f"nn.PReLU with {module.weight.numel()} slopes (one per channel) is not analysed; "
                "critical_init_ needs a single slope (num_parameters=1)"
            )
        slope = float(module.weight.detach().reshape(()).item())
        if not 0.0 <= slope < 1.0:
            return _Problem(f"nn.PReLU with current slope {slope:g} is outside the analysed range [0, 1)")
        return _act.ReLU() if slope == 0.0 else _act.LeakyReLU(slope)
    if isinstance(module, nn.Tanh):
        return _act.Tanh()
    if isinstance(module, nn.GELU):
        # approximate="tanh" has the same phi(0) = 0 and phi'(0) = 1/2, which is all the criterion uses
        return _act.GELU()
    if isinstance(module, nn.SiLU):
        return _act.SiLU()
    return None


_SUPPORTED_MODULES = (
    "supported between weight layers (nn.Linear, nn.Conv1d/2d/3d) are one activation module (nn.ReLU, "
    "nn.LeakyReLU, nn.PReLU with one slope, nn.Tanh, nn.GELU, nn.SiLU, npl.nn.ActivationLayer), one noise "
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


def _describe(module: nn.Module) -> str:
    return f"{type(module).__name__}({module.extra_repr()})"


def _fan_in(layer: nn.Module) -> int:
    # Linear: in_features; ConvNd: in_channels / groups * prod(kernel_size)
    return int(math.prod(layer.weight.shape[1:]))


def _draw_(layer: nn.Module, sigma_w2: float, generator: Optional[torch.Generator]) -> None:
    """Set ``layer.weight ~ N(0, sigma_w2 / fan_in)`` and ``layer.bias = 0``, in place."""
    w = layer.weight
    std = math.sqrt(sigma_w2 / _fan_in(layer))
    dev = generator.device if generator is not None else w.device
    dtype = w.dtype if w.dtype in (torch.float32, torch.float64) else torch.float32
    with torch.no_grad():
        sample = torch.randn(w.shape, generator=generator, dtype=dtype, device=dev)
        w.copy_(sample.mul_(std))
        if layer.bias is not None:
            layer.bias.zero_()


def _analyse(name, layer, noise, noise_src, act, act_src, order, first):
    """sigma_w2 and the row labels for one weight layer, or a _Problem."""
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in layer.parameters(recurse=False)):
        return _Problem("it is a lazy module whose weight is not materialised yet; run one forward pass first")
    if isinstance(noise, _Problem):
        return noise
    if isinstance(act, _Problem):
        return act
    nz = noise if noise is not None else _noise.NoNoise()
    noise_label = repr(nz) if noise is not None else "none"
    if noise_src is not None and noise_src is not nz and not isinstance(noise_src, NoiseLayer):
        noise_label = f"{noise_label} [from {_describe(noise_src)}]"
    if act is None:
        if not first:
            return _Problem(
                "no activation module between it and the previous weight layer; if the model applies a "
                "functional activation (e.g. F.relu in forward) the walker cannot see it, so use activation "
                "modules (nn.ReLU, ...) or initialise this layer yourself"
            )
        if nz.kind == _noise.ADDITIVE and float(nz.variance) > 0:
            return _Problem(f"additive noise {nz!r} before the first layer: its input's second moment cannot be preserved")
        mu2 = 1.0 if nz.kind == _noise.ADDITIVE else float(nz.mu2)
        return 1.0 / mu2, noise_label, "linear (input)"
    if order == "noise-first" and not (isinstance(act, _act.LeakyReLU) and isinstance(nz, _NONNEGATIVE_NOISE)):
        return _Problem(
            f"the noise {nz!r} comes before the activation {act!r}; only non-negative noise before a "
            "rectifier is equivalent to the book's activation -> noise order"
        )
    try:
        sw2 = float(critical_sigma_w2(nz, act))
    except ValueError as exc:
        return _Problem(str(exc))
    return sw2, noise_label, getattr(act, "name", repr(act))


def critical_init_(
    model: nn.Module,
    *,
    on_unknown: str = "raise",
    generator: Optional[torch.Generator] = None,
    default_noise: Optional[Union[_noise.Noise, nn.Module]] = None,
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
    default_nz = None if default_noise is None else _noise.as_noise(default_noise)
    if default_nz is not None and not default_nz.is_scalar:
        raise ValueError(f"default_noise must have scalar parameters, got {default_nz!r}")
    if example_input is not None and not isinstance(example_input, torch.Tensor):
        raise ValueError(f"example_input must be a torch.Tensor or None, got {type(example_input).__name__}")
    _check_chain(model, example_input, allow_functional_dropout=default_nz is not None)

    report = InitReport()
    # weights are drawn only after the whole model has been analysed, so that a refusal in
    # strict mode leaves the model exactly as it was (no half-initialised models)
    pending: list[tuple[nn.Module, float]] = []
    noise = noise_src = act = act_src = None
    order = None
    first = True

    def problem(name, reason):
        msg = f"critical_init_: cannot initialise layer {name!r}: {reason}"
        if on_unknown == "raise":
            raise ValueError(msg)
        warnings.warn(msg + "; the layer is left untouched", UserWarning, stacklevel=3)
        report.skipped.append((name, reason))

    for name, module in model.named_modules():
        name = name or "<model>"
        if isinstance(module, _WEIGHT_LAYERS):
            nz = noise if noise is not None else (default_nz if not first else None)
            res = _analyse(name, module, nz, noise_src, act, act_src, order, first)
            if isinstance(res, _Problem):
                problem(name, res.reason)
            else:
                sw2, noise_label, act_label = res
                pending.append((module, sw2))
                report.append(InitRow(name, type(module).__name__, _fan_in(module), noise_label, act_label, sw2))
            noise = noise_src = act = act_src = order = None
            first = False
            continue
        if isinstance(module, (NoiseLayer,) + _TORCH_DROPOUT + _ALPHA_DROPOUT):
            if noise is not None:
                noise = _Problem(
                    f"two noise modules ({_describe(noise_src)} and {_describe(module)}) feed it; "
                    "combine them into one noise model"
                )
                continue
            if isinstance(module, NoiseLayer):
                noise = module.noise
            else:
                try:
                    noise = _noise.Noise.from_torch(module)
                except ValueError as exc:
                    noise = _Problem(str(exc))
            noise_src = module
            if order is None:
                order = "noise-first" if act is None else "activation-first"
            continue
        if isinstance(module, ActivationLayer) or not list(module.children()):
            a = _torch_activation(module)
            if a is None:
                if isinstance(module, _TRANSPARENT):
                    continue
                a = _Problem(_unsupported_module(module))
            elif act is not None and not isinstance(act, _Problem) and not isinstance(a, _Problem):
                a = _Problem(f"two activation modules ({_describe(act_src)} and {_describe(module)}) feed it")
            if not isinstance(act, _Problem):
                act, act_src = a, module
            if order is None:
                order = "activation-first"
    for module, sw2 in pending:
        _draw_(module, sw2, generator)
    return report


# ---------------------------------------------------------------------------
# the book's network
# ---------------------------------------------------------------------------

_TORCH_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "silu": nn.SiLU, "swish": nn.SiLU}


def _activation_module(activation) -> nn.Module:
    if isinstance(activation, str) and activation.lower() in _TORCH_ACTIVATIONS:
        return _TORCH_ACTIVATIONS[activation.lower()]()
    act = _act.get_activation(activation)
    if isinstance(act, _act.LeakyReLU):
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
        noise: Optional[Union[_noise.Noise, nn.Module]] = None,
        activation: Union[str, _act.Activation] = "relu",
        init: str = "critical",
        bias: bool = True,
        generator: Optional[torch.Generator] = None,
    ):
        in_features = check_positive_int("in_features", in_features)
        width = check_positive_int("width", width)
        depth = check_positive_int("depth", depth)
        out_features = check_positive_int("out_features", out_features)
        if init not in ("critical", "he", "torch"):
            raise ValueError(f"init must be 'critical', 'he' or 'torch', got {init!r}")
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be a bool, got {bias!r}")
        _check_generator(generator)
        nz = _noise.as_noise(noise)
        layers: list[nn.Module] = []
        for i in range(depth):
            layers.append(nn.Linear(in_features if i == 0 else width, width, bias=bias))
            layers.append(_activation_module(activation))
            if not isinstance(nz, _noise.NoNoise):
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
