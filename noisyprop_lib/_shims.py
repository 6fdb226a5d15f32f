"""Deprecation shims for the module paths of release 0.1.0 (the QuantEcon manner).

Release 0.1.0 was one flat package (``noisyprop_lib.criticality``, ``noisyprop_lib.simulate``, ...).
The implementation now lives in subpackages (:mod:`noisyprop_lib.theory`, :mod:`noisyprop_lib.simulation`,
:mod:`noisyprop_lib.book`, ...). Each old module is a small file that calls :func:`deprecated_module`: any
name it held still resolves, through a module ``__getattr__``, with a :class:`DeprecationWarning` that names
the new home. Nothing is imported until a name is asked for, so an old path costs no torch import.
"""
from __future__ import annotations

import importlib
import warnings

__all__ = ["deprecated_module"]


def deprecated_module(old: str, targets: tuple[str, ...]):
    """Return ``(__getattr__, __dir__)`` for the deprecated module *old*.

    A name is looked up in each module of *targets* in turn; the first that has it answers.
    """

    def __getattr__(name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        for target in targets:
            module = importlib.import_module(target)
            if hasattr(module, name):
                warnings.warn(
                    f"the module path {old} is deprecated since noisyprop_lib 0.2 and will be removed; "
                    f"use {target}.{name} (or noisyprop_lib.{name} where it is public at the top level)",
                    DeprecationWarning,
                    stacklevel=2,
                )
                return getattr(module, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r} (it is deprecated; see {targets[0]})")

    def __dir__():
        names: set[str] = set()
        for target in targets:
            names.update(getattr(importlib.import_module(target), "__all__", ()))
        return sorted(names)

    return __getattr__, __dir__
