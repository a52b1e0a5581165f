"""The report page as a list of sections, each built by one small function of the results.

To add a section, write ``def my_section(results: StudyResults) -> Section | None`` and add it to
``SECTIONS`` (or pass your own list to ``write_report``): it gets an anchor, a table-of-contents
entry, and its figures are exported to ``report/figures/`` like every other.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

from ftprobe.report import figures
from ftprobe.report.charts import Chart, Panel, Trace
from ftprobe.report.cost_section import cost_section
from ftprobe.report.methods_section import methods_section
from ftprobe.report.results_model import Run, StudyResults
from ftprobe.report.robustness_section import firmness, robustness_section
from ftprobe.report.tables import (
    Table,
    cross_task_table,
    layer_change_table,
    main_table,
    paper_cross_task_table,
    paper_dynamics_table,
    paper_table,
    seed_spread_table,
)
from ftprobe.report.verdicts import BADGES, verdict_text

Block = str | Chart | Table  # str: trusted HTML built here (escaped where it holds data)


@dataclass(frozen=True)
class Section:
    anchor: str
    title: str
    blocks: tuple[Block, ...]
    children: tuple[Section, ...] = ()

    def charts(self) -> list[Chart]:
        out = [b for b in self.blocks if isinstance(b, Chart)]
        for c in self.children:
            out += c.charts()
        return out


SectionBuilder = Callable[[StudyResults], "Section | None"]


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _some(*blocks) -> tuple[Block, ...]:
    return tuple(b for b in blocks if b is not None)


def badge(verdict: str) -> str:
    colour, meaning = BADGES.get(verdict, ("#777", verdict))
    return (f"<span class='badge' style='background:{colour}' title='{html.escape(meaning)}'>"
            f"{html.escape(verdict)}</span>")


def findings_section(results: StudyResults) -> Section | None:
    if not results.findings:
        return None
    items = []
    for f in results.findings:
        vt = verdict_text(f)
        cases = "".join(f"<li>{html.escape(c)}</li>" for c in vt.cases)
        items.append(
            f"<div class='finding' id='finding-{f.number}'><div class='fhead'><span class='fnum'>{f.number}</span>"
            f"{badge(f.verdict)}<span class='ftitle'>{html.escape(f.title)}</span></div>"
            f"<p class='fsum'>{html.escape(vt.summary)}</p>"
            + (f"<p class='firm'>{html.escape(firm)}</p>" if (firm := firmness(results, f.number)) else "")
            + f"<details><summary>how it is decided, case by case</summary><p class='rule'>{html.escape(vt.rule)}</p>"
            + (f"<ul>{cases}</ul>" if cases else "") + "</details></div>")
    legend = " ".join(f"{badge(v)} {html.escape(m)}" for v, (_, m) in BADGES.items())
    left_out = _p(left_out_text(results)) if results.left_out else None
    return Section("findings", "The paper's six findings on this run",
                   _some(f"<p class='legend'>{legend}</p>", left_out, "".join(items)))


def left_out_text(results: StudyResults) -> str:
    return (f"Left out of the findings: {', '.join(results.left_out)} (method head: the encoder is frozen, "
            "so its representations cannot change; it stays in the tables as the control).")


def notes_section(results: StudyResults) -> Section | None:
    """The authors' notes and diagnoses ([report] notes), rendered from their Markdown."""
    if results.notes is None or not results.notes.markdown.strip():
        return None
    from ftprobe.report.notes import notes_html

    source = f"<p class='sub'>From {html.escape(results.notes.file)}.</p>" if results.notes.file else ""
    return Section("notes", "Notes and diagnoses", (source + f"<div class='notes'>{notes_html(results.notes.markdown)}</div>",))


def paper_section(results: StudyResults) -> Section | None:
    """The paper's numbers beside this study's: its table, cross-task counts and layer dynamics."""
    blocks = _some(paper_table(results), paper_cross_task_table(results), paper_dynamics_table(results))
    if not blocks:
        return None
    n = sum(c.agrees is not None for c in results.paper)
    agree = sum(c.agrees is True for c in results.paper)
    intro = _p(f"Where the paper gives a number this study also measured: the direction of the change agrees in "
               f"{agree} of {n} comparisons. Sizes differ (the paper's BERTs against this study's models), so "
               "levels are not expected to match; directions are.") if n else None
    return Section("paper", "Beside the paper", _some(intro, *blocks))


def table_section(results: StudyResults) -> Section | None:
    if not results.runs:
        return None
    return Section("table", "Before → after fine-tuning",
                   _some(main_table(results), figures.accuracy_overview(results), figures.train_test_overview(results)))


def models_section(results: StudyResults) -> Section | None:
    chart = figures.model_comparison(results)
    if chart is None:
        return None
    return Section("models", "Models compared", _some(chart, seed_spread_table(results)))


def run_note(run: Run) -> str:
    """Label counts explained and which labels moved which way, in words."""
    parts = []
    n_task = len(run.labels)
    in_train = run.labels_in("train")
    row = run.table[-1] if run.table else None
    n_dp = row.n_labels if row else None
    if in_train is not None and in_train < n_task:
        parts.append(f"The task defines {n_task} labels; {in_train} occur in the train split, and DirectProbe and the "
                     "table count those.")
    elif in_train is None and n_dp is not None and n_dp < n_task:
        parts.append(f"The task defines {n_task} labels; {n_dp} occur in the train split, and DirectProbe and the "
                     "table count those.")
    maj = run.majority_rate()
    if maj is not None:
        parts.append(f"Always answering the most frequent test label would score {100 * maj:.1f} %.")
    if row is not None and row.min_distance_change is not None:
        ch = row.min_distance_change
        rose = ", ".join(f"{k} ({v:+.2f})" for k, v in ch.rose()[:5])
        fell = ", ".join(f"{k} ({v:+.2f})" for k, v in ch.fell()[:5])
        parts.append(f"At layer {row.layer}, {ch.up} labels' minimum distance rose and {ch.down} fell"
                     + (f"; rose most: {rose}" if rose else "") + (f"; fell most: {fell}" if fell else "") + ".")
        sf = row.min_distance_change_scale_free
        if sf is not None and row.space_scale_before and row.space_scale_after:
            parts.append(f"Divided by each space's spread ({row.space_scale_before:.3g} before, "
                         f"{row.space_scale_after:.3g} after), {sf.up} rose and {sf.down} fell.")
    return " ".join(parts)


def run_section(run: Run) -> Section:
    note = run_note(run)
    blocks = [_p(note)] if note else []
    blocks += [c for c in (f(run) for f in figures.RUN_FIGURES) if c is not None]
    t = layer_change_table(run)
    if t is not None:
        blocks.append(t)
    if not run.finetuned:
        blocks.insert(0, _p("Not fine-tuned in this study: only the original encoder was probed."))
    return Section(run.anchor, run.name, tuple(blocks))


def runs_section(results: StudyResults) -> Section | None:
    if not results.runs:
        return None
    return Section("runs", "Per model and task", (_p("Each run: the paper's figures for one model on one task."),),
                   tuple(run_section(r) for r in results.runs))


def cross_task_section(results: StudyResults) -> Section | None:
    if not results.cross_task:
        return None
    return Section("cross-task", "Cross-task: fine-tune on A, probe B",
                   _some(cross_task_table(results), figures.cross_task(results)))


def similarity_section(results: StudyResults) -> Section | None:
    runs = [r for r in results.runs if r.layer_change]
    if not runs:
        return None
    panels = []
    for attr, title in (("cka", "linear CKA"), ("rsa", "RSA (Spearman)")):
        traces = tuple(Trace(r.name, tuple(r.layer_change), tuple(getattr(c, attr) for c in r.layer_change.values()),
                             "line", hover=tuple(f"{r.name}, layer {la}<br>{title}: "
                                                 + ("-" if getattr(c, attr) is None else f"{getattr(c, attr):.3f}")
                                                 for la, c in r.layer_change.items()))
                       for r in runs)
        panels.append(Panel(title, traces, "layer", "before vs after", (-0.05, 1.05)))
    chart = Chart("fig-similarity", "Similarity indices: each layer before vs after fine-tuning",
                  "Linear CKA and RSA between each layer's vectors before and after fine-tuning, one line per run; "
                  "1 means the layer's geometry did not change.", tuple(panels))
    return Section("similarity", "Similarity indices", (chart,))


def details_section(results: StudyResults) -> Section | None:
    models = "".join(f"<li><b>{html.escape(k)}</b>: {html.escape(v)}</li>" for k, v in results.models.items())
    tasks = "".join(
        f"<li><b>{html.escape(t.name)}</b> ({html.escape(t.kind)}): {t.n_labels} labels defined; targets "
        + ", ".join(f"{html.escape(s)} {n:,}" for s, n in t.n_targets.items()) + "</li>"
        for t in results.tasks.values())
    links = ("<p>All numbers: <a href='../results.json'>results.json</a> · summary: <a href='summary.md'>summary.md</a>"
             " · tables (LaTeX booktabs, CSV): <a href='tables/'>tables/</a></p>")
    return Section("details", "Run details",
                   (f"<ul><li>ftprobe {html.escape(results.version)}, {results.n_steps} steps</li></ul>"
                    f"<h4>Models</h4><ul>{models}</ul><h4>Tasks</h4><ul>{tasks}</ul>{links}",))


def measures_section(results: StudyResults) -> Section | None:
    """Calibrated similarity and geometry: each run's measures against their permutation nulls
    (heatmaps of layer x checkpoint, the before -> after table; compare's measures)."""
    from ftprobe.report.measures_section import INTRO, run_section

    blocks = [b for b in (run_section(dict(r)) for r in results.raw_runs) if b]
    if not blocks:
        return None
    return Section("calibrated-measures", "Calibrated similarity and geometry", (INTRO, *blocks))


SECTIONS: tuple[SectionBuilder, ...] = (findings_section, robustness_section, notes_section, paper_section, table_section, models_section, methods_section, runs_section,
                                        cross_task_section, similarity_section, measures_section,
                                        details_section, cost_section)


def build_sections(results: StudyResults, builders: tuple[SectionBuilder, ...] = SECTIONS) -> tuple[Section, ...]:
    return tuple(s for s in (b(results) for b in builders) if s is not None)
