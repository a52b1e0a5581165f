"""Bad input: one clear message naming the key or path, before any work starts."""

from __future__ import annotations

import pytest

from ftprobe.cli.main import main
from ftprobe.errors import UserError
from ftprobe.study import build_plan, load_config, parse_config, validate_config

from .helpers import tiny_config

TOML = """
output = "out"
[[models]]
name = "tiny"
path = "{model}"

[[tasks]]
name = "pos"
data = "sample:ewt"
max_sentences = 5

[[tasks]]
name = "trec-50"
data = "sample:trec"
max_sentences = 5
"""


def _err(fn, *a) -> str:
    with pytest.raises(UserError) as info:
        fn(*a)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_toml_and_yaml_read_the_same(tiny_bert, tmp_path):
    t = tmp_path / "s.toml"
    t.write_text(TOML.format(model=tiny_bert))
    y = tmp_path / "s.yaml"
    y.write_text(f"output: out\nmodels:\n  - name: tiny\n    path: {tiny_bert}\ntasks:\n"
                 "  - {name: pos, data: 'sample:ewt', max_sentences: 5}\n"
                 "  - {name: trec-50, data: 'sample:trec', max_sentences: 5}\n")
    a, b = load_config(t), load_config(y)
    assert a == b
    assert a.output_dir == tmp_path / "out"  # relative to the config file


def test_unknown_key_is_named(tmp_path, tiny_bert):
    msg = _err(parse_config, tiny_config(tiny_bert, tmp_path, probe={"seedz": 3}), "s.toml")
    assert msg == "s.toml: probe.seedz: unknown key (did you mean 'seeds'?)"
    cfg = tiny_config(tiny_bert, tmp_path)
    cfg["tasks"][1]["dta"] = "x"
    assert "tasks[1].dta: unknown key" in _err(parse_config, cfg, "s.toml")
    assert "colour: unknown key" in _err(parse_config, {**cfg, "colour": 1}, "s.toml")


def test_bad_value_is_named(tmp_path, tiny_bert):
    msg = _err(parse_config, tiny_config(tiny_bert, tmp_path, probe={"probe": "svm"}), "s.toml")
    assert msg.startswith("s.toml: probe.probe:") and "'mlp'" in msg
    cfg = tiny_config(tiny_bert, tmp_path)
    del cfg["tasks"][0]["data"]
    assert "tasks[0].data: missing" in _err(parse_config, cfg, "s.toml")


def test_missing_data_path(tmp_path, tiny_bert):
    cfg = tiny_config(tiny_bert, tmp_path / "out")
    cfg["tasks"][1]["data"] = "nowhere/streusle"
    c = parse_config(cfg, "s.toml", tmp_path)
    msg = _err(validate_config, c)
    assert msg.startswith("tasks[1].data:") and str(tmp_path / "nowhere" / "streusle") in msg
    assert not (tmp_path / "out").exists()


def test_unknown_sample_and_task(tmp_path, tiny_bert):
    cfg = tiny_config(tiny_bert, tmp_path)
    cfg["tasks"][0]["data"] = "sample:penn"
    assert _err(validate_config, parse_config(cfg)).startswith("tasks[0].data: unknown sample 'penn'")
    cfg = tiny_config(tiny_bert, tmp_path)
    cfg["tasks"][0]["name"] = "chunking"
    assert _err(validate_config, parse_config(cfg)).startswith("tasks[0].name: unknown task 'chunking'")


def test_task_model_mismatch(tmp_path, tiny_bert):
    cfg = tiny_config(tiny_bert, tmp_path)
    cfg["models"][0]["tasks"] = ["pos", "dep"]
    assert _err(validate_config, parse_config(cfg)).startswith("models[0].tasks[1]: 'dep' is not a task")
    # a layer the model does not have (tiny BERT: 2 layers)
    cfg = tiny_config(tiny_bert, tmp_path, layers=[0, 5])
    msg = _err(validate_config, parse_config(cfg))
    assert msg.startswith("layers[1]: layer 5 is out of range for model 'tiny'")
    # a task whose data does not fit the reader
    cfg = tiny_config(tiny_bert, tmp_path)
    cfg["tasks"][0]["data"] = "sample:trec"
    assert _err(build_plan, parse_config(cfg)).startswith("tasks[0].data:")


def test_missing_model_folder(tmp_path, tiny_bert):
    cfg = tiny_config(tiny_bert, tmp_path)
    cfg["models"][0]["path"] = "./no-such-model"
    assert _err(validate_config, parse_config(cfg, "s", tmp_path)).startswith("models[0].path:")


def test_cross_task_pair_must_name_study_tasks(tmp_path, tiny_bert):
    cfg = tiny_config(tiny_bert, tmp_path, cross_task=[{"finetune": "pos", "probe": "ps-role"}])
    msg = _err(validate_config, parse_config(cfg))
    assert msg.startswith("cross_task[0].probe: 'ps-role' is not a task of this study")
    cfg = tiny_config(tiny_bert, tmp_path, cross_task=[{"finetune": "ps-fxn", "probe": "pos"}])
    assert "finetune = false" in _err(validate_config, parse_config(cfg))


def test_duplicate_names(tmp_path, tiny_bert):
    cfg = tiny_config(tiny_bert, tmp_path)
    cfg["tasks"][1]["name"] = "pos"
    assert "tasks[1].name 'pos' is used twice" in _err(parse_config, cfg)


def test_task_without_test_split(tmp_path, tiny_bert):
    cfg = tiny_config(tiny_bert, tmp_path, cross_task=[])
    cfg["tasks"] = [{"name": "pos", "data": "sample:pud", "max_sentences": 5}]
    assert "random_split" in _err(build_plan, parse_config(cfg))
    cfg["tasks"][0]["random_split"] = [0.8, 0.1, 0.1]
    build_plan(parse_config(cfg))


def test_cli_reports_one_line_and_exit_2(tmp_path, tiny_bert, capsys):
    p = tmp_path / "s.toml"
    p.write_text(TOML.format(model=tiny_bert) + "\n[probe]\nseedz = 2\n")
    assert main(["study", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"ftprobe: error: {p}: probe.seedz: unknown key (did you mean 'seeds'?)"
    assert not (tmp_path / "out").exists()
    assert main(["study", str(tmp_path / "none.toml")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_dry_run(tmp_path, tiny_bert, capsys):
    p = tmp_path / "s.toml"
    p.write_text(TOML.format(model=tiny_bert))
    assert main(["study", str(p), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "to run" in err and "finetune" in err
    assert not (tmp_path / "out").exists()


def test_shipped_configs_validate(shared_data):
    repo = __import__("pathlib").Path(__file__).resolve().parents[2]
    demo = load_config(repo / "examples" / "demo.toml")
    validate_config(demo)
    paper = load_config(repo / "examples" / "paper-minilm.toml")
    validate_config(paper)
    assert {t.name for t in paper.tasks} == {"pos", "dep", "ps-role", "ps-fxn", "trec-50"}


def test_demo_config_matches_shipped_example():
    from ftprobe.study.demo import demo_config

    repo = __import__("pathlib").Path(__file__).resolve().parents[2]
    shipped = load_config(repo / "examples" / "demo.toml")
    built = demo_config("demo-out")
    skip = {"output", "base_dir"}
    assert shipped.model_dump(exclude=skip) == built.model_dump(exclude=skip)


@pytest.mark.parametrize("section", ["directprobe", "probe", "finetune"])
def test_options_typo_fails_before_any_work(tmp_path, tiny_bert, capsys, section):
    p = tmp_path / "s.toml"
    p.write_text(TOML.format(model=tiny_bert) + f"\n[{section}]\noptions = {{ tols = 1e-6 }}\n")
    assert main(["study", str(p)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"ftprobe: error: {section}.options.tols: unknown key (known: ")
    assert "\n" not in err
    assert not (tmp_path / "out").exists()


def test_directprobe_options_accept_the_fit_settings(tmp_path, tiny_bert):
    cfg = parse_config(tiny_config(tiny_bert, tmp_path, directprobe={"options": {"tol": 1e-5, "jobs": 2}}))
    validate_config(cfg)
    msg = _err(validate_config, parse_config(tiny_config(tiny_bert, tmp_path,
                                                         directprobe={"options": {"min_cluster_size": 3}})))
    assert msg.startswith("directprobe.options.min_cluster_size: unknown key")  # it has its own key


def test_stage_settings_are_named_as_config_keys(tmp_path, tiny_bert):
    from ftprobe.study.config import setting_key

    assert setting_key("finetune", "epochs") == "finetune.epochs"
    assert setting_key("finetune", "warmup_ratio") == "finetune.options.warmup_ratio"
    assert setting_key("extract", "word_pooling") == "extract.word_pooling"
    cfg = parse_config(tiny_config(tiny_bert, tmp_path, finetune={"options": {"warmup_ratio": 2.0}}))
    assert _err(validate_config, cfg) == "finetune.options.warmup_ratio: must be in [0, 1), not 2.0"
    cfg = parse_config(tiny_config(tiny_bert, tmp_path, extract={"device": "tpu"}))
    assert _err(validate_config, cfg) == "extract.device: expected auto, cpu or cuda, not 'tpu'"


def test_finetuning_pools_as_the_extraction_does(tmp_path, tiny_bert):
    def finetune_specs(word_pooling):
        plan = build_plan(parse_config(tiny_config(tiny_bert, tmp_path, extract={"word_pooling": word_pooling})))
        return [s for s in plan.steps.values() if s.kind == "finetune"]

    first, mean = finetune_specs("first"), finetune_specs("mean")
    assert [s.spec["finetune"]["word_pooling"] for s in first] == ["first"]
    assert [s.spec["finetune"]["word_pooling"] for s in mean] == ["mean"]
    assert first[0].key != mean[0].key  # another pooling is another fine-tuning run
    cfg = tiny_config(tiny_bert, tmp_path, finetune={"options": {"word_pooling": "last"}})
    assert _err(validate_config, parse_config(cfg)).startswith("finetune.options.word_pooling: unknown key")


def test_measure_sections_build_the_compare_stage_settings(tmp_path, tiny_bert):
    """[measures] and [label_control] are the compare stage's own settings types: one field list,
    the stage's defaults, the stage's checks, and the config's paths in the messages."""
    import dataclasses

    from ftprobe.compare.control import LabelControlSettings
    from ftprobe.compare.spaces import MeasureSettings

    data = {"models": [{"name": "tiny", "path": str(tiny_bert)}], "tasks": [{"name": "pos", "data": "sample:ewt"}]}
    cfg = parse_config(data)
    assert type(cfg.measures) is MeasureSettings and cfg.measures == MeasureSettings()
    assert type(cfg.label_control) is LabelControlSettings and cfg.label_control == LabelControlSettings()
    assert cfg.to_json()["measures"] == dataclasses.asdict(MeasureSettings())
    cfg = parse_config({**data, "measures": {"n_null": 7}, "label_control": {"n_shuffles": 0}})
    assert cfg.measures == MeasureSettings(n_null=7) and cfg.label_control.n_shuffles == 0
    for bad, message in (({"measures": {"n_nul": 7}}, "measures.n_nul: unknown key (did you mean 'n_null'?)"),
                         ({"measures": {"n_null": 1}}, "measures.n_null: must be >= 2, got 1"),
                         ({"measures": {"level": 1.5}}, "measures.level: must be in (0, 1)"),
                         ({"label_control": {"max_rows": 3}}, "label_control.max_rows: must be >= 16")):
        with pytest.raises(UserError) as exc:
            parse_config({**data, **bad})
        assert message in str(exc.value)
