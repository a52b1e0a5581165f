"""Content-addressed step results: ``OUT/steps/<kind>-<key>/``.

A step writes into ``<kind>-<key>.partial/`` (kept across a kill, so a step that can resume, such
as fine-tuning, picks up where it stopped), then ``result.json`` and the ``DONE`` marker, and
finally renames the folder into place. A folder without ``DONE`` is never read as a result.
Results are JSON plus ``.npy`` arrays (loaded with ``allow_pickle=False``); nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe.atomic import write_json

DONE = "DONE"
RESULT = "result.json"


def content_key(kind: str, settings: Any, inputs: dict[str, str], version: int = 1) -> str:
    """Hash of a step's kind, its settings and the keys of the steps it reads (16 hex digits)."""
    blob = json.dumps({"kind": kind, "v": version, "settings": settings, "inputs": inputs},
                      sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class StepCache:
    """The ``steps`` folder of a study output."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def name(self, kind: str, key: str) -> str:
        return f"{kind}-{key}"

    def path(self, kind: str, key: str) -> Path:
        return self.root / self.name(kind, key)

    def partial(self, kind: str, key: str) -> Path:
        return self.root / (self.name(kind, key) + ".partial")

    def done(self, kind: str, key: str) -> bool:
        return (self.path(kind, key) / DONE).is_file()

    def load(self, kind: str, key: str) -> dict:
        p = self.path(kind, key)
        if not (p / DONE).is_file():
            raise FileNotFoundError(f"step {p.name} has not finished")
        return json.loads((p / RESULT).read_text(encoding="utf-8"))

    def begin(self, kind: str, key: str) -> Path:
        """The work folder of a step (left as it was by an interrupted run)."""
        p = self.partial(kind, key)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def commit(self, kind: str, key: str, result: dict) -> Path:
        """Write the result and the marker into the work folder, then move it into place."""
        work = self.partial(kind, key)
        write_json(work / RESULT, result)
        (work / DONE).write_text("ok\n")
        final = self.path(kind, key)
        if final.exists():  # a stale, unfinished folder (no DONE) from an old layout
            shutil.rmtree(final)
        os.replace(work, final)
        return final

    def array(self, kind: str, key: str, name: str) -> np.ndarray:
        return np.load(self.path(kind, key) / name, allow_pickle=False)

    def steps(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if (p / DONE).is_file())
