"""``analyses``: a study that asks for fewer analyses plans only the steps they read (the steps
it keeps have the keys of the full study's), and its results hold only those numbers, with the
findings of the left-out analyses not tested."""

from __future__ import annotations

import json

import pytest

from ftprobe.study import parse_config, run_study
from ftprobe.study.config import ANALYSES
from ftprobe.study.plan import build_plan

from .conftest import micro_config
from .helpers import tiny_config


def _steps(tiny_bert, tmp_path, analyses=None):
    raw = tiny_config(tiny_bert, tmp_path / "out")
    if analyses is not None:
        raw["analyses"] = analyses
    plan = build_plan(parse_config(raw, "test"))
    return {(s.kind, s.label): s.key for s in plan.steps.values()}


def _kinds(steps) -> set[str]:
    return {kind for kind, _ in steps}


def test_fewer_analyses_plan_a_subset_of_the_full_study_with_the_same_keys(tiny_bert, tmp_path):
    full = _steps(tiny_bert, tmp_path)
    assert _kinds(full) >= {"finetune", "extract", "probe", "directprobe", "series", "similarity", "measures"}
    cases = {
        ("accuracy",): {"finetune", "extract", "probe"},
        ("clusters",): {"finetune", "extract", "directprobe", "label_control"},
        ("cka_rsa",): {"finetune", "extract", "similarity", "series", "measures"},
        ("layer_dynamics",): {"finetune", "extract", "series"},
    }
    for analyses, kinds in cases.items():
        part = _steps(tiny_bert, tmp_path, list(analyses))
        assert _kinds(part) == kinds, analyses
        if analyses != ("cka_rsa",):  # the measures' series extracts its points without fitting them
            assert all(full[k] == v for k, v in part.items()), analyses
    # the test split is fitted only for the train/test similarity
    no_test = _steps(tiny_bert, tmp_path, [a for a in ANALYSES if a != "train_test"])
    assert not any(kind == "directprobe" and "/test " in label for kind, label in no_test)
    assert any(kind == "directprobe" and "/test " in label for kind, label in full)
    # no cross-task analysis: the pair's extraction and probe are not planned
    no_cross = _steps(tiny_bert, tmp_path, [a for a in ANALYSES if a != "cross_task"])
    assert not any("tuned on" in label for _, label in no_cross)
    assert any("tuned on" in label for _, label in full)
    assert set(no_cross) < set(full)


def test_a_study_of_accuracy_alone(tiny_bert, tmp_path):
    out = tmp_path / "acc"
    study = run_study(parse_config(micro_config(tiny_bert, out, analyses=["accuracy"]), "t"), progress=False)
    ran = {study.plan.steps[sid].kind for sid in study.executed}
    assert ran == {"finetune", "extract", "probe"}
    results = json.loads(study.results.read_text())
    (run,) = results["runs"]
    probe = json.loads(next((out / "steps").glob("probe-*/result.json")).read_text())
    # the grid's resume folder is gone once the step's result is in
    assert not any((out / "steps").glob("probe-*/grid"))
    # a table row per probed layer, its accuracy that probe step's, the DirectProbe columns empty
    assert [r["layer"] for r in run["table"]] == run["probe_layers"] == sorted(int(k) for k in probe["layers"])
    assert all(r["clusters_before"] is None and r["train_test_before"] is None for r in run["table"])
    assert {r["accuracy_before"] for r in run["table"]} <= {v["mean"] for v in
                                                           run["accuracy"]["original"].values()}
    assert "layer_dynamics" not in run and "similarity" not in run and "measures" not in run
    assert "centroid_movement" not in run and "shift_pca" not in run
    verdicts = {f["number"]: f for f in results["findings"]}
    assert verdicts[1]["verdict"] != "not tested"
    for n, name in ((2, "clusters"), (3, "min_distance"), (4, "train_test"), (5, "layer_dynamics"),
                    (6, "cross_task")):
        assert verdicts[n]["verdict"] == "not tested"
        assert name in verdicts[n]["explanation"]
    assert (out / "report" / "index.html").is_file()

    # asking for more later adds steps; the ones already run stay cached
    more = run_study(parse_config(micro_config(tiny_bert, out, analyses=["accuracy", "clusters"]), "t"),
                     progress=False)
    assert {more.plan.steps[sid].kind for sid in more.executed} == {"directprobe", "label_control"}
    (run,) = json.loads(more.results.read_text())["runs"]
    assert all(isinstance(r["clusters_before"], int) for r in run["table"])

    # the centroid analyses read the extraction steps' centroids: nothing new runs, and each
    # appears only when asked for
    moved = run_study(parse_config(micro_config(tiny_bert, out, analyses=["accuracy", "centroid_movement"]), "t"),
                      progress=False)
    assert not moved.executed
    (run,) = json.loads(moved.results.read_text())["runs"]
    assert "shift_pca" not in run
    movement = run["centroid_movement"]
    assert {str(r["layer"]) for r in run["table"]} <= set(movement)  # every layer both models have
    for m in movement.values():
        assert len(m["per_label"]) == run["n_labels"]
        present = [v for v in m["per_label"] if v is not None]
        assert m["mean"] == pytest.approx(sum(present) / len(present))
