"""Where steps run: the ``Executor`` protocol, in-process and local process-pool implementations.

An executor takes a top-level function and a JSON payload and returns a ``concurrent.futures``
Future. Step functions read their inputs from, and write their results to, the study's output
folder, so an executor only has to run ``fn(payload)`` somewhere that sees that folder; a
distributed executor (a cluster queue) can implement the same two methods.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StepResources:
    """What one step asks of the machine it runs on (a cluster scheduler places it by these)."""

    cpus: float = 1.0
    gpus: float = 0.0


@runtime_checkable
class Executor(Protocol):
    workers: int

    def submit(self, fn: Callable[[dict], dict], payload: dict,
               resources: StepResources | None = None) -> Future: ...

    def shutdown(self, cancel: bool = False) -> None: ...


@runtime_checkable
class ClusterExecutor(Executor, Protocol):
    """An executor whose steps may run on other machines: the runner checks, before any work,
    that they all see the output folder, and places GPU steps by the cluster's GPUs."""

    has_gpus: bool
    gpu_share: float  # of one GPU, asked by each GPU step

    def check_folder_visible(self, folder) -> None: ...


class SerialExecutor:
    """Runs each step in this process, when it is submitted."""

    workers = 1

    def submit(self, fn: Callable[[dict], dict], payload: dict,
               resources: StepResources | None = None) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(payload))
        except BaseException as exc:  # noqa: BLE001 - handed to the runner through the future
            if isinstance(exc, KeyboardInterrupt):
                raise
            fut.set_exception(exc)
        return fut

    def shutdown(self, cancel: bool = False) -> None:
        pass


PARENT_POLL_S = 0.5  # how often a pool worker checks that the driver is still alive


def _child_pids(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``; empty where there is none)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()  # after "(command name)"
        except OSError:  # it exited meanwhile
            continue
        if len(fields) > 1 and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _exit_when_orphaned(parent: int) -> None:
    """Runs in a daemon thread of each pool worker: once ``parent`` (the driver) is gone, the
    worker is re-parented; it then kills its own children (DirectProbe's forked pools) and exits
    at once, mid-step if it is in one. The step's work stays in its ``.partial`` folder, never
    read as done; the next run redoes it."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    for pid in _child_pids(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(1)


def init_worker(threads: int, parent: int | None = None) -> None:
    """Start a worker process of the study: ``threads`` BLAS/torch threads, and (``parent``) an
    exit as soon as that process is gone."""
    if parent is not None:  # a killed driver (kill -9) must not leave its workers running
        threading.Thread(target=_exit_when_orphaned, args=(parent,), daemon=True,
                         name="ftprobe-parent-watch").start()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # the variables come too late for a BLAS that an import has already started: limit it too
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)
    import torch  # every stage is part of the package: a failure here is a bug

    torch.set_num_threads(threads)


class LocalPoolExecutor:
    """A pool of ``workers`` processes (spawned, not forked: safe with torch), each limited to
    ``threads_per_worker`` threads. The workers exit when this process dies, even by SIGKILL
    (each watches its parent), so a killed driver leaves none behind."""

    def __init__(self, workers: int, threads_per_worker: int = 1):
        self.workers = max(1, int(workers))
        ctx = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                         initializer=init_worker, initargs=(threads_per_worker, os.getpid()))

    def submit(self, fn: Callable[[dict], dict], payload: dict,
               resources: StepResources | None = None) -> Future:
        return self._pool.submit(fn, payload)

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)


def make_executor(workers: int, threads: int) -> Executor:
    if workers <= 1:
        return SerialExecutor()
    return LocalPoolExecutor(workers, max(1, threads // workers))
