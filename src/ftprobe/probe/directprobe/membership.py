"""Which rows each current cluster holds."""

from __future__ import annotations

import numpy as np

from ftprobe.probe.directprobe.state import ragged


class Membership:
    """The rows of every current cluster, by cluster id (its representative, smallest row).

    May assume: ids are current clusters' representatives; :meth:`merge` is called with two
    current clusters of one label. Guarantees: a cluster never merged is its own row alone
    (not stored); a merged one's rows are its parts' rows in the order :meth:`merge` was
    given them (the order of its points, which the checks index: the same in every run).
    Pieces are joined lazily on first read, so a merge costs no copy.
    """

    def __init__(self, X: np.ndarray):
        self.X = X  # the scaled points
        self.members: dict[int, list[np.ndarray]] = {}  # merged clusters only: row pieces

    def rows(self, cid: int) -> np.ndarray:
        """Rows of cluster ``cid``."""
        m = self.members.get(cid)
        if m is None:
            return np.array([cid])
        if len(m) > 1:
            m[:] = [np.concatenate(m)]
        return m[0]

    def points(self, cid: int) -> np.ndarray:
        """Points of cluster ``cid`` (in the order of :meth:`rows`)."""
        m = self.members.get(cid)
        if m is None:
            return self.X[cid : cid + 1]
        return self.X[self.rows(cid)]

    def union_rows(self, a: int, b: int) -> np.ndarray:
        """Rows of the union of clusters a and b, a's first (the order of its points)."""
        return np.concatenate([self.rows(a), self.rows(b)])

    def merge(self, a: int, b: int, keep_id: int) -> None:
        """Clusters a and b are now one, ``keep_id`` (the smaller of the two)."""
        ma = self.members.pop(a, None) or [np.array([a])]
        mb = self.members.pop(b, None) or [np.array([b])]
        self.members[keep_id] = ma + mb

    def state_arrays(self) -> dict[str, np.ndarray]:
        arr = {}
        arr["members.k"], arr["members.off"], arr["members.v"] = ragged(
            {k: np.concatenate(m) for k, m in self.members.items()})
        return arr

    def load_state(self, z) -> None:
        k, off, v = z["members.k"], z["members.off"], z["members.v"]
        self.members = {int(k[i]): [v[off[i] : off[i + 1]]] for i in range(len(k))}
