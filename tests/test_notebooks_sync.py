"""The Colab notebooks committed next to the chapters must match the chapters (run `make notebooks`)."""
from __future__ import annotations

from pathlib import Path

import jupytext
import nbformat
import pytest

CHAPTERS = sorted((Path(__file__).resolve().parents[1] / "chapters").glob("ch*.md"))


def test_there_are_chapters():
    assert CHAPTERS, "no chapters found"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.name)
def test_notebook_matches_chapter(md):
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make notebooks`"
    expected = jupytext.read(md)
    actual = nbformat.read(ipynb, as_version=4)
    nbformat.validate(actual)
    assert [(c.cell_type, c.source) for c in actual.cells] == [(c.cell_type, c.source) for c in expected.cells], (
        f"{ipynb.name} is out of date with {md.name}: run `make notebooks`"
    )
    assert all(not c.get("outputs") for c in actual.cells if c.cell_type == "code"), "outputs must be stripped"
    assert "skip-execution" in actual.cells[1].metadata.get("tags", []) and "pip install" in actual.cells[1].source, (
        "the first code cell must install the library in Colab and be skipped by the build"
    )
