"""Each script once per page, and launch buttons only where there is a notebook to launch.

In the Jupyter Book build, sphinx-thebe's configuration script (``const THEBE_JS_URL = ...``)
reaches every page twice, once with filename None and once with "", so Sphinx's own
duplicate check misses it and the page declares the constant twice: an uncaught
SyntaxError in the browser (found by tests/test_rendered_book.py). Drop scripts that
are the same file or the same inline body, keep the order.

sphinx-book-theme gives every page with a kernelspec (any MyST notebook, e.g.
book/reproduce.md) a launch button, which points at the ``.ipynb`` next to the
page if there is one and at the ``.md`` source otherwise; Colab cannot open a
``.md``. Only the chapters have a generated Colab notebook
(tools/colab_notebooks.py), so the launch group is removed from every page whose
source has no ``.ipynb`` beside it.
"""
from __future__ import annotations

from pathlib import Path


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        # sphinx-thebe's inline script arrives once with filename None and once with "": the same script
        key = (getattr(js, "filename", None) or "", tuple(sorted((k, str(v)) for k, v in getattr(js, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    context["script_files"] = unique


def has_notebook(source_path) -> bool:
    """Whether a page's source has a notebook beside it (``chapters/chNN.md`` -> ``chapters/chNN.ipynb``)."""
    path = Path(source_path)
    return path.suffix == ".ipynb" or path.with_suffix(".ipynb").exists()


def _drop_launch_buttons_without_notebook(app, pagename, templatename, context, doctree):
    buttons = context.get("header_buttons")
    if not buttons or pagename not in app.env.all_docs or has_notebook(app.env.doc2path(pagename)):
        return
    context["header_buttons"] = [b for b in buttons if b.get("label") != "launch-buttons"]


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    # after sphinx-book-theme's add_launch_buttons (priority 501)
    app.connect("html-page-context", _drop_launch_buttons_without_notebook, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
