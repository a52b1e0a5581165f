"""A DirectProbe fit's progress on disk, so that a long fit resumes where it stopped.

The merge phase of a big set runs for hours (the full EWT POS train set: about five on two
cores), one decision after another. Between two decisions the merge engine's state is
complete in plain arrays and tables: the clusters, their nearest-partner caches,
the rejected pairs, the kept planes and supports, and the kept LPs as rows and optimal basis
(put back frozen, so a resumed fit continues them warm and makes the same decisions). It is
written as one ``.npz`` of plain arrays, to a temporary name and then renamed, and read back
with ``allow_pickle=False``. The file also holds the label-pair phase's conflicts, the
counters, and a fingerprint of the inputs, so that a state is never resumed on other data.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from ftprobe.atomic import save_npz

FORMAT = 3  # 3: identical points folded (identical.py); older formats are refused


def fingerprint(X: np.ndarray, y: np.ndarray, tol: float, n_labels: int, folded: bool = False) -> str:
    """Hash of what decides a fit's answer (the vectors, the labels, tol and the label count)
    and of the rows its engine holds (``folded``: identical points folded, see identical.py)."""
    h = hashlib.sha256()
    h.update(json.dumps({"format": FORMAT, "shape": list(X.shape), "tol": float(tol),
                         "n_labels": int(n_labels), "folded": bool(folded)}).encode())
    h.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.int64).tobytes())
    return h.hexdigest()


class StateMismatch(ValueError):
    """A state file written by a fit of other inputs, by an older ftprobe, or not a state file
    at all."""


class SavedState:
    """A state file opened for resuming: its decisions, conflicts, fingerprint and arrays."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            self.z = np.load(self.path, allow_pickle=False)
            self.decisions = int(self.z["dec"])
        except (OSError, ValueError, KeyError) as exc:
            raise StateMismatch(f"{self.path}: not a DirectProbe state file ({exc})") from None
        files = self.z.files
        written = int(self.z["format"]) if "format" in files else 0
        if written != FORMAT:
            raise StateMismatch(
                f"{self.path}: written by an older ftprobe (state format {written}, this one "
                f"reads {FORMAT}); remove it and refit")
        # The merge-phase benchmark saves states without them (it resumes its own runs only).
        self.fingerprint = str(self.z["fingerprint"]) if "fingerprint" in files else None
        self.conflict = self.z["conflict"] if "conflict" in files else None


def ragged(d: dict):
    """dict of 1-D int arrays -> (keys, offsets, values) arrays (a part's saved table)."""
    keys = list(d)
    vals = [np.asarray(d[k], np.int64).ravel() for k in keys]
    off = np.cumsum([0] + [len(v) for v in vals])
    flat = np.concatenate(vals) if vals else np.zeros(0, np.int64)
    return np.array(keys, np.int64), off, flat


def save_state(eng, path: Path, decisions: int, conflict: np.ndarray | None = None,
               fingerprint: str | None = None) -> None:
    """Write the merge engine's state between two decisions (its parts' arrays, see
    ``state_arrays``) atomically: temporary name, then rename."""
    path = Path(path)
    arr = {"format": np.int64(FORMAT), "dec": np.int64(decisions), **eng.state_arrays()}
    if fingerprint is not None:
        arr["fingerprint"] = np.array(fingerprint)
    if conflict is not None:
        arr["conflict"] = np.asarray(conflict)
    save_npz(path, arr)


def restore_engine(eng, saved: SavedState) -> int:
    """Put a saved state into a freshly built engine (same inputs); returns its decisions."""
    eng.load_state(saved.z)
    return saved.decisions
