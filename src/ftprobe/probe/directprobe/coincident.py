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


def vector_ids(X: np.ndarray) -> np.ndarray:
    """Per row, the number of its distinct vector: equal rows get equal numbers (-0.0 and 0.0
    are one value, as ``np.unique`` compares them)."""
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
