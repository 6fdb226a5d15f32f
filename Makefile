# The two commands of the README:
#   make test   run the library's test suite
#   make book   build the executed book into _build/html (warnings are errors)
# Each creates (or reuses) the virtual environment .venv and installs the
# project editable, with the exact versions of constraints.txt.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: test book book-variant clean bench venv notebooks check-notebooks check-browser chromium mutate

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e ".[book,test,browser]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

# A clean _build every time: executed notebooks are never served from a cache,
# so every claim in the book is re-checked by this build.
book: $(STAMP)
	rm -rf _build
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/jupyter-book build . -W -n --keep-going

# The same book on other random draws and another thread count: CI's second build (at an offset derived
# from the commit, see .ci/run). Every claim must
# hold here too (CONTRIBUTING.md, "Stochastic claims"). The output goes to _build/variant/_build/html.
SEED_OFFSET ?= 1
THREADS     ?= 2
book-variant: $(STAMP)
	rm -rf _build/variant
	NOISYPROP_SEED_OFFSET=$(SEED_OFFSET) NOISYPROP_NUM_THREADS=$(THREADS) OMP_NUM_THREADS=$(THREADS) \
	  PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/jupyter-book build . --path-output _build/variant -W -n --keep-going

# Regenerate the Colab notebooks (chapters/ch*.ipynb) from the MyST chapters of _toc.yml: each chapter
# is run in a plain Jupyter kernel to fill in its glued values (a few minutes for the whole book).
# After a prose-only edit, `$(PY) tools/colab_notebooks.py --no-execute` re-renders in seconds.
notebooks: $(STAMP)
	$(PY) tools/colab_notebooks.py

# Run every Colab notebook top to bottom in a plain kernel (no myst-nb, no Sphinx) and check that the
# values its text shows are reproduced (pytest marker `notebooks`, left out of `make test`).
check-notebooks: $(STAMP)
	$(PY) -m pytest -m notebooks tests/book/test_colab_notebooks.py

# Open every page of the built book (_build/html, from `make book`) in headless Chromium: console
# errors, MathJax, images, internal links, launch buttons; screenshots in _build/screenshots/.
check-browser: $(STAMP) chromium
	$(PY) -m pytest -m browser tests/book/test_rendered_book.py

# Debian's chromium (Playwright drives it; no browser download).
chromium:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	  else sudo apt-get update && sudo apt-get install -y chromium; fi; }

# Mutation testing of noise, activations, meanfield, criticality and dln (not part of CI; tens of minutes
# on two cores, resumable): flips constants and operators one at a time and reruns the tests that execute
# the changed line. Options (a module, a sample, the survivors) in tools/mutate.py; e.g.
#   make mutate MUTATE_ARGS="--module meanfield --survivors"
mutate: $(STAMP)
	$(PY) tools/mutate.py $(MUTATE_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/bench_theory.py
	$(PY) benchmarks/bench_simulate.py
	$(PY) benchmarks/bench_dln.py
	$(PY) benchmarks/bench_trainability.py

clean:
	rm -rf _build $(VENV) .pytest_cache .hypothesis *.egg-info noisyprop_lib.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
