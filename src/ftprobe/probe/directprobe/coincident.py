"""Points that no representation of their space can separate: identical vectors, different labels.

A contextless layer (the embedding layer of a token task, or a sentence's first token, which
is the same [CLS] embedding for every sentence) gives the same vector to every occurrence of
a word at a position, whatever its label. Two such points lie in both labels' hulls, so the
space can never be linear and its DirectProbe cluster count measures how ambiguous identical
inputs are, not how the geometry is arranged; no fine-tuning can change that. Such points stay
clusters of their own, so ``Coincidence.min_clusters`` is the count's floor (reached exactly by
PS-role's layer 0 in the paper-scale run: 3,522 such points + 42 labels = 3,564 clusters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Coincidence", "coincident_labels", "vector_ids"]


@dataclass(frozen=True)
class Coincidence:
    """How many points share their exact vector with a point of another label."""

    n_points: int
    n_distinct: int  # distinct vectors
    n_conflicting: int  # points whose vector also carries another label
    n_labels_free: int  # labels with at least one point whose vector carries no other label

    @property
    def share_conflicting(self) -> float:
        return self.n_conflicting / self.n_points if self.n_points else 0.0

    @property
    def min_clusters(self) -> int:
        """A floor under DirectProbe's cluster count: a point whose vector carries another
        label can merge with nothing (any hull holding it meets the other label's point), and
        every label with another point needs a cluster more. Reached when nothing else forces
        more (no other point's hull holds such a point), as at a contextless layer."""
        return self.n_conflicting + self.n_labels_free


# values (rows x dims) hashed or compared at a time: each temporary is 512 KiB
_HASH_ELEMENTS = 1 << 16


def vector_ids(X: np.ndarray) -> np.ndarray:
    """Per row, the number (0, 1, ...) of its distinct vector: equal rows get equal numbers
    (-0.0 and 0.0 are one value, as ``==`` compares them).

    ``np.unique(X, axis=0)`` gives the same grouping but sorts copies of the whole matrix (two
    or three of them at once: ~150 MB for 16,857 x 384 doubles, the peak of a fit). Here each
    row's bits are hashed a block of rows at a time, rows are grouped by hash, and every row is
    compared with its group's first row: a hash collision (never seen; it would need two
    distinct rows with equal 64-bit hashes) falls back to ``np.unique``."""
    X = np.asarray(X)
    n = len(X)
    if n == 0:
        return np.zeros(0, np.int64)
    if X.dtype.kind not in "fiu" or X.ndim != 2:
        return _sorted_ids(X)
    X = np.ascontiguousarray(X)
    bits = np.dtype(f"u{X.dtype.itemsize}")
    mult = np.random.default_rng(0x5EED).integers(1, 2**63, X.shape[1], dtype=np.uint64) | np.uint64(1)
    step = max(1, _HASH_ELEMENTS // max(X.shape[1], 1))
    h = np.empty(n, np.uint64)
    for r in range(0, n, step):
        block = X[r : r + step]
        if X.dtype.kind == "f":
            block = block + X.dtype.type(0)  # -0.0 + 0.0 is 0.0: one value, one hash
        code = block.view(bits).astype(np.uint64)
        h[r : r + step] = np.multiply(code, mult, out=code).sum(1)  # mod 2^64
    _, first, ids = np.unique(h, return_index=True, return_inverse=True)
    ids = ids.ravel().astype(np.int64)
    for r in range(0, n, step):
        if not (X[r : r + step] == X[first[ids[r : r + step]]]).all():
            return _sorted_ids(X)
    return ids


def _sorted_ids(X: np.ndarray) -> np.ndarray:
    """``vector_ids`` by sorting rows (``np.unique``): any dtype and shape, more memory."""
    return np.unique(X, axis=0, return_inverse=True)[1].ravel().astype(np.int64)


def coincident_labels(X: np.ndarray, y: np.ndarray) -> Coincidence:
    """Group the rows of ``X`` by exact equality (``vector_ids``) and count the points in groups
    that carry more than one label of ``y``."""
    X = np.ascontiguousarray(np.asarray(X))
    y = np.asarray(y).ravel()
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"X must be (n, d) with one label per row; got X {X.shape}, y {y.shape}")
    if not len(X):
        return Coincidence(0, 0, 0, 0)
    group = vector_ids(X)
    _, label = np.unique(y, return_inverse=True)
    n_labels = int(label.max()) + 1
    pairs = np.unique(group.astype(np.int64) * n_labels + label)  # distinct (vector, label)
    labels_per_group = np.bincount(pairs // n_labels, minlength=group.max() + 1)
    conflicting = labels_per_group[group] > 1
    free = len(np.unique(label[~conflicting]))
    return Coincidence(len(X), int(group.max()) + 1, int(conflicting.sum()), int(free))
