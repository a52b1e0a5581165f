"""Where steps run: the ``Executor`` protocol, in-process and local process-pool implementations.

An executor takes a top-level function and a JSON payload and returns a ``concurrent.futures``
Future. Step functions read their inputs from, and write their results to, the study's output
folder, so an executor only has to run ``fn(payload)`` somewhere that sees that folder; a
distributed executor (a cluster queue) can implement the same two methods.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
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


def _init_worker(threads: int) -> None:
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
    ``threads_per_worker`` threads."""

    def __init__(self, workers: int, threads_per_worker: int = 1):
        self.workers = max(1, int(workers))
        ctx = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                         initializer=_init_worker, initargs=(threads_per_worker,))

    def submit(self, fn: Callable[[dict], dict], payload: dict,
               resources: StepResources | None = None) -> Future:
        return self._pool.submit(fn, payload)

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)


def make_executor(workers: int, threads: int) -> Executor:
    if workers <= 1:
        return SerialExecutor()
    return LocalPoolExecutor(workers, max(1, threads // workers))
