"""What one fit of a series proved, offered to the next fit as candidate certificates.

A study fits DirectProbe to the same rows and labels again and again: at every checkpoint of a
fine-tuning run, at neighbouring layers. The spaces change little from one state to the next,
so most decisions of the next fit can be proved with what the last one found:

- a separating direction of a label pair, or of a pair of its final clusters, still separates
  the same rows if their points moved less than its margin;
- rows whose hulls met (the two sides of a common pair) are where the same labels most
  likely meet again.

A ``SeriesPrior`` holds only those candidates, never a verdict: every plane is verified on all
points of the two sides it is used for (margin > tol, the engine's own test), every overlap by
an explicit common pair within tol (``overlap.common_pair``). A candidate that fails is
ignored and the check runs as in a fresh fit, so a fit with a prior gives exactly the
partition of a fit without one (tested with priors from other spaces, where most fail).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ftprobe.probe.directprobe.overlap import common_pair

Pair = tuple[int, int]


@dataclass(frozen=True)
class SeriesPrior:
    """Candidates from one fit of ``n_rows`` rows with labels ``y`` (a fit of other rows or
    labels refuses it). Directions are unit normals in the fitted space, oriented with the
    pair's first member on the high side; rows are global row indices."""

    n_rows: int
    labels_key: bytes  # y's bytes: a prior is only for the same rows and labels
    label_planes: dict[Pair, np.ndarray] = field(default_factory=dict)  # (a, b), a < b
    label_witness: dict[Pair, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    cluster_of: np.ndarray | None = None  # row -> final cluster of the fit
    cluster_planes: dict[Pair, np.ndarray] = field(default_factory=dict)  # final clusters, ci < cj
    # (final cluster of the union side, final cluster of the other side) -> common pairs' rows
    cluster_witness: dict[Pair, list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)

    def __repr__(self) -> str:
        n_w = sum(len(v) for v in self.cluster_witness.values())
        return (f"SeriesPrior({self.n_rows} rows, {len(self.label_planes)} label planes, "
                f"{len(self.cluster_planes)} cluster planes, {len(self.label_witness) + n_w} overlaps)")

    def check_fits(self, y: np.ndarray) -> None:
        if len(y) != self.n_rows or label_key(y) != self.labels_key:
            raise ValueError("prior: made by a fit of other rows or labels (a series fits the same "
                             "rows, with the same labels, at every state)")


def label_key(y: np.ndarray) -> bytes:
    return np.asarray(y, np.int64).tobytes()


class PriorRecorder:
    """Collects what a fit proves, for the prior of the next state (see ``SeriesPrior``)."""

    def __init__(self):
        self.label_planes: dict[Pair, np.ndarray] = {}
        self.label_witness: dict[Pair, tuple[np.ndarray, np.ndarray]] = {}
        self.overlaps: list[tuple[np.ndarray, np.ndarray]] = []  # (union side rows, other side rows)
        # planes found between clusters: (row of one side, row of the other side, unit normal
        # with the first on the high side), in the order found
        self.planes: list[tuple[int, int, np.ndarray]] = []
        self.cluster_of: np.ndarray | None = None  # set at the end of the fit: row -> final cluster

    def label_plane(self, a: int, b: int, w: np.ndarray) -> None:
        w = np.asarray(w, np.float64)
        w = w / np.linalg.norm(w)
        self.label_planes[(a, b) if a < b else (b, a)] = w if a < b else -w

    def plane(self, a: int, b: int, cj: int, w: np.ndarray) -> None:
        """A plane separated the union of clusters a and b (their ids: rows) from cluster cj."""
        w = np.asarray(w, np.float64)
        self.planes.append((a, cj, w))
        self.planes.append((b, cj, w))

    def overlap(self, urows: np.ndarray, crows: np.ndarray) -> None:
        self.overlaps.append((np.asarray(urows, np.int64), np.asarray(crows, np.int64)))

    def finish(self, y: np.ndarray) -> SeriesPrior:
        """The prior of the finished fit of labels ``y``."""
        labels = self.cluster_of
        witness: dict[Pair, list] = {}
        planes: dict[Pair, np.ndarray] = {}
        if labels is not None:
            for u, c in self.overlaps:
                cc = int(labels[c[0]])
                for cu in np.unique(labels[u]).tolist():
                    witness.setdefault((cu, cc), []).append((u, c))
            # the last plane of each pair of final clusters (found between their biggest parts)
            for r, rc, w in self.planes:
                ia, ib = int(labels[r]), int(labels[rc])
                planes[(ia, ib) if ia < ib else (ib, ia)] = w if ia < ib else -w
        return SeriesPrior(len(y), label_key(y), dict(self.label_planes), dict(self.label_witness),
                           labels, planes, witness)


class PriorIndex:
    """A prior as the next fit consults it: plane and overlap candidates for a check of a union
    (rows ``urows``) against another label's cluster (rows ``crows``), verified on their points."""

    def __init__(self, prior: SeriesPrior, tol: float, probe_points: int, stats):
        self.prior = prior
        self.tol = tol
        self.probe_points = probe_points
        self.stats = stats

    def label_plane(self, a: int, b: int) -> np.ndarray | None:
        """The direction that separated labels a and b (a on the high side), if any (the caller
        verifies it and counts it with ``used``)."""
        w = self.prior.label_planes.get((a, b) if a < b else (b, a))
        return None if w is None else (w if a < b else -w)

    def used(self, ok: bool, what: str = "prior_plane") -> None:
        """Count a candidate that proved its check (``what``), or one that did not."""
        if ok:
            setattr(self.stats, what, getattr(self.stats, what) + 1)
        else:
            self.stats.prior_rejected += 1

    def label_witness(self, a: int, b: int, rows_a: np.ndarray, rows_b: np.ndarray, Pa, Pb):
        """Do labels a and b (rows ``rows_a``, ``rows_b``; points ``Pa``, ``Pb``) meet where they
        met before? The rows (of a, of b) of a common pair within tol, or None."""
        wit = self.prior.label_witness.get((a, b) if a < b else (b, a))
        if wit is None:
            return None
        wa, wb = wit if a < b else wit[::-1]
        found = common_pair(Pa, Pb, np.flatnonzero(np.isin(rows_a, wa)), np.flatnonzero(np.isin(rows_b, wb)),
                            self.tol, self.probe_points)
        self.used(found is not None, "prior_overlap")
        return None if found is None else (rows_a[found[2]], rows_b[found[3]])

    def plane(self, U: np.ndarray, C: np.ndarray, urows: np.ndarray, crows: np.ndarray):
        """A verified plane (w, lo, hi) with the union on the high side, or None."""
        co = self.prior.cluster_of
        if co is None:
            return None
        cu, cc = np.unique(co[urows]), np.unique(co[crows])
        if len(cu) != 1 or len(cc) != 1:
            return None
        a, b = int(cu[0]), int(cc[0])
        w = self.prior.cluster_planes.get((a, b) if a < b else (b, a))
        if w is None:
            return None
        if a > b:
            w = -w
        lo, hi = float((U @ w).min()), float((C @ w).max())
        self.used(lo - hi > self.tol)
        return (w, lo, hi) if lo - hi > self.tol else None

    def overlap(self, U: np.ndarray, C: np.ndarray, urows: np.ndarray, crows: np.ndarray):
        """Rows (of U, of C) of a common pair within tol found among the rows that met before
        between these rows' final clusters of the prior's fit, or None."""
        co = self.prior.cluster_of
        if co is None or not self.prior.cluster_witness:
            return None
        found_u, found_c = [], []
        for cu in np.unique(co[urows]).tolist():
            for cc in np.unique(co[crows]).tolist():
                for u, c in self.prior.cluster_witness.get((cu, cc), ()):
                    found_u.append(u)
                    found_c.append(c)
        if not found_u:
            return None
        su = np.flatnonzero(np.isin(urows, np.concatenate(found_u)))
        sc = np.flatnonzero(np.isin(crows, np.concatenate(found_c)))
        if len(su) == 0 or len(sc) == 0:
            return None
        found = common_pair(U, C, su, sc, self.tol, self.probe_points)
        self.used(found is not None, "prior_overlap")
        return None if found is None else (urows[found[2]], crows[found[3]])
