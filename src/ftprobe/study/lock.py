"""One runner per output folder: an exclusive ``flock`` on ``OUT/.ftprobe-lock``.

The kernel drops the lock when its process dies (even by ``kill -9``), so a dead run never leaves
the folder locked; the file itself stays, holding the last owner's pid and host for the message
a refused runner prints.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from ftprobe.errors import UserError

LOCK_FILE = ".ftprobe-lock"


@dataclass(frozen=True)
class LockOwner:
    pid: int
    host: str
    command: str

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} ({self.command})"


class FolderLock:
    """``with FolderLock(out, "ftprobe study"):`` holds the folder, or raises a one-line UserError."""

    def __init__(self, folder: str | Path, command: str = "ftprobe study"):
        self.folder = Path(folder)
        self.command = command
        self._fd: int | None = None

    @property
    def path(self) -> Path:
        return self.folder / LOCK_FILE

    def owner(self) -> LockOwner | None:
        try:
            d = json.loads(self.path.read_text(encoding="utf-8"))
            return LockOwner(int(d["pid"]), str(d["host"]), str(d.get("command", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def acquire(self) -> FolderLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = self.owner()
            who = owner.describe() if owner else "another process"
            raise UserError(f"output folder {self.folder} is in use by {who}; wait for it to finish "
                            "or stop it (one runner per folder)") from None
        me = {"pid": os.getpid(), "host": socket.gethostname(), "command": self.command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
