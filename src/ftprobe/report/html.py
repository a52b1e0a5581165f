"""The study report: ``OUT/report/index.html`` (tables and embedded plots), ``OUT/report/summary.md``
and ``OUT/results.json``."""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any

from ftprobe.atomic import write_json, write_text

VERDICT_COLOURS = {"holds": "#2a6", "fails": "#c42", "mixed": "#d90", "not tested": "#888"}


def _fmt(v: Any, pct: bool = False, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return f"{100 * v:.2f}" if pct else f"{v:.{digits}f}"
    return str(v)


def _acc(mean, std) -> str:
    if mean is None:
        return "-"
    return f"{100 * mean:.2f} ± {100 * (std or 0):.2f}"


def _r(sim: dict | None) -> str:
    if not sim:
        return "-"
    if sim.get("r") is None:
        r_any = sim.get("r_any")
        return "- (not linear" + (f"; r={r_any:.2f}" if r_any is not None else "") + ")"
    ci = sim.get("ci") or [None, None]
    return f"{sim['r']:.2f} [{_fmt(ci[0], digits=2)}, {_fmt(ci[1], digits=2)}]"


def main_table_rows(results: dict) -> list[list[str]]:
    rows = []
    for run in results["runs"]:
        for row in run["table"]:
            rows.append([
                run["model"], run["task"], str(row["layer"]),
                f"{_acc(row.get('accuracy_before'), row.get('accuracy_before_std'))} -> "
                f"{_acc(row.get('accuracy_after'), row.get('accuracy_after_std'))}",
                f"{_fmt(row.get('clusters_before'))} -> {_fmt(row.get('clusters_after'))} ({row['n_labels']} labels)",
                f"{_r(row.get('train_test_before'))} -> {_r(row.get('train_test_after'))}",
                _mindist(row),
            ])
    return rows


def _mindist(row: dict) -> str:
    ch = row.get("min_distance_change")
    if not ch:
        return "-"
    return f"{ch['up']} up / {ch['down']} down, mean {_fmt(ch['mean_change'])}"


MAIN_HEADER = ["model", "task", "layer", "probe acc % before -> after", "#clusters before -> after",
               "train/test r [95% CI] before -> after", "min distance"]


def findings_rows(results: dict) -> list[list[str]]:
    return [[str(f["number"]), f["title"], f["verdict"], f["explanation"]] for f in results["findings"]]


def write_markdown(results: dict, path: Path) -> None:
    lines = ["# ftprobe study summary", ""]
    models = ", ".join(f"{k} ({v['source']})" for k, v in results["models"].items())
    tasks = ", ".join(f"{k} ({v['n_labels']} labels)" for k, v in results["tasks"].items())
    lines += [f"Models: {models}", "", f"Tasks: {tasks}", "", "## The paper's six findings on this run", "",
              "| # | finding | verdict | numbers |", "|---|---|---|---|"]
    for n, title, verdict, expl in findings_rows(results):
        lines.append(f"| {n} | {title} | **{verdict}** | {expl} |")
    lines += ["", "## Before -> after fine-tuning", "", "| " + " | ".join(MAIN_HEADER) + " |",
              "|" + "---|" * len(MAIN_HEADER)]
    for row in main_table_rows(results):
        lines.append("| " + " | ".join(row) + " |")
    if results["cross_task"]:
        lines += ["", "## Cross-task (fine-tune on A, probe B)", "",
                  "| model | A | B | layer | labels up | down | mean change | acc before -> after |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in results["cross_task"]:
            lines.append(f"| {r['model']} | {r['finetune_task']} | {r['probe_task']} | {r['layer']} | {r['up']} | "
                         f"{r['down']} | {_fmt(r['mean_change'])} | {_fmt(r.get('accuracy_before'), True)} -> "
                         f"{_fmt(r.get('accuracy_after'), True)} |")
    lines += ["", "Full numbers: `results.json`; figures: `report/index.html`.", ""]
    write_text(path, "\n".join(lines))


def _table(header: list[str], rows: list[list[str]], raw_cols: set[int] = frozenset()) -> str:
    h = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = []
    for row in rows:
        cells = "".join(f"<td>{c if i in raw_cols else html.escape(c)}</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(png: bytes | None, alt: str) -> str:
    if not png:
        return ""
    data = base64.b64encode(png).decode()
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;vertical-align:top}th{background:#f3f3f3}figure{display:inline-block;margin:.5em}
.v{color:#fff;padding:2px 6px;border-radius:3px;font-weight:600}details{margin:.3em 0}
pre{font-size:11px;background:#f7f7f7;padding:.5em;overflow:auto;max-height:300px}"""


def write_html(results: dict, path: Path) -> None:
    from ftprobe.report import plots

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>ftprobe study</title>"
             f"<style>{CSS}</style></head><body>", "<h1>How fine-tuning changed the encoder</h1>"]
    models = ", ".join(f"<b>{html.escape(k)}</b> ({html.escape(v['source'])})" for k, v in results["models"].items())
    tasks = ", ".join(f"<b>{html.escape(k)}</b> ({v['n_labels']} labels, "
                      + ", ".join(f"{s} {n}" for s, n in v["n_targets"].items()) + " targets)"
                      for k, v in results["tasks"].items())
    parts.append(f"<p>Models: {models}<br>Tasks: {tasks}<br>ftprobe {html.escape(results['ftprobe_version'])}, "
                 f"{results['n_steps']} steps.</p>")
    parts.append("<h2>The paper's six findings, checked on this run</h2>")
    frows = []
    for f in results["findings"]:
        colour = VERDICT_COLOURS.get(f["verdict"], "#888")
        ev = html.escape(json.dumps(f["evidence"], indent=1)[:20000])
        frows.append([str(f["number"]), html.escape(f["title"]),
                      f"<span class='v' style='background:{colour}'>{html.escape(f['verdict'])}</span>",
                      f"{html.escape(f['explanation'])}<details><summary>numbers</summary><pre>{ev}</pre></details>"])
    parts.append(_table(["#", "finding", "verdict", "numbers behind it"], frows, raw_cols={0, 1, 2, 3}))
    parts.append("<h2>Before -> after fine-tuning</h2>")
    parts.append(_table(MAIN_HEADER, main_table_rows(results)))
    parts.append(_img(plots.accuracy_bars(results["runs"]), "probe accuracy"))
    for run in results["runs"]:
        if "layer_dynamics" not in run:
            continue
        parts.append(f"<h2>{html.escape(run['model'])} / {html.escape(run['task'])}</h2>")
        for row in run["table"]:
            ch = row.get("min_distance_change")
            if ch:
                most = ", ".join(f"{k} ({v:+.3f})" for k, v in ch["rise_most"])
                least = ", ".join(f"{k} ({v:+.3f})" for k, v in ch["rise_least"])
                parts.append(f"<p>Layer {row['layer']}: min distance rose most for {html.escape(most)}; "
                             f"least for {html.escape(least)}.</p>")
        for fig, alt in ((plots.layer_dynamics(run), "layer dynamics"),
                         (plots.min_distance_series(run), "min distance along checkpoints"),
                         (plots.centroid_paths(run), "centroid paths"),
                         (plots.shift_pca(run), "centroid shift PCA"),
                         (plots.per_layer(run), "per-layer change")):
            parts.append(_img(fig, alt))
        sim = run.get("similarity") or {}
        mv = run.get("centroid_movement") or {}
        rows = [[k, _fmt(sim.get(k, {}).get("cka")), _fmt(sim.get(k, {}).get("rsa")),
                 _fmt(mv.get(k, {}).get("mean"))] for k in sorted(set(sim) | set(mv), key=int)]
        parts.append(_table(["layer", "linear CKA (before vs after)", "RSA (Spearman)", "mean centroid movement"], rows))
    if results["cross_task"]:
        parts.append("<h2>Cross-task: fine-tune on A, probe B</h2>")
        rows = [[r["model"], r["finetune_task"], r["probe_task"], str(r["layer"]), str(r["up"]), str(r["down"]),
                 _fmt(r["mean_change"]), f"{_fmt(r.get('accuracy_before'), True)} -> {_fmt(r.get('accuracy_after'), True)}"]
                for r in results["cross_task"]]
        parts.append(_table(["model", "A (fine-tuned on)", "B (probed)", "layer", "labels up", "down",
                             "mean change", "probe acc %, original -> tuned on A"], rows))
        parts.append(_img(plots.cross_task(results["cross_task"]), "cross-task"))
    parts.append("<p>All numbers: <code>../results.json</code>. Summary: <code>summary.md</code>.</p></body></html>")
    write_text(path, "\n".join(parts))


def write_report(results: dict, out: str | Path) -> dict[str, Path]:
    out = Path(out)
    report = out / "report"
    report.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "results.json", "html": report / "index.html", "md": report / "summary.md"}
    write_json(paths["json"], results)
    write_markdown(results, paths["md"])
    write_html(results, paths["html"])
    return paths
