#!/usr/bin/env python
"""Measure the spread of every claim of some chapters over seed offsets and thread counts.

The rule of ``CONTRIBUTING.md`` ("Stochastic claims") asks that a claim whose
value depends on random draws, training or reduction order holds with a margin
of several standard deviations of its measured spread. This script measures
that spread: it runs each chapter in a plain Jupyter kernel once per setting
(``NOISYPROP_SEED_OFFSET`` x ``NOISYPROP_NUM_THREADS``), with every claim
logged and none raising (``NOISYPROP_CLAIMS_LOG``, ``NOISYPROP_CLAIMS_NO_RAISE``),
then prints, per claim, how far from failing it was in each run.

Usage::

    python tools/claim_spread.py chapters/ch08_in_practice.md --offsets 0 1 2 3 4 --threads 1 2
    python tools/claim_spread.py --report .spread/ch08_in_practice   # summarise stored runs

By default every offset runs with 1 thread and offsets 0 and 1 also run with
2 threads (the settings of the two CI builds), i.e. ``--pairs 0:1 1:1 2:1 3:1
4:1 0:2 1:2``. Logs go to ``.spread/<chapter>/offset<k>_threads<n>.jsonl``.

The report lists, for each claim (chapter order), the slack in every run: for
``claim_between`` the distance of the closest value to the nearest bound, for
``claim_close`` the tolerance minus the error, in the claim's own units; then
the mean and standard deviation of the slack over runs and ``z = min slack /
sd``. A claim that failed in any run, or whose z is below 3 while its slack
varies, is flagged: its tolerance or its statement needs work.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".spread"  # outside _build, which every book build deletes


def run_chapter(md: Path, offset: int, threads: int, out_dir: Path, timeout: int = 1200) -> Path:
    """Run one chapter in a plain kernel at a seed offset and thread count; return its claims log."""
    import jupytext

    sys.path.insert(0, str(ROOT / "tools"))
    from colab.execute import execute

    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / f"offset{offset}_threads{threads}.jsonl"
    log.unlink(missing_ok=True)
    env = {"NOISYPROP_CLAIMS_LOG": str(log), "NOISYPROP_CLAIMS_NO_RAISE": "1",
           "NOISYPROP_CLAIMS_TAG": f"offset={offset} threads={threads}",
           "NOISYPROP_SEED_OFFSET": str(offset), "NOISYPROP_NUM_THREADS": str(threads),
           "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    execute(jupytext.read(md, fmt="md:myst"), md.parent, timeout=timeout, env=env)
    print(f"{md.stem}: offset {offset}, {threads} thread(s): {time.perf_counter() - t0:.0f} s", flush=True)
    return log


def load_runs(chapter_dir: Path) -> dict[str, list[dict]]:
    runs = {}
    for log in sorted(chapter_dir.glob("offset*_threads*.jsonl")):
        runs[log.stem] = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return runs


def _stats(values):
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, sd


def report(chapter_dir: Path, z_required: float = 3.0) -> list[str]:
    """Print the spread report of one chapter's stored runs; return the flagged claims' descriptions."""
    runs = load_runs(chapter_dir)
    if not runs:
        raise SystemExit(f"no runs stored in {chapter_dir}")
    names = list(runs)
    n_claims = max(len(r) for r in runs.values())
    flagged = []
    print(f"\n== {chapter_dir.name}: {len(names)} runs ({', '.join(names)})")
    for i in range(n_claims):
        recs = [runs[n][i] for n in names if i < len(runs[n])]
        first = recs[0]
        if any(r["statement"] != first["statement"] for r in recs):
            print(f"  claim {i + 1}: statements differ between runs (data-dependent wording)")
        slacks = [r.get("extra", {}).get("slack") for r in recs]
        failed = [n for n, r in zip(names, recs) if not r["passed"]]
        head = f"  #{first['number']:>3} [{first.get('evidence', '')}] {first['statement'][:90]}"
        if all(s is None for s in slacks):
            measured = sorted({r["measured"] for r in recs})
            line = f"{head}\n        logical/symbolic; measured {measured[:3]}{' ...' if len(measured) > 3 else ''}"
        else:
            vals = [s for s in slacks if s is not None and math.isfinite(s)]
            mean, sd = _stats(vals) if vals else (float("nan"), 0.0)
            lo = min(vals) if vals else float("nan")
            z = lo / sd if sd > 0 else math.inf
            ranges = sorted({(r.get("extra", {}).get("min"), r.get("extra", {}).get("max")) for r in recs} - {(None, None)})
            line = (f"{head}\n        tol {first['tolerance']}; slack min {lo:.4g} mean {mean:.4g} sd {sd:.3g}; z {z:.3g}"
                    + (f"; values {ranges[0][0]:.4g}..{max(r[1] for r in ranges):.4g}" if ranges else
                       f"; max error {max(r.get('extra', {}).get('max_error', float('nan')) for r in recs):.3g}"))
            if not failed and z < z_required:
                failed.append(f"z={z:.2g}<{z_required}")
        if failed:
            line += f"\n        FLAG: {', '.join(failed)}"
            flagged.append(f"{chapter_dir.name} #{first['number']}: {first['statement'][:80]} ({', '.join(failed)})")
        print(line)
    return flagged


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("chapters", nargs="*", type=Path, help="chapter .md files to run")
    ap.add_argument("--pairs", nargs="+", default=["0:1", "1:1", "2:1", "3:1", "4:1", "0:2", "1:2"],
                    help="offset:threads settings to run (default: 5 offsets at 1 thread, 2 at 2 threads)")
    ap.add_argument("--report", nargs="*", type=Path, default=None, help="only summarise stored runs of these directories")
    ap.add_argument("--z", type=float, default=3.0, help="required min-slack / sd ratio (default 3)")
    args = ap.parse_args(argv)
    if args.report is not None:
        dirs = args.report or sorted(p for p in OUT.iterdir() if p.is_dir())
    else:
        if not args.chapters:
            ap.error("give chapter files, or --report")
        dirs = []
        for md in args.chapters:
            md = md.resolve()
            for pair in args.pairs:
                offset, threads = (int(x) for x in pair.split(":"))
                try:
                    run_chapter(md, offset, threads, OUT / md.stem)
                except Exception as exc:  # a crash is a result too: report what was logged before it
                    print(f"{md.stem}: offset {offset}, {threads} thread(s) CRASHED: {type(exc).__name__}: {str(exc)[-600:]}")
            dirs.append(OUT / md.stem)
    flagged = []
    for d in dirs:
        flagged += report(d, args.z)
    print(f"\n{len(flagged)} flagged claim(s)")
    for f in flagged:
        print("  " + f)
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())
