"""The command line: python tools/colab_notebooks.py [chapters] [--check] [--no-execute]."""
from __future__ import annotations

import argparse
from pathlib import Path

from .config import ROOT, chapter_files
from .notebook import check, generate

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
