"""Is a model's forward pass the chain of its modules? (private: the check behind the walker)

The walker of :mod:`noisyprop_lib.nn.walk` follows the registration order of a
model's modules; that is only the forward order if the forward pass *is* that
chain. The model's graph is read with ``torch.fx`` symbolic tracing, or, when it
cannot be traced, checked with hooks on one forward pass of an example input.
"""
from __future__ import annotations

import operator

import torch
import torch.nn.functional as F
from torch import fx, nn

__all__ = ["NotAChainError"]


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
    "supported by this check (critical_init_ reads such models from their torch.fx graph when they can be traced)"
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


def _check_chain_fx(model: nn.Module, graph: "fx.Graph", allow_functional_dropout: bool, who: str = "critical_init_") -> None:
    def refuse(detail: str):
        raise NotAChainError(f"{who}: the forward pass of {type(model).__name__} is not a chain of its modules: {detail}. {_SUPPORTED_GRAPH}.")

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


def _check_chain_hooks(model: nn.Module, example_input: torch.Tensor, who: str = "critical_init_") -> None:
    """The same check on one forward pass: each leaf module's input must be the previous one's output (or a view)."""

    def refuse(detail: str):
        raise NotAChainError(f"{who}: the forward pass of {type(model).__name__} (checked with hooks on example_input) "
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


def _check_chain(model: nn.Module, example_input, allow_functional_dropout: bool, who: str = "critical_init_") -> None:
    """Raise :class:`NotAChainError` unless ``model``'s forward pass is the chain of its leaf modules; ``who`` starts the message."""
    if next(iter(model.children()), None) is None:
        return  # a single module (e.g. one nn.Linear) is its own chain
    try:
        graph = _LeafTracer().trace(model)
    except Exception as exc:  # data-dependent control flow, untraceable calls, ...
        if example_input is None:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise NotAChainError(
                f"{who}: could not check that the forward pass of {type(model).__name__} is a chain of its "
                f"modules: torch.fx cannot trace it ({type(exc).__name__}: {reason}). Pass example_input= (one "
                "batch of inputs) to check it on one forward pass instead"
            ) from exc
        _check_chain_hooks(model, example_input, who)
        return
    _check_chain_fx(model, graph, allow_functional_dropout, who)
