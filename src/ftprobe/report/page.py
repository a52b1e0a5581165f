"""One self-contained HTML page from the sections: a table of contents, anchors on every section
and figure, interactive figures with plotly.js embedded once (no network needed)."""

from __future__ import annotations

import html

from ftprobe.report.charts import Chart
from ftprobe.report.render_plotly import to_html_div
from ftprobe.report.results_model import StudyResults
from ftprobe.report.sections import Section
from ftprobe.report.tables import Table

CSS = """
:root{--fg:#1d1d1f;--muted:#5a5a66;--line:#dcdce4;--bg2:#f6f7f9;--accent:#2f5fb3}
*{box-sizing:border-box}
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);margin:0}
.layout{display:grid;grid-template-columns:250px minmax(0,1fr);gap:32px;max-width:1400px;margin:0 auto;padding:0 24px}
nav.toc{position:sticky;top:0;align-self:start;max-height:100vh;overflow:auto;padding:24px 0;font-size:14px}
nav.toc ul{list-style:none;padding-left:12px;margin:4px 0}nav.toc>ul{padding-left:0}
nav.toc a{color:var(--muted);text-decoration:none}nav.toc a:hover{color:var(--accent)}
nav.toc .toc-title{font-weight:600;margin-bottom:6px}
main{padding:16px 0 80px;min-width:0}
h1{font-size:26px;margin:16px 0 4px}h2{font-size:21px;margin:40px 0 8px;padding-top:8px;border-top:1px solid var(--line)}
h3{font-size:17px;margin:28px 0 6px}.anchor{color:#bbb;text-decoration:none;margin-left:6px;font-weight:400}
.sub{color:var(--muted);margin:0 0 12px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}td,th{border-bottom:1px solid var(--line);padding:5px 9px;
text-align:left;vertical-align:top}th{background:var(--bg2);font-weight:600}
figure{margin:18px 0}figure.table{overflow-x:auto}figure.table td{white-space:nowrap}
tr.note td{white-space:normal;border-bottom:1px solid var(--line);padding-top:0}
figcaption{color:var(--muted);font-size:13.5px;margin-top:4px}figcaption .files a{margin-right:8px}
.badge{display:inline-block;color:#fff;padding:1px 8px;border-radius:10px;font-size:12.5px;font-weight:600;
white-space:nowrap}
.finding{border:1px solid var(--line);border-radius:8px;padding:10px 14px;margin:10px 0}
.fhead{display:flex;gap:10px;align-items:baseline;flex-wrap:wrap}.fnum{font-weight:700;color:var(--muted)}
.ftitle{font-weight:600}.fsum{margin:6px 0}.firm{margin:4px 0;font-size:13px;color:var(--muted)}.rule{color:var(--muted)}.legend{font-size:13px;color:var(--muted)}
.warn{color:#b2182b;font-size:12px}.warn::before{content:"⚠ "}
.notes{max-width:960px;overflow-x:auto}.notes pre{background:var(--bg2);padding:8px 10px;overflow-x:auto}
.notes code{background:var(--bg2);padding:0 3px;border-radius:3px;font-size:13px}
details summary{cursor:pointer;color:var(--accent);font-size:13.5px}
@media (max-width:900px){.layout{display:block;padding:0 14px}
nav.toc{position:static;max-height:none;border-bottom:1px solid var(--line);padding:12px 0}}
"""


def _anchor_link(anchor: str) -> str:
    return f"<a class='anchor' href='#{anchor}' aria-label='link to this section'>¶</a>"


class _Page:
    def __init__(self, figure_files: bool):
        self.js_done = False
        self.figure_files = figure_files

    def chart(self, c: Chart) -> str:
        div = to_html_div(c, include_js=not self.js_done)
        self.js_done = True
        files = ""
        if self.figure_files:
            files = " <span class='files'>" + " ".join(
                f"<a href='figures/{c.id}.{fmt}'>{fmt.upper()}</a>" for fmt in ("png", "svg", "pdf")) + "</span>"
        return (f"<figure id='{c.id}' class='chart'>{div}<figcaption><b>{html.escape(c.title)}.</b> "
                f"{html.escape(c.caption)}{_anchor_link(c.id)}{files}</figcaption></figure>")

    def block(self, b) -> str:
        if isinstance(b, Chart):
            return self.chart(b)
        if isinstance(b, Table):
            return b.to_html()
        return b

    def section(self, s: Section, level: int) -> str:
        out = [f"<section id='{s.anchor}'><h{level}>{html.escape(s.title)}{_anchor_link(s.anchor)}</h{level}>"]
        out += [self.block(b) for b in s.blocks]
        out += [self.section(c, min(level + 1, 4)) for c in s.children]
        out.append("</section>")
        return "\n".join(out)


def _toc(sections: tuple[Section, ...]) -> str:
    def item(s: Section) -> str:
        kids = "".join(item(c) for c in s.children)
        return f"<li><a href='#{s.anchor}'>{html.escape(s.title)}</a>" + (f"<ul>{kids}</ul>" if kids else "") + "</li>"

    return f"<nav class='toc' aria-label='contents'><div class='toc-title'>Contents</div><ul>{''.join(item(s) for s in sections)}</ul></nav>"


def render_page(results: StudyResults, sections: tuple[Section, ...], figure_files: bool = True) -> str:
    page = _Page(figure_files)
    models = ", ".join(html.escape(m) for m in results.models)
    tasks = ", ".join(html.escape(t) for t in results.tasks)
    body = "\n".join(page.section(s, 2) for s in sections)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>ftprobe: how fine-tuning changed {models}</title><style>{CSS}</style></head><body>"
            f"<div class='layout'>{_toc(sections)}<main><h1>How fine-tuning changed the encoder</h1>"
            f"<p class='sub'>Models: {models} · tasks: {tasks} · "
            f"<a href='../results.json'>results.json</a> · <a href='tables/'>tables</a> · "
            + ("<a href='figures/'>figures for papers</a> (PNG 300 dpi, SVG, PDF) · " if figure_files else "")
            + "<a href='#details'>run details</a></p>"
            f"{body}</main></div></body></html>")
