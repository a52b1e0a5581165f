"""Progress of a running step, as a small file in its work folder that the driver polls.

A step may run in this process, a local pool or on another machine of a cluster: the one thing
they share is the output folder, so each step writes ``<work>/progress.json`` (replaced
atomically, at most a few times a second) and appends one line per start to ``attempts.jsonl``
(kept with the result: how many times the step ran, where).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PROGRESS_FILE = "progress.json"
ATTEMPTS_FILE = "attempts.jsonl"
MIN_INTERVAL = 0.5  # seconds between two writes of the same phase


@dataclass(frozen=True)
class StepProgress:
    """What a step reports: where it runs and how far it is."""

    pid: int
    host: str
    phase: str
    done: int | None = None
    total: int | None = None
    detail: str = ""

    def describe(self) -> str:
        count = f" {self.done}/{self.total}" if self.done is not None and self.total else ""
        detail = f" {self.detail}" if self.detail else ""
        return f"{self.phase}{count}{detail}"


class ProgressFile:
    """The writer, owned by the step running in ``work``."""

    def __init__(self, work: Path):
        self.work = Path(work)
        self._last: tuple[str, float] = ("", 0.0)

    def started(self) -> None:
        line = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}
        with open(self.work / ATTEMPTS_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")
        self.update("started", force=True)

    def update(self, phase: str, done: int | None = None, total: int | None = None, detail: str = "",
               *, force: bool = False) -> None:
        now = time.monotonic()
        last_phase, last_t = self._last
        finished = done is not None and total is not None and done >= total
        if not (force or finished) and phase == last_phase and now - last_t < MIN_INTERVAL:
            return
        self._last = (phase, now)
        p = StepProgress(os.getpid(), socket.gethostname(), phase, done, total, detail)
        tmp = self.work / f".{PROGRESS_FILE}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(asdict(p)), encoding="utf-8")
        os.replace(tmp, self.work / PROGRESS_FILE)


def read_progress(work: Path) -> StepProgress | None:
    """The latest progress of the step working in ``work`` (None before its first report)."""
    try:
        d = json.loads((Path(work) / PROGRESS_FILE).read_text(encoding="utf-8"))
        return StepProgress(**d)
    except (OSError, ValueError, TypeError):
        return None


def read_attempts(folder: Path) -> int:
    """How many times the step of ``folder`` (its work or its result folder) started."""
    try:
        return sum(1 for line in (Path(folder) / ATTEMPTS_FILE).read_text().splitlines() if line.strip())
    except OSError:
        return 0
