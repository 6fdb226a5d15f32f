"""Checkable claims: the mechanism by which the book verifies what it says.

A chapter states a claim with one of the ``claim_*`` functions: a statement in
words, the check that was run, its tolerance and the measured value. A claim
whose check fails raises :class:`ClaimError`, so the cell fails and, with the
book's execution settings, so does the build. A passing claim is displayed as a
small box in the page, carrying a machine-readable copy of its record that the
book's ``claims_ledger`` Sphinx extension collects into the claims ledger.

Outside a notebook the functions still check and raise; they then print a
one-line summary instead of displaying HTML.

Every claim names the kind of evidence behind it (``evidence=``, one of
:data:`EVIDENCE_KINDS`), which the ledger shows: a symbolic identity proved by
sympy, a value against an independent closed form, two independent numerical
routes, Monte Carlo against theory, a live experiment, stored experiment
results, a value the paper publishes, or behaviour of the library (an error
raised, a flag set).

Two environment variables serve the developers' spread measurements
(``tools/claim_spread.py``), never the build: ``NOISYPROP_CLAIMS_LOG=path``
appends every record, with its numeric slack, to a JSON-lines file; with it,
``NOISYPROP_CLAIMS_NO_RAISE=1`` records a failing claim instead of raising, so
that one run measures every claim of a chapter.
"""
from __future__ import annotations

import html
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np

__all__ = [
    "ClaimError",
    "ClaimRecord",
    "claim",
    "claim_close",
    "claim_all_close",
    "claim_between",
    "claim_true",
    "claim_sympy_equal",
    "claim_raises",
    "records",
    "reset",
    "MIME_TYPE",
    "EVIDENCE_KINDS",
]

MIME_TYPE = "application/vnd.noisyprop.claim+json"


#: the kinds of evidence a claim can rest on (the ledger's "Evidence" column)
EVIDENCE_KINDS = {
    "symbolic": "an identity proved by sympy",
    "closed form": "a computed value against an independent closed-form expression",
    "numeric route": "two independent numerical routes to the same quantity",
    "Monte Carlo": "simulation against theory, within a tolerance set by its sampling error",
    "experiment": "an experiment run live in the build (training, real data)",
    "stored experiment": "results of a full-scale run stored in book/results, checked by the build",
    "published value": "a computed value against a value printed in the paper",
    "authors' code": "a computed value against a value from the authors' released code or notebooks",
    "recomputation": "a computed value against an independent recomputation made for this book",
    "behaviour": "what the library does (raises, warns, returns) on a given input",
}


def _check_evidence(evidence):
    if evidence not in EVIDENCE_KINDS:
        raise ValueError(f"evidence must be one of {sorted(EVIDENCE_KINDS)}, got {evidence!r}")


class ClaimError(AssertionError):
    """A claim made by the book did not hold."""


@dataclass
class ClaimRecord:
    """One checked claim."""

    number: int
    statement: str
    check: str
    tolerance: str
    measured: str
    expected: str
    passed: bool
    label: str | None = None
    evidence: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    # display -------------------------------------------------------------------
    def _summary(self) -> str:
        mark = "✓" if self.passed else "✗"
        exp = f"; expected {self.expected}" if self.expected else ""
        ev = f"; evidence: {self.evidence}" if self.evidence else ""
        return f"{mark} Claim {self.number}: {self.statement} (measured {self.measured}{exp}; tolerance {self.tolerance}; check: {self.check}{ev})"

    def __repr__(self) -> str:
        return self._summary()

    def _repr_html_(self) -> str:
        anchor = f"claim-{self.number}"
        data = html.escape(self.to_json(), quote=True)
        exp = f" &middot; expected <code>{html.escape(self.expected)}</code>" if self.expected else ""
        return (
            f'<div class="npl-claim" id="{anchor}" data-npl-claim="{data}">'
            f'<span class="npl-claim-mark" aria-label="claim verified">&#10003; Claim {self.number}</span> '
            f"{html.escape(self.statement)}"
            f'<div class="npl-claim-detail">measured <code>{html.escape(self.measured)}</code>{exp}'
            f" &middot; tolerance {html.escape(self.tolerance)} &middot; check: {html.escape(self.check)}"
            f" &middot; evidence: {html.escape(self.evidence)}</div></div>"
        )

    def _repr_markdown_(self) -> str:
        exp = f", expected `{self.expected}`" if self.expected else ""
        return f"**✓ Claim {self.number}.** {self.statement} (measured `{self.measured}`{exp}; tolerance {self.tolerance}; check: {self.check}; evidence: {self.evidence})"


_RECORDS: list[ClaimRecord] = []


def records() -> list[ClaimRecord]:
    """The claims checked so far in this process, in order."""
    return list(_RECORDS)


def reset() -> None:
    """Forget the claims checked so far (numbering restarts at 1)."""
    _RECORDS.clear()


def _fmt(x, fmt: str) -> str:
    if isinstance(x, str):
        return x
    arr = np.asarray(x)
    if arr.ndim == 0:
        v = arr.item()
        if isinstance(v, (bool, np.bool_)):
            return str(bool(v))
        if isinstance(v, (int, np.integer)):
            return str(int(v))
        try:
            return format(float(v), fmt)
        except (TypeError, ValueError):
            return str(v)
    flat = arr.ravel()
    if flat.size <= 6:
        return "[" + ", ".join(_fmt(v, fmt) for v in flat) + "]"
    if flat.dtype.kind in "fc" and np.any(np.isnan(flat)):
        return f"{flat.size} values, {int(np.sum(np.isnan(flat)))} of them NaN"
    return f"{flat.size} values in [{_fmt(np.min(flat), fmt)}, {_fmt(np.max(flat), fmt)}]"


def _in_ipython() -> bool:
    try:
        from IPython import get_ipython

        ip = get_ipython()
        return ip is not None and hasattr(ip, "kernel")
    except ImportError:  # pragma: no cover
        return False


def _log(record: ClaimRecord) -> bool:
    """Append ``record`` to ``$NOISYPROP_CLAIMS_LOG`` if set; True if failures must not raise."""
    path = os.environ.get("NOISYPROP_CLAIMS_LOG")
    if not path:
        return False
    entry = asdict(record)
    entry["tag"] = os.environ.get("NOISYPROP_CLAIMS_TAG", "")
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True, default=float) + "\n")
    return os.environ.get("NOISYPROP_CLAIMS_NO_RAISE") == "1"


def _emit(record: ClaimRecord) -> None:
    _RECORDS.append(record)
    no_raise = _log(record)
    if not record.passed and not no_raise:
        raise ClaimError(record._summary())
    if _in_ipython():
        from IPython.display import display

        display(
            {
                "text/plain": record._summary(),
                "text/html": record._repr_html_(),
                "text/markdown": record._repr_markdown_(),
            },
            raw=True,
        )
    else:
        print(record._summary())


def _check_statement(statement):
    if not isinstance(statement, str) or not statement.strip():
        raise ValueError(f"statement must be a non-empty string, got {statement!r}")


def claim(statement: str, passed: bool, *, measured, check: str, evidence: str, tolerance: str = "exact", expected="", label: str | None = None, fmt: str = ".6g", slack: dict | None = None) -> None:
    """Record a claim whose check has already been evaluated to ``passed``.

    The general form; prefer the specific helpers, which compute ``passed``
    themselves and describe the check consistently. ``evidence`` is one of
    :data:`EVIDENCE_KINDS`; ``slack`` (optional) holds numbers describing how
    far the measurement is from failing, for spread measurements.
    """
    _check_statement(statement)
    _check_evidence(evidence)
    rec = ClaimRecord(
        number=len(_RECORDS) + 1,
        statement=statement,
        check=check,
        tolerance=tolerance,
        measured=_fmt(measured, fmt),
        expected=_fmt(expected, fmt) if not isinstance(expected, str) else expected,
        passed=bool(passed),
        label=label,
        evidence=evidence,
        extra=dict(slack or {}),
    )
    _emit(rec)


def _tol_text(atol, rtol):
    parts = []
    if atol:
        parts.append(f"abs {atol:g}")
    if rtol:
        parts.append(f"rel {rtol:g}")
    return " + ".join(parts) if parts else "exact"


def claim_close(statement: str, measured, expected, *, evidence: str, atol: float = 0.0, rtol: float = 0.0, check: str = "", label: str | None = None, fmt: str = ".6g") -> None:
    """Claim that ``measured`` equals ``expected`` within ``atol + rtol |expected|`` (elementwise).

    NaN in ``measured`` never passes; infinities must match exactly.
    """
    m = np.asarray(measured, dtype=float)
    e = np.asarray(expected, dtype=float)
    if atol < 0 or rtol < 0:
        raise ValueError(f"atol and rtol must be >= 0, got atol={atol}, rtol={rtol}")
    with np.errstate(invalid="ignore"):
        same_inf = np.isinf(m) & np.isinf(e) & (np.sign(m) == np.sign(e))
        ok = same_inf | (np.abs(m - e) <= atol + rtol * np.abs(e))
    passed = bool(np.all(ok) and not np.any(np.isnan(m)))
    with np.errstate(invalid="ignore"):
        err = np.where(same_inf, 0.0, np.abs(m - e))
    if err.size == 0:
        max_err = "n/a"
    elif np.any(np.isnan(err)):
        max_err = "nan"
    else:
        max_err = _fmt(np.max(err), ".2g")
    rec_check = check or "|measured - expected| <= tolerance"
    slack = None
    if err.size and not np.any(np.isnan(err)):
        tol = np.broadcast_to(atol + rtol * np.abs(np.where(np.isinf(e), 0.0, e)), err.shape)
        with np.errstate(invalid="ignore", divide="ignore"):
            rel = np.where(tol > 0, 1.0 - err / np.where(tol > 0, tol, 1.0), np.where(err == 0, 1.0, -np.inf))
        slack = {"slack": float(np.min(tol - err)), "relative_slack": float(np.min(rel)), "max_error": float(np.max(err))}
    claim(statement, passed, measured=measured, expected=expected, check=f"{rec_check} (max error {max_err})", tolerance=_tol_text(atol, rtol), label=label, fmt=fmt, evidence=evidence, slack=slack)


def claim_all_close(statement, measured, expected, **kwargs) -> None:  # evidence= is required, as for claim_close
    """Alias of :func:`claim_close` for arrays (reads better in chapters)."""
    claim_close(statement, measured, expected, **kwargs)


def claim_between(statement: str, measured, low, high, *, evidence: str, check: str = "", label: str | None = None, fmt: str = ".6g") -> None:
    """Claim that every value of ``measured`` lies in ``[low, high]``.

    For a one-sided claim ("at least", "at most") pass ``high=np.inf`` or
    ``low=-np.inf``; the ledger then shows the bound alone.
    """
    m = np.asarray(measured, dtype=float)
    with np.errstate(invalid="ignore"):
        passed = bool(m.size > 0 and not np.any(np.isnan(m)) and np.all((m >= low) & (m <= high)))
    slack = None
    if m.size and not np.any(np.isnan(m)):
        slack = {"slack": float(min(np.min(m) - low, high - np.max(m))), "min": float(np.min(m)), "max": float(np.max(m)),
                 "low": float(low), "high": float(high)}
    if np.isinf(high) and not np.isinf(low):
        default_check, tolerance = f"measured >= {_fmt(low, fmt)}", f"at least {_fmt(low, fmt)}"
    elif np.isinf(low) and not np.isinf(high):
        default_check, tolerance = f"measured <= {_fmt(high, fmt)}", f"at most {_fmt(high, fmt)}"
    else:
        default_check, tolerance = f"{_fmt(low, fmt)} <= measured <= {_fmt(high, fmt)}", f"interval [{_fmt(low, fmt)}, {_fmt(high, fmt)}]"
    claim(statement, passed, measured=measured, expected="", check=check or default_check, tolerance=tolerance, label=label, fmt=fmt, evidence=evidence, slack=slack)


def claim_true(statement: str, condition, *, check: str, evidence: str, measured=None, label: str | None = None, fmt: str = ".6g") -> None:
    """Claim that a boolean condition (or every element of a boolean array) holds."""
    arr = np.asarray(condition)
    if arr.dtype != bool:
        raise ValueError(f"condition must be boolean, got dtype {arr.dtype}")
    passed = bool(arr.size > 0 and np.all(arr))
    shown = measured if measured is not None else (f"{int(arr.sum())}/{arr.size} true" if arr.ndim else str(bool(arr)))
    claim(statement, passed, measured=shown, check=check, tolerance="exact (logical)", label=label, fmt=fmt, evidence=evidence)


def claim_sympy_equal(statement: str, lhs, rhs, *, check: str = "", label: str | None = None, evidence: str = "symbolic") -> None:
    """Claim a symbolic identity: ``sympy.simplify(lhs - rhs) == 0``."""
    import sympy

    diff = sympy.simplify(sympy.sympify(lhs) - sympy.sympify(rhs))
    if isinstance(diff, sympy.MatrixBase):
        passed = all(sympy.simplify(e) == 0 for e in diff)
        shown = f"0 (all {len(diff)} entries)" if passed else sympy.sstr(diff)
    else:
        passed = diff == 0
        shown = "0" if passed else sympy.sstr(diff)
    claim(statement, passed, measured=f"simplify(lhs - rhs) = {shown}", expected="", check=check or "sympy.simplify(lhs - rhs) == 0", tolerance="exact (symbolic)", label=label, evidence=evidence)


def claim_raises(statement: str, exc_type: type[BaseException], fn: Callable, *args, check: str = "", label: str | None = None, evidence: str = "behaviour", **kwargs) -> None:
    """Claim that calling ``fn(*args, **kwargs)`` raises ``exc_type``."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        msg = str(exc)
        shown = f"{type(exc).__name__}: {msg[:90]}{'…' if len(msg) > 90 else ''}"
        claim(statement, True, measured=shown, check=check or f"calling {getattr(fn, '__name__', fn)} raises {exc_type.__name__}", tolerance="exact (exception type)", label=label, evidence=evidence)
        return
    except Exception as exc:  # wrong exception type: the claim fails
        claim(statement, False, measured=f"{type(exc).__name__}: {exc}", check=f"raises {exc_type.__name__}", tolerance="exact", label=label, evidence=evidence)
        return
    claim(statement, False, measured="no exception", check=f"raises {exc_type.__name__}", tolerance="exact", label=label, evidence=evidence)
