"""The report's figures: each function takes the typed results and returns a ``Chart`` (or None
when the study has nothing to show), which draws itself with Plotly (``.figure()``) or matplotlib
(``.matplotlib()``). Every figure has an anchor id and a one-line caption on how to read it."""

from __future__ import annotations

import math
from dataclasses import replace

from ftprobe.report.charts import AFTER, BEFORE, PALETTE, Chart, Panel, Trace
from ftprobe.report.results_model import Run, StudyResults, _slug


def _pct(v: float | None) -> float | None:
    return None if v is None else 100 * v


def _num(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _pc(k: int, explained: tuple[float | None, ...]) -> str:
    v = explained[k - 1] if len(explained) >= k else None
    return f"PC{k}" if v is None else f"PC{k} ({100 * v:.0f}% var.)"


def _case(run: Run, layer: int) -> str:
    return f"{run.model}/{run.task} L{layer}"


def _last_row(run: Run):
    return run.table[-1] if run.table else None


def accuracy_overview(results: StudyResults) -> Chart | None:
    """Probe accuracy before and after fine-tuning at each run's last DirectProbe layer."""
    rows = [(run, _last_row(run)) for run in results.runs if _last_row(run) is not None]
    if not rows:
        return None
    x = tuple(_case(run, row.layer) for run, row in rows)
    traces = []
    for side, color, get in (("before", BEFORE, lambda r: r.accuracy_before),
                             ("after", AFTER, lambda r: r.accuracy_after)):
        accs = [get(row) for _, row in rows]
        if all(a is None or a.mean is None for a in accs):
            continue
        y = tuple(_pct(a.mean) if a else None for a in accs)
        err = tuple(_pct(a.std) if a else None for a in accs)
        hover = tuple(f"{xx}<br>{side} fine-tuning: {_num(v)} % ± {_num(e)}" for xx, v, e in zip(x, y, err, strict=True))
        traces.append(Trace(f"{side} fine-tuning", x, y, "bar", error=err, hover=hover, color=color))
    base = [(run.majority_rate(), "majority-class rate") if run.majority_rate() is not None
            else (1 / max(1, row.n_labels), "chance (1/#labels)") for run, row in rows]
    traces.append(Trace("majority-class rate (test)" if any(b[1].startswith("maj") for b in base) else "chance",
                        x, tuple(100 * b[0] for b in base), "scatter", color="#000",
                        hover=tuple(f"{xx}<br>{name}: {100 * v:.2f} %" for xx, (v, name) in zip(x, base, strict=True))))
    return Chart("fig-accuracy", "Probe accuracy before and after fine-tuning",
                 "MLP probe accuracy on the test split (mean ± std over the probe's seeds) at each run's last "
                 "DirectProbe layer; black dots: accuracy of always answering the most frequent label.",
                 (Panel("", tuple(traces), "model / task / layer", "probe accuracy (%)", (0, 100), True),))


def accuracy_by_layer(run: Run) -> Chart | None:
    if not run.accuracy_before:
        return None
    traces = []
    for side, acc, color in (("before", run.accuracy_before, BEFORE), ("after", run.accuracy_after, AFTER)):
        if not acc:
            continue
        layers = tuple(acc)
        y = tuple(_pct(a.mean) for a in acc.values())
        err = tuple(_pct(a.std) for a in acc.values())
        hover = tuple(f"layer {la}, {side} fine-tuning<br>accuracy {_num(v)} % ± {_num(e)}"
                      for la, v, e in zip(layers, y, err, strict=True))
        traces.append(Trace(f"{side} fine-tuning", layers, y, "line", error=err, hover=hover, color=color))
    maj = run.majority_rate()
    return Chart(f"fig-{run.anchor}-accuracy-layers", f"{run.name}: probe accuracy at every probed layer",
                 "Test accuracy of the MLP probe at each probed layer (0 = embeddings), before and after "
                 "fine-tuning; the horizontal line is the majority-class rate"
                 + ("." if maj is not None else " (not recorded in these results, so not drawn)."),
                 (Panel("", tuple(traces), "layer", "probe accuracy (%)", (0, 100),
                        hline=None if maj is None else 100 * maj),))


def clusters_by_layer(run: Run) -> Chart | None:
    """#clusters per layer before/after: checkpoint layers (from the series) and table layers."""
    before: dict[int, int | None] = {}
    after: dict[int, int | None] = {}
    if run.dynamics:
        for layer, counts in run.dynamics.clusters.items():
            before[layer], after[layer] = counts[0], counts[-1]
    for row in run.table:
        before[row.layer] = row.clusters_before
        if row.clusters_after is not None:
            after[row.layer] = row.clusters_after
    if not before:
        return None
    layers = tuple(sorted(before))
    n_labels = run.table[-1].n_labels if run.table else len(run.labels)
    traces = [Trace("before fine-tuning", layers, tuple(before[la] for la in layers), "line", color=BEFORE,
                    hover=tuple(f"layer {la}, before: {before[la]} clusters" for la in layers))]
    if after:
        la_after = tuple(sorted(after))
        traces.append(Trace("after fine-tuning", la_after, tuple(after[la] for la in la_after), "line", color=AFTER,
                            hover=tuple(f"layer {la}, after: {after[la]} clusters" for la in la_after)))
    traces.append(Trace("#labels", layers, (n_labels,) * len(layers), "line", color="#000", dash=True,
                        hover=tuple(f"{n_labels} labels in the train split" for _ in layers)))
    return Chart(f"fig-{run.anchor}-clusters", f"{run.name}: DirectProbe clusters per layer",
                 "Number of DirectProbe clusters on the train split at each layer DirectProbe ran on, before and "
                 "after fine-tuning; on the dashed line (one cluster per label) the space is linear.",
                 (Panel("", tuple(traces), "layer", "#clusters"),))


def min_distance_per_label(run: Run) -> Chart | None:
    row = _last_row(run)
    if row is None or not row.min_dist_before:
        return None
    names = run.labels
    idx = [k for k in range(len(names)) if row.min_dist_before[k] is not None
           or (row.min_dist_after and row.min_dist_after[k] is not None)]
    if not idx:
        return None
    if row.min_dist_after:
        # sorted by change: the labels pushed apart most on the right
        def change(k):
            b, a = row.min_dist_before[k], row.min_dist_after[k]
            return -math.inf if a is None or b is None else a - b
        idx.sort(key=change)
    x = tuple(names[k] for k in idx)
    traces = []
    for side, vals, color in (("before", row.min_dist_before, BEFORE), ("after", row.min_dist_after, AFTER)):
        if not vals:
            continue
        y = tuple(vals[k] for k in idx)
        hover = tuple(f"label {n}, layer {row.layer}<br>{side}: min distance {_num(v, 3)}" for n, v in zip(x, y, strict=True))
        traces.append(Trace(f"{side} fine-tuning", x, y, "bar", hover=hover, color=color))
    return Chart(f"fig-{run.anchor}-min-distance", f"{run.name}: each label's minimum distance, layer {row.layer}",
                 "Euclidean distance from each label's clusters to the nearest cluster of another label (train "
                 "split), before and after fine-tuning; labels sorted by change, largest rise on the right.",
                 (Panel("", tuple(traces), "label", "minimum distance", x_categorical=True),), height=420)


def layer_dynamics(run: Run) -> Chart | None:
    dyn = run.dynamics
    if dyn is None or len(dyn.points) < 2:
        return None
    pts = dyn.points
    r_traces, c_traces = [], []
    for i, (layer, rs) in enumerate(dyn.pearson.items()):
        cis = dyn.ci.get(layer) or (None,) * len(rs)
        up = tuple(None if r is None or c is None or c[1] is None else max(0.0, c[1] - r) for r, c in zip(rs, cis, strict=True))
        lo = tuple(None if r is None or c is None or c[0] is None else max(0.0, r - c[0]) for r, c in zip(rs, cis, strict=True))
        hover = tuple(f"layer {layer}, {p}<br>Pearson with original: {_num(r, 3)}"
                      + (f" [{_num(c[0], 3)}, {_num(c[1], 3)}]" if c else "")
                      for p, r, c in zip(pts, rs, cis, strict=True))
        color = PALETTE[i % len(PALETTE)]
        r_traces.append(Trace(f"layer {layer}", pts, rs, "line", error=up, error_minus=lo, hover=hover, color=color))
        counts = dyn.clusters.get(layer)
        if counts:
            c_traces.append(Trace(f"layer {layer}", pts, counts, "line", color=color,
                                  hover=tuple(f"layer {layer}, {p}: {c} clusters" for p, c in zip(pts, counts, strict=True))))
    panels = [Panel("Pearson with the original layer", tuple(r_traces), "checkpoint", "Pearson r", (-0.05, 1.05), True)]
    if c_traces:
        panels.append(Panel("DirectProbe clusters", tuple(c_traces), "checkpoint", "#clusters", x_categorical=True))
    return Chart(f"fig-{run.anchor}-dynamics", f"{run.name}: layer dynamics along fine-tuning",
                 "Left: Pearson correlation (95% bootstrap interval) of each layer's label-pair distances at each "
                 "checkpoint with the same layer before fine-tuning (1 = unchanged layout). Right: cluster counts.",
                 tuple(panels))


def recorded_dynamics(run: Run) -> Chart | None:
    """The layer dynamics at the probe recorder's steps (probing during training), on its split."""
    if run.recorded is None or len(run.recorded.points) < 2:
        return None
    chart = layer_dynamics(replace(run, dynamics=run.recorded))
    split = run.recorded_split or "probe"
    return replace(chart, id=f"fig-{run.anchor}-recorded", title=f"{run.name}: layer dynamics at the recorded steps",
                   caption=f"Probing during training, on the {split} split: Pearson correlation (95% bootstrap interval) "
                   "of each layer's label-pair distances at each recorded step with step 0 (the model before any "
                   "update; 1 = unchanged layout), and DirectProbe's cluster counts.",
                   panels=tuple(replace(p, x_title="recorded step") for p in chart.panels))


def min_distance_series(run: Run) -> Chart | None:
    s = run.min_distance_series
    if s is None or len(s.points) < 2 or not s.by_layer:
        return None
    layer = max(s.by_layer)
    M = s.by_layer[layer]
    traces = []
    for k, name in enumerate(run.labels):
        y = tuple(p[k] if k < len(p) else None for p in M)
        if all(v is None for v in y):
            continue
        hover = tuple(f"label {name}, layer {layer}, {pt}<br>min distance {_num(v, 3)}" for pt, v in zip(s.points, y, strict=True))
        traces.append(Trace(name, s.points, y, "line", hover=hover))
    return Chart(f"fig-{run.anchor}-min-distance-series", f"{run.name}: minimum distance along fine-tuning, layer {layer}",
                 "Each label's minimum distance to another label at each checkpoint (train split); rising lines are "
                 "labels being pushed apart. Click a legend entry to hide a label, double-click to isolate it.",
                 (Panel("", tuple(traces), "checkpoint", "minimum distance", x_categorical=True),), height=440)


def centroid_paths(run: Run) -> Chart | None:
    if not run.centroid_paths:
        return None
    points = run.dynamics.points if run.dynamics else None
    panels = []
    for layer, view in run.centroid_paths.items():
        traces = []
        for j, name in enumerate(view.labels):
            xs = tuple(step[j][0] for step in view.coords)
            ys = tuple(step[j][1] for step in view.coords)
            names = points if points and len(points) == len(xs) else tuple(f"checkpoint {i}" for i in range(len(xs)))
            hover = tuple(f"label {name}, layer {layer}, {p}<br>PC1 {_num(a)}, PC2 {_num(b)}"
                          for p, a, b in zip(names, xs, ys, strict=True))
            text = ("start",) + ("",) * (len(xs) - 1)
            traces.append(Trace(name, xs, ys, "line", hover=hover, marker_text=text))
        evr = view.explained
        panels.append(Panel(f"layer {layer}", tuple(traces), _pc(1, evr), _pc(2, evr), equal_axes=True))
    return Chart(f"fig-{run.anchor}-centroid-paths", f"{run.name}: centroid paths of the closest labels",
                 "The centroids of the labels closest to each other before fine-tuning, followed from 'start' "
                 "through every checkpoint, projected on the first two principal components.",
                 tuple(panels), height=420)


def shift_pca(run: Run, max_layers: int = 4) -> Chart | None:
    if not run.shift_pca:
        return None
    layers = sorted(run.shift_pca)
    if len(layers) > max_layers:  # first, last and evenly between
        step = (len(layers) - 1) / (max_layers - 1)
        layers = sorted({layers[round(i * step)] for i in range(max_layers)})
    panels = []
    for layer in layers:
        view = run.shift_pca[layer]
        ok = [k for k, c in enumerate(view.coords) if c is not None and all(v is not None for v in c)]
        names = tuple(view.labels[k] for k in ok)
        xs = tuple(view.coords[k][0] for k in ok)
        ys = tuple(view.coords[k][1] for k in ok)
        hover = tuple(f"label {n}, layer {layer}<br>PC1 {_num(a)}, PC2 {_num(b)}" for n, a, b in zip(names, xs, ys, strict=True))
        text = names  # drawn next to the points in print (up to 60); the page shows them for <= 20, hover for all
        evr = view.explained
        panels.append(Panel(f"layer {layer}", (Trace("label", xs, ys, "scatter", hover=hover, marker_text=text,
                                                     show_legend=False),),
                            _pc(1, evr), _pc(2, evr)))
    return Chart(f"fig-{run.anchor}-shift-pca", f"{run.name}: how each label's centroid moved",
                 "PCA of each label's centroid shift (after minus before fine-tuning) at a few layers; labels that "
                 "moved the same way sit together. Hover names every point; drag to zoom, double-click to reset.",
                 tuple(panels), height=400)


def layer_change(run: Run) -> Chart | None:
    ch = run.layer_change
    if not ch:
        return None
    layers = tuple(ch)
    sim = [Trace(name, layers, tuple(getattr(c, attr) for c in ch.values()), "line",
                 hover=tuple(f"layer {la}<br>{name}: {_num(getattr(c, attr), 3)}" for la, c in ch.items()))
           for name, attr in (("linear CKA", "cka"), ("RSA (Spearman)", "rsa"))]
    mv = Trace("centroid movement", layers, tuple(c.movement for c in ch.values()), "line", color="#AA3377",
               hover=tuple(f"layer {la}<br>mean centroid movement {_num(c.movement, 3)}" for la, c in ch.items()))
    return Chart(f"fig-{run.anchor}-layer-change", f"{run.name}: change at every layer",
                 "Left: similarity of each layer before vs after fine-tuning (1 = same geometry). Right: how far a "
                 "label's centroid moved on average. Lower layers near 1 and 0 mean they hardly moved.",
                 (Panel("similarity before vs after", tuple(sim), "layer", "similarity", (-0.05, 1.05)),
                  Panel("mean centroid movement", (mv,), "layer", "Euclidean distance")))


def train_test_overview(results: StudyResults) -> Chart | None:
    rows = [(run, row) for run in results.runs for row in run.table
            if row.train_test_before is not None or row.train_test_after is not None]
    if not rows:
        return None
    x = tuple(_case(run, row.layer) for run, row in rows)
    traces = []
    for side, get, color in (("before", lambda r: r.train_test_before, BEFORE),
                             ("after", lambda r: r.train_test_after, AFTER)):
        sims = [get(row) for _, row in rows]
        if all(s is None for s in sims):
            continue
        y = tuple(s.r if s else None for s in sims)
        up = tuple(None if not s or s.r is None or not s.ci or s.ci[1] is None else max(0.0, s.ci[1] - s.r) for s in sims)
        lo = tuple(None if not s or s.r is None or not s.ci or s.ci[0] is None else max(0.0, s.r - s.ci[0]) for s in sims)
        hover = tuple(f"{xx}, {side}<br>" + ("not linear: r not defined" if not s or s.r is None else
                                             f"r = {s.r:.2f}" + (f" [{_num(s.ci[0])}, {_num(s.ci[1])}]" if s.ci else ""))
                      for xx, s in zip(x, sims, strict=True))
        traces.append(Trace(f"{side} fine-tuning", x, y, "bar", error=up, error_minus=lo, hover=hover, color=color))
    return Chart("fig-train-test", "Train/test similarity before and after fine-tuning",
                 "Pearson correlation of the train and the test split's label-pair distances (95% bootstrap "
                 "interval); a missing bar means the space was not linear, where the paper leaves r undefined.",
                 (Panel("", tuple(traces), "model / task / layer", "train/test Pearson r", (0, 1.05), True),))


def cross_task(results: StudyResults) -> Chart | None:
    rows = results.cross_task
    if not rows:
        return None
    x = tuple(f"{r.model}: {r.finetune_task} -> {r.probe_task} L{r.layer}" for r in rows)
    y = tuple(r.mean_change for r in rows)
    hover = tuple(f"{xx}<br>mean change {_num(r.mean_change, 3)}; {r.up} labels up, {r.down} down"
                  for xx, r in zip(x, rows, strict=True))
    colors = [AFTER if (v or 0) > 0 else "#CC3311" for v in y]
    traces = tuple(Trace(xx, (xx,), (v,), "bar", hover=(h,), color=c, show_legend=False)
                   for xx, v, h, c in zip(x, y, hover, colors, strict=True))
    return Chart("fig-cross-task", "Cross-task: fine-tune on A, probe B",
                 "Mean change of the probe task's per-label minimum distance after fine-tuning on another task; "
                 "below zero, the fine-tuning pulled the probe task's labels together.",
                 (Panel("", traces, "fine-tuned on -> probed", "mean change of min distance", x_categorical=True,
                        hline=0.0),))


def model_comparison(results: StudyResults) -> Chart | None:
    """With several models (or several runs of one model on a task): per task, each model's
    accuracy after fine-tuning and its change. Runs that differ only by their fine-tuning seed are
    one bar (``Run.group``: model and method): the mean over seeds, with the std across them as
    error bar; a single run's error bar is the probe's seed std."""
    import statistics

    models = sorted({r.group or r.model for r in results.runs})  # runs that differ only by seed: one group
    groups: dict[tuple[str, str], list] = {}
    for r in results.runs:
        row = _last_row(r)
        if row is not None and row.accuracy_after is not None and row.accuracy_after.mean is not None:
            groups.setdefault((r.group or r.model, r.task), []).append(row)
    repeated = any(len(g) > 1 for g in groups.values())
    if len(models) < 2 and not repeated:
        return None
    tasks = tuple(sorted({t for _, t in groups}))

    def stats(rows, get):
        vals = [100 * get(r) for r in rows if get(r) is not None]
        if not vals:
            return None, None
        if len(vals) == 1:
            return vals[0], None
        return statistics.fmean(vals), statistics.stdev(vals)

    after, gain = [], []
    for m in models:
        a_mean, a_err, g_mean, g_err, hover_a, hover_g = [], [], [], [], [], []
        for t in tasks:
            rows = groups.get((m, t), [])
            mean, spread = stats(rows, lambda r: r.accuracy_after.mean)
            if len(rows) == 1:
                spread = _pct(rows[0].accuracy_after.std)
            gm, gs = stats(rows, lambda r: None if r.accuracy_before.mean is None else
                           r.accuracy_after.mean - r.accuracy_before.mean)
            a_mean.append(mean)
            a_err.append(spread)
            g_mean.append(gm)
            g_err.append(gs)
            runs = f" ({len(rows)} runs)" if len(rows) > 1 else ""
            hover_a.append(f"{m} / {t}{runs}<br>after: {_num(mean)} % ± {_num(spread)}")
            hover_g.append(f"{m} / {t}{runs}<br>change: {_num(gm)} points" + (f" ± {_num(gs)}" if gs is not None else ""))
        after.append(Trace(m, tasks, tuple(a_mean), "bar", error=tuple(a_err), hover=tuple(hover_a)))
        gain.append(Trace(m, tasks, tuple(g_mean), "bar", error=tuple(g_err) if any(g_err) else None,
                          hover=tuple(hover_g)))
    return Chart("fig-models", "Models compared",
                 "Per task, each model's probe accuracy after fine-tuning and its change from before, at each run's "
                 "last DirectProbe layer; error bars: the std over fine-tuning seeds where a model (with one method) "
                 "was fine-tuned with several seeds on a task, else the std over the probe's seeds.",
                 (Panel("accuracy after fine-tuning", tuple(after), "task", "probe accuracy (%)", (0, 100), True),
                  Panel("change (points)", tuple(gain), "task", "after - before (points)", x_categorical=True, hline=0.0)))


RUN_FIGURES = (accuracy_by_layer, clusters_by_layer, min_distance_per_label, layer_dynamics, recorded_dynamics,
               min_distance_series, centroid_paths, shift_pca, layer_change)


def figure_id(text: str) -> str:
    return "fig-" + _slug(text)
