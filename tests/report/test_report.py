"""The report on constructed results: tables, verdicts, plots, markdown and JSON."""

from __future__ import annotations

import html as html_lib
import json

import numpy as np

from ftprobe.compare import evaluate_findings, findings_to_json
from ftprobe.report import write_report


def _results() -> dict:
    labels = ["ADJ", "NOUN", "VERB"]
    rng = np.random.default_rng(0)
    row = {"layer": 6, "n_labels": 3, "accuracy_before": 0.90, "accuracy_before_std": 0.01,
           "accuracy_after": 0.93, "accuracy_after_std": 0.005, "clusters_before": 40, "clusters_after": 3,
           "train_test_before": {"r": 0.95, "ci": [0.9, 0.99], "linear": True, "r_any": 0.95},
           "train_test_after": {"r": 0.7, "ci": [0.5, 0.8], "linear": True, "r_any": 0.7},
           "min_dist_before": [0.1, 0.2, 0.3], "min_dist_after": [0.5, 0.6, 0.2],
           "min_distance_change": {"up": 2, "down": 1, "mean_change": 0.233,
                                   "rise_most": [["ADJ", 0.4], ["NOUN", 0.4]], "rise_least": [["VERB", -0.1]]}}
    run = {"model": "m", "task": "pos", "n_labels": 3, "labels": labels, "table": [row],
           "layer_dynamics": {"points": ["original", "ck1", "final"], "layers": ["2", "6"],
                              "pearson": {"2": [1.0, 0.99, 0.98], "6": [1.0, 0.8, 0.6]}},
           "min_distance_series": {"points": ["original", "ck1", "final"],
                                   "by_layer": {"6": [[0.1, 0.2, 0.3], [0.3, 0.4, 0.25], [0.5, 0.6, 0.2]]}},
           "centroid_paths": {"6": {"labels": ["ADJ", "NOUN"], "coords": rng.normal(size=(3, 2, 2)).tolist(),
                                    "evr": [0.6, 0.3]}},
           "shift_pca": {str(k): {"coords": rng.normal(size=(3, 2)).tolist(), "evr": [0.5, 0.4]} for k in range(7)},
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
    return {"ftprobe_version": "test", "config": {}, "n_steps": 10,
            "models": {"m": {"source": "/models/m", "fingerprint": "x"}},
            "tasks": {"pos": {"reader": "pos", "kind": "word", "n_labels": 3, "n_targets": {"train": 10, "test": 5}}},
            "runs": [run], "cross_task": cross, "findings": findings}


def test_report_files_hold_tables_verdicts_and_plots(tmp_path):
    results = _results()
    paths = write_report(results, tmp_path)
    assert json.loads(paths["json"].read_text()) == results
    html = paths["html"].read_text()
    assert html.count("data:image/png;base64,") == 7  # accuracy, dynamics, min dist, paths, shift, per layer, cross
    assert "90.00 ± 1.00 -&gt; 93.00 ± 0.50" in html
    assert "40 -&gt; 3 (3 labels)" in html
    assert "0.95 [0.90, 0.99] -&gt; 0.70 [0.50, 0.80]" in html
    for f in results["findings"]:
        assert html_lib.escape(f["title"]) in html
    md = paths["md"].read_text()
    verdicts = [f["verdict"] for f in results["findings"]]
    assert verdicts == ["holds", "holds", "holds", "holds", "holds", "holds"]
    assert md.count("**holds**") == 6
    assert "| m | pos | ps-fxn | 6 | 1 | 5 | -0.400 | 80.00 -> 75.00 |" in md


def test_report_without_finetuning_or_linear_spaces(tmp_path):
    results = _results()
    run = results["runs"][0]
    for key in ("layer_dynamics", "min_distance_series", "centroid_paths", "shift_pca", "centroid_movement",
                "similarity"):
        run.pop(key)
    row = run["table"][0]
    for key in ("accuracy_after", "accuracy_after_std", "clusters_after", "train_test_after", "min_distance_change"):
        row.pop(key)
    row["train_test_before"] = {"r": None, "ci": None, "linear": False, "r_any": 0.4}
    results["cross_task"] = []
    paths = write_report(results, tmp_path)
    html = paths["html"].read_text()
    assert "- (not linear; r=0.40) -&gt; -" in html
