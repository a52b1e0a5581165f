"""``ftprobe study --tasks NAMES``: a long study one task at a time (the paper-scale run spans
sessions this way). A step runs when every task it involves is named (a cross-task step involves
the task it was fine-tuned on and the task it probes); a run that covers every task reuses all of
it and ends with the same results as one run."""

from __future__ import annotations

import json

import pytest

from ftprobe.errors import UserError
from ftprobe.study import parse_config, run_study
from ftprobe.study.plan import build_plan

from .conftest import run_cli, write_config
from .helpers import stable_results, tiny_config


def small_config(model, out) -> dict:
    """POS (fine-tuned) and PS-fxn (probed only), and the cross-task pair POS -> PS-fxn."""
    return tiny_config(model, out, tasks=[
        {"name": "pos", "data": "sample:ewt", "max_sentences": 6},
        {"name": "ps-fxn", "data": "sample:streusle", "max_sentences": 12, "finetune": False}],
        directprobe={"layers": [-1], "checkpoint_layers": [-1], "min_cluster_size": 0})


def involved(plan, sid) -> set[str]:
    """The tasks a step involves, read off its inputs by hand: the task named in its own spec or
    in any step it reads, directly or not."""
    seen, todo, names = set(), [sid], set()
    while todo:
        s = plan.steps[todo.pop()]
        if s.id in seen:
            continue
        seen.add(s.id)
        if isinstance(s.spec.get("task"), dict):
            names.add(s.spec["task"]["name"])
        todo.extend(s.deps.values())
    return names


def test_each_task_alone_then_the_cross_task_steps_equal_one_run(tiny_bert, tmp_path):
    cfg = parse_config(small_config(tiny_bert, tmp_path / "staged"), "t")
    plan = build_plan(cfg)
    cross = {sid for sid in plan.steps if involved(plan, sid) == {"pos", "ps-fxn"}}
    assert cross  # the cross-task extractions and probes

    fxn = run_study(cfg, progress=False, tasks=("ps-fxn",))
    assert fxn.executed and all(involved(plan, sid) == {"ps-fxn"} for sid in fxn.executed)
    assert fxn.results is None  # the report waits for a run that covers every task

    pos = run_study(cfg, progress=False, tasks=("pos",))
    assert pos.executed and all(involved(plan, sid) == {"pos"} for sid in pos.executed)
    assert not set(pos.executed) & set(fxn.executed)

    rest = run_study(cfg, progress=False)
    assert set(rest.executed) == cross  # nothing of either task alone runs twice
    assert set(fxn.executed) | set(pos.executed) | cross == set(plan.steps)

    whole = run_study(parse_config(small_config(tiny_bert, tmp_path / "whole"), "t"), progress=False)
    assert stable_results(json.loads(rest.results.read_text())) == \
        stable_results(json.loads(whole.results.read_text()))


def test_tasks_and_only_together_select_what_both_select(tiny_bert, tmp_path):
    plan = build_plan(parse_config(small_config(tiny_bert, tmp_path / "out"), "t"))
    both = plan.with_inputs(("probe",)) & plan.of_tasks(("pos",))
    assert {plan.steps[sid].kind for sid in both} == {"finetune", "extract", "probe"}
    assert all(involved(plan, sid) == {"pos"} for sid in both)
    assert plan.of_tasks(("pos", "ps-fxn")) == set(plan.steps)

    from rich.console import Console

    console = Console(file=open(tmp_path / "plan.txt", "w"), width=200)
    run_study(parse_config(small_config(tiny_bert, tmp_path / "out"), "t"), dry_run=True, console=console,
              only=("probe",), tasks=("pos",))
    console.file.close()
    n = len(plan.steps)
    assert (f"{n} steps: {len(both)} to run, 0 cached, {n - len(both)} left for a run without "
            "--only/--tasks") in (tmp_path / "plan.txt").read_text()


def test_unknown_task_is_refused_before_any_work(tiny_bert, tmp_path):
    cfg = parse_config(small_config(tiny_bert, tmp_path / "out"), "t")
    with pytest.raises(UserError, match="--tasks: unknown task 'ps-role'; the study's tasks are pos, ps-fxn"):
        run_study(cfg, progress=False, tasks=("ps-role",))
    assert not (tmp_path / "out").exists()

    config = write_config(tmp_path / "study.json", small_config(tiny_bert, tmp_path / "cli"))
    done = run_cli("study", str(config), "--tasks", "pos,bogus", "--no-progress")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "ftprobe: error: --tasks: unknown task 'bogus'; the study's tasks are pos, ps-fxn"]
    assert not (tmp_path / "cli").exists()
