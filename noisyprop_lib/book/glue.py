"""Glue computed values into the book's text, and still run outside the build.

In the Jupyter Book build, :func:`glue` forwards to ``myst_nb.glue`` so that a
page can write ``{glue:text}`key:.3f``` and show the value computed in its
cell. In Google Colab or a plain Jupyter kernel, where myst-nb is usually not
installed, it shows ``key = value`` instead, so a chapter runs unchanged.

With the environment variable ``NOISYPROP_GLUE_RECORD=1`` it also keeps every
value in :data:`RECORDED` (and never calls myst-nb, as in Colab): the Colab
notebook generator (``tools/colab_notebooks.py``) runs a chapter in a plain
kernel that way to put the glued values into the notebook's text.
"""
from __future__ import annotations

import os

__all__ = ["glue", "glue_values", "RECORDED"]

#: ``name -> value`` of every glued value, filled only when ``NOISYPROP_GLUE_RECORD=1``.
RECORDED: dict = {}


def glue(name: str, value, display: bool = False) -> None:
    """Store ``value`` under ``name`` for the page's ``{glue:...}`` roles.

    ``display`` defaults to False: the value appears in the text, not as a cell output. Pass
    ``display=True`` only to show it under the cell as well.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    value = _plain(value)
    if os.environ.get("NOISYPROP_GLUE_RECORD") == "1":
        RECORDED[name] = value
        _glue = None
    else:
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


def glue_values(**values) -> None:
    """Glue several values at once: ``glue_values(ch4_q_star=q, ch4_chi=chi)`` is one :func:`glue` per keyword.

    The values are never displayed in the cell (``display=False``, the default of :func:`glue`); the page
    shows them where its text writes ``{glue:text}`name:fmt```.
    """
    if not values:
        raise ValueError("glue_values needs at least one name=value keyword")
    for name, value in values.items():
        glue(name, value)


def _plain(value):
    """NumPy scalars become Python numbers, so that format specs like ``:.3f`` work in the text."""
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value.item()
    return value
