"""The report's method comparison: when a study fine-tunes a model several ways (``[finetune]
methods``, a sweep dimension), per model and task the methods side by side.

For each (model, task) fine-tuned with two or more methods: a table (trainable parameters, the
fine-tuned model's own accuracy, probe accuracy and DirectProbe clusters at the last DirectProbe
layer before -> after, how far that layer moved: linear CKA with the original and the mean
distance a label's centroid moved), a figure of every layer (probe accuracy, similarity to the
original, centroid movement; one line per method, the original model dashed), the layer dynamics
along the checkpoints where the study has them, and accuracy against trainable parameters.
Several fine-tuning seeds of one method are averaged (error bars: their std).

The section reads only the typed results and the runs as ``results.json`` holds them (each
fine-tuned run names its ``finetune.method`` and ``trainable_parameters``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ftprobe.compare.spread import mean_sd
from ftprobe.report.charts import BEFORE, PALETTE, Chart, Panel, Trace
from ftprobe.report.results_model import Run, StudyResults, _slug
from ftprobe.report.tables import Table


@dataclass(frozen=True)
class MethodRun:
    """One fine-tuned run of a method (one seed)."""

    method: str
    run: Run
    trainable_parameters: int | None
    finetuned_accuracy: float | None  # the fine-tuned model's last evaluation (fraction)
    eval_split: str | None
    lr: float | None = None  # its learning rate (absent from results written before it was recorded)


@dataclass(frozen=True)
class MethodGroup:
    """A model fine-tuned on one task with several methods; ``runs[m]`` holds method m's seeds."""

    model: str
    task: str
    methods: tuple[str, ...]  # in the order the study ran them
    runs: Mapping[str, tuple[MethodRun, ...]]

    @property
    def anchor(self) -> str:
        return _slug(f"methods-{self.model}-{self.task}")

    @property
    def name(self) -> str:
        return f"{self.model} / {self.task}"

    def color(self, method: str) -> str:
        return PALETTE[self.methods.index(method) % len(PALETTE)]

    def last_layer(self) -> int | None:
        layers = [m.run.table[-1].layer for ms in self.runs.values() for m in ms if m.run.table]
        return max(layers) if layers else None


def _last_eval(finetune: Mapping) -> tuple[float | None, str | None]:
    metrics = finetune.get("metrics") or []
    if isinstance(metrics, Mapping):  # the study nests the list once
        metrics = metrics.get("metrics") or []
    evals = [m for m in metrics if isinstance(m, Mapping) and m.get("event") == "eval" and m.get("accuracy") is not None]
    if not evals:
        return None, None
    return float(evals[-1]["accuracy"]), evals[-1].get("split")


def method_groups(results: StudyResults) -> tuple[MethodGroup, ...]:
    """Every (model, task) fine-tuned with at least two methods, in the order of the study's runs."""
    found: dict[tuple[str, str], dict[str, list[MethodRun]]] = {}
    for run, raw in zip(results.runs, results.raw_runs, strict=False):
        ft = raw.get("finetune") if isinstance(raw, Mapping) else None
        if not ft or not run.finetuned:
            continue
        method = str(ft.get("method") or "full")
        acc, split = _last_eval(ft)
        tp = ft.get("trainable_parameters")
        lr = ft.get("lr")
        mr = MethodRun(method, run, None if tp is None else int(tp), acc, split, None if lr is None else float(lr))
        found.setdefault((run.base_model, run.task), {}).setdefault(method, []).append(mr)
    return tuple(MethodGroup(model, task, tuple(by), {m: tuple(rs) for m, rs in by.items()})
                 for (model, task), by in found.items() if len(by) >= 2)


def _fmt(mean: float | None, sd: float | None, scale: float = 1.0, digits: int = 1, unit: str = "") -> str:
    if mean is None:
        return "-"
    out = f"{scale * mean:.{digits}f}"
    return out + (f" ± {scale * sd:.{digits}f}" if sd is not None else "") + unit


def _per_method(group: MethodGroup, get: Callable[[MethodRun], float | None]) -> dict[str, tuple]:
    return {m: mean_sd([get(r) for r in rs]) for m, rs in group.runs.items()}


def _row_at(run: Run, layer: int):
    return next((r for r in run.table if r.layer == layer), None)


def methods_table(group: MethodGroup) -> Table:
    layer = group.last_layer()
    full = _per_method(group, lambda r: r.trainable_parameters).get("full", (None, None))[0]
    splits = {r.eval_split for rs in group.runs.values() for r in rs if r.eval_split}
    rows = []
    for m in group.methods:
        rs = group.runs[m]
        tp = mean_sd([r.trainable_parameters for r in rs])[0]
        share = "-" if tp is None or not full else f"{100 * tp / full:.2f} %"

        def at(get, rs=rs):
            return mean_sd([None if (row := _row_at(r.run, layer)) is None else get(row, r.run) for r in rs])

        # before fine-tuning is the one original model, whatever the seed: read it once
        acc_b = at(lambda row, run: row.accuracy_before.mean, rs[:1])
        acc_a = at(lambda row, run: None if row.accuracy_after is None else row.accuracy_after.mean)
        cl_b = at(lambda row, run: row.clusters_before, rs[:1])
        cl_a = at(lambda row, run: row.clusters_after)
        cka = at(lambda row, run: None if layer not in run.layer_change else run.layer_change[layer].cka)
        mv = at(lambda row, run: None if layer not in run.layer_change else run.layer_change[layer].movement)
        md = at(lambda row, run: None if row.min_distance_change is None else row.min_distance_change.mean_change)
        rates = sorted({r.lr for r in rs if r.lr is not None})
        notes = [f"lr {rates[0]:g}"] if len(rates) == 1 else []
        notes += [f"{len(rs)} seeds"] if len(rs) > 1 else []
        rows.append((m + (f" ({', '.join(notes)})" if notes else ""), "-" if tp is None else f"{tp:,.0f}", share,
                     _fmt(*mean_sd([r.finetuned_accuracy for r in rs]), 100, 1, " %"),
                     f"{_fmt(*acc_b, 100, 1)} → {_fmt(*acc_a, 100, 1)} %",
                     f"{_fmt(*cl_b, digits=0)} → {_fmt(*cl_a, digits=0)}",
                     _fmt(*cka, digits=3), _fmt(*mv, digits=3), _fmt(*md, digits=3)))
    split = "/".join(sorted(splits)) or "eval"
    header = ("method", "trainable parameters", "of full", f"fine-tuned accuracy ({split})",
              f"probe accuracy L{layer} before → after", f"DirectProbe clusters L{layer} before → after",
              f"linear CKA with the original, L{layer}", f"centroid movement L{layer}",
              f"mean change of min distance L{layer}")
    return Table(f"tab-{group.anchor}", f"Fine-tuning methods on {group.name}",
                 f"{group.name}: each fine-tuning method's trainable parameters, the fine-tuned model's accuracy on "
                 f"the {split} split, and at layer {layer} (the last DirectProbe layer) the probe's test accuracy and "
                 "DirectProbe's cluster count before and after fine-tuning, the layer's linear CKA with the original "
                 "model (1: unchanged), the mean distance a label's centroid moved, and the mean change of each "
                 "label's minimum distance to the other labels. Several seeds: mean ± std.", header, tuple(rows))


def _layer_traces(group: MethodGroup, get: Callable[[Run, int], float | None], what: str, scale: float = 1.0,
                  original: Callable[[Run, int], float | None] | None = None) -> tuple[Trace, ...]:
    traces = []
    if original is not None:
        first = next(iter(group.runs.values()))[0].run
        layers = tuple(sorted(first.accuracy_before))
        y = tuple(None if (v := original(first, la)) is None else scale * v for la in layers)
        traces.append(Trace("original", layers, y, "line", color=BEFORE, dash=True,
                            hover=tuple(f"original, layer {la}<br>{what}: " + ("-" if v is None else f"{v:.2f}")
                                        for la, v in zip(layers, y, strict=True))))
    for m in group.methods:
        rs = group.runs[m]
        layers = tuple(sorted({la for r in rs for la in (r.run.accuracy_after if original else r.run.layer_change)}))
        stats = [mean_sd([get(r.run, la) for r in rs]) for la in layers]
        y = tuple(None if s[0] is None else scale * s[0] for s in stats)
        err = tuple(None if s[1] is None else scale * s[1] for s in stats)
        traces.append(Trace(m, layers, y, "line", error=err if any(e is not None for e in err) else None,
                            color=group.color(m),
                            hover=tuple(f"{m}, layer {la}<br>{what}: " + ("-" if v is None else f"{v:.3f}"
                                        if scale == 1 else f"{v:.2f}") + (f" ± {e:.3f}" if e is not None else "")
                                        for la, v, e in zip(layers, y, err, strict=True))))
    return tuple(traces)


def layers_chart(group: MethodGroup) -> Chart:
    def acc_after(run, la):
        a = run.accuracy_after.get(la)
        return None if a is None else a.mean

    def acc_before(run, la):
        a = run.accuracy_before.get(la)
        return None if a is None else a.mean

    def change(attr):
        return lambda run, la: None if la not in run.layer_change else getattr(run.layer_change[la], attr)

    panels = (Panel("probe accuracy", _layer_traces(group, acc_after, "probe accuracy (%)", 100, acc_before),
                    "layer", "probe accuracy (%)", (0, 100)),
              Panel("linear CKA with the original", _layer_traces(group, change("cka"), "linear CKA"),
                    "layer", "CKA, before vs after", (-0.05, 1.05)),
              Panel("centroid movement", _layer_traces(group, change("movement"), "mean centroid movement"),
                    "layer", "mean distance moved"))
    return Chart(f"fig-{group.anchor}", f"Fine-tuning methods, layer by layer: {group.name}",
                 "Per layer, one line per fine-tuning method: the probe's test accuracy after fine-tuning (the "
                 "original model dashed), the layer's linear CKA with the same layer before fine-tuning (1: the "
                 "geometry did not change), and the mean distance a label's centroid moved. Error bars: the std over "
                 "fine-tuning seeds where a method ran several.", panels, height=400)


def _dynamics_of(run: Run, recorded: bool):
    return run.recorded if recorded else run.dynamics


def dynamics_chart(group: MethodGroup) -> Chart | None:
    """Along fine-tuning at the last dynamics layer: Pearson with the original space and
    DirectProbe's cluster count, one line per method. The probe recorder's steps where every run
    has them (more points; x: the step), else the checkpoints (None where no run has either)."""
    runs = [r.run for rs in group.runs.values() for r in rs]
    recorded = all(r.recorded is not None and len(r.recorded.points) > 1 for r in runs)
    dyn_layers = [max(d.pearson) for r in runs if (d := _dynamics_of(r, recorded)) is not None and d.pearson]
    if not dyn_layers:
        return None
    layer = max(dyn_layers)
    pear, clus = [], []
    for m in group.methods:
        dyns = [d for r in group.runs[m] if (d := _dynamics_of(r.run, recorded)) is not None and layer in d.pearson]
        if not dyns:
            continue
        points = dyns[0].points
        x = tuple(int(p.rsplit("-", 1)[-1]) for p in points) if recorded else points
        for series, out, what in ((lambda d: d.pearson[layer], pear, "Pearson with the original"),
                                  (lambda d: d.clusters.get(layer, ()), clus, "DirectProbe clusters")):
            stats = [mean_sd([(series(d)[i] if i < len(series(d)) else None) for d in dyns])
                     for i in range(len(points))]
            y = tuple(s[0] for s in stats)
            out.append(Trace(m, x, y, "line", color=group.color(m),
                             hover=tuple(f"{m}, {p}, layer {layer}<br>{what}: " + ("-" if v is None else f"{v:.3f}")
                                         for p, v in zip(points, y, strict=True))))
    if not pear:
        return None
    split = next((r.recorded_split for r in runs if r.recorded_split), "probe")
    where = (f"at each step the probe recorder read (the {split} split; step 0: before any update)" if recorded
             else "along the checkpoints (the train split)")
    x_title = "recorded step" if recorded else "checkpoint"
    return Chart(f"fig-{group.anchor}-dynamics", f"During fine-tuning, layer {layer}: {group.name}",
                 f"At layer {layer}, {where}, one line per method: the Pearson correlation of the label-pair distances "
                 "with the original model's (1: the label geometry is kept) and DirectProbe's cluster count.",
                 (Panel("Pearson with the original", tuple(pear), x_title, "Pearson r", (-0.05, 1.05), not recorded),
                  Panel("DirectProbe clusters", tuple(clus), x_title, "clusters", x_categorical=not recorded)),
                 height=400)


def parameters_chart(group: MethodGroup) -> Chart | None:
    """Accuracy against trainable parameters (log scale), one point per method."""
    layer = group.last_layer()
    fine, probe = [], []
    for m in group.methods:
        rs = group.runs[m]
        tp = mean_sd([r.trainable_parameters for r in rs])[0]
        if not tp:
            continue
        x = (math.log10(tp),)
        fa = mean_sd([r.finetuned_accuracy for r in rs])
        pa = mean_sd([None if (row := _row_at(r.run, layer)) is None or row.accuracy_after is None
                       else row.accuracy_after.mean for r in rs])
        for (mean, sd), out, what in ((fa, fine, "fine-tuned model"), (pa, probe, f"probe at layer {layer}")):
            if mean is None:
                continue
            out.append(Trace(m, x, (100 * mean,), "scatter", error=None if sd is None else (100 * sd,),
                             color=group.color(m), marker_text=(m,),
                             hover=(f"{m}: {tp:,.0f} trainable parameters<br>{what}: {100 * mean:.2f} %",)))
    if not fine and not probe:
        return None
    panels = tuple(p for p in (Panel("fine-tuned model's accuracy", tuple(fine), "log10 trainable parameters",
                                     "accuracy (%)"),
                               Panel(f"probe accuracy, layer {layer}", tuple(probe), "log10 trainable parameters",
                                     "probe accuracy (%)")) if p.traces)
    return Chart(f"fig-{group.anchor}-parameters", f"Accuracy against trainable parameters: {group.name}",
                 "Each fine-tuning method's trainable parameter count (log10) against the fine-tuned model's own "
                 f"accuracy on its evaluation split and the probe's test accuracy at layer {layer} after fine-tuning.",
                 panels, height=380)


INTRO = ("<p>The study fine-tuned the same model on the same task with several methods. Per model and task: "
         "each method's trainable parameters and accuracy, how far each layer moved from the original model, and "
         "the probes' view of every layer, side by side.</p>")


def group_section(group: MethodGroup):
    from ftprobe.report.sections import Section

    blocks = [methods_table(group), layers_chart(group)]
    blocks += [c for c in (dynamics_chart(group), parameters_chart(group)) if c is not None]
    return Section(group.anchor, group.name, tuple(blocks))


def methods_section(results: StudyResults):
    """The "Fine-tuning methods compared" section (None when no model/task ran two methods)."""
    from ftprobe.report.sections import Section

    groups = method_groups(results)
    if not groups:
        return None
    return Section("methods", "Fine-tuning methods compared", (INTRO,), tuple(group_section(g) for g in groups))


def methods_markdown(results: StudyResults) -> list[str]:
    """summary.md's lines for the comparison (empty without several methods)."""
    lines: list[str] = []
    for g in method_groups(results):
        t = methods_table(g)
        lines += ["", f"## Fine-tuning methods compared: {g.name}", "",
                  "| " + " | ".join(t.header) + " |", "|" + "---|" * len(t.header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in t.rows]
    return lines
