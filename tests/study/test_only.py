"""``ftprobe study --only KINDS``: a study in stages (fine-tuning on a GPU machine, the rest on a
CPU one). Only the named kinds and the steps they read run, the weights stay for the later
readers, and the later full run reuses everything and ends with the same results."""

from __future__ import annotations

import json

import pytest

from ftprobe.errors import UserError
from ftprobe.study import parse_config, run_study
from ftprobe.study.weights import weight_files

from .conftest import micro_config, run_cli, write_config
from .helpers import stable_results


def test_only_finetune_then_the_rest_equals_one_run(tiny_bert, tmp_path):
    staged = parse_config(micro_config(tiny_bert, tmp_path / "staged"), "t")
    first = run_study(staged, progress=False, only=("finetune",))
    kinds = {first.plan.steps[sid].kind for sid in first.executed}
    assert kinds == {"finetune"} and len(first.executed) == 1
    assert first.results is None and not (tmp_path / "staged" / "results.json").exists()
    (ft,) = [p for p in (tmp_path / "staged" / "steps").iterdir() if p.name.startswith("finetune-")]
    assert weight_files(ft)  # kept: the extractions that read them have not run yet

    rest = run_study(staged, progress=False)
    assert first.executed[0] not in rest.executed  # the fine-tuning is not done twice
    assert len(rest.executed) == len(rest.plan.steps) - 1
    assert weight_files(ft) == []  # now every reader is done

    whole = run_study(parse_config(micro_config(tiny_bert, tmp_path / "whole"), "t"), progress=False)
    assert stable_results(json.loads(rest.results.read_text())) == \
        stable_results(json.loads(whole.results.read_text()))


def test_only_runs_what_the_named_steps_read(tiny_bert, tmp_path):
    cfg = parse_config(micro_config(tiny_bert, tmp_path / "out"), "t")
    summary = run_study(cfg, progress=False, only=("probe",))
    steps = summary.plan.steps
    ran = {steps[sid].kind for sid in summary.executed}
    assert ran == {"finetune", "extract", "probe"}  # a probe reads vectors, which read a model
    assert len(summary.executed) < len(steps)
    # every probe of the plan ran, and every step that ran is a probe or one of their inputs
    probes = {sid for sid, s in steps.items() if s.kind == "probe"}
    assert probes <= set(summary.executed)
    inputs = set()
    for sid in probes:
        todo = [sid]
        while todo:
            for dep in steps[todo.pop()].deps.values():
                inputs.add(dep)
                todo.append(dep)
    assert set(summary.executed) == probes | inputs


def test_only_dry_run_counts_what_waits(tiny_bert, tmp_path):
    from rich.console import Console

    cfg = parse_config(micro_config(tiny_bert, tmp_path / "out"), "t")
    console = Console(file=open(tmp_path / "plan.txt", "w"), width=200)
    summary = run_study(cfg, dry_run=True, console=console, only=("finetune",))
    console.file.close()
    text = (tmp_path / "plan.txt").read_text()
    n = len(summary.plan.steps)
    assert f"{n} steps: 1 to run, 0 cached, {n - 1} left for a run without --only" in text


def test_unknown_kind_is_refused_before_any_work(tiny_bert, tmp_path):
    cfg = parse_config(micro_config(tiny_bert, tmp_path / "out"), "t")
    with pytest.raises(UserError, match="--only: unknown step kind 'fine-tune'; the kinds are finetune,"):
        run_study(cfg, progress=False, only=("fine-tune",))
    assert not (tmp_path / "out").exists()

    config = write_config(tmp_path / "study.json", micro_config(tiny_bert, tmp_path / "cli"))
    done = run_cli("study", str(config), "--only", "finetune,bogus", "--no-progress")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "ftprobe: error: --only: unknown step kind 'bogus'; the kinds are finetune, extract, probe, directprobe, "
        "label_control, series, recorded, similarity, measures"]
    assert not (tmp_path / "cli").exists()
