"""``[finetune] methods`` as a sweep dimension and ``record_every_steps`` in a study."""

from __future__ import annotations

import json

import pytest

from ftprobe.errors import UserError
from ftprobe.study import parse_config
from ftprobe.study.plan import build_plan

from .helpers import tiny_config


def _plan(tiny_bert, tmp_path, **finetune):
    raw = tiny_config(tiny_bert, tmp_path / "out")
    raw["finetune"] = {**raw["finetune"], **finetune}
    return build_plan(parse_config(raw, "test"))


def _kinds(plan, kind):
    return [s for s in plan.steps.values() if s.kind == kind]


def test_each_method_is_one_finetuned_model_and_shared_steps_run_once(tiny_bert, tmp_path):
    one = _plan(tiny_bert, tmp_path)
    swept = _plan(tiny_bert, tmp_path, methods=["full", "lora", "head"], options={"lora_rank": 4})
    assert len(_kinds(one, "finetune")) == 1 and len(_kinds(swept, "finetune")) == 3
    assert sorted(s.spec["finetune"].get("method", "full") for s in _kinds(swept, "finetune")) == [
        "full", "head", "lora"]
    assert [r.model for r in swept.runs if r.task == "pos"] == [
        "tiny method=full", "tiny method=lora", "tiny method=head"]
    # the original model's vectors and probes do not depend on the method: planned once
    originals = {r.extract_original["train"] for r in swept.runs}
    assert len(originals) == 2  # one per task
    # a study without methods, or with only "full", keeps the fine-tuning step's key
    assert {s.key for s in _kinds(one, "finetune")} == {s.key for s in _kinds(_plan(tiny_bert, tmp_path,
                                                                                     methods=["full"]), "finetune")}
    assert len(swept.cross) == 3


def test_lr_by_method_sets_that_methods_rate_only(tiny_bert, tmp_path):
    base = _plan(tiny_bert, tmp_path, methods=["full", "lora"], lr=5e-5)
    tuned = _plan(tiny_bert, tmp_path, methods=["full", "lora"], lr=5e-5, lr_by_method={"lora": 1e-3})
    rates = {s.spec["finetune"].get("method", "full"): s.spec["finetune"]["lr"] for s in _kinds(tuned, "finetune")}
    assert rates == {"full": 5e-5, "lora": 1e-3}
    keys = {s.spec["finetune"].get("method", "full"): s.key for s in _kinds(base, "finetune")}
    tuned_keys = {s.spec["finetune"].get("method", "full"): s.key for s in _kinds(tuned, "finetune")}
    assert tuned_keys["full"] == keys["full"] and tuned_keys["lora"] != keys["lora"]
    # the same rate given as lr_by_method or as lr is the same fine-tuned model
    same = _plan(tiny_bert, tmp_path, methods=["lora"], lr=1e-3)
    alias = _plan(tiny_bert, tmp_path, methods=["lora"], lr=5e-5, lr_by_method={"lora": 1e-3})
    assert {s.key for s in _kinds(same, "finetune")} == {s.key for s in _kinds(alias, "finetune")}


@pytest.mark.parametrize("finetune, key", [
    ({"methods": ["full", "lora"], "lr_by_method": {"bitfit": 1e-3}}, "finetune.lr_by_method.bitfit"),
    ({"methods": ["lora"], "lr_by_method": {"lora": -1.0}}, "finetune.lr_by_method.lora"),
    ({"methods": ["full", "lora-ish"]}, "finetune.methods[1]: 'lora-ish'"),
    ({"methods": ["lora"], "options": {"lora_rank": "8"}}, "finetune.options.lora_rank: '8'"),
    ({"methods": ["lora", "lora"]}, "finetune.methods"),
    ({"record_every_steps": 0}, "finetune.record_every_steps"),
    ({"methods": ["full", "lora"], "options": {"lora_target_modules": ["q_proj"]}},
     "finetune.options.lora_target_modules: q_proj not in model type 'bert'"),
])
def test_bad_methods_are_one_line_naming_the_key(tiny_bert, tmp_path, finetune, key):
    with pytest.raises(UserError) as err:
        _plan(tiny_bert, tmp_path, **finetune)
    assert key in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_study_with_methods_and_recording_runs(tiny_bert, tmp_path):
    from ftprobe.represent import Store
    from ftprobe.study import run_study

    raw = tiny_config(tiny_bert, tmp_path / "out")
    raw["finetune"] = {**raw["finetune"], "methods": ["full", "bitfit", "head"], "record_every_steps": 1}
    raw["cross_task"] = []
    run_study(parse_config(raw, "test"), progress=False)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    tuned = {r["model"]: r["finetune"] for r in results["runs"] if r["task"] == "pos"}
    assert {m: (f["method"], f["trainable_parameters"] > 0) for m, f in tuned.items()} == {
        "tiny method=full": ("full", True), "tiny method=bitfit": ("bitfit", True), "tiny method=head": ("head", True)}
    assert tuned["tiny method=head"]["trainable_parameters"] < tuned["tiny method=bitfit"]["trainable_parameters"] \
        < tuned["tiny method=full"]["trainable_parameters"]
    # the frozen encoder (head) is a control: left out of the findings, and said so
    head_runs = sorted({r["model"] for r in results["runs"] if (r.get("finetune") or {}).get("method") == "head"})
    assert results["findings_input"]["left_out"]["runs"] == head_runs
    n_tables = sum(len(r["table"]) for r in results["runs"] if (r.get("finetune") or {}).get("method") not in (None, "head"))
    assert results["findings_input"]["n_cases"] == n_tables
    assert {v["group"] for v in results["robustness"]["by_variant"]} == {"tiny method=full", "tiny method=bitfit"}
    assert {c["model"] for c in results["paper"]["side_by_side"]} == {"tiny method=full", "tiny method=bitfit"}
    store = Store(tmp_path / "out" / "store")
    recorded = [e for e in store.entries() if "@step-" in e.manifest["model"]["name"]]
    assert len(recorded) == 3 * 4  # three methods, steps 0..3 of the pos task's dev split
    # the recorded steps reach the results as layer dynamics: step 0 (before any update) is the reference
    dyn = {r["model"]: r["recorded_dynamics"] for r in results["runs"] if r["task"] == "pos"}
    for d in dyn.values():
        assert d["points"] == ["step-0", "step-1", "step-2", "step-3"] and d["split"] == "dev"
        for layer in d["layers"]:
            assert d["pearson"][layer][0] == pytest.approx(1.0)
            assert len(d["clusters"][layer]) == 4 and all(c >= 1 for c in d["clusters"][layer])


def test_a_decoder_only_model_in_a_study_needs_a_sentence_pooling_that_fits(tmp_path):
    """[CLS] (the study's default) is refused before any work for a decoder-only model with a
    sentence task; "auto" takes its last token."""
    from ftprobe.study.config import validate_config
    from tests.tiny_families import save_tiny_family

    model = save_tiny_family("gpt2", tmp_path / "gpt2")
    raw = tiny_config(model, tmp_path / "out", tasks=[{"name": "trec-6", "data": "sample:trec", "max_sentences": 20}],
                      cross_task=[])
    with pytest.raises(UserError, match=r"^extract.sentence_pooling: 'cls' for model 'tiny' \(decoder\)"):
        validate_config(parse_config(raw, "test"))
    validate_config(parse_config({**raw, "extract": {"sentence_pooling": "auto"}}, "test"))


def test_recording_adds_one_recorded_step_per_finetuned_model(tiny_bert, tmp_path):
    assert _kinds(_plan(tiny_bert, tmp_path, methods=["full", "bitfit"]), "recorded") == []
    plan = _plan(tiny_bert, tmp_path, methods=["full", "bitfit"], record_every_steps=2)
    recorded = _kinds(plan, "recorded")
    assert len(recorded) == len(_kinds(plan, "finetune")) == 2
    assert {s.deps["finetune"] for s in recorded} == {sid for sid, s in plan.steps.items() if s.kind == "finetune"}
    assert all(r.recorded for r in plan.runs if r.finetune)


def test_recorded_events_one_per_step_in_order():
    from ftprobe.study.recorded_steps import recorded_events

    metrics = {"metrics": [{"event": "record", "step": 0, "entry": "a"}, {"event": "eval", "step": 2},
                           {"event": "record", "step": 4, "entry": "b"}, {"event": "record", "step": 2, "entry": "c"},
                           {"event": "record", "step": 4, "entry": "d"}]}  # a resumed run recorded step 4 again
    assert [(e["step"], e["entry"]) for e in recorded_events({"metrics": metrics})] == [(0, "a"), (2, "c"), (4, "d")]
    assert recorded_events({"metrics": []}) == []
