"""The command line's rough edges (issue 25, item 8): each one as the user meets it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ftprobe.cli.main import PIPELINE_ORDER, main

SAMPLE_EWT = Path(__file__).resolve().parents[2] / "src" / "ftprobe" / "resources" / "samples" / "ud_english_ewt"


def _extract(model, store, *extra) -> int:
    return main(["extract", "--task", "pos", "--data", str(SAMPLE_EWT), "--model", str(model), "--splits", "dev",
                 "--store", str(store), "--no-progress", *extra])


def test_extract_takes_comma_separated_layers(tiny_bert, tmp_path, capsys):
    assert _extract(tiny_bert, tmp_path / "st", "--layers", "1,2") == 0
    assert "layers 1..2" in capsys.readouterr().out
    assert _extract(tiny_bert, tmp_path / "st2", "--layers", "1,x") == 2
    err = capsys.readouterr().err
    assert err.strip() == "ftprobe: error: --layers: 'x' is not 'all' or an integer"
    assert not (tmp_path / "st2").exists()


def test_store_ls_missing_folder_is_an_error(tmp_path, capsys):
    assert main(["store", "ls", "--store", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_store_ls_shows_whole_ids_and_the_fine_tuning_task(tiny_bert, tmp_path, capsys):
    tuned = tmp_path / "run" / "checkpoints" / "step-000010"
    shutil.copytree(tiny_bert, tuned)
    (tuned / "head.json").write_text(json.dumps({"task": "pos"}))
    assert _extract(tuned, tmp_path / "st", "--layers", "-1") == 0
    capsys.readouterr()
    assert main(["store", "ls", "--store", str(tmp_path / "st")]) == 0
    out = capsys.readouterr().out
    (eid,) = [p.name for p in (tmp_path / "st").iterdir() if p.is_dir()]
    assert eid in out  # not cut at 80 columns
    assert "run/step-000010 (fine-tuned on pos)" in " ".join(out.split())


def test_help_lists_commands_in_pipeline_order_and_prints_percent_once(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    listed = [line.split()[0] for line in out.split("COMMAND\n", 1)[1].splitlines()
              if line.startswith("    ") and not line.startswith("     ") and line.split()]
    assert listed == [c for c in PIPELINE_ORDER if c in listed] and listed[:3] == ["tasks", "finetune", "extract"]
    with pytest.raises(SystemExit):
        main(["finetune", "--help"])
    out = capsys.readouterr().out
    assert "10% warm-up" in out and "%%" not in out


def test_every_output_folder_is_out(tiny_bert, tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text(f'output = "elsewhere"\n[[models]]\nname = "tiny"\npath = "{tiny_bert}"\n'
                   '[[tasks]]\nname = "pos"\ndata = "sample:ewt"\nmax_sentences = 5\n')
    assert main(["study", str(cfg), "--out", str(tmp_path / "o"), "--dry-run"]) == 0
    assert str(tmp_path / "o") in " ".join(capsys.readouterr().err.split())
    assert main(["study", str(cfg), "--output", str(tmp_path / "o"), "--dry-run"]) == 0  # the old name still works


def test_unknown_key_suggests_the_close_one(tmp_path, capsys):
    cfg = tmp_path / "s.toml"
    cfg.write_text('output = "o"\n[[models]]\nname = "m"\n[[tasks]]\nname = "pos"\ndata = "sample:ewt"\n'
                   'tagst = "upos"\n[finetune]\nepoch = 3\n')
    assert main(["study", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "tasks[0].tagst: unknown key (did you mean 'tagset'?)" in err
    assert "finetune.epoch: unknown key (did you mean 'epochs'?)" in err


def test_a_finished_studys_study_json_runs_again(tiny_bert, tmp_path, capsys):
    from ftprobe.study import load_config

    cfg = tmp_path / "sub" / "s.toml"
    cfg.parent.mkdir()
    cfg.write_text(f'output = "../o"\n[[models]]\nname = "tiny"\npath = "{tiny_bert}"\n'
                   '[[tasks]]\nname = "pos"\ndata = "sample:ewt"\nmax_sentences = 5\n')
    first = load_config(cfg)
    (tmp_path / "study.json").write_text(json.dumps(first.to_json()))
    again = load_config(tmp_path / "study.json")
    assert again.output_dir == first.output_dir  # relative paths still read from the config's folder
    assert again.to_json() == first.to_json()
    assert main(["study", str(tmp_path / "study.json"), "--dry-run"]) == 0


def test_offline_hub_name_suggests_a_local_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert _extract("nobody/no-such-model-here", tmp_path / "st") == 2
    err = capsys.readouterr().err
    assert "not in the Hugging Face cache; pass a local folder instead" in err


def test_report_command_rebuilds_from_results_json(tmp_path, capsys):
    from tests.report.test_report import _results

    (tmp_path / "results.json").write_text(json.dumps(_results()))
    assert main(["report", str(tmp_path), "--no-figures"]) == 0
    assert (tmp_path / "report" / "index.html").is_file() and (tmp_path / "report" / "tables" / "table-main.tex").is_file()
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "results.json: no such file" in capsys.readouterr().err
