"""Measures on a DirectProbe clustering: exact hull distances, label-pair distances, spread."""

from __future__ import annotations

import numpy as np

from ftprobe.probe.directprobe.hull import ZERO_REL, nearest_points


def cluster_hull_distance(P: np.ndarray, Q: np.ndarray, rtol: float = 1e-9) -> float:
    """Exact Euclidean distance between conv(P) and conv(Q), certified to ``rtol``.

    Hulls that meet (distance below ZERO_REL of the data scale) give exactly 0.
    """
    r = nearest_points(P, Q, rtol=rtol)
    scale = max(float(np.abs(P).max()), float(np.abs(Q).max()), 1e-300)
    if r.distance <= ZERO_REL * scale:
        return 0.0
    if not r.converged and r.distance - r.lower > 1e-6 * r.distance:
        raise RuntimeError(f"hull distance not certified: [{r.lower:.6g}, {r.distance:.6g}]")
    return r.distance


def label_distance_matrix(cdist: np.ndarray, cluster_label: np.ndarray, keep: np.ndarray,
                          n_labels: int) -> np.ndarray:
    """Mean over cluster pairs (kept clusters only) of each label pair; NaN where none is kept."""
    out = np.full((n_labels, n_labels), np.nan)
    np.fill_diagonal(out, 0.0)
    for a in range(n_labels):
        ia = np.flatnonzero((cluster_label == a) & keep)
        for b in range(a + 1, n_labels):
            ib = np.flatnonzero((cluster_label == b) & keep)
            if len(ia) and len(ib):
                out[a, b] = out[b, a] = float(cdist[np.ix_(ia, ib)].mean())
    return out


def upper_triangle(M: np.ndarray) -> np.ndarray:
    """The n(n-1)/2 entries M[i, j], i < j, in row-major order."""
    i, j = np.triu_indices(len(M), k=1)
    return M[i, j]


def spread(X: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Within-cluster spread: mean Euclidean distance of a cluster's points to its centroid."""
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    sums = np.zeros((n_clusters, X.shape[1]))
    np.add.at(sums, labels, X)
    cent = sums / np.maximum(counts, 1)[:, None]
    d = np.linalg.norm(X - cent[labels], axis=1)
    return np.bincount(labels, weights=d, minlength=n_clusters) / np.maximum(counts, 1)
