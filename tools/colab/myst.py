"""The MyST-to-Markdown converter: directives, roles and admonitions as plain Jupyter Markdown."""
from __future__ import annotations

from dataclasses import dataclass, field
import os
import re
from pathlib import Path

import yaml

from .config import ADMONITIONS, CODE_DIRECTIVES, PROOF_TYPES, UnsupportedMyST, book_url
from .index import BookIndex
from .glue import INLINE, glue_format

@dataclass
class Context:
    doc: str
    index: BookIndex
    bib: dict
    glue: dict | None          # key -> mime bundle; None renders placeholders (for glue_keys checks)
    book_url: str
    repo_url: str
    counters: dict = field(default_factory=dict)
    gated: list = field(default_factory=list)    # open exercise-start / solution-start blocks
    solution_heads: list = field(default_factory=list)  # summaries of the open solution-start blocks
    details_open: bool = False   # a <details> element of a gated solution is open in the current cell
    details_count: int = 0       # how many <details> the innermost open solution has had (0: none yet)
    quote_math: bool = False     # a display equation is open inside quoted (exercise) text: left unquoted

    @property
    def in_solution(self) -> bool:
        return bool(self.gated) and self.gated[-1] == "solution-start"

    def next_number(self, kind):
        self.counters[kind] = self.counters.get(kind, 0) + 1
        n = self.index.chapter_number.get(self.doc)
        return f"{n}.{self.counters[kind]}" if n else str(self.counters[kind])


def _details_open(summary: str) -> list[str]:
    """The opening of a collapsed ``<details>`` element; the blank line lets Markdown render inside it."""
    return ["<details>", f"<summary><b>{summary}</b></summary>", ""]


def _quote_line(line: str, in_math: bool) -> tuple[list[str], bool]:
    """One line of a quoted box, and whether a display equation is open after it.

    Display math ($$ ... $$) is never put in a block quote: JupyterLab renders ``> $$`` with stray ``>``
    signs. The quote is closed before the equation (a blank line) and reopened after it."""
    stripped = line.strip()
    if not (in_math or stripped.startswith("$$")):
        return [("> " + line).rstrip()], False
    out = [""] if not in_math else []
    out.append(line)
    if stripped.count("$$") % 2 == 1:
        in_math = not in_math
    if not in_math:
        out.append("")
    return out, in_math


def _quote(text: str) -> str:
    out, in_math = [], False
    for line in text.strip("\n").split("\n"):
        lines, in_math = _quote_line(line, in_math)
        out.extend(lines)
    # an empty quote line next to an unquoted equation only adds an empty box edge
    out = [ln for k, ln in enumerate(out) if not (ln == ">" and ((k and out[k - 1] == "") or
                                                                 (k + 1 < len(out) and out[k + 1] == "")))]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip("\n")


def _split_options(body: list[str]) -> tuple[dict, list[str]]:
    opts: dict = {}
    if body and body[0].strip() == "---":
        end = next((k for k in range(1, len(body)) if body[k].strip() == "---"), None)
        if end is not None:
            opts = yaml.safe_load("\n".join(body[1:end])) or {}
            return opts, body[end + 1:]
    k = 0
    while k < len(body):
        m = re.match(r"^\s*:([\w-]+):\s*(.*)$", body[k])
        if not m:
            break
        opts[m.group(1)] = m.group(2).strip()
        k += 1
    return opts, body[k:]


def _dedent(lines):
    import textwrap

    return textwrap.dedent("\n".join(lines)).split("\n")


class Converter:
    def __init__(self, ctx: Context):
        self.ctx = ctx

    # -- roles --------------------------------------------------------------

    def link(self, text, doc, anchor=None):
        if doc == self.ctx.doc or not self.ctx.book_url:
            return text
        url = f"{self.ctx.book_url}/{doc}.html" + (f"#{anchor}" if anchor else "")
        return f"[{text}]({url})"

    def cite(self, role, content):
        refs = []
        for key in [k.strip() for k in content.split(",") if k.strip()]:
            if key not in self.ctx.bib:
                raise UnsupportedMyST(f"{self.ctx.doc}: citation key {key!r} is not in the bibliography")
            refs.append(self.ctx.bib[key])
        kind = role.split(":", 1)[1] if ":" in role else "p"
        if kind in ("t", "ts"):
            parts = [f"[{r.authors} ({r.year})]({r.url})" if r.url else f"{r.authors} ({r.year})" for r in refs]
            return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        if kind in ("p", "ps", "alp"):
            parts = [f"[{r.authors}, {r.year}]({r.url})" if r.url else f"{r.authors}, {r.year}" for r in refs]
            return ("" if kind == "alp" else "(") + "; ".join(parts) + ("" if kind == "alp" else ")")
        if kind == "year":
            return ", ".join(r.year for r in refs)
        if kind in ("author", "authors"):
            return ", ".join(r.authors for r in refs)
        raise UnsupportedMyST(f"{self.ctx.doc}: unknown citation role {{{role}}}")

    def glue_value(self, key, spec, role):
        if self.ctx.glue is None:
            return f"<glue {key}>"
        if key not in self.ctx.glue:
            raise KeyError(f"{self.ctx.doc}: no glued value {key!r} (run `make notebooks`)")
        bundle = self.ctx.glue[key]
        if role == "glue:md":
            return bundle.get("text/markdown", bundle["text/plain"])
        text = glue_format(bundle, spec)
        return f"${text}$" if role == "glue:math" else text

    def role(self, m):
        role, content = m.group("role").rstrip(":"), m.group("content")
        explicit = re.match(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", content, re.S)
        text, target = (explicit.group("text"), explicit.group("target")) if explicit else (None, content.strip())
        if role in ("glue", "glue:text", "glue:any", "glue:md", "glue:math"):
            key, _, spec = content.partition(":")
            return self.glue_value(key.strip(), spec.strip() or None, "glue:text" if role == "glue:any" else role)
        if role == "cite" or role.startswith("cite:"):
            return self.cite(role, content)
        if role == "math":
            return f"${content}$"
        if role in ("sub", "sup"):
            return f"<{role}>{content}</{role}>"
        if role in ("term", "abbr", "kbd", "file", "samp", "code", "command", "guilabel"):
            return f"`{content}`" if role in ("code", "file", "samp", "command", "kbd") else re.sub(r"\s*\(.*\)$", "", content)
        if role == "doc":
            doc = os.path.normpath(os.path.join(os.path.dirname(self.ctx.doc), target)) if not target.startswith("/") \
                else target.lstrip("/")
            doc = str(Path(doc).with_suffix("")) if doc.endswith((".md", ".ipynb")) else doc
            title = text or self.ctx.index.titles.get(doc)
            if title is None:
                raise UnsupportedMyST(f"{self.ctx.doc}: {{doc}}`{content}` names no page of the book")
            return self.link(title, doc)
        if role in ("ref", "numref", "eq", "prf:ref", "std:ref"):
            t = self.ctx.index.labels.get(target)
            if t is None:
                raise UnsupportedMyST(f"{self.ctx.doc}: {{{role}}}`{content}`: unknown label {target!r}")
            if role == "numref" and text:
                shown = text.replace("%s", re.sub(r"^\D*", "", t.text)).replace("{number}", re.sub(r"^\D*", "", t.text))
            else:
                shown = text or t.text
            anchor = f"equation-{target}" if t.kind == "equation" else re.sub(r"[^a-z0-9]+", "-", target.lower()).strip("-")
            return self.link(shown, t.doc, anchor)
        raise UnsupportedMyST(f"{self.ctx.doc}: role {{{role}}} has no Colab rendering")

    def inline(self, text: str) -> str:
        # one left-to-right scan: a role, or an inline code span (whose content is code, not roles)
        def sub(m):
            return self.role(m) if m.group("role") else m.group(0)

        return INLINE.sub(sub, text)

    # -- blocks -------------------------------------------------------------

    def convert(self, source: str) -> str:
        lines = source.split("\n")
        out: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i]
            if re.match(r"^\((?P<label>[^)\s]+)\)=\s*$", line):           # (label)=
                i += 1
                continue
            m = re.match(r"^(?P<indent>\s*)(?P<fence>`{3,}|:{3,}|~{3,})\{(?P<name>[^}]+)\}\s*(?P<arg>.*?)\s*$", line)
            if m:
                fence = m.group("fence")
                close = re.compile(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
                j = i + 1
                while j < len(lines) and not close.match(lines[j]):
                    j += 1
                if j == len(lines):
                    raise UnsupportedMyST(f"{self.ctx.doc}: unclosed directive {{{m.group('name')}}}")
                block = self.directive(m.group("name"), m.group("arg"), _dedent(lines[i + 1:j]))
                out.extend(self._gate(block.split("\n")) if block is not None else [])
                i = j + 1
                continue
            m = re.match(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})[^`]*$", line)
            if m:                                                         # plain code fence: copied
                close = re.compile(rf"^\s*{re.escape(m.group('fence')[0])}{{{len(m.group('fence'))},}}\s*$")
                j = i + 1
                while j < len(lines) and not close.match(lines[j]):
                    j += 1
                out.extend(self._gate(lines[i:j + 1]))
                i = j + 1
                continue
            m = re.match(r"^\$\$\s*\((?P<label>[^)]+)\)\s*$", line)
            if m and self.ctx.index.labels.get(m.group("label")):         # $$ (label) closes a numbered equation
                number = self.ctx.index.labels[m.group("label")].text.strip("()")
                out.extend(self._gate([f"\\tag{{{number}}}", "$$"]))
                i += 1
                continue
            if re.match(r"^\s*:::+\s*$", line):
                raise UnsupportedMyST(f"{self.ctx.doc}: stray closing fence {line.strip()!r}")
            out.extend(self._gate([self.inline(line)]))
            i += 1
        if self.ctx.details_open:      # a gated solution continues in the next cell: close this part here
            out.extend(self._close_details())
        text = "\n".join(out)
        text = re.sub(r"\n{3,}", "\n\n", text).strip("\n")
        return text

    def _gate(self, lines):
        if not self.ctx.gated:
            return lines
        if self.ctx.in_solution:
            if self.ctx.details_open or not any(ln.strip() for ln in lines):
                return lines
            head = self.ctx.solution_heads[-1] + (" (continued)" if self.ctx.details_count else "")
            self.ctx.details_open = True
            self.ctx.details_count += 1
            return _details_open(head) + lines
        out = []
        for ln in lines:
            quoted, self.ctx.quote_math = _quote_line(ln, self.ctx.quote_math)
            out.extend(quoted)
        return out

    def _close_details(self):
        self.ctx.details_open = False
        return ["", "</details>"]

    def body(self, lines):
        saved, self.ctx.gated = self.ctx.gated, []
        try:
            return self.convert("\n".join(lines))
        finally:
            self.ctx.gated = saved

    def list_table(self, body: list[str], header_rows: int) -> str:
        rows: list[list[str]] = []
        for line in body:
            if re.match(r"^\*\s+-\s", line):
                rows.append([line.split("-", 1)[1].strip()])
            elif re.match(r"^\s+-\s", line) and rows:
                rows[-1].append(line.split("-", 1)[1].strip())
            elif line.strip() and rows:
                rows[-1][-1] += " " + line.strip()
        if not rows:
            raise UnsupportedMyST(f"{self.ctx.doc}: empty list-table")
        width = max(len(r) for r in rows)
        cells = [[self.inline(c).replace("|", "\\|") for c in r] + [""] * (width - len(r)) for r in rows]
        head = cells[0] if header_rows else [""] * width
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * width]
        lines += ["| " + " | ".join(r) + " |" for r in cells[1 if header_rows else 0:]]
        return "\n".join(lines)

    def directive(self, name: str, arg: str, raw: list[str]):
        opts, body = _split_options(raw)
        kind = name.split(":", 1)[1] if name.startswith("prf:") else name
        label = opts.get("label") or opts.get("name")
        if name.startswith("prf:") and kind in PROOF_TYPES:
            n = self.ctx.next_number(kind)
            number = self.ctx.index.labels[label].text if label in self.ctx.index.labels else f"{PROOF_TYPES[kind]} {n}"
            title = f" ({self.inline(arg)})" if arg else ""
            return _quote(f"**{number}{title}.**\n\n" + self.body(body))
        if name == "prf:proof":
            text = self.body(body)
            sep = "\n\n" if re.match(r"^(\$\$|[-*+] |\d+[.)] |>|\|)", text) else " "
            return _quote("*Proof.*" + sep + text + " $\\blacksquare$")
        if name in ("exercise", "solution", "exercise-start", "solution-start"):
            if name.startswith("exercise"):
                n = self.ctx.next_number("exercise")
                number = self.ctx.index.labels[label].text if label in self.ctx.index.labels else f"Exercise {n}"
                head = f"**{number}**" + (f" ({self.inline(arg)})" if arg else "")
            else:
                t = self.ctx.index.labels.get(arg.strip())
                summary = f"Solution to {t.text}" if t else "Solution"
                if name == "solution-start":        # folded by _gate, cell by cell, until solution-end
                    self.ctx.gated.append(name)
                    self.ctx.solution_heads.append(summary)
                    self.ctx.details_open, self.ctx.details_count = False, 0
                    return None
                return "\n".join(_details_open(summary) + [self.body(body)] + ["", "</details>"])
            if name.endswith("-start"):
                self.ctx.gated.append(name)
                return None if not head else head + "\n"   # quoted by _gate until the matching -end
            return _quote(head + "\n\n" + self.body(body))
        if name in ("exercise-end", "solution-end"):
            if not self.ctx.gated:
                raise UnsupportedMyST(f"{self.ctx.doc}: {{{name}}} without a matching start")
            closing = self.ctx.gated.pop()
            if closing == "solution-start":
                self.ctx.solution_heads.pop()
                if self.ctx.details_open:
                    return "\n".join(self._close_details())
            return ""
        if name in ADMONITIONS:
            title = ADMONITIONS[name] if ADMONITIONS[name] else arg
            head = f"**{self.inline(title)}**\n\n" if title else ""
            return _quote(head + self.body(body))
        if name == "math":
            tex = "\n".join(body).strip()
            if label and label in self.ctx.index.labels:
                tex += f"\n\\tag{{{self.ctx.index.labels[label].text.strip('()')}}}"
            return f"$$\n{tex}\n$$"
        if name in ("figure", "image"):
            path = arg.strip()
            url = path if re.match(r"^https?://", path) else \
                f"{self.ctx.repo_url}/raw/main/{os.path.normpath(os.path.join(os.path.dirname(self.ctx.doc), path))}"
            caption = self.body(body).strip()
            alt = opts.get("alt", caption.split("\n")[0] if caption else "figure")
            text = f"![{alt}]({url})"
            if name == "figure":
                number = self.ctx.index.figure_number(self.ctx.doc, label, self.ctx.next_number("figure"))
                text += f"\n\n*{number}: {caption}*" if caption else ""
            return text
        if name in ("glue:md", "glue", "glue:text", "glue:math"):
            return self.glue_value(arg.strip(), None, "glue:md" if name == "glue:md" else
                                   ("glue:math" if name == "glue:math" else "glue:text"))
        if name == "dropdown":
            return _quote((f"**{self.inline(arg)}**\n\n" if arg else "") + self.body(body))
        if name == "table":
            caption = f"**{self.inline(arg)}**\n\n" if arg else ""
            return caption + self.body(body)
        if name == "list-table":
            return (f"**{self.inline(arg)}**\n\n" if arg else "") + self.list_table(body, int(opts.get("header-rows", 0)))
        if name in CODE_DIRECTIVES:
            return f"```{arg.strip()}\n" + "\n".join(body) + "\n```"
        raise UnsupportedMyST(f"{self.ctx.doc}: directive {{{name}}} has no Colab rendering")
