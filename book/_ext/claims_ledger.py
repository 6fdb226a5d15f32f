"""Sphinx extension: collect the claims checked by the executed chapters into the claims ledger.

Each passing claim (``noisyprop_lib.claims``) is displayed in its chapter as an
HTML box carrying its record as JSON in a ``data-npl-claim`` attribute. While
Sphinx reads each page (after myst-nb has executed it), this extension finds
those boxes and stores the records in the build environment. The
``claims-ledger`` directive leaves a placeholder that is filled only when pages
are written, after every page has been read, so the ledger always lists
exactly the claims checked by this build.
"""
from __future__ import annotations

import html
import json
import re

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

_CLAIM_RE = re.compile(r'data-npl-claim="([^"]*)"')

#: evidence kinds that check the library against itself or a formula typed in the cell, not a scientific result
LIBRARY_CHECKS = frozenset({"closed form", "numeric route", "behaviour"})

_FILTER = """<div class="npl-ledger-filter" role="group" aria-label="Show claims">Show:
<button type="button" data-show="all" aria-pressed="true">all claims</button>
<button type="button" data-show="science" aria-pressed="false">scientific claims</button>
<button type="button" data-show="library" aria-pressed="false">library checks</button></div>
<script>
document.addEventListener("DOMContentLoaded", () => {
  const buttons = document.querySelectorAll(".npl-ledger-filter button");
  buttons.forEach((b) => b.addEventListener("click", () => {
    const show = b.dataset.show;
    buttons.forEach((o) => o.setAttribute("aria-pressed", String(o === b)));
    document.querySelectorAll("table.npl-claims-ledger tbody tr").forEach((tr) => {
      tr.style.display = show === "all" || tr.classList.contains("npl-kind-" + show) ? "" : "none";
    });
  }));
});
</script>"""


def claim_kind(evidence) -> str:
    """``"library"`` for a self-check of the library, ``"science"`` for a claim about the mathematics or the data."""
    return "library" if evidence in LIBRARY_CHECKS else "science"


class claims_ledger_placeholder(nodes.General, nodes.Element):
    """Replaced by the ledger table at write time."""


class ClaimsLedgerDirective(SphinxDirective):
    has_content = False

    def run(self):
        return [claims_ledger_placeholder("")]


def _collect(app, doctree):
    env = app.env
    if not hasattr(env, "npl_claims"):
        env.npl_claims = {}
    found = []
    for node in doctree.findall(nodes.raw):
        if "html" not in node.get("format", ""):
            continue
        for m in _CLAIM_RE.finditer(node.astext()):
            found.append(json.loads(html.unescape(m.group(1))))
    if found:
        env.npl_claims[env.docname] = found
    else:
        env.npl_claims.pop(env.docname, None)


def _purge(app, env, docname):
    if hasattr(env, "npl_claims"):
        env.npl_claims.pop(docname, None)


def _merge(app, env, docnames, other):
    if not hasattr(env, "npl_claims"):
        env.npl_claims = {}
    for doc, recs in getattr(other, "npl_claims", {}).items():
        if doc in docnames:
            env.npl_claims[doc] = recs


def _toc_order(env) -> list[str]:
    order, seen = [], set()

    def walk(doc):
        if doc in seen:
            return
        seen.add(doc)
        order.append(doc)
        for child in env.toctree_includes.get(doc, []):
            walk(child)

    walk(env.config.root_doc)
    return order


def _cell(content):
    entry = nodes.entry()
    if isinstance(content, nodes.Node):
        entry += content
    else:
        entry += nodes.paragraph(text=str(content))
    return entry


def _table(rows, headers, widths, row_classes=None, table_class="npl-claims-ledger"):
    table = nodes.table(classes=[table_class])
    group = nodes.tgroup(cols=len(headers))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)
    thead = nodes.thead()
    group += thead
    hrow = nodes.row()
    for h in headers:
        hrow += _cell(h)
    thead += hrow
    tbody = nodes.tbody()
    group += tbody
    for k, r in enumerate(rows):
        row = nodes.row(classes=[row_classes[k]] if row_classes else [])
        for c in r:
            row += _cell(c)
        tbody += row
    return table


def _fill(app, doctree, fromdocname):
    env = app.env
    claims = getattr(env, "npl_claims", {})
    toc = _toc_order(env)
    order = [d for d in toc if d in claims] + sorted(d for d in claims if d not in toc)
    for placeholder in list(doctree.findall(claims_ledger_placeholder)):
        total = sum(len(claims[d]) for d in order)
        passed = sum(1 for d in order for r in claims[d] if r.get("passed"))
        chapters = "chapter" if len(order) == 1 else "chapters"
        summary = nodes.paragraph(
            text=f"This build checked {total} claims in {len(order)} {chapters}; {passed} passed. "
            "A claim that fails stops the build, so a rendered ledger lists only claims that held."
        )
        summary["classes"].append("npl-ledger-summary")
        explain = nodes.paragraph(
            text="Scientific claims check a result: a derivation (symbolic), a simulation against theory (Monte "
            "Carlo), an experiment, a value printed in the paper, from the authors' code, or recomputed for this "
            "book. Library checks test the companion library against an independent formula or algorithm, or its "
            "behaviour on bad input. The table below counts them per chapter; the buttons filter the lists.")
        per_chapter = []
        for doc in order:
            recs = claims[doc]
            kinds = {}
            for r in recs:
                kinds[r.get("evidence") or "unstated"] = kinds.get(r.get("evidence") or "unstated", 0) + 1
            science = sum(1 for r in recs if claim_kind(r.get("evidence")) == "science")
            title = env.titles[doc].astext() if doc in env.titles else doc
            per_chapter.append([title, str(len(recs)), str(science), str(len(recs) - science),
                                ", ".join(f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))])
        content = [summary, explain,
                   _table(per_chapter, ["Chapter", "Claims", "Scientific", "Library checks", "By evidence"], [24, 8, 10, 10, 48],
                          table_class="npl-ledger-counts"),
                   nodes.raw("", _FILTER, format="html")]
        for doc in order:
            title = env.titles[doc].astext() if doc in env.titles else doc
            docuri = app.builder.get_relative_uri(fromdocname, doc)
            heading = nodes.paragraph(classes=["npl-ledger-chapter"])
            strong = nodes.strong()
            strong += nodes.reference("", title, refuri=docuri, internal=True)
            heading += strong
            heading += nodes.Text(f" ({len(claims[doc])} claims)")
            rows, kinds = [], []
            for rec in claims[doc]:
                kinds.append(f"npl-kind-{claim_kind(rec.get('evidence'))}")
                num = nodes.paragraph()
                num += nodes.reference("", str(rec["number"]), refuri=f"{docuri}#claim-{rec['number']}", internal=True)
                measured = rec["measured"] + (f" (expected {rec['expected']})" if rec.get("expected") else "")
                if not rec.get("passed"):  # cannot happen in a finished build (a failing claim stops it)
                    measured += "; FAILED"
                evidence = (rec.get("evidence") or "unstated") + (" (library check)" if claim_kind(rec.get("evidence")) == "library" else "")
                rows.append([num, rec["statement"], evidence, rec["check"], rec["tolerance"], measured])
            content += [heading, _table(rows, ["#", "Statement", "Evidence", "Check", "Tolerance", "Measured"],
                                        [4, 32, 10, 26, 12, 16], kinds)]
        placeholder.replace_self(content)


def setup(app):
    app.add_node(claims_ledger_placeholder)
    app.add_directive("claims-ledger", ClaimsLedgerDirective)
    app.connect("doctree-read", _collect)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("doctree-resolved", _fill)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True, "env_version": 1}
