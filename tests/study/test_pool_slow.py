"""The real stages end to end: a process pool of 2 workers, the real DirectProbe, and a run killed
with SIGKILL mid-way then resumed. Slow (spawned workers import torch)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftprobe.study import parse_config, run_study

from .helpers import alive, children, tiny_config

pytestmark = pytest.mark.slow


def _has_directprobe() -> bool:
    try:
        from ftprobe.probe.directprobe import DirectProbe  # noqa: F401
    except ImportError:
        return False
    return True


needs_dp = pytest.mark.skipif(not _has_directprobe(), reason="DirectProbe not built yet")


@needs_dp
def test_pool_study_with_real_directprobe(tiny_bert, tmp_path):
    out = tmp_path / "pool"
    cfg = parse_config(tiny_config(tiny_bert, out, threads=2), "test")
    summary = run_study(cfg, workers=2, progress=False)
    assert len(summary.executed) == len(summary.plan.steps)
    results = json.loads((out / "results.json").read_text())
    assert len(results["findings"]) == 6
    assert not list((out / "steps").glob("*.partial"))
    assert run_study(cfg, workers=2, progress=False).executed == []


@needs_dp
def test_sigkill_then_resume(tiny_bert, tmp_path):
    cfg_path = tmp_path / "s.json"
    out = tmp_path / "killed"
    cfg_path.write_text(json.dumps(tiny_config(tiny_bert, out)))
    code = ("import json,sys; from ftprobe.study import parse_config, run_study; "
            f"run_study(parse_config(json.load(open({str(cfg_path)!r})), 't'), progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    steps = out / "steps"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if steps.is_dir() and len([p for p in steps.iterdir() if (p / "DONE").is_file()]) >= 8:
            break
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "results.json").exists()
    cfg = parse_config(json.loads(cfg_path.read_text()), "t")
    resumed = run_study(cfg, progress=False)
    assert 0 < len(resumed.executed) < len(resumed.plan.steps)
    ref = run_study(parse_config(tiny_config(tiny_bert, tmp_path / "ref"), "t"), progress=False)
    a = json.loads((out / "results.json").read_text())
    b = json.loads(ref.results.read_text())
    assert a["findings"] == b["findings"] and a["cross_task"] == b["cross_task"]


@needs_dp
@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc")
def test_driver_killed_leaves_no_pool_worker_and_rerun_does_nothing_twice(tiny_bert, tmp_path):
    """Only the driver is killed (SIGKILL by its pid, not its process group) while its 2 pool
    workers are busy: the workers exit by themselves, and a rerun runs exactly the steps that
    were not done."""
    cfg_path = tmp_path / "s.json"
    out = tmp_path / "killed"
    cfg_path.write_text(json.dumps(tiny_config(tiny_bert, out, threads=2)))
    code = ("import json,sys; from ftprobe.study import parse_config, run_study; "
            f"run_study(parse_config(json.load(open({str(cfg_path)!r})), 't'), workers=2, progress=False)")
    proc = subprocess.Popen([sys.executable, "-c", code])
    steps = out / "steps"
    workers: set[int] = set()
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            workers = children(proc.pid)
            n_done = len([p for p in steps.iterdir() if (p / "DONE").is_file()]) if steps.is_dir() else 0
            if n_done >= 4 and len(workers) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the study finished before it could be killed"
        grandchildren = {g for w in workers for g in children(w)}
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        left = workers | grandchildren
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(p) for p in left):
            time.sleep(0.2)
        assert not [p for p in left if alive(p)], "pool workers outlived their killed driver"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (out / "results.json").exists()
    done_before = {p.name for p in steps.iterdir() if (p / "DONE").is_file()}
    cfg = parse_config(json.loads(cfg_path.read_text()), "t")
    rerun = run_study(cfg, workers=2, progress=False)
    ran = {f"{rerun.plan.steps[s].kind}-{rerun.plan.steps[s].key}" for s in rerun.executed}
    everything = {f"{s.kind}-{s.key}" for s in rerun.plan.steps.values()}
    assert ran.isdisjoint(done_before)
    assert ran | done_before == everything and ran
    assert (out / "results.json").is_file()
