"""The rendered book in a real browser (``make check-browser``, after ``make book``; marker ``browser``).

Serves ``_build/html`` on localhost and opens every page in headless Chromium (Debian's
``/usr/bin/chromium``, driven by Playwright; no browser download). On every page: no console errors
or uncaught exceptions, no failed request; MathJax has finished (``MathJax.startup.promise``), every
math element is typeset and none has an error (``mjx-merror``); every image loaded with a non-zero
natural size; every internal link points to an existing file and, if it has one, an existing anchor;
on chapter pages the Colab launch button opens the chapter's notebook in the repository, and no other
page has one. A full-page screenshot of each page goes to ``_build/screenshots/``.
"""
from __future__ import annotations

import base64
import functools
import http.server
import math
import os
import re
import shutil
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("NOISYPROP_HTML", ROOT / "_build" / "html"))
SHOTS = SITE.parent / "screenshots"
CHROMIUM = os.environ.get("NOISYPROP_CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.browser

PAGES = sorted(str(p.relative_to(SITE)) for p in SITE.rglob("*.html")
               if not p.relative_to(SITE).parts[0].startswith("_")) if SITE.is_dir() else []


def _repository_url():
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"].rstrip("/")


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids = set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k == "id" or (k == "name" and tag == "a"):
                self.ids.add(v)


@functools.lru_cache(maxsize=None)
def anchors(path: Path) -> frozenset:
    p = _Ids()
    p.feed(path.read_text(errors="replace"))
    return frozenset(p.ids)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _serve(site: Path):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"


@pytest.fixture(scope="module")
def server():
    httpd, url = _serve(SITE)
    yield url
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install -e .[browser] (make check-browser)")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def test_the_book_is_built():
    assert SITE.is_dir() and PAGES, f"no built book in {SITE}: run `make book` first"
    assert "intro.html" in PAGES or "book/intro.html" in PAGES


MATHJAX_DONE = """async () => {
  const math = document.querySelectorAll('.math').length;
  if (!math) return {math: 0};
  const t0 = Date.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() - t0 > 60000) return {math, loaded: false};
    await new Promise(r => setTimeout(r, 100));
  }
  await MathJax.startup.promise;
  const untypeset = Array.from(document.querySelectorAll('.math')).filter(e => !e.querySelector('mjx-container')).length;
  return {math, loaded: true, untypeset, errors: document.querySelectorAll('mjx-merror').length,
          errorText: Array.from(document.querySelectorAll('mjx-merror')).slice(0, 3).map(e => e.textContent)};
}"""

IMAGES = """() => Array.from(document.images).map(i => ({src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0,
                                                   w: i.naturalWidth, h: i.naturalHeight}))"""


#: what a reader sees that a textbook should not show (CONTRIBUTING.md, "Reading the page"), measured on the
#: visible part of the page: collapsed "show code" toggles are not visible
READING = r"""() => {
  const closedDetails = e => { for (let d = e.closest('details'); d; d = d.parentElement && d.parentElement.closest('details'))
                                 if (!d.open) return true; return false; };
  const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== 'hidden' && !closedDetails(e);
  const main = document.querySelector('article') || document.querySelector('main') || document.body;
  const longest = t => t.split('\n').reduce((a, b) => a.length >= b.length ? a : b, '').trim().slice(0, 70);
  const out = {};
  const pres = Array.from(main.querySelectorAll('div.cell_input pre')).filter(shown);
  out.code_total = pres.length;
  out.code_scroll = pres.filter(p => p.scrollWidth > p.clientWidth + 1).map(p => longest(p.textContent));
  const code = pres.map(p => p.textContent.replace(/\s+/g, ' ')).join(' ');
  out.claim_twice = Array.from(main.querySelectorAll('.npl-claim')).filter(shown).map(c => {
      const t = c.cloneNode(true);
      t.querySelectorAll('.npl-claim-mark, .npl-claim-detail').forEach(x => x.remove());
      return t.textContent.replace(/\s+/g, ' ').trim(); })
    .filter(s => s.length >= 30 && code.includes(s.slice(0, 60)));
  out.raw_math = []; out.raw_table = [];
  for (const e of Array.from(main.querySelectorAll('p, li, td, th, figcaption, dd, dt')).filter(shown)) {
    if (e.closest('pre, .cell_input, .cell_output .output.text_plain, .output.stream')) continue;
    const c = e.cloneNode(true);
    c.querySelectorAll('code, pre, mjx-container, .math, script, p, li').forEach(x => x.remove());
    const t = c.textContent;
    if (/\$\$|(^|[^\\\w])\$[^$\s][^$]*\$/.test(t)) out.raw_math.push(t.trim().slice(0, 90));
    // a table row starts and ends with a pipe (|a| b |c| in a sentence is an absolute value, not a row)
    if (/\|\s*:?-{3,}:?\s*\|/.test(t) || /(^|\n)\s*\|[^|\n]+\|[^|\n]+\|\s*(\n|$)/.test(t)) out.raw_table.push(t.trim().slice(0, 90));
  }
  const outputs = Array.from(main.querySelectorAll('div.cell_output .output')).filter(shown);
  const bare = /^\s*(-?\d+(\.\d+)?(e[-+]?\d+)?|None|True|False|\(\)|\[\]|<[\w.]+ (object )?at 0x[0-9a-f]+>|\[<matplotlib[^\n]*\]|Text\([^\n]*\)|<Figure size [^\n]*>)\s*$/;
  out.bare_output = outputs.filter(o => o.classList.contains('text_plain') && bare.test(o.textContent))
                           .map(o => o.textContent.trim().slice(0, 60));
  out.pipe_output = outputs.filter(o => /(^|\n)\s*\|\s*:?-{3,}/.test(o.textContent)).map(o => longest(o.textContent));
  out.wide_math = Array.from(main.querySelectorAll('mjx-container[display="true"], mjx-container[display="block"]')).filter(shown)
    .filter(m => { const box = m.parentElement.getBoundingClientRect(), inner = (m.firstElementChild || m).getBoundingClientRect();
                   return inner.width > box.width + 2 || inner.right > box.right + 2 || inner.left < box.left - 2; })
    .map(m => (m.textContent || '').slice(0, 50));
  const tables = Array.from(main.querySelectorAll('table')).filter(shown)
    .map(t => t.textContent.replace(/\s+/g, ' ').trim()).filter(t => t.length > 40);
  out.table_twice = tables.filter((t, i) => tables.indexOf(t) !== i).map(t => t.slice(0, 60));
  out.shrunk = []; out.bad_alt = []; out.no_zoom = [];
  // icons (the module index's toggles) are not figures
  for (const i of Array.from(main.querySelectorAll('img')).filter(shown).filter(i => i.naturalWidth >= 48)) {
    const name = (i.getAttribute('src') || '').split('/').pop();
    const alt = (i.getAttribute('alt') || '').trim();
    if (alt.length < 15 || alt === name || /\.(png|jpe?g|svg|gif)$/i.test(alt) || /^[\w-]+$/.test(alt)) out.bad_alt.push(`${name} (alt "${alt}")`);
    const w = i.getBoundingClientRect().width;
    if (i.naturalWidth && w < 0.97 * i.naturalWidth) out.shrunk.push(`${name}: ${Math.round(w)} of ${i.naturalWidth} px`);
    const a = i.closest('a[href]');
    if (!a) out.no_zoom.push(name);
  }
  return out;
}"""

#: at most this fraction of a page's visible code cells may scroll sideways
MAX_SCROLLING_CODE = 0.05


def reading_problems(page) -> list[str]:
    """The reading defects of an open page (see READING), as readable lines."""
    r = page.evaluate(READING)
    out = []
    if r["code_scroll"] and len(r["code_scroll"]) > MAX_SCROLLING_CODE * r["code_total"]:
        out.append(f"{len(r['code_scroll'])} of {r['code_total']} visible code cells scroll sideways: {r['code_scroll'][:3]}")
    labels = {"claim_twice": "claim statement shown twice (in visible code and in its box)",
              "raw_math": "raw $ math in text", "raw_table": "raw pipe-table text", "bare_output": "bare return value output",
              "pipe_output": "a markdown table printed as text", "wide_math": "display math wider than its container",
              "table_twice": "table shown twice", "shrunk": "figure shrunk below its natural size",
              "bad_alt": "image without alt text saying what it shows", "no_zoom": "figure that cannot be opened full size"}
    for key, label in labels.items():
        if r[key]:
            out.append(f"{label}: {r[key][:3]}" + (f" and {len(r[key]) - 3} more" if len(r[key]) > 3 else ""))
    return out


def _redirect_target(path: Path) -> str | None:
    m = re.search(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', path.read_text(errors="replace"), re.I)
    return m.group(1) if m else None


def page_problems(browser, server: str, site: Path, page_path: str, screenshot: Path | None = None) -> list[str]:
    """Everything wrong with one page of the site served at ``server``, as readable lines."""
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"uncaught exception: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} ({r.failure})")
            if r.url.startswith(server) else None)
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}")
            if r.url.startswith(server) and r.status >= 400 else None)
    page.goto(urljoin(server, page_path), wait_until="load", timeout=120_000)

    mj = page.evaluate(MATHJAX_DONE)
    if mj["math"]:
        if not mj["loaded"]:
            problems.append("MathJax never started")
        elif mj["untypeset"] or mj["errors"]:
            problems.append(f"MathJax: {mj['untypeset']} math elements not typeset, {mj['errors']} errors {mj['errorText']}")

    for img in page.evaluate(IMAGES):
        if not img["ok"]:
            problems.append(f"image not loaded: {img['src']}")
    problems += reading_problems(page)

    here = site / page_path
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        parsed = urlparse(href)
        if parsed.scheme or href.startswith(("//", "mailto:", "javascript:")):
            continue
        target = (here.parent / unquote(parsed.path)).resolve() if parsed.path else here
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            problems.append(f"broken link: {href}")
        elif parsed.fragment and target.suffix == ".html" and unquote(parsed.fragment) not in anchors(target):
            problems.append(f"missing anchor: {href}")

    colab = page.eval_on_selector_all("a[href*='colab.research.google.com']", "els => els.map(e => e.href)")
    if not re.fullmatch(r"chapters/ch[^/]*\.html", page_path) and colab:
        # e.g. book/reproduce.md is a MyST notebook without a generated .ipynb: Colab cannot open the .md
        problems.append(f"Colab launch button {colab} on a page without a notebook")
    if re.fullmatch(r"chapters/ch[^/]*\.html", page_path):
        notebook = page_path[:-len(".html")] + ".ipynb"
        repo = urlparse(_repository_url()).path.strip("/")
        expected = f"https://colab.research.google.com/github/{repo}/blob/main/{notebook}"
        if colab != [expected]:
            problems.append(f"Colab launch button {colab}, expected [{expected}]")
        if not (ROOT / notebook).exists():
            problems.append(f"the launch button's notebook {notebook} is not in the repository")

    if screenshot is not None:
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return problems


@pytest.mark.parametrize("page_path", PAGES)
def test_page_renders_in_chromium(page_path, server, browser):
    target = _redirect_target(SITE / page_path)
    if target is not None:                         # index.html: a redirect to the preface
        assert (SITE / page_path).parent.joinpath(target).exists(), f"{page_path} redirects to missing {target}"
        page = browser.new_page()
        page.goto(urljoin(server, page_path))
        page.wait_for_url(urljoin(urljoin(server, page_path), target), timeout=30_000)
        page.close()
        return
    shot = SHOTS / (page_path.replace("/", "__")[:-len(".html")] + ".png")
    problems = page_problems(browser, server, SITE, page_path, screenshot=shot)
    assert not problems, f"{page_path}:\n" + "\n".join(problems)


BROKEN_PAGE = r"""<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<script>window.MathJax = {options: {processHtmlClass: "math"}}</script>
<script defer src="mathjax/es5/tex-mml-chtml.js"></script></head>
<body><p id="here">Fine math <span class="math">\(x^2\)</span>, a TeX error <span class="math">\(x^2^3\)</span> and
unbalanced math that MathJax leaves alone <span class="math">\(\frac{1}{\)</span>.</p>
<img src="missing.png"> <a href="nope.html">a</a> <a href="#nowhere">b</a> <a href="#here">c</a>
<script>console.error("boom")</script></body></html>"""


def test_the_checker_finds_broken_pages(tmp_path, browser):
    """The browser check must be able to fail: a page with each kind of defect."""
    shutil.copytree(ROOT / "book" / "_static" / "mathjax", tmp_path / "mathjax")
    (tmp_path / "bad.html").write_text(BROKEN_PAGE)
    httpd, url = _serve(tmp_path)
    try:
        problems = "\n".join(page_problems(browser, url, tmp_path, "bad.html"))
    finally:
        httpd.shutdown()
    for expected in ("console error: boom", "MathJax: 1 math elements not typeset, 1 errors ['Double exponent: use braces to clarify']", "image not loaded",
                     "HTTP 404", "broken link: nope.html", "missing anchor: #nowhere"):
        assert expected in problems, (expected, problems)
    assert "#here" not in problems


READING_PAGE = r"""<!DOCTYPE html><html><head><meta charset="utf-8"><link rel="icon" href="data:,">
<style>article { width: 600px; } pre { overflow-x: auto; }</style>
<script>window.MathJax = {options: {processHtmlClass: "math"}}</script>
<script defer src="mathjax/es5/tex-mml-chtml.js"></script></head>
<body><article>
<div class="cell"><div class="cell_input"><pre>claim_close("The variance map of a dropout network is the identity at the critical point, for every q.", measured, 1.0, rtol=1e-12, evidence="closed form")</pre></div>
<div class="cell_output"><div class="npl-claim"><span class="npl-claim-mark">Claim 1</span> The variance map of a dropout network is the identity at the critical point, for every q.<div class="npl-claim-detail">measured 1</div></div>
<div class="output text_plain"><pre>1</pre></div>
<div class="output text_plain"><pre>| layer | type |
|---|---|
| 0 | Linear |</pre></div></div></div>
<details class="hide"><summary>show code</summary><div class="cell_input"><pre>a_hidden_line_that_is_very_long_and_would_scroll_if_it_were_visible_on_the_page_but_it_is_folded = 1</pre></div></details>
<p>A raw $\sigma_w^2$ and a raw display $$q = 1$$ in text.</p>
<p>| situation | guideline |<br>|---|---|</p>
<div class="math notranslate nohighlight">\[ q^{l+1} = \sigma_w^2\mu_2 E[\phi(h)^2] + \sigma_b^2 + \sigma_w^2\mu_2 E[\phi(h)^2] + \sigma_b^2 + \sigma_w^2\mu_2 E[\phi(h)^2] + \sigma_b^2 + \sigma_w^2\mu_2 E[\phi(h)^2] + \sigma_b^2 + \sigma_w^2\mu_2 E[\phi(h)^2] + \sigma_b^2 \]</div>
<table><tr><td>keep probability</td><td>0.8</td><td>critical weight variance</td><td>1.6</td></tr></table>
<table><tr><td>keep probability</td><td>0.8</td><td>critical weight variance</td><td>1.6</td></tr></table>
<img src="wide.png" alt="wide.png" style="max-width: 100%">
</article></body></html>"""


def test_the_reading_checks_find_each_defect(tmp_path, browser):
    """make check-browser must fail on a page that breaks the reading rules: one of each defect."""
    shutil.copytree(ROOT / "book" / "_static" / "mathjax", tmp_path / "mathjax")
    # a 900 px wide image shown in a 600 px column
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAA4QAAAAUCAAAAADwq6w5AAAAYUlEQVR4nO3OMQEAAAwCIKMv+mJ4CAnIAVVpB2Bd2gFYl3YA1qUdgHVp"
                           "B2Bd2gFYl3YA1qUdgHVpB2Bd2gFYl3YA1qUdgHVpB2Bd2gFYl3YA1qUdgHVpB2Bd2gFYl3YA1j2apioOnxtgwAAAAABJRU5ErkJggg==")
    (tmp_path / "wide.png").write_bytes(png)
    (tmp_path / "reading.html").write_text(READING_PAGE)
    httpd, url = _serve(tmp_path)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(urljoin(url, "reading.html"), wait_until="load")
        page.evaluate(MATHJAX_DONE)
        found = "\n".join(reading_problems(page))
        page.close()
    finally:
        httpd.shutdown()
    for expected in ("1 of 1 visible code cells scroll sideways", "claim statement shown twice", "raw $ math in text",
                     "raw pipe-table text", "bare return value output: ['1']", "a markdown table printed as text",
                     "display math wider than its container", "table shown twice", "figure shrunk below its natural size",
                     "image without alt text", "figure that cannot be opened full size"):
        assert expected in found, (expected, found)
    assert "a_hidden_line" not in found


#: the four interactive figures and the page each lives on
INTERACTIVE_PAGES = {"npl-cobweb-explorer": "chapters/ch04_noisy_variance_map.html",
                     "npl-keep-explorer": "chapters/ch05_noisy_correlation_dynamics.html",
                     "npl-overflow-explorer": "chapters/ch06_trainable_depth.html",
                     "npl-residual-explorer": "chapters/ch11_noisy_residual_networks.html"}


def _library_readouts(fig_id: str, values: list) -> dict:
    """The library's values at a slider setting, computed here, not read from the figure."""
    import noisyprop_lib as npl

    if fig_id == "npl-keep-explorer":
        fp = npl.correlation_fixed_point_analysis(npl.Dropout(values[0]))
        return {"c*": fp.c_star, "χ(c*)": fp.chi, "6 ξ_c (layers)": npl.trainable_depth(npl.Dropout(values[0]))}
    if fig_id == "npl-cobweb-explorer":
        sw2, p = values
        q = npl.variance_fixed_point(sw2, 0.05, npl.Dropout(p), q0=2.5)
        return {"slope of the variance map": sw2 / (2 * p), **({"q*": q} if math.isfinite(q) else {})}
    if fig_id == "npl-overflow-explorer":
        p, sw2 = values
        return {"failure depth (layers)": npl.overflow_depth(sw2, npl.Dropout(p), q0=1.0, dtype="float32"),
                "critical σ_w² = 2p": 2 * p}
    a2, depth = values
    q, c = npl.iterate_residual_maps(1.0, 0.5, int(depth), 1.6, noise=npl.Dropout(0.8), alpha=math.sqrt(a2))
    return {"growth qᴸ/q⁰": q[-1], "correlation cᴸ": c[-1]}


def _move_and_read(page, fig_id: str, index: list) -> tuple:
    """Set the figure's sliders to ``index``; return its state key, path data and read-outs (as shown)."""
    return page.evaluate("""([id, index]) => {
      const div = document.getElementById(id);
      div.querySelectorAll('input[data-control]').forEach((inp, k) => {
        inp.value = String(index[k]); inp.dispatchEvent(new Event('input', {bubbles: true})); });
      const paths = Array.from(div.querySelectorAll('path')).map(p => p.getAttribute('d')).join('|');
      const values = Array.from(div.querySelectorAll('input[data-control]')).map(i => +i.max);
      const read = {};
      div.querySelectorAll('td[data-readout]').forEach(td => { read[td.dataset.readout] = td.textContent; });
      return [div.getAttribute('data-state'), paths, read, values];
    }""", [fig_id, index])


def check_interactive(page, fig_id: str) -> list[str]:
    """Move every control of one interactive figure to its two ends: the plot changes, and the read-outs
    shown are the library's values there (to the 4 digits shown)."""
    from noisyprop_lib.book import interactive_figures as F

    grids = {"npl-keep-explorer": [F.KEEP_GRID], "npl-cobweb-explorer": [F.COBWEB_SIGMA_W2, F.COBWEB_KEEP],
             "npl-overflow-explorer": [F.OVERFLOW_KEEP, F.OVERFLOW_SIGMA_W2],
             "npl-residual-explorer": [F.RESIDUAL_ALPHA2, F.RESIDUAL_DEPTHS]}[fig_id]
    if not page.query_selector(f"#{fig_id}"):
        return [f"interactive figure {fig_id} is missing"]
    problems, seen = [], set()
    for index in ([0] * len(grids), [len(g) - 1 for g in grids]):
        key, paths, read, _ = _move_and_read(page, fig_id, index)
        if key != ",".join(map(str, index)):
            problems.append(f"{fig_id}: sliders at {index} but the figure shows state {key}")
        seen.add(paths)
        for name, value in _library_readouts(fig_id, [float(g[i]) for g, i in zip(grids, index)]).items():
            shown = read.get(name)
            value = float(value)
            if shown is None or (math.isfinite(value) and abs(float(shown) - value) > 1e-3 * abs(value) + 1e-12):
                problems.append(f"{fig_id} at {index}: {name} shows {shown!r}, the library gives {value:.6g}")
    if len(seen) < 2:
        problems.append(f"{fig_id}: moving the sliders does not change the plot")
    return problems


def test_interactive_figures_respond_and_match_the_library(tmp_path, browser):
    """The four figures, outside the book: each control moves the plot and the read-outs follow the library."""
    from noisyprop_lib.book import interactive_figures as F

    figs = [F.keep_probability_explorer(), F.cobweb_explorer(), F.overflow_depth_explorer(), F.residual_explorer()]
    wrong = F.keep_probability_explorer()   # a figure whose read-out disagrees with the library must be caught
    wrong.figure_id = "npl-keep-explorer-wrong"
    wrong.states["0"]["readouts"]["c*"] *= 1.01
    (tmp_path / "wrong.html").write_text(wrong._repr_html_().replace("npl-keep-explorer-wrong", "npl-keep-explorer"))
    (tmp_path / "figs.html").write_text("<!DOCTYPE html><html><head><meta charset='utf-8'><link rel='icon' href='data:,'>"
                                        "</head><body>" + "".join(f._repr_html_() for f in figs) + "</body></html>")
    httpd, url = _serve(tmp_path)
    try:
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(urljoin(url, "figs.html"), wait_until="load")
        problems = [p for f in figs for p in check_interactive(page, f.figure_id)] + errors
        page.goto(urljoin(url, "wrong.html"), wait_until="load")
        caught = check_interactive(page, "npl-keep-explorer")
        page.close()
    finally:
        httpd.shutdown()
    assert not problems, "\n".join(problems)
    assert any("c* shows" in p for p in caught), caught


@pytest.mark.parametrize("fig_id", sorted(INTERACTIVE_PAGES))
def test_interactive_figures_in_the_book(fig_id, server, browser):
    page = browser.new_page()
    page.goto(urljoin(server, INTERACTIVE_PAGES[fig_id]), wait_until="load")
    problems = check_interactive(page, fig_id)
    page.close()
    assert not problems, "\n".join(problems)
