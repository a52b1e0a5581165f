"""The report's tables, each written three ways: HTML (the page), LaTeX booktabs and CSV (for papers)."""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass

from ftprobe.compare.spread import mean_sd
from ftprobe.report.results_model import Accuracy, Run, SpaceSimilarity, StudyResults, TableRow


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[tuple[str, ...], ...] = ()  # per row: warnings shown on the page (not in LaTeX/CSV cells)

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(self.header)
        w.writerows(self.rows)
        return buf.getvalue()

    def to_latex(self) -> str:
        cols = "l" * len(self.header)
        lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{cols}}}", r"\toprule",
                 " & ".join(latex_escape(h) for h in self.header) + r" \\", r"\midrule"]
        lines += [" & ".join(latex_escape(c) for c in row) + r" \\" for row in self.rows]
        lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{latex_escape(self.caption)}}}",
                  rf"\label{{tab:{self.id}}}", r"\end{table}", ""]
        return "\n".join(lines)

    def to_html(self) -> str:
        head = "".join(f"<th scope='col'>{html.escape(h)}</th>" for h in self.header)
        body = []
        for i, row in enumerate(self.rows):
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
            notes = self.notes[i] if i < len(self.notes) else ()
            if notes:  # a warning gets its own full-width row under the numbers it is about
                warn = "".join(f"<div class='warn'>{html.escape(n)}</div>" for n in notes)
                body.append(f"<tr class='note'><td colspan='{len(self.header)}'>{warn}</td></tr>")
        return (f"<figure class='table' id='{self.id}'><table><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table><figcaption>{html.escape(self.caption)}</figcaption></figure>")


LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                 "±": r"$\pm$", "→": r"$\rightarrow$"}


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def fmt_acc(a: Accuracy | None) -> str:
    if a is None or a.mean is None:
        return "-"
    return f"{100 * a.mean:.2f} ± {100 * (a.std or 0):.2f}"


def fmt_sim(s: SpaceSimilarity | None) -> str:
    if s is None:
        return "-"
    if s.r is None:
        return "not linear" + (f" (r={s.r_any:.2f})" if s.r_any is not None else "")
    ci = f" [{s.ci[0]:.2f}, {s.ci[1]:.2f}]" if s.ci and None not in s.ci else ""
    return f"{s.r:.2f}{ci}"


def _clusters(v: int | None) -> str:
    return "-" if v is None else str(v)


def accuracy_warnings(run: Run, row: TableRow) -> tuple[str, ...]:
    """Accuracies at or below what always answering the most frequent label gets (or, when label
    counts were not recorded, below uniform chance)."""
    maj = run.majority_rate()
    base, name = (maj, "the majority-class rate") if maj is not None else (1 / max(1, row.n_labels), "chance (1/#labels)")
    out = []
    for side, acc in (("before", row.accuracy_before), ("after", row.accuracy_after)):
        if acc is not None and acc.mean is not None and acc.mean <= base:
            out.append(f"{run.model} / {run.task} / layer {row.layer}: accuracy {side} ({100 * acc.mean:.2f} %) "
                       f"is not above {name}, {100 * base:.2f} %")
    return tuple(out)


MAIN_HEADER = ("model", "task", "layer", "probe acc % before", "probe acc % after", "#clusters before",
               "#clusters after", "#labels", "train/test r before", "train/test r after", "labels' min distance")


def main_table(results: StudyResults) -> Table:
    rows, notes = [], []
    for run in results.runs:
        for row in run.table:
            ch = row.min_distance_change
            md = "-" if ch is None else (f"{ch.up} up, {ch.down} down, mean "
                                         + ("-" if ch.mean_change is None else f"{ch.mean_change:+.2f}"))
            rows.append((run.model, run.task, str(row.layer), fmt_acc(row.accuracy_before), fmt_acc(row.accuracy_after),
                         _clusters(row.clusters_before), _clusters(row.clusters_after), str(row.n_labels),
                         fmt_sim(row.train_test_before), fmt_sim(row.train_test_after), md))
            notes.append(accuracy_warnings(run, row))
    return Table("table-main", "Before and after fine-tuning",
                 "The paper's table on this study: MLP probe test accuracy (mean ± std over seeds), DirectProbe "
                 "clusters on the train split, train/test Pearson r of label-pair distances [95% CI] (defined only "
                 "for linear spaces), and how many labels' minimum distance rose. #labels counts the labels "
                 "present in the train split.", MAIN_HEADER, tuple(rows), tuple(notes))


def findings_table(results: StudyResults) -> Table:
    from ftprobe.report.verdicts import plain_summary

    return Table("table-findings", "The paper's findings", "Each finding of Zhou & Srikumar (2022) checked on this study.",
                 ("#", "finding", "verdict", "evidence"),
                 tuple((str(f.number), f.title, f.verdict, plain_summary(f)) for f in results.findings))


def cross_task_table(results: StudyResults) -> Table | None:
    if not results.cross_task:
        return None
    rows = tuple((r.model, r.finetune_task, r.probe_task, str(r.layer), str(r.up), str(r.down),
                  "-" if r.mean_change is None else f"{r.mean_change:+.3f}",
                  "-" if r.accuracy_before is None else f"{100 * r.accuracy_before:.2f}",
                  "-" if r.accuracy_after is None else f"{100 * r.accuracy_after:.2f}")
                 for r in results.cross_task)
    return Table("table-cross-task", "Cross-task", "Fine-tuned on A, probed on B: how many of B's labels moved apart "
                 "(up) or together (down), and B's probe accuracy on the original and on the A-tuned encoder.",
                 ("model", "A (fine-tuned on)", "B (probed)", "layer", "labels up", "labels down", "mean change",
                  "acc % original", "acc % tuned on A"), rows)


def layer_change_table(run: Run) -> Table | None:
    if not run.layer_change:
        return None
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    rows = tuple((str(la), f(c.cka), f(c.rsa), f(c.movement)) for la, c in run.layer_change.items())
    return Table(f"table-{run.anchor}-layers", f"{run.name}: change per layer",
                 "Similarity of each layer before vs after fine-tuning, and mean centroid movement.",
                 ("layer", "linear CKA", "RSA (Spearman)", "mean centroid movement"), rows)


def _mean_sd(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    mean, sd = mean_sd(values)
    if mean is None:
        return "-"
    return f"{scale * mean:.{digits}f} ± {scale * (sd or 0.0):.{digits}f}"


def seed_spread_table(results: StudyResults) -> Table | None:
    """Runs that differ only by their fine-tuning seed: per group, task and DirectProbe layer, the
    mean ± std (over seeds) of the probe accuracy after, its change and the clusters after."""
    groups: dict[tuple[str, str, int], list[tuple[Run, TableRow]]] = {}
    for run in results.runs:
        if run.seed is not None:
            for row in run.table:
                groups.setdefault((run.group, run.task, row.layer), []).append((run, row))
    if not groups:
        return None
    rows = []
    for (group, task, layer), items in groups.items():
        after = [(r.accuracy_after.mean, r.accuracy_before.mean) for _, r in items
                 if r.accuracy_after is not None and r.accuracy_after.mean is not None]
        rows.append((group, task, str(layer), ", ".join(str(run.seed) for run, _ in items),
                     fmt_acc(items[0][1].accuracy_before), _mean_sd([a for a, _ in after], 100),
                     _mean_sd([a - b for a, b in after if b is not None], 100),
                     _mean_sd([float(r.clusters_after) for _, r in items if r.clusters_after is not None], 1, 1)))
    return Table("table-seeds", "Across fine-tuning seeds",
                 "Runs that differ only by their fine-tuning seed: the probe accuracy after fine-tuning, its change "
                 "(points) and the DirectProbe clusters after, as mean ± std over the seeds (the accuracy before is "
                 "the original model's, the same for every seed).",
                 ("model", "task", "layer", "seeds", "probe acc % before", "probe acc % after",
                  "change (points)", "#clusters after"), tuple(rows))


QUANTITY_NAMES = {"accuracy": "probe accuracy %", "clusters": "DirectProbe clusters",
                  "train_test_r": "train/test Pearson r", "cross_task_mean_change": "cross-task mean change",
                  "cross_task_accuracy": "cross-task accuracy %"}


def _with_sd(mean: float | None, sd: float | None, digits: int, sign: bool = False) -> str:
    """"mean ± sd" at ``digits`` decimals ("-" without a mean; the mean alone without an sd)."""
    if mean is None:
        return "-"
    return f"{mean:{'+' if sign else ''}.{digits}f}" + ("" if sd is None else f" ± {sd:.{digits}f}")


def _paper_value(mean: float | None, sd: float | None, quantity: str) -> str:
    return _with_sd(mean, sd, 0 if quantity == "clusters" else 3 if quantity == "train_test_r" else 2)


def paper_table(results: StudyResults) -> Table | None:
    """Every number of the paper this study can be compared with, side by side."""
    if not results.paper:
        return None
    f = lambda v, q: "-" if v is None else _paper_value(v, None, q)  # noqa: E731
    agree = {True: "yes", False: "no", None: "-"}
    rows = tuple((c.model, c.task, QUANTITY_NAMES.get(c.quantity, c.quantity), f"bert-{c.paper_model}",
                  f"{f(c.paper_before, c.quantity)} → {f(c.paper_after, c.quantity)}",
                  f"{_paper_value(c.ours_before, c.ours_before_sd, c.quantity)} → "
                  f"{_paper_value(c.ours_after, c.ours_after_sd, c.quantity)}", str(c.n_runs),
                  f"{c.paper_direction or '-'} / {c.ours_direction or '-'}", agree[c.agrees])
                 for c in results.paper)
    return Table("table-paper", "Beside the paper",
                 "Zhou & Srikumar (2022), at the BERT size closest to each study model, beside this study "
                 "(before → after fine-tuning, at the last DirectProbe layer; mean ± sd over fine-tuning seeds; "
                 "n: runs). Direction: how the number moved with fine-tuning, paper / this study.",
                 ("model", "task", "quantity", "paper model", "paper", "this study", "n", "direction", "agrees"), rows)


def paper_cross_task_table(results: StudyResults) -> Table | None:
    """How many of the probe task's labels each fine-tuning moved apart and closer, beside bert-base's."""
    if not results.paper_cross_task:
        return None
    rows = tuple((c.model, c.finetune, c.probe, str(c.layer), f"{c.paper_apart} / {c.paper_closer}",
                  f"{c.paper_mean_change:+.2f}", f"{_with_sd(c.ours_apart, c.ours_apart_sd, 1)} / "
                  f"{_with_sd(c.ours_closer, c.ours_closer_sd, 1)} of {c.n_labels}",
                  _with_sd(c.ours_mean_change, c.ours_mean_change_sd, 2, sign=True), str(c.n_runs),
                  f"{c.paper_majority} / {c.ours_majority}", "yes" if c.agrees else "no")
                 for c in results.paper_cross_task)
    return Table("table-paper-cross-task", "Cross-task counts beside the paper",
                 "The probe task's labels whose minimum distance to the other labels rose (apart) or fell (closer) "
                 "with fine-tuning on the task named (the probe task itself: its own fine-tuning), at the last "
                 "DirectProbe layer, beside bert-base's counts (of 40 PS-fxn labels); mean ± sd "
                 "over fine-tuning seeds, n: runs. Majority: where most labels went, paper / this study.",
                 ("model", "fine-tuned on", "probed", "layer", "paper apart / closer", "paper mean change",
                  "this study apart / closer", "this study mean change", "n", "majority", "agrees"), rows)


def paper_dynamics_table(results: StudyResults) -> Table | None:
    """Each layer's end-of-training Pearson with itself before fine-tuning, beside bert-base's range."""
    if not results.paper_dynamics:
        return None
    rows = tuple((d.model, d.task, str(d.layer), f"{d.paper_layer} of 12", f"{d.paper_low:.2f}-{d.paper_high:.2f}",
                  _paper_value(d.ours_mean, d.ours_sd, "train_test_r"), str(d.n_runs), "yes" if d.within else "no")
                 for d in results.paper_dynamics)
    return Table("table-paper-dynamics", "Layer dynamics beside the paper",
                 "Pearson r between a layer's label distances at the end of fine-tuning and before it (mean ± sd "
                 "over fine-tuning seeds), beside bert-base's range at the nearest relative depth (paper Figure 4); "
                 "within: inside the range ± 0.05.",
                 ("model", "task", "layer", "paper layer", "paper range", "this study", "n", "within"), rows)


def export_tables(results: StudyResults) -> tuple[Table, ...]:
    """The tables written to report/tables/ as .tex and .csv."""
    out = [main_table(results), findings_table(results)]
    from ftprobe.report.cost_section import cost_table
    from ftprobe.report.robustness_section import threshold_table, variant_table

    for extra in (seed_spread_table(results), cross_task_table(results), paper_table(results),
                  paper_cross_task_table(results), paper_dynamics_table(results), variant_table(results), threshold_table(results),
                  cost_table(results)):
        if extra is not None:
            out.append(extra)
    return tuple(out)
