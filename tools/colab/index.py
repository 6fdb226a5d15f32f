"""BookIndex: the numbers the book gives its chapters, sections, equations, figures, theorems and exercises."""
from __future__ import annotations

from dataclasses import dataclass, field
import re
from pathlib import Path

import yaml

from .config import PROOF_TYPES, ROOT, toc_documents

@dataclass
class Target:
    doc: str
    kind: str           # section, figure, equation, exercise, proof, page
    text: str           # what a reference shows: "Fig. 5.2", "(1.3)", "Theorem 5.1", a section title


@dataclass
class BookIndex:
    """Numbers and titles of every label in the book, computed the way the book numbers them."""

    root: Path
    chapter_number: dict = field(default_factory=dict)
    titles: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)

    @classmethod
    def build(cls, root: Path = ROOT) -> "BookIndex":
        idx = cls(root)
        n = 0
        for doc, numbered in toc_documents(root):
            if numbered:
                n += 1
                idx.chapter_number[doc] = n
            path = root / f"{doc}.md"
            if path.exists():
                idx._scan(doc, path.read_text())
        return idx

    def _prefix(self, doc):
        n = self.chapter_number.get(doc)
        return f"{n}." if n else ""

    def _scan(self, doc: str, text: str):
        prefix = self._prefix(doc)
        counters: dict = {}

        def count(kind):
            counters[kind] = counters.get(kind, 0) + 1
            return f"{prefix}{counters[kind]}"

        lines = text.splitlines()
        pending_label = None
        in_code = None          # the fence of an open code block (code cell or plain code): not scanned
        open_directives = []    # the fences of open directives: their content is scanned
        for i, line in enumerate(lines):
            if in_code:
                if re.match(rf"^\s*{re.escape(in_code[0])}{{{len(in_code)},}}\s*$", line):
                    in_code = None
                continue
            m = re.match(r"^\s*(`{3,}|~{3,}|:{3,})\{code-cell\}", line)
            if m:
                in_code = m.group(1)
                self._scan_code_cell(doc, lines, i, count)
                continue
            m = re.match(r"^\s*(`{3,}|:{3,}|~{3,})\{(?P<name>[^}]+)\}\s*(?P<arg>.*)$", line)
            if m:
                open_directives.append(m.group(1))
                name = m.group("name")
                label = None
                for opt in lines[i + 1:i + 12]:
                    mo = re.match(r"^\s*:(label|name):\s*(\S+)", opt)
                    if mo:
                        label = mo.group(2)
                        break
                    if not re.match(r"^\s*:\w[\w-]*:", opt):
                        break
                kind = name.split(":")[-1]
                if name.startswith("prf:") and kind in PROOF_TYPES:
                    text_ = f"{PROOF_TYPES[kind]} {count(kind)}"
                    if label:
                        self.labels[label] = Target(doc, "proof", text_)
                elif name in ("exercise", "exercise-start"):
                    text_ = f"Exercise {count('exercise')}"
                    if label:
                        self.labels[label] = Target(doc, "exercise", text_)
                elif name in ("figure", "glue:figure"):
                    text_ = f"Fig. {count('figure')}"
                    if label:
                        self.labels[label] = Target(doc, "figure", text_)
                elif name == "math" and label:
                    self.labels[label] = Target(doc, "equation", f"({count('equation')})")
                continue
            m = re.match(r"^\s*(`{3,}|:{3,}|~{3,})\s*$", line)
            if m and open_directives and m.group(1)[0] == open_directives[-1][0] \
                    and len(m.group(1)) >= len(open_directives[-1]):
                open_directives.pop()
                continue
            m = re.match(r"^\s*(`{3,}|~{3,})", line)
            if m:
                in_code = m.group(1)
                continue
            m = re.match(r"^\((?P<label>[^)\s]+)\)=\s*$", line)
            if m:
                pending_label = m.group("label")
                continue
            m = re.match(r"^(#{1,6})\s+(.*)$", line)
            if m:
                title = m.group(2).strip()
                if m.group(1) == "#" and doc not in self.titles:
                    self.titles[doc] = title
                if pending_label:
                    self.labels[pending_label] = Target(doc, "section", title)
                pending_label = None
                continue
            if line.strip():
                pending_label = None
            m = re.match(r"^\$\$\s*\((?P<label>[^)]+)\)\s*$", line)
            if m:
                self.labels[m.group("label")] = Target(doc, "equation", f"({count('equation')})")

    def _scan_code_cell(self, doc, lines, i, count):
        # a code cell with ``mystnb: figure: name:`` metadata is a numbered figure
        j = i + 1
        if j < len(lines) and lines[j].strip() == "---":
            k = j + 1
            while k < len(lines) and lines[k].strip() != "---":
                k += 1
            meta = yaml.safe_load("\n".join(lines[j + 1:k])) or {}
            fig = (meta.get("mystnb") or {}).get("figure")
            if fig:
                text_ = f"Fig. {count('figure')}"
                if fig.get("name"):
                    self.labels[fig["name"]] = Target(doc, "figure", text_)

    def figure_number(self, doc: str, name: str | None, n: int) -> str:
        if name and name in self.labels:
            return self.labels[name].text
        return f"Fig. {self._prefix(doc)}{n}"
