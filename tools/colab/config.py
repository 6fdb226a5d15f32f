"""The book's configuration and sources: _config.yml and _toc.yml, the version, release tag and install source, the MyST chapters."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

#: tag of the generated install cell; the executors skip cells with ``skip-execution``
INSTALL_TAGS = ["skip-execution", "colab-install"]

PROOF_TYPES = {
    "theorem": "Theorem", "lemma": "Lemma", "definition": "Definition", "remark": "Remark",
    "conjecture": "Conjecture", "corollary": "Corollary", "algorithm": "Algorithm", "example": "Example",
    "property": "Property", "observation": "Observation", "proposition": "Proposition",
    "assumption": "Assumption", "axiom": "Axiom", "criterion": "Criterion",
}
ADMONITIONS = {
    "note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
    "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error", "seealso": "See also",
    "margin": None, "sidebar": None, "topic": None, "epigraph": None, "admonition": None,
}
CODE_DIRECTIVES = {"code-block", "code", "sourcecode"}


class UnsupportedMyST(ValueError):
    """A chapter uses MyST syntax that the Colab converter cannot turn into plain Markdown."""


def book_config(root: Path = ROOT) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text())


def repository_url(root: Path = ROOT) -> str:
    """The project's repository, defined once: ``repository.url`` in ``_config.yml``."""
    return book_config(root)["repository"]["url"].rstrip("/")


def book_url(root: Path = ROOT) -> str:
    """Where the rendered book is published: ``html.baseurl`` in ``_config.yml``."""
    return book_config(root).get("html", {}).get("baseurl", "").rstrip("/")


def project_version(root: Path = ROOT) -> str:
    """The library's version, ``project.version`` in ``pyproject.toml`` (the release the book belongs to)."""
    text = (root / "pyproject.toml").read_text()
    try:
        import tomllib
    except ImportError:  # Python 3.10
        m = re.search(r'(?ms)^\[project\]\s*$.*?^version\s*=\s*"([^"]+)"', text)
        if not m:
            raise ValueError("pyproject.toml has no project.version") from None
        return m.group(1)
    return tomllib.loads(text)["project"]["version"]


def release_tag(root: Path = ROOT) -> str:
    """The git tag of the release the notebooks install: ``v<version>``."""
    return f"v{project_version(root)}"


def install_source(root: Path = ROOT) -> str:
    tag = release_tag(root)
    return (f"# Google Colab (or any fresh environment): install the companion library, release {tag}, the one this\n"
            "# notebook was generated with, from the book's repository.\n"
            f'%pip install --quiet "noisyprop_lib @ git+{repository_url(root)}@{tag}"')


def toc_documents(root: Path = ROOT) -> list[tuple[str, bool]]:
    """``(docname, numbered)`` of every page in ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    docs = [(toc["root"], False)]

    def walk(entries, numbered):
        for e in entries or []:
            if "file" in e:
                docs.append((str(Path(e["file"]).with_suffix("")), numbered))
            walk(e.get("sections"), numbered)
            walk(e.get("chapters"), numbered)

    for part in toc.get("parts", []):
        walk(part.get("chapters"), bool(part.get("numbered")))
    walk(toc.get("chapters"), False)
    return docs


def chapter_files(root: Path = ROOT) -> list[Path]:
    """The MyST chapters that get a Colab notebook: every ``chapters/ch*`` page of ``_toc.yml``."""
    return [root / f"{doc}.md" for doc, _ in toc_documents(root)
            if re.fullmatch(r"chapters/ch[^/]*", doc) and (root / f"{doc}.md").exists()]



def _read_myst(md_path: Path):
    import jupytext

    return jupytext.read(md_path, fmt="md:myst")
