"""The on-disk store of representations.

One entry per (model fingerprint, data fingerprint, split, pooling). An entry is a folder:

    <root>/<entry id>/
        manifest.json        provenance: model, data, pooling, layers, dtype, ftprobe version
        layer_00.npy ...     one [T, D] array per layer (np.save format: memory-mappable,
                             reading one layer reads no other)
        targets.npz          sent, words, labels (int64) of the targets, in split order
        labels.json          the label vocabulary (labels index into it)
        sentences.json       the split's sentences (for target strings and control tasks)

Writes go to ``<root>/<entry id>.partial/`` and the folder is renamed into place once complete,
so an entry that exists is complete. A ``progress.json`` in the partial folder lets an
interrupted extraction resume. Nothing is ever pickled: arrays load with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe.errors import SettingError, UserError

MANIFEST = "manifest.json"
PARTIAL = ".partial"
FORMAT_VERSION = 1


def entry_id(model_fingerprint: str, data_fingerprint: str, split: str, pooling: dict) -> str:
    key = json.dumps([FORMAT_VERSION, model_fingerprint, data_fingerprint, split, pooling], sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def layer_file(layer: int) -> str:
    return f"layer_{layer:02d}.npy"


class Entry:
    """A complete store entry: read-only access to its layers and targets."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.manifest: dict[str, Any] = json.loads((self.path / MANIFEST).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"{self.path}: not a readable store entry ({exc})") from None
        self._targets: dict[str, np.ndarray] | None = None

    def __repr__(self) -> str:
        layers = self.layers
        span = f"{layers[0]}..{layers[-1]}" if layers else "none"
        return (f"Entry({self.id!r}, {self.task}/{self.split}, {self.n_targets:,} targets x {self.dim} dims, "
                f"layers {span})")

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def layers(self) -> list[int]:
        return list(self.manifest["layers"])

    @property
    def dim(self) -> int:
        return int(self.manifest["dim"])

    @property
    def n_targets(self) -> int:
        return int(self.manifest["data"]["n_targets"])

    @property
    def task(self) -> str:
        return self.manifest["data"]["task"]

    @property
    def split(self) -> str:
        return self.manifest["data"]["split"]

    @property
    def kind(self) -> str:
        return self.manifest["data"]["kind"]

    def layer(self, layer: int) -> np.ndarray:
        """The [T, D] vectors of one layer, memory-mapped read-only (only that file is read);
        negatives count back from the last layer the entry holds (``represent.resolve_layer``)."""
        from ftprobe.represent.extract import resolve_layer  # extract imports this module

        try:
            layer = resolve_layer(layer, max(self.layers), self.layers)
        except SettingError:
            raise UserError(f"store entry {self.id} has no layer {layer} (it has {self.layers})") from None
        return np.load(self.path / layer_file(layer), mmap_mode="r", allow_pickle=False)

    def _load_targets(self) -> dict[str, np.ndarray]:
        if self._targets is None:
            with np.load(self.path / "targets.npz", allow_pickle=False) as z:
                self._targets = {k: z[k] for k in z.files}
        return self._targets

    @property
    def labels(self) -> np.ndarray:
        return self._load_targets()["labels"]

    @property
    def sent(self) -> np.ndarray:
        return self._load_targets()["sent"]

    @property
    def words(self) -> np.ndarray:
        return self._load_targets()["words"]

    @property
    def label_names(self) -> list[str]:
        return json.loads((self.path / "labels.json").read_text())

    def sentences(self) -> list[list[str]]:
        return json.loads((self.path / "sentences.json").read_text())

    def to_split(self):
        """The task split this entry was extracted from (sentences, targets, labels)."""
        from ftprobe.data.task import Split

        return Split(self.split, self.sentences(), self.sent, self.words, self.labels)

    def target_words(self) -> list[str]:
        """Each target's surface string (word, "head dep", or sentence): for control tasks."""
        return self.to_split().target_words()

    def describe(self) -> dict[str, Any]:
        m = self.manifest
        return {"id": self.id, "model": m["model"]["name"], "task": self.task, "split": self.split,
                "n_targets": self.n_targets, "layers": self.layers, "dim": self.dim,
                "pooling": m["pooling"], "created": m.get("created")}


class Store:
    """A folder of entries; see the module docstring for the layout."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        n = len(self.entries()) if self.root.is_dir() else 0
        return f"Store({str(self.root)!r}, {n} entries)"

    def path_of(self, eid: str) -> Path:
        return self.root / eid

    def partial_path(self, eid: str) -> Path:
        return self.root / f"{eid}{PARTIAL}"

    def get(self, eid: str) -> Entry | None:
        path = self.path_of(eid)
        return Entry(path) if (path / MANIFEST).is_file() else None

    def entries(self) -> list[Entry]:
        if not self.root.is_dir():
            return []
        return [Entry(p) for p in sorted(self.root.iterdir())
                if p.is_dir() and not p.name.endswith(PARTIAL) and (p / MANIFEST).is_file()]

    def partials(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir() and p.name.endswith(PARTIAL))

    def open(self, eid: str) -> Entry:
        """An entry by id or by an unambiguous id prefix."""
        exact = self.get(eid)
        if exact is not None:
            return exact
        hits = [e for e in self.entries() if e.id.startswith(eid)]
        if len(hits) == 1:
            return hits[0]
        if not hits:
            raise UserError(f"store {self.root}: no entry {eid!r} (it holds {len(self.entries())})")
        raise UserError(f"store {self.root}: {eid!r} matches {len(hits)} entries; give more of the id")

    def find(self, *, task: str | None = None, split: str | None = None,
             model: str | None = None, fingerprint: str | None = None) -> list[Entry]:
        """Entries matching every given field (``model`` matches the name or the fingerprint)."""
        out = []
        for e in self.entries():
            m = e.manifest
            if task is not None and e.task != task:
                continue
            if split is not None and e.split != split:
                continue
            if model is not None and model not in (m["model"]["name"], m["model"]["fingerprint"]):
                continue
            if fingerprint is not None and m["model"]["fingerprint"] != fingerprint:
                continue
            out.append(e)
        return out

    def remove(self, eids: Iterable[str]) -> list[str]:
        removed = []
        for eid in eids:
            entry = self.open(eid)
            # Rename first so a half-deleted entry never reads as complete.
            trash = entry.path.with_name(f"{entry.id}.deleting")
            os.replace(entry.path, trash)
            shutil.rmtree(trash)
            removed.append(entry.id)
        return removed

    def remove_partials(self) -> list[str]:
        out = []
        for p in self.partials():
            shutil.rmtree(p)
            out.append(p.name)
        return out
