"""The machinery behind :class:`noisyprop_lib.Layer` arguments (private): the ``accepts_layer`` decorator.

It recognises a layer by its ``_is_layer_spec`` marker rather than by importing :mod:`.spec`, so that the
maps and criticality (which it decorates) stay below :mod:`.spec` (whose ``Layer.critical`` uses them).
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

from .activations import get_activation
from .noise import as_noise

_FIELDS = ("sigma_w2", "sigma_b2", "noise", "activation")


def _is_layer(x) -> bool:
    return getattr(type(x), "_is_layer_spec", False)


def _same(field, a, b) -> bool:
    if a is b:
        return True
    if field == "noise":
        return as_noise(a) == as_noise(b)
    if field == "activation":
        return a == b or repr(get_activation(a)) == repr(get_activation(b))
    if a is None or b is None:
        return False
    return bool(np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float)))


def accepts_layer(fn):
    """Let ``fn`` take a :class:`Layer` (in its first layer slot or as ``layer=``) for its layer parameters.

    Calls without a Layer go straight to ``fn`` (no cost, no change). With one, the Layer's fields fill
    ``fn``'s layer parameters; an explicit parameter that differs from the Layer is a ``ValueError``.
    """
    sig = inspect.signature(fn)
    names = list(sig.parameters)
    taken = [n for n in names if n in _FIELDS]
    first = taken[0]
    slot = names.index(first) if sig.parameters[first].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD else None

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        layer = kwargs.pop("layer", None)
        in_slot = slot is not None and len(args) > slot and _is_layer(args[slot])
        if layer is None and not in_slot:
            return fn(*args, **kwargs)
        if layer is not None and not _is_layer(layer):
            raise ValueError(f"layer must be a noisyprop_lib.Layer, got {layer!r}")
        if in_slot:
            if layer is not None:
                raise ValueError(f"pass the Layer once: both as {first} and as layer=")
            layer = args[slot]
            args = args[:slot] + (getattr(layer, first),) + args[slot + 1:]
            explicit_first = False
        else:
            explicit_first = True
        bound = sig.bind_partial(*args, **kwargs)
        for name in taken:
            if name in bound.arguments and (explicit_first or name != first):
                if not _same(name, bound.arguments[name], getattr(layer, name)):
                    raise ValueError(
                        f"{name} was given both explicitly ({bound.arguments[name]!r}) and by the Layer "
                        f"({getattr(layer, name)!r}); give it once"
                    )
            bound.arguments[name] = getattr(layer, name)
        if "sigma_b2" not in taken and np.any(np.asarray(layer.sigma_b2) != 0):
            raise ValueError(f"{fn.__name__} assumes sigma_b2 = 0, but the Layer has sigma_b2 = {layer.sigma_b2!r}")
        return fn(*bound.args, **bound.kwargs)

    wrapper.__signature__ = sig.replace(parameters=list(sig.parameters.values()) + [
        inspect.Parameter("layer", inspect.Parameter.KEYWORD_ONLY, default=None)])
    return wrapper
