"""The merge order: every candidate's exact nearest partner, and the next pair among them.

The definition merges, at each step, the same-label pair of current clusters whose centroids
are nearest, ties to the smaller representatives (docs/directprobe.md, "The merge order").
Recomputing every distance after each merge is quadratic; the parts here keep the order exact
while computing few distances: lower bounds decide which exact distances are needed
(:class:`Distances`), each slot caches its nearest partners (:class:`NearestPartners`), the
pairs rejected for good are never candidates again (:class:`Rejections`), and the smallest of
the slots' pairs with their nearest partners is the next one (:class:`NextPair`).
"""

from __future__ import annotations

import numpy as np

from ftprobe.probe.directprobe.counters import ClusterStats
from ftprobe.probe.directprobe.slots import NO_SLOT, LabelSlots
from ftprobe.probe.directprobe.tuning import Tuning

# Not tuning (tuning.Tuning holds that): a margin that keeps lower bounds of centroid distances
# below the exact values whatever their rounding.
BAND = 1e-9  # relative margin over the rounding error of lower bounds of centroid distances


class Distances:
    """Exact squared centroid distances, and lower bounds of them.

    May assume: ``proj`` has orthonormal columns up to rounding (checked: ``lb_ok``).
    Guarantees: :meth:`exact` is the same number for a pair whatever the batch it is computed
    in (one row-wise einsum), so ties compare equal; every bound (:meth:`norm_bound`, projected
    distances when ``lb_ok``) is at most the exact value plus ``BAND * (sq_s + sq_p)``.
    """

    def __init__(self, proj: np.ndarray, dim: int, stats: ClusterStats):
        self.stats = stats
        # Projected distances bound centroid distances from below only if proj is orthonormal:
        # ||P'x||^2 <= (1 + k max|P'P - I|) ||x||^2, and BAND covers a defect up to 1e-12.
        k = proj.shape[1]
        self.lb_ok = bool(k * np.abs(proj.T @ proj - np.eye(k)).max() <= 1e-12)
        # Norm expansions are screened in float32 (half the memory traffic of the float64 pass).
        # Rounding the centroids to float32 and a float32 dot product of D terms are off by at
        # most ((D + 2) u + O(u^2)) |a||b| <= that * (sq_a + sq_b) / 2 with u = 2^-24, for any
        # summation order; the expansion doubles it. This bound is subtracted from each screen.
        self.f32_rel = (dim + 3) * 2.0**-24

    def exact(self, cent: np.ndarray, idx: np.ndarray, c: np.ndarray) -> np.ndarray:
        """Exact squared distances of the centroids ``cent[idx]`` to ``c``."""
        self.stats.nn_exact += len(idx)
        diff = cent[idx] - c
        return np.einsum("ij,ij->i", diff, diff)

    def norm_bound(self, D: LabelSlots, s: int, idx: np.ndarray | None = None) -> np.ndarray:
        """For every slot p (or the slots ``idx``), a lower bound of e(s, p) up to the float64
        band: the norm expansion over the float32 centroids minus its rounding bound (see
        ``f32_rel``)."""
        sq, c32 = (D.sq, D.c32) if idx is None else (D.sq[idx], D.c32[idx])
        sqs = sq + D.sq[s]
        dot = (c32 @ D.c32[s]).astype(np.float64)
        return (sqs - 2.0 * dot) - self.f32_rel * sqs


class Rejections:
    """Pairs of current clusters (of one label) whose merge was rejected: never candidates
    again. Guarantees: symmetric; a merged cluster inherits its parts' rejections (a
    rejected pair stays rejected as both sides grow, docs/directprobe.md)."""

    def __init__(self):
        self.pairs: dict[int, set[int]] = {}  # cluster id -> ids rejected with it

    def add(self, a: int, b: int) -> None:
        self.pairs.setdefault(a, set()).add(b)
        self.pairs.setdefault(b, set()).add(a)

    def inherit(self, a: int, b: int, keep_id: int) -> int:
        """Clusters a and b merged into ``keep_id``: it holds their rejections; returns how
        many."""
        ra = self.pairs.pop(a, set())
        rb = self.pairs.pop(b, set())
        ru = (ra | rb) - {a, b}
        for r in ru:
            rr = self.pairs[r]
            rr.discard(a)
            rr.discard(b)
            rr.add(keep_id)
        if ru:
            self.pairs[keep_id] = ru
        return len(ru)

    def state_arrays(self) -> dict[str, np.ndarray]:
        return {"rej": np.array([(a, b) for a, bs in self.pairs.items() for b in sorted(bs)],
                                np.int64).reshape(-1, 2)}

    def load_state(self, z) -> None:
        self.pairs = {}
        for a, b in z["rej"].tolist():
            self.pairs.setdefault(a, set()).add(b)


class NextPair:
    """The definition's next pair: over all labels, the candidate slot whose pair with its
    nearest partner is smallest by (squared distance, smaller representative, larger one),
    then (label, slot) (mutual nearest partners meet their pair from both slots).

    Why not a heap of slot entries: when a big cluster merges, every slot that pointed at one
    of its parts needs a new partner, hundreds per merge (a million on PUD POS layer 1 for
    4.5k decisions). A decision changes only its own label's slots, so the label's smallest
    pair is found again by one pass of numpy over its slots; the other labels keep theirs.
    And those slots' new partners are looked up only when needed: such a slot is *lazy*, its
    ``nnd`` a lower bound of its nearest distance (see ``NearestPartners.update_neighbours``),
    and it is looked up (``resolve``) only once that bound is no larger than the label's
    smallest exact pair, i.e. once it might come first. Most are pointed again by the next
    merge of the same big cluster before that.

    May assume: only a decision of the label :meth:`next` returned changes slots, and the
    caller updates the partners of the pair's slots before asking again (a new search, or the
    slot dies); ``resolve(label, slots)`` makes those slots' partners exact. Guarantees:
    :meth:`next` is the smallest pair of the current partners.
    """

    def __init__(self, labels: list[int], resolve):
        self.best: dict[int, tuple | None] = dict.fromkeys(labels)  # (e, lo, hi, label, slot)
        self.stale = set(labels)
        self.resolve = resolve

    def all_stale(self) -> None:
        """Every label's slots changed (the first searches, a loaded state)."""
        self.stale = set(self.best)

    def next(self, slots: dict[int, LabelSlots]) -> tuple[int, int] | None:
        """(label, slot) of the next pair; None when no candidate has a partner. The label
        counts as changed from now on (its decision follows)."""
        for lab in self.stale:
            self.best[lab] = self.label_best(lab, slots[lab])
        keys = [k for k in self.best.values() if k is not None]
        if not keys:
            self.stale = set()
            return None
        _e, _lo, _hi, lab, s = min(keys)
        self.stale = {lab}
        return lab, s

    def label_best(self, lab: int, D: LabelSlots) -> tuple | None:
        """The label's smallest (e, smaller representative, larger one, label, slot), its
        lazy slots that might come first looked up."""
        while True:
            e = np.where(D.cand & ~D.lazy & (D.nn >= 0), D.nnd, np.inf)
            s = int(np.argmin(e)) if len(e) else 0
            first = e[s] if len(e) else np.inf
            pending = np.flatnonzero(D.cand & D.lazy & (D.nnd <= first))
            if len(pending) == 0:
                break
            self.resolve(lab, pending)
        if first == np.inf:
            return None
        ties = np.flatnonzero(e == first)
        if len(ties) > 1:
            a, b = D.rows[ties], D.rows[D.nn[ties]]
            s = int(ties[np.lexsort((ties, np.maximum(a, b), np.minimum(a, b)))[0]])
        a, b = int(D.rows[s]), int(D.rows[D.nn[s]])
        return float(first), min(a, b), max(a, b), lab, s


class PartnerCaches:
    """Writes each slot's nearest partner and cache of nearest partners (fields of
    :class:`LabelSlots`: ``nn``, ``nnd``, ``kslot``, ``kd``, ``kt``, ``kthd``, ``kths``).

    May assume: the distances and slots it is given are exact and valid partners, ordered or
    complete as each method says. Guarantees: a cache holds its slot's first (up to K) valid
    partners by (exact distance, slot) at its label time ``kt``; its K-th entry bounds every
    valid partner outside it (inf, NO_SLOT: none outside); a slot without a partner has
    ``nn`` -1 and ``nnd`` inf.
    """

    def __init__(self, slots: dict[int, LabelSlots], tuning: Tuning):
        self.slots = slots
        self.tuning = tuning

    def set_partner(self, lab: int, s: int, p: int, e: float) -> None:
        """Slot s's nearest partner is now p at exact squared distance e (p < 0: none)."""
        self.set_partners(self.slots[lab], s, p, e)

    @staticmethod
    def set_partners(D: LabelSlots, S: np.ndarray, P: np.ndarray, E: np.ndarray) -> None:
        """:meth:`set_partner` of many slots ``S`` of one label at once."""
        D.nn[S] = np.where(P >= 0, P, -1)
        D.nnd[S] = np.where(P >= 0, E, np.inf)
        D.lazy[S] = False

    def store(self, lab: int, s: int, idx: np.ndarray, e: np.ndarray, n_valid: int) -> None:
        """Set slot s's nearest partner and cache from exact distances ``e`` of slots ``idx``,
        which hold the K first valid partners by (e, slot) (all ``n_valid`` of them if fewer)."""
        D = self.slots[lab]
        K = self.tuning.nn_cache
        D.kt[s] = D.clock
        if len(idx) > 4 * K:
            sub = e <= np.partition(e, K - 1)[K - 1]
            idx, e = idx[sub], e[sub]
        order = np.lexsort((idx, e))[:K]
        k = len(order)
        ks, kd = D.kslot[s], D.kd[s]
        ks[:k], kd[:k] = idx[order], e[order]
        ks[k:], kd[k:] = -1, np.inf
        if n_valid > K:
            D.kthd[s], D.kths[s] = kd[K - 1], ks[K - 1]
        else:
            D.kthd[s], D.kths[s] = np.inf, NO_SLOT
        self.set_partner(lab, s, int(ks[0]), kd[0])  # unfilled entries are (-1, inf)

    def refresh(self, D: LabelSlots, s, ks: np.ndarray, kd: np.ndarray, n_before) -> None:
        """Slot(s) s's cache from now on: ``ks``, ``kd`` are its first (up to K) valid
        partners, by (e, slot), of the ``n_before`` that come before its K-th entry; all other
        valid partners come after the old K-th entry, so after the new one too."""
        K = self.tuning.nn_cache
        k = ks.shape[-1]
        D.kt[s] = D.clock
        D.kslot[s, :k], D.kd[s, :k] = ks, kd
        D.kslot[s, k:], D.kd[s, k:] = -1, np.inf
        full = np.asarray(n_before) >= K
        if np.ndim(s) == 0:
            if full:
                D.kthd[s], D.kths[s] = kd[K - 1], ks[K - 1]
        elif full.any():
            D.kthd[s[full]], D.kths[s[full]] = kd[full, K - 1], ks[full, K - 1]


class NearestPartners:
    """The slots of every label with each candidate's exact nearest partner, kept current
    through merges and rejections, and the next pair among them (``next_pair``).

    May assume: the caller merges or rejects only pairs ``next_pair`` gave, tells every merge
    (:meth:`after_merge`, after the slots were merged) and rejection (:meth:`renn` of both
    slots, after ``rej`` holds the pair). Guarantees: after each of those, every candidate
    slot's ``nn``/``nnd`` is its nearest valid partner by exact (distance, slot), except lazy
    slots (``lazy``), whose ``nnd`` bounds that distance from below (looked up by ``next_pair``
    when they might come first, see :meth:`update_neighbours`); compaction renumbers slots in
    row order (``loc`` follows).

    How: every nearest partner is exact: the partner p of slot s minimises the exact squared
    distance e(s, p) (the sum of squares of the difference of the two centroids, always with
    the same row-wise einsum, which is symmetric and independent of the batch it is computed
    in) over the valid partners (candidates of the label other than s, not rejected with s),
    ties to the smaller slot. Cheaper quantities only bound e from below, with a margin
    ``BAND * (sq_s + sq_p)`` far above their rounding error, to decide which e to compute:
    - the norm expansion sq_s + sq_p - 2 c_s.c_p (a matrix product);
    - the distance of the centroids' projections ``pc`` on the orthonormal PCA basis
      (``proj``): ||P'(c_s - c_p)|| <= ||c_s - c_p||, 16 instead of D dimensions;
    - a slot's cache of its K nearest valid partners (slots and exact e, ordered by (e, slot))
      from its last full search at label time ``kt``: an unchanged slot outside the cache has
      (e, slot) after the cache's K-th entry, and validity of unchanged pairs only ever gets
      lost (rejections grow, candidates die), so the best of the valid unchanged cache
      entries and of the slots changed since ``kt`` (re-measured) is exact whenever it comes
      before the K-th entry (always, if the search found at most K valid partners).
    """

    def __init__(self, X: np.ndarray, rows_by_label: dict[int, np.ndarray], labels: list[int],
                 frozen: np.ndarray, proj: np.ndarray, slab_dirs: np.ndarray, tuning: Tuning,
                 stats: ClusterStats, weight: np.ndarray | None = None):
        self.tuning = tuning
        self.stats = stats
        self.dist = Distances(proj, X.shape[1], stats)
        self.rej = Rejections()
        self.loc = np.full(len(X), -1, np.int64)  # row -> slot within its label
        self.slots: dict[int, LabelSlots] = {}  # label -> its clusters
        self.caches = PartnerCaches(self.slots, tuning)
        self.next_pair = NextPair(labels, self.renn)
        for lab in labels:
            rows = np.sort(rows_by_label[lab])
            self.loc[rows] = np.arange(len(rows))
            self.slots[lab] = LabelSlots.singletons(X, rows, frozen, proj, slab_dirs,
                                                    tuning.nn_cache, weight)

    def after_merge(self, lab: int, s: int, t: int, keep_s: int, moved: list) -> None:
        """Slots s and t merged into ``keep_s`` (``moved``: per part, its slot, how far its
        centroid moved, its last change time, read before the merge): the union's partners,
        those of the slots that pointed at s or t, and of those the union is now nearest to."""
        found = self.union_from_caches(lab, keep_s, moved)
        if found is None:
            found = self.search(lab, keep_s)
        self.update_neighbours(lab, s, t, keep_s, found)


    def valid_partners(self, D: LabelSlots, s: int) -> np.ndarray:
        """Mask of the valid partners of slot s."""
        ok = D.cand.copy()
        ok[s] = False
        rj = self.rej.pairs.get(int(D.rows[s]))
        if rj:
            ok[self.loc[np.fromiter(rj, np.int64, len(rj))]] = False
        return ok

    def renn(self, lab: int, slots) -> None:
        """New nearest partners of ``slots`` (their cache when it decides, else a search)."""
        D = self.slots[lab]
        rows, kt = D.rows, D.kt
        batch, single = [], []
        for s in slots:
            s = int(s)
            (single if kt[s] < 0 or self.rej.pairs.get(int(rows[s])) else batch).append(s)
        if len(batch) > 1:
            single.extend(self._lookup_batch(lab, np.array(batch)))
        else:
            single.extend(batch)
        for s in single:
            if self._lookup(lab, s):
                self.stats.nn_cached += 1
            else:
                self.search(lab, s)

    def _lookup(self, lab: int, s: int) -> bool:
        """Nearest partner of s from its cache and the slots changed since; False if undecided."""
        D = self.slots[lab]
        kt = D.kt[s]
        if kt < 0:
            return False
        cand, chg = D.cand, D.chg
        ks, kd = D.kslot[s], D.kd[s]
        m = ks >= 0
        ks, kd = ks[m], kd[m]
        m = cand[ks] & (chg[ks] <= kt)
        ks, kd = ks[m], kd[m]
        ch = np.flatnonzero(chg > kt)
        ch = ch[cand[ch] & (ch != s)]
        kthd, kths = D.kthd[s], D.kths[s]
        many = len(ch) > max(4 * self.tuning.nn_cache, len(cand) // 32)
        if many and (len(ch) > len(cand) // 4 or kthd == np.inf):
            return False
        rj = self.rej.pairs.get(int(D.rows[s]))
        if rj:
            rs = self.loc[np.fromiter(rj, np.int64, len(rj))]
            m = ~np.isin(ks, rs)
            ks, kd = ks[m], kd[m]
            ch = ch[~np.isin(ch, rs)]
        if many:
            # Too many changed slots to measure them all: screen them with the float32 norm
            # expansion (a lower bound up to the band, see _norm_bound) and measure only those
            # that may come before the K-th entry.
            lb = self.dist.norm_bound(D, s, ch)
            ch = ch[lb <= kthd + BAND * (D.sq[ch] + D.sq[s]) + 1e-300]
            self.stats.nn_screened += 1
        if len(ch):
            ks = np.concatenate([ks, ch])
            kd = np.concatenate([kd, self.dist.exact(D.cent, ch, D.cent[s])])
        m = (kd < kthd) | ((kd == kthd) & (ks < kths))  # before the K-th: exact
        if not m.any() and kthd != np.inf:
            return False
        ks, kd = ks[m], kd[m]
        order = np.lexsort((ks, kd))[: self.tuning.nn_cache]
        self.caches.refresh(D, s, ks[order], kd[order], len(ks))
        if len(order) == 0:
            self.caches.set_partner(lab, s, -1, np.inf)
        else:
            self.caches.set_partner(lab, s, ks[order[0]], kd[order[0]])
        return True

    def _lookup_batch(self, lab: int, S: np.ndarray) -> list:
        """_lookup of several slots at once (slots with a cache and no rejections); returns
        the slots it leaves undecided."""
        D = self.slots[lab]
        K = self.tuning.nn_cache
        cand, chg = D.cand, D.chg
        kt = D.kt[S]
        ks = D.kslot[S]
        ksc = np.where(ks >= 0, ks, 0)
        good = (ks >= 0) & cand[ksc] & (chg[ksc] <= kt[:, None])
        E = np.where(good, D.kd[S], np.inf)
        P = np.where(good, ks, NO_SLOT)
        undecided = np.zeros(len(S), bool)
        ch = np.flatnonzero((chg > kt.min()) & cand)
        if len(ch):
            if len(ch) * len(S) > 4_000_000:
                return S.tolist()
            M = (chg[ch][None, :] > kt[:, None]) & (ch[None, :] != S[:, None])
            undecided = M.sum(1) > max(4 * K, len(cand) // 32)
            M[undecided] = False
            i, j = np.nonzero(M)
            if len(i):
                Ec = np.full(M.shape, np.inf)
                self.stats.nn_exact += len(i)
                diff = D.cent[ch[j]] - D.cent[S[i]]
                Ec[i, j] = np.einsum("ij,ij->i", diff, diff)
                E = np.concatenate([E, Ec], axis=1)
                P = np.concatenate([P, np.where(M, ch[None, :], NO_SLOT)], axis=1)
        kthd, kths = D.kthd[S][:, None], D.kths[S][:, None]
        before = (E < kthd) | ((E == kthd) & (P < kths))  # exact (never true for fillers)
        nb = before.sum(1)
        ok = ~undecided & ((nb > 0) | (kthd[:, 0] == np.inf))
        if not ok.any():
            return S.tolist()
        E, P, nb = np.where(before, E, np.inf)[ok], np.where(before, P, NO_SLOT)[ok], nb[ok]
        order = np.lexsort((P, E), axis=-1)[:, :K]
        E, P = np.take_along_axis(E, order, 1), np.take_along_axis(P, order, 1)
        fill = np.arange(E.shape[1])[None, :] >= nb[:, None]
        P[fill] = -1
        Sok = S[ok]
        self.caches.refresh(D, Sok, P, E, nb)
        self.stats.nn_cached += len(Sok)
        self.caches.set_partners(D, Sok, P[:, 0], E[:, 0])
        return S[~ok].tolist()

    def search(self, lab: int, s: int):
        """Full search of slot s's K nearest valid partners, pruned by lower bounds.

        Returns (valid partner slots, bounds b with e >= b - band, bands, exact distances or
        NaN where not computed), for the caller's own use of the same bounds.
        """
        D = self.slots[lab]
        K = self.tuning.nn_cache
        self.stats.nn_searches += 1
        cent, sq = D.cent, D.sq
        idx = np.flatnonzero(self.valid_partners(D, s))
        nv = len(idx)
        c = cent[s]
        band = BAND * (sq[idx] + sq[s]) + 1e-300
        if nv <= 2 * K:
            e = self.dist.exact(cent, idx, c)
            self.caches.store(lab, s, idx, e, nv)
            return idx, e, band, e
        gemv = not self.dist.lb_ok
        if gemv:
            bnd = self.dist.norm_bound(D, s)[idx]
        else:
            dp = D.pc[idx] - D.pc[s]
            bnd = np.einsum("ij,ij->i", dp, dp)
        e = np.full(nv, np.nan)
        first = np.argpartition(bnd, 2 * K - 1)[: 2 * K]
        e[first] = self.dist.exact(cent, idx[first], c)
        tau = np.partition(e[first], K - 1)[K - 1]
        # Any slot left out has e > tau: after K computed ones.
        need = bnd <= tau + band
        need[first] = False
        if not gemv and np.count_nonzero(need) > max(2 * K, len(sq) // 16):
            # The projection prunes too little here: the norm expansion (one pass) as well.
            approx = self.dist.norm_bound(D, s)[idx]
            bnd = np.maximum(bnd, approx)
            need &= approx <= tau + band
        more = np.flatnonzero(need)
        if len(more):
            e[more] = self.dist.exact(cent, idx[more], c)
        done = ~np.isnan(e)
        self.caches.store(lab, s, idx[done], e[done], nv)
        return idx, bnd, band, e

    def union_from_caches(self, lab: int, u: int, moved: list):
        """The union's search (as :meth:`_search` returns it) without a pass over the label's
        centroids, from the caches of the two merged slots; None where they do not decide.

        The union's centroid lies within ``dx`` of each merged slot x's old one (``moved``), so
        by the triangle inequality, for every slot p: d(U, p) >= d(x, p) - dx. Two uses:
        - forward (the union's own partners), from the side x whose bound is larger: a valid
          partner p that x's cache does not hold and that has not changed since x's search has
          d(x, p) >= sqrt(kthd_x); so only x's cached slots and the slots changed since need an
          exact distance, and those below the bound are the union's first partners, exactly;
        - reverse (slots that may now take the union), from each slot c's own cache: when x has
          not changed since c's search, d(c, x) is c's cached entry, or at least sqrt(kthd_c).
        Each bound is a lower bound of the exact e up to the band, like the screens of _search.
        """
        D = self.slots[lab]
        K = self.tuning.nn_cache
        ok = self.valid_partners(D, u)
        idx = np.flatnonzero(ok)
        nv = len(idx)
        if nv <= 2 * K:
            return None  # a full search is as cheap
        cent, sq, chg = D.cent, D.sq, D.chg
        band = BAND * (sq[idx] + sq[u]) + 1e-300
        bandmax = float(band.max())
        # Forward: the side with the larger bound.
        side = None
        for x, dx, _ in moved:
            if D.kt[x] < 0:
                continue
            lim = np.inf if D.kthd[x] == np.inf else np.sqrt(max(float(D.kthd[x]), 0.0)) - dx
            if lim > 0 and (side is None or lim > side[1]):
                side = (x, lim)
        if side is None:
            return None
        x, lim = side
        ks = D.kslot[x]
        cands = np.union1d(ks[ks >= 0], np.flatnonzero(chg > D.kt[x]))
        cands = cands[ok[cands]]
        if len(cands) > max(4 * K, len(sq) // 32):
            return None
        ec = self.dist.exact(cent, cands, cent[u])
        lim2 = lim * lim - bandmax if lim != np.inf else np.inf
        order = np.lexsort((cands, ec))
        cs, ce = cands[order], ec[order]
        n_before = int(np.count_nonzero(ce < lim2))
        if n_before == 0:
            return None  # no partner provably first: a full search
        # Reverse bounds for every valid partner c, and the forward bound for the others.
        bnd = np.full(nv, lim * lim)
        kt, kslot = D.kt[idx], D.kslot[idx]
        kth_dist = np.sqrt(np.maximum(D.kthd[idx], 0.0))
        for y, dy, chg_y in moved:
            usable = kt >= chg_y  # y unchanged since c's search (kt = -1: no cache)
            if not usable.any():
                continue
            dl = kth_dist.copy()
            r, j = np.nonzero(kslot == y)
            dl[r] = np.sqrt(D.kd[idx[r], j])
            lb = np.maximum(dl - dy, 0.0)
            bnd = np.maximum(bnd, np.where(usable, lb * lb, 0.0))
        e = np.full(nv, np.nan)
        pos = np.searchsorted(idx, cands)
        e[pos] = ec
        bnd[pos] = ec
        if np.count_nonzero((bnd <= D.nnd[idx] + band) & np.isnan(e)) > max(4 * K, len(sq) // 32):
            return None  # too many slots might take the union: the pass is cheaper
        # The union's cache: its first partners by (e, slot); every other valid partner comes
        # after the K-th of them, or has e >= lim2 (the bound itself is then the K-th entry).
        k = min(K, n_before)
        self.caches.refresh(D, u, cs[:k], ce[:k], n_before)  # sets the K-th entry when n_before >= K
        if n_before < K:
            D.kthd[u], D.kths[u] = (np.inf, NO_SLOT) if lim2 == np.inf else (lim2, -1)
        self.caches.set_partner(lab, u, int(cs[0]), ce[0])
        self.stats.nn_union_cached += 1
        return idx, bnd, band, e

    def search_batch(self, lab: int, slots: np.ndarray) -> None:
        """Full searches of many slots: one matrix product per block for the norm expansion."""
        D = self.slots[lab]
        K = self.tuning.nn_cache
        if len(slots) == 0:
            return
        ok = D.cand
        cent, sq = D.cent, D.sq
        n = len(sq)
        if not ok.any():
            for s in slots.tolist():
                self.caches.store(lab, s, slots[:0], np.zeros(0), 0)
            return
        sqmax = float(sq[ok].max())
        bs = max(1, int(4e6 // n))
        for b0 in range(0, len(slots), bs):
            blk = slots[b0 : b0 + bs]
            # Over all slots (no copy of the centroid matrix); dead ones are masked after.
            # float32 products: each entry within f32_rel * (sq_s + sq_p) of the exact one
            d2 = sq[blk][:, None] + sq[None, :] - 2.0 * (D.c32[blk] @ D.c32.T).astype(np.float64)
            d2[:, ~ok] = np.inf
            for r, s in enumerate(blk.tolist()):
                row = d2[r]
                row[s] = np.inf
                rj = self.rej.pairs.get(int(D.rows[s]))
                if rj:
                    row[self.loc[np.fromiter(rj, np.int64, len(rj))]] = np.inf
                nv = int(np.count_nonzero(row < np.inf))
                if nv <= K:
                    idx = np.flatnonzero(row < np.inf)
                else:
                    # the K-th exact distance is at most the K-th screen plus the error; any
                    # slot within twice the error (and the float64 band) of it is measured
                    mk = np.partition(row, K - 1)[K - 1]
                    slack = (2.0 * self.dist.f32_rel + BAND) * (sq[s] + sqmax) + 1e-300
                    idx = np.flatnonzero(row <= mk + slack)
                self.caches.store(lab, s, idx, self.dist.exact(cent, idx, cent[s]), nv)

    def update_neighbours(self, lab, s, t, keep_s, found) -> None:
        """After a merge into keep_s: the union as the new partner of the slots it is now
        nearer to (or as near, with a smaller slot), and the slots that pointed at s or t made
        lazy.

        ``found`` is the union's search: its valid partners (exactly the candidates other than
        the union and not rejected with it), lower bounds, bands and exact distances so far.

        Lazy slots: a slot c that pointed at s or t had every other valid partner at least as
        far (``nnd``); the union is the only partner that changed, and it is measured here
        wherever its bound reaches ``nnd``. So when the union is strictly nearer it is c's
        partner, exactly; else ``nnd`` still bounds c's nearest distance from below, and c
        stays lazy (``NextPair`` looks it up when it might come first). The same holds for a
        slot already lazy, whatever merges later: each new union is measured against its bound
        here, and partners otherwise only get lost.
        """
        D = self.slots[lab]
        nn = D.nn
        ok = D.cand.copy()
        ok[keep_s] = False
        D.lazy[ok & ((nn == s) | (nn == t))] = True
        idx, bnd, band, e = found
        if len(idx) == 0:
            return
        nnd = D.nnd[idx]
        near = np.flatnonzero(bnd <= nnd + band)
        if len(near) == 0:
            return
        todo = near[np.isnan(e[near])]
        if len(todo):
            e[todo] = self.dist.exact(D.cent, idx[todo], D.cent[keep_s])
        d2 = e[near]
        nnd = nnd[near]
        near = idx[near]
        cur = nn[near]
        # Closer, or (partner known) equally close with a smaller slot than the current one.
        better = (d2 < nnd) | ((d2 == nnd) & ~D.lazy[near] & (cur >= 0) & (keep_s < cur))
        self.caches.set_partners(D, near[better], np.full(np.count_nonzero(better), keep_s),
                                 d2[better])

    def maybe_compact(self, lab: int) -> None:
        """Drop dead slots once they are half of a label's arrays (merge cost ~ live clusters).

        Slots are renumbered in the same (row) order, so the tie rule on slots is unchanged.
        """
        D = self.slots[lab]
        n = len(D.rows)
        live = D.alive
        n_live = int(live.sum())
        if n < self.tuning.compact_min or n_live > n // 2:
            return
        D.compact()
        self.loc[D.rows] = np.arange(n_live)

    def state_arrays(self) -> dict[str, np.ndarray]:
        arr = {"loc": self.loc, **self.rej.state_arrays()}
        for lab, D in self.slots.items():
            arr.update(D.arrays(f"L{lab}."))
        return arr

    def load_state(self, z) -> None:
        self.loc = z["loc"]
        for lab in self.slots:  # the same dict (the cascade reads it), new slots
            self.slots[lab] = LabelSlots.from_arrays(z, f"L{lab}.")
        self.rej.load_state(z)
        self.next_pair.all_stale()
