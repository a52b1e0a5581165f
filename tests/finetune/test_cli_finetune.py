"""`ftprobe finetune` on the command line: a run, --resume, and bad input (exit 2, one line,
nothing overwritten)."""

from __future__ import annotations

import hashlib
import json

import pytest

from ftprobe.cli.main import main

from .ft_toy import jsonl_lines


def snapshot(folder):
    """Every file under ``folder`` with a hash of its bytes."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished(tiny_bert, tmp_path_factory):
    """A small finished CLI run: (args, data folder, run folder)."""
    root = tmp_path_factory.mktemp("cli")
    data = root / "data"
    data.mkdir()
    (data / "train.jsonl").write_text(jsonl_lines(16, seed=1))
    (data / "dev.jsonl").write_text(jsonl_lines(4, seed=2))
    out = root / "run"
    args = ["finetune", "--model", str(tiny_bert), "--task", "jsonl", "--data", str(data), "--out", str(out),
            "--epochs", "1", "--batch-size", "8", "--lr", "1e-3", "--checkpoint-every-steps", "1",
            "--no-progress"]
    assert main(args) == 0
    return args, data, out


def test_cli_run_writes_the_layout(finished, capsys):
    args, _, out = finished
    assert {p.name for p in out.iterdir()} >= {"run.json", "metrics.jsonl", "checkpoints", "final"}
    assert [p.name for p in sorted((out / "checkpoints").iterdir())] == ["step-000001", "step-000002"]
    run = json.loads((out / "run.json").read_text())
    assert run["resolved"]["epochs"] == 1 and run["settings"]["batch_size"] == 8
    assert run["resolved"]["eval_split"] == "dev" and run["task"]["kind"] == "word"
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["event"] for r in records] == ["checkpoint", "eval", "checkpoint", "checkpoint"]
    assert records[1]["split"] == "dev" and 0 <= records[1]["accuracy"] <= 1


def test_resume_of_a_finished_run_changes_nothing(finished):
    args, _, out = finished
    before = snapshot(out)
    assert main([*args, "--resume"]) == 0
    assert snapshot(out) == before


def test_run_written_before_a_setting_existed_resumes(finished, tmp_path):
    import shutil

    args, _, out = finished
    old = tmp_path / "old-run"
    shutil.copytree(out, old)
    run = json.loads((old / "run.json").read_text())
    for key in ("word_pooling", "sentence_pooling"):  # run.json as ftprobe wrote it before them
        del run["settings"][key]
    (old / "run.json").write_text(json.dumps(run))
    argv = list(args)
    argv[argv.index("--out") + 1] = str(old)
    assert main([*argv, "--resume"]) == 0
    assert main([*argv, "--resume", "--word-pooling", "first"]) == 2  # another pooling: another run


def _bad(argv, capsys):
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("ftprobe: error:"), err
    return err[0]


def test_bad_input_is_one_line_exit_2_and_overwrites_nothing(finished, tmp_path, capsys):
    args, data, out = finished
    before = snapshot(out)

    def with_(**changes):
        argv = list(args)
        for flag, value in changes.items():
            flag = "--" + flag.replace("_", "-")
            if flag in argv:
                argv[argv.index(flag) + 1] = value
            else:
                argv += [flag, value]
        return argv

    assert "another run" in _bad(with_(lr="2e-3"), capsys)  # other settings into the same folder
    assert "another run" in _bad(with_(lr="2e-3") + ["--resume"], capsys)
    assert _bad(args, capsys).startswith("ftprobe: error: --resume: not set")  # the same run again
    assert "unknown task" in _bad(with_(task="nope"), capsys)
    assert "model" in _bad(with_(model=str(tmp_path / "no-such-model")), capsys)
    assert _bad(with_(checkpoint_every_steps="0"), capsys).startswith("ftprobe: error: --checkpoint-every-steps: ")
    assert _bad(with_(epochs="0"), capsys) == "ftprobe: error: --epochs: must be at least 1, not 0"
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "train.jsonl").write_text('{"words": ["a"], "targets": [{"word": 5, "label": "x"}]}\n')
    assert "train.jsonl:1" in _bad(with_(data=str(broken)), capsys)
    assert snapshot(out) == before

    # a folder holding something else is left alone too
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert _bad(with_(out=str(other)), capsys).startswith(f"ftprobe: error: --out: {other} is not empty")
    assert [p.name for p in other.iterdir()] == ["notes.txt"]
    # a bad run into a new folder leaves no folder behind
    fresh = tmp_path / "fresh"
    _bad(with_(out=str(fresh), model=str(tmp_path / "no-such-model")), capsys)
    assert not fresh.exists()
