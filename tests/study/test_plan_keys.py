"""What enters a step's content key: what the step computes, never how it runs."""

from __future__ import annotations

from ftprobe.study import parse_config
from ftprobe.study.plan import build_plan

from .helpers import tiny_config


def _keys(tiny_bert, tmp_path, **directprobe):
    raw = tiny_config(tiny_bert, tmp_path / "out")
    raw["directprobe"] = {**raw.get("directprobe", {}), **directprobe}
    plan = build_plan(parse_config(raw, "test"))
    return {(s.kind, s.label): s.key for s in plan.steps.values()}, plan


def test_directprobe_processes_are_not_part_of_any_key(tiny_bert, tmp_path):
    plain, _ = _keys(tiny_bert, tmp_path)
    jobs, plan = _keys(tiny_bert, tmp_path, options={"jobs": 4})
    assert plain == jobs
    # the setting still reaches the steps that fit DirectProbe
    fitting = [s for s in plan.steps.values() if s.kind in ("directprobe", "series", "label_control")]
    assert fitting and all(s.spec["directprobe"]["jobs"] == 4 for s in fitting)
    # what DirectProbe finds does depend on its settings: those stay in the keys
    other, _ = _keys(tiny_bert, tmp_path, min_cluster_size=1)
    assert {k: v for k, v in other.items() if k[0] == "directprobe"} != {
        k: v for k, v in plain.items() if k[0] == "directprobe"}
