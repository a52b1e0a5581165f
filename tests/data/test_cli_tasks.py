"""`ftprobe tasks ...` and the CLI's handling of user errors."""

from __future__ import annotations

from ftprobe.cli.main import main
from ftprobe.data.samples import sample_path


def test_tasks_inspect_prints_counts(capsys):
    assert main(["tasks", "inspect", "--task", "trec-6", "--data", str(sample_path("trec"))]) == 0
    out = capsys.readouterr().out
    assert "trec-6" in out and "1000" in out and "250" in out


def test_user_error_is_one_line_exit_2(capsys, write):
    path = write("bad-train.conllu", "1\tx\n\n")
    assert main(["tasks", "inspect", "--task", "pos", "--data", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"ftprobe: error: {path}:1: expected 10 tab-separated columns, found 2"
    assert "Traceback" not in err


def test_unknown_task_exit_2(capsys, tmp_path):
    assert main(["tasks", "inspect", "--task", "xyz", "--data", str(tmp_path)]) == 2
    assert "unknown task 'xyz'" in capsys.readouterr().err
