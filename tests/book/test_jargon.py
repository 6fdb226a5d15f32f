"""No internal language on the reader's side: chapters, back matter, Colab notebooks and the library's docstrings."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from jargon import jargon_in  # tests/book/jargon.py (pytest puts tests/book on sys.path)

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted([*ROOT.glob("chapters/*.md"), *ROOT.glob("book/*.md"), *ROOT.glob("chapters/*.ipynb"),
                  *ROOT.glob("noisyprop_lib/**/*.py"), ROOT / "README.md"])


def _text(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text())
        return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in nb["cells"])
    return path.read_text()


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_internal_language(path):
    hits = jargon_in(_text(path))
    assert not hits, f"{path.relative_to(ROOT)}:\n" + "\n".join(hits)


def test_the_jargon_check_can_fail():
    bad = ("As the reference's table says (reference CLAIM 32), the notes used 0.05 on the shared 2-core "
           "build machine; in an earlier session we had a GPU.")
    found = "\n".join(jargon_in(bad))
    for words in ("reference's", "reference CLAIM", "the notes", "build machine", "earlier session", "had a GPU"):
        assert words in found, (words, found)
    assert not jargon_in("The paper reports 0.6; the authors' code uses 54,000 training images; a reference line.")
