"""Check the library's architecture: module and function sizes, import cycles, layering, private imports.

    python tools/check_architecture.py            # prints a report; exit 1 if a rule is broken

Rules (issue 14, the one-step redesign):

* no module of ``noisyprop_lib`` over ``MAX_MODULE_LINES`` lines;
* no function whose body (docstring excluded) is over ``MAX_FUNCTION_LINES`` lines;
* no import cycle between the library's modules. Every ``import`` statement counts, also the ones inside
  functions (a cycle through a function-local import is still a cycle of the design). A module's import of
  its own parent packages is implicit in Python and not an edge;
* data flows one way, ``theory -> simulation, nn, dln -> experiments -> book``: a module imports only from
  its own layer or the layers below it (see ``LAYERS``);
* no private name (``_x``), and no private module, imported from another subpackage.

The deprecation shims of the 0.1.0 paths and the top-level ``__init__`` resolve names with ``importlib``
strings, so they add no edges: they sit above every layer by construction.
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "noisyprop_lib"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80

#: layer of each top-level part of the package; a module may import from its layer or lower ones
LAYERS = {
    "_validation": 0, "_progress": 0, "_version": 0, "_project": 0, "_shims": 0,
    "theory": 1,
    "simulation": 2, "nn": 2, "dln": 2, "data": 2, "plotting": 2,
    "experiments": 3,
    "book": 4,
}


@dataclass
class Module:
    name: str  # dotted, e.g. noisyprop_lib.theory.meanfield
    path: Path
    is_package: bool
    tree: ast.Module = field(repr=False)

    @property
    def part(self) -> str:
        """The top-level part (subpackage or module) the module belongs to, e.g. ``theory``."""
        parts = self.name.split(".")
        return parts[1] if len(parts) > 1 else ""


def load_modules(root: Path = ROOT) -> dict[str, Module]:
    modules = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        rel = path.relative_to(root).with_suffix("")
        parts = list(rel.parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        name = ".".join(parts)
        modules[name] = Module(name, path, is_package, ast.parse(path.read_text(), str(path)))
    return modules


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(module: Module, modules: dict[str, Module]) -> list[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` for every import of the library in *module*."""
    out = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == PACKAGE]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, node)
            if target.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in modules:  # `from . import activations` imports a module
                    out.append((sub, None, node.lineno))
                else:
                    out.append((target, alias.name, node.lineno))
    return out


def _is_ancestor(pkg: str, name: str) -> bool:
    return name.startswith(pkg + ".")


def import_graph(modules: dict[str, Module]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, module in modules.items():
        for target, _, _ in imports(module, modules):
            if target in modules and target != name and not _is_ancestor(target, name):
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(1000, 10 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def function_lengths(module: Module) -> list[tuple[str, int, int]]:
    """``(qualified name, first line, body lines without the docstring)`` of every function."""
    out = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = child.body
                if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
                        and isinstance(body[0].value.value, str):
                    body = body[1:]
                n = (body[-1].end_lineno - body[0].lineno + 1) if body else 0
                out.append((f"{prefix}{child.name}", child.lineno, n))
                walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")

    walk(module.tree, "")
    return out


def problems(root: Path = ROOT) -> list[str]:
    modules = load_modules(root)
    found = []
    for name, module in modules.items():
        n = len(module.path.read_text().splitlines())
        if n > MAX_MODULE_LINES:
            found.append(f"module too long: {module.path.relative_to(root)} has {n} lines (at most {MAX_MODULE_LINES})")
        for fn, line, length in function_lengths(module):
            if length > MAX_FUNCTION_LINES:
                found.append(f"function too long: {module.path.relative_to(root)}:{line} {fn} has {length} body lines "
                             f"(at most {MAX_FUNCTION_LINES})")
    for component in cycles(import_graph(modules)):
        found.append("import cycle: " + " <-> ".join(component))
    for name, module in modules.items():
        if module.part not in LAYERS:  # the top-level __init__ and the deprecation shims
            continue
        for target, imported, line in imports(module, modules):
            tpart = target.split(".")[1] if "." in target else ""
            where = f"{module.path.relative_to(root)}:{line}"
            if tpart in LAYERS and LAYERS[tpart] > LAYERS[module.part]:
                found.append(f"layering: {where} ({module.part}, layer {LAYERS[module.part]}) imports {target} "
                             f"({tpart}, layer {LAYERS[tpart]})")
            if tpart and tpart != module.part and not tpart.startswith("_"):
                private_module = any(p.startswith("_") and p != "__init__" for p in target.split(".")[2:])
                if private_module or (imported or "").startswith("_"):
                    found.append(f"private import across subpackages: {where} imports "
                                 f"{target}{'.' + imported if imported else ''}")
    return found


def report(root: Path = ROOT) -> str:
    modules = load_modules(root)
    rows = sorted(((len(m.path.read_text().splitlines()), str(m.path.relative_to(root))) for m in modules.values()),
                  reverse=True)
    longest = max((length, f"{m.path.relative_to(root)}:{line} {fn}") for m in modules.values()
                  for fn, line, length in function_lengths(m))
    lines = [f"{len(modules)} modules, {sum(r[0] for r in rows)} lines; longest module {rows[0][1]} ({rows[0][0]}), "
             f"longest function body {longest[1]} ({longest[0]})"]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    print(report())
    found = problems()
    print("\n".join(found) or "no architecture problems: module sizes, function sizes, cycles, layers, privates")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
