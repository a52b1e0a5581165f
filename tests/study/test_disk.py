"""Disk-light studies: fine-tuning weights go once their vectors are in the store (unless
keep_checkpoints), the final model is stored once, and --gc removes what the config no longer
reaches. On the micro study (one task, real stages)."""

from __future__ import annotations

import json
import os

from ftprobe.study import parse_config, run_study
from ftprobe.study.cache import StepCache
from ftprobe.study.gc import collect_garbage
from ftprobe.study.progress import read_attempts, read_progress
from ftprobe.study.weights import weight_files

from .conftest import micro_config, run_cli, write_config
from .helpers import stable_results


def _finetune_folder(out):
    (folder,) = [p for p in (out / "steps").iterdir() if p.name.startswith("finetune-")]
    return folder


def _size(path) -> int:
    seen, total = set(), 0
    for p in path.rglob("*"):
        if p.is_file() and (st := p.stat()).st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_size
    return total


def test_weights_removed_once_read_and_recorded(tiny_bert, tmp_path):
    out = tmp_path / "light"
    cfg = parse_config(micro_config(tiny_bert, out), "t")
    assert cfg.finetune.keep_checkpoints is False  # the default
    first = run_study(cfg, progress=False)
    ft = _finetune_folder(out)
    result = json.loads((ft / "result.json").read_text())
    assert weight_files(ft) == []
    assert result["weights_removed"]["files"] >= 2 and result["weights_removed"]["bytes"] > 0
    # report.figure_files = false (the test config's): the page and tables, no figure files
    assert first.report.is_file() and (out / "report" / "tables").is_dir()
    assert not (out / "report" / "figures").exists()
    assert "figures for papers" not in first.report.read_text()
    assert (ft / "run" / "checkpoints" / "step-000002" / "config.json").is_file()  # the record stays
    # every step reported where and how far it ran
    assert read_attempts(ft) == 1
    p = read_progress(ft)
    assert p.phase == "fine-tuning" and p.done == p.total == 3 and p.pid == os.getpid()  # serial: here
    assert run_study(cfg, progress=False).executed == []

    # a new reader of the fine-tuned model (a cross-task pair) needs the weights again: the
    # fine-tuning step runs again (same content, same key), the rest stays cached
    more = micro_config(tiny_bert, out, cross_task=[{"finetune": "pos", "probe": "trec"}])
    more["tasks"] = more["tasks"] + [{"name": "trec", "task": "trec-50", "data": "sample:trec",
                                      "max_sentences": 20, "finetune": False}]
    again = run_study(parse_config(more, "t"), progress=False)
    (ft_id,) = [sid for sid in first.executed if first.plan.steps[sid].kind == "finetune"]
    assert set(again.executed) & set(first.executed) == {ft_id}  # nothing else ran twice
    assert weight_files(_finetune_folder(out)) == []


def test_the_recorded_steps_do_not_hold_or_bring_back_the_weights(tiny_bert, tmp_path):
    """The recorded step reads the run's metrics and the store, not the weights: they go as soon as
    the steps that read them are done, and a recorded step planned later (a study that recorded
    before the step existed) runs alone, without fine-tuning again."""
    from ftprobe.study.weights import forget_step

    out = tmp_path / "rec"
    raw = micro_config(tiny_bert, out)
    raw["finetune"] = dict(raw["finetune"], record_every_steps=1)
    first = run_study(parse_config(raw, "t"), progress=False)
    assert weight_files(_finetune_folder(out)) == []
    (rec_id,) = [sid for sid in first.executed if first.plan.steps[sid].kind == "recorded"]
    rec = first.plan.steps[rec_id]
    forget_step(StepCache(out / "steps"), rec.kind, rec.key)
    again = run_study(parse_config(raw, "t"), progress=False)
    assert again.executed == [rec_id]
    results = json.loads((out / "results.json").read_text())
    assert results["runs"][0]["recorded_dynamics"]["points"] == ["step-0", "step-1", "step-2", "step-3"]


def test_keep_checkpoints_keeps_weights_and_final_is_stored_once(tiny_bert, tmp_path):
    out = tmp_path / "keep"
    # 3 steps, a checkpoint every 3: the final model is the last checkpoint's weights
    cfg = micro_config(tiny_bert, out, finetune={"epochs": 1, "batch_size": 2, "lr": 1e-3,
                                                 "checkpoint_every_steps": 3, "checkpoint_every_epoch": False,
                                                 "keep_checkpoints": True})
    run_study(parse_config(cfg, "t"), progress=False)
    ft = _finetune_folder(out)
    last = ft / "run" / "checkpoints" / "step-000003" / "model.safetensors"
    final = ft / "run" / "final" / "model.safetensors"
    assert last.is_file() and final.is_file()
    assert os.path.samefile(last, final)  # one file, two names
    assert "weights_removed" not in json.loads((ft / "result.json").read_text())
    assert _size(ft) < 1.3 * last.stat().st_size + 200_000


def test_gc_removes_what_the_config_no_longer_reaches(tiny_bert, tmp_path):
    out = tmp_path / "gc"
    big = micro_config(tiny_bert, out)
    big["tasks"] = big["tasks"] + [{"name": "trec-50", "data": "sample:trec", "max_sentences": 20,
                                    "finetune": False}]
    run_study(parse_config(big, "t"), progress=False)
    small = parse_config(micro_config(tiny_bert, out), "t")
    before = set(p.name for p in (out / "steps").iterdir())
    (out / "steps" / "probe-00000000000000ff.partial").mkdir()  # an abandoned step's work folder

    listed = collect_garbage(small, dry_run=True)
    assert set(p.name for p in (out / "steps").iterdir()) == before | {"probe-00000000000000ff.partial"}
    cfg_path = write_config(tmp_path / "small.json", micro_config(tiny_bert, out))
    res = run_cli("study", str(cfg_path), "--gc")
    assert res.returncode == 0, res.stderr
    assert f"removed {len(listed.steps)} step folder(s) and {len(listed.entries)} store" in res.stdout
    # what went: the trec-50 steps (2 splits x extract, probe, 2 DirectProbes, its shuffled-label
    # control) and their 2 entries, and the abandoned work folder
    assert sorted(s.split("-")[0] for s in listed.steps) == [
        "directprobe", "directprobe", "extract", "extract", "label_control", "probe", "probe"]
    assert "probe-00000000000000ff.partial" in listed.steps and len(listed.entries) == 2
    left = set(p.name for p in (out / "steps").iterdir())
    assert left == set(small_plan_ids(small))
    from ftprobe.represent import Store

    assert all(e.task == "pos" for e in Store(out / "store").entries())
    assert run_study(small, progress=False).executed == []  # everything it needs is still there
    assert collect_garbage(small).steps == ()


def small_plan_ids(cfg):
    from ftprobe.study import build_plan

    cache = StepCache(cfg.output_dir / "steps")
    return [sid for sid, s in build_plan(cfg).steps.items() if cache.done(s.kind, s.key)]


def test_vectors_missing_from_the_store_are_extracted_again_for_a_step_that_reads_them(tiny_bert, tmp_path):
    """A run resumed beside its steps but without its store (a store not copied, or removed):
    the extractions a step still to run reads run again, and the fine-tuning under them too
    when its weights are gone; extractions nobody still needs stay cached."""
    import shutil

    from ftprobe.study.runner import describe_plan
    from ftprobe.study.weights import forget_step

    out = tmp_path / "nostore"
    cfg = parse_config(micro_config(tiny_bert, out), "t")
    first = run_study(cfg, progress=False)
    steps = first.plan.steps
    # a DirectProbe step on the fine-tuned model's vectors
    dp_id = next(sid for sid, s in steps.items() if s.kind == "directprobe"
                 and any(steps[d].kind == "finetune" for d in steps[s.deps["entry"]].deps.values()))
    dp = steps[dp_id]
    before = json.loads((out / "steps" / f"directprobe-{dp.key}" / "result.json").read_text())
    shutil.rmtree(out / "store")
    assert run_study(cfg, progress=False).executed == []  # nothing to run needs the vectors

    cache = StepCache(out / "steps")
    forget_step(cache, dp.kind, dp.key)
    ext_id = dp.deps["entry"]
    (ft_id,) = [d for d in steps[ext_id].deps.values() if steps[d].kind == "finetune"]
    status = {f"{k}-{key}": st for k, _, key, st in describe_plan(first.plan, cache)}
    assert status[f"extract-{steps[ext_id].key}"] == "to run"
    assert sum(st == "to run" for st in status.values()) == 2  # the extraction and the fit

    again = run_study(cfg, progress=False)
    assert set(again.executed) == {ft_id, ext_id, dp_id}  # fine-tuned again: its weights were gone
    after = json.loads((out / "steps" / f"directprobe-{dp.key}" / "result.json").read_text())
    assert after["n_clusters"] == before["n_clusters"]
    assert after["min_distances"] == before["min_distances"]


def test_steps_that_travel_without_weights_or_vectors_run_nothing_until_a_step_needs_them(tiny_bert, tmp_path):
    """A long study kept in a repository: every step folder travels except the fine-tuning
    run's folder (its weights) and the store (the vectors). On a fresh machine the finished study
    runs nothing and writes the same results (the fine-tuning metrics come from its result);
    once a step that reads the weights is to run, the fine-tuning runs again under it."""
    import shutil

    from ftprobe.study.weights import forget_step

    whole_out, moved_out = tmp_path / "whole", tmp_path / "moved"
    whole = run_study(parse_config(micro_config(tiny_bert, whole_out, finetune={
        **micro_config(tiny_bert, whole_out)["finetune"], "keep_checkpoints": True}), "t"), progress=False)
    shutil.copytree(whole_out / "steps", moved_out / "steps",
                    ignore=lambda folder, names: ["run"] if os.path.basename(folder).startswith("finetune-") else [])
    cfg = parse_config(micro_config(tiny_bert, moved_out, finetune={
        **micro_config(tiny_bert, moved_out)["finetune"], "keep_checkpoints": True}), "t")
    moved = run_study(cfg, progress=False)
    assert moved.executed == []
    assert stable_results(json.loads(moved.results.read_text())) == \
        stable_results(json.loads(whole.results.read_text()))

    steps = whole.plan.steps
    (series_id,) = [sid for sid, s in steps.items() if s.kind == "series"]
    forget_step(StepCache(moved_out / "steps"), "series", steps[series_id].key)
    again = run_study(cfg, progress=False)
    kinds = sorted({steps[sid].kind for sid in again.executed})
    assert kinds == ["extract", "finetune", "series"]  # weights and vectors made again, then the series
    assert stable_results(json.loads(again.results.read_text())) == \
        stable_results(json.loads(whole.results.read_text()))


def test_a_study_without_figure_files_then_the_report_command_adds_them(tiny_bert, tmp_path):
    """report.figure_files = false: `ftprobe study` writes the page and tables, says how to get
    the figures, and `ftprobe report OUT` then draws them from results.json alone."""
    out = tmp_path / "out"
    cfg = micro_config(tiny_bert, out)
    assert cfg["report"] == {"figure_files": False}
    done = run_cli("study", str(write_config(tmp_path / "s.json", cfg)), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert f"tables:  {out / 'report' / 'tables'} (figures as files: ftprobe report {out})" in done.stdout
    assert "figures:" not in done.stdout and not (out / "report" / "figures").exists()
    report = run_cli("report", str(out), "--no-progress")
    assert report.returncode == 0, report.stderr
    figures = out / "report" / "figures"
    assert sorted(p.suffix for p in figures.glob("fig-accuracy.*")) == [".pdf", ".png", ".svg"]
    assert "figures for papers" in (out / "report" / "index.html").read_text()
