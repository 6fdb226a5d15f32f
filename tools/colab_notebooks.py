#!/usr/bin/env python
"""Generate the Colab notebooks (``chapters/chNN_*.ipynb``) from the MyST chapters.

Each chapter listed in ``_toc.yml`` (``chapters/ch*.md``) becomes a notebook that
reads cleanly in plain Jupyter or Google Colab, where neither Sphinx nor
myst-nb runs:

* theorems, proofs, definitions, exercises and solutions (also the gated
  ``exercise-start`` / ``solution-start`` forms), admonitions, figures and
  ``{math}`` blocks become bold headings with block quotes, with the numbers
  the rendered book gives them (Theorem 5.1, Fig. 5.2, (1.3), ...);
* ``{glue:text}`` / ``{glue:}`` roles and ``{glue:md}`` blocks are replaced by
  the values, computed by running the chapter in a plain Jupyter kernel with
  ``NOISYPROP_GLUE_RECORD=1`` (see :mod:`noisyprop_lib.book.glue`); the raw values
  are stored in the notebook's metadata (``metadata.noisyprop.glue``), so the
  text can be re-rendered, and checked, without running the chapter again;
* ``{cite:t}`` / ``{cite:p}`` become author-year text linked to the DOI or URL
  of ``book/references.bib``; ``{ref}``, ``{numref}``, ``{eq}``, ``{prf:ref}``
  and ``{doc}`` become the text the book shows, linked to the rendered book
  when the target is on another page; labels ``(name)=`` are dropped;
* solutions are folded: each one is a collapsed HTML ``<details>`` element
  whose ``<summary>`` names it ("Solution to Exercise 5.2"), with a blank line
  after the summary so that the Markdown and math inside still render in
  Jupyter and Colab; a code cell inside a solution stays a code cell (its
  input is marked ``source_hidden``, which JupyterLab and Notebook 7 fold), and
  the prose after it is folded in a second element "(continued)";
* outputs are empty, and the first code cell installs the library **release the
  book belongs to**: ``git+<repository>@v<version>``, with the repository named
  once in ``_config.yml`` (``repository.url``) and ``<version>`` read from
  ``pyproject.toml`` when the notebook is generated (a test checks that it equals
  ``noisyprop_lib.__version__``). Pinning the release, not the default branch,
  makes a notebook install the library it was generated with, once that release
  is tagged: the book is released together with its library (``CHANGELOG.md``),
  by tagging the commit that contains these notebooks ``v<version>``. A commit
  hash cannot serve: the notebook is committed after the commit it would name,
  possibly with library changes. A version bump changes every install cell, and
  ``make test`` fails until the notebooks are regenerated
  (``--no-execute`` suffices).

Anything the converter does not know raises :class:`UnsupportedMyST`, so a new
directive in a chapter cannot slip into Colab as raw markup.

Usage (``make notebooks`` runs the first form)::

    python tools/colab_notebooks.py                 # run every chapter, write every notebook
    python tools/colab_notebooks.py chapters/ch05_noisy_correlation_dynamics.md
    python tools/colab_notebooks.py --no-execute    # prose-only edits: reuse the values stored in the notebooks
    python tools/colab_notebooks.py --check         # exit 1 if a notebook is out of date (no execution)
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]

#: tag of the generated install cell; the executors skip cells with ``skip-execution``
INSTALL_TAGS = ["skip-execution", "colab-install"]

PROOF_TYPES = {
    "theorem": "Theorem", "lemma": "Lemma", "definition": "Definition", "remark": "Remark",
    "conjecture": "Conjecture", "corollary": "Corollary", "algorithm": "Algorithm", "example": "Example",
    "property": "Property", "observation": "Observation", "proposition": "Proposition",
    "assumption": "Assumption", "axiom": "Axiom", "criterion": "Criterion",
}
ADMONITIONS = {
    "note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
    "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error", "seealso": "See also",
    "margin": None, "sidebar": None, "topic": None, "epigraph": None, "admonition": None,
}
CODE_DIRECTIVES = {"code-block", "code", "sourcecode"}


class UnsupportedMyST(ValueError):
    """A chapter uses MyST syntax that the Colab converter cannot turn into plain Markdown."""


# ---------------------------------------------------------------------------
# the book: configuration, table of contents, labels, bibliography
# ---------------------------------------------------------------------------


def book_config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text())


def repository_url(root: Path = ROOT) -> str:
    """The project's repository, defined once: ``repository.url`` in ``_config.yml``."""
    return book_config(root)["repository"]["url"].rstrip("/")


def book_url(root: Path = ROOT) -> str:
    """Where the rendered book is published: ``html.baseurl`` in ``_config.yml``."""
    return book_config(root).get("html", {}).get("baseurl", "").rstrip("/")


def project_version(root: Path = ROOT) -> str:
    """The library's version, ``project.version`` in ``pyproject.toml`` (the release the book belongs to)."""
    text = (root / "pyproject.toml").read_text()
    try:
        import tomllib
    except ImportError:  # Python 3.10
        m = re.search(r'(?ms)^\[project\]\s*$.*?^version\s*=\s*"([^"]+)"', text)
        if not m:
            raise ValueError("pyproject.toml has no project.version") from None
        return m.group(1)
    return tomllib.loads(text)["project"]["version"]


def release_tag(root: Path = ROOT) -> str:
    """The git tag of the release the notebooks install: ``v<version>``."""
    return f"v{project_version(root)}"


def install_source(root: Path = ROOT) -> str:
    tag = release_tag(root)
    return (f"# Google Colab (or any fresh environment): install the companion library, release {tag}, the one this\n"
            "# notebook was generated with, from the book's repository.\n"
            f'%pip install --quiet "noisyprop_lib @ git+{repository_url(root)}@{tag}"')


def toc_documents(root: Path = ROOT) -> list[tuple[str, bool]]:
    """``(docname, numbered)`` of every page in ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    docs = [(toc["root"], False)]

    def walk(entries, numbered):
        for e in entries or []:
            if "file" in e:
                docs.append((str(Path(e["file"]).with_suffix("")), numbered))
            walk(e.get("sections"), numbered)
            walk(e.get("chapters"), numbered)

    for part in toc.get("parts", []):
        walk(part.get("chapters"), bool(part.get("numbered")))
    walk(toc.get("chapters"), False)
    return docs


def chapter_files(root: Path = ROOT) -> list[Path]:
    """The MyST chapters that get a Colab notebook: every ``chapters/ch*`` page of ``_toc.yml``."""
    return [root / f"{doc}.md" for doc, _ in toc_documents(root)
            if re.fullmatch(r"chapters/ch[^/]*", doc) and (root / f"{doc}.md").exists()]


@dataclass
class Target:
    doc: str
    kind: str           # section, figure, equation, exercise, proof, page
    text: str           # what a reference shows: "Fig. 5.2", "(1.3)", "Theorem 5.1", a section title


@dataclass
class BookIndex:
    """Numbers and titles of every label in the book, computed the way the book numbers them."""

    root: Path
    chapter_number: dict = field(default_factory=dict)
    titles: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)

    @classmethod
    def build(cls, root: Path = ROOT) -> "BookIndex":
        idx = cls(root)
        n = 0
        for doc, numbered in toc_documents(root):
            if numbered:
                n += 1
                idx.chapter_number[doc] = n
            path = root / f"{doc}.md"
            if path.exists():
                idx._scan(doc, path.read_text())
        return idx

    def _prefix(self, doc):
        n = self.chapter_number.get(doc)
        return f"{n}." if n else ""

    def _scan(self, doc: str, text: str):
        prefix = self._prefix(doc)
        counters: dict = {}

        def count(kind):
            counters[kind] = counters.get(kind, 0) + 1
            return f"{prefix}{counters[kind]}"

        lines = text.splitlines()
        pending_label = None
        in_code = None          # the fence of an open code block (code cell or plain code): not scanned
        open_directives = []    # the fences of open directives: their content is scanned
        for i, line in enumerate(lines):
            if in_code:
                if re.match(rf"^\s*{re.escape(in_code[0])}{{{len(in_code)},}}\s*$", line):
                    in_code = None
                continue
            m = re.match(r"^\s*(`{3,}|~{3,}|:{3,})\{code-cell\}", line)
            if m:
                in_code = m.group(1)
                self._scan_code_cell(doc, lines, i, count)
                continue
            m = re.match(r"^\s*(`{3,}|:{3,}|~{3,})\{(?P<name>[^}]+)\}\s*(?P<arg>.*)$", line)
            if m:
                open_directives.append(m.group(1))
                name = m.group("name")
                label = None
                for opt in lines[i + 1:i + 12]:
                    mo = re.match(r"^\s*:(label|name):\s*(\S+)", opt)
                    if mo:
                        label = mo.group(2)
                        break
                    if not re.match(r"^\s*:\w[\w-]*:", opt):
                        break
                kind = name.split(":")[-1]
                if name.startswith("prf:") and kind in PROOF_TYPES:
                    text_ = f"{PROOF_TYPES[kind]} {count(kind)}"
                    if label:
                        self.labels[label] = Target(doc, "proof", text_)
                elif name in ("exercise", "exercise-start"):
                    text_ = f"Exercise {count('exercise')}"
                    if label:
                        self.labels[label] = Target(doc, "exercise", text_)
                elif name in ("figure", "glue:figure"):
                    text_ = f"Fig. {count('figure')}"
                    if label:
                        self.labels[label] = Target(doc, "figure", text_)
                elif name == "math" and label:
                    self.labels[label] = Target(doc, "equation", f"({count('equation')})")
                continue
            m = re.match(r"^\s*(`{3,}|:{3,}|~{3,})\s*$", line)
            if m and open_directives and m.group(1)[0] == open_directives[-1][0] \
                    and len(m.group(1)) >= len(open_directives[-1]):
                open_directives.pop()
                continue
            m = re.match(r"^\s*(`{3,}|~{3,})", line)
            if m:
                in_code = m.group(1)
                continue
            m = re.match(r"^\((?P<label>[^)\s]+)\)=\s*$", line)
            if m:
                pending_label = m.group("label")
                continue
            m = re.match(r"^(#{1,6})\s+(.*)$", line)
            if m:
                title = m.group(2).strip()
                if m.group(1) == "#" and doc not in self.titles:
                    self.titles[doc] = title
                if pending_label:
                    self.labels[pending_label] = Target(doc, "section", title)
                pending_label = None
                continue
            if line.strip():
                pending_label = None
            m = re.match(r"^\$\$\s*\((?P<label>[^)]+)\)\s*$", line)
            if m:
                self.labels[m.group("label")] = Target(doc, "equation", f"({count('equation')})")

    def _scan_code_cell(self, doc, lines, i, count):
        # a code cell with ``mystnb: figure: name:`` metadata is a numbered figure
        j = i + 1
        if j < len(lines) and lines[j].strip() == "---":
            k = j + 1
            while k < len(lines) and lines[k].strip() != "---":
                k += 1
            meta = yaml.safe_load("\n".join(lines[j + 1:k])) or {}
            fig = (meta.get("mystnb") or {}).get("figure")
            if fig:
                text_ = f"Fig. {count('figure')}"
                if fig.get("name"):
                    self.labels[fig["name"]] = Target(doc, "figure", text_)

    def figure_number(self, doc: str, name: str | None, n: int) -> str:
        if name and name in self.labels:
            return self.labels[name].text
        return f"Fig. {self._prefix(doc)}{n}"


def _latex_to_text(s: str) -> str:
    accents = {r'\"o': "ö", r'\"a': "ä", r'\"u': "ü", r"\'e": "é", r"\`e": "è", r"\'a": "á", r"\c{c}": "ç",
               r"\'\i": "í", r"\~n": "ñ", r"\ss": "ß", r"\o": "ø"}
    for k, v in accents.items():
        s = s.replace("{" + k + "}", v).replace(k, v)
    s = s.replace("--", "–")
    return re.sub(r"[{}]", "", s).replace("\\&", "&").strip()


@dataclass
class Reference:
    authors: str   # "Pretorius et al."
    year: str
    url: str | None


def read_bibliography(root: Path = ROOT) -> dict:
    from pybtex.database import parse_file

    refs = {}
    for bibfile in book_config(root).get("bibtex_bibfiles", []):
        db = parse_file(str(root / bibfile))
        for key, entry in db.entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            last = [_latex_to_text(" ".join(p.prelast_names + p.last_names)) for p in people]
            if not last:
                names = _latex_to_text(entry.fields.get("title", key))
            elif len(last) == 1:
                names = last[0]
            elif len(last) == 2:
                names = f"{last[0]} and {last[1]}"
            else:
                names = f"{last[0]} et al."
            names = names[0].upper() + names[1:]       # "van Biljon" starts a sentence as "Van Biljon"
            f = entry.fields
            url = None
            if f.get("doi"):
                url = "https://doi.org/" + f["doi"]
            elif f.get("url"):
                url = f["url"]
            elif f.get("eprint") and f.get("archiveprefix", f.get("eprinttype", "")).lower() == "arxiv":
                url = "https://arxiv.org/abs/" + f["eprint"]
            else:
                m = re.search(r"arXiv:\s*(\d{4}\.\d{4,5})", f.get("note", "") + " " + f.get("journal", ""))
                if m:
                    url = "https://arxiv.org/abs/" + m.group(1)
            refs[key] = Reference(names, _latex_to_text(f.get("year", "n.d.")), url)
    return refs


# ---------------------------------------------------------------------------
# glued values
# ---------------------------------------------------------------------------

ROLE = re.compile(r"\{(?P<role>[a-zA-Z][\w:.+-]*)\}`(?P<content>[^`]*)`")
INLINE = re.compile(ROLE.pattern + r"|(?P<ticks>`+)(?!`).*?(?<!`)(?P=ticks)(?!`)")


def glue_format(bundle: dict, spec: str | None) -> str:
    """What ``{glue:text}`key:spec``` shows for a stored mime bundle (as myst-nb formats it)."""
    text = str(bundle["text/plain"]).strip("'")
    if spec:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise UnsupportedMyST(f"glued value {text!r} cannot be formatted with {spec!r}") from exc
        return format(value, spec)
    return text


def glue_keys(md_path: Path) -> dict:
    """``key -> set of format specs`` of every glued value a chapter's markdown shows."""
    keys: dict = {}
    for cell in _read_myst(md_path).cells:
        if cell.cell_type != "markdown":
            continue
        for m in ROLE.finditer(cell.source):
            if m.group("role").startswith("glue"):
                key, _, spec = m.group("content").partition(":")
                keys.setdefault(key.strip(), set()).add(spec.strip() or None)
        for m in re.finditer(r"^\s*(?:`{3,}|:{3,})\{glue(?::md|:math|:text)?\}\s*(\S+)", cell.source, re.M):
            keys.setdefault(m.group(1), set()).add(None)
    return keys


#: glued values that are measured times (wall-clock seconds of a live run) differ from run to run;
#: their names say so, and the execution check only asks that they are still numbers
MEASURED_TIME_KEY = re.compile(r"wall|seconds|_time(_|$)", re.I)

DUMP_CELL = (
    "import json as _json\n"
    "from IPython import get_ipython as _gi\n"
    "from noisyprop_lib.book.glue import RECORDED as _recorded\n"
    "_fmt = _gi().display_formatter.format\n"
    "print('@@GLUE@@' + _json.dumps({_k: {_m: _v for _m, _v in _fmt(_val)[0].items()\n"
    "                                      if _m in ('text/plain', 'text/markdown', 'text/latex')}\n"
    "                                for _k, _val in _recorded.items()}))\n"
)


def execute(nb, cwd: Path, timeout: int = 600) -> dict:
    """Run ``nb`` in a plain Jupyter kernel (no myst-nb, no Sphinx), skipping ``skip-execution`` cells.

    Returns the mime bundles (text/plain, text/markdown) of every value the chapter glued.
    A cell that raises (other than one tagged ``raises-exception``) raises ``CellExecutionError``.
    """
    from nbclient import NotebookClient

    run = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    run.cells = [copy.deepcopy(c) for c in nb.cells
                 if c.cell_type == "code" and "skip-execution" not in c.metadata.get("tags", [])]
    run.cells.append(nbformat.v4.new_code_cell(DUMP_CELL))
    saved = {k: os.environ.get(k) for k in ("NOISYPROP_GLUE_RECORD", "MPLBACKEND")}
    os.environ["NOISYPROP_GLUE_RECORD"] = "1"   # the kernel inherits the environment
    os.environ.setdefault("MPLBACKEND", "Agg")
    # (jupyter_client starts the python3 kernel with this interpreter, sys.executable)
    try:
        NotebookClient(run, timeout=timeout, kernel_name="python3",
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    for out in run.cells[-1].outputs:
        if out.get("name") == "stdout" and "@@GLUE@@" in out.get("text", ""):
            return json.loads(out["text"].split("@@GLUE@@", 1)[1])
    raise RuntimeError("the glue dump cell printed nothing")


# ---------------------------------------------------------------------------
# markdown conversion
# ---------------------------------------------------------------------------


@dataclass
class Context:
    doc: str
    index: BookIndex
    bib: dict
    glue: dict | None          # key -> mime bundle; None renders placeholders (for glue_keys checks)
    book_url: str
    repo_url: str
    counters: dict = field(default_factory=dict)
    gated: list = field(default_factory=list)    # open exercise-start / solution-start blocks
    solution_heads: list = field(default_factory=list)  # summaries of the open solution-start blocks
    details_open: bool = False   # a <details> element of a gated solution is open in the current cell
    details_count: int = 0       # how many <details> the innermost open solution has had (0: none yet)

    @property
    def in_solution(self) -> bool:
        return bool(self.gated) and self.gated[-1] == "solution-start"

    def next_number(self, kind):
        self.counters[kind] = self.counters.get(kind, 0) + 1
        n = self.index.chapter_number.get(self.doc)
        return f"{n}.{self.counters[kind]}" if n else str(self.counters[kind])


def _details_open(summary: str) -> list[str]:
    """The opening of a collapsed ``<details>`` element; the blank line lets Markdown render inside it."""
    return ["<details>", f"<summary><b>{summary}</b></summary>", ""]


def _quote(text: str) -> str:
    return "\n".join(("> " + line).rstrip() for line in text.strip("\n").split("\n"))


def _split_options(body: list[str]) -> tuple[dict, list[str]]:
    opts: dict = {}
    if body and body[0].strip() == "---":
        end = next((k for k in range(1, len(body)) if body[k].strip() == "---"), None)
        if end is not None:
            opts = yaml.safe_load("\n".join(body[1:end])) or {}
            return opts, body[end + 1:]
    k = 0
    while k < len(body):
        m = re.match(r"^\s*:([\w-]+):\s*(.*)$", body[k])
        if not m:
            break
        opts[m.group(1)] = m.group(2).strip()
        k += 1
    return opts, body[k:]


def _dedent(lines):
    import textwrap

    return textwrap.dedent("\n".join(lines)).split("\n")


class Converter:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    # -- roles --------------------------------------------------------------

    def link(self, text, doc, anchor=None):
        if doc == self.ctx.doc or not self.ctx.book_url:
            return text
        url = f"{self.ctx.book_url}/{doc}.html" + (f"#{anchor}" if anchor else "")
        return f"[{text}]({url})"

    def cite(self, role, content):
        refs = []
        for key in [k.strip() for k in content.split(",") if k.strip()]:
            if key not in self.ctx.bib:
                raise UnsupportedMyST(f"{self.ctx.doc}: citation key {key!r} is not in the bibliography")
            refs.append(self.ctx.bib[key])
        kind = role.split(":", 1)[1] if ":" in role else "p"
        if kind in ("t", "ts"):
            parts = [f"[{r.authors} ({r.year})]({r.url})" if r.url else f"{r.authors} ({r.year})" for r in refs]
            return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        if kind in ("p", "ps", "alp"):
            parts = [f"[{r.authors}, {r.year}]({r.url})" if r.url else f"{r.authors}, {r.year}" for r in refs]
            return ("" if kind == "alp" else "(") + "; ".join(parts) + ("" if kind == "alp" else ")")
        if kind == "year":
            return ", ".join(r.year for r in refs)
        if kind in ("author", "authors"):
            return ", ".join(r.authors for r in refs)
        raise UnsupportedMyST(f"{self.ctx.doc}: unknown citation role {{{role}}}")

    def glue_value(self, key, spec, role):
        if self.ctx.glue is None:
            return f"<glue {key}>"
        if key not in self.ctx.glue:
            raise KeyError(f"{self.ctx.doc}: no glued value {key!r} (run `make notebooks`)")
        bundle = self.ctx.glue[key]
        if role == "glue:md":
            return bundle.get("text/markdown", bundle["text/plain"])
        text = glue_format(bundle, spec)
        return f"${text}$" if role == "glue:math" else text

    def role(self, m):
        role, content = m.group("role").rstrip(":"), m.group("content")
        explicit = re.match(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", content, re.S)
        text, target = (explicit.group("text"), explicit.group("target")) if explicit else (None, content.strip())
        if role in ("glue", "glue:text", "glue:any", "glue:md", "glue:math"):
            key, _, spec = content.partition(":")
            return self.glue_value(key.strip(), spec.strip() or None, "glue:text" if role == "glue:any" else role)
        if role == "cite" or role.startswith("cite:"):
            return self.cite(role, content)
        if role == "math":
            return f"${content}$"
        if role in ("sub", "sup"):
            return f"<{role}>{content}</{role}>"
        if role in ("term", "abbr", "kbd", "file", "samp", "code", "command", "guilabel"):
            return f"`{content}`" if role in ("code", "file", "samp", "command", "kbd") else re.sub(r"\s*\(.*\)$", "", content)
        if role == "doc":
            doc = os.path.normpath(os.path.join(os.path.dirname(self.ctx.doc), target)) if not target.startswith("/") \
                else target.lstrip("/")
            doc = str(Path(doc).with_suffix("")) if doc.endswith((".md", ".ipynb")) else doc
            title = text or self.ctx.index.titles.get(doc)
            if title is None:
                raise UnsupportedMyST(f"{self.ctx.doc}: {{doc}}`{content}` names no page of the book")
            return self.link(title, doc)
        if role in ("ref", "numref", "eq", "prf:ref", "std:ref"):
            t = self.ctx.index.labels.get(target)
            if t is None:
                raise UnsupportedMyST(f"{self.ctx.doc}: {{{role}}}`{content}`: unknown label {target!r}")
            if role == "numref" and text:
                shown = text.replace("%s", re.sub(r"^\D*", "", t.text)).replace("{number}", re.sub(r"^\D*", "", t.text))
            else:
                shown = text or t.text
            anchor = f"equation-{target}" if t.kind == "equation" else re.sub(r"[^a-z0-9]+", "-", target.lower()).strip("-")
            return self.link(shown, t.doc, anchor)
        raise UnsupportedMyST(f"{self.ctx.doc}: role {{{role}}} has no Colab rendering")

    def inline(self, text: str) -> str:
        # one left-to-right scan: a role, or an inline code span (whose content is code, not roles)
        def sub(m):
            return self.role(m) if m.group("role") else m.group(0)

        return INLINE.sub(sub, text)

    # -- blocks -------------------------------------------------------------

    def convert(self, source: str) -> str:
        lines = source.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            if re.match(r"^\((?P<label>[^)\s]+)\)=\s*$", line):           # (label)=
                i += 1
                continue
            m = re.match(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,}|~{3,})\{(?P<name>[^}]+)\}\s*(?P<arg>.*?)\s*$", line)
            if m:
                fence = m.group("fence")
                close = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
                j = i + 1
                while j < len(lines) and not close.match(lines[j]):
                    j += 1
                if j == len(lines):
                    raise UnsupportedMyST(f"{self.ctx.doc}: unclosed directive {{{m.group('name')}}}")
                block = self.directive(m.group("name"), m.group("arg"), _dedent(lines[i + 1:j]))
                out.extend(self._gate(block.split("\n")) if block is not None else [])
                i = j + 1
                continue
            m = re.match(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})[^`]*$", line)
            if m:                                                         # plain code fence: copied
                close = re.compile(rf"^\s*{re.escape(m.group('fence')[0])}{{{len(m.group('fence'))},}}\s*$")
                j = i + 1
                while j < len(lines) and not close.match(lines[j]):
                    j += 1
                out.extend(self._gate(lines[i:j + 1]))
                i = j + 1
                continue
            m = re.match(r"^\$\$\s*\((?P<label>[^)]+)\)\s*$", line)
            if m and self.ctx.index.labels.get(m.group("label")):         # $$ (label) closes a numbered equation
                number = self.ctx.index.labels[m.group("label")].text.strip("()")
                out.extend(self._gate([f"\\tag{{{number}}}", "$$"]))
                i += 1
                continue
            if re.match(r"^\s*:::+\s*$", line):
                raise UnsupportedMyST(f"{self.ctx.doc}: stray closing fence {line.strip()!r}")
            out.extend(self._gate([self.inline(line)]))
            i += 1
        if self.ctx.details_open:      # a gated solution continues in the next cell: close this part here
            out.extend(self._close_details())
        text = "\n".join(out)
        text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
        return text

    def _gate(self, lines):
        if not self.ctx.gated:
            return lines
        if self.ctx.in_solution:
            if self.ctx.details_open or not any(ln.strip() for ln in lines):
                return lines
            head = self.ctx.solution_heads[-1] + (" (continued)" if self.ctx.details_count else "")
            self.ctx.details_open = True
            self.ctx.details_count += 1
            return _details_open(head) + lines
        return [("> " + ln).rstrip() for ln in lines]

    def _close_details(self):
        self.ctx.details_open = False
        return ["", "</details>"]

    def body(self, lines):
        saved, self.ctx.gated = self.ctx.gated, []
        try:
            return self.convert("\n".join(lines))
        finally:
            self.ctx.gated = saved

    def list_table(self, body: list[str], header_rows: int) -> str:
        rows: list[list[str]] = []
        for line in body:
            if re.match(r"^\*\s+-\s", line):
                rows.append([line.split("-", 1)[1].strip()])
            elif re.match(r"^\s+-\s", line) and rows:
                rows[-1].append(line.split("-", 1)[1].strip())
            elif line.strip() and rows:
                rows[-1][-1] += " " + line.strip()
        if not rows:
            raise UnsupportedMyST(f"{self.ctx.doc}: empty list-table")
        width = max(len(r) for r in rows)
        cells = [[self.inline(c).replace("|", "\\|") for c in r] + [""] * (width - len(r)) for r in rows]
        head = cells[0] if header_rows else [""] * width
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * width]
        lines += ["| " + " | ".join(r) + " |" for r in cells[1 if header_rows else 0:]]
        return "\n".join(lines)

    def directive(self, name: str, arg: str, raw: list[str]):
        opts, body = _split_options(raw)
        kind = name.split(":", 1)[1] if name.startswith("prf:") else name
        label = opts.get("label") or opts.get("name")
        if name.startswith("prf:") and kind in PROOF_TYPES:
            n = self.ctx.next_number(kind)
            number = self.ctx.index.labels[label].text if label in self.ctx.index.labels else f"{PROOF_TYPES[kind]} {n}"
            title = f" ({self.inline(arg)})" if arg else ""
            return _quote(f"**{number}{title}.**\n\n" + self.body(body))
        if name == "prf:proof":
            text = self.body(body)
            sep = "\n\n" if re.match(r"^(\$\$|[-*+] |\d+[.)] |>|\|)", text) else " "
            return _quote("*Proof.*" + sep + text + " $\\blacksquare$")
        if name in ("exercise", "solution", "exercise-start", "solution-start"):
            if name.startswith("exercise"):
                n = self.ctx.next_number("exercise")
                number = self.ctx.index.labels[label].text if label in self.ctx.index.labels else f"Exercise {n}"
                head = f"**{number}**" + (f" ({self.inline(arg)})" if arg else "")
            else:
                t = self.ctx.index.labels.get(arg.strip())
                summary = f"Solution to {t.text}" if t else "Solution"
                if name == "solution-start":        # folded by _gate, cell by cell, until solution-end
                    self.ctx.gated.append(name)
                    self.ctx.solution_heads.append(summary)
                    self.ctx.details_open, self.ctx.details_count = False, 0
                    return None
                return "\n".join(_details_open(summary) + [self.body(body)] + ["", "</details>"])
            if name.endswith("-start"):
                self.ctx.gated.append(name)
                return None if not head else head + "\n"   # quoted by _gate until the matching -end
            return _quote(head + "\n\n" + self.body(body))
        if name in ("exercise-end", "solution-end"):
            if not self.ctx.gated:
                raise UnsupportedMyST(f"{self.ctx.doc}: {{{name}}} without a matching start")
            closing = self.ctx.gated.pop()
            if closing == "solution-start":
                self.ctx.solution_heads.pop()
                if self.ctx.details_open:
                    return "\n".join(self._close_details())
            return ""
        if name in ADMONITIONS:
            title = ADMONITIONS[name] if ADMONITIONS[name] else arg
            head = f"**{self.inline(title)}**\n\n" if title else ""
            return _quote(head + self.body(body))
        if name == "math":
            tex = "\n".join(body).strip()
            if label and label in self.ctx.index.labels:
                tex += f"\n\\tag{{{self.ctx.index.labels[label].text.strip('()')}}}"
            return f"$$\n{tex}\n$$"
        if name in ("figure", "image"):
            path = arg.strip()
            url = path if re.match(r"^https?://", path) else \
                f"{self.ctx.repo_url}/raw/main/{os.path.normpath(os.path.join(os.path.dirname(self.ctx.doc), path))}"
            caption = self.body(body).strip()
            alt = opts.get("alt", caption.split("\n")[0] if caption else "figure")
            text = f"![{alt}]({url})"
            if name == "figure":
                number = self.ctx.index.figure_number(self.ctx.doc, label, self.ctx.next_number("figure"))
                text += f"\n\n*{number}: {caption}*" if caption else ""
            return text
        if name in ("glue:md", "glue", "glue:text", "glue:math"):
            return self.glue_value(arg.strip(), None, "glue:md" if name == "glue:md" else
                                   ("glue:math" if name == "glue:math" else "glue:text"))
        if name == "dropdown":
            return _quote((f"**{self.inline(arg)}**\n\n" if arg else "") + self.body(body))
        if name == "table":
            caption = f"**{self.inline(arg)}**\n\n" if arg else ""
            return caption + self.body(body)
        if name == "list-table":
            return (f"**{self.inline(arg)}**\n\n" if arg else "") + self.list_table(body, int(opts.get("header-rows", 0)))
        if name in CODE_DIRECTIVES:
            return f"```{arg.strip()}\n" + "\n".join(body) + "\n```"
        raise UnsupportedMyST(f"{self.ctx.doc}: directive {{{name}}} has no Colab rendering")


# ---------------------------------------------------------------------------
# notebooks
# ---------------------------------------------------------------------------


def _read_myst(md_path: Path):
    import jupytext

    return jupytext.read(md_path, fmt="md:myst")


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
        if ctx.in_solution:      # a solution's code: folded where the front end honours it (JupyterLab, Notebook 7)
            meta["jupyter"] = {"source_hidden": True}
        cells.append(nbformat.v4.new_code_cell(cell.source, metadata=meta))
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chapters", nargs="*", help="MyST chapters (default: every chapters/ch* page of _toc.yml)")
    ap.add_argument("--check", action="store_true", help="only check the committed notebooks; run nothing")
    ap.add_argument("--no-execute", action="store_true",
                    help="reuse the glued values stored in the existing notebooks (prose-only edits; fast)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = ap.parse_args(argv)
    if args.check:
        problems = check()
        print("\n".join(problems) or "all Colab notebooks are up to date")
        return 1 if problems else 0
    import time

    for md in [Path(p).resolve() for p in args.chapters] or chapter_files():
        t0 = time.perf_counter()
        out = generate(md, timeout=args.timeout, execute_chapter=not args.no_execute)
        print(f"wrote {out.relative_to(ROOT)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
