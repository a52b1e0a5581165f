"""The report's calibrated-measures section: per run, a layer x checkpoint heatmap for each
measure (every checkpoint against the original model; hover for the calibrated score, p-value
and interval), the before -> after table of every layer with nulls, per-layer geometry, and
DirectProbe's shuffled-label control. ``markdown_lines`` gives the same numbers for summary.md.

Plotly figures are embedded inline with plotly.js itself once per page (no CDN: the report opens
offline). ``measures_html(results)`` is the whole section, "" when no run has measures.
"""

from __future__ import annotations

import html

MEASURES = (("cka", "debiased linear CKA", "Viridis"),
            ("procrustes", "Procrustes distance", "Viridis_r"),
            ("mutual_knn", "mutual k-NN overlap", "Viridis"))
GEOMETRY = (("effective_rank", "effective rank"), ("isotropy", "isotropy (IsoScore)"),
            ("intrinsic_dimension", "intrinsic dimension (TwoNN)"))


def _num(v, digits: int = 3) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _p(v) -> str:
    return "-" if v is None else (f"{v:.3f}" if v >= 0.001 else f"{v:.1e}")


def _cell_text(c: dict) -> str:
    lo, hi = c["interval"]
    return (f"{_num(c['value'])} [{_num(lo, 2)}, {_num(hi, 2)}]<br>calibrated {_num(c['calibrated'], 1)}"
            f" sd, p = {_p(c['p_value'])}<br>null {_num(c['null_mean'])} ± {_num(c['null_sd'])}")


def heatmap(measures: dict, name: str, title: str, scale: str):
    """Layer (rows) x checkpoint (columns) of one measure; the original column is the reference."""
    import plotly.graph_objects as go

    points = measures["points"][1:]
    layers = measures["layers"]
    z, text = [], []
    for layer in layers:
        cells = measures["compare"][layer][1:]
        z.append([None if c is None or name not in c else c[name]["value"] for c in cells])
        text.append([_cell_text(c[name]) if name in c else c.get("error", "")
                     for c in (cell or {} for cell in cells)])
    fig = go.Figure(go.Heatmap(z=z, x=points, y=[f"layer {x}" for x in layers], text=text,
                               hovertemplate="%{y}, %{x}<br>%{text}<extra></extra>", colorscale=scale,
                               texttemplate="%{z:.2f}"))
    fig.update_layout(title=f"{title} vs the original model", width=520, height=120 + 40 * len(layers),
                      margin={"l": 70, "r": 20, "t": 50, "b": 60}, xaxis_title="checkpoint")
    return fig


def _before_after_rows(similarity: dict) -> list[list[str]]:
    rows = []
    for layer in sorted(similarity, key=int):
        cmp_ = similarity[layer].get("compare")
        if not cmp_ or "error" in cmp_:
            continue
        row = [layer]
        for name, _, _ in MEASURES:
            c = cmp_[name]
            lo, hi = c["interval"]
            row.append(f"{_num(c['value'])} [{_num(lo, 2)}, {_num(hi, 2)}]; "
                       f"{_num(c['calibrated'], 1)} sd, p {_p(c['p_value'])}")
        gb, ga = similarity[layer]["geometry_before"], similarity[layer]["geometry_after"]
        for key, _ in GEOMETRY:
            row.append(f"{_num(gb.get(key), 2)} -> {_num(ga.get(key), 2)}")
        rows.append(row)
    return rows


def _table(header: list[str], rows: list[list[str]]) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _control_cell(c: dict | None) -> str:
    if not c:
        return "-"
    if "error" in c:
        return f"not run: {c['error']}"
    shuffled = "/".join(str(n) for n in c["n_clusters_shuffled"])
    ratio = "-" if c.get("distance_ratio") is None else f"{c['distance_ratio']:.2f}"
    return (f"{c['n_clusters']} vs {shuffled} clusters (ratio {c['cluster_ratio']:.2f}); margin "
            f"{c['margin']:.2f} vs {c['margin_shuffled']:.2f} (ratio {ratio}); {c.get('n_rows') or '?'} rows")


def _control_rows(run: dict) -> list[list[str]]:
    """Per table layer: the control before and after fine-tuning (rows without one left out)."""
    rows = []
    for r in run.get("table") or ():
        before, after = r.get("label_control_before"), r.get("label_control_after")
        if before or after:
            rows.append([str(r["layer"]), _control_cell(before), _control_cell(after)])
    return rows


CONTROL_HEADER = ["layer", "real vs shuffled labels, before", "real vs shuffled labels, after"]


def run_section(run: dict) -> str:
    """One run's heatmaps, before/after table and label control (HTML, plotly.js not included)."""
    measures = run.get("measures")
    figs = []
    if measures and len(measures["points"]) > 1:
        figs = [heatmap(measures, name, title, scale).to_html(full_html=False, include_plotlyjs=False)
                for name, title, scale in MEASURES]
    rows = _before_after_rows(run.get("similarity") or {})
    control = _control_rows(run)
    if not figs and not rows and not control:
        return ""
    header = (["layer"] + [f"{t} [interval]; calibrated, p" for _, t, _ in MEASURES]
              + [f"{t} before -> after" for _, t in GEOMETRY])
    return (f"<h3>{html.escape(run['model'])} / {html.escape(run['task'])}</h3>"
            + (f"<div style='display:flex;flex-wrap:wrap'>{''.join(figs)}</div>" if figs else "")
            + (_table(header, rows) if rows else "")
            + (f"<h4>Shuffled-label control (DirectProbe)</h4>{CONTROL_INTRO}{_table(CONTROL_HEADER, control)}"
               if control else ""))


CONTROL_INTRO = ("<p>DirectProbe on the train split's real labels against the same points with the labels "
                 "permuted (a seeded subsample): the cluster ratio (real / shuffled clusters) is well below 1 "
                 "and the margin ratio (real / shuffled mean distance from a label's clusters to another "
                 "label's) well above 1 when the space carries the labels' structure; ratios near 1 mean "
                 "the layer separates random labels as well as real ones (many dimensions, few points).</p>")


def _md_cell(c: dict) -> str:
    return (f"{_num(c['value'])} (null {_num(c['null_mean'])} ± {_num(c['null_sd'])}; "
            f"{_num(c['calibrated'], 1)} sd, p {_p(c['p_value'])})")


def markdown_lines(runs) -> list[str]:
    """summary.md's calibrated measures: each layer before vs after (value, null mean ± sd,
    calibrated score, p-value) and the shuffled-label control; [] when no run has them."""
    meas, ctrl = [], []
    for run in runs:
        name = f"{run['model']} | {run['task']}"
        sim = run.get("similarity") or {}
        for layer in sorted(sim, key=int):
            c = sim[layer].get("compare")
            if c and "error" not in c:
                meas.append(f"| {name} | {layer} | " + " | ".join(_md_cell(c[m]) for m, _, _ in MEASURES) + " |")
        ctrl += [f"| {name} | " + " | ".join(r) + " |" for r in _control_rows(run)]
    out = []
    if meas:
        out += ["", "## Calibrated similarity: each layer before vs after fine-tuning", "",
                "Value on the train split's subsample (null mean ± sd with the rows of one side permuted; "
                "calibrated score in null sds, signed so agreement is positive; permutation p-value).", "",
                "| model | task | layer | " + " | ".join(t for _, t, _ in MEASURES) + " |",
                "|" + "---|" * (3 + len(MEASURES))] + meas
    if ctrl:
        out += ["", "## Shuffled-label control (DirectProbe, train split)", "",
                "| model | task | " + " | ".join(CONTROL_HEADER) + " |", "|" + "---|" * (2 + len(CONTROL_HEADER))]
        out += ctrl
    return out


INTRO = ("<p>Each measure against its permutation null "
             "(rows of one space shuffled): the calibrated score is (value - null mean) / null sd, "
             "signed so that agreement is positive, with a permutation p-value and a half-sample "
             "interval, on a seeded subsample of the train split (CKA and Procrustes also on every "
             "row). CKA is the debiased estimator, ~0 for unrelated spaces.</p>")


def measures_html(results: dict) -> str:
    """The calibrated-measures section of the report, with plotly.js inlined once."""
    sections = [s for s in (run_section(r) for r in results.get("runs", [])) if s]
    if not sections:
        return ""
    from plotly.offline import get_plotlyjs

    return (f"<script>{get_plotlyjs()}</script><h2>Calibrated similarity and geometry</h2>" + INTRO
            + "".join(sections))
