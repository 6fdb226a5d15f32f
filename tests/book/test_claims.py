"""The claim mechanism: true claims are recorded, false ones raise, records carry what the ledger shows."""
from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp

from noisyprop_lib.book import claims
from noisyprop_lib.book.claims import (
    ClaimError,
    claim,
    claim_between,
    claim_close,
    claim_raises,
    claim_sympy_equal,
    claim_true,
)


@pytest.fixture(autouse=True)
def fresh():
    claims.reset()
    yield
    claims.reset()


def test_close_passes_and_records():
    claim_close("pi is about 3.14159", np.pi, 3.14159, atol=1e-5, check="numpy constant", evidence="closed form")
    (rec,) = claims.records()
    assert rec.passed and rec.number == 1
    assert rec.tolerance == "abs 1e-05"
    assert rec.measured == "3.14159" and rec.expected == "3.14159"
    assert "numpy constant" in rec.check


def test_close_fails_outside_tolerance():
    with pytest.raises(ClaimError, match="pi is 3"):
        claim_close("pi is 3", np.pi, 3.0, rtol=1e-3, evidence="closed form")


def test_close_elementwise_and_relative():
    claim_close("vector", [1.0, 100.0], [1.001, 100.1], rtol=2e-3, evidence="closed form")
    with pytest.raises(ClaimError):
        claim_close("vector", [1.0, 100.0], [1.001, 100.1], rtol=5e-4, evidence="closed form")


def test_nan_never_passes():
    with pytest.raises(ClaimError):
        claim_close("nan", float("nan"), 1.0, atol=1e9, evidence="closed form")
    with pytest.raises(ClaimError):
        claim_between("nan in range", [0.5, float("nan")], 0.0, 1.0, evidence="closed form")


def test_infinities_must_match():
    claim_close("inf", np.inf, np.inf, evidence="closed form")
    with pytest.raises(ClaimError):
        claim_close("inf", np.inf, -np.inf, evidence="closed form")


def test_between():
    claim_between("in range", [0.1, 0.9], 0.0, 1.0, evidence="closed form")
    with pytest.raises(ClaimError):
        claim_between("out of range", [0.1, 1.1], 0.0, 1.0, evidence="closed form")
    with pytest.raises(ClaimError):
        claim_between("empty", [], 0.0, 1.0, evidence="closed form")


def test_true_requires_booleans():
    claim_true("all true", np.array([True, True]), check="logic", evidence="closed form")
    with pytest.raises(ClaimError):
        claim_true("one false", np.array([True, False]), check="logic", evidence="closed form")
    with pytest.raises(ValueError, match="condition must be boolean"):
        claim_true("not boolean", np.array([1.0]), check="logic", evidence="closed form")


def test_sympy_equal_scalars_and_matrices():
    x = sp.Symbol("x")
    claim_sympy_equal("trig identity", sp.sin(x) ** 2 + sp.cos(x) ** 2, 1)
    claim_sympy_equal("matrix", sp.Matrix([x + x, 1]), sp.Matrix([2 * x, 1]))
    with pytest.raises(ClaimError):
        claim_sympy_equal("wrong", x**2, x)
    with pytest.raises(ClaimError):
        claim_sympy_equal("wrong matrix", sp.Matrix([x, 1]), sp.Matrix([x, 2]))


def test_raises():
    claim_raises("1/0 raises", ZeroDivisionError, lambda: 1 / 0)
    with pytest.raises(ClaimError):
        claim_raises("no exception", ValueError, lambda: 1)
    with pytest.raises(ClaimError):
        claim_raises("wrong type", ValueError, lambda: 1 / 0)


def test_html_carries_json_record_for_the_ledger():
    claim_close("a < b & c", 1.0, 1.0, evidence="closed form")
    rec = claims.records()[0]
    html_text = rec._repr_html_()
    assert 'id="claim-1"' in html_text
    assert "a &lt; b &amp; c" in html_text  # escaped for HTML
    import html
    import re

    payload = re.search(r'data-npl-claim="([^"]*)"', html_text).group(1)
    data = json.loads(html.unescape(payload))
    assert data["statement"] == "a < b & c" and data["passed"] is True


def test_numbering_and_reset():
    claim("first", True, measured=1, check="c", evidence="behaviour")
    claim("second", True, measured=2, check="c", evidence="behaviour")
    assert [r.number for r in claims.records()] == [1, 2]
    claims.reset()
    assert claims.records() == []


def test_statement_must_be_text():
    with pytest.raises(ValueError, match="statement"):
        claim("", True, measured=1, check="c", evidence="behaviour")
    with pytest.raises(ValueError, match="statement"):
        claim(None, True, measured=1, check="c", evidence="behaviour")


def test_evidence_is_required_and_validated():
    with pytest.raises(TypeError):
        claim_close("no evidence", 1.0, 1.0)  # evidence= is a required keyword
    with pytest.raises(ValueError, match="evidence must be one of"):
        claim_close("bad evidence", 1.0, 1.0, evidence="vibes")
    claim_sympy_equal("sympy defaults to symbolic", sp.Integer(1), 1)
    claim_raises("raises defaults to behaviour", ZeroDivisionError, lambda: 1 / 0)
    assert [r.evidence for r in claims.records()] == ["symbolic", "behaviour"]
    assert "evidence: symbolic" in claims.records()[0]._repr_html_()


def test_symbolic_record_shows_zero_not_the_matrix():
    x = sp.Symbol("x")
    claim_sympy_equal("matrix", sp.Matrix([x + x, 1]), sp.Matrix([2 * x, 1]))
    rec = claims.records()[0]
    assert rec.measured == "simplify(lhs - rhs) = 0 (all 2 entries)" and rec.expected == ""
    assert "Matrix" not in rec._repr_html_()


def test_one_sided_between_reads_as_a_bound():
    claim_between("at least", [2.0, 3.0], 1.0, np.inf, evidence="experiment")
    rec = claims.records()[0]
    assert rec.tolerance == "at least 1" and rec.check == "measured >= 1"
    assert rec.extra["slack"] == pytest.approx(1.0)
    claim_between("at most", [2.0, 3.0], -np.inf, 3.5, evidence="experiment")
    assert claims.records()[1].tolerance == "at most 3.5"
    assert claims.records()[1].extra["slack"] == pytest.approx(0.5)


def test_slack_measures_the_distance_to_failure():
    claim_close("close", [1.0, 2.0], [1.05, 2.0], atol=0.1, evidence="closed form")
    extra = claims.records()[0].extra
    assert extra["slack"] == pytest.approx(0.05) and extra["relative_slack"] == pytest.approx(0.5)
    assert extra["max_error"] == pytest.approx(0.05)
    claim_between("between", [0.2, 0.7], 0.0, 1.0, evidence="Monte Carlo")
    assert claims.records()[1].extra["slack"] == pytest.approx(0.2)


def test_log_file_and_no_raise_mode(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("NOISYPROP_CLAIMS_LOG", str(log))
    monkeypatch.setenv("NOISYPROP_CLAIMS_TAG", "offset=3")
    claim_close("logged", 1.0, 1.0, evidence="closed form")
    with pytest.raises(ClaimError):  # without NO_RAISE a failure still raises, and is logged first
        claim_close("fails", 1.0, 2.0, evidence="closed form")
    monkeypatch.setenv("NOISYPROP_CLAIMS_NO_RAISE", "1")
    claim_close("fails quietly", 1.0, 2.0, evidence="closed form")
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [e["passed"] for e in entries] == [True, False, False]
    assert all(e["tag"] == "offset=3" for e in entries)
    assert entries[2]["extra"]["slack"] == pytest.approx(-1.0)


def test_no_raise_needs_the_log(monkeypatch):
    monkeypatch.delenv("NOISYPROP_CLAIMS_LOG", raising=False)
    monkeypatch.setenv("NOISYPROP_CLAIMS_NO_RAISE", "1")
    with pytest.raises(ClaimError):  # the build can never be silenced by this variable alone
        claim_close("fails", 1.0, 2.0, evidence="closed form")
