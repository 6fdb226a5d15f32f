"""Each script once per page.

In the Jupyter Book build, sphinx-thebe's configuration script (``const THEBE_JS_URL = ...``)
reaches every page twice, once with filename None and once with "", so Sphinx's own
duplicate check misses it and the page declares the constant twice: an uncaught
SyntaxError in the browser (found by tests/test_rendered_book.py). Drop scripts that
are the same file or the same inline body, keep the order.
"""
from __future__ import annotations


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


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
