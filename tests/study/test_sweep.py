"""Sweeps: [finetune] seeds (with models and tasks) give the cross product; shared steps once."""

from __future__ import annotations

from ftprobe.study import build_plan, parse_config
from ftprobe.study.sweep import SweepDimension, Variant, sweep_dimensions, variants

from .conftest import micro_config


def _kinds(plan) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in plan.steps.values():
        out[s.kind] = out.get(s.kind, 0) + 1
    return out


def test_seeds_cross_models_and_tasks(tiny_bert, tiny_distilbert, tmp_path):
    base = micro_config(tiny_bert, tmp_path / "o")
    base["tasks"] = [{"name": "pos", "data": "sample:ewt", "max_sentences": 12},
                     {"name": "trec-50", "data": "sample:trec", "max_sentences": 20}]
    base["models"] = [{"name": "a", "path": str(tiny_bert)}, {"name": "b", "path": str(tiny_distilbert)}]
    one = build_plan(parse_config(base, "t"))
    ft = dict(base["finetune"], seeds=[0, 1, 2])
    three = build_plan(parse_config({**base, "finetune": ft}, "t"))
    k1, k3 = _kinds(one), _kinds(three)
    assert k1["finetune"] == 2 * 2 and k3["finetune"] == 2 * 2 * 3  # models x tasks x seeds
    # the original model's extractions, probes and DirectProbes do not depend on the seed
    n_orig_extract = sum(1 for s in one.steps.values() if s.kind == "extract" and "(original)" in s.label)
    n3_orig_extract = sum(1 for s in three.steps.values() if s.kind == "extract" and "(original)" in s.label)
    assert n_orig_extract == n3_orig_extract == 2 * 5  # models x (train/dev/test of pos, train/test of trec)
    assert k3["series"] == 3 * k1["series"] and k3["similarity"] == 3 * k1["similarity"]
    labels = sorted({r.model for r in three.runs})
    assert labels == ["a seed=0", "a seed=1", "a seed=2", "b seed=0", "b seed=1", "b seed=2"]
    assert len(three.runs) == 2 * 2 * 3


def test_one_seed_is_the_plain_study(tiny_bert, tmp_path):
    base = micro_config(tiny_bert, tmp_path / "o")
    plain = build_plan(parse_config(base, "t"))
    listed = build_plan(parse_config({**base, "finetune": dict(base["finetune"], seeds=[0])}, "t"))
    other = build_plan(parse_config({**base, "finetune": dict(base["finetune"], seed=5)}, "t"))
    assert set(plain.steps) == set(listed.steps)  # same keys: nothing reruns
    assert [r.model for r in listed.runs] == ["tiny"]
    assert set(plain.steps) != set(other.steps)
    keep = build_plan(parse_config({**base, "finetune": dict(base["finetune"], keep_checkpoints=True)}, "t"))
    assert set(keep.steps) == set(plain.steps)  # keeping weights changes no result


def test_variant_is_the_cross_product_of_dimensions(tiny_bert, tmp_path):
    cfg = parse_config({**micro_config(tiny_bert, tmp_path / "o"), "finetune": {"seeds": [3, 4]}}, "t")
    assert sweep_dimensions(cfg) == [SweepDimension("seed", (3, 4))]
    vs = variants(cfg, cfg.models[0])
    assert vs == [Variant("tiny", (("seed", 3),), ("seed",)), Variant("tiny", (("seed", 4),), ("seed",))]
    assert vs[1].finetune_settings({"seed": 0, "lr": 1.0, "seeds": [3, 4], "keep_checkpoints": False}) == \
        {"seed": 4, "lr": 1.0}
    # a further dimension (e.g. fine-tuning methods) multiplies the variants
    v = Variant("m", (("seed", 1), ("method", "lora")), ("method",))
    assert v.label == "m method=lora" and v.finetune_settings({})["method"] == "lora"


def test_bad_seeds_named(tiny_bert, tmp_path):
    import pytest

    from ftprobe.errors import UserError

    with pytest.raises(UserError, match=r"finetune.seeds"):
        parse_config({**micro_config(tiny_bert, tmp_path / "o"), "finetune": {"seeds": [1, 1]}}, "t")
    with pytest.raises(UserError, match=r"finetune.seeds"):
        parse_config({**micro_config(tiny_bert, tmp_path / "o"), "finetune": {"seeds": []}}, "t")


def test_train_fractions_are_a_dimension_and_the_whole_set_keeps_its_keys(tiny_bert, tmp_path):
    base = micro_config(tiny_bert, tmp_path / "o")
    plain = build_plan(parse_config(base, "t"))
    swept = parse_config({**base, "finetune": dict(base["finetune"], train_fractions=[0.5, 1.0], seeds=[0, 1])}, "t")
    assert sweep_dimensions(swept)[0] == SweepDimension("train_fraction", (0.5, 1.0))
    plan = build_plan(swept)
    assert [r.model for r in plan.runs] == [
        "tiny train_fraction=0.5 seed=0", "tiny train_fraction=0.5 seed=1",
        "tiny train_fraction=1.0 seed=0", "tiny train_fraction=1.0 seed=1"]
    assert {r.variant.replicate_label for r in plan.runs} == {"tiny train_fraction=0.5", "tiny train_fraction=1.0"}
    fts = {s.spec["finetune"].get("train_fraction") for s in plan.steps.values() if s.kind == "finetune"}
    assert fts == {0.5, None}  # 1.0 is left out of the key: the same step as a study without fractions
    assert set(plain.steps) <= set(plan.steps)


def test_bad_train_fractions_named(tiny_bert, tmp_path):
    import pytest

    from ftprobe.errors import UserError

    base = micro_config(tiny_bert, tmp_path / "o")
    for bad, msg in (([0.5, 0.5], "each fraction once"), ([0.0], "not in"), ([1.5], "not in")):
        with pytest.raises(UserError, match=rf"finetune.train_fractions.*{msg}"):
            parse_config({**base, "finetune": {"train_fractions": bad}}, "t")
    both = parse_config({**base, "finetune": {"train_fractions": [0.5], "options": {"train_fraction": 0.5}}}, "t")
    with pytest.raises(UserError, match="finetune.options.train_fraction: give the fractions"):
        build_plan(both)  # checked with the other settings, before any work


def test_series_seeds_fit_the_checkpoint_series_for_those_seeds_only(tiny_bert, tmp_path):
    import json

    import pytest

    from ftprobe.errors import UserError
    from ftprobe.study import run_study

    base = micro_config(tiny_bert, tmp_path / "o")
    seeds = dict(base["finetune"], seeds=[0, 1])
    every = build_plan(parse_config({**base, "finetune": seeds}, "t"))
    cfg = parse_config({**base, "finetune": seeds, "directprobe": dict(base["directprobe"], series_seeds=[0])}, "t")
    plan = build_plan(cfg)
    series = {r.model: plan.steps[r.series] for r in plan.runs}
    assert series["tiny seed=0"].id in every.steps  # seed 0's series is the one a study of every seed fits
    assert series["tiny seed=0"].spec["checkpoint_layers"] == [-1]
    assert series["tiny seed=1"].spec["checkpoint_layers"] == []  # extracted and measured, not fitted
    measures = {r.model: r.measures for r in plan.runs}
    assert set(plan.steps) - set(every.steps) == {series["tiny seed=1"].id, measures["tiny seed=1"]}

    summary = run_study(cfg, progress=False)
    runs = {r["model"]: r for r in json.loads(summary.results.read_text())["runs"]}
    assert runs["tiny seed=0"]["layer_dynamics"]["points"] and not runs["tiny seed=1"]["layer_dynamics"]["layers"]
    assert runs["tiny seed=1"]["table"][0]["clusters_after"] is not None  # before/after fits for every seed

    bad = {**base, "finetune": seeds, "directprobe": dict(base["directprobe"], series_seeds=[2])}
    with pytest.raises(UserError, match=r"directprobe.series_seeds: 2 is not a fine-tuning seed of this study"):
        build_plan(parse_config(bad, "t"))
