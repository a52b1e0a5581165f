"""The report in a real browser (headless Chromium driven by Playwright): it loads with no console
errors, every figure renders, hover names points, the table of contents resolves, and the page
fits 1400 and 800 px windows. Screenshots are kept under test-output/report/ (or
$FTPROBE_TEST_ARTIFACTS) as artefacts.

The default run opens the report of examples/minilm-study (a real finished study); the slow test
runs `ftprobe demo` and opens its report. Skipped, with the reason, where no browser exists.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ftprobe.report import rebuild_report

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("FTPROBE_TEST_ARTIFACTS", REPO / "test-output")) / "report"
HANG_GUARD_MS = 180_000  # every browser action may take this long on busy cores before the test fails
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str | None:
    found = os.environ.get("FTPROBE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    return found if found and Path(found).exists() else None


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install .[dev])")
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium here (Debian: apt-get install chromium; or set FTPROBE_CHROMIUM); CI has one")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_FLAGS)
        yield b
        b.close()


def check_report_in_browser(browser, index: Path, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for width in (1400, 800):
        _check_at_width(browser, index, name, width).close()


def _page(browser, width: int):
    """A page whose every action (load, wait, screenshot) waits up to 3 minutes: a hang guard, not
    a speed check (CI's cores may be busy; Playwright's own default of 30 s failed there)."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    page.set_default_timeout(HANG_GUARD_MS)
    return page


def _check_at_width(browser, index: Path, name: str, width: int, full_page: bool = True):
    """The checks every report page passes at one window width; the page, still open."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = _page(browser, width)
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("request", lambda r: problems.append(f"network: {r.url}") if not r.url.startswith(("file:", "data:")) else None)
    page.goto(index.as_uri(), wait_until="load")
    page.wait_for_function("() => Array.from(document.querySelectorAll('figure.chart'))"
                           ".every(f => f.querySelector('.js-plotly-plot .main-svg'))")
    assert problems == [], problems

    # every figure rendered: a plot with at least one drawn trace, and a caption
    report = page.evaluate("""() => Array.from(document.querySelectorAll('figure.chart')).map(f => ({
        id: f.id,
        traces: f.querySelectorAll('.main-svg .trace, .main-svg .point').length,
        caption: (f.querySelector('figcaption') || {}).textContent || ''}))""")
    assert report, "no figures on the page"
    for fig in report:
        assert fig["traces"] > 0, f"figure {fig['id']} drew nothing"
        assert len(fig["caption"]) > 40, f"figure {fig['id']} has no caption"

    # every table-of-contents link and every in-page link lands on an element
    targets = page.evaluate("() => Array.from(document.querySelectorAll('a[href^=\"#\"]')).map(a => a.getAttribute('href'))")
    toc = page.evaluate("() => Array.from(document.querySelectorAll('nav.toc a')).map(a => a.getAttribute('href'))")
    assert len(toc) >= 5
    missing = page.evaluate("ids => ids.filter(id => !document.getElementById(id))",  # one round trip
                            sorted({t[1:] for t in targets}))
    assert missing == []
    page.click("nav.toc a[href='#table']")
    assert page.evaluate("() => Math.abs(document.getElementById('table').getBoundingClientRect().top) < 5")

    # the page fits the window: nothing wider than the viewport
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width

    if width == 1400:
        # hover names the point: the first figure's first bar shows its case and value
        first = report[0]["id"]
        page.evaluate("id => { const d = document.querySelector('#' + id + ' .js-plotly-plot');"
                      " Plotly.Fx.hover(d, [{curveNumber: 0, pointNumber: 0}]); }", first)
        hover = page.evaluate("id => document.querySelector('#' + id + ' .hoverlayer').textContent", first)
        assert "fine-tuning" in hover and "%" in hover, hover

    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=False)
    if full_page:
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}-full.png"), full_page=True)
    return page


def test_real_study_report_in_a_browser(browser, tmp_path):
    shutil.copy(REPO / "examples" / "minilm-study" / "results.json", tmp_path / "results.json")
    files = rebuild_report(tmp_path, figure_files=False)
    check_report_in_browser(browser, files.html, "minilm-study")
    assert (ARTIFACTS / "minilm-study-1400.png").stat().st_size > 10_000
    assert (ARTIFACTS / "minilm-study-800.png").stat().st_size > 10_000


def test_methods_comparison_in_a_browser(browser, tmp_path):
    """examples/methods (MiniLM fine-tuned four ways on PUD POS and PS-fxn, three seeds, a real finished study): the whole
    page passes the checks above, and the method comparison draws one series per method in each
    of its figures, names method and layer on hover, and links from the table of contents."""
    shutil.copy(REPO / "examples" / "methods" / "results.json", tmp_path / "results.json")
    files = rebuild_report(tmp_path, figure_files=False)
    # one width, and no full-page screenshot: its 226 figures make a page 145,000 px tall, and the
    # narrow layout is the same stylesheet, checked on the minilm-study page above
    page = _check_at_width(browser, files.html, "methods-study", 1400, full_page=False)
    methods = ("full", "lora", "bitfit", "head")
    figs = page.evaluate("""() => Array.from(document.querySelectorAll('#methods figure.chart')).map(f => ({
        id: f.id, legend: Array.from(f.querySelectorAll('.legendtext')).map(t => t.textContent)}))""")
    ids = [f["id"] for f in figs]
    assert ids == [f"fig-methods-minilm-{task}{part}" for task in ("pos", "ps-fxn")
                   for part in ("", "-dynamics", "-parameters")]
    for f in figs:
        assert set(methods) <= set(f["legend"]), f
    assert page.evaluate("() => !!document.querySelector(\"nav.toc a[href='#methods']\")")
    table = page.evaluate("() => Array.from(document.querySelectorAll('#methods table tbody tr td:first-child'))"
                          ".map(td => td.textContent)")
    assert [cell.split(" ")[0] for cell in table] == list(methods) * 2  # "lora (lr 0.001, 3 seeds)"
    # hover on the layer figure: the first method's line at the first layer
    page.evaluate("() => { const d = document.querySelector('#fig-methods-minilm-pos .js-plotly-plot');"
                  " Plotly.Fx.hover(d, [{curveNumber: 1, pointNumber: 0}]); }")
    hover = page.evaluate("() => document.querySelector('#fig-methods-minilm-pos .hoverlayer').textContent")
    assert "full, layer 0" in hover and "probe accuracy" in hover, hover
    page.locator("#methods").screenshot(path=str(ARTIFACTS / "methods-section-1400.png"))
    page.close()
    assert (ARTIFACTS / "methods-section-1400.png").stat().st_size > 10_000


@pytest.mark.slow
def test_demo_report_in_a_browser(browser, tmp_path):
    from ftprobe.cli.main import main

    assert main(["demo", "--out", str(tmp_path / "demo"), "--no-progress"]) == 0
    index = tmp_path / "demo" / "report" / "index.html"
    check_report_in_browser(browser, index, "demo")
    figures = tmp_path / "demo" / "report" / "figures"
    for png in figures.glob("*.png"):
        for fmt in ("svg", "pdf"):
            assert png.with_suffix(f".{fmt}").is_file()
    assert (tmp_path / "demo" / "report" / "tables" / "table-main.tex").is_file()
