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

import re
from pathlib import Path

from docutils import nodes


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


def caption_alt(caption: str, limit: int = 300) -> str:
    """Alt text from a figure's caption: its first sentence, without TeX markup, at most ``limit`` characters."""
    text = re.sub(r"\\[a-zA-Z]+\s*", "", caption)          # \sigma -> sigma-less text; keeps the words
    text = re.sub(r"[${}^_\\]", "", text)
    text = " ".join(text.split())
    first = re.split(r"(?<=[.;:])\s", text, maxsplit=1)[0]
    return first[:limit].rstrip()


def _figure_alt_text(app, doctree, docname):
    """A figure image without alt text gets its caption's first sentence (HTML would fall back to the file name).

    Chapters set a proper alt text in the figure cell (``mystnb: image: alt:``); this is the fallback."""
    for fig in doctree.findall(nodes.figure):
        captions = list(fig.findall(nodes.caption))
        if not captions:
            continue
        for img in fig.findall(nodes.image):
            if not img.get("alt"):
                img["alt"] = caption_alt(captions[0].astext())


def setup(app):
    app.connect("doctree-resolved", _figure_alt_text)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    # after sphinx-book-theme's add_launch_buttons (priority 501)
    app.connect("html-page-context", _drop_launch_buttons_without_notebook, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
