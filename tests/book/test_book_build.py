"""The book's plumbing: a failing cell or a false claim must fail the build, and the ledger must list claims.

Each test builds a one-chapter book with the repository's own ``_config.yml``
and ``book/_ext`` (so the real execution flags and the real ledger extension
are tested) and the same command as ``make book``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import MYST_FRONT_MATTER  # noqa: E402  (tests/book/conftest.py)

ROOT = Path(__file__).resolve().parents[2]
JB = Path(sys.executable).parent / "jupyter-book"

HEADER = MYST_FRONT_MATTER + """
# Tiny chapter

```{code-cell} ipython3
from noisyprop_lib.book.claims import claim_close
from noisyprop_lib.book.glue import glue
glue("tiny_value", 1.25)
claim_close("Two plus two is four.", 2 + 2, 4, atol=0.0, check="arithmetic", evidence="closed form")
```

The value is {glue:text}`tiny_value:.2f`.
"""

TOC = """format: jb-book
root: intro
chapters:
  - file: chapters/tiny
  - file: ledger
"""


def _make_book(tmp_path: Path, extra_cell: str = "") -> Path:
    book = tmp_path / "book_src"
    (book / "chapters").mkdir(parents=True)
    shutil.copy(ROOT / "_config.yml", book / "_config.yml")
    (book / "book").mkdir()
    shutil.copy(ROOT / "book" / "references.bib", book / "book" / "references.bib")
    shutil.copytree(ROOT / "book" / "_ext", book / "book" / "_ext")
    shutil.copytree(ROOT / "book" / "_static", book / "book" / "_static")
    (book / "_toc.yml").write_text(TOC)
    (book / "intro.md").write_text("# Tiny book\n\nA test book.\n")
    (book / "ledger.md").write_text("# Ledger\n\n```{claims-ledger}\n```\n")
    (book / "chapters" / "tiny.md").write_text(HEADER + extra_cell)
    return book


def _build(book: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(
        [str(JB), "build", str(book), "-W", "-n", "--keep-going"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


@pytest.fixture(scope="module")
def passing_build(tmp_path_factory):
    book = _make_book(tmp_path_factory.mktemp("ok"))
    return book, _build(book)


def test_passing_book_builds_and_ledger_lists_the_claim(passing_build):
    book, result = passing_build
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ledger = (book / "_build" / "html" / "ledger.html").read_text()
    assert "Two plus two is four." in ledger
    assert "This build checked 1 claims in 1 chapter; 1 passed." in ledger
    assert "tiny.html#claim-1" in ledger
    # the ledger names the kind of evidence of every claim, and does not repeat "passed" on every row
    assert "<p>Evidence</p>" in ledger and "<p>closed form (library check)</p>" in ledger
    # scientific claims and library checks are told apart, counted per chapter and can be filtered
    assert 'class="npl-kind-library' in ledger and "npl-ledger-counts" in ledger
    assert 'data-show="science"' in ledger and 'data-show="library"' in ledger
    assert "; passed" not in ledger
    chapter = (book / "_build" / "html" / "chapters" / "tiny.html").read_text()
    assert "1.25" in chapter  # the glued value is in the text


def test_failing_cell_fails_the_build(tmp_path):
    book = _make_book(tmp_path, "\n```{code-cell} ipython3\nassert False\n```\n")
    result = _build(book)
    assert result.returncode != 0
    assert "AssertionError" in result.stdout + result.stderr


def test_false_claim_fails_the_build(tmp_path):
    cell = '\n```{code-cell} ipython3\nclaim_close("Two plus two is five.", 2 + 2, 5, atol=0.5, check="arithmetic", evidence="closed form")\n```\n'
    book = _make_book(tmp_path, cell)
    result = _build(book)
    assert result.returncode != 0
    assert "ClaimError" in result.stdout + result.stderr


def test_missing_glue_key_fails_the_build(tmp_path):
    book = _make_book(tmp_path, "\nThis references {glue:text}`no_such_key:.2f`.\n")
    result = _build(book)
    assert result.returncode != 0
