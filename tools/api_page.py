"""Write the book's API reference page, ``book/api.md``, from the package's public names.

    python tools/api_page.py           # rewrite book/api.md
    python tools/api_page.py --check   # exit 1 if book/api.md is out of date (tests/book/test_api_page.py)

Every public name is documented exactly once, under the name a user types: ``noisyprop_lib.X`` for the
names of the top level (``npl.__all__``), ``noisyprop_lib.dln.X``, ``noisyprop_lib.nn.X``,
``noisyprop_lib.experiments.X``, ``noisyprop_lib.book.claims.X`` ... for the names that live only in a
namespace. Sections follow the architecture (theory by topic, then simulation, nn, dln, experiments, data,
plotting, book); each opens with its module's docstring. A docstring refers to a library object by that
documented name, so the build's nitpicky mode checks every such reference.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "api.md"

HEADER = """\
# API reference

The companion library is imported as `import noisyprop_lib as npl`. Every name below is documented
under the name you type: the top level (`npl.depth_scale`, `npl.Dropout`, `npl.critical_init_`, ...)
holds every public name except those of the namespaces `npl.dln` (Part III), `npl.experiments`,
`npl.plotting`, `npl.data` and the book's runtime `npl.book`, and the torch layer `npl.nn.Dropout`
(the top-level `npl.Dropout` is the noise law). This page is generated from the docstrings by the same
build that executes the book (`tools/api_page.py` lists the names), so it documents exactly the code the
chapters ran.

The package is layered, and data flows one way:
`theory` (numpy and scipy; no torch) → `simulation`, `nn` (torch) and `dln` → `experiments` → `book`.
`import noisyprop_lib` imports the theory only; the torch-backed names are imported on first use. The
module paths of release 0.1.0 (`noisyprop_lib.criticality`, `noisyprop_lib.simulate`, ...) still work
and warn (`DeprecationWarning`) with the new home of each name.

Conventions used throughout: `sigma_w2` and `sigma_b2` are **variances**
(fan-in normalised, $W_{ij}\\sim\\mathcal N(0,\\sigma_w^2/N)$), never standard
deviations; `keep_prob` is dropout's keep probability, while torch's
`nn.Dropout(p)` takes the drop probability; noise is applied to the
post-activation signal entering the next linear layer; functions broadcast over
arrays (scalars in, scalars out); invalid input raises `ValueError` naming the
parameter and its valid range.

Arguments of the theory functions: the state comes first (`q`, `c`, `q0`, a width or a depth), then
the layer, given either as a {py:class}`~noisyprop_lib.Layer` or as its parameters `sigma_w2`,
`sigma_b2`, `noise`, `activation` by keyword. The positional orders of release 0.1.0 keep working
(the {py:class}`~noisyprop_lib.Layer` docstring lists them); new code should use a `Layer` or keywords.
"""

#: (section title, implementation module prefix); the first matching prefix wins
SECTIONS = [
    ("Layer specification", "noisyprop_lib.theory.spec"),
    ("Noise laws", "noisyprop_lib.theory.noise"),
    ("Gaussian expectations", "noisyprop_lib.theory.gauss"),
    ("Activations", "noisyprop_lib.theory.activations"),
    ("Mean-field maps", "noisyprop_lib.theory.meanfield"),
    ("Criticality and depth scales", "noisyprop_lib.theory.criticality"),
    ("Finite width and float range", "noisyprop_lib.theory.finite_width"),
    ("Noisy NNGP kernels and GP regression", "noisyprop_lib.theory.nngp"),
    ("Estimators", "noisyprop_lib.theory.estimate"),
    ("Theory", "noisyprop_lib.theory"),
    ("Monte Carlo simulation", "noisyprop_lib.simulation"),
    ("PyTorch integration", "noisyprop_lib.nn"),
    ("Diagonal linear networks (Part III)", "noisyprop_lib.dln"),
    ("Real-data experiments", "noisyprop_lib.experiments"),
    ("Data", "noisyprop_lib.data"),
    ("Plotting", "noisyprop_lib.plotting"),
    ("Claims", "noisyprop_lib.book.claims"),
    ("Glue", "noisyprop_lib.book.glue"),
    ("Seeds and threads of the build", "noisyprop_lib.book.seeding"),
]
#: namespaces whose names are documented under the namespace (when not at the top level)
NAMESPACES = ["noisyprop_lib.nn", "noisyprop_lib.dln", "noisyprop_lib.experiments", "noisyprop_lib.data",
              "noisyprop_lib.plotting", "noisyprop_lib.book.claims", "noisyprop_lib.book.glue",
              "noisyprop_lib.book.seeding"]
#: section modules opened with their docstring (automodule, no members); the symbolic derivations are a
#: module of their own, documented whole
SYMBOLIC = "noisyprop_lib.theory.symbolic"


def _implementation(obj, fallback: str) -> str:
    module = getattr(obj, "__module__", None)
    return module if isinstance(module, str) and module.startswith("noisyprop_lib") else fallback


def _data_doc(name: str) -> list[str]:
    """The ``#:`` doc comment of the module-level constant *name*, found in the module that assigns it."""
    from sphinx.pycode import ModuleAnalyzer

    for path in sorted((ROOT / "noisyprop_lib").rglob("*.py")):  # read, never import (__main__ runs the CLI)
        docs = ModuleAnalyzer.for_file(str(path), path.stem).find_attr_docs()
        if ("", name) in docs:
            return [line for line in docs[("", name)] if line.strip()]
    return []


def _directive(documented: str, obj) -> list[str]:
    if inspect.isclass(obj):
        lines = [f".. autoclass:: {documented}", "   :members:"]
        if hasattr(obj, "_fields"):  # a NamedTuple: its fields are described in the docstring's Attributes
            lines.append("   :exclude-members: " + ", ".join(obj._fields))
        return lines + [""]
    if callable(obj):
        return [f".. autofunction:: {documented}", ""]
    # a constant: its doc comment lives in the implementation module, not where it is re-exported
    module, _, name = documented.rpartition(".")
    return [f".. py:data:: {name}", f"   :module: {module}", "", *(f"   {line}" for line in _data_doc(name)), ""]


def entries() -> dict[str, list[tuple[str, object]]]:
    """Section title -> [(documented name, object)], each public object once."""
    import noisyprop_lib as npl

    found: dict[str, tuple[str, object, str]] = {}  # documented name -> (name, obj, implementation)
    for name in npl.__all__:
        if name == "__version__":
            continue
        obj = getattr(npl, name)
        home = npl._LAZY.get(name, "noisyprop_lib.theory")  # where a constant without __module__ comes from
        home = "noisyprop_lib.experiments" if home.startswith("noisyprop_lib._") else home
        found[f"noisyprop_lib.{name}"] = (name, obj, _implementation(obj, home))
    top = {id(v[1]) for v in found.values() if not isinstance(v[1], (int, float, str))}
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if id(obj) in top and not isinstance(obj, (int, float, str)):
                continue
            found[f"{namespace}.{name}"] = (name, obj, namespace if namespace.startswith("noisyprop_lib.book")
                                            else _implementation(obj, namespace))
    sections: dict[str, list[tuple[str, object]]] = {title: [] for title, _ in SECTIONS}
    for documented, (_, obj, implementation) in found.items():
        for title, prefix in SECTIONS:
            if implementation == prefix or implementation.startswith(prefix + "."):
                sections[title].append((documented, obj))
                break
        else:
            raise ValueError(f"{documented} (from {implementation}) fits no section of tools/api_page.py")
    return sections


def render() -> str:
    lines = [HEADER]
    for title, prefix in SECTIONS:
        items = entries_cache[title]
        if not items and title != "Theory":
            continue
        lines += [f"## {title}", "", "```{eval-rst}", f".. automodule:: {prefix}", ""]
        if title == "Theory":
            lines += [f".. automodule:: {SYMBOLIC}", "   :members:", "   :member-order: bysource", ""]
        for documented, obj in items:
            lines += _directive(documented, obj)
        while lines[-1] == "":
            lines.pop()
        lines += ["```", ""]
    return "\n".join(lines)


entries_cache: dict = {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args(argv)
    entries_cache.update(entries())
    text = render()
    if args.check:
        if PAGE.read_text() != text:
            print(f"{PAGE.relative_to(ROOT)} is out of date: run python tools/api_page.py")
            return 1
        print(f"{PAGE.relative_to(ROOT)} is up to date")
        return 0
    PAGE.write_text(text)
    print(f"wrote {PAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
