r"""Interactive figures for the static book: sliders over precomputed states, drawn in plain SVG.

A chapter computes every state of a figure at build time (the library's values on a grid of the
parameters), and :func:`slider_figure` turns them into one HTML block: range sliders, one SVG per panel
and a table of read-outs, with a small inline script (no library, no CDN, no kernel) that redraws the
panels when a slider moves. It works in the rendered book offline, in Jupyter and in Colab.

Each state is a dict::

    {"panels": [{"curves": [{"x": [...], "y": [...], "label": "map", "color": "#0072B2", "dash": False}],
                 "points": [{"x": 0.3, "y": 0.3, "label": "c*", "color": "#D55E00"}]}],
     "readouts": {"c*": 0.2839, "xi_c": 0.9655}}

with one entry of ``panels`` per panel of the figure. The block's ``data-state`` attribute names the
state shown (the slider indices joined by commas), and each read-out cell carries ``data-readout``,
so that a browser test can move a slider and read the values back.
"""
from __future__ import annotations

import html
import itertools
import json
import math
import re
from typing import Callable, Sequence

__all__ = ["Control", "Panel", "InteractiveFigure", "slider_figure"]


class Control:
    """One slider: a name shown to the reader, the grid of values and the index shown first."""

    def __init__(self, label: str, values: Sequence[float], initial: int = 0, fmt: str = ".3g"):
        vals = [float(v) for v in values]
        if not vals or not all(math.isfinite(v) for v in vals):
            raise ValueError(f"values of control {label!r} must be a non-empty sequence of finite numbers, got {values!r}")
        if not 0 <= int(initial) < len(vals):
            raise ValueError(f"initial of control {label!r} must lie in [0, {len(vals) - 1}], got {initial!r}")
        format(vals[0], fmt)  # a bad format raises here, not in the browser
        self.label, self.values, self.initial, self.fmt = str(label), vals, int(initial), fmt

    def spec(self) -> dict:
        return {"label": self.label, "values": self.values, "initial": self.initial,
                "shown": [format(v, self.fmt) for v in self.values]}


class Panel:
    """The axes of one panel: title, labels, scales ("linear" or "log") and limits."""

    def __init__(self, title: str = "", xlabel: str = "", ylabel: str = "", *, xscale: str = "linear",
                 yscale: str = "linear", xlim: tuple | None = None, ylim: tuple | None = None, legend: str = "left"):
        for name, scale in (("xscale", xscale), ("yscale", yscale)):
            if scale not in ("linear", "log"):
                raise ValueError(f"{name} must be 'linear' or 'log', got {scale!r}")
        for name, lim in (("xlim", xlim), ("ylim", ylim)):
            if lim is not None and not (len(lim) == 2 and all(math.isfinite(float(v)) for v in lim) and lim[0] < lim[1]):
                raise ValueError(f"{name} must be (low, high) with low < high, got {lim!r}")
        self.title, self.xlabel, self.ylabel, self.xscale, self.yscale = title, xlabel, ylabel, xscale, yscale
        if legend not in ("left", "right"):
            raise ValueError(f"legend must be 'left' or 'right' (the upper corner), got {legend!r}")
        self.xlim, self.ylim, self.legend = xlim, ylim, legend

    def spec(self) -> dict:
        return {"title": self.title, "xlabel": self.xlabel, "ylabel": self.ylabel, "xscale": self.xscale,
                "yscale": self.yscale, "xlim": self.xlim, "ylim": self.ylim, "legend": self.legend}


def _round(x, digits: int = 6):
    """Numbers to ``digits`` significant digits (smaller pages); non-finite values become None (gaps)."""
    if isinstance(x, dict):
        return {k: _round(v, digits) for k, v in x.items()}
    if hasattr(x, "tolist") and getattr(x, "ndim", 0) > 0:  # numpy arrays
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [_round(v, digits) for v in x]
    if isinstance(x, bool) or isinstance(x, str) or x is None:
        return x
    v = float(x)
    if not math.isfinite(v):
        return None
    return float(f"{v:.{digits}g}")


class InteractiveFigure:
    """An interactive figure: renders as HTML in the book, Jupyter and Colab (``_repr_html_``)."""

    def __init__(self, figure_id: str, controls: list, panels: list, states: dict, readout_fmt: str, alt: str):
        self.figure_id, self.controls, self.panels, self.states = figure_id, controls, panels, states
        self.readout_fmt, self.alt = readout_fmt, alt

    def state(self, *indices: int) -> dict:
        """The precomputed state at these slider indices."""
        return self.states[",".join(str(int(i)) for i in indices)]

    def _repr_html_(self) -> str:
        data = {"controls": [c.spec() for c in self.controls], "panels": [p.spec() for p in self.panels],
                "states": self.states, "fmt": self.readout_fmt}
        initial = ",".join(str(c.initial) for c in self.controls)
        sliders = "".join(
            f'<label class="npl-control">{html.escape(c.label)} '
            f'<input type="range" min="0" max="{len(c.values) - 1}" step="1" value="{c.initial}" data-control="{k}" '
            f'aria-label="{html.escape(c.label, quote=True)}"> <output>{html.escape(c.spec()["shown"][c.initial])}</output></label>'
            for k, c in enumerate(self.controls))
        names = list(self.states[initial]["readouts"])
        rows = "".join(f'<tr><th>{html.escape(n)}</th><td data-readout="{html.escape(n, quote=True)}"></td></tr>' for n in names)
        return (f'<div class="npl-interactive" id="{html.escape(self.figure_id, quote=True)}" data-state="{initial}" '
                f'role="figure" aria-label="{html.escape(self.alt, quote=True)}" '
                f"data-npl='{html.escape(json.dumps(data, separators=(',', ':')), quote=True)}'>"
                f'<div class="npl-controls" style="display:flex;flex-wrap:wrap;gap:0.4em 1.5em">{sliders}</div>'
                f'<div class="npl-panels" style="display:flex;flex-wrap:wrap;gap:8px"></div>'
                f'<table class="npl-readouts">{rows}</table></div>'
                f"<script>{_JS}</script>")


def slider_figure(figure_id: str, controls: Sequence[Control], panels: Sequence[Panel],
                  state: Callable[..., dict], *, readout_fmt: str = ".4g", alt: str = "") -> InteractiveFigure:
    """Precompute ``state(*values)`` on the grid of the controls (one or two) and build the figure.

    Parameters
    ----------
    figure_id : str
        An HTML id, unique on the page (letters, digits, ``-``).
    controls : sequence of Control
        One or two sliders; every combination of their values is precomputed.
    panels : sequence of Panel
    state : callable
        ``state(v1[, v2])`` returns the dict described in the module docstring, with one entry of
        ``"panels"`` per panel and the same ``"readouts"`` names for every state.
    readout_fmt : str
        Format of the read-out values (a Python format spec: ``".4g"``; the page shows the same digits).
    alt : str
        What the figure shows, for readers who cannot see it.
    """
    if not re.fullmatch(r"[A-Za-z][\w-]*", str(figure_id)):
        raise ValueError(f"figure_id must be an HTML id (a letter, then letters, digits, - or _), got {figure_id!r}")
    controls, panels = list(controls), list(panels)
    if not 1 <= len(controls) <= 2 or not all(isinstance(c, Control) for c in controls):
        raise ValueError(f"controls must be one or two Control objects, got {controls!r}")
    if not panels or not all(isinstance(p, Panel) for p in panels):
        raise ValueError(f"panels must be a non-empty sequence of Panel objects, got {panels!r}")
    if not re.fullmatch(r"\.(\d+)([gef])", str(readout_fmt)):
        raise ValueError(f"readout_fmt must be '.Ng', '.Ne' or '.Nf', got {readout_fmt!r}")
    states, names = {}, None
    for idx in itertools.product(*(range(len(c.values)) for c in controls)):
        s = state(*(c.values[i] for c, i in zip(controls, idx)))
        if len(s.get("panels", ())) != len(panels):
            raise ValueError(f"state{idx} has {len(s.get('panels', ()))} panels, the figure {len(panels)}")
        if names is None:
            names = list(s["readouts"])
        elif list(s["readouts"]) != names:
            raise ValueError(f"state{idx} has read-outs {list(s['readouts'])}, the first state {names}")
        states[",".join(map(str, idx))] = _round(s)
    return InteractiveFigure(str(figure_id), controls, panels, states, readout_fmt, alt)


# The renderer: draws every not yet drawn .npl-interactive block on the page, once, and redraws a block's
# panels and read-outs when one of its sliders moves. Plain DOM and SVG.
_JS = r"""
(function () {
  const NS = "http://www.w3.org/2000/svg";
  const W = 330, H = 230, L = 52, R = 10, T = 22, B = 40;
  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function fmt(v, spec) {
    if (v === null || v === undefined) return "–";
    const m = /^\.(\d+)([gef])$/.exec(spec); const n = +m[1];
    if (m[2] === "f") return v.toFixed(n);
    if (m[2] === "e") return v.toExponential(n);
    return String(Number(Number(v).toPrecision(n)));
  }
  function extent(states, p, axis, log) {
    let lo = Infinity, hi = -Infinity;
    for (const key in states) {
      const panel = states[key].panels[p];
      for (const c of panel.curves || []) for (const v of c[axis]) if (v !== null && (!log || v > 0)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
      for (const q of panel.points || []) { const v = q[axis]; if (v !== null && (!log || v > 0)) { lo = Math.min(lo, v); hi = Math.max(hi, v); } }
    }
    if (!isFinite(lo)) { lo = log ? 1 : 0; hi = log ? 10 : 1; }
    if (lo === hi) { hi = lo + (log ? lo : 1); }
    return [lo, hi];
  }
  function scale(lim, log, a, b) {
    const f = log ? Math.log10 : (v => v);
    const l0 = f(lim[0]), l1 = f(lim[1]);
    return v => (v === null || (log && v <= 0)) ? null : a + (f(v) - l0) / (l1 - l0) * (b - a);
  }
  function ticks(lim, log) {
    if (log) {
      const out = [];
      for (let e = Math.ceil(Math.log10(lim[0])); e <= Math.floor(Math.log10(lim[1])); e++) out.push(Math.pow(10, e));
      const step = Math.max(1, Math.ceil(out.length / 6));
      return out.filter((_, i) => i % step === 0);
    }
    const span = lim[1] - lim[0], raw = span / 5, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map(s => s * mag).find(s => span / s <= 6);
    const out = [];
    for (let v = Math.ceil(lim[0] / step) * step; v <= lim[1] + 1e-9 * span; v += step) out.push(+v.toPrecision(10));
    return out;
  }
  function tickLabel(v, log) {
    if (log) { const e = Math.round(Math.log10(v)); return Math.abs(e) <= 2 ? String(+v.toPrecision(3)) : "1e" + e; }
    return String(+v.toPrecision(4));
  }
  function drawPanel(svg, spec, state, lims) {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    const xs = scale(lims.x, spec.xscale === "log", L, W - R), ys = scale(lims.y, spec.yscale === "log", H - B, T);
    svg.appendChild(el("rect", {x: L, y: T, width: W - L - R, height: H - T - B, fill: "none", stroke: "#999"}));
    for (const t of ticks(lims.x, spec.xscale === "log")) {
      const x = xs(t); svg.appendChild(el("line", {x1: x, x2: x, y1: H - B, y2: H - B + 4, stroke: "#555"}));
      svg.appendChild(el("text", {x: x, y: H - B + 16, "text-anchor": "middle", "font-size": 11}, tickLabel(t, spec.xscale === "log")));
    }
    for (const t of ticks(lims.y, spec.yscale === "log")) {
      const y = ys(t); svg.appendChild(el("line", {x1: L - 4, x2: L, y1: y, y2: y, stroke: "#555"}));
      svg.appendChild(el("text", {x: L - 6, y: y + 4, "text-anchor": "end", "font-size": 11}, tickLabel(t, spec.yscale === "log")));
    }
    svg.appendChild(el("text", {x: (L + W - R) / 2, y: H - 6, "text-anchor": "middle", "font-size": 12}, spec.xlabel));
    svg.appendChild(el("text", {x: 13, y: (T + H - B) / 2, "text-anchor": "middle", "font-size": 12,
                                transform: `rotate(-90 13 ${(T + H - B) / 2})`}, spec.ylabel));
    svg.appendChild(el("text", {x: L, y: 14, "font-size": 12, "font-weight": "bold"}, spec.title));
    const clip = "npl-clip-" + Math.random().toString(36).slice(2);
    const defs = el("defs", {}); const cp = el("clipPath", {id: clip});
    cp.appendChild(el("rect", {x: L, y: T, width: W - L - R, height: H - T - B})); defs.appendChild(cp); svg.appendChild(defs);
    const g = el("g", {"clip-path": `url(#${clip})`}); svg.appendChild(g);
    let legendY = T + 14;
    const lx = spec.legend === "right" ? W - R - 92 : L + 8;
    for (const c of state.curves || []) {
      let d = "", pen = false;
      for (let i = 0; i < c.x.length; i++) {
        const x = xs(c.x[i]), y = ys(c.y[i]);
        if (x === null || y === null) { pen = false; continue; }
        d += (pen ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1); pen = true;
      }
      g.appendChild(el("path", {d: d, fill: "none", stroke: c.color || "#0072B2", "stroke-width": c.width || 1.8,
                                "stroke-dasharray": c.dash ? "5 4" : "none", "data-label": c.label || ""}));
      if (c.label) {
        svg.appendChild(el("line", {x1: lx, x2: lx + 18, y1: legendY - 4, y2: legendY - 4, stroke: c.color || "#0072B2",
                                    "stroke-width": 2, "stroke-dasharray": c.dash ? "5 4" : "none"}));
        svg.appendChild(el("text", {x: lx + 22, y: legendY, "font-size": 11}, c.label));
        legendY += 14;
      }
    }
    for (const q of state.points || []) {
      const x = xs(q.x), y = ys(q.y);
      if (x === null || y === null) continue;
      g.appendChild(el("circle", {cx: x, cy: y, r: 4.5, fill: q.color || "#D55E00", "data-label": q.label || ""}));
    }
  }
  function render(div) {
    if (div.dataset.nplDrawn) return;
    div.dataset.nplDrawn = "1";
    const data = JSON.parse(div.getAttribute("data-npl"));
    const box = div.querySelector(".npl-panels");
    const svgs = data.panels.map(() => { const s = el("svg", {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img"}); box.appendChild(s); return s; });
    const lims = data.panels.map((p, k) => ({
      x: p.xlim || extent(data.states, k, "x", p.xscale === "log"),
      y: p.ylim || extent(data.states, k, "y", p.yscale === "log")}));
    const inputs = Array.from(div.querySelectorAll("input[data-control]"));
    function update() {
      const key = inputs.map(i => i.value).join(",");
      const state = data.states[key];
      div.setAttribute("data-state", key);
      inputs.forEach((inp, k) => { inp.parentElement.querySelector("output").textContent = data.controls[k].shown[+inp.value]; });
      data.panels.forEach((p, k) => drawPanel(svgs[k], p, state.panels[k], lims[k]));
      div.querySelectorAll("td[data-readout]").forEach(td => { td.textContent = fmt(state.readouts[td.dataset.readout], data.fmt); });
    }
    inputs.forEach(i => i.addEventListener("input", update));
    update();
  }
  function renderAll() { document.querySelectorAll(".npl-interactive").forEach(render); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", renderAll); else renderAll();
})();
"""
