"""Count the code of every chapter: cells and non-blank lines inside ```{code-cell} blocks.

    python tools/code_lines.py [chapters/*.md]
"""
from __future__ import annotations

import pathlib
import sys


def code_lines(path: pathlib.Path) -> tuple[int, int]:
    cells = lines = 0
    inside = False
    for line in path.read_text().splitlines():
        if line.startswith("```{code-cell}"):
            inside, cells = True, cells + 1
        elif inside and line.startswith("```"):
            inside = False
        elif inside and line.strip() and not line.startswith(":tags:") and not line.startswith("---"):
            lines += 1
    return cells, lines


def main(argv: list[str]) -> int:
    paths = [pathlib.Path(p) for p in argv] or sorted(pathlib.Path("chapters").glob("ch*.md"))
    total = 0
    for p in paths:
        cells, lines = code_lines(p)
        total += lines
        print(f"{p.stem:40s} {cells:3d} cells {lines:5d} code lines")
    print(f"{'total':40s}           {total:5d} code lines")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
