"""Resolve references to library objects by the name the API page documents them under.

``book/api.md`` (written by ``tools/api_page.py``) documents every public object once, under the name a
user types: ``noisyprop_lib.variance_map``, ``noisyprop_lib.nn.Dropout``, ``noisyprop_lib.dln.train_dln``.
A docstring, though, is written inside its implementation module and may say ``:func:`variance_map``` or
``:mod:`noisyprop_lib.simulation.forward``` (a private layout detail). When Sphinx cannot resolve such a
reference, this extension imports what it names (relative to the module the docstring belongs to, then
to its parents), finds the public name documented for that same object, and resolves to it. A reference
that names nothing importable stays unresolved, so the build (nitpicky, warnings as errors) still fails
on a wrong name.
"""
from __future__ import annotations

import importlib

from sphinx.util import logging

logger = logging.getLogger(__name__)


def _lookup(dotted: str):
    """The object a dotted path names, importing modules along the way; None if it names nothing."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None


def _documented(env) -> dict[int, str]:
    """id(object) -> the name the py domain documents it under (built once per build)."""
    cache = getattr(env, "_noisyprop_documented", None)
    if cache is None:
        cache = {}
        for name, *_ in env.get_domain("py").get_objects():
            if name.startswith("noisyprop_lib"):
                obj = _lookup(name)
                if obj is not None and not isinstance(obj, (int, float, str, bool)):
                    cache.setdefault(id(obj), name)
        env._noisyprop_documented = cache
    return cache


def missing_reference(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].lstrip("~.")
    module = node.get("py:module") or ""
    cls = node.get("py:class")
    scopes = [module.rsplit(".", k)[0] for k in range(module.count(".") + 1)] if module else []
    candidates = ([f"{module}.{cls}.{target}"] if module and cls else []) + [f"{m}.{target}" for m in scopes] + [target]
    for dotted in candidates:
        if not dotted.startswith("noisyprop_lib"):
            continue
        obj = _lookup(dotted)
        if obj is None:
            continue
        canonical = _documented(env).get(id(obj))
        if canonical is None and hasattr(obj, "__module__") and hasattr(obj, "__qualname__"):
            continue
        if canonical is None and isinstance(obj, type(importlib)):  # a private module: its subpackage's page
            parent = obj.__name__
            while parent and canonical is None:
                parent = parent.rpartition(".")[0]
                canonical = _documented(env).get(id(_lookup(parent))) if parent else None
        if canonical is None:
            continue
        objtype = "mod" if isinstance(obj, type(importlib)) else node["reftype"]
        domain = env.get_domain("py")
        return domain.resolve_xref(env, node["refdoc"], app.builder, objtype, canonical, node, contnode)
    return None


def setup(app):
    app.connect("missing-reference", missing_reference)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
