"""The README's library examples run, and the values their comments promise are what the code returns."""
import math
import pathlib
import re

import pytest

README = (pathlib.Path(__file__).resolve().parents[2] / "README.md").read_text()
SECTION = README.split("## Using the library", 1)[1].split("\n## ", 1)[0]
BLOCKS = re.findall(r"```python\n(.*?)```", SECTION, flags=re.S)
# a top-level `expression   # 1.2  (...)`, `# 0.96553...` or `# ~0.284`: the comment's first number is the promise
PROMISE = re.compile(r"^(?P<expr>[^\s#][^#]*?)\s+#\s+(?P<tilde>~)?(?P<num>-?\d+(?:\.\d+)?(?:e-?\d+)?)(?P<dots>\.\.\.)?(\s|$)")
RAISES = re.compile(r"^(?P<stmt>[^\s#][^#]*?)\s+#\s+raises (?P<exc>\w+)")


def _promise(value, num, tilde, dots, line):
    promised = float(num)
    decimals = len(num.split(".")[1]) if "." in num else 0
    if tilde:  # ~x: a Monte Carlo value, within 2 %
        assert float(value) == pytest.approx(promised, rel=0.02), line
    elif dots:  # 0.96553...: truncated, so the value starts with these digits
        assert math.floor(float(value) * 10**decimals + 1e-9) == round(promised * 10**decimals), line
    else:  # rounded to the digits shown
        assert float(value) == pytest.approx(promised, abs=0.51 * 10**-decimals), line


def _instrument(block):
    out, promises = [], 0
    for line in block.splitlines():
        m, r = PROMISE.match(line), RAISES.match(line)
        if r:
            out.append(f"with _raises(npl.{r['exc']}):\n    {r['stmt']}")
        elif m and not line.startswith(("import ", "from ")) and "=" not in m["expr"].replace("==", ""):
            out.append(f"_promise({m['expr']}, {m['num']!r}, {bool(m['tilde'])}, {bool(m['dots'])}, {line!r})")
            promises += 1
        else:
            out.append(line)
    return "\n".join(out), promises


def test_the_readme_has_library_examples():
    assert len(BLOCKS) >= 2
    assert "critical_init_" in SECTION and "Layer(" in SECTION
    assert sum(_instrument(b)[1] for b in BLOCKS) >= 8


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_block_runs_and_keeps_its_promises(block):
    source, _ = _instrument(block)
    exec(compile(source, "README.md", "exec"), {"_promise": _promise, "_raises": pytest.raises})  # noqa: S102
