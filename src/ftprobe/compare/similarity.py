"""Similarity of two spaces or two vectors of measurements.

Pearson between label-pair distance vectors is the paper's similarity; RSA (and linear CKA,
Procrustes and mutual k-NN in their own modules) are label-free cross-checks that work on the
raw vectors (same points in both spaces).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.spatial.distance import pdist
from scipy.stats import rankdata

from .cka import linear_cka  # noqa: F401  (its home was this module; kept importable from here)

__all__ = ["pearson", "batched_pearson", "bootstrap_ci", "rsa"]

def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"length mismatch: {a.size} vs {b.size}")
    keep = np.isfinite(a) & np.isfinite(b)
    return a[keep], b[keep]


def batched_pearson(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pearson along the last axis of two equal-shape arrays; NaN where either row is constant.

    The batched form lets the bootstrap run all resamples in one array operation.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    if A.shape != B.shape:
        raise ValueError(f"shape mismatch: {A.shape} vs {B.shape}")
    Ac = A - A.mean(axis=-1, keepdims=True)
    Bc = B - B.mean(axis=-1, keepdims=True)
    num = (Ac * Bc).sum(axis=-1)
    den = np.sqrt((Ac * Ac).sum(axis=-1) * (Bc * Bc).sum(axis=-1))
    # Exactly constant rows (ptp == 0) have no correlation; tiny rounding residue must not
    # masquerade as variance, hence the explicit ptp test rather than den > 0 alone.
    const = (np.ptp(A, axis=-1) == 0) | (np.ptp(B, axis=-1) == 0) | ~(den > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(const, np.nan, num / np.where(const, 1.0, den))
    return np.clip(r, -1.0, 1.0)


def pearson(a, b) -> float:
    """Pearson correlation of two equal-length vectors.

    Entries that are non-finite in either vector are dropped (a label missing on one side is
    not a measurement); NaN, not an exception, when fewer than two pairs remain or a side is
    constant, so one degenerate case does not stop a study. Unequal lengths are a caller bug
    and raise ``ValueError``.
    """
    a, b = _paired(a, b)
    if a.size < 2:
        return float("nan")
    return float(batched_pearson(a, b))


def bootstrap_ci(
    a,
    b,
    stat: Callable[[np.ndarray, np.ndarray], float] = pearson,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile confidence interval of ``stat(a, b)`` under a paired bootstrap over entries.

    Pairs are resampled together (the entries are label pairs, the unit of the paper's
    correlations). For Pearson all resamples are evaluated at once from an index matrix;
    another ``stat`` is called once per resample. Resamples where the statistic is undefined
    (constant resample) are ignored; ``(nan, nan)`` if none is defined.
    """
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")
    if n_boot < 1:
        raise ValueError("n_boot must be >= 1")
    a, b = _paired(a, b)
    n = a.size
    if n < 2:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    if stat is pearson:
        # Chunk the resamples so a long vector does not build a huge index matrix copy.
        step = max(1, 4_000_000 // n)
        vals = np.concatenate(
            [
                batched_pearson(a[idx[i : i + step]], b[idx[i : i + step]])
                for i in range(0, n_boot, step)
            ]
        )
    else:
        vals = np.array([stat(a[row], b[row]) for row in idx], dtype=np.float64)
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(vals, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


def rsa(X, Y, n_points: int = 2000, seed: int = 0, method: str = "spearman") -> float:
    """Representational similarity: correlation of the two spaces' pairwise distances.

    The same seeded subsample of rows is taken from X and Y (distance matrices are N^2).
    ``method`` is "spearman" (rank, the usual RSA choice) or "pearson".
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2:
        raise ValueError("X and Y must be 2-D [N, D]")
    if X.shape[0] != Y.shape[0]:
        raise ValueError(f"row mismatch: {X.shape[0]} vs {Y.shape[0]}")
    if method not in ("spearman", "pearson"):
        raise ValueError(f"unknown method {method!r}")
    n = X.shape[0]
    if n > n_points:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=n_points, replace=False))
        X, Y = X[rows], Y[rows]
    if X.shape[0] < 3:
        return float("nan")
    dx, dy = pdist(X), pdist(Y)
    if method == "spearman":
        dx, dy = rankdata(dx), rankdata(dy)
    return pearson(dx, dy)
