"""Glue computed values into the book's text, and still run outside the build.

In the Jupyter Book build, :func:`glue` forwards to ``myst_nb.glue`` so that a
page can write ``{glue:text}`key:.3f``` and show the value computed in its
cell. In Google Colab or a plain Jupyter kernel, where myst-nb is usually not
installed, it shows ``key = value`` instead, so a chapter runs unchanged.
"""
from __future__ import annotations

__all__ = ["glue"]


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the page's ``{glue:...}`` roles."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    value = _plain(value)
    try:
        from myst_nb import glue as _glue
    except ImportError:
        _glue = None
    if _glue is not None:
        _glue(name, value, display=display)
        return
    try:
        from IPython.display import display as _display
    except ImportError:  # pragma: no cover
        print(f"{name} = {value!r}")
        return
    _display({"text/plain": f"{name} = {value!r}"}, raw=True)


def _plain(value):
    """NumPy scalars become Python numbers, so that format specs like ``:.3f`` work in the text."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value
