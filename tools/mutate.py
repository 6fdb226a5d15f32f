#!/usr/bin/env python
r"""Mutation testing of the theory modules (``make mutate``; not part of CI).

A small mutation tester of our own (mutmut is too slow on two cores): every mutant is one small
change to the source of one function, and the test suite is asked whether it notices.

Usage::

    .venv/bin/python tools/mutate.py [options]

Options
-------
``--module NAME``       restrict to a module (repeatable), dotted below noisyprop_lib, e.g. theory.meanfield (see MODULES).
``--sample N``          run a random sample of N mutants per module (``--seed`` picks it; default 0).
``--function QUALNAME`` restrict to the mutants of one function or method (repeatable), e.g. ``Noise.kappa``.
``--fresh``             ignore stored results (``.mutation/results.jsonl``) and run every mutant again.
``--report``            only print the score from the stored results; run nothing.
``--survivors``         also list every surviving mutant (line, operator, source line).
``--list``              list the mutants and exit.
``--coverage``          only refresh the line-to-test map (``.mutation/coverage.json``).
``--timeout-factor F``  per-mutant timeout: ``10 s + F`` x the measured time of its tests (default 5).
``--max-test-seconds S`` run at most S seconds (as measured under the tracer) of tests per mutant, fastest
                        first (default 2; the first test always runs).
``--ignore-file NAME``  leave a test file out (repeatable), e.g. to score the suite without new tests.
``--all-tests``         also use the slow simulation, training and experiment test files (see SLOW_TEST_FILES).
``--json PATH``         also write the per-module summary as JSON.

Mutation operators
------------------
* numeric constants: an int ``c`` becomes ``c + 1``; a float ``0.0`` becomes ``1.0``, any other float
  ``c`` becomes ``2c`` (bools are not numbers here);
* binary operators (also in augmented assignments): ``+`` <-> ``-``, ``*`` <-> ``/``, ``**`` -> ``*``,
  ``//`` -> ``/``, ``%`` -> ``/``, ``&`` <-> ``|`` (numpy masks);
* comparisons: ``<`` <-> ``<=``, ``>`` <-> ``>=``, ``==`` <-> ``!=``, ``is`` <-> ``is not``,
  ``in`` <-> ``not in``;
* boolean operators ``and`` <-> ``or``; unary ``-``, ``not`` and ``~`` removed.

Equivalent mutants (a change that cannot alter a result at double precision: a chunk size, a finer
quadrature rule, a series term below one ulp, an iteration cap that is never reached) are listed in
``EQUIVALENT`` below, each with its reason; they are not run, not scored, and printed with
``--survivors``. Where a whole line is equivalent, ``# pragma: no mutate`` (with a reason) does the same.

Not mutated: docstrings and every string, type annotations, decorators, f-strings, the exception
raised by a ``raise`` statement and the arguments of ``warnings.warn`` (message construction; the
condition that leads to the raise *is* mutated), lines marked ``# pragma: no mutate`` (each with its
reason) or ``# pragma: no cover``. Numeric default values of a function's arguments are mutated
(applied by patching ``__defaults__``/``__kwdefaults__``); so are the numeric module-level constants
(``_C_TOL = 1e-12``, ``_EXCESS_SERIES``...), applied by rebinding the module attribute (and the same
object wherever another ``noisyprop_lib`` module imported it).

How a mutant is run
-------------------
1. Once, the test suite runs under a line tracer (``sys.settrace``, one set per test, with every
   ``functools.lru_cache`` of the library cleared before each test so that cached work is
   attributed to every test that needs it) that maps each line of the five modules to the tests that
   execute it, and records each test's duration. The map is cached in ``.mutation/coverage.json``
   and refreshed per test file when the file (or one of the five modules) changes.
2. One pytest session collects the tests (the parent never runs a test). For each mutant the
   parent ``fork()``\ s; the child recompiles the mutated top-level function or class from the AST,
   swaps the live function's ``__code__`` (so every reference, including ``from .x import f`` copies
   and bound methods, sees the mutant), clears the library's caches and runs the tests that execute
   the mutated line (fastest first) through pytest's own ``pytest_runtest_protocol`` (fixtures,
   marks and warning filters as in ``make test``), stopping at the first failure. Exit 0: survived;
   exit 1: killed. The parent enforces the timeout (a timeout counts as killed, as in mutmut).
   A mutant whose line no test executes is a survivor ("no tests").
3. Results are appended to ``.mutation/results.jsonl``, keyed by the mutant, the source of its
   top-level function or class and the contents of the test files it ran; an interrupted run resumes,
   and a change of the code or of the relevant tests reruns the mutants it can affect, except that a
   kill stands while the killing test still exists and still executes the mutated line.

Which tests: every file of ``tests/`` except the book, notebook and browser checks (subprocesses) and,
unless ``--all-tests``, the slow simulation and training files (``SLOW_TEST_FILES``); per mutant at most
``--max-test-seconds`` of them, fastest first. The score is therefore a lower bound on what the whole
suite kills.

Hypothesis runs with the ``mutate`` profile: derandomised (the same examples in the coverage run
and in every mutant), no example database (failing examples of mutants must not leak into
``make test``), no shrinking.
"""
from __future__ import annotations

import argparse
import ast
import copy
import functools
import hashlib
import json
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".mutation"
COVERAGE = STATE / "coverage.json"
RESULTS = STATE / "results.jsonl"
MODULES = (
    "theory.noise._base",
    "theory.noise.laws",
    "theory.noise._sampling",
    "theory._domain",
    "theory.gauss",
    "theory.arccos",
    "theory._gelu",
    "theory.activations",
    "theory._moments",
    "theory.meanfield",
    "theory.criticality",
    "theory._rectifier",
    "theory._fixed_point",
    "theory.finite_width",
    "dln._common",
    "dln._sampling",
    "dln._uv",
    "dln.data",
    "dln.interpolators",
    "dln.mirror",
    "dln.run",
    "dln.stability",
    "dln.train",
)


def _path(name: str) -> Path:
    """The source file of a module of MODULES (dotted, relative to noisyprop_lib)."""
    return ROOT / "noisyprop_lib" / (name.replace(".", "/") + ".py")

# book builds, notebook and browser checks run the library in subprocesses (which a patched
# __code__ cannot reach) and take minutes: never used to kill mutants
EXCLUDED_TEST_FILES = {
    "test_book_build.py",
    "test_colab_notebooks.py",
    "test_rendered_book.py",
    "test_reader_experience.py",
}
# simulation, training and experiment tests: minutes of torch work (15 of the suite's 18 traced
# minutes), statistical tolerances; left out unless --all-tests (the score is then a lower bound)
SLOW_TEST_FILES = {
    "test_nn.py",
    "test_simulate.py",
    "test_experiments.py",
    "test_beyond_the_paper.py",
    "test_gpu_run.py",
    "test_data.py",
}
PRAGMAS = ("pragma: no mutate", "pragma: no cover")

# Mutants shown to be equivalent, each with its reason: (module, function, operator as printed, reason).
# They are not run and not counted in the score; every run lists them. Kept here rather than as
# `# pragma: no mutate` comments where one line holds several constants of which only some are
# equivalent (a series' coefficients), and so that modules under edit by others stay untouched.
_SUB_ULP = "changes the series by less than one ulp of the result (its term is below 1e-16 relative where used)"
_CHUNKING = "a batch size of the vectorised evaluation: the same sums in other chunks"
_FINER = "refines the quadrature rule (more nodes, levels or range); results agree to rounding"
_PROB0 = "differs only when a continuous draw hits an exact value (probability 0, or 2^-24 per draw)"
EQUIVALENT = [
    # (module, function, operator as listed, text of the source line, reason[, column where the line has twins])
    ("theory.noise._base", "Dropout._sample", "< -> <=", "(u < p)", _PROB0),
    ("theory.noise.laws", "PlainDropout._sample", "< -> <=", "(u < float(self.keep_prob))", _PROB0),
    ("theory.noise._base", "_moment_cached", "30 -> 31", "sympy.N(", "30 or 31 significant digits round to the same double"),
    ("theory.noise._sampling", "_sample_standard_gamma", "1e-300 -> 2e-300", "torch.clamp(v, min=1e-300)",
     "the clamp only acts where v <= 0, which the same test rejects through (v > 0)"),
    ("theory.noise._sampling", "_sample_standard_gamma", "> -> >=", "ok = (v > 0)", _PROB0),
    ("theory.noise._sampling", "_sample_standard_gamma", "< -> <=", "torch.log(u) <", _PROB0),
    ("theory.arccos", "_EXCESS_SERIES", "_EXCESS_SERIES: 101376 -> 101377", "_EXCESS_SERIES =", _SUB_ULP),
    ("theory.arccos", "_EXCESS_SERIES", "_EXCESS_SERIES: 63 -> 64", "_EXCESS_SERIES =", _SUB_ULP),
    ("theory.arccos", "_EXCESS_SERIES", "_EXCESS_SERIES: 585728 -> 585729", "_EXCESS_SERIES =", _SUB_ULP),
    ("theory.arccos", "_EXCESS_SERIES", "_EXCESS_SERIES: 77 -> 78", "_EXCESS_SERIES =", _SUB_ULP),
    ("theory.arccos", "_EXCESS_SERIES", "_EXCESS_SERIES: 2129920 -> 2129921", "_EXCESS_SERIES =", _SUB_ULP),
    ("theory.arccos", "_EXCESS_SERIES", "_EXCESS_SERIES: 143 -> 144", "_EXCESS_SERIES =", _SUB_ULP),
    ("theory.arccos", "_EXCESS_SERIES", "_EXCESS_SERIES: 11141120 -> 11141121", "_EXCESS_SERIES =", _SUB_ULP),
    ("theory._domain", "_Q_TINY", "_Q_TINY: 1e-300 -> 2e-300", "_Q_TINY =",
     "phi'(sqrt(q) z) at q = 1e-300 or 2e-300 is phi'(0) (or the homogeneous value) to rounding"),
    ("theory.arccos", "arccos_kernel", "< -> <=", "np.where(c < 0,", "both branches evaluate the same expression at c = 0"),
    ("theory.arccos", "arccos_kernel", "0 -> 1", "np.where(c < 0,",
     "for c in [0, 1) the first branch is R(-c) + c = R(c), evaluated through the same flip of _excess_from_eps"),
    ("theory.arccos", "_excess_from_eps", "2.0 -> 4.0", "np.clip(np.asarray(eps",
     "callers pass eps = 1 -+ c with c in [-1, 1], so eps never exceeds 2"),
    ("theory.arccos", "_excess_from_eps", "> -> >=", "flip = e0 > 1.0", "at eps = 1 both branches compute 0 + excess(1)"),
    ("theory.arccos", "_excess_from_eps", "< -> <=", "small = e < 1e-2", "series and closed form agree to an ulp at eps = 1e-2"),
    ("theory.arccos", "_excess_from_eps", "0.01 -> 0.02", "small = e < 1e-2",
     "the eight-term series is still exact to rounding at eps = 2e-2 (next term 3e-19 relative)"),
    ("theory.gauss", "_gauss_rule", "30 -> 31", "_graded_half_line(order, 30, 12.0)", _FINER),
    ("theory.gauss", "_gauss_rule", "12.0 -> 24.0", "_graded_half_line(order, 30, 12.0)", _FINER),
    ("theory.gauss", "_CHUNK", "_CHUNK: 4096 -> 4097", "_CHUNK =", _CHUNKING),
    ("theory.gauss", "gaussian_expectation", "default order=12 -> 13", "def gaussian_expectation", _FINER),
    ("theory.gauss", "_GRADED_THETA_ORDER", "_GRADED_THETA_ORDER: 10 -> 11", "_GRADED_THETA_ORDER =", _FINER),
    ("theory.gauss", "_RADIAL_ORDER", "_RADIAL_ORDER: 16 -> 17", "_RADIAL_ORDER =", _FINER),
    ("theory.gauss", "_MAX_GRADING_SQRT_Q", "_MAX_GRADING_SQRT_Q: 100000000.0 -> 200000000.0", "_MAX_GRADING_SQRT_Q =",
     "only changes the rule beyond q = 1e16, outside the documented range"),
    ("theory.gauss", "_BIV_BUDGET", "_BIV_BUDGET: 256 -> 257", "_BIV_BUDGET =", _CHUNKING),
    ("theory.gauss", "_BIV_BUDGET", "_BIV_BUDGET: 4 -> 5", "_BIV_BUDGET =", _CHUNKING),
    ("theory.gauss", "_BIV_BUDGET", "_BIV_BUDGET: 32 -> 33", "_BIV_BUDGET =", _CHUNKING),
    ("theory.gauss", "_BIV_BUDGET", "_BIV_BUDGET: 144 -> 145", "_BIV_BUDGET =", _CHUNKING),
    ("theory.gauss", "_bivariate_levels", "1 -> 2", "-1).astype(int)", "-1 and -2 both mark the ungraded rule (key < 0)"),
    ("theory.gauss", "_bivariate_levels", "3.0 -> 6.0", "np.maximum(3.0 * s", _FINER),
    ("theory.gauss", "_bivariate_levels", "8 -> 9", "np.maximum(8,", _FINER),
    ("theory.gauss", "_bivariate_levels", "30.0 -> 60.0", "np.maximum(30.0 * s", _FINER),
    ("theory.gauss", "_split_angles", "2 -> 3", "(beta + 3 * half) % (2 * math.pi)",
     "beta + 3 pi/2 lies in [3 pi/2, 5 pi/2]: reduced mod 3 pi it stays there, and the four arcs still cover one "
     "full period with their ends at the same sign changes"),
    ("theory.gauss", "bivariate_gaussian_expectation", "default radius=11.0 -> 22.0", "def bivariate_gaussian_expectation",
     _FINER),
    ("theory.gauss", "bivariate_gaussian_expectation", "0 -> 1", "if key[0] < 0:",
     "the angular and radial levels are -1 together, and a graded level is at least 3"),
    ("theory.gauss", "_bivariate_ungraded", "8 -> 9", "_graded_half_line(_RADIAL_ORDER, 8, radius)", _FINER),
    ("theory.gauss", "_bivariate_ungraded", "1 -> 2", "chunk = max(1,", _CHUNKING),
    ("theory.gauss", "_bivariate_ungraded", "4 -> 5", "chunk = max(1,", _CHUNKING),
    ("theory.gauss", "_bivariate_graded", "1 -> 2", "chunk = max(1,", _CHUNKING),
    ("theory.gauss", "_bivariate_graded", "8 -> 9", "chunk = max(1,", _CHUNKING),
    ("theory._gelu", "_t_minus_arctan", "<= -> <", "np.where(t <= 0.5,", "series and closed form agree to an ulp at t = 0.5"),
    ("theory.gauss", "_bivariate_levels", "> -> >=", "graded = s > _GRADE_ABOVE",
     "both rules are accurate to 2e-14 at the switch q = 2.89"),
    ("theory.gauss", "_bivariate_levels", "1.0 -> 2.0", "np.maximum(3.0 * s, 1.0)",
     "graded points have 3 s > 5.1, so the floor never acts"),
    ("theory.gauss", "_bivariate_levels", "1.0 -> 2.0", "np.maximum(30.0 * s, 1.0)",
     "graded points have 30 s > 51, so the floor never acts"),
    ("theory.gauss", "_bivariate_levels", "remove unary -", "-1).astype(int)",
     "the radial level of an ungraded point is never read (the angular -1 selects the ungraded rule)", 90),
    ("theory.gauss", "bivariate_gaussian_expectation", "< -> <=", "if key[0] < 0:", "a graded level is at least 3"),
    ("theory.gauss", "bivariate_gaussian_expectation", "0 -> 1", "key[0], key[1], float(radius)",
     "the angular levels become the radial ones, which are at least as many: a finer rule", 78),
    ("theory.gauss", "bivariate_gaussian_expectation", "default order=32 -> 33", "def bivariate_gaussian_expectation",
     _FINER),
    ("theory.activations", "LeakyReLU.__init__", "> -> >=", "return np.where(x > 0, x, a * x)", "both give 0 at x = 0"),
    ("theory.activations", "LeakyReLU.derivative_cross_moment", "* -> /", "val * np.ones(", "dividing by ones"),
    ("theory._gelu", "_T_MINUS_ARCTAN_SERIES", "_T_MINUS_ARCTAN_SERIES: + -> -", "(-1.0) ** (n + 1)",
     "(-1)^(n-1) = (-1)^(n+1)", 42),
    ("theory._gelu", "_T_MINUS_ARCTAN_SERIES", "_T_MINUS_ARCTAN_SERIES: 25 -> 26", "range(1, 25)",
     "a 25th term below 2^-50 t^3 for t <= 1/2: " + _SUB_ULP),
    ("theory._gelu", "_pieces", "0.5 -> 1.0", "ts = np.where(near, t, 0.5)",
     "a placeholder where the far-field form is not used; the final np.where discards it"),
    ("theory.activations", "GELU._beyond_closed_form", "> -> >=", "> self._CLOSED_FORM_MAX_Q",
     "closed form and quadrature agree to 1e-12 at the switch"),
    ("theory.meanfield", "variance_map_slope", "default sigma_b2=0.0 -> 1.0", "def variance_map_slope",
     "the slope does not depend on sigma_b2 (it is only validated)"),
    ("theory.meanfield", "covariance_map", "> -> >=", "np.where(denom > 0, denom, 1.0)",
     "where denom = 0 the outer np.where discards the quotient", 47),
    ("theory.meanfield", "covariance_map", "> -> >=", "np.where(denom > 0, denom, 1.0)",
     "where denom = 0 the inner np.where divides by 1.0 and the quotient is 0 either way", 21),
    ("theory.meanfield", "covariance_map", "> -> >=", "np.argmax(np.abs(qab_b) >",
     "the index of the first violation differs only for an entry exactly at (1 + 1e-12) sqrt(q_a q_b)", 39),
    ("theory.meanfield", "covariance_map", "1.0 -> 2.0", "np.where(denom > 0, denom, 1.0)",
     "the fallback divisor is only used where the outer np.where discards the quotient"),
    ("theory.meanfield", "covariance_map", "1 -> 2", "np.clip(c, -1, 1)",
     "c is within 1e-12 of [-1, 1] here and cross_moment's own check clips it to [-1, 1]"),
    ("theory.meanfield", "correlation_map", "1.0 -> 2.0", "np.clip(qab / qaa, -1.0, 1.0)",
     "|q_ab| <= q_aa up to rounding: widening the clip changes the result by rounding only"),
    ("theory._moments", "_resolve_q", "1e-12 -> 2e-12", "np.maximum(qs, 1e-12)",
     "a floor for q* = 0: the correlation map at q = 1e-12 or 2e-12 agrees to O(q)"),
    ("theory.meanfield", "covariance_map", "0.0 -> 1.0", "c = np.where(denom > 0,",
     "a zero length makes u_a = 0, so the cross moment does not depend on c", 71),
    ("theory._moments", "_variance_fixed_point", "< -> <=", "lt = r < 1",
     "at r = 1, beta/(1 - r) is inf for beta > 0, and beta = 0 is overwritten by the r = 1 branch"),
    ("theory._moments", "_variance_fixed_point", "> -> >=", "gt0 = (r > 1) & (beta == 0) & (q0b == 0)",
     "r = 1, beta = 0, q0 = 0 is already 0 by the critical branch", 15),
    ("theory._moments", "_variance_fixed_point", "1e+300 -> 2e+300", "1e300", "an overflow guard beyond any finite variance"),
    ("theory._moments", "_variance_fixed_point", "> -> >=", "np.where(q > 1e300, np.inf, q)", _PROB0),
    ("theory._rectifier", "_TAN_MINUS_X", "_TAN_MINUS_X: 1382 -> 1383", "_TAN_MINUS_X =", _SUB_ULP),
    ("theory._rectifier", "_TAN_MINUS_X", "_TAN_MINUS_X: 155925 -> 155926", "_TAN_MINUS_X =", _SUB_ULP),
    ("theory._rectifier", "_TAN_MINUS_X", "_TAN_MINUS_X: 21844 -> 21845", "_TAN_MINUS_X =", _SUB_ULP),
    ("theory._rectifier", "_solve_rectifier_fixed_point", ">= -> >", "big = delta >= 1.0",
     "both Newton iterations converge to the same root at delta = 1"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "3.0 -> 6.0", "np.cbrt(3.0 * pd)",
     "a larger upper bound to start from: the monotone Newton iteration reaches the same root"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "15.0 -> 30.0", "poly = t * t2 *",
     "a smaller start polynomial keeps the tightened start above the root"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "315.0 -> 630.0", "poly = t * t2 *",
     "a smaller start polynomial keeps the tightened start above the root"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "1.0 -> 2.0", "dpoly = t2 * (1.0 +",
     "overestimates the start polynomial's derivative: shorter steps keep the start above the root"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "* -> /", "dpoly = t2 * (1.0 + t2 * (2.0 / 3.0",
     "overestimates the start polynomial's derivative (t < 1): shorter steps keep the start above the root", 32),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "/ -> *", "dpoly = t2 * (1.0 + t2 * (2.0 / 3.0",
     "overestimates the start polynomial's derivative: shorter steps keep the start above the root", 38),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "2.0 -> 4.0", "dpoly = t2 * (1.0 + t2 * (2.0 / 3.0",
     "overestimates the start polynomial's derivative: shorter steps keep the start above the root"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "17.0 -> 34.0", "dpoly = t2 * (1.0 + t2 * (2.0 / 3.0",
     "overestimates the start polynomial's derivative: shorter steps keep the start above the root"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "& -> |", "(step > 0) & (step > 1e-15 * ta)",
     "then the iteration stops when the step stops being positive, at the level of rounding"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "* -> /", "(step > 1e-15 * ta)",
     "Newton converges quadratically: after a step below 1e-15/theta the error is below rounding", 43),
    ("theory._fixed_point", "_iterated_correlation_fixed_point", "<= -> <", "np.abs(c_new - c) <= tol", _PROB0),
    ("theory._fixed_point", "_iterated_correlation_fixed_point", "default tol=1e-13 -> 2e-13",
     "def _iterated_correlation_fixed_point", "a stopping tolerance below the tests' 1e-12"),
    ("theory.finite_width", "overflow_depth", "1.0 -> 2.0", "np.where(up, r - 1.0, 1.0)", "a divisor discarded by np.where(up, ...)", 58),
    ("theory.finite_width", "overflow_depth", "0.0 -> 1.0", "shift = np.where(up,", "a shift used only where up"),
    ("theory.finite_width", "overflow_depth", "2.0 -> 4.0", "np.where(up, r, 2.0)", "a base discarded by np.where(up, ...)"),
    ("theory.finite_width", "overflow_depth", "> -> >=", "lin = (r == 1) & (beta > 0)",
     "r = 1 and beta = 0 gives (kmax - q0)/0 = inf, as without the branch"),
    ("theory.finite_width", "overflow_depth", "1.0 -> 2.0", "np.where(lin, beta, 1.0)", "a divisor discarded by np.where(lin, ...)"),
    ("theory.finite_width", "overflow_depth", "< -> <=", "down = r < 1",
     "at r = 1, q* is inf or nan, so the underflow branch is not taken either way"),
    ("theory.finite_width", "overflow_depth", "1.0 -> 2.0", "np.where(down, 1.0 - r, 1.0)", "a divisor discarded by np.where(down, ...)", 62),
    ("theory.finite_width", "overflow_depth", "0.0 -> 1.0", "qstar = np.where(down,", "q* is used only where down"),
    ("theory.finite_width", "overflow_depth", "< -> <=", "(qstar < ktiny)", _PROB0),
    ("theory.finite_width", "overflow_depth", "0.5 -> 1.0", "np.where(under, r, 0.5)", "a base discarded by np.where(under, ...)"),
    ("theory.meanfield", "variance_fixed_point", "default max_iter=100000 -> 100001", "def variance_fixed_point",
     "an iteration cap that converging runs never reach"),
    ("theory.meanfield", "variance_fixed_point", "default tol=1e-13 -> 2e-13", "def variance_fixed_point",
     "a stopping tolerance below the tests' 1e-12"),
    ("theory._moments", "_variance_fixed_point", "1e-300 -> 2e-300", "tol * np.maximum(q_new, 1e-300)",
     "a floor for q = 0, where the step is 0 either way"),
    ("theory._moments", "_variance_fixed_point", "> -> >=", "(q_new > 1e300)", _PROB0),
    ("theory._moments", "_affine_variance_map", "+ -> -", "sb + 0.0 * mu2", "0.0 * mu2 is zero (it only broadcasts)"),
    ("theory._moments", "_affine_variance_map", "* -> /", "sb + 0.0 * mu2", "0.0 / mu2 is zero (it only broadcasts)", 33),
    ("theory._rectifier", "_TAN_MINUS_X", "_TAN_MINUS_X: 6081075 -> 6081076", "_TAN_MINUS_X =", _SUB_ULP),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "2 -> 3", "for _ in range(2):",
     "a third tightening step of the Newton start; the iteration then converges to the same root"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "* -> /", "dpoly = t2 * (1.0 + t2 * (2.0 / 3.0",
     "overestimates the derivative of the start's polynomial: shorter Newton steps keep the start above the "
     "root, and the monotone iteration converges to the same c*", 50),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "/ -> *", "dpoly = t2 * (1.0 + t2 * (2.0 / 3.0",
     "overestimates the derivative of the start's polynomial: shorter Newton steps keep the start above the "
     "root, and the monotone iteration converges to the same c*", 56),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "100 -> 101", "for _ in range(100):",
     "an iteration cap that the monotone Newton iteration never reaches"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "< -> <=", "ser = ta < 0.1", "series and tan agree to an ulp at 0.1"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "> -> >=", "(step > 1e-15 * ta)",
     "stops at the level of rounding either way"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "> -> >=", "(step > 1e-15 * pa)",
     "stops at the level of rounding either way"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "& -> |", "(step > 0) & (step > 1e-15 * pa)",
     "then the iteration stops when the step stops being positive, at the level of rounding"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "1e-15 -> 2e-15", "(step > 1e-15 * pa)",
     "stops at the level of rounding either way"),
    ("theory._rectifier", "_solve_rectifier_fixed_point", "1e-15 -> 2e-15", "(step > 1e-15 * ta)",
     "stops at the level of rounding either way"),
    ("theory._fixed_point", "_iterated_correlation_fixed_point", "default max_iter=20000 -> 20001",
     "def _general_correlation_fixed_point", "an iteration cap that converging runs never reach"),
    ("dln.data", "population_second_moment", "* -> /", "mean**2 * np.ones", "dividing by ones", 32),
    ("dln.data", "make_sparse_regression", "> -> >=", "if noise_std > 0:", "adding 0 * z changes nothing (the generator is not used afterwards)"),
    ("dln.mirror", "_q_raw", "< -> <=", "small = t < 0.5", "log1p(-t) and log|1 - t| agree to an ulp at t = 1/2"),
    ("dln.mirror", "_q_raw", "0.5 -> 1.0", "small = t < 0.5", "log1p(-t) is accurate for every t < 1 too"),
    ("dln.mirror", "_q_raw", "0.0 -> 1.0", "np.where(small, -np.log1p(-np.where(small, t, 0.0))",
     "a placeholder where the other branch is used; np.where discards it (no warning under errstate)"),
    ("dln.mirror", "_dq_raw", "0.0 -> 1.0", "xs = np.where(tiny, x, 0.0)",
     "a placeholder where the series is not used; np.where discards it"),
    ("dln.mirror", "q_plus", "< -> <=", "out = np.where(np.abs(x) < 0.5,", "both forms agree to an ulp at |x| = 1/2"),
    ("dln.mirror", "q_plus", "0.5 -> 1.0", "np.clip(x, -0.5, 0.5)", "the clip only guards entries that np.where discards", 79),
    ("dln.mirror", "q_plus", "0.5 -> 1.0", "np.clip(x, -0.5, 0.5)", "the clip only guards entries that np.where discards", 84),
    ("dln.mirror", "q_plus", "0.0 -> 1.0", "np.where(np.abs(x) < 0.5, 0.0, x)", "a placeholder that np.where discards"),
    ("dln.run", "DLNRun._per_run", "1 -> 2", "reshape(-1", "numpy takes any negative size as the unknown one"),
    ("dln.run", "DLNRun.predicted_beta", "1 -> 2", "reshape(-1", "numpy takes any negative size as the unknown one"),
    ("dln._sampling", "_make_generators", "1 -> 2", "for s in arr.reshape(-1)", "numpy takes any negative size as the unknown one", 104),
    ("dln.train", "train_dln", "1024 -> 1025", "chunk = 1024", "draws are sequential, so the chunk of pre-drawn indices does not change them"),
    ("dln.train", "train_dln", "- -> +", "m = min(chunk, n_steps - k0)", "draws beyond the last step are never used"),
    ("dln.train", "train_dln", "remove unary -", "for g in gens], axis=-1)", "the stack is 2-d: axis 1 is axis -1"),
    ("dln.train", "train_dln", "1 -> 2", "n_steps // record_loss_every + 1)", "an extra slot of the loss history, cut off before returning"),
    ("dln.train", "train_dln", "remove unary -", "np.sum(yd**2, axis=-1)", "yd is 2-d: axis 1 is axis -1"),
    ("dln.train", "train_dln", "0 -> 1", "k = 0", "overwritten by the loop, which always runs"),
    ("dln.train", "train_dln", "< -> <=", "if ax.max() < 0.5:", "both branches evaluate q and artanh(x) - x accurately below 1/2"),
    ("dln.train", "train_dln", "0.5 -> 1.0", "if ax.max() < 0.5:",
     "the fast branch is accurate for |x| < 1 too, and the counters only count |x| >= 1"),
    ("dln.train", "train_dln", ">= -> >", "big = ax >= 0.5", "both forms agree to an ulp at |x| = 1/2"),
    ("dln.train", "train_dln", "0.5 -> 1.0", "big = ax >= 0.5", "log1p(-x^2) and artanh(x) - x are accurate for 1/2 <= |x| < 1 too"),
    ("dln.train", "train_dln", "> -> >=", "np.add.at(n_flip, run_of, axb > 1.0)", _PROB0),
    ("dln.train", "train_dln", "> -> >=", "np.add.at(n_negq, run_of, axb > _SQRT2)", _PROB0),
    ("dln.train", "train_dln", "1e-12 -> 2e-12", "np.abs(axb - 1.0) < 1e-12", _PROB0),
    ("dln.train", "train_dln", ">= -> >", "div_step >= 0", "a run cannot diverge at step 0, where its loss is L(0) < diverge_factor L(0)"),
    ("dln.train", "train_dln", "0 -> 1", "div_step >= 0", "a run cannot diverge at step 0, where its loss is L(0) < diverge_factor L(0)"),
    ("dln.train", "train_dln", "<= -> <", "(L <= converge_rtol * L0)", _PROB0),
    ("dln.train", "train_dln", "<= -> <", "((L <= stop_level) | ~alive)", _PROB0),
    ("dln.interpolators", "_dual_newton", "1e-300 -> 2e-300", "ynorm = max(", "a floor for y = 0"),
    ("dln.interpolators", "_dual_newton", "60 -> 61", "for _ in range(60):", "a backtracking cap (2^-60) that accepted steps never reach"),
    ("dln.interpolators", "basis_pursuit", "1e-10 -> 2e-10", "feasibility_tolerance", "a solver tolerance below the tests' precision"),
    ("dln.interpolators", "implicit_bias_solution", "default tol=1e-12 -> 2e-12", "def implicit_bias_solution", "a stopping tolerance below the tests' precision"),
    ("dln.interpolators", "implicit_bias_solution", "default max_iter=200 -> 201", "def implicit_bias_solution", "an iteration cap that converging solves never reach"),
    ("dln.interpolators", "implicit_bias_solution", "< -> <=", "if amin < 1e-3:", "the continuation only supplies warm starts: its last stage (scale 1) solves at alpha itself"),
    ("dln.interpolators", "implicit_bias_solution", "0.001 -> 0.002", "if amin < 1e-3:", "the continuation only supplies warm starts: its last stage (scale 1) solves at alpha itself"),
    ("dln.interpolators", "implicit_bias_solution", "0.01 -> 0.02", "n_stages = int(np.ceil(np.log10(1e-2 / amin)))", "the continuation only supplies warm starts: its last stage (scale 1) solves at alpha itself"),
    ("dln.interpolators", "implicit_bias_solution", "10.0 -> 20.0", "scales = 10.0 **", "the continuation only supplies warm starts: its last stage (scale 1) solves at alpha itself"),
    ("dln.interpolators", "implicit_bias_solution", "/ -> *", "scales = 10.0 **", "the continuation only supplies warm starts: its last stage (scale 1) solves at alpha itself"),
    ("dln.interpolators", "implicit_bias_solution", "0.01 -> 0.02", "scales = 10.0 **", "the continuation only supplies warm starts: its last stage (scale 1) solves at alpha itself"),
    ("dln.interpolators", "implicit_bias_solution", "1 -> 2", "scales = 10.0 **", "the continuation only supplies warm starts: its last stage (scale 1) solves at alpha itself"),
    ("dln.stability", "largest_convergent_stepsize", "1e-12 -> 2e-12", "stop_rtol=min(loss_rtol, 1e-12)", "an early stop far below loss_rtol"),
    ("dln.stability", "largest_convergent_stepsize", "100 -> 101", "if n_steps >= 100:", "screening changes nothing in the result (documented)"),
    ("dln.stability", "largest_convergent_stepsize", "10 -> 11", "screen = run(cols, n_steps // 10)", "screening changes nothing in the result (documented)"),
    ("dln.stability", "largest_convergent_stepsize", "<= -> <", "(ratio <= loss_rtol)", _PROB0),
    ("dln.stability", "largest_convergent_stepsize", "remove unary -", "found = conv.any(axis=-1)", "conv is 2-d: axis 1 is axis -1"),
    ("dln.mirror", "_dq_raw", "0.5 -> 1.0", "xb = np.where(tiny, 0.5, x)",
     "a placeholder where the series is used instead; the np.where discards it (no warning under errstate)"),
    ("dln.train", "train_dln", "1 -> 2", "for k in range(n_steps + 1):", "the loop breaks at k == n_steps"),
    ("dln.train", "train_dln", "<= -> <", "bad = alive & ~(L <= threshold)", _PROB0),
    ("dln.train", "train_dln", "1 -> 2", "b_flat = b_run.reshape(-1)", "numpy takes any negative size as the unknown one"),
    ("dln.stability", "largest_convergent_stepsize", "remove unary -", "np.max(np.where(conv, grid, -np.inf), axis=-1)",
     "conv is always 2-d (datasets, grid) here, so axis=1 is axis=-1", 70),
    ("dln.train", "train_dln", "< -> <=", "np.abs(axb - 1.0) < 1e-12", _PROB0),
    ("dln.interpolators", "basis_pursuit", "0 -> 1", "bounds=(0, None)",
     "with p, m >= 1 the objective w.(p + m) shifts by 2 sum w on the same set of p - m: the same minimiser"),
    ("dln.stability", "largest_convergent_stepsize", ">= -> >", "if n_steps >= 100:",
     "screening changes nothing in the result (documented), so screening at exactly 100 steps or not agrees"),
]

# one worker, one thread: the machine is shared
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NOISYPROP_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


# ---------------------------------------------------------------------------
# mutants
# ---------------------------------------------------------------------------

BINOP_SWAP = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.Div, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd,
}
CMP_SWAP = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In,
}
SYM = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%",
    ast.BitAnd: "&", ast.BitOr: "|", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
    ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in", ast.And: "and",
    ast.Or: "or", ast.USub: "-", ast.Not: "not", ast.Invert: "~",
}


def _is_number(node) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) in (int, float)


def _mutated_number(v):
    if type(v) is int:
        return v + 1
    return 1.0 if v == 0.0 else v * 2.0


def _is_stringy(node) -> bool:
    return isinstance(node, ast.JoinedStr) or (isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)))


def _is_warn_call(node) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return (isinstance(f, ast.Attribute) and f.attr == "warn") or (isinstance(f, ast.Name) and f.id == "warn")


def _walk(node):
    """Deterministic pre-order walk yielding (node, parent, field, index), skipping what is never mutated."""
    stack = [(node, None, None, None)]
    while stack:
        n, parent, field, idx = stack.pop()
        yield n, parent, field, idx
        children = []
        for fname, value in ast.iter_fields(n):
            if fname in ("decorator_list", "returns", "annotation", "type_comment"):
                continue
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and fname == "args":
                continue  # defaults are handled separately; annotations never
            if isinstance(n, ast.Raise) and fname in ("exc", "cause"):
                continue
            if isinstance(value, list):
                for i, v in enumerate(value):
                    if isinstance(v, ast.AST):
                        children.append((v, n, fname, i))
            elif isinstance(value, ast.AST):
                children.append((value, n, fname, None))
        for child in reversed(children):
            c = child[0]
            if isinstance(c, ast.JoinedStr) or _is_warn_call(c):
                continue
            if isinstance(c, ast.Expr) and isinstance(c.value, ast.Constant) and isinstance(c.value.value, str):
                continue  # docstring
            stack.append(child)


def _node_variants(n):
    """The mutations of one node: list of (description, apply(node, parent, field, idx))."""
    out = []
    if _is_number(n):
        new = _mutated_number(n.value)

        def f(node, parent, field, idx, new=new):
            node.value = new
        out.append((f"{n.value!r} -> {new!r}", f))
    elif isinstance(n, (ast.BinOp, ast.AugAssign)) and type(n.op) in BINOP_SWAP:
        if isinstance(n, ast.BinOp) and (_is_stringy(n.left) or _is_stringy(n.right)):
            return out
        new_op = BINOP_SWAP[type(n.op)]

        def f(node, parent, field, idx, new_op=new_op):
            node.op = new_op()
        suffix = "=" if isinstance(n, ast.AugAssign) else ""
        out.append((f"{SYM[type(n.op)]}{suffix} -> {SYM[new_op]}{suffix}", f))
    elif isinstance(n, ast.Compare):
        for i, op in enumerate(n.ops):
            if type(op) in CMP_SWAP:
                new_op = CMP_SWAP[type(op)]

                def f(node, parent, field, idx, i=i, new_op=new_op):
                    node.ops[i] = new_op()
                out.append((f"{SYM[type(op)]} -> {SYM[new_op]}", f))
    elif isinstance(n, ast.BoolOp):
        new_op = ast.Or if isinstance(n.op, ast.And) else ast.And

        def f(node, parent, field, idx, new_op=new_op):
            node.op = new_op()
        out.append((f"{SYM[type(n.op)]} -> {SYM[new_op]}", f))
    elif isinstance(n, ast.UnaryOp) and type(n.op) in (ast.USub, ast.Not, ast.Invert):
        def f(node, parent, field, idx):
            if idx is None:
                setattr(parent, field, node.operand)
            else:
                getattr(parent, field)[idx] = node.operand
        out.append((f"remove unary {SYM[type(n.op)]}", f))
    return out


class Mutant:
    __slots__ = ("module", "kind", "top", "qualname", "index", "variant", "op", "line", "end_line", "col",
                 "default", "const_name", "lines_for_tests", "src_hash", "source_line")

    def key(self) -> str:
        return f"{self.module}:{self.qualname}:{self.line}:{self.col}:{self.kind}:{self.index}:{self.variant}:{self.op}"

    def label(self) -> str:
        return f"{_path(self.module).relative_to(ROOT)}:{self.line}:{self.col} {self.qualname}: {self.op}"


class ModuleMutants:
    """Parse one module and enumerate its mutants."""

    def __init__(self, name: str):
        self.name = name
        self.path = _path(name)
        self.source = self.path.read_text()
        self.lines = self.source.splitlines()
        self.tree = ast.parse(self.source, filename=str(self.path))
        self.mutants: list[Mutant] = []
        self.functions = {}  # qualname -> (top index, FunctionDef node)
        self._enumerate()

    def _skipped_line(self, lineno: int) -> bool:
        text = self.lines[lineno - 1] if 0 < lineno <= len(self.lines) else ""
        return any(p in text for p in PRAGMAS)

    def _seg_hash(self, node) -> str:
        start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        seg = "\n".join(self.lines[start - 1: node.end_lineno])
        return hashlib.sha1(seg.encode()).hexdigest()[:16]

    def _enumerate(self):
        for ti, stmt in enumerate(self.tree.body):
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._function(ti, stmt, stmt.name, stmt)
            elif isinstance(stmt, ast.ClassDef):
                for sub in stmt.body:
                    if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        self._function(ti, sub, f"{stmt.name}.{sub.name}", stmt)
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                self._constant(ti, stmt)

    def _add(self, **kw):
        m = Mutant()
        for k in Mutant.__slots__:
            setattr(m, k, kw.get(k))
        m.module = self.name
        m.source_line = self.lines[m.line - 1].strip()
        self.mutants.append(m)

    def _function(self, ti, fn, qualname, top):
        self.functions[qualname] = (ti, fn)
        if self._skipped_line(fn.lineno):
            return
        # the body (nested functions and lambdas included), but not the signature
        ids = {id(n) for r in fn.body for n, *_ in _walk(r)}
        h = self._seg_hash(top)
        for index, (n, parent, field, idx) in enumerate(_walk(top)):
            if id(n) not in ids or not hasattr(n, "lineno") or self._skipped_line(n.lineno):
                continue
            for vi, (desc, _) in enumerate(_node_variants(n)):
                self._add(kind="code", top=ti, qualname=qualname, index=index, variant=vi, op=desc, line=n.lineno,
                          end_line=n.end_lineno, col=n.col_offset, src_hash=h)
        # numeric defaults
        a = fn.args
        positional = a.posonlyargs + a.args
        for i, d in enumerate(a.defaults):
            if _is_number(d) and not self._skipped_line(d.lineno):
                new = _mutated_number(d.value)
                argname = positional[len(positional) - len(a.defaults) + i].arg
                self._add(kind="default", top=ti, qualname=qualname, index=i, variant=0,
                          op=f"default {argname}={d.value!r} -> {new!r}", line=d.lineno, end_line=d.end_lineno,
                          col=d.col_offset, default=("pos", i, new), src_hash=h)
        for i, d in enumerate(a.kw_defaults):
            if d is not None and _is_number(d) and not self._skipped_line(d.lineno):
                new = _mutated_number(d.value)
                argname = a.kwonlyargs[i].arg
                self._add(kind="default", top=ti, qualname=qualname, index=i, variant=0,
                          op=f"default {argname}={d.value!r} -> {new!r}", line=d.lineno, end_line=d.end_lineno,
                          col=d.col_offset, default=("kw", argname, new), src_hash=h)

    def _constant(self, ti, stmt):
        name = stmt.targets[0].id
        if self._skipped_line(stmt.lineno):
            return
        h = self._seg_hash(stmt)
        for index, (n, parent, field, idx) in enumerate(_walk(stmt)):
            if n is stmt or not hasattr(n, "lineno") or self._skipped_line(n.lineno):
                continue
            if isinstance(n, ast.Name):
                continue
            for vi, (desc, _) in enumerate(_node_variants(n)):
                self._add(kind="const", top=ti, qualname=name, index=index, variant=vi, op=f"{name}: {desc}",
                          line=n.lineno, end_line=n.end_lineno, col=n.col_offset, const_name=name, src_hash=h)

    # -- lines whose tests select a mutant ----------------------------------------------
    def function_lines(self, qualname) -> range:
        _, fn = self.functions[qualname]
        return range(fn.body[0].lineno, fn.end_lineno + 1)

    def users_of(self, name) -> list[str]:
        """Qualnames of the functions that read the module-level name."""
        out = []
        for qn, (_, fn) in self.functions.items():
            if any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(fn)):
                out.append(qn)
        return out

    def selection_lines(self, m: Mutant) -> list[int]:
        if m.kind == "code":
            return list(range(m.line, (m.end_line or m.line) + 1))
        if m.kind == "default":
            return list(self.function_lines(m.qualname))
        lines = []
        for qn in self.users_of(m.const_name):
            lines.extend(self.function_lines(qn))
        return lines

    # -- applying a mutant (in the child) ----------------------------------------------
    def mutated_code(self, m: Mutant):
        import __future__

        top = copy.deepcopy(self.tree.body[m.top])
        for index, (n, parent, field, idx) in enumerate(_walk(top)):
            if index == m.index:
                _node_variants(n)[m.variant][1](n, parent, field, idx)
                break
        else:  # pragma: no cover - the walk is deterministic
            raise RuntimeError(f"node {m.index} not found for {m.label()}")
        return top

    def apply(self, m: Mutant, module):
        import __future__

        if m.kind == "default":
            fn = _live_function(module, m.qualname)
            where, key, new = m.default
            if where == "pos":
                d = list(fn.__defaults__)
                d[key] = new
                fn.__defaults__ = tuple(d)
            else:
                kw = dict(fn.__kwdefaults__)
                kw[key] = new
                fn.__kwdefaults__ = kw
            return
        top = self.mutated_code(m)
        if m.kind == "const":
            expr = ast.Expression(body=top.value)
            ast.fix_missing_locations(expr)
            value = eval(compile(expr, str(self.path), "eval"), module.__dict__)
            old = getattr(module, m.const_name)
            for mod in list(sys.modules.values()):
                if getattr(mod, "__name__", "").startswith("noisyprop_lib") and getattr(mod, m.const_name, None) is old:
                    setattr(mod, m.const_name, value)
            return
        tree = ast.Module(body=[top], type_ignores=[])
        ast.fix_missing_locations(tree)
        code = compile(tree, str(self.path), "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)
        new = _find_code(code, m.qualname)
        fn = _live_function(module, m.qualname)
        fn.__code__ = new

    def check_live(self, module):
        """Every function of the module, recompiled unmutated, must have the live bytecode (the file did not change)."""
        import __future__

        bad = []
        for qn, (ti, _) in self.functions.items():
            tree = ast.Module(body=[self.tree.body[ti]], type_ignores=[])
            code = compile(tree, str(self.path), "exec", flags=__future__.annotations.compiler_flag, dont_inherit=True)
            try:
                live = _live_function(module, qn).__code__
            except AttributeError:
                bad.append(qn)
                continue
            if _code_signature(_find_code(code, qn)) != _code_signature(live):
                bad.append(qn)
        return bad


def _code_signature(code):
    """What must agree between a recompiled function and the live one (the bytecode itself may differ
    between a compile from source and one from the AST)."""
    consts = tuple(repr(k) for k in code.co_consts if not hasattr(k, "co_code"))
    return code.co_firstlineno, code.co_names, code.co_varnames, code.co_freevars, consts


def _find_code(code, qualname):
    stack = [code]
    while stack:
        c = stack.pop()
        if c.co_qualname == qualname:
            return c
        stack.extend(k for k in c.co_consts if hasattr(k, "co_code"))
    raise LookupError(qualname)


def _live_function(module, qualname):
    parts = qualname.split(".")
    obj = module
    for i, p in enumerate(parts):
        obj = obj.__dict__[p] if i else getattr(obj, p)
    if isinstance(obj, property):
        obj = obj.fget
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    while hasattr(obj, "__wrapped__"):
        obj = obj.__wrapped__
    return obj


def clear_library_caches():
    for name, mod in list(sys.modules.items()):
        if not name.startswith("noisyprop_lib"):
            continue
        for obj in list(vars(mod).values()):
            if hasattr(obj, "cache_clear"):
                obj.cache_clear()
            elif isinstance(obj, type) and obj.__module__ == name:
                for v in vars(obj).values():
                    if hasattr(v, "cache_clear"):
                        v.cache_clear()


def _hypothesis_profile():
    try:
        from hypothesis import Phase, settings
    except ImportError:  # pragma: no cover
        return
    settings.register_profile("mutate", database=None, derandomize=True, deadline=None, print_blob=False,
                              phases=[Phase.explicit, Phase.reuse, Phase.generate])
    settings.load_profile("mutate")


def _pytest_args(files):
    return ["-q", "-p", "no:cacheprovider", "-o", "addopts=", "-m", "not notebooks and not browser",
            "-W", "ignore::pytest.PytestUnraisableExceptionWarning", *files]


def _file_hash(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()[:16]


def _module_hashes() -> dict:
    return {m: _file_hash(_path(m)) for m in MODULES}


ALL_TESTS = False


def test_files() -> list[Path]:
    skip = EXCLUDED_TEST_FILES | (set() if ALL_TESTS else SLOW_TEST_FILES)
    return sorted(p for p in (ROOT / "tests").rglob("test_*.py") if p.name not in skip)


# ---------------------------------------------------------------------------
# phase 1: the line -> tests map
# ---------------------------------------------------------------------------


class CoverPlugin:
    def __init__(self):
        self.targets = {str(_path(m)): m for m in MODULES}
        self.tests = {}
        self.failed = set()

    def pytest_configure(self, config):
        _hypothesis_profile()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item, nextitem):
        import threading

        clear_library_caches()
        hits = set()
        targets = self.targets

        def local(frame, event, arg):
            if event == "line":
                hits.add((frame.f_code.co_filename, frame.f_lineno))
            return local

        def tracer(frame, event, arg):
            if frame.f_code.co_filename in targets:
                return local
            return None

        t0 = time.perf_counter()
        threading.settrace(tracer)
        sys.settrace(tracer)
        try:
            yield
        finally:
            sys.settrace(None)
            threading.settrace(None)
        lines = {}
        for fname, ln in hits:
            lines.setdefault(targets[fname], []).append(ln)
        self.tests[item.nodeid] = {"duration": time.perf_counter() - t0,
                                   "lines": {k: sorted(v) for k, v in lines.items()}}

    def pytest_runtest_logreport(self, report):
        if report.failed:
            self.failed.add(report.nodeid)


def refresh_coverage(force_files=None) -> dict:
    """Bring .mutation/coverage.json up to date (rerunning only stale test files); return it."""
    STATE.mkdir(exist_ok=True)
    data = json.loads(COVERAGE.read_text()) if COVERAGE.exists() else {}
    if data.get("version") != 2:
        data = {"version": 2, "files": {}}
    mh = _module_hashes()

    def is_stale(p):
        # stale when the test file changed or one of the modules it executes did
        e = data["files"].get(p.name)
        return e is None or e["hash"] != _file_hash(p) or any(mh.get(m) != h for m, h in e["modules"].items())

    files = test_files()
    stale = [p for p in files if is_stale(p)]
    if stale:
        print(f"coverage: tracing {len(stale)} test file(s): {' '.join(p.name for p in stale)}", flush=True)
        t0 = time.time()
        import subprocess

        out = STATE / "coverage-part.json"
        rc = subprocess.call([sys.executable, __file__, "--_cover", str(out), *map(str, stale)], cwd=ROOT)
        part = json.loads(out.read_text())
        out.unlink()
        for p in stale:
            tests = {k: v for k, v in part["tests"].items() if k.split("::")[0] == f"tests/{p.name}"
                     and k not in part["failed"]}
            used = sorted({m for t in tests.values() for m in t["lines"]})
            data["files"][p.name] = {"hash": _file_hash(p), "modules": {m: mh[m] for m in used}, "tests": tests}
        if part["failed"]:
            print(f"coverage: {len(part['failed'])} test(s) fail without any mutant and are not used: "
                  f"{sorted(part['failed'])[:5]}", flush=True)
        print(f"coverage: done in {time.time() - t0:.0f} s (pytest exit {rc})", flush=True)
        COVERAGE.write_text(json.dumps(data))
    names = {p.name for p in files}
    return dict(data, files={k: v for k, v in data["files"].items() if k in names})


def _cover_main(out, files):
    plugin = CoverPlugin()
    rc = pytest.main(_pytest_args(files), plugins=[plugin])
    Path(out).write_text(json.dumps({"tests": plugin.tests, "failed": sorted(plugin.failed)}))
    return 0 if rc in (0, 1) else rc


# ---------------------------------------------------------------------------
# phase 2: the mutants
# ---------------------------------------------------------------------------


def load_results() -> dict:
    out = {}
    if RESULTS.exists():
        for line in RESULTS.read_text().splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by an interrupted run
            out[r["fp"]] = r
    return out


class Plan:
    """Every mutant with its selected tests, timeout and fingerprint."""

    def __init__(self, args, cov):
        self.args = args
        self.mods = {name: ModuleMutants(name) for name in (args.module or MODULES)}
        # line -> tests, per module
        self.durations = {}
        self.file_hash = {}
        line_tests = {name: {} for name in self.mods}
        for fname, entry in cov["files"].items():
            self.file_hash[f"tests/{fname}"] = entry["hash"]
            for nodeid, t in entry["tests"].items():
                self.durations[nodeid] = t["duration"]
                for mod, lines in t["lines"].items():
                    if mod in line_tests:
                        for ln in lines:
                            line_tests[mod].setdefault(ln, set()).add(nodeid)
        self.entries = []
        rng = random.Random(args.seed)
        for name, mm in self.mods.items():
            ms = mm.mutants
            if args.function:
                ms = [m for m in ms if m.qualname in args.function]
            if args.sample and args.sample < len(ms):
                ms = sorted(rng.sample(ms, args.sample), key=lambda m: (m.line, m.col))
            for m in ms:
                tests = set()
                for ln in mm.selection_lines(m):
                    tests |= line_tests[name].get(ln, set())
                ordered = sorted(tests, key=lambda t: (self.durations[t], t))
                chosen, total = [], 0.0
                for t in ordered:
                    if chosen and total + self.durations[t] > args.max_test_seconds:
                        break
                    chosen.append(t)
                    total += self.durations[t]
                files = sorted({t.split("::")[0] for t in chosen})
                fp = hashlib.sha1(json.dumps([m.key(), m.src_hash, chosen, [self.file_hash[f] for f in files],
                                              args.max_test_seconds]).encode()).hexdigest()[:20]
                timeout = 10.0 + args.timeout_factor * total
                self.entries.append((m, chosen, timeout, fp, len(tests)))
        self.equivalent = {}
        used = set()
        for i, (mod, qn, op, text, reason, *col) in enumerate(EQUIVALENT):
            for m, *_ in self.entries:
                if (m.module, m.qualname, m.op) == (mod, qn, op) and text in m.source_line and (not col or m.col == col[0]):
                    self.equivalent[m.key()] = reason
                    used.add(i)
        self.unused_equivalent = [EQUIVALENT[i] for i in range(len(EQUIVALENT)) if i not in used
                                  and EQUIVALENT[i][0] in self.mods and not args.function and not args.sample]


class MutatePlugin:
    def __init__(self, plan: Plan, todo, results_file):
        self.plan = plan
        self.todo = todo
        self.results_file = results_file
        self.failed_nodeid = None

    def pytest_configure(self, config):
        _hypothesis_profile()

    def pytest_runtest_logreport(self, report):
        if report.failed and self.failed_nodeid is None:
            self.failed_nodeid = report.nodeid

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session):
        import importlib

        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            raise session.Interrupted("collection errors")
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:  # pragma: no cover
            pass
        items = {it.nodeid: it for it in session.items}
        modules = {name: importlib.import_module(f"noisyprop_lib.{name}") for name in self.plan.mods}
        for name, mm in self.plan.mods.items():
            bad = mm.check_live(modules[name])
            if bad:
                raise session.Interrupted(f"{_path(name)} changed since it was imported ({bad[:3]}); rerun")
        n = len(self.todo)
        t_start = time.time()
        counts = {}
        with open(self.results_file, "a") as fh:
            for k, (m, chosen, timeout, fp, ntests) in enumerate(self.todo):
                t0 = time.time()
                sel = [items[t] for t in chosen if t in items]
                status, killer = self._run_one(m, modules[m.module], self.plan.mods[m.module], sel, timeout)
                dt = time.time() - t0
                counts[status] = counts.get(status, 0) + 1
                rec = {"fp": fp, "key": m.key(), "module": m.module, "line": m.line, "op": m.op,
                       "qualname": m.qualname, "status": status, "killer": killer, "secs": round(dt, 2),
                       "ntests": len(sel), "ncover": ntests, "source": m.source_line, "src_hash": m.src_hash,
                       "killer_hash": self.plan.file_hash.get(killer.split("::")[0]) if status == "killed" and killer
                       else None}
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
                if status in ("survived", "error") or k % 25 == 0 or k == n - 1:
                    elapsed = time.time() - t_start
                    print(f"[{k + 1}/{n} {elapsed:.0f}s] {status:9s} {m.label()}  ({len(sel)} tests, {dt:.1f}s)"
                          + (f" {killer}" if status == "error" else ""), file=sys.__stdout__, flush=True)
        return True

    def _run_one(self, m, module, mm, sel, timeout):
        if not sel:
            return "no tests", None
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child
            os.close(r)
            code = 3
            msg = ""
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
                signal.signal(signal.SIGALRM, signal.SIG_DFL)
                signal.alarm(int(timeout) + 1)
                try:
                    mm.apply(m, module)
                except Exception as exc:  # a mutant that does not compile or apply
                    msg = f"apply: {type(exc).__name__}: {exc}"
                    raise
                clear_library_caches()
                self.failed_nodeid = None
                hook = sel[0].config.hook
                code = 0
                for i, item in enumerate(sel):
                    hook.pytest_runtest_protocol(item=item, nextitem=sel[i + 1] if i + 1 < len(sel) else None)
                    if self.failed_nodeid is not None:
                        msg = self.failed_nodeid
                        code = 1
                        break
            except BaseException as exc:  # noqa: BLE001
                msg = msg or f"{type(exc).__name__}: {exc}"
                code = 3
            finally:
                try:
                    os.write(w, msg.encode()[:4000])
                finally:
                    os._exit(code)
        os.close(w)
        deadline = time.time() + timeout + 5
        sleep = 0.002
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.time() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
                break
            time.sleep(sleep)
            sleep = min(sleep * 1.5, 0.05)
        with os.fdopen(r) as fh:
            msg = fh.read()
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return ("timeout" if sig in (signal.SIGALRM, signal.SIGKILL) else "killed"), f"signal {sig}"
        code = os.WEXITSTATUS(status)
        if code == 0:
            return "survived", None
        if code == 1:
            return "killed", msg
        return "error", msg


def _reuse_kills(plan: Plan, results: dict):
    """A mutant killed by test T stays killed while its function is unchanged and T still exists and is still
    selected for it: new tests then rerun only the survivors (``--fresh`` reruns everything)."""
    by_key = {}
    for r in results.values():
        if r["status"] == "killed" and r.get("killer_hash"):
            by_key[(r["key"], r.get("src_hash"))] = r
    for m, chosen, timeout, fp, ntests in plan.entries:
        if fp in results:
            continue
        r = by_key.get((m.key(), m.src_hash))
        if r and r["killer"] in chosen:
            results[fp] = dict(r, fp=fp, reused=True)


def summarize(plan: Plan, results: dict, show_survivors: bool, json_path=None):
    rows = {}
    survivors = []
    for m, chosen, timeout, fp, ntests in plan.entries:
        r = results.get(fp)
        st = r["status"] if r else "pending"
        if m.key() in plan.equivalent:
            st = "equivalent"
        row = rows.setdefault(m.module, {"total": 0, "killed": 0, "timeout": 0, "survived": 0, "no tests": 0,
                                         "error": 0, "pending": 0, "equivalent": 0})
        row["total"] += 1
        row[st] += 1
        if st in ("survived", "no tests", "error"):
            survivors.append((m, st))
    tot = {k: sum(r[k] for r in rows.values()) for k in ("total", "killed", "timeout", "survived", "no tests",
                                                         "error", "pending", "equivalent")}
    print(f"\n{'module':12s} {'killed':>7s} {'scored':>6s} {'score':>7s}   "
          "(of which timeouts;  survived  no-tests  error  pending  equivalent, not scored)")
    for name in list(rows) + ["ALL"]:
        r = tot if name == "ALL" else rows[name]
        r["scored"] = r["total"] - r["pending"] - r["equivalent"]
        k = r["killed"] + r["timeout"]
        r["score"] = score = 100.0 * k / r["scored"] if r["scored"] else float("nan")
        print(f"{name:12s} {k:7d} {r['scored']:6d} {score:6.1f}%   ({r['timeout']:8d};  {r['survived']:9d} "
              f"{r['no tests']:9d} {r['error']:6d} {r['pending']:8d} {r['equivalent']:11d})")
    if plan.unused_equivalent:
        print(f"warning: {len(plan.unused_equivalent)} EQUIVALENT entries match no mutant (stale): "
              f"{plan.unused_equivalent[:3]}")
    if show_survivors:
        print("\nsurvivors:")
        for m, st in sorted(survivors, key=lambda x: (x[0].module, x[0].line, x[0].col)):
            print(f"  {st:9s} {m.label():70s} | {m.source_line[:90]}")
    if show_survivors and plan.equivalent:
        print("\nequivalent (not run, not scored):")
        for m, *_ in plan.entries:
            if m.key() in plan.equivalent:
                print(f"  {m.label():70s} | {plan.equivalent[m.key()]}")
    if json_path:
        Path(json_path).write_text(json.dumps({"modules": rows, "all": tot}, indent=1))
    return tot


def _run_main(args):
    cov = refresh_coverage()
    plan = Plan(args, cov)
    results = {} if args.fresh else load_results()
    if args.list:
        for m, chosen, timeout, fp, ntests in plan.entries:
            print(f"{m.label():80s} tests={len(chosen)}/{ntests} timeout={timeout:.0f}s")
        print(f"{len(plan.entries)} mutants")
        return 0
    if args.report:
        _reuse_kills(plan, results)
        summarize(plan, results, args.survivors, args.json)
        return 0
    if not args.fresh:
        _reuse_kills(plan, results)
    todo = [e for e in plan.entries if e[3] not in results and e[0].key() not in plan.equivalent]
    need = [e for e in todo if e[1]]
    print(f"{len(plan.entries)} mutants, {len(plan.entries) - len(todo)} with stored results, {len(todo)} to run",
          flush=True)
    if todo:
        files = sorted({t.split("::")[0] for e in need for t in e[1]}) or ["tests/test_noise.py"]
        plugin = MutatePlugin(plan, todo, RESULTS)
        t0 = time.time()
        rc = pytest.main(_pytest_args(files), plugins=[plugin])
        print(f"ran {len(todo)} mutants in {time.time() - t0:.0f} s (pytest exit {rc})", flush=True)
        results = load_results()
        _reuse_kills(plan, results)
    summarize(plan, results, args.survivors, args.json)
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--_cover":
        return _cover_main(argv[1], argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", action="append", choices=MODULES)
    ap.add_argument("--function", action="append")
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--survivors", action="store_true")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--coverage", action="store_true")
    ap.add_argument("--timeout-factor", type=float, default=5.0)
    ap.add_argument("--max-test-seconds", type=float, default=2.0)
    ap.add_argument("--json")
    ap.add_argument("--all-tests", action="store_true")
    ap.add_argument("--ignore-file", action="append", default=[])
    args = ap.parse_args(argv)
    global ALL_TESTS
    ALL_TESTS = args.all_tests
    EXCLUDED_TEST_FILES.update(args.ignore_file)
    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    if args.coverage:
        refresh_coverage()
        return 0
    return _run_main(args)


if __name__ == "__main__":
    sys.exit(main())
