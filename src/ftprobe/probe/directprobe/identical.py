"""Identical points of one label, folded into one weighted point before the merge phase.

A contextless layer repeats vectors: the embedding layer gives every occurrence of a word at
the same position the same vector (PUD POS train, MiniLM layer 0: 16,857 words, 9,915
distinct vectors). By the definition the copies of a vector of one label merge first: their
centroid distance is 0, below every other pair's, and their union is the point itself, whose
hull is disjoint from every other label's point unless one lies within ``tol`` of it. So the
merge phase can start from one point per such group, weighted by its copies (the centroid of
a union is the weighted mean), and give every copy its group's cluster at the end: the same
decisions on fewer points, since every check and every LP reads the hulls' points.

Groups are not folded where the definition keeps the copies apart:

- a vector that also carries another label (``clustering.find_frozen``): every copy stays a
  singleton;
- a vector within a few ``tol`` of a point of another label: the copies' union would meet it.

A series prior (rows of the full set) is translated to the folded rows, and what the folded
fit proves is recorded back in rows of the full set, so a series folds at every state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ftprobe.probe.directprobe.coincident import vector_ids
from ftprobe.probe.directprobe.prior import PriorRecorder, SeriesPrior, label_key

__all__ = ["FoldedPoints", "fold_identical"]

NEAR = 4.0  # a group is kept apart if a point of another label lies within NEAR x tol


@dataclass(frozen=True)
class FoldedPoints:
    """The rows a folded fit keeps and what each stands for.

    ``kept``: rows of the full set the fit keeps, ascending (the first row of each folded group
    and every other row), so the representative order, which breaks ties, is the full set's;
    ``index``: for every row of the full set, the position of its kept row; ``weight``: the
    points each kept row stands for."""

    kept: np.ndarray
    index: np.ndarray
    weight: np.ndarray

    @property
    def n_folded(self) -> int:
        """Rows of the full set that are not kept (folded into another copy)."""
        return len(self.index) - len(self.kept)

    def expand(self, labels: np.ndarray) -> np.ndarray:
        """Per-row values of the folded fit -> per-row values of the full set."""
        return np.asarray(labels)[self.index]

    def prior(self, prior: SeriesPrior, y_kept: np.ndarray) -> SeriesPrior:
        """A full-set prior in the folded rows (planes are geometric and stay as they are)."""
        def rows(r):
            return np.unique(self.index[np.asarray(r, np.int64)])

        witness = {pair: (rows(a), rows(b)) for pair, (a, b) in prior.label_witness.items()}
        cluster_of = None if prior.cluster_of is None else np.asarray(prior.cluster_of)[self.kept]
        cluster_witness = {pair: [(rows(u), rows(c)) for u, c in found]
                           for pair, found in prior.cluster_witness.items()}
        return SeriesPrior(len(self.kept), label_key(y_kept), dict(prior.label_planes), witness,
                           cluster_of, dict(prior.cluster_planes), cluster_witness)

    def record_into(self, folded: PriorRecorder, full: PriorRecorder) -> None:
        """What the folded fit proved (``folded``, rows of the folded set), in full-set rows."""
        kept = self.kept
        for pair, w in folded.label_planes.items():
            full.label_planes[pair] = w
        for pair, (a, b) in folded.label_witness.items():
            full.label_witness[pair] = (kept[np.asarray(a, np.int64)], kept[np.asarray(b, np.int64)])
        full.overlaps.extend((kept[u], kept[c]) for u, c in folded.overlaps)
        full.planes.extend((int(kept[r]), int(kept[rc]), w) for r, rc, w in folded.planes)


def fold_identical(Xs: np.ndarray, y: np.ndarray, frozen: np.ndarray, tol: float,
                   vec: np.ndarray | None = None) -> FoldedPoints | None:
    """The folding of ``Xs`` (scaled, ``tol`` in its units), or None when no group folds.

    ``frozen``: rows whose vector also carries another label (never folded); ``vec``: the
    number of each row's distinct vector (``coincident.vector_ids``), if already computed."""
    n = len(Xs)
    if n < 2:
        return None
    vec = vector_ids(Xs) if vec is None else np.asarray(vec, np.int64)
    n_labels = int(y.max()) + 1
    _, first, group, copies = np.unique(vec * n_labels + y, return_index=True, return_inverse=True,
                                        return_counts=True)
    group = group.ravel()
    fold = (copies > 1) & ~frozen[first]
    if not fold.any():
        return None
    fold &= ~_near_other_label(Xs, y, first[fold], fold, NEAR * tol)
    if not fold.any():
        return None
    rep = np.where(fold[group], first[group], np.arange(n))
    kept = np.unique(rep)
    index = np.searchsorted(kept, rep)
    return FoldedPoints(kept, index, np.bincount(index, minlength=len(kept)).astype(np.float64))


def _near_other_label(Xs, y, rows, fold, radius) -> np.ndarray:
    """Per folded group (in the order of ``fold``'s true entries): does a point of another label
    lie within ``radius`` of its vector? Radius queries in a k-d tree (tiny radii prune to a
    few leaves even in hundreds of dimensions)."""
    from scipy.spatial import cKDTree

    near = np.zeros(len(fold), bool)
    if radius <= 0:
        return near
    pairs = cKDTree(Xs[rows]).sparse_distance_matrix(cKDTree(Xs), radius, output_type="ndarray")
    hit = pairs["i"][y[rows[pairs["i"]]] != y[pairs["j"]]]
    groups = np.flatnonzero(fold)
    near[groups[np.unique(hit)]] = True
    return near
