"""Stream pooled vectors into a layer's ``.npy`` file of the store.

Rows arrive in batch order (sentences grouped by length), so each batch lands in scattered places
of the file. Writing them through a fresh memory map costs a page fault per 4 KiB, which measured
twice the time of plain ``pwrite`` calls, one per run of consecutive rows (a sentence's words are
consecutive), made from a background thread while the next batch runs through the model. The
``fsync`` before the entry's rename is kept synchronous: asking the kernel to write back early
(``sync_file_range``) measured slower, its write-back competing with the forward for the cores.
The file is an ordinary ``.npy``: readers memory-map it.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

import numpy as np

__all__ = ["LayerWriter", "RowRuns", "BackgroundWorker"]


class RowRuns:
    """The destination rows of one batch as maximal runs of consecutive rows (computed once).

    Runs are cut in the batch's own order (a sentence's words arrive consecutive), so the values
    are written without being reordered first.
    """

    def __init__(self, rows: np.ndarray):
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1:
            raise ValueError("rows must be one-dimensional")
        if len(np.unique(rows)) != len(rows):
            raise ValueError("a row is written twice in one batch")
        cut = np.flatnonzero(np.diff(rows) != 1) + 1
        self.start = np.r_[0, cut] if len(rows) else np.zeros(0, np.int64)  # position in the batch
        self.stop = np.r_[cut, len(rows)] if len(rows) else np.zeros(0, np.int64)
        self.first = rows[self.start]  # destination row of each run
        self.n = len(rows)


class LayerWriter:
    """Writes rows of one ``[n, dim]`` array of ``dtype`` into a ``.npy`` file by ``pwrite``.

    ``create=True`` makes the file (header, full size, zero rows); ``False`` reopens one being
    resumed, after checking its header.
    """

    def __init__(self, path: Path, shape: tuple[int, int], dtype: str, *, create: bool):
        self.path = Path(path)
        self.shape = (int(shape[0]), int(shape[1]))
        self.dtype = np.dtype(dtype)
        if create:
            mm = np.lib.format.open_memmap(self.path, mode="w+", dtype=self.dtype, shape=self.shape)
        else:
            mm = np.load(self.path, mmap_mode="r")
            if mm.shape != self.shape or mm.dtype != self.dtype:
                raise ValueError(f"{self.path}: holds {mm.shape} {mm.dtype}, expected {self.shape} {self.dtype}")
        self.offset = int(mm.offset)
        del mm
        self.row_bytes = self.shape[1] * self.dtype.itemsize
        self.fd = os.open(self.path, os.O_RDWR)
        self._dirty_from: int | None = None

    def write(self, runs: RowRuns, values: np.ndarray) -> None:
        if values.shape != (runs.n, self.shape[1]):
            raise ValueError(f"values of shape {values.shape} for {runs.n} rows of {self.shape[1]}")
        buf = memoryview(np.ascontiguousarray(values, dtype=self.dtype)).cast("B")
        rb, off = self.row_bytes, self.offset
        for first, a, b in zip(runs.first.tolist(), runs.start.tolist(), runs.stop.tolist(), strict=True):
            os.pwrite(self.fd, buf[a * rb:b * rb], off + first * rb)

    def sync(self) -> None:
        """Every row written so far is on disk when this returns."""
        if self.fd >= 0:
            os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class BackgroundWorker:
    """Runs submitted jobs in order in one thread, overlapped with the caller's next forward pass.

    Used for what follows a forward pass: pooling every layer and the ``pwrite`` calls. Both
    release the GIL, and the forward leaves the cores idle between its many small kernels, so the
    work mostly fills gaps. At most ``depth`` jobs wait (their hidden states stay alive until
    then, so memory stays bounded). An error in a job is raised in the caller at the next
    ``submit`` or ``drain``; later jobs are skipped.
    """

    def __init__(self, depth: int = 2):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="ftprobe-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._q.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    fn, args = job
                    fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                self._error = exc
            finally:
                self._q.task_done()

    def _raise(self) -> None:
        if self._error is not None:
            err, self._error = self._error, None
            raise err

    def submit(self, fn, *args) -> None:
        self._raise()
        self._q.put((fn, args))

    def drain(self) -> None:
        """Wait until every submitted job has run; raise the first error of one."""
        self._q.join()
        self._raise()

    def close(self) -> None:
        self._q.put(None)
        self._thread.join()
