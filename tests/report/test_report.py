"""The report on constructed results: page structure, verdicts in words, figure files, tables."""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import struct

import numpy as np
import pytest

from ftprobe.compare import evaluate_findings, findings_to_json, min_distance_change
from ftprobe.errors import UserError
from ftprobe.report import StudyResults, rebuild_report, write_report
from ftprobe.report import figures as figs
from ftprobe.report.sections import SECTIONS, Section, build_sections, table_section


def _results(n_labels: int = 3) -> dict:
    labels = ["ADJ", "NOUN", "VERB"] if n_labels == 3 else [f"L{k}" for k in range(n_labels)]
    rng = np.random.default_rng(0)
    row = {"layer": 6, "n_labels": 3, "accuracy_before": 0.90, "accuracy_before_std": 0.01,
           "accuracy_after": 0.93, "accuracy_after_std": 0.005, "clusters_before": 40, "clusters_after": 3,
           "train_test_before": {"r": 0.95, "ci": [0.9, 0.99], "linear": True, "r_any": 0.95},
           "train_test_after": {"r": 0.7, "ci": [0.5, 0.8], "linear": True, "r_any": 0.7},
           "min_dist_before": [0.1, 0.2, 0.3], "min_dist_after": [0.5, 0.6, 0.2],
           "min_distance_change": {"up": 2, "down": 1, "mean_change": 0.233,
                                   "per_label": {"ADJ": 0.4, "NOUN": 0.4, "VERB": -0.1},
                                   "rise_most": [["ADJ", 0.4], ["NOUN", 0.4], ["VERB", -0.1]],
                                   "rise_least": [["VERB", -0.1], ["ADJ", 0.4]]}}
    run = {"model": "m", "task": "pos", "n_labels": n_labels, "labels": labels, "table": [row],
           "n_targets": {"train": 10, "test": 5},
           "label_counts": {"train": [5, 5, 0] + [0] * (n_labels - 3), "test": [1, 3, 1] + [0] * (n_labels - 3)},
           "accuracy": {"original": {"1": {"mean": 0.5, "std": 0.02}, "6": {"mean": 0.9, "std": 0.01}},
                        "finetuned": {"1": {"mean": 0.55, "std": 0.01}, "6": {"mean": 0.93, "std": 0.005}}},
           "layer_dynamics": {"points": ["original", "ck1", "final"], "layers": ["2", "6"],
                              "pearson": {"2": [1.0, 0.99, 0.98], "6": [1.0, 0.8, 0.6]},
                              "ci": {"2": [[1, 1], [0.98, 0.995], [0.97, 0.99]], "6": [[1, 1], None, [0.5, 0.7]]},
                              "clusters": {"2": [50, 30, 20], "6": [40, 10, 3]}},
           "min_distance_series": {"points": ["original", "ck1", "final"],
                                   "by_layer": {"6": [[0.1, 0.2, 0.3], [0.3, 0.4, 0.25], [0.5, 0.6, 0.2]]}},
           "centroid_paths": {"6": {"labels": ["ADJ", "NOUN"], "coords": rng.normal(size=(3, 2, 2)).tolist(),
                                    "evr": [0.6, 0.3]}},
           "shift_pca": {str(k): {"coords": rng.normal(size=(n_labels, 2)).tolist(), "evr": [0.5, None]}
                         for k in range(7)},
           "centroid_movement": {str(k): {"mean": 0.1 * k, "per_label": [0.1 * k] * 3} for k in range(7)},
           "similarity": {str(k): {"cka": 1 - 0.05 * k, "rsa": 1 - 0.07 * k} for k in range(7)}}
    cross = [{"model": "m", "finetune_task": "pos", "probe_task": "ps-fxn", "layer": 6, "up": 1, "down": 5,
              "mean_change": -0.4, "accuracy_before": 0.8, "accuracy_after": 0.75}]
    cases = [{"model": "m", "task": "pos", "layer": 6, "accuracy_before": 0.9, "accuracy_after": 0.93,
              "clusters_before": 40, "clusters_after": 3, "n_labels": 3, "min_dist_before": [0.1, 0.2, 0.3],
              "min_dist_after": [0.5, 0.6, 0.2], "train_test_r_before": 0.95, "train_test_r_after": 0.7}]
    findings = findings_to_json(evaluate_findings({
        "cases": cases,
        "layer_dynamics": [{"model": "m", "task": "pos", "pearson_by_layer": {"2": 0.98, "6": 0.6}, "n_layers": 6}],
        "cross_task": cross}))
    return {"ftprobe_version": "test", "n_steps": 10,
            "config": {"models": [{"name": "m", "path": "google/bert_uncased_L-2_H-128_A-2"}]},
            "models": {"m": {"source": "/root/.cache/huggingface/models--x/snapshots/abc", "fingerprint": "x"}},
            "tasks": {"pos": {"reader": "pos", "kind": "word", "n_labels": n_labels,
                              "n_targets": {"train": 10, "test": 5}}},
            "runs": [run], "cross_task": cross, "findings": findings}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    results = _results()
    files = write_report(results, out, figure_files=False)
    return results, files, files.html.read_text(encoding="utf-8")


# the figure files of two figures (drawing all of them three ways takes too long for the default suite)
FEW = (table_section,)


def _png_dpi(path) -> float:
    data = path.read_bytes()
    i = data.index(b"pHYs")
    ppu_x, _, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    assert unit == 1  # metres
    return ppu_x * 0.0254


def test_results_json_round_trips_and_reads_typed(report):
    results, files, _ = report
    assert json.loads(files.json.read_text()) == results
    typed = StudyResults.load(files.json.parent)
    assert typed.runs[0].majority_rate() == pytest.approx(3 / 5)
    assert typed.runs[0].labels_in("train") == 2
    assert "StudyResults(1 models, 1 tasks" in repr(typed)
    assert "<table>" in typed._repr_html_()


def test_every_section_and_figure_is_anchored_and_in_the_toc(report):
    results, files, html = report
    sections = build_sections(StudyResults.from_json(results))
    anchors = []

    def walk(s: Section):
        anchors.append(s.anchor)
        for c in s.children:
            walk(c)

    for s in sections:
        walk(s)
    assert {"findings", "table", "runs", "run-m-pos", "cross-task", "similarity", "details"} <= set(anchors)
    toc = html[html.index("<nav"):html.index("</nav>")]
    for a in anchors:
        assert f"href='#{a}'" in toc and f"<section id='{a}'>" in html
    charts = [c for s in sections for c in s.charts()]
    assert len(charts) == 12  # accuracy, train/test, 8 for the run, cross-task, similarity (one model: no comparison)
    for c in charts:
        assert f"<figure id='{c.id}'" in html and f"href='#{c.id}'" in html
        assert c.caption and html_lib.escape(c.caption) in html
    assert "href='../results.json'" in html and "href='tables/'" in html
    assert "figures/" not in html  # written without figure files: no links to them


def test_plotly_is_embedded_once_and_nothing_loads_from_the_network(report):
    _, _, html = report
    assert html.count("* plotly.js v") == 1
    assert "cdn.plot.ly/plotly" not in html and "<script src=" not in html


def test_figure_files_in_three_formats_at_300_dpi(tmp_path):
    results = _results()
    files = write_report(results, tmp_path, sections=FEW)
    charts = [c for s in build_sections(StudyResults.from_json(results), FEW) for c in s.charts()]
    assert [c.id for c in charts] == ["fig-accuracy", "fig-train-test"]
    assert "href='figures/fig-accuracy.svg'" in files.html.read_text()
    for c in charts:
        for fmt in ("png", "svg", "pdf"):
            assert (files.figures / f"{c.id}.{fmt}").stat().st_size > 1000
    assert _png_dpi(files.figures / "fig-accuracy.png") == pytest.approx(300, abs=0.1)
    assert (files.figures / "fig-accuracy.pdf").read_bytes().startswith(b"%PDF")
    assert b"<svg" in (files.figures / "fig-accuracy.svg").read_bytes()[:500]


def test_tables_as_booktabs_latex_and_csv(report):
    _, files, _ = report
    tex = (files.tables / "table-main.tex").read_text()
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule")
    assert r"90.00 $\pm$ 1.00 & 93.00 $\pm$ 0.50 & 40 & 3 & 3" in tex
    assert r"probe acc \% before" in tex
    rows = list(csv.reader(io.StringIO((files.tables / "table-main.csv").read_text())))
    assert rows[0][:3] == ["model", "task", "layer"]
    assert rows[1][:5] == ["m", "pos", "6", "90.00 ± 1.00", "93.00 ± 0.50"]
    assert rows[1][8:10] == ["0.95 [0.90, 0.99]", "0.70 [0.50, 0.80]"]
    assert (files.tables / "table-cross-task.csv").is_file() and (files.tables / "table-findings.tex").is_file()


def test_words_not_internals_and_no_machine_paths(report):
    _, files, html = report
    assert "google/bert_uncased_L-2_H-128_A-2" in html
    assert "/root/" not in html and "/root/" not in files.md.read_text()
    assert "lower_stable" not in html and "top_keeps_much" not in html
    assert "numbers behind it" not in html and '"n_cases"' not in html  # no raw JSON evidence


def test_labels_listed_only_where_they_moved_that_way(report):
    _, _, html = report
    # VERB's minimum distance fell: it is listed as fell, never as rose
    assert "rose most: ADJ (+0.40), NOUN (+0.40); fell most: VERB (-0.10)" in html
    assert "VERB (-0.10), " not in html.split("rose most:")[1].split(";")[0]
    # label counts explained: 3 defined, 2 in the train split
    assert "The task defines 3 labels; 2 occur in the train split" in html


def test_scale_free_minimum_distances_in_the_run_note(tmp_path):
    results = _results()
    assert "Divided by each space's spread" not in write_report(results, tmp_path, figure_files=False).html.read_text()
    row = results["runs"][0]["table"][0]
    row["space_scale_before"], row["space_scale_after"] = 2.0, 8.0  # the space grew fourfold
    row["min_distance_change_scale_free"] = min_distance_change(
        row["min_dist_before"], row["min_dist_after"], ["ADJ", "NOUN", "VERB"], scales=(2.0, 8.0)).to_json()
    html = html_lib.unescape(write_report(results, tmp_path, figure_files=False).html.read_text())
    # over the spreads: ADJ 0.05 -> 0.0625 rose; NOUN 0.1 -> 0.075 and VERB 0.15 -> 0.025 fell
    assert "Divided by each space's spread (2 before, 8 after), 1 rose and 2 fell." in html


def test_accuracy_below_majority_rate_is_flagged(tmp_path):
    results = _results()
    results["runs"][0]["label_counts"]["test"] = [19, 1, 0]  # majority 95 % > 90 % and 93 %
    html = write_report(results, tmp_path, figure_files=False).html.read_text()
    assert "m / pos / layer 6: accuracy before (90.00 %) is not above the majority-class rate, 95.00 %" in html
    assert "accuracy after (93.00 %) is not above the majority-class rate, 95.00 %" in html
    results["runs"][0]["label_counts"]["test"] = [1, 3, 1]  # majority 60 %
    html = write_report(results, tmp_path, figure_files=False).html.read_text()
    assert "is not above" not in html


def test_not_exercised_has_its_own_badge(tmp_path):
    results = _results()
    cases = [{"clusters_before": 17, "clusters_after": 17, "n_labels": 17}] * 2
    results["findings"] = findings_to_json(evaluate_findings({"cases": cases}))
    html = write_report(results, tmp_path, figure_files=False).html.read_text()
    f2 = html[html.index("id='finding-2'"):html.index("id='finding-3'")]
    assert ">not exercised</span>" in f2 and ">holds</span>" not in f2


def test_rebuild_from_results_json_recomputes_nothing(report, tmp_path):
    results, files, html = report
    assert rebuild_report(files.json.parent, figure_files=False).html.read_text() == html
    first = write_report(results, tmp_path, sections=FEW)
    stamps = {p.name: p.stat().st_mtime_ns for p in first.figures.glob("*.png")}
    assert len(stamps) == 2
    again = rebuild_report(tmp_path, sections=FEW)
    assert again.html.read_text() == first.html.read_text()
    assert {p.name: p.stat().st_mtime_ns for p in again.figures.glob("*.png")} == stamps


def test_bad_results_file_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        rebuild_report(tmp_path)
    (tmp_path / "results.json").write_text('{"runs": [\n  {"model": }\n]}')
    with pytest.raises(UserError, match=r"results.json: line 2: not valid JSON"):
        rebuild_report(tmp_path)
    (tmp_path / "results.json").write_text('{"runs": [{"task": "pos"}]}')
    with pytest.raises(UserError, match="not a finished study's results"):
        rebuild_report(tmp_path)
    assert not (tmp_path / "report" / "index.html").exists()


def test_every_point_is_named_on_hover_whatever_the_label_count():
    run = StudyResults.from_json(_results(n_labels=48)).runs[0]
    chart = figs.shift_pca(run)
    for panel in chart.panels:
        (trace,) = panel.traces
        assert len(trace.hover) == len(trace.x) == 48
        assert {h.split(",")[0] for h in trace.hover} == {f"label L{k}" for k in range(48)}
    fig = chart.figure()
    assert [len(t.hovertext) for t in fig.data] == [48] * len(chart.panels)


def test_plot_functions_return_figure_objects():
    import matplotlib.figure
    import plotly.graph_objects as go

    res = StudyResults.from_json(_results())
    chart = figs.accuracy_overview(res)
    assert isinstance(chart.figure(), go.Figure) and isinstance(chart.matplotlib(), matplotlib.figure.Figure)
    bars = [t for t in chart.figure().data if t.type == "bar"]
    assert [list(b.y) for b in bars] == [[pytest.approx(90.0)], [pytest.approx(93.0)]]
    assert chart.panels[0].y_range == (0, 100)  # the axis starts at zero


def test_model_comparison_only_with_several_models():
    results = _results()
    assert figs.model_comparison(StudyResults.from_json(results)) is None
    other = json.loads(json.dumps(results["runs"][0]))
    other["model"] = "n"
    other["table"][0]["accuracy_after"] = 0.97
    results["runs"].append(other)
    chart = figs.model_comparison(StudyResults.from_json(results))
    after, change = chart.panels
    assert [t.name for t in after.traces] == ["m", "n"]
    assert [t.y for t in change.traces] == [(pytest.approx(3.0),), (pytest.approx(7.0),)]


def test_model_comparison_shows_the_spread_of_repeated_runs():
    results = _results()
    second = json.loads(json.dumps(results["runs"][0]))
    second["table"][0]["accuracy_after"] = 0.97  # e.g. another fine-tuning seed
    results["runs"].append(second)
    chart = figs.model_comparison(StudyResults.from_json(results))
    (after,), (change,) = (p.traces for p in chart.panels)
    assert after.y == (pytest.approx(95.0),)
    assert after.error == (pytest.approx(float(np.std([93.0, 97.0], ddof=1))),)
    assert change.y == (pytest.approx(5.0),) and "(2 runs)" in after.hover[0]
    runs = StudyResults.from_json(results).runs
    assert [r.anchor for r in runs] == ["run-m-pos", "run-m-pos-2"]  # every anchor unique


def test_a_section_is_one_function(tmp_path):
    def extra(results: StudyResults) -> Section:
        return Section("extra", "An extra section", ("<p>hello</p>",))

    html = write_report(_results(), tmp_path, sections=(*SECTIONS, extra), figure_files=False).html.read_text()
    assert "<section id='extra'>" in html and "href='#extra'" in html


def test_the_paper_side_by_side_table_from_two_seeds(tmp_path):
    """Two fine-tuning seeds of one model: the paper's row beside their mean ± sd, on the page, in
    summary.md and in tables/ (CSV); the direction agrees where both moved the same way."""
    from ftprobe.compare.paper import (
        cross_task_counts_side_by_side,
        dynamics_side_by_side,
        side_by_side,
    )

    results = _results()
    runs = []
    for seed, acc in ((0, 0.92), (1, 0.94)):
        run = json.loads(json.dumps(results["runs"][0]))
        run.update(model=f"m seed={seed}", base_model="m", replicate="m", probe_layers=list(range(7)))
        run["table"][0]["accuracy_after"] = acc
        runs.append(run)
    results["runs"] = runs
    results["cross_task"] = [{"model": f"m seed={seed}", "replicate": "m", "finetune_task": "pos",
                              "probe_task": "ps-fxn", "layer": 6, "up": up, "down": 36 - up, "mean_change": -0.1,
                              "n_compared": 36} for seed, up in ((0, 4), (1, 6))]
    results["paper"] = {"side_by_side": [c.to_json() for c in side_by_side(results, {"m": (6, 384)})],
                        "cross_task_counts": [c.to_json() for c in cross_task_counts_side_by_side(results)],
                        "dynamics": [d.to_json() for d in dynamics_side_by_side(results)]}
    files = write_report(results, tmp_path, figure_files=False)
    rows = list(csv.reader(io.StringIO((files.tables / "table-paper.csv").read_text())))
    assert rows[0] == ["model", "task", "quantity", "paper model", "paper", "this study", "n", "direction", "agrees"]
    acc = next(r for r in rows if r[2] == "probe accuracy %")
    # bert-small's POS row (94.26 -> 95.43) beside 90 -> mean 93, sd of 92 and 94
    assert acc == ["m", "pos", "probe accuracy %", "bert-small", "94.26 → 95.43", "90.00 ± 0.00 → 93.00 ± 1.41",
                   "2", "up / up", "yes"]
    clusters = next(r for r in rows if r[2] == "DirectProbe clusters")
    assert clusters[5:] == ["40 ± 0 → 3 ± 0", "2", "same / down", "no"]
    dyn = list(csv.reader(io.StringIO((files.tables / "table-paper-dynamics.csv").read_text())))
    assert dyn[1][:3] == ["m", "pos", "2"] and dyn[-1][2] == "6"
    html = files.html.read_text(encoding="utf-8")
    assert "id='paper'" in html
    summary = (tmp_path / "report" / "summary.md").read_text(encoding="utf-8")
    assert "## Beside the paper" in summary and "| m | pos | probe accuracy % | bert-small |" in summary
    counts = list(csv.reader(io.StringIO((files.tables / "table-paper-cross-task.csv").read_text())))
    assert counts[1] == ["m", "pos", "ps-fxn", "6", "0 / 40", "-1.68", "5.0 ± 1.4 / 31.0 ± 1.4 of 36",
                         "-0.10 ± 0.00", "2", "closer / closer", "yes"]
    assert "## Cross-task counts beside the paper" in summary and "id='table-paper-cross-task'" in html
