# The two commands of the README:
#   make test   run the library's test suite
#   make book   build the executed book into _build/html (warnings are errors)
# Each creates (or reuses) the virtual environment .venv and installs the
# project editable, with the exact versions of constraints.txt.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: test book clean bench venv notebooks

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[book,test]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# A clean _build every time: executed notebooks are never served from a cache,
# so every claim in the book is re-checked by this build.
book: $(STAMP)
	rm -rf _build
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/jupyter-book build . -W -n --keep-going

# Regenerate the Colab notebooks (chapters/*.ipynb, outputs stripped) from the MyST chapters.
notebooks: $(STAMP)
	$(VENV)/bin/jupytext --to ipynb chapters/ch*.md

bench: $(STAMP)
	$(PY) benchmarks/bench_theory.py

clean:
	rm -rf _build $(VENV) .pytest_cache .hypothesis *.egg-info noisyprop_lib.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
