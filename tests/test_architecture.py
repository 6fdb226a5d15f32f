"""The library's architecture rules (tools/check_architecture.py) hold, and the checker does catch violations."""
import importlib.util
import pathlib
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_architecture", ROOT / "tools" / "check_architecture.py")
A = importlib.util.module_from_spec(_spec)
sys.modules["check_architecture"] = A  # dataclasses look their module up
_spec.loader.exec_module(A)


def test_the_library_keeps_the_rules():
    assert A.problems() == []


def _tree(tmp_path, files):
    for rel, text in files.items():
        path = tmp_path / "noisyprop_lib" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return tmp_path


def test_the_checker_finds_a_cycle_through_a_function_local_import(tmp_path):
    root = _tree(tmp_path, {
        "__init__.py": "",
        "theory/__init__.py": "",
        "theory/a.py": "from .b import g\n",
        "theory/b.py": "def g():\n    from .a import x\n    return x\n",
    })
    assert A.problems(root) == ["import cycle: noisyprop_lib.theory.a <-> noisyprop_lib.theory.b"]


def test_the_checker_finds_long_modules_long_functions_layering_and_private_imports(tmp_path):
    body = "\n".join(f"    x{i} = {i}" for i in range(A.MAX_FUNCTION_LINES + 1))
    root = _tree(tmp_path, {
        "__init__.py": "",
        "theory/__init__.py": "",
        "theory/long.py": "\n" * A.MAX_MODULE_LINES + "x = 1\n",
        "theory/uses_sim.py": "from ..simulation.run import f\n",
        "simulation/__init__.py": "",
        "simulation/run.py": f'def f():\n    """doc"""\n{body}\n',
        "simulation/peek.py": "from ..theory._moments import prepare\nfrom ..theory.long import _hidden\n",
        "theory/_moments.py": "prepare = 1\n",
    })
    found = A.problems(root)
    assert any(p.startswith("module too long: noisyprop_lib/theory/long.py") for p in found)
    assert any("function too long" in p and "run.py:1 f has 81 body lines" in p for p in found)
    assert any(p.startswith("layering: noisyprop_lib/theory/uses_sim.py:1") for p in found)
    assert sum(p.startswith("private import across subpackages: noisyprop_lib/simulation/peek.py") for p in found) == 2
    assert len(found) == 5, found
