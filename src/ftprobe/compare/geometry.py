"""Label centroids, how they move under fine-tuning, and 2-D PCA views of that movement.

These back the paper's centroid-path and centroid-difference PCA plots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

__all__ = [
    "label_centroids",
    "centroid_shift",
    "CentroidMovement",
    "centroid_movement",
    "space_scale",
    "pca_2d",
    "centroid_paths_pca",
    "shift_pca",
]

_CHUNK_ROWS = 32768


def _labels(y, n: int, n_labels: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y must be 1-D with {n} entries, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError("y must hold integer label ids")
    if y.size and (y.min() < 0 or y.max() >= n_labels):
        raise ValueError(f"label ids must lie in [0, {n_labels})")
    return y.astype(np.int64, copy=False)


def label_centroids(X, y, n_labels: int) -> np.ndarray:
    """Mean vector of each label, [n_labels, D]; rows of labels with no point are NaN.

    Sums via a sparse one-hot product over row chunks (no Python loop over points), in float64.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError("X must be 2-D [N, D]")
    y = _labels(y, X.shape[0], n_labels)
    sums = np.zeros((n_labels, X.shape[1]))
    # Chunks bound the float64 copy (200k x 768 float32 would otherwise double to 1.2 GB).
    for s in range(0, y.size, _CHUNK_ROWS):
        yc = y[s : s + _CHUNK_ROWS]
        onehot = sparse.csr_matrix(
            (np.ones(yc.size), (yc, np.arange(yc.size))), shape=(n_labels, yc.size)
        )
        sums += onehot @ np.asarray(X[s : s + _CHUNK_ROWS], dtype=np.float64)
    counts = np.bincount(y, minlength=n_labels).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = sums / counts[:, None]
    out[counts == 0] = np.nan
    return out


def space_scale(X) -> float:
    """The space's spread: the root mean squared distance of the rows from their mean (float64,
    over row chunks, so a large float32 space is never copied whole).

    Distances divided by it are unchanged when the space is translated, rotated or uniformly
    scaled: whether labels moved apart, or the whole space grew.
    """
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must be a non-empty 2-D array, got shape {X.shape}")
    n = X.shape[0]
    mean = np.zeros(X.shape[1])
    for s in range(0, n, _CHUNK_ROWS):
        mean += X[s:s + _CHUNK_ROWS].sum(axis=0, dtype=np.float64)
    mean /= n
    total = 0.0
    for s in range(0, n, _CHUNK_ROWS):
        total += float(np.square(X[s:s + _CHUNK_ROWS].astype(np.float64) - mean).sum())
    if not np.isfinite(total):
        raise ValueError("X holds NaN or infinite values")
    return float(np.sqrt(total / n))


def centroid_shift(X_before, X_after, y, n_labels: int) -> np.ndarray:
    """Per-label centroid after fine-tuning minus before, [n_labels, D].

    Both arrays hold the same targets in the same order (same y), so the shift is the mean
    of the per-point displacements of that label.
    """
    X_before = np.asarray(X_before)
    X_after = np.asarray(X_after)
    if X_before.shape != X_after.shape:
        raise ValueError(f"shape mismatch: {X_before.shape} vs {X_after.shape}")
    return label_centroids(X_after, y, n_labels) - label_centroids(X_before, y, n_labels)


@dataclass(frozen=True)
class CentroidMovement:
    """How far each label's centroid moved: the Euclidean norm of each shift (None for a label
    absent on either side) and their mean over the labels present (None when none is)."""

    per_label: tuple[float | None, ...]
    mean: float | None
    n_labels_present: int

    @classmethod
    def of_shifts(cls, shifts) -> CentroidMovement:
        """From the shifts themselves ([n_labels, D], NaN rows for absent labels)."""
        norms = np.linalg.norm(np.asarray(shifts, dtype=np.float64), axis=1)
        present = np.isfinite(norms)
        return cls(
            per_label=tuple(float(v) if ok else None for v, ok in zip(norms, present, strict=True)),
            mean=float(norms[present].mean()) if present.any() else None,
            n_labels_present=int(present.sum()),
        )

    def to_json(self) -> dict:
        return {"mean": self.mean, "per_label": list(self.per_label),
                "n_labels_present": self.n_labels_present}


def centroid_movement(X_before, X_after, y, n_labels: int) -> CentroidMovement:
    """How far each label's centroid moved between two spaces of the same targets."""
    return CentroidMovement.of_shifts(centroid_shift(X_before, X_after, y, n_labels))


def pca_2d(points) -> tuple[np.ndarray, np.ndarray]:
    """Project points on their first two principal components: (coords [M, 2], evr [2]).

    Rows with non-finite values (absent labels) are left out of the fit and come back NaN.
    Component signs are fixed (largest-magnitude loading positive) so plots are reproducible.
    Missing components (M or D < 2) are zero; evr is NaN when the points have no variance.
    """
    P = np.asarray(points, dtype=np.float64)
    if P.ndim != 2:
        raise ValueError("points must be 2-D [M, D]")
    coords = np.full((P.shape[0], 2), np.nan)
    evr = np.full(2, np.nan)
    ok = np.isfinite(P).all(axis=1)
    Q = P[ok]
    if Q.shape[0] == 0:
        return coords, evr
    Qc = Q - Q.mean(axis=0)
    _, s, vt = np.linalg.svd(Qc, full_matrices=False)
    k = min(2, vt.shape[0])
    comps = np.zeros((2, P.shape[1]))
    comps[:k] = vt[:k]
    for i in range(k):
        j = np.argmax(np.abs(comps[i]))
        if comps[i, j] < 0:
            comps[i] = -comps[i]
    coords[ok] = Qc @ comps.T
    total = float((s**2).sum())
    if total > 0:
        var = np.zeros(2)
        var[:k] = s[:k] ** 2
        evr = var / total
    return coords, evr


def centroid_paths_pca(centroids_over_time, labels, return_evr: bool = False):
    """2-D paths of selected labels' centroids across checkpoints, [S, len(labels), 2].

    One PCA is fitted on all selected centroids of all steps, so every step shares the same
    axes and the paths are comparable (a per-step PCA would rotate freely between steps).
    """
    C = np.asarray(centroids_over_time, dtype=np.float64)
    if C.ndim != 3:
        raise ValueError("centroids_over_time must be [S, K, D]")
    labels = [int(v) for v in labels]
    if any(v < 0 or v >= C.shape[1] for v in labels):
        raise ValueError(f"labels must lie in [0, {C.shape[1]})")
    sel = C[:, labels, :]
    s, m, d = sel.shape
    coords, evr = pca_2d(sel.reshape(s * m, d))
    coords = coords.reshape(s, m, 2)
    return (coords, evr) if return_evr else coords


def shift_pca(shifts) -> tuple[np.ndarray, np.ndarray]:
    """PCA of per-label centroid-difference vectors [K, D] -> (coords [K, 2], evr [2]).

    Labels shifted in similar directions land together; absent labels (NaN rows) stay NaN.
    """
    return pca_2d(shifts)
