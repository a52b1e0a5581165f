"""The Ray executor on a real local Ray cluster (2 CPUs, started once per session): results
identical to the serial executor, bad input refused in one line before any work, and (slow)
a worker killed mid-step, a driver killed and rerun, Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ftprobe.study import parse_config, run_study
from ftprobe.study.cache import StepCache
from ftprobe.study.progress import read_attempts, read_progress

from .conftest import micro_config, run_cli, write_config
from .helpers import alive, descendants, stable_results

pytest.importorskip("ray")


def _one_line_exit_2(res: subprocess.CompletedProcess) -> str:
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr[-2000:]
    return lines[0]


def _results(out) -> dict:
    return stable_results(json.loads((out / "results.json").read_text()))


def test_unreachable_ray_address(tiny_bert, tmp_path):
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "s.json", micro_config(tiny_bert, out))
    t0 = time.monotonic()
    line = _one_line_exit_2(run_cli("study", str(cfg), "--executor", "ray", "--ray-address", "127.0.0.1:9"))
    assert "--ray-address 127.0.0.1:9" in line and "cannot reach" in line
    assert not out.exists() and time.monotonic() - t0 < 60


def test_study_on_ray_equals_serial(tiny_bert, tmp_path, ray_cluster):
    serial = tmp_path / "serial"
    on_ray = tmp_path / "ray"
    run_study(parse_config(micro_config(tiny_bert, serial), "t"), progress=False)
    from rich.console import Console

    view = tmp_path / "view.txt"
    with open(view, "w") as fh:
        summary = run_study(parse_config(micro_config(tiny_bert, on_ray), "t"), executor_kind="ray",
                            workers=2, console=Console(file=fh, force_terminal=True, width=200))
    n = len(summary.plan.steps)
    assert len(summary.executed) == n
    shown = view.read_text()
    assert f"[{n}/{n}]" in shown and "failed 0" in shown and "running " in shown  # the one view
    assert _results(on_ray) == _results(serial)
    cache = StepCache(on_ray / "steps")
    for s in summary.plan.steps.values():
        folder = cache.path(s.kind, s.key)
        assert read_attempts(folder) == 1
        assert read_progress(folder).pid != os.getpid()  # ran in a Ray worker
    assert not list((on_ray / "steps").glob("*.partial"))


def test_gpu_config_on_a_cluster_without_gpus(tiny_bert, tmp_path, ray_cluster):
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "s.json", micro_config(tiny_bert, out, extract={"device": "cuda"}))
    line = _one_line_exit_2(run_cli("study", str(cfg), "--executor", "ray", "--ray-address", ray_cluster))
    assert "extract.device" in line and ("no GPU" in line or "CUDA" in line)
    assert not out.exists()


def _can_unshare() -> bool:
    return shutil.which("unshare") is not None and \
        subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_unshare(), reason="needs unshare -m (a private mount namespace)")
def test_output_folder_the_workers_cannot_see(tiny_bert, tmp_path, ray_cluster):
    """The driver runs in its own mount namespace with a private tmpfs over the output's parent:
    what it writes there, the cluster's workers cannot read."""
    private = tmp_path / "private"
    private.mkdir()
    out = private / "out"
    cfg = write_config(tmp_path / "s.json", micro_config(tiny_bert, out))
    script = (f"mount -t tmpfs none {private} && exec {sys.executable} -m ftprobe study {cfg} "
              f"--executor ray --ray-address {ray_cluster}")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True,
                         timeout=300, env=env)
    line = _one_line_exit_2(res)
    assert f"output folder {out}" in line and "not visible from Ray node" in line
    assert not out.exists()  # and nothing leaked out of the private namespace


# ---------------------------------------------------------------------------------------------
# faults (slow)


def _long_finetune(model, out) -> dict:
    """The micro study with a fine-tuning long enough to be killed in the middle (60 steps)."""
    return micro_config(model, out, finetune={"epochs": 20, "batch_size": 2, "lr": 1e-3,
                                              "checkpoint_every_steps": 2, "checkpoint_every_epoch": False})


def _wait_for(pred, timeout=240.0, every=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(every)
    raise AssertionError("timed out")


@pytest.mark.slow
def test_worker_killed_mid_step_reruns_and_finishes_identically(tiny_bert, tmp_path, ray_cluster):
    ref = tmp_path / "ref"
    run_study(parse_config(_long_finetune(tiny_bert, ref), "t"), progress=False)
    out = tmp_path / "killed"
    cfg = parse_config(_long_finetune(tiny_bert, out), "t")
    errors: list[BaseException] = []

    def drive():
        try:
            run_study(cfg, progress=False, executor_kind="ray", workers=2)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    driver = threading.Thread(target=drive)
    driver.start()

    def finetuning():
        for work in (out / "steps").glob("finetune-*.partial"):
            p = read_progress(work)
            if p is not None and p.phase == "fine-tuning" and p.done and p.done >= 10:
                return work, p
        return None

    work, p = _wait_for(finetuning)
    assert p.pid != os.getpid() and p.done < p.total
    os.kill(p.pid, signal.SIGKILL)
    driver.join(timeout=600)
    assert not errors, errors
    (folder,) = (out / "steps").glob("finetune-*[!l]")
    assert folder.name == work.name.removesuffix(".partial")
    assert read_attempts(folder) == 2  # the step ran again, on another worker
    with open(folder / "run" / "metrics.jsonl") as fh:
        saved = [r["step"] for r in map(json.loads, fh)
                 if r.get("event") == "checkpoint" and r["path"].startswith("checkpoints/")]
    assert saved == list(range(2, 61, 2))  # resumed from its last checkpoint: each saved once
    assert _results(out) == _results(ref)


@pytest.mark.slow
def test_driver_killed_and_rerun_does_nothing_twice(tiny_bert, tmp_path, ray_cluster):
    out = tmp_path / "out"
    cfg_path = write_config(tmp_path / "s.json", _long_finetune(tiny_bert, out))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ftprobe", "study", str(cfg_path), "--executor", "ray",
                             "--ray-address", ray_cluster, "--workers", "2", "--no-progress"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = StepCache(out / "steps")
    _wait_for(lambda: len(cache.steps()) >= 6, every=0.05)
    proc.kill()  # SIGKILL: no cleanup at all
    proc.wait()
    done_before = {p.name for p in cache.steps()}
    assert not (out / "results.json").exists()
    cfg = parse_config(json.loads((tmp_path / "s.json").read_text()), "t")
    again = run_study(cfg, progress=False, executor_kind="ray", workers=2)  # the lock is free again
    assert done_before <= set(again.cached) and not done_before & set(again.executed)
    for name in done_before:
        assert read_attempts(cache.root / name) == 1
    assert len(again.cached) + len(again.executed) == len(again.plan.steps)
    ref = tmp_path / "ref"
    run_study(parse_config(_long_finetune(tiny_bert, ref), "t"), progress=False)
    assert _results(out) == _results(ref)



@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile("/proc/self/stat"), reason="reads processes from /proc")
def test_driver_killed_takes_the_ray_it_started_with_it(tiny_bert, tmp_path):
    """Without --ray-address the driver starts its own Ray (GCS, raylet, workers): killed by
    SIGKILL mid-step, none of those processes outlives it, and a rerun resumes from the cache."""
    out = tmp_path / "out"
    cfg_path = write_config(tmp_path / "s.json", _long_finetune(tiny_bert, out))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "ftprobe", "study", str(cfg_path), "--executor", "ray",
                             "--workers", "2", "--no-progress"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def finetuning():
            return any((p := read_progress(w)) is not None and p.phase == "fine-tuning" and p.done
                       for w in (out / "steps").glob("finetune-*.partial"))

        _wait_for(finetuning, every=0.1)
        ray_procs = descendants(proc.pid)
        assert len(ray_procs) >= 3  # at least the GCS, the raylet and the fine-tuning worker
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 180  # Ray's dashboard agent takes the longest, a minute at load 10
        while time.monotonic() < deadline and any(alive(p) for p in ray_procs):
            time.sleep(0.5)
        left = [p for p in ray_procs if alive(p)]
        assert not left, [Path(f"/proc/{p}/cmdline").read_bytes()[:120] for p in left if alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    summary = run_study(parse_config(json.loads((tmp_path / "s.json").read_text()), "t"), progress=False)
    assert len(summary.executed) + len(summary.cached) == len(summary.plan.steps)


@pytest.mark.slow
def test_progress_view_shows_a_running_steps_own_progress(tiny_bert, tmp_path, ray_cluster):
    from rich.console import Console

    view = tmp_path / "view.txt"
    with open(view, "w") as fh:
        run_study(parse_config(_long_finetune(tiny_bert, tmp_path / "out"), "t"), executor_kind="ray",
                  console=Console(file=fh, force_terminal=True, width=200))
    shown = view.read_text()
    assert "fine-tuning " in shown and "/60 (epoch " in shown  # from the worker's progress file
    assert "checkpoints " in shown  # the series step, checkpoint i of n


@pytest.mark.slow
def test_ctrl_c_cancels_and_exits_cleanly(tiny_bert, tmp_path, ray_cluster):
    out = tmp_path / "out"
    cfg_path = write_config(tmp_path / "s.json", _long_finetune(tiny_bert, out))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ftprobe", "study", str(cfg_path), "--executor", "ray",
                             "--ray-address", ray_cluster, "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def finetuning():
        return any((p := read_progress(w)) is not None and p.phase == "fine-tuning"
                   for w in (out / "steps").glob("finetune-*.partial"))

    _wait_for(finetuning)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    (work,) = (out / "steps").glob("finetune-*.partial")
    p = read_progress(work)
    time.sleep(2)  # the cancelled step's worker is gone: its progress no longer moves
    assert read_progress(work) == p
    summary = run_study(parse_config(json.loads((tmp_path / "s.json").read_text()), "t"), progress=False)
    assert len(summary.executed) + len(summary.cached) == len(summary.plan.steps)
