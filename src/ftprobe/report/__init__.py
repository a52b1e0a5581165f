"""Stage 7: the study report (interactive HTML, figures and tables for papers, markdown summary).

The report reads a study only through ``StudyResults`` (its own typed view of results.json).
"""

from ftprobe.report.results_model import StudyResults
from ftprobe.report.sections import SECTIONS, Section
from ftprobe.report.writer import ReportFiles, rebuild_report, write_report

__all__ = ["SECTIONS", "ReportFiles", "Section", "StudyResults", "rebuild_report", "write_report"]
