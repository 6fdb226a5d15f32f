"""book/api.md documents every public name once, under the name a user types, and is up to date."""
import importlib.util
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("api_page", ROOT / "tools" / "api_page.py")
P = importlib.util.module_from_spec(_spec)
sys.modules["api_page"] = P
_spec.loader.exec_module(P)


def test_the_api_page_is_up_to_date():
    assert P.main(["--check"]) == 0, "run: .venv/bin/python tools/api_page.py"


def test_every_top_level_name_is_documented_once_under_its_top_level_name():
    import noisyprop_lib as npl

    page = (ROOT / "book" / "api.md").read_text()
    documented = re.findall(r"^\.\. auto(?:function|class):: (\S+)$", page, flags=re.M)
    documented += [f"{m}.{n}" for n, m in re.findall(r"^\.\. py:data:: (\S+)\n   :module: (\S+)$", page, flags=re.M)]
    assert len(documented) == len(set(documented))
    for name in npl.__all__:
        if name != "__version__":
            assert f"noisyprop_lib.{name}" in documented, name
    # the practitioners' entry point and the homonym of the noise law
    assert "noisyprop_lib.critical_init_" in documented and "noisyprop_lib.nn.Dropout" in documented
    assert "noisyprop_lib.dln.train_dln" in documented
