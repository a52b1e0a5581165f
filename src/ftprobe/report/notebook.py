"""Study results in a notebook: the verdicts and the main table as an HTML snippet."""

from __future__ import annotations

import html

from ftprobe.report.results_model import StudyResults
from ftprobe.report.sections import badge
from ftprobe.report.tables import main_table
from ftprobe.report.verdicts import plain_summary


def results_html(results: StudyResults) -> str:
    rows = "".join(f"<tr><td>{f.number}</td><td>{badge(f.verdict)}</td><td>{html.escape(f.title)}<br>"
                   f"<small>{html.escape(plain_summary(f))}</small></td></tr>" for f in results.findings)
    style = ("<style>.badge{color:#fff;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600}"
             ".warn{color:#b2182b;font-size:12px}</style>")
    head = (f"<p><b>ftprobe study</b>: {len(results.models)} model(s) ({html.escape(', '.join(results.models))}), "
            f"{len(results.tasks)} task(s) ({html.escape(', '.join(results.tasks))})</p>")
    return f"{style}{head}<table>{rows}</table>{main_table(results).to_html()}"
