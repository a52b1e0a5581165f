"""Executors and the step cache."""

from __future__ import annotations

import json
import os

import pytest

from ftprobe.study.cache import StepCache, content_key
from ftprobe.study.executor import Executor, LocalPoolExecutor, SerialExecutor, make_executor


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
