"""Glued values: the keys a chapter glues and how a value is formatted in the text."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from .config import UnsupportedMyST, _read_myst

ROLE = re.compile(r"\{(?P<role>[a-zA-Z][\w:.+-]*)\}`(?P<content>[^`]*)`")
INLINE = re.compile(ROLE.pattern + r"|(?P<ticks>`+)(?!`).*?(?<!`)(?P=ticks)(?!`)")


def glue_format(bundle: dict, spec: str | None) -> str:
    """What ``{glue:text}`key:spec``` shows for a stored mime bundle (as myst-nb formats it)."""
    text = str(bundle["text/plain"]).strip("'")
    if spec:
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError) as exc:
            raise UnsupportedMyST(f"glued value {text!r} cannot be formatted with {spec!r}") from exc
        return format(value, spec)
    return text


def glue_keys(md_path: Path) -> dict:
    """``key -> set of format specs`` of every glued value a chapter's markdown shows."""
    keys: dict = {}
    for cell in _read_myst(md_path).cells:
        if cell.cell_type != "markdown":
            continue
        for m in ROLE.finditer(cell.source):
            if m.group("role").startswith("glue"):
                key, _, spec = m.group("content").partition(":")
                keys.setdefault(key.strip(), set()).add(spec.strip() or None)
        for m in re.finditer(r"^\s*(?:`{3,}|:{3,})\{glue(?::md|:math|:text)?\}\s*(\S+)", cell.source, re.M):
            keys.setdefault(m.group(1), set()).add(None)
    return keys


#: glued values that are measured times (wall-clock seconds of a live run) differ from run to run;
#: their names say so, and the execution check only asks that they are still numbers
MEASURED_TIME_KEY = re.compile(r"wall|seconds|_time(_|$)", re.I)

DUMP_CELL = (
    "import json as _json\n"
    "from IPython import get_ipython as _gi\n"
    "from noisyprop_lib.book.glue import RECORDED as _recorded\n"
    "_fmt = _gi().display_formatter.format\n"
    "print('@@GLUE@@' + _json.dumps({_k: {_m: _v for _m, _v in _fmt(_val)[0].items()\n"
    "                                      if _m in ('text/plain', 'text/markdown', 'text/latex')}\n"
    "                                for _k, _val in _recorded.items()}))\n"
)
