"""Input checks shared by the measures: one clear ValueError naming the argument, never a NaN.

Arrays are checked in row blocks so a memory-mapped 200k x 768 layer is never copied whole.
"""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 8192


def space(name: str, X, min_rows: int = 1, why: str = "") -> np.ndarray:
    """``X`` as a 2-D array (memory maps stay memory maps), finite, with at least ``min_rows`` rows."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D [rows, features], got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise ValueError(f"{name} must hold numbers, got dtype {X.dtype}")
    if X.shape[0] < min_rows:
        need = f" ({why})" if why else ""
        raise ValueError(f"{name} has {X.shape[0]} rows; at least {min_rows} are needed{need}")
    if X.shape[1] < 1:
        raise ValueError(f"{name} has no features (shape {X.shape})")
    if np.issubdtype(X.dtype, np.floating):
        for s in range(0, X.shape[0], BLOCK_ROWS):
            block = X[s : s + BLOCK_ROWS]
            if not np.isfinite(block).all():
                bad = s + int(np.flatnonzero(~np.isfinite(block).all(axis=1))[0])
                raise ValueError(f"{name} has a NaN or infinite value (row {bad})")
    return X


def paired(X, Y, min_rows: int = 1, why: str = "", names=("X", "Y")) -> tuple[np.ndarray, np.ndarray]:
    """Two spaces over the same points: both valid and with equal row counts."""
    X = np.asarray(X)
    Y = np.asarray(Y)
    if X.ndim == 2 and Y.ndim == 2 and X.shape[0] != Y.shape[0]:
        raise ValueError(
            f"{names[0]} and {names[1]} must hold the same points: {names[0]} has {X.shape[0]} "
            f"rows, {names[1]} has {Y.shape[0]}"
        )
    return space(names[0], X, min_rows, why), space(names[1], Y, min_rows, why)


def positive_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    return int(value)
