"""The bibliography (book/references.bib) as author-year references."""
from __future__ import annotations

from dataclasses import dataclass
import re
from pathlib import Path

from .config import ROOT, book_config

def _latex_to_text(s: str) -> str:
    accents = {r'\"o': "ö", r'\"a': "ä", r'\"u': "ü", r"\'e": "é", r"\`e": "è", r"\'a": "á", r"\c{c}": "ç",
               r"\'\i": "í", r"\~n": "ñ", r"\ss": "ß", r"\o": "ø"}
    for k, v in accents.items():
        s = s.replace("{" + k + "}", v).replace(k, v)
    s = s.replace("--", "–")
    return re.sub(r"[{}]", "", s).replace("\\&", "&").strip()


@dataclass
class Reference:
    authors: str   # "Pretorius et al."
    year: str
    url: str | None


def read_bibliography(root: Path = ROOT) -> dict:
    from pybtex.database import parse_file

    refs = {}
    for bibfile in book_config(root).get("bibtex_bibfiles", []):
        db = parse_file(str(root / bibfile))
        for key, entry in db.entries.items():
            people = entry.persons.get("author") or entry.persons.get("editor") or []
            last = [_latex_to_text(" ".join(p.prelast_names + p.last_names)) for p in people]
            if not last:
                names = _latex_to_text(entry.fields.get("title", key))
            elif len(last) == 1:
                names = last[0]
            elif len(last) == 2:
                names = f"{last[0]} and {last[1]}"
            else:
                names = f"{last[0]} et al."
            names = names[0].upper() + names[1:]       # "van Biljon" starts a sentence as "Van Biljon"
            f = entry.fields
            url = None
            if f.get("doi"):
                url = "https://doi.org/" + f["doi"]
            elif f.get("url"):
                url = f["url"]
            elif f.get("eprint") and f.get("archiveprefix", f.get("eprinttype", "")).lower() == "arxiv":
                url = "https://arxiv.org/abs/" + f["eprint"]
            else:
                m = re.search(r"arXiv:\s*(\d{4}\.\d{4,5})", f.get("note", "") + " " + f.get("journal", ""))
                if m:
                    url = "https://arxiv.org/abs/" + m.group(1)
            refs[key] = Reference(names, _latex_to_text(f.get("year", "n.d.")), url)
    return refs
