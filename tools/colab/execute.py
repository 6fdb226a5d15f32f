"""Execute a chapter's notebook in a plain kernel and collect the values it glues."""
from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import nbformat

from .glue import DUMP_CELL


def execute(nb, cwd: Path, timeout: int = 600, env: dict | None = None) -> dict:
    """Run ``nb`` in a plain Jupyter kernel (no myst-nb, no Sphinx), skipping ``skip-execution`` cells.

    Returns the mime bundles (text/plain, text/markdown) of every value the chapter glued.
    A cell that raises (other than one tagged ``raises-exception``) raises ``CellExecutionError``.
    ``env``: more environment variables for the kernel (``tools/claim_spread.py`` sets the seed offset,
    the thread count and the claims log this way); the process environment is restored afterwards.
    """
    from nbclient import NotebookClient

    run = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                            "language": "python"}})
    run.cells = [copy.deepcopy(c) for c in nb.cells
                 if c.cell_type == "code" and "skip-execution" not in c.metadata.get("tags", [])]
    run.cells.append(nbformat.v4.new_code_cell(DUMP_CELL))
    env = {"NOISYPROP_GLUE_RECORD": "1", "MPLBACKEND": os.environ.get("MPLBACKEND", "Agg"), **(env or {})}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)   # the kernel inherits the environment
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
