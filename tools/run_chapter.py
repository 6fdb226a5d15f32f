#!/usr/bin/env python
"""Run one chapter top to bottom in a plain Jupyter kernel, for authoring (not used by the build).

    python tools/run_chapter.py chapters/ch05_noisy_correlation_dynamics.md [--offset 13 --threads 2]

Prints OK and the wall time, or the failing cell's error; the executed notebook is written to
``.exec/<chapter>.ipynb`` (ignored by git) so that its outputs and figures can be inspected. Set
``NOISYPROP_DATA`` to the folder holding MNIST when offline.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jupytext
import nbclient
import nbformat

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("chapter", type=Path)
    ap.add_argument("--offset", type=int, default=0, help="NOISYPROP_SEED_OFFSET (default 0)")
    ap.add_argument("--threads", type=int, default=1, help="NOISYPROP_NUM_THREADS (default 1)")
    ap.add_argument("--timeout", type=int, default=900)
    args = ap.parse_args(argv)
    os.environ["NOISYPROP_SEED_OFFSET"] = str(args.offset)
    os.environ["NOISYPROP_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    path = args.chapter.resolve()
    nb = jupytext.read(path)
    out = ROOT / ".exec" / f"{path.stem}_o{args.offset}_t{args.threads}.ipynb"
    out.parent.mkdir(exist_ok=True)
    start = time.time()
    client = nbclient.NotebookClient(nb, timeout=args.timeout, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    ok = True
    try:
        client.execute()
    except Exception as exc:  # the failing cell's traceback, shortened
        ok = False
        print(f"FAIL {path.name} (offset {args.offset}, threads {args.threads}) after {time.time() - start:.0f} s")
        print(str(exc)[-4000:])
    nbformat.write(nb, out)
    if ok:
        print(f"OK {path.name} (offset {args.offset}, threads {args.threads}) in {time.time() - start:.0f} s; "
              f"executed notebook: {out.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
