"""Words a reader cannot decode: how the book was produced, and internal names of its sources (shared by tests)."""
from __future__ import annotations

import re

#: each pattern, case-insensitive, with why it is not for a reader
JARGON = {
    r"\breference's\b": "'the reference' is an internal file: name the paper, the authors' code or our recomputation",
    r"\bthe reference (tables?|values?|states|reports|says|gives|lists|tolerances?|claims?)\b":
        "'the reference' is an internal file: name the paper, the authors' code or our recomputation",
    r"\breference claim\b|\bCLAIM \d+\b": "an internal claim number of the source material",
    r"\b(the|our|source|these|those) notes\b|\bnotes'": "the reader has no notes: cite the paper or say it is ours",
    r"\bbuild machine\b|\bshared 2-core\b": "production detail: give hardware and times",
    r"\b(this|a previous|an earlier|the last|another) session\b": "production history",
    r"\b(had|was lent|were lent) a GPU\b|\bnot available to the authors\b": "production history",
}

_COMPILED = [(re.compile(p, re.IGNORECASE), why) for p, why in JARGON.items()]


def jargon_in(text: str) -> list[str]:
    """Each jargon hit in ``text``: the matched words, their context and why they do not belong."""
    hits = []
    for rx, why in _COMPILED:
        for m in rx.finditer(text):
            start, end = max(m.start() - 40, 0), min(m.end() + 40, len(text))
            context = " ".join(text[start:end].split())
            hits.append(f"{m.group(0)!r} in '...{context}...': {why}")
    return hits
