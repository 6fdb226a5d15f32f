"""The book's four interactive figures, each precomputed from the library on a grid of its parameters.

Every function returns an :class:`~noisyprop_lib.book.interactive.InteractiveFigure`; a chapter shows it
beside its static figure. The read-outs are the library's values at the slider settings, so the browser
test (tests/book/test_rendered_book.py) can move a slider and compare the page with the library.
"""
from __future__ import annotations

import math

import numpy as np

from ..theory import (Dropout, correlation_fixed_point_analysis, correlation_map, iterate_residual_maps, overflow_depth,
                      residual_branch_scale, trainable_depth, variance_fixed_point, variance_map,
                      variance_map_slope)
from .interactive import Control, InteractiveFigure, Panel, slider_figure

__all__ = ["keep_probability_explorer", "cobweb_explorer", "overflow_depth_explorer", "residual_explorer",
           "KEEP_GRID", "COBWEB_SIGMA_W2", "COBWEB_KEEP", "COBWEB_SIGMA_B2", "OVERFLOW_KEEP", "OVERFLOW_SIGMA_W2",
           "RESIDUAL_ALPHA2", "RESIDUAL_DEPTHS", "RESIDUAL_KEEP"]

BLUE, ORANGE, GREEN, GREY = "#0072B2", "#D55E00", "#009E73", "#777777"

#: the slider grids (module constants, so that a test can rebuild any setting)
KEEP_GRID = np.round(np.linspace(0.1, 0.95, 18), 3)
COBWEB_SIGMA_W2 = np.round(np.linspace(0.4, 3.0, 14), 2)
COBWEB_KEEP = np.round(np.linspace(0.5, 1.0, 6), 2)
COBWEB_SIGMA_B2 = 0.05
OVERFLOW_KEEP = np.round(np.linspace(0.3, 1.0, 8), 2)
OVERFLOW_SIGMA_W2 = np.round(np.geomspace(0.1, 10.0, 25), 4)
RESIDUAL_ALPHA2 = np.round(np.geomspace(1e-3, 1.0, 13), 6)
RESIDUAL_DEPTHS = np.array([10, 20, 50, 100, 200])
RESIDUAL_KEEP = 0.8


def _finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


def keep_probability_explorer() -> InteractiveFigure:
    """(a) Dropout's keep probability p at sigma_w^2 = 2p: the correlation map with its fixed point, c* and chi."""
    c = np.linspace(-1.0, 1.0, 81)
    fps = correlation_fixed_point_analysis(Dropout(KEEP_GRID))

    def state(p):
        nz = Dropout(p)
        fp = correlation_fixed_point_analysis(nz)
        k = int(np.argmin(np.abs(KEEP_GRID - p)))
        return {"panels": [
            {"curves": [{"x": c, "y": correlation_map(c, 2 * p, 0.0, nz), "label": "map", "color": BLUE},
                        {"x": [-1, 1], "y": [-1, 1], "label": "identity", "color": GREY, "dash": True}],
             "points": [{"x": fp.c_star, "y": fp.c_star, "label": "c*", "color": ORANGE}]},
            {"curves": [{"x": KEEP_GRID, "y": fps.c_star, "label": "c*", "color": ORANGE},
                        {"x": KEEP_GRID, "y": fps.chi, "label": "χ(c*)", "color": GREEN}],
             "points": [{"x": p, "y": fps.c_star[k], "color": ORANGE}, {"x": p, "y": fps.chi[k], "color": GREEN}]}],
            "readouts": {"c*": fp.c_star, "χ(c*)": fp.chi, "ξ_c (layers)": fp.depth_scale,
                         "6 ξ_c (layers)": trainable_depth(nz)}}

    return slider_figure("npl-keep-explorer", [Control("keep probability p", KEEP_GRID, initial=9)],
                         [Panel("correlation map at σ_w² = 2p", "c (input)", "c (output)", xlim=(-1, 1), ylim=(-1, 1)),
                          Panel("fixed point and its slope", "keep probability p", "", xlim=(0.1, 0.95), ylim=(0, 1))],
                         state, alt="A slider for the keep probability p; the correlation map of a ReLU network with "
                                    "dropout at its critical weight variance, its stable fixed point c*, and c* and "
                                    "chi(c*) over p.")


def _cobweb(f, x0, steps, hi):
    xs, ys, x = [x0], [0.0], x0
    for _ in range(steps):
        y = float(f(x))
        xs += [x, y]
        ys += [y, y]
        if not math.isfinite(y) or y > 10 * hi:
            break
        x = y
    return xs, ys


def cobweb_explorer() -> InteractiveFigure:
    """(b) Cobweb plots of the noisy variance map and of the correlation map (ReLU, dropout, sigma_b^2 = 0.05)."""
    q = np.linspace(0.0, 3.0, 61)
    c = np.linspace(-1.0, 1.0, 81)
    sb = COBWEB_SIGMA_B2

    def state(sw2, p):
        nz = Dropout(p)
        qstar = float(variance_fixed_point(sw2, sb, nz, q0=2.5))
        slope = float(variance_map_slope(1.0, sw2, sb, nz))  # affine for ReLU: the same at every q
        bounded = math.isfinite(qstar)
        # without a fixed point the variance grows without bound and the bias stops mattering
        sb_c = sb if bounded else 0.0
        cmap = correlation_map(c, sw2, sb_c, nz)
        fp = correlation_fixed_point_analysis(nz, sigma_w2=sw2, sigma_b2=sb_c)
        qx, qy = _cobweb(lambda v: variance_map(v, sw2, sb, nz), 2.5, 12, 3.0)
        cx, cy = _cobweb(lambda v: correlation_map(v, sw2, sb_c, nz), -0.6, 12, 1.0)
        cy[0] = -1.0
        return {"panels": [
            {"curves": [{"x": q, "y": variance_map(q, sw2, sb, nz), "label": "map", "color": BLUE},
                        {"x": [0, 3], "y": [0, 3], "label": "identity", "color": GREY, "dash": True},
                        {"x": qx, "y": qy, "label": "iterates", "color": ORANGE, "width": 1.2}],
             "points": [{"x": qstar, "y": qstar, "color": GREEN}] if bounded else []},
            {"curves": [{"x": c, "y": cmap, "label": "map", "color": BLUE},
                        {"x": [-1, 1], "y": [-1, 1], "label": "identity", "color": GREY, "dash": True},
                        {"x": cx, "y": cy, "label": "iterates", "color": ORANGE, "width": 1.2}],
             "points": [{"x": fp.c_star, "y": fp.c_star, "color": GREEN}]}],
            "readouts": {"q*": _finite(qstar), "slope of the variance map": slope,
                         "c*": fp.c_star, "χ(c*)": fp.chi}}

    return slider_figure("npl-cobweb-explorer",
                         [Control("σ_w²", COBWEB_SIGMA_W2, initial=4), Control("keep probability p", COBWEB_KEEP, initial=3)],
                         [Panel("variance map (σ_b² = 0.05)", "q (input)", "q (output)", xlim=(0, 3), ylim=(0, 3)),
                          Panel("correlation map", "c (input)", "c (output)", xlim=(-1, 1), ylim=(-1, 1))],
                         state, alt="Sliders for the weight variance and the keep probability; cobweb plots of the noisy "
                                    "variance map and of the correlation map of a ReLU network with dropout, with their "
                                    "fixed points where they exist.")


def overflow_depth_explorer() -> InteractiveFigure:
    """(c) The depth at which the signal leaves float32 (overflow, or underflow), over sigma_w^2, for a keep probability."""

    curves = {}  # one curve per keep probability, shared by its sigma_w^2 settings

    def state(p, sw2):
        nz = Dropout(p)
        if p not in curves:
            curves[p] = [_finite(v) for v in overflow_depth(OVERFLOW_SIGMA_W2, nz, q0=1.0, dtype="float32")]
        depths = curves[p]
        here = _finite(overflow_depth(sw2, nz, q0=1.0, dtype="float32"))
        return {"panels": [{"curves": [{"x": OVERFLOW_SIGMA_W2, "y": depths, "label": f"p = {p:g}", "color": BLUE},
                                       {"x": [2 * p, 2 * p], "y": [1, 1e5], "label": "2p", "color": GREY, "dash": True}],
                            "points": [{"x": sw2, "y": here, "color": ORANGE}] if here is not None else []}],
                "readouts": {"failure depth (layers)": here, "critical σ_w² = 2p": 2 * p}}

    return slider_figure("npl-overflow-explorer",
                         [Control("keep probability p", OVERFLOW_KEEP, initial=3),
                          Control("σ_w²", OVERFLOW_SIGMA_W2, initial=16, fmt=".3g")],
                         [Panel("float32 failure depth (q⁰ = 1)", "σ_w²", "layers", xscale="log", yscale="log",
                                xlim=(0.1, 10.0), ylim=(1, 1e5), legend="right")],
                         state, alt="Sliders for the keep probability and the weight variance; the depth at which the "
                                    "signal of a ReLU dropout network over- or underflows float32, which diverges at "
                                    "the critical weight variance 2p.")


def residual_explorer() -> InteractiveFigure:
    """(d) A noisy ReLU residual network (keep 0.8, critical branch): branch scale alpha^2 and depth L."""
    nz = Dropout(RESIDUAL_KEEP)
    sw2 = 2 * RESIDUAL_KEEP

    def state(a2, depth):
        depth = int(depth)
        q, c = iterate_residual_maps(1.0, 0.5, depth, sw2, noise=nz, alpha=math.sqrt(a2))
        layers = np.arange(depth + 1)
        return {"panels": [{"curves": [{"x": layers, "y": q, "label": "qˡ/q⁰", "color": BLUE}]},
                           {"curves": [{"x": layers, "y": c, "label": "cˡ", "color": ORANGE}]}],
                "readouts": {"growth qᴸ/q⁰": float(q[-1]), "correlation cᴸ": float(c[-1]),
                             "α² for growth 2 at this depth": float(residual_branch_scale(depth, nz, growth=2.0))}}

    return slider_figure("npl-residual-explorer",
                         [Control("branch scale α²", RESIDUAL_ALPHA2, initial=4, fmt=".2g"),
                          Control("depth L (blocks)", RESIDUAL_DEPTHS, initial=2, fmt=".0f")],
                         [Panel("signal", "block l", "qˡ/q⁰", yscale="log", xlim=(0, 200), ylim=(1, 1e3)),
                          Panel("correlation of two inputs (c⁰ = 0.5)", "block l", "cˡ", xlim=(0, 200), ylim=(0, 1))],
                         state, alt="Sliders for the residual branch scale and the depth; the growth of the signal and "
                                    "the correlation of two inputs over the blocks of a ReLU residual network with "
                                    "dropout in its branches.")
