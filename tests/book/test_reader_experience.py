"""Book-wide conventions a reader sees: one figure style, an accessible colour map, logo and favicon, back matter."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import colab_notebooks as C  # noqa: E402


def test_every_chapter_uses_the_book_style_and_cividis():
    for md in C.chapter_files(ROOT):
        text = md.read_text()
        if "plt." not in text and "matplotlib" not in text:
            continue
        assert "npl.plotting.use_book_style()" in text, f"{md.name} draws figures without the book's style"
        named = set(re.findall(r"cmap\s*=\s*['\"](\w+)['\"]", text)) | set(re.findall(r"get_cmap\(['\"](\w+)['\"]", text))
        assert named <= {"cividis"}, f"{md.name} uses colour maps {named}; use npl.plotting.SEQUENTIAL_CMAP"


def test_logo_and_favicon_are_configured_and_exist():
    cfg = C.book_config(ROOT)
    assert (ROOT / cfg["logo"]).is_file()
    assert (ROOT / cfg["html"]["favicon"]).is_file()


def test_reproduce_page_is_in_the_back_matter_before_the_bibliography():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    back = [e["file"] for e in toc["parts"][-1]["chapters"]]
    assert back.index("book/reproduce") < back.index("book/bibliography")
    text = (ROOT / "book" / "reproduce.md").read_text()
    assert "load_results" in text and "provenance" in text
    # wall times come from the stored files, never typed by hand
    assert not re.search(r"\b\d+(\.\d+)?\s*(min|minutes|hours|h)\b(?![^`]*`)", text.split("```{code-cell}")[0])
