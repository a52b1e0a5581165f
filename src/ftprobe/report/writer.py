"""Write the report of a study: ``OUT/report/index.html`` (interactive), ``summary.md``,
``figures/`` (every figure as PNG 300 dpi, SVG, PDF), ``tables/`` (LaTeX booktabs and CSV).

Every file is written under a temporary name and renamed when complete. A figure whose numbers did
not change since the last report is not drawn again (``figures/index.json`` keeps each one's hash).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftprobe.report.markdown import render_markdown
from ftprobe.report.page import render_page
from ftprobe.report.render_static import FORMATS, save_static
from ftprobe.report.results_model import StudyResults
from ftprobe.report.sections import SECTIONS, SectionBuilder, build_sections
from ftprobe.report.tables import export_tables


@dataclass(frozen=True)
class ReportFiles:
    json: Path
    html: Path
    md: Path
    figures: Path
    tables: Path

    def __getitem__(self, key: str) -> Path:  # paths["html"], as the study runner reads them
        return getattr(self, key)


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is for reading
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _json_default(o: Any):
    if hasattr(o, "tolist"):  # numpy scalars and arrays
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def write_report(results: Mapping | StudyResults, out: str | Path, *, sections: tuple[SectionBuilder, ...] = SECTIONS,
                 figure_files: bool = True, progress: bool = False) -> ReportFiles:
    """Write ``out/results.json`` (when given the results as a dict) and the report under ``out/report``."""
    out = Path(out)
    files = ReportFiles(out / "results.json", out / "report" / "index.html", out / "report" / "summary.md",
                        out / "report" / "figures", out / "report" / "tables")
    if isinstance(results, Mapping):
        write_text_atomic(files.json, json.dumps(results, indent=1, sort_keys=True, default=_json_default))
        results = StudyResults.from_json(json.loads(files.json.read_text(encoding="utf-8")))
    built = build_sections(results, sections)
    if figure_files:
        _write_figures([c for s in built for c in s.charts()], files.figures, progress)
    for t in export_tables(results):
        write_text_atomic(files.tables / f"{t.id}.tex", t.to_latex())
        write_text_atomic(files.tables / f"{t.id}.csv", t.to_csv())
    write_text_atomic(files.md, render_markdown(results))
    write_text_atomic(files.html, render_page(results, built, figure_files=figure_files))
    return files


def rebuild_report(out: str | Path, **kw) -> ReportFiles:
    """The report of a finished study from ``out/results.json`` alone: nothing is recomputed."""
    return write_report(StudyResults.load(Path(out) / "results.json"), out, **kw)


def _write_figures(charts, folder: Path, progress: bool = False) -> None:
    from tqdm.auto import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    index_path = folder / "index.json"
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        index = {}
    new = {}
    for c in tqdm(charts, desc="report figures", unit="figure", disable=not progress, leave=False):
        h = hashlib.sha256(repr(c).encode()).hexdigest()[:16]
        done = index.get(c.id) == h and all((folder / f"{c.id}.{fmt}").is_file() for fmt in FORMATS)
        if not done:
            save_static(c, folder)
        new[c.id] = h
        # record each figure as soon as it is written: an interrupted report resumes here
        write_text_atomic(index_path, json.dumps({**index, **new}, indent=1, sort_keys=True))
    write_text_atomic(index_path, json.dumps(new, indent=1, sort_keys=True))
