"""`ftprobe report OUT`: the report of a finished study, rebuilt from its results.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftprobe.cli.framework import command, opt


@command("report")
@dataclass
class ReportCommand:
    """Rebuild a finished study's report from OUT/results.json (nothing is recomputed): OUT/report/
    index.html, summary.md, figures/ (PNG 300 dpi, SVG, PDF) and tables/ (LaTeX booktabs, CSV)."""

    out: Path = opt(help="the study's output folder (holds results.json)", positional=True)
    figures: bool = opt(True, help="also write figures/ (PNG, SVG, PDF); figures whose numbers did not change "
                                   "are kept")
    progress: bool = opt(True, help="show progress")

    def run(self) -> int:
        from ftprobe.report import rebuild_report

        files = rebuild_report(self.out, figure_files=self.figures, progress=self.progress)
        print(f"report:  {files.html}")
        if self.figures:
            print(f"figures: {files.figures}")
        print(f"tables:  {files.tables}")
        return 0
