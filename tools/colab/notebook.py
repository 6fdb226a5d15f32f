"""Render a chapter into its Colab notebook, write it, and check committed notebooks are up to date."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from .config import INSTALL_TAGS, ROOT, UnsupportedMyST, _read_myst, book_url, chapter_files, install_source, repository_url
from .index import BookIndex
from .bib import read_bibliography
from .glue import INLINE, glue_keys
from .execute import execute
from .myst import Context, Converter

def render(md_path: Path, glue: dict | None, root: Path = ROOT, index: BookIndex | None = None,
           bib: dict | None = None):
    """The Colab notebook of a MyST chapter, with the glued values ``glue`` (key -> mime bundle) in its text."""
    md_path = Path(md_path)
    doc = str(md_path.resolve().relative_to(root.resolve()).with_suffix(""))
    index = index or BookIndex.build(root)
    ctx = Context(doc, index, bib if bib is not None else read_bibliography(root), glue, book_url(root),
                  repository_url(root))
    conv = Converter(ctx)
    src = _read_myst(md_path)
    cells = []
    install_done = False
    for cell in src.cells:
        tags = list(cell.metadata.get("tags", []))
        if cell.cell_type == "markdown":
            text = conv.convert(cell.source)
            if not install_done and text.startswith("# "):
                number = index.chapter_number.get(doc)
                title, _, rest = text.partition("\n")
                if number:
                    title = f"# {number}. {title[2:].strip()}"
                page = f"{ctx.book_url}/{doc}.html" if ctx.book_url else None
                note = (f"*This notebook is chapter {number} of* Noisy Signal Propagation" if number else
                        "*This notebook is part of* Noisy Signal Propagation") + \
                    (f" *([read it rendered]({page})).*" if page else ".") + \
                    " *Run the first code cell to install the companion library, then run the notebook from top to bottom.*"
                cells.append(nbformat.v4.new_markdown_cell(f"{title}\n\n{note}" + (f"\n\n{rest.strip()}" if rest.strip() else "")))
                cells.append(nbformat.v4.new_code_cell(install_source(root), metadata={"tags": list(INSTALL_TAGS)}))
                install_done = True
                continue
            if text.strip():
                cells.append(nbformat.v4.new_markdown_cell(text))
            continue
        if cell.cell_type != "code":
            continue
        if "skip-execution" in tags and re.search(r"pip install", cell.source):
            continue    # the chapter's own install cell: replaced by the generated one
        if not install_done:
            cells.append(nbformat.v4.new_code_cell(install_source(root), metadata={"tags": list(INSTALL_TAGS)}))
            install_done = True
        meta = {"tags": tags} if tags else {}
        source = cell.source
        if ctx.in_solution:
            # a solution's code stays folded: JupyterLab and Notebook 7 honour source_hidden, Colab shows a
            # form cell (cellView "form") as its title only until it is opened
            meta["jupyter"] = {"source_hidden": True}
            meta["cellView"] = "form"
            source = "# @title Solution code (double-click to show) { display-mode: \"form\" }\n" + source
        cells.append(nbformat.v4.new_code_cell(source, metadata=meta))
        fig = (cell.metadata.get("mystnb") or {}).get("figure")
        if fig:
            number = index.figure_number(doc, fig.get("name"), ctx.next_number("figure"))
            caption = " ".join(str(fig.get("caption", "")).split())
            cells.append(nbformat.v4.new_markdown_cell(f"*{number}: {conv.inline(caption)}*" if caption else f"*{number}*"))
    if ctx.gated:
        raise UnsupportedMyST(f"{doc}: {ctx.gated[-1]} is never closed")
    for k, c in enumerate(cells):            # stable ids: the file changes only when the chapter does
        c["id"] = f"cell-{k}"
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": [], "toc_visible": True},
        "noisyprop": {"generated_from": f"{doc}.md", "generator": "tools/colab_notebooks.py",
                      "glue": {k: glue[k] for k in sorted(glue)} if glue is not None else {}},
    }
    nbformat.validate(nb)
    return nb


def stored_glue(nb) -> dict:
    return dict(nb.metadata.get("noisyprop", {}).get("glue", {}))


def write(nb, path: Path):
    path.write_text(nbformat.writes(nb) + "\n")


def expected_text(md_path: Path, glue: dict, **kw) -> str:
    return nbformat.writes(render(md_path, glue, **kw)) + "\n"


RAW_MYST = [
    (re.compile(r"\{[a-zA-Z][\w:.+-]*\}`"), "a MyST role"),
    (re.compile(r"^\s*(`{3,}|:{3,}|~{3,})\{", re.M), "a directive fence"),
    (re.compile(r"^\([^)\s]+\)=\s*$", re.M), "a label (name)="),
    (re.compile(r"^\s*:(label|class|name|tags):", re.M), "a directive option"),
    (re.compile(r"\{(prf|glue|cite|numref|eq|doc|ref)[:}]"), "a MyST role name"),
    (re.compile(r"^\$\$\s*\([^)]+\)\s*$", re.M), "an equation label"),
    (re.compile(r"<glue [^>]*>"), "a missing glued value"),
]


def raw_myst(nb) -> list[str]:
    """Descriptions of raw MyST markup left in the markdown cells of ``nb`` (empty when it reads cleanly)."""
    found = []
    for k, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        # code examples may show markup on purpose: plain code blocks and inline code are not checked
        blocks = re.sub(r"^(\s*)(`{3,}|~{3,})(?!\{)[^\n]*\n.*?^\1\2\s*$", "", cell.source, flags=re.S | re.M)
        inline = INLINE.sub(lambda m: m.group(0) if m.group("role") else "", blocks)
        for pattern, what in RAW_MYST:
            m = pattern.search(inline if "role" in what else blocks)
            if m:
                found.append(f"cell {k}: {what}: {m.group(0)!r}")
    return found


def generate(md_path: Path, root: Path = ROOT, timeout: int = 600, execute_chapter: bool = True) -> Path:
    """Run a chapter in a plain kernel and write its Colab notebook next to it.

    With ``execute_chapter=False`` the glued values stored in the existing notebook are reused (for
    prose-only edits; fails if the chapter now shows a value the notebook does not have).
    """
    md_path = Path(md_path)
    if execute_chapter:
        glue = execute(render(md_path, None, root), md_path.parent, timeout=timeout)
    else:
        glue = stored_glue(nbformat.read(md_path.with_suffix(".ipynb"), as_version=4))
    needed = glue_keys(md_path)
    missing = sorted(set(needed) - set(glue))
    if missing:
        raise KeyError(f"{md_path.name}: the chapter shows glued values it never glues: {missing}")
    nb = render(md_path, {k: glue[k] for k in needed}, root)
    problems = raw_myst(nb)
    if problems:
        raise UnsupportedMyST(f"{md_path.name}: raw MyST left: {problems}")
    out = md_path.with_suffix(".ipynb")
    write(nb, out)
    return out


def check(root: Path = ROOT) -> list[str]:
    """Problems of the committed notebooks (missing, stale, invalid, raw MyST); empty when all is well."""
    problems = []
    index, bib = BookIndex.build(root), read_bibliography(root)
    for md in chapter_files(root):
        ipynb = md.with_suffix(".ipynb")
        if not ipynb.exists():
            problems.append(f"{ipynb.name} is missing: run `make notebooks`")
            continue
        try:
            nb = nbformat.read(ipynb, as_version=4)
            nbformat.validate(nb)
            if ipynb.read_text() != expected_text(md, stored_glue(nb), root=root, index=index, bib=bib):
                problems.append(f"{ipynb.name} is out of date with {md.name}: run `make notebooks`")
        except Exception as exc:  # noqa: BLE001 - any failure is a problem to report
            problems.append(f"{ipynb.name}: {type(exc).__name__}: {exc}")
    return problems
