"""The public API: every name of release 0.1.0 still resolves, old module paths warn, and the theory needs no torch."""
import importlib
import pathlib
import subprocess
import sys
import warnings

import pytest

import noisyprop_lib as npl

API_FILE = pathlib.Path(__file__).parent / "fixtures" / "api_0_1_0.txt"
OLD_API = [tuple(line.split(":")) for line in API_FILE.read_text().splitlines() if line and not line.startswith("#")]
# the flat module paths of 0.1.0 that are now deprecation shims (the others are packages or kept modules)
DEPRECATED = {"activations", "noise", "meanfield", "criticality", "nngp", "symbolic", "simulate", "ensemble",
              "claims", "glue", "seeding"}


def test_the_inventory_is_the_whole_old_api():
    assert len(OLD_API) == 251
    assert {m for m, _ in OLD_API} >= {"noisyprop_lib", "noisyprop_lib.nn", "noisyprop_lib.dln"}


@pytest.mark.parametrize("module,name", OLD_API, ids=[f"{m}.{n}" for m, n in OLD_API])
def test_every_old_name_resolves(module, name):
    short = module.rpartition(".")[2]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = getattr(importlib.import_module(module), name)
    assert value is not None or name == "__version__"
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    if module != "noisyprop_lib" and short in DEPRECATED:
        assert deprecations, f"{module}.{name} resolved without a DeprecationWarning"
        assert "deprecated" in str(deprecations[0].message) and name in str(deprecations[0].message)
    else:
        assert not deprecations, [str(w.message) for w in deprecations]


def test_old_paths_give_the_same_objects_as_the_new_ones():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from noisyprop_lib.criticality import depth_scale  # the 0.1.0 paths, through the shims
        from noisyprop_lib.simulate import propagate
        from noisyprop_lib.claims import claim_close
    assert sum(issubclass(w.category, DeprecationWarning) for w in caught) == 3
    assert depth_scale is npl.depth_scale is npl.theory.depth_scale
    assert propagate is npl.propagate is npl.simulation.propagate
    assert claim_close is npl.book.claims.claim_close


def test_an_unknown_name_on_an_old_path_is_an_attribute_error():
    import noisyprop_lib.criticality as old

    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        old.not_a_name  # noqa: B018
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        npl.not_a_name  # noqa: B018


def test_the_top_level_holds_what_practitioners_come_for():
    import torch  # noqa: F401  (these names are torch-backed)

    assert npl.critical_init_ is npl.nn.critical_init_
    assert npl.NoisyMLP is npl.nn.NoisyMLP
    # the homonyms: the torch layer stays in nn, the noise law is at the top level
    assert npl.Dropout is npl.theory.Dropout and npl.nn.Dropout is not npl.Dropout
    for name in npl.__all__:
        assert getattr(npl, name) is not None or name == "__version__"


@pytest.mark.parametrize("code", [
    "import noisyprop_lib as npl; npl.critical_sigma_w2(npl.Dropout(0.6))",
    "import noisyprop_lib as npl; npl.depth_scale(npl.Dropout(0.6)); npl.variance_map(1.0, 2.0, 0.0)",
    "import noisyprop_lib.criticality as C; C.chi1",
])
def test_the_theory_does_not_import_torch(code):
    out = subprocess.run([sys.executable, "-W", "ignore::DeprecationWarning", "-c",
                          code + "; import sys; print('torch' in sys.modules, 'matplotlib' in sys.modules, "
                          "'sympy' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"], out.stdout + out.stderr
