"""The interactive figures: precomputed states, their read-outs against the library, bad input."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import noisyprop_lib as npl
from noisyprop_lib.book import interactive as I
from noisyprop_lib.book import interactive_figures as F


def _data(fig):
    m = re.search(r"data-npl='([^']*)'", fig._repr_html_())
    import html
    return json.loads(html.unescape(m.group(1)))


def _demo(**kw):
    return I.slider_figure("demo", [I.Control("a", [1.0, 2.0, 3.0], initial=1)], [I.Panel("t", "x", "y")],
                           lambda a: {"panels": [{"curves": [{"x": [0, 1], "y": [0, a]}]}], "readouts": {"a^2": a * a}},
                           **kw)


def test_every_state_is_precomputed_and_rendered():
    fig = _demo()
    data = _data(fig)
    assert sorted(data["states"]) == ["0", "1", "2"] and data["states"]["2"]["readouts"] == {"a^2": 9.0}
    html = fig._repr_html_()
    assert 'id="demo"' in html and 'data-state="1"' in html and 'data-readout="a^2"' in html
    # one inline script, nothing fetched: the only URL is the SVG namespace
    script = html.split("<script>")[1]
    assert html.count("<script>") == 1 and " src=" not in html
    assert re.findall(r"\w+://[^\s\"']+", script) == ["http://www.w3.org/2000/svg"]
    two = I.slider_figure("two", [I.Control("a", [1, 2]), I.Control("b", [5, 6, 7])], [I.Panel()],
                          lambda a, b: {"panels": [{"curves": []}], "readouts": {"ab": a * b}})
    assert sorted(two.states) == [f"{i},{j}" for i in range(2) for j in range(3)]
    assert two.state(1, 2)["readouts"]["ab"] == 14.0


def test_non_finite_values_become_gaps_and_numbers_are_rounded():
    assert I._round([1.0, math.inf, float("nan"), 1 / 3]) == [1.0, None, None, 0.333333]
    assert I._round(np.array([2.0, np.inf])) == [2.0, None]


@pytest.mark.parametrize("call, match", [
    (lambda: I.Control("a", []), "non-empty sequence of finite numbers"),
    (lambda: I.Control("a", [1.0, math.nan]), "finite numbers"),
    (lambda: I.Control("a", [1.0], initial=3), r"initial of control 'a' must lie in \[0, 0\]"),
    (lambda: I.Panel(xscale="logit"), "xscale must be 'linear' or 'log'"),
    (lambda: I.Panel(ylim=(2, 1)), "ylim must be"),
    (lambda: I.Panel(legend="middle"), "legend must be"),
    (lambda: I.slider_figure("1bad", [I.Control("a", [1])], [I.Panel()], lambda a: {}), "figure_id must be an HTML id"),
    (lambda: I.slider_figure("ok", [], [I.Panel()], lambda: {}), "one or two Control"),
    (lambda: I.slider_figure("ok", [I.Control("a", [1])], [I.Panel()], lambda a: {"panels": [], "readouts": {}}),
     "has 0 panels, the figure 1"),
    (lambda: _demo(readout_fmt="d"), "readout_fmt must be"),
])
def test_bad_input_is_refused_with_the_parameter_named(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_books_figures_show_the_librarys_values():
    """Each figure's read-outs at two settings are the library's values, computed here independently."""
    keep = F.keep_probability_explorer()
    for k in (0, len(F.KEEP_GRID) - 1):
        p = float(F.KEEP_GRID[k])
        r = keep.state(k)["readouts"]
        assert r["c*"] == pytest.approx(float(npl.correlation_fixed_point(npl.Dropout(p))), rel=1e-5)
        assert r["6 ξ_c (layers)"] == pytest.approx(6 * float(npl.depth_scale(npl.Dropout(p))), rel=1e-5)
    cob = F.cobweb_explorer()
    r = cob.state(0, 0)["readouts"]                     # sigma_w^2 = 0.4 < 2p = 1: a fixed point
    assert r["q*"] == pytest.approx(0.05 / (1 - 0.4 / (2 * 0.5)), rel=1e-5)
    last = cob.state(len(F.COBWEB_SIGMA_W2) - 1, 0)["readouts"]   # sigma_w^2 = 3 > 2p: no fixed point
    assert last["q*"] is None and last["slope of the variance map"] == pytest.approx(3.0)
    over = F.overflow_depth_explorer()
    r = over.state(0, 0)["readouts"]
    assert r["failure depth (layers)"] == pytest.approx(
        float(npl.overflow_depth(float(F.OVERFLOW_SIGMA_W2[0]), npl.Dropout(float(F.OVERFLOW_KEEP[0])))), rel=1e-5)
    res = F.residual_explorer()
    a2, depth = float(F.RESIDUAL_ALPHA2[-1]), int(F.RESIDUAL_DEPTHS[0])
    r = res.state(len(F.RESIDUAL_ALPHA2) - 1, 0)["readouts"]
    # ReLU at its critical branch variance: every block multiplies q by 1 + alpha^2
    assert r["growth qᴸ/q⁰"] == pytest.approx((1 + a2) ** depth, rel=1e-5)
