"""The Colab notebooks (chapters/ch*.ipynb) are generated from the MyST chapters by tools/colab_notebooks.py.

Fast tests (``make test``): every chapter of ``_toc.yml`` has a notebook that is valid nbformat, reads
cleanly (no raw MyST), installs the library release the book belongs to (``v<version>`` of
``pyproject.toml``) from the one repository URL, folds its solutions, has no outputs, and is up to
date with its chapter (re-rendered from the glued values stored in the notebook, so the check needs no
execution and does not depend on the machine's last digits). The converter itself is tested on a
one-chapter book.

Slow tests (``make check-notebooks``, marker ``notebooks``): every committed notebook runs top to bottom
in a plain Jupyter kernel (no myst-nb, no Sphinx; the install cell skipped), and the glued values it shows
match a fresh run.
"""
from __future__ import annotations

import ast
import math
import re
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from conftest import MYST_FRONT_MATTER  # noqa: E402  (tests/book/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import colab_notebooks as C  # noqa: E402

CHAPTERS = C.chapter_files(ROOT)


def test_every_chapter_of_the_toc_is_converted():
    assert CHAPTERS, "no chapters found in _toc.yml"
    in_toc = {p.name for p in CHAPTERS}
    on_disk = {p.name for p in (ROOT / "chapters").glob("ch*.md")}
    # a chapter written but not yet in the toc gets no notebook; every toc chapter does
    assert in_toc <= on_disk


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_notebook_is_up_to_date_and_reads_cleanly(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make notebooks`"
    nb = nbformat.read(ipynb, as_version=4)
    nbformat.validate(nb)
    stored = C.stored_glue(nb)
    assert set(stored) == set(C.glue_keys(md)), (
        f"{ipynb.name} does not hold exactly the values {md.name} shows: run `make notebooks`")
    assert ipynb.read_text() == C.expected_text(md, stored), (
        f"{ipynb.name} is out of date with {md.name}: run `make notebooks` "
        "(or `python tools/colab_notebooks.py --no-execute` after a prose-only edit)")
    assert C.raw_myst(nb) == []
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == C.install_source(ROOT) and "skip-execution" in code[0].metadata["tags"]
    assert sum("pip install" in c.source for c in code) == 1, "exactly one install cell"


# --- the repository URL is defined once --------------------------------------------------------


def test_repository_url_is_defined_once():
    url = C.repository_url(ROOT)
    import noisyprop_lib

    assert noisyprop_lib.REPOSITORY_URL == url
    tomllib = pytest.importorskip("tomllib")   # Python 3.11+
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert urls["Repository"] == url
    assert urls["Documentation"].rstrip("/") == C.book_url(ROOT)
    for md in sorted((ROOT / "chapters").glob("ch*.md")):
        for line in md.read_text().splitlines():
            if "pip install" in line and "git+" in line:
                assert f"git+{url}\"" in line, f"{md.name}: install cell does not use {url}"


def test_install_cell_pins_the_release_of_the_book():
    """Not the default branch (issue 15): the tag v<version>, the version in pyproject.toml and the library's own."""
    import noisyprop_lib

    assert C.project_version(ROOT) == noisyprop_lib.__version__
    assert C.release_tag(ROOT) == f"v{noisyprop_lib.__version__}"
    line = C.install_source(ROOT).splitlines()[-1]
    assert line == f'%pip install --quiet "noisyprop_lib @ git+{C.repository_url(ROOT)}@v{noisyprop_lib.__version__}"'


def test_launch_buttons_only_where_there_is_a_notebook(tmp_path):
    """The reproduce page (a MyST notebook without a generated .ipynb) got a Colab button pointing at its .md."""
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    import page_assets

    assert page_assets.has_notebook(CHAPTERS[0])
    assert not page_assets.has_notebook(ROOT / "book" / "reproduce.md")
    (tmp_path / "page.md").write_text("# page")

    class Env:
        all_docs = {"page": 0}

        def doc2path(self, name):
            return str(tmp_path / f"{name}.md")

    class App:
        env = Env()

    launch = {"type": "group", "label": "launch-buttons", "buttons": [{"text": "Colab", "url": "https://colab.research.google.com/github/o/r/blob/main/page.md"}]}
    other = {"type": "group", "label": "download-buttons", "buttons": []}
    context = {"header_buttons": [other, launch]}
    page_assets._drop_launch_buttons_without_notebook(App(), "page", "page.html", context, None)
    assert context["header_buttons"] == [other]
    (tmp_path / "page.ipynb").write_text("{}")
    context = {"header_buttons": [other, launch]}
    page_assets._drop_launch_buttons_without_notebook(App(), "page", "page.html", context, None)
    assert context["header_buttons"] == [other, launch]


def test_launch_buttons_find_the_notebooks():
    # sphinx-book-theme links the Colab button to the .ipynb only if it exists next to the chapter
    cfg = C.book_config(ROOT)
    assert cfg["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert "chapters/*.ipynb" in cfg["exclude_patterns"]
    assert all(md.with_suffix(".ipynb").exists() for md in CHAPTERS)


# --- the converter, on a one-chapter book --------------------------------------------------------

CHAPTER = MYST_FRONT_MATTER.replace("    format_version: 0.13\n", "") + textwrap.dedent('''\
    
    # Tiny chapter

    ```{code-cell} ipython3
    :tags: [skip-execution, remove-cell]

    %pip install --quiet "noisyprop_lib @ git+https://github.com/noisyprop/noisyprop"
    ```

    :::{admonition} Learning goals
    :class: tip

    See {cite:t}`smith2020` and {cite:p}`smith2020,doe2019`.
    :::

    (sec-tiny)=
    ## A section

    ```{code-cell} ipython3
    from noisyprop_lib.book.glue import glue
    glue("tiny_x", 0.123456)
    glue("tiny_n", 7)
    ```

    The value is {glue:text}`tiny_x:.3f`, and {glue:}`tiny_n` items; see {doc}`../book/intro`,
    {eq}`eq-tiny`, {prf:ref}`thm-tiny`, {numref}`fig-tiny`, {ref}`sec-tiny` and ``{not:a}`role` `` in code.

    $$
    a = b
    $$ (eq-tiny)

    ```{prf:theorem} Tiny
    :label: thm-tiny

    Nothing happens.
    ```

    ```{prf:proof}
    Obvious.
    ```

    ```{note}
    A note with `code`.
    ```

    ```{math}
    :label: eq-tiny2
    c = d
    ```

    ```{code-cell} ipython3
    ---
    mystnb:
      figure:
        caption: A tiny figure.
        name: fig-tiny
    ---
    print("figure")
    ```

    ```{exercise-start}
    :label: ex-tiny
    ```
    Do it.
    ```{exercise-end}
    ```

    ```{solution-start} ex-tiny
    :class: dropdown
    ```
    Done.

    ```{code-cell} ipython3
    print(1)
    ```
    ```{solution-end}
    ```
    ''')

BIB = """@article{smith2020, author = {Smith, Ann and Jones, Bob and Kim, Cy}, title = {T}, journal = {J}, year = {2020},
doi = {10.1000/xyz}}
@article{doe2019, author = {Doe, Jane}, title = {U}, journal = {J}, year = {2019}}
"""


@pytest.fixture
def tiny_book(tmp_path):
    (tmp_path / "chapters").mkdir()
    (tmp_path / "book").mkdir()
    (tmp_path / "_config.yml").write_text(textwrap.dedent("""\
        title: Tiny
        bibtex_bibfiles: [book/references.bib]
        repository: {url: "https://github.com/noisyprop/noisyprop"}
        html: {baseurl: "https://example.org/tiny/"}
        """))
    (tmp_path / "_toc.yml").write_text(textwrap.dedent("""\
        format: jb-book
        root: book/intro
        parts:
          - caption: One
            numbered: true
            chapters:
              - file: chapters/ch01_tiny
        """))
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "tiny"\nversion = "0.0.1"\n')
    (tmp_path / "book" / "references.bib").write_text(BIB)
    (tmp_path / "book" / "intro.md").write_text("# Preface\n\nHello.\n")
    (tmp_path / "chapters" / "ch01_tiny.md").write_text(CHAPTER)
    return tmp_path


GLUE = {"tiny_x": {"text/plain": "0.123456"}, "tiny_n": {"text/plain": "7"}}


def _markdown(nb):
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_converter_renders_myst_as_plain_markdown(tiny_book):
    nb = C.render(tiny_book / "chapters" / "ch01_tiny.md", GLUE, root=tiny_book)
    md = _markdown(nb)
    assert C.raw_myst(nb) == [], C.raw_myst(nb)
    assert md.startswith("# 1. Tiny chapter")
    assert "> **Learning goals**" in md
    assert "[Smith et al. (2020)](https://doi.org/10.1000/xyz)" in md
    assert "([Smith et al., 2020](https://doi.org/10.1000/xyz); Doe, 2019)" in md
    assert "The value is 0.123, and 7 items" in md
    assert "[Preface](https://example.org/tiny/book/intro.html)" in md
    assert "(1.1), Theorem 1.1, Fig. 1.1, A section and ``{not:a}`role` `` in code" in md
    assert "\\tag{1.1}\n$$" in md and "c = d\n\\tag{1.2}\n$$" in md
    assert "> **Theorem 1.1 (Tiny).**\n>\n> Nothing happens." in md
    assert "> *Proof.* Obvious. $\\blacksquare$" in md
    assert "> **Note**\n>\n> A note with `code`." in md
    assert "*Fig. 1.1: A tiny figure.*" in md
    assert "> **Exercise 1.1**\n>\n> Do it." in md
    assert "<details>\n<summary><b>Solution to Exercise 1.1</b></summary>\n\nDone.\n\n</details>" in md
    assert "(sec-tiny)=" not in md
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source.endswith('"noisyprop_lib @ git+https://github.com/noisyprop/noisyprop@v0.0.1"')
    # the solution's code cell: folded in JupyterLab (source_hidden) and in Colab (a form cell with a title)
    assert code[-1].metadata["jupyter"] == {"source_hidden": True} and code[-1].metadata["cellView"] == "form"
    assert [c.source for c in code[1:]] == [
        'from noisyprop_lib.book.glue import glue\nglue("tiny_x", 0.123456)\nglue("tiny_n", 7)',
        'print("figure")',
        '# @title Solution code (double-click to show) { display-mode: "form" }\nprint(1)']
    assert C.glue_keys(tiny_book / "chapters" / "ch01_tiny.md") == {"tiny_x": {".3f"}, "tiny_n": {None}}


def test_converter_refuses_unknown_syntax(tiny_book):
    md = tiny_book / "chapters" / "ch01_tiny.md"
    md.write_text(CHAPTER + "\n```{youtube} abc\n```\n")
    with pytest.raises(C.UnsupportedMyST, match="youtube"):
        C.render(md, GLUE, root=tiny_book)
    md.write_text(CHAPTER + "\nSee {term}`x` and {unknownrole}`y`.\n")
    with pytest.raises(C.UnsupportedMyST, match="unknownrole"):
        C.render(md, GLUE, root=tiny_book)
    md.write_text(CHAPTER + "\nSee {numref}`fig-nowhere`.\n")
    with pytest.raises(C.UnsupportedMyST, match="fig-nowhere"):
        C.render(md, GLUE, root=tiny_book)


def test_raw_myst_is_detected():
    for text in ["See {prf:ref}`thm-x`.", "```{note}\nx\n```", ":::{admonition} A\nx\n:::", "(lab)=\n# T",
                 "value {glue:text}`k:.2f`", "$$\nx\n$$ (eq-x)", "{cite:p}`a`"]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
        assert C.raw_myst(nb), text
    clean = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("**Theorem 1.** $x$ [a](b)\n\n```python\n{x}`y`\n```")])
    assert C.raw_myst(clean) == []


def test_a_stale_notebook_is_detected(tiny_book):
    md = tiny_book / "chapters" / "ch01_tiny.md"
    ipynb = md.with_suffix(".ipynb")
    assert C.check(tiny_book) == ["ch01_tiny.ipynb is missing: run `make notebooks`"]
    C.write(C.render(md, GLUE, root=tiny_book), ipynb)
    assert C.check(tiny_book) == []
    md.write_text(CHAPTER.replace("Do it.", "Do it twice."))                 # the chapter changes
    assert C.check(tiny_book) == ["ch01_tiny.ipynb is out of date with ch01_tiny.md: run `make notebooks`"]
    C.write(C.render(md, GLUE, root=tiny_book), ipynb)
    md.write_text(md.read_text() + "\nNow {glue:text}`tiny_new:.1f`.\n")      # a new glued value
    assert "no glued value 'tiny_new'" in C.check(tiny_book)[0]
    C.write(C.render(md, GLUE | {"tiny_new": {"text/plain": "1.0"}}, root=tiny_book), ipynb)
    assert C.check(tiny_book) == []
    ipynb.write_text(ipynb.read_text().replace('"cell_type": "markdown"', '"cell_type": "markdwn"', 1))
    assert "ch01_tiny.ipynb" in C.check(tiny_book)[0]                        # not valid nbformat


def test_glue_format_follows_myst_nb():
    assert C.glue_format({"text/plain": "0.123456"}, ".2f") == "0.12"
    assert C.glue_format({"text/plain": "'dropout'"}, None) == "dropout"
    assert C.glue_format({"text/plain": "12"}, None) == "12"


def test_glue_records_only_when_asked(monkeypatch, capsys):
    from noisyprop_lib.book import glue as G

    G.RECORDED.clear()
    monkeypatch.setenv("NOISYPROP_GLUE_RECORD", "1")
    import numpy as np

    G.glue("rec_a", np.float64(1.5))
    assert G.RECORDED == {"rec_a": 1.5} and type(G.RECORDED["rec_a"]) is float
    monkeypatch.delenv("NOISYPROP_GLUE_RECORD")
    G.glue("rec_b", 2.0)
    assert "rec_b" not in G.RECORDED
    G.RECORDED.clear()


# --- executing the notebooks (make check-notebooks) ---------------------------------------------


def values_match(stored: dict, fresh: dict, specs: set, rel_tol: float = 1e-6, key: str = "") -> bool:
    """A glued value is reproduced if it shows the same text, or is a number within ``rel_tol``.

    A measured time (``C.MEASURED_TIME_KEY`` matches its name) only has to be a number again.
    """
    if C.MEASURED_TIME_KEY.search(key):
        try:
            return all(isinstance(ast.literal_eval(v["text/plain"]), (int, float)) for v in (stored, fresh))
        except (ValueError, SyntaxError):
            return False
    if stored.get("text/markdown", stored["text/plain"]) == fresh.get("text/markdown", fresh["text/plain"]):
        return True
    if all(C.glue_format(stored, s) == C.glue_format(fresh, s) for s in specs) and "text/markdown" not in stored:
        return True
    try:
        a, b = ast.literal_eval(stored["text/plain"]), ast.literal_eval(fresh["text/plain"])
    except (ValueError, SyntaxError):
        return False
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-12)
    return False


def test_values_match_tolerates_only_tiny_differences():
    assert values_match({"text/plain": "0.12345678"}, {"text/plain": "0.12345679"}, {None})
    assert values_match({"text/plain": "0.1"}, {"text/plain": "0.1000000001"}, {".3f"})
    assert not values_match({"text/plain": "0.1234"}, {"text/plain": "0.1235"}, {".4f"})
    assert not values_match({"text/plain": "'a'"}, {"text/plain": "'b'"}, {None})
    assert values_match({"text/plain": "25.2"}, {"text/plain": "19.5"}, {".0f"}, key="ch8_train_seconds")
    assert not values_match({"text/plain": "25.2"}, {"text/plain": "19.5"}, {".0f"}, key="ch8_train_loss")


@pytest.mark.notebooks
@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_notebook_runs_in_a_plain_kernel_and_shows_fresh_values(md):
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    fresh = C.execute(nb, md.parent)        # raises CellExecutionError with the traceback if a cell fails
    specs = C.glue_keys(md)
    stored = C.stored_glue(nb)
    wrong = {k: (stored[k]["text/plain"][:80], fresh.get(k, {}).get("text/plain", "<not glued>")[:80])
             for k in stored if k not in fresh or not values_match(stored[k], fresh[k], specs[k], key=k)}
    assert not wrong, f"{md.name}: the notebook shows values a fresh run does not reproduce (run `make notebooks`): {wrong}"


def test_converter_renders_tables_and_dropdowns(tiny_book):
    md = tiny_book / "chapters" / "ch01_tiny.md"
    md.write_text(CHAPTER + textwrap.dedent("""
        ```{list-table} Sizes
        :header-rows: 1

        * - name
          - value
        * - width
          - $1000$
        ```

        ```{dropdown} More
        Hidden text.
        ```
        """))
    text = _markdown(C.render(md, GLUE, root=tiny_book))
    assert "**Sizes**\n\n| name | value |\n|---|---|\n| width | $1000$ |" in text
    assert "> **More**\n>\n> Hidden text." in text


def test_solutions_are_folded_and_markdown_renders_inside(tiny_book):
    """In Colab a solution is a collapsed <details> element (issue 15); Markdown and math inside still render."""
    from markdown_it import MarkdownIt

    md = tiny_book / "chapters" / "ch01_tiny.md"
    md.write_text(CHAPTER.replace("Done.\n\n```{code-cell} ipython3\nprint(1)\n```\n",
                                  "Done with **care** and $x^2$:\n\n- a\n- b\n\n```{code-cell} ipython3\nprint(1)\n```\n\nThen more.\n"))
    nb = C.render(md, GLUE, root=tiny_book)
    assert C.raw_myst(nb) == []
    cells = [c for c in nb.cells if "Solution to Exercise 1.1" in c.source]
    assert len(cells) == 2
    first, cont = cells[0].source, cells[1].source
    assert first.count("<details>") == first.count("</details>") == 1 and first.rstrip().endswith("</details>")
    assert "<summary><b>Solution to Exercise 1.1 (continued)</b></summary>\n\nThen more.\n\n</details>" in cont
    html = MarkdownIt("commonmark", {"html": True}).render(first[first.index("<details>"):])
    assert "<p>Done with <strong>care</strong> and $x^2$:</p>" in html and "<li>a</li>" in html
    assert html.rstrip().endswith("</details>")
    # the code cell between the two parts is the solution's: folded where the front end honours it
    k = nb.cells.index(cells[0])
    assert nb.cells[k + 1].cell_type == "code" and nb.cells[k + 1].metadata["jupyter"] == {"source_hidden": True}
    # a solution-end right after the code cell opens no empty <details>
    md.write_text(CHAPTER)
    nb = C.render(md, GLUE, root=tiny_book)
    assert sum("<details>" in c.source for c in nb.cells) == 1


def test_every_chapter_notebook_folds_its_solutions():
    for md in CHAPTERS:
        nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
        text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
        assert text.count("<details>") == text.count("</details>") >= md.read_text().count("{solution-start}"), md.name
        assert "**Solution to" not in text, md.name


def test_display_math_is_never_in_a_block_quote(tiny_book):
    """JupyterLab renders `> $$` with stray `>` signs: a quoted box is closed around its display equations."""
    md = tiny_book / "chapters" / "ch01_tiny.md"
    md.write_text(CHAPTER.replace("Nothing happens.", "Nothing happens:\n\n$$\nx = 1\n$$\n\nthen it ends."))
    text = _markdown(C.render(md, GLUE, root=tiny_book))
    assert "\n\n$$\nx = 1\n$$\n\n> then it ends." in text and not re.search(r"^>[ \t]*\$\$", text, re.M)


def _glued_markdown(source: str) -> set:
    return set(re.findall(r"glue(?:_values)?\([^)]*?Markdown\((\w+)\)", source))


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_chapter_notebooks_read_as_a_reader_expects(md):
    """No display math in a block quote, no table shown twice, every solution's code folded."""
    nb = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    for k, c in enumerate(nb.cells):
        if c.cell_type == "markdown":
            assert not re.search(r"^>[ \t]*\$\$", c.source, re.M), f"{md.name} cell {k}: display math in a block quote"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    twice = _glued_markdown(code) & set(re.findall(r"display\(Markdown\((\w+)\)\)", code))
    assert not twice, f"{md.name}: tables {sorted(twice)} are displayed and also glued into the text"
    for k, c in enumerate(nb.cells):
        if c.cell_type == "code" and c.metadata.get("jupyter", {}).get("source_hidden"):
            assert c.metadata.get("cellView") == "form" and c.source.startswith("# @title"), (md.name, k)
