"""Redraw the README's report screenshots (docs/img/report-*.png) from a finished study's report.

    ftprobe demo --out /tmp/demo && python docs/img/make_screenshots.py /tmp/demo/report/index.html [OUT_FOLDER]

Headless Chromium (Debian's ``chromium``; or FTPROBE_CHROMIUM) through Playwright, as the browser
tests drive it: the first screen at 1000 px (contents and verdicts), the main table at 800 px,
and a PCA view with the hover naming a point.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def main(index: Path, out: Path = HERE) -> None:
    from playwright.sync_api import sync_playwright

    exe = os.environ.get("FTPROBE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        sys.exit("no Chromium (Debian: apt-get install chromium; or set FTPROBE_CHROMIUM)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=FLAGS)
        ready = ("() => Array.from(document.querySelectorAll('figure.chart'))"
                 ".every(f => f.querySelector('.js-plotly-plot .main-svg'))")

        page = browser.new_page(viewport={"width": 1000, "height": 714})
        page.goto(index.resolve().as_uri(), wait_until="load")
        page.wait_for_function(ready, timeout=120_000)
        page.screenshot(path=str(out / "report-top.png"))

        pca = page.locator("figure.chart[id*='shift']").first
        pca.scroll_into_view_if_needed()
        fig_id = pca.get_attribute("id")
        page.evaluate("id => { const d = document.querySelector('#' + id + ' .js-plotly-plot');"
                      " Plotly.Fx.hover(d, [{curveNumber: 0, pointNumber: 0}]); }", fig_id)
        box = pca.bounding_box()
        page.screenshot(path=str(out / "report-pca-hover.png"),
                        clip={"x": box["x"], "y": box["y"], "width": min(900, box["width"]), "height": min(374, box["height"])})
        page.close()

        page = browser.new_page(viewport={"width": 800, "height": 1000})
        page.goto(index.resolve().as_uri() + "#table", wait_until="load")
        page.wait_for_function(ready, timeout=120_000)
        page.locator("#table-main").scroll_into_view_if_needed()
        box = page.locator("#table-main").bounding_box()
        page.screenshot(path=str(out / "report-800px.png"),
                        clip={"x": box["x"], "y": box["y"], "width": min(480, box["width"]), "height": min(600, box["height"])})
        browser.close()
    print("written:", ", ".join(str(out / n) for n in ("report-top.png", "report-pca-hover.png", "report-800px.png")))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    main(Path(sys.argv[1]), Path(sys.argv[2]) if len(sys.argv) == 3 else HERE)
