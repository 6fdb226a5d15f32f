#!/usr/bin/env python
"""Generate the Colab notebooks (``chapters/chNN_*.ipynb``) from the MyST chapters.

Each chapter listed in ``_toc.yml`` (``chapters/ch*.md``) becomes a notebook that
reads cleanly in plain Jupyter or Google Colab, where neither Sphinx nor
myst-nb runs:

* theorems, proofs, definitions, exercises and solutions (also the gated
  ``exercise-start`` / ``solution-start`` forms), admonitions, figures and
  ``{math}`` blocks become bold headings with block quotes, with the numbers
  the rendered book gives them (Theorem 5.1, Fig. 5.2, (1.3), ...);
* ``{glue:text}`` / ``{glue:}`` roles and ``{glue:md}`` blocks are replaced by
  the values, computed by running the chapter in a plain Jupyter kernel with
  ``NOISYPROP_GLUE_RECORD=1`` (see :mod:`noisyprop_lib.book.glue`); the raw values
  are stored in the notebook's metadata (``metadata.noisyprop.glue``), so the
  text can be re-rendered, and checked, without running the chapter again;
* ``{cite:t}`` / ``{cite:p}`` become author-year text linked to the DOI or URL
  of ``book/references.bib``; ``{ref}``, ``{numref}``, ``{eq}``, ``{prf:ref}``
  and ``{doc}`` become the text the book shows, linked to the rendered book
  when the target is on another page; labels ``(name)=`` are dropped;
* solutions are folded: each one is a collapsed HTML ``<details>`` element
  whose ``<summary>`` names it ("Solution to Exercise 5.2"), with a blank line
  after the summary so that the Markdown and math inside still render in
  Jupyter and Colab; a code cell inside a solution stays a code cell (its
  input is marked ``source_hidden``, which JupyterLab and Notebook 7 fold), and
  the prose after it is folded in a second element "(continued)";
* outputs are empty, and the first code cell installs the library **release the
  book belongs to**: ``git+<repository>@v<version>``, with the repository named
  once in ``_config.yml`` (``repository.url``) and ``<version>`` read from
  ``pyproject.toml`` when the notebook is generated (a test checks that it equals
  ``noisyprop_lib.__version__``). Pinning the release, not the default branch,
  makes a notebook install the library it was generated with, once that release
  is tagged: the book is released together with its library (``CHANGELOG.md``),
  by tagging the commit that contains these notebooks ``v<version>``. A commit
  hash cannot serve: the notebook is committed after the commit it would name,
  possibly with library changes. A version bump changes every install cell, and
  ``make test`` fails until the notebooks are regenerated
  (``--no-execute`` suffices).

Anything the converter does not know raises :class:`UnsupportedMyST`, so a new
directive in a chapter cannot slip into Colab as raw markup.

Usage (``make notebooks`` runs the first form)::

    python tools/colab_notebooks.py                 # run every chapter, write every notebook
    python tools/colab_notebooks.py chapters/ch05_noisy_correlation_dynamics.md
    python tools/colab_notebooks.py --no-execute    # prose-only edits: reuse the values stored in the notebooks
    python tools/colab_notebooks.py --check         # exit 1 if a notebook is out of date (no execution)
"""
from __future__ import annotations

import sys
from pathlib import Path

# the generator is the package tools/colab/ (one module per concern); this script is its entry point
sys.path.insert(0, str(Path(__file__).resolve().parent))

from colab import *  # noqa: E402,F401,F403
from colab import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
