"""``summary.md``: the findings, the main table and the calibrated measures in plain markdown."""

from __future__ import annotations

from ftprobe.report.cost_section import cost_markdown
from ftprobe.report.measures_section import markdown_lines
from ftprobe.report.methods_section import methods_markdown
from ftprobe.report.notes import notes_markdown
from ftprobe.report.results_model import StudyResults
from ftprobe.report.robustness_section import firmness, robustness_markdown
from ftprobe.report.tables import (
    Table,
    cross_task_table,
    main_table,
    paper_cross_task_table,
    paper_dynamics_table,
    paper_table,
    seed_spread_table,
)
from ftprobe.report.verdicts import plain_summary


def _md_table(t: Table) -> list[str]:
    esc = lambda c: c.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(t.header) + " |", "|" + "---|" * len(t.header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in t.rows]
    warnings = [f"- {n}" for ns in t.notes for n in ns]
    return lines + ([""] + warnings if warnings else [])


def render_markdown(results: StudyResults) -> str:
    models = ", ".join(f"{k} ({v})" for k, v in results.models.items())
    tasks = ", ".join(f"{k} ({v.n_labels} labels)" for k, v in results.tasks.items())
    lines = ["# ftprobe study summary", "", f"Models: {models}", "", f"Tasks: {tasks}", "",
             "## The paper's six findings on this run", "", "| # | finding | verdict | numbers |", "|---|---|---|---|"]
    lines += [f"| {f.number} | {f.title} | **{f.verdict}** | {plain_summary(f)}"
              + (f" ({firm})" if (firm := firmness(results, f.number)) else "") + " |" for f in results.findings]
    if results.left_out:
        from ftprobe.report.sections import left_out_text

        lines += ["", left_out_text(results)]
    lines += robustness_markdown(results, _md_table)
    if results.notes is not None and results.notes.markdown.strip():
        lines += ["", "## Notes and diagnoses", ""]
        lines += [f"From {results.notes.file}.", ""] if results.notes.file else []
        lines += [notes_markdown(results.notes.markdown)]
    lines += ["", "## Before -> after fine-tuning", ""] + _md_table(main_table(results))
    seeds = seed_spread_table(results)
    if seeds is not None:
        lines += ["", "## Across fine-tuning seeds (mean ± std)", ""] + _md_table(seeds)
    ct = cross_task_table(results)
    if ct is not None:
        lines += ["", "## Cross-task (fine-tune on A, probe B)", ""] + _md_table(ct)
    lines += methods_markdown(results)
    lines += markdown_lines(results.raw_runs)
    pt, pd = paper_table(results), paper_dynamics_table(results)
    if pt is not None:
        lines += ["", "## Beside the paper", "", pt.caption, ""] + _md_table(pt)
    pc = paper_cross_task_table(results)
    if pc is not None:
        lines += ["", "## Cross-task counts beside the paper", "", pc.caption, ""] + _md_table(pc)
    if pd is not None:
        lines += ["", "## Layer dynamics beside the paper", "", pd.caption, ""] + _md_table(pd)
    lines += cost_markdown(results, _md_table)
    lines += ["", "Full numbers: `../results.json`; figures: `index.html`, `figures/` (PNG, SVG, PDF); "
              "tables: `tables/` (LaTeX, CSV).", ""]
    return "\n".join(lines)
