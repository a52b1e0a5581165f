"""Executors and the step cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ftprobe.study.cache import StepCache, content_key
from ftprobe.study.executor import Executor, LocalPoolExecutor, SerialExecutor, make_executor

from .helpers import alive


def test_serial_executor_runs_and_captures_errors():
    ex = SerialExecutor()
    assert isinstance(ex, Executor)
    assert ex.submit(json.dumps, {"a": 1}).result() == '{"a": 1}'
    fut = ex.submit(lambda p: p["missing"], {})
    assert isinstance(fut.exception(), KeyError)


def test_local_pool_runs_in_other_processes():
    ex = LocalPoolExecutor(2, threads_per_worker=1)
    try:
        assert isinstance(ex, Executor)
        futs = [ex.submit(json.dumps, {"i": i}) for i in range(4)]
        assert [f.result() for f in futs] == [json.dumps({"i": i}) for i in range(4)]
        pid = ex.submit(_pid, {}).result()
        assert pid != os.getpid()
    finally:
        ex.shutdown()


def _pid(_payload: dict) -> int:
    return os.getpid()


def test_make_executor():
    assert isinstance(make_executor(1, 2), SerialExecutor)
    ex = make_executor(2, 2)
    assert isinstance(ex, LocalPoolExecutor) and ex.workers == 2
    ex.shutdown()


def test_content_key_depends_on_kind_settings_and_inputs():
    k = content_key("probe", {"l2": [1e-3]}, {"train": "extract-a"})
    assert k == content_key("probe", {"l2": [1e-3]}, {"train": "extract-a"})
    assert k != content_key("probe", {"l2": [1e-2]}, {"train": "extract-a"})
    assert k != content_key("probe", {"l2": [1e-3]}, {"train": "extract-b"})
    assert k != content_key("directprobe", {"l2": [1e-3]}, {"train": "extract-a"})


def test_cache_commit_is_atomic(tmp_path):
    cache = StepCache(tmp_path)
    work = cache.begin("probe", "abc")
    (work / "half.npy").write_bytes(b"x")
    assert not cache.done("probe", "abc")
    with pytest.raises(FileNotFoundError):
        cache.load("probe", "abc")
    assert cache.steps() == []
    cache.commit("probe", "abc", {"acc": 0.5})
    assert cache.done("probe", "abc") and cache.load("probe", "abc") == {"acc": 0.5}
    assert not cache.partial("probe", "abc").exists()
    assert (cache.path("probe", "abc") / "half.npy").is_file()


_POOL_DRIVER = """
import multiprocessing, time
from ftprobe.study.executor import LocalPoolExecutor
from tests.study.test_executor import _sleep
ex = LocalPoolExecutor(2, threads_per_worker=1)
busy = [ex.submit(_sleep, {}) for _ in range(2)]  # both workers mid-step, for good
while not all(f.running() for f in busy):
    time.sleep(0.05)
print(" ".join(str(p.pid) for p in multiprocessing.active_children()), flush=True)
time.sleep(600)
"""


def _sleep(_payload: dict) -> None:
    time.sleep(600)


@pytest.mark.skipif(not os.path.isfile("/proc/self/stat"), reason="reads processes from /proc")
def test_pool_workers_exit_mid_step_when_their_driver_is_killed(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"), str(root)])}
    proc = subprocess.Popen([sys.executable, "-c", _POOL_DRIVER], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=root)
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert pids and all(alive(p) for p in pids), pids
        time.sleep(1)  # the sleeping steps have started
        os.kill(proc.pid, signal.SIGKILL)  # the driver only, not its process group
        proc.wait()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.1)
        assert not [p for p in pids if alive(p)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
