"""Stage 7: the study report (HTML with plots, markdown summary, results.json)."""

from ftprobe.report.html import write_html, write_markdown, write_report

__all__ = ["write_html", "write_markdown", "write_report"]
