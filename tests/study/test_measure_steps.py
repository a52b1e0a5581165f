import numpy as np

from ftprobe.compare import linear_cka
from ftprobe.study.measure_steps import layer_measures, settings_from

SPEC = {"measures": {"max_rows": 100, "n_null": 5, "n_interval": 3, "level": 0.95, "k": 5, "seed": 0}}


def test_a_layer_without_variance_gives_reasons_not_a_crash():
    # [CLS] at the embedding layer is the same vector for every sentence.
    rng = np.random.default_rng(0)
    const = np.tile(rng.normal(size=8), (60, 1))
    moved = rng.normal(size=(60, 8))
    out = layer_measures(const, moved, settings_from(SPEC))
    assert out["cka"] is None
    assert "no variance" in out["compare"]["error"]
    assert "no variance" in out["geometry_before"]["error"]
    assert out["geometry_after"]["effective_rank"] > 1


def test_a_normal_layer_gets_every_measure():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 6))
    Y = X + 0.1 * rng.normal(size=(80, 6))
    out = layer_measures(X, Y, settings_from(SPEC))
    assert out["cka"] == linear_cka(X, Y)
    assert out["compare"]["cka"]["value_all_rows"] == out["cka"]
    assert set(out["compare"]) == {"cka", "procrustes", "mutual_knn", "rows"}


def test_label_control_steps_are_planned_per_table_layer_and_shared_across_seeds(tiny_bert, tmp_path):
    from ftprobe.study import parse_config
    from ftprobe.study.plan import build_plan

    from .helpers import tiny_config

    raw = tiny_config(tiny_bert, tmp_path / "out", cross_task=[],
                      tasks=[{"name": "pos", "data": "sample:ewt", "max_sentences": 5}])
    raw["finetune"] = {**raw["finetune"], "seeds": [0, 1]}
    plan = build_plan(parse_config(raw, "test"))
    steps = [s for s in plan.steps.values() if s.kind == "label_control"]
    # layers 1 and -1 of the original model (once for both seeds) and of each fine-tuned model
    assert len(steps) == 2 + 2 * 2
    assert {s.spec["layer"] for s in steps} == {1, -1} and all(s.spec["control"]["max_rows"] == 40 for s in steps)
    r0, r1 = plan.runs
    assert r0.control_original == r1.control_original and r0.control_finetuned != r1.control_finetuned
    assert plan.steps[r0.control_finetuned["1"]].deps == {"entry": r0.extract_finetuned["train"]}
    off = build_plan(parse_config({**raw, "label_control": {"n_shuffles": 0}}, "test"))
    assert not [s for s in off.steps.values() if s.kind == "label_control"]
