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

import functools
import http.server
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


def _redirect_target(path: Path) -> str | None:
    m = re.search(r'<meta http-equiv="Refresh" content="0; url=([^"]+)"', path.read_text(errors="replace"), re.I)
    return m.group(1) if m else None


def page_problems(browser, server: str, site: Path, page_path: str, screenshot: Path | None = None) -> list[str]:
    """Everything wrong with one page of the site served at ``server``, as readable lines."""
    problems: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
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
