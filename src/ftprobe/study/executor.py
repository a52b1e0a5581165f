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
from typing import Protocol, runtime_checkable


@runtime_checkable
class Executor(Protocol):
    workers: int

    def submit(self, fn: Callable[[dict], dict], payload: dict) -> Future: ...

    def shutdown(self, cancel: bool = False) -> None: ...


class SerialExecutor:
    """Runs each step in this process, when it is submitted."""

    workers = 1

    def submit(self, fn: Callable[[dict], dict], payload: dict) -> Future:
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
    import torch

    torch.set_num_threads(threads)


class LocalPoolExecutor:
    """A pool of ``workers`` processes (spawned, not forked: safe with torch), each limited to
    ``threads_per_worker`` threads."""

    def __init__(self, workers: int, threads_per_worker: int = 1):
        self.workers = max(1, int(workers))
        ctx = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx,
                                         initializer=_init_worker, initargs=(threads_per_worker,))

    def submit(self, fn: Callable[[dict], dict], payload: dict) -> Future:
        return self._pool.submit(fn, payload)

    def shutdown(self, cancel: bool = False) -> None:
        self._pool.shutdown(wait=True, cancel_futures=cancel)


def make_executor(workers: int, threads: int) -> Executor:
    if workers <= 1:
        return SerialExecutor()
    return LocalPoolExecutor(workers, max(1, threads // workers))
