"""One label's current clusters in the merge engine, as slots of plain arrays."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

NO_SLOT = np.iinfo(np.int64).max  # a cache's K-th entry when the cache is complete


@dataclass(eq=False)
class UnionShape:
    """The geometry of the union of two slots, before it is checked: centroid, its PCA
    projection, sphere radii (bounds unless ``exact``; the check may make them exact) and
    slab ranges; ``moves``: how far each part's centroid moves to the union's."""

    cent: np.ndarray
    pc: np.ndarray
    rad: float
    prad: float
    exact: bool
    lo: np.ndarray
    hi: np.ndarray
    moves: tuple[float, float]


@dataclass(eq=False)
class LabelSlots:
    """The clusters of one label, one slot each (arrays indexed by slot), and their caches.

    Assumes: slot order is row order (a slot's ``rows`` entry is its cluster's representative,
    the smallest row), which the merge order's tie rule compares; a merge keeps the slot of
    the smaller representative and kills the other. Guarantees: :meth:`compact` keeps that
    order, so no decision depends on when slots are compacted. Cluster geometry (centroid,
    spheres, slab ranges) is exact or a valid bound for every live slot.
    """

    rows: np.ndarray  # int64 [S]: representative row of each slot's cluster
    cent: np.ndarray  # float64 [S, D]: centroids
    c32: np.ndarray  # float32 [S, D]: the centroids rounded, for screening only
    count: np.ndarray  # float64 [S]: points per cluster
    sq: np.ndarray  # float64 [S]: squared norm of each centroid
    pc: np.ndarray  # float64 [S, P]: centroids on the PCA axes
    # Per cluster, min and max projection on each slab direction (exact, merged by min/max);
    # [directions, slots], so one direction is one contiguous row.
    lo: np.ndarray
    hi: np.ndarray
    prad: np.ndarray  # float64 [S]: sphere radius in the PCA projection (a bound unless exact)
    rad: np.ndarray  # float64 [S]: sphere radius (a bound unless exact)
    exact: np.ndarray  # bool [S]: the radii are exact
    alive: np.ndarray  # bool [S]: a current cluster (frozen ones included)
    cand: np.ndarray  # bool [S]: may still take part in a merge
    nn: np.ndarray  # int64 [S]: slot of the nearest candidate partner (-1: none)
    nnd: np.ndarray  # float64 [S]: its exact squared centroid distance (lazy: a lower bound)
    # bool [S]: the partner is not known, ``nnd`` only bounds the nearest valid partner's
    # distance from below (the slot's partner merged; see merge_order.NextPair)
    lazy: np.ndarray
    # Nearest-partner caches (see the merge order's lookups): label time of each slot's last
    # centroid change, and per slot its K nearest valid partners at its last full search
    # (time kt; -1: none), with the K-th entry's (distance, slot) (inf, NO_SLOT: complete).
    chg: np.ndarray
    kslot: np.ndarray
    kd: np.ndarray
    kt: np.ndarray
    kthd: np.ndarray
    kths: np.ndarray
    clock: int = 0  # label time: merges of this label so far

    @classmethod
    def singletons(cls, X: np.ndarray, rows: np.ndarray, frozen: np.ndarray, proj: np.ndarray,
                   slab_dirs: np.ndarray, nn_cache: int, weight: np.ndarray | None = None) -> LabelSlots:
        """One slot per row of ``rows`` (sorted), before any merge; ``frozen`` rows (shared
        with another label) are never candidates; ``weight``: points each row stands for
        (identical points folded into one, see ``identical``; default 1)."""
        rows = np.sort(rows)
        n = len(rows)
        C = X[rows].copy()
        return cls(
            rows=rows, cent=C, c32=C.astype(np.float32),
            count=np.ones(n) if weight is None else np.asarray(weight, np.float64)[rows],
            sq=np.einsum("ij,ij->i", C, C), pc=C @ proj,
            lo=(C @ slab_dirs).T.copy(), hi=(C @ slab_dirs).T.copy(),
            prad=np.zeros(n), rad=np.zeros(n), exact=np.ones(n, bool),
            alive=np.ones(n, bool), cand=~frozen[rows],
            nn=np.full(n, -1, np.int64), nnd=np.full(n, np.inf), lazy=np.zeros(n, bool),
            chg=np.zeros(n, np.int64), kslot=np.full((n, nn_cache), -1, np.int64),
            kd=np.full((n, nn_cache), np.inf), kt=np.full(n, -1, np.int64),
            kthd=np.full(n, np.inf), kths=np.full(n, NO_SLOT, np.int64),
        )

    def union_shape(self, s: int, t: int, proj: np.ndarray) -> UnionShape:
        """The union of slots s and t: exact centroid and slab ranges, sphere bounds (exact
        for two points)."""
        na, nb = self.count[s], self.count[t]
        cU = (na * self.cent[s] + nb * self.cent[t]) / (na + nb)
        pcU = cU @ proj
        ds, dt = (float(np.linalg.norm(cU - self.cent[x])) for x in (s, t))
        radU = max(self.rad[s] + ds, self.rad[t] + dt)
        pradU = max(self.prad[s] + np.linalg.norm(pcU - self.pc[s]),
                    self.prad[t] + np.linalg.norm(pcU - self.pc[t]))
        exactU = False
        if na + nb <= 2:
            # Two points: exact radius is half their distance.
            radU = float(np.linalg.norm(self.cent[s] - self.cent[t])) * 0.5
            pradU = float(np.linalg.norm(self.pc[s] - self.pc[t])) * 0.5
            exactU = True
        loU = np.minimum(self.lo[:, s], self.lo[:, t])
        hiU = np.maximum(self.hi[:, s], self.hi[:, t])
        return UnionShape(cU, pcU, radU, pradU, exactU, loU, hiU, (ds, dt))

    def merge(self, keep_s: int, drop_s: int, u: UnionShape) -> None:
        """Slot ``keep_s`` becomes the union ``u``; ``drop_s`` dies; the label's clock ticks
        and both slots count as changed now (for the caches)."""
        self.cent[keep_s] = u.cent
        self.c32[keep_s] = u.cent
        self.sq[keep_s] = float(u.cent @ u.cent)
        self.pc[keep_s] = u.pc
        self.lo[:, keep_s] = u.lo
        self.hi[:, keep_s] = u.hi
        self.count[keep_s] = self.count[keep_s] + self.count[drop_s]
        self.rad[keep_s] = u.rad
        self.prad[keep_s] = u.prad
        self.exact[keep_s] = u.exact
        self.alive[drop_s] = False
        self.cand[drop_s] = False
        self.clock += 1
        self.chg[keep_s] = self.chg[drop_s] = self.clock

    def compact(self) -> None:
        """Drop the dead slots, renumbering the live ones in the same (row) order; partners
        and cache entries follow their slots, dead ones become -1."""
        live = self.alive
        n, n_live = len(live), int(live.sum())
        new = np.full(n, -1, np.int64)
        new[live] = np.arange(n_live)
        before = np.cumsum(live) - live  # live slots before each slot: its place in the order
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name in ("lo", "hi"):
                setattr(self, f.name, v[:, live].copy())
            elif isinstance(v, np.ndarray):
                setattr(self, f.name, v[live].copy())
        has = self.nn >= 0
        self.nn[has] = new[self.nn[has]]
        ks = self.kslot
        has = ks >= 0
        ks[has] = new[ks[has]]  # dead partners become -1 (they were invalid already)
        # A dead K-th entry keeps its place in the slot order (ties compare slots): it maps to
        # the number of live slots before it, which is n_live past the last one (so a later
        # compaction maps position n to the new n_live). -1 (a bound below every slot, from
        # the union's cache search) and NO_SLOT (complete) stay as they are.
        kths = self.kths
        has = (kths != NO_SLOT) & (kths >= 0)
        kths[has] = np.append(before, n_live)[kths[has]]

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Every field as a plain array named ``prefix + field`` (for a saved state)."""
        return {prefix + f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_arrays(cls, z, prefix: str) -> LabelSlots:
        """The slots :meth:`arrays` wrote (``z``: a mapping such as an opened ``.npz``)."""
        values = {f.name: z[prefix + f.name] for f in fields(cls) if f.name != "lazy"}
        # A state written before lazy partners has none: every partner exact. Every other
        # field must be there.
        lazy = prefix + "lazy"
        values["lazy"] = z[lazy] if lazy in z else np.zeros(len(values["rows"]), bool)
        values["clock"] = int(values["clock"])
        return cls(**values)
