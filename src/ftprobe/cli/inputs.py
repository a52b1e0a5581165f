"""Plain-file inputs of the commands: vectors as .npy, labels (or word types) one per line.

Bad input is one UserError naming the file, and the line where there is one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ftprobe.errors import UserError

if TYPE_CHECKING:  # numpy is imported where it is used: `ftprobe --help` stays quick
    import numpy as np


def read_lines(path: Path, what: str = "label") -> list[str]:
    """One ``what`` per line, stripped; trailing blank lines are ignored, a blank one before them
    is an error naming its line."""
    from ftprobe.data.files import read_lines as numbered_lines

    lines = [s.strip() for _, s in numbered_lines(path)]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise UserError(f"{path}: no {what}s")
    for i, s in enumerate(lines, 1):
        if not s:
            raise UserError(f"{path}:{i}: empty {what}")
    return lines


def load_npy(path: Path) -> np.ndarray:
    """A .npy array, memory-mapped (never unpickled)."""
    import numpy as np

    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: not a readable .npy array ({exc})") from None


def layer_stack(path: Path) -> np.ndarray:
    """Vectors of one layer [n, D] or of several [L, n, D], as [L, n, D] (memory-mapped)."""
    import numpy as np

    a = load_npy(path)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or not np.issubdtype(a.dtype, np.number):
        raise UserError(f"{path}: expected a numeric [n, D] or [L, n, D] array, got {a.shape} {a.dtype}")
    return a


def checked_matrix(a: np.ndarray, what: str) -> np.ndarray:
    """``a`` as a contiguous float64 [n, D] with n >= 1 and only finite values."""
    import numpy as np

    if a.ndim != 2:
        raise UserError(f"{what}: expected a 2-D array [n, D], got shape {a.shape}")
    if len(a) == 0:
        raise UserError(f"{what}: no rows")
    if not np.issubdtype(a.dtype, np.number):
        raise UserError(f"{what}: not a numeric array ({a.dtype})")
    X = np.ascontiguousarray(a, dtype=np.float64)
    bad = ~np.isfinite(X).all(1)
    if bad.any():
        raise UserError(f"{what}: row {int(np.flatnonzero(bad)[0])} has NaN or inf ({int(bad.sum())} such rows)")
    return X
