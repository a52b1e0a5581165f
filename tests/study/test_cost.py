"""What a study cost: every step records its wall and CPU seconds and the machine it ran on, and
results.json sums them by stage, read off the steps, so a study run in pieces still adds up."""

from __future__ import annotations

import json
import os
import socket

import pytest

from ftprobe.study import parse_config, run_study
from ftprobe.study.cost import study_cost

from .conftest import micro_config


def test_results_sum_each_steps_own_cost(tiny_bert, tmp_path):
    first = run_study(parse_config(micro_config(tiny_bert, tmp_path / "out"), "t"), progress=False,
                      only=("finetune",))
    summary = run_study(parse_config(micro_config(tiny_bert, tmp_path / "out"), "t"), progress=False)
    steps = summary.plan.steps
    results = {sid: json.loads((tmp_path / "out" / "steps" / sid / "result.json").read_text()) for sid in steps}
    for r in results.values():
        assert r["_ran_on"] == {"host": socket.gethostname(), "cpus": os.cpu_count(), "gpu": None}
        assert 0 <= r["_cpu_seconds"] <= r["_seconds"] * (os.cpu_count() + 1) + 0.5
    (ft,) = first.executed
    assert results[ft]["_cpu_seconds"] > 0  # fine-tuning works the CPU

    cost = json.loads(summary.results.read_text())["cost"]
    by_stage = {s["stage"]: s for s in cost["by_stage"]}
    assert set(by_stage) == {s.kind for s in steps.values()}
    for kind, stage in by_stage.items():
        mine = [r for sid, r in results.items() if steps[sid].kind == kind]
        assert stage["steps"] == len(mine) and stage["steps_without_cpu"] == 0
        assert stage["wall_seconds"] == pytest.approx(sum(r["_seconds"] for r in mine), abs=0.051)
        assert stage["cpu_seconds"] == pytest.approx(sum(r["_cpu_seconds"] for r in mine), abs=0.051)
    assert cost["total"]["steps"] == len(steps)  # the fine-tuning of the first run included
    (machine,) = cost["machines"]
    assert machine["steps"] == len(steps) and machine["gpu"] is None
    assert machine["stages"]["finetune"] == 1

    again = run_study(parse_config(micro_config(tiny_bert, tmp_path / "out"), "t"), progress=False)
    assert not again.executed
    assert json.loads(again.results.read_text())["cost"] == cost  # nothing ran, nothing changed

    summary_md = (tmp_path / "out" / "report" / "summary.md").read_text()
    assert "## What the study cost" in summary_md and "| all stages |" in summary_md
    assert "id='table-cost'" in (tmp_path / "out" / "report" / "index.html").read_text()


def test_steps_from_an_older_version_count_without_cpu_time():
    cost = study_cost([
        ("probe", {"_seconds": 10.0, "_cpu_seconds": 8.0, "_ran_on": {"host": "a", "cpus": 2, "gpu": None}}),
        ("probe", {"_seconds": 5.0}),  # finished before steps recorded CPU time and machine
        ("finetune", {"_seconds": 100.0, "_cpu_seconds": 30.0,
                      "_ran_on": {"host": "b", "cpus": 16, "gpu": "NVIDIA H200"}}),
    ])
    assert cost["by_stage"] == [
        {"stage": "probe", "steps": 2, "wall_seconds": 15.0, "cpu_seconds": 8.0, "steps_without_cpu": 1},
        {"stage": "finetune", "steps": 1, "wall_seconds": 100.0, "cpu_seconds": 30.0, "steps_without_cpu": 0}]
    assert cost["total"] == {"stage": "all", "steps": 3, "wall_seconds": 115.0, "cpu_seconds": 38.0,
                             "steps_without_cpu": 1}
    assert [(m["host"], m["gpu"], m["stages"]) for m in cost["machines"]] == [
        ("a", None, {"probe": 1}), (None, None, {"probe": 1}), ("b", "NVIDIA H200", {"finetune": 1})]
