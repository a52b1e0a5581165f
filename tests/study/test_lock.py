"""One runner per output folder: the second is refused in one line naming the folder and the
running process; a run killed with -9 leaves nothing locked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ftprobe.errors import UserError
from ftprobe.study.lock import LOCK_FILE, FolderLock

from .conftest import micro_config, run_cli, write_config

HOLD = ("import sys, time; from ftprobe.study.lock import FolderLock; "
        "FolderLock(sys.argv[1], 'holder').acquire(); print('held', flush=True); time.sleep(600)")


def _holder(folder) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_runner_refused_until_first_is_killed(tmp_path):
    out = tmp_path / "out"
    proc = _holder(out)
    try:
        with pytest.raises(UserError) as err:
            FolderLock(out).acquire()
        msg = str(err.value)
        assert str(out) in msg and f"pid {proc.pid}" in msg and "\n" not in msg
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert (out / LOCK_FILE).is_file()  # the file stays; the kernel dropped the lock
    with FolderLock(out) as lock:
        assert lock.owner().pid == os.getpid()
    with FolderLock(out):  # released on exit: a second holder in turn is fine
        pass


def test_cli_refuses_a_second_study_on_the_folder(tiny_bert, tmp_path):
    out = tmp_path / "out"
    cfg = write_config(tmp_path / "s.json", micro_config(tiny_bert, out))
    proc = _holder(out)
    try:
        t0 = time.monotonic()
        res = run_cli("study", str(cfg), "--no-progress")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and str(out) in lines[0] and f"pid {proc.pid}" in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not (out / "steps").exists() and not (out / "study.json").exists()  # before any work
    assert time.monotonic() - t0 < 120
