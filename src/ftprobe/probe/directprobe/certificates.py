"""What the merge engine remembers between checks: planes, supports, kept LPs, overlaps."""

from __future__ import annotations

import numpy as np

from ftprobe.probe.directprobe.margin_lp import MarginLP
from ftprobe.probe.directprobe.state import ragged
from ftprobe.probe.directprobe.tuning import Tuning


def _common_rows(dec, flip: bool, urows: np.ndarray, crows: np.ndarray):
    """A decision's common pair (or support) as global rows: (the union's, the cluster's).
    ``flip``: the decision came from a kept LP that has the cluster on its P side."""
    up, cp = (dec.support_q, dec.support_p) if flip else (dec.support_p, dec.support_q)
    return urows[up], crows[cp]


class Certificates:
    """Certificates and hints kept per pair of current clusters (of different labels).

    May assume: cluster ids are representatives (smallest rows) of current clusters, and
    :meth:`merged` is called for every merge, so no record outlives its clusters. Guarantees:
    a kept plane ``(w, lo, hi)`` of clusters (a, b), a < b, has a's points at or above lo,
    b's at or below hi and lo - hi > tol (verified on every point when kept); a kept LP's rows
    are exactly its blocks' points in order (+1 on its P side). Everything else (supports,
    witnesses, recalled common pairs) only chooses where a check starts, never its answer.
    """

    def __init__(self, dim: int, tuning: Tuning, stats):
        self.dim = dim
        self.tuning = tuning
        self.stats = stats
        # Clusters of other labels that met a union of the cluster (its rejected merges' last
        # checks): checked first the next time. Only an order, never an answer.
        self.witness: dict[int, set[int]] = {}
        # cluster -> {other cluster: global rows (this side, other side) of the common pair
        # last found between a union of the cluster and the other}: recalled overlaps.
        self.overlap_rows: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        self.planes: dict[tuple[int, int], tuple[np.ndarray, float, float]] = {}
        # Rows (of both clusters) that supported the LP's separation of a cluster pair: the
        # first working set when the pair, grown, has to be decided again (same keys as planes).
        self.support: dict[tuple[int, int], np.ndarray] = {}
        # The LP itself of the pairs an LP decided (at most kept_lps, of which the most recent
        # are live within warm_lps / warm_lp_rows, the others frozen: see lp_put): (id of
        # the cluster on the LP's P side, margin LP, row blocks as global rows). Same keys as
        # planes or supports; continued when either side grows against the other.
        self.lps: dict[tuple[int, int], tuple] = {}
        self.live: dict[tuple[int, int], int] = {}  # keys of the live (unfrozen) LPs -> rows
        self.live_rows = 0
        self.plane_keys: dict[int, set[tuple[int, int]]] = {}
        self.recorder = None  # a prior.PriorRecorder: overlaps found, for a series' next fit

    def merged(self, a: int, b: int, keep_id: int, planes: dict) -> None:
        """Clusters a and b merged into ``keep_id``: their records go, the union's verified
        ``planes`` (other cluster -> (plane, support, LP)) come; witnesses and common pairs of
        either part become the union's."""
        self.drop(a)
        self.drop(b)
        for cj, (h, support, lp) in planes.items():
            self.put(keep_id, cj, h, support, lp)
        wu = self.witness.pop(a, set()) | self.witness.pop(b, set())
        ova, ovb = self.overlap_rows.pop(a, {}), self.overlap_rows.pop(b, {})
        if ova or ovb:
            self.overlap_rows[keep_id] = {**ova, **ovb}
        if wu:
            self.witness[keep_id] = wu

    def plane(self, a: int, b: int):
        """Cached hyperplane between clusters a and b, oriented with a on the high side."""
        key = (a, b) if a < b else (b, a)
        h = self.planes.get(key)
        if h is None:
            return None
        w, lo, hi = h
        if a < b:
            return w, lo, hi
        return -w, -hi, -lo

    def put(self, a: int, b: int, h, support: np.ndarray | None = None, lp=None) -> None:
        w, lo, hi = h
        key = (a, b) if a < b else (b, a)
        if support is not None:
            self.support[key] = support
        if lp is not None:
            model, blocks, a_is_p = lp
            blocks = model.prune(blocks)  # the pair's merge is settled: its LP is kept compact
            self.lp_put(key, (a if a_is_p else b, model, blocks))  # first: the LP's P side
        self.planes[key] = (w, lo, hi) if a < b else (-w, -hi, -lo)
        self._link(key)

    def _link(self, key: tuple[int, int]) -> None:
        """Register a pair's key under both clusters, so that a merge drops its records."""
        self.plane_keys.setdefault(key[0], set()).add(key)
        self.plane_keys.setdefault(key[1], set()).add(key)

    def add_support(self, key: tuple[int, int], rows: np.ndarray) -> None:
        """Add rows to a pair's support (the first working set of its next LP)."""
        old = self.support.get(key)
        self.support[key] = rows if old is None else np.union1d(old, rows)
        self._link(key)

    def lp_put(self, key: tuple[int, int], entry: tuple) -> None:
        """Keep a pair's LP (the most recent last): the least recent live ones beyond the
        bounds are frozen, the least recent of all beyond ``kept_lps`` dropped."""
        self.lp_pop(key)
        self.lps[key] = entry
        model = entry[1]
        if not model.frozen:
            n = model.num_rows
            self.live[key] = n
            self.live_rows += n
        tn = self.tuning
        while len(self.live) > tn.warm_lps or (self.live_rows > tn.warm_lp_rows and len(self.live) > 1):
            old = next(iter(self.live))
            self.live_rows -= self.live.pop(old)
            self.lps[old][1].freeze()
            self.stats.lp_frozen += 1
        while len(self.lps) > tn.kept_lps:
            self.lp_pop(next(iter(self.lps)))

    def lp_pop(self, key: tuple[int, int]):
        """Take a pair's kept LP out (None if it has none)."""
        n = self.live.pop(key, None)
        if n is not None:
            self.live_rows -= n
        return self.lps.pop(key, None)

    def support_of(self, a: int, b: int) -> np.ndarray | None:
        return self.support.get((a, b) if a < b else (b, a))

    def lp_of(self, a: int, b: int):
        """(LP, blocks of global rows, whether ``a`` is its P side) of the pair, else None."""
        st = self.lps.get((a, b) if a < b else (b, a))
        if st is None:
            return None
        return st[1], st[2], st[0] == a

    def drop(self, cid: int) -> None:
        for key in self.plane_keys.pop(cid, ()):
            self.planes.pop(key, None)
            self.support.pop(key, None)
            self.lp_pop(key)
            other = key[1] if key[0] == cid else key[0]
            ks = self.plane_keys.get(other)
            if ks is not None:
                ks.discard(key)

    def met(self, a, b, cj, continued) -> None:
        """A merge of a and b found meeting cj: cj is checked first next time, and the LPs
        the check continued are given back."""
        for part in (a, b):
            self.witness.setdefault(part, set()).add(cj)
        self.restore_lps(continued)

    def keep_overlap_rows(self, a, b, cj, urows, crows, keep: bool = True) -> None:
        """The rows of a common pair of the union of a and b with cj: recorded for the next
        fit of a series, and kept for recalled overlaps unless ``keep`` is False."""
        if self.recorder is not None:
            self.recorder.overlap(urows, crows)
        if keep:
            for part in (a, b):
                self.overlap_rows.setdefault(part, {})[cj] = (urows, crows)

    def keep_overlap_support(self, a, b, cj, dec, flip, urows, crows, rows_of) -> None:
        """A merge of a and b was rejected by an LP (after the nearest-point solver hit its
        cap) that found the union meeting cluster cj.

        Both parts live on beside cj, and the next union of either part is likely to meet cj
        in the same place (a big cluster trying to absorb one piece after another lying towards
        cj), where the nearest-point solver would hit its cap again. The common pair's points of
        that part and of cj become the pair's support, so the next check of the pair goes
        straight to the LP from them (seconds saved for clusters of thousands of points, each
        time). Seeds only choose the LP's first rows: the answer is the same. Rejections the LP
        decided from a support already are not recorded: their big part has one, and giving
        one to the small part would send its later, easy checks to the LP instead of the
        nearest-point solver.
        """
        if urows is None:
            urows = np.concatenate([rows_of(a), rows_of(b)])
        if dec.support_p is None or dec.support_q is None:
            return
        u_sup, c_sup = _common_rows(dec, flip, urows, crows)
        for part in (a, b):
            mine = u_sup[np.isin(u_sup, rows_of(part))]
            if len(mine) == 0:
                continue
            key = (part, cj) if part < cj else (cj, part)
            self.add_support(key, np.concatenate([mine, c_sup]))

    def restore_lps(self, continued) -> None:
        """A rejected merge gives back the LPs its check continued: the rows it added are
        deleted and the earlier optimal basis set again (one that was frozen is frozen again
        as it was), so the pair of the unchanged part
        (which may well be decided again soon, e.g. a big cluster that keeps meeting another
        label's) resumes at once instead of from its support alone."""
        for key, entry, n_rows, state in continued:
            entry[1].rollback(n_rows, state)
            if key in self.planes or key in self.support:  # both clusters still current
                self.lp_put(key, entry)
                self.stats.lp_restored += 1

    def keep_part_lps(self, a: int, b: int, built: list, rows_of) -> None:
        """A rejected merge keeps the LPs its check built from scratch, as LPs of its bigger
        part: the piece's rows are deleted (the rest are valid rows of that part's pair) and the
        LP re-optimised, then kept like the LP of a separated pair, with its support.

        The bigger part of a rejected merge usually tries its next piece soon against the same
        clusters (a big cluster reaching towards another label's), and each such check would
        otherwise build its LP again from the support (~1,000 simplex iterations, ~1 s at 386
        columns); continued, it takes tens. A pair that already has a kept LP (restored by
        restore_lps) keeps that one. Rows only choose the LP's working set: no answer changes.
        """
        if not built:
            return
        ra, rb = rows_of(a), rows_of(b)
        big, piece = (a, rb) if len(ra) >= len(rb) else (b, ra)
        for cj, dec, urows in built:
            key = (big, cj) if big < cj else (cj, big)
            if key in self.lps:
                continue
            model = dec.lp
            blocks = model.prune(dec.blocks)  # at the decision's optimum: compact first
            crows = rows_of(cj)
            gblocks = [(urows[blk] if onp else crows[blk], onp) for blk, onp in blocks]
            drop, kept, pos = [], [], 0
            for rows, onp in gblocks:
                gone = np.isin(rows, piece) if onp else np.zeros(len(rows), bool)
                drop.append(pos + np.flatnonzero(gone))
                pos += len(rows)
                if not gone.all():
                    kept.append((rows[~gone], onp))
            if not any(onp for _, onp in kept) or not model.drop_rows(np.concatenate(drop)):
                continue
            mine = urows[dec.support_p]
            self.add_support(key, np.concatenate([mine[~np.isin(mine, piece)], crows[dec.support_q]]))
            self.lp_put(key, (big, model, kept))
            self.stats.lp_kept_after_rejection += 1

    # -- saved state (plain arrays; kept LPs come back frozen) -----------------------------------
    def arrays(self) -> dict[str, np.ndarray]:
        """Every record as plain arrays (for a saved state)."""
        arr = {}
        arr["witness"] = np.array([(a, b) for a, bs in self.witness.items() for b in sorted(bs)],
                                  np.int64).reshape(-1, 2)
        pk = list(self.planes)
        arr["planes.k"] = np.array(pk, np.int64).reshape(-1, 2)
        arr["planes.w"] = (np.stack([self.planes[k][0] for k in pk]) if pk
                           else np.zeros((0, self.dim)))
        arr["planes.lohi"] = np.array([self.planes[k][1:] for k in pk], np.float64).reshape(-1, 2)
        sk = list(self.support)
        arr["support.k"] = np.array(sk, np.int64).reshape(-1, 2)
        _, arr["support.off"], arr["support.v"] = ragged({i: self.support[k] for i, k in enumerate(sk)})
        ok = [(a, c) for a, d in self.overlap_rows.items() for c in d]
        arr["overlap.k"] = np.array(ok, np.int64).reshape(-1, 2)
        # each pair's two row sets (its cluster's side, then the other's) one after the other
        sides = [r for a, c in ok for r in self.overlap_rows[a][c]]
        _, arr["overlap.off"], arr["overlap.v"] = ragged(dict(enumerate(sides)))
        # Kept LPs: rows (global rows per block, side flags), the optimal basis and the
        # optimum; loaded frozen, so a resumed fit continues them warm as the uninterrupted
        # one would.
        lk = list(self.lps)
        arr["lps.k"] = np.array(lk, np.int64).reshape(-1, 2)
        arr["lps.pside"] = np.array([self.lps[k][0] for k in lk], np.int64)
        blocks = [b for k in lk for b in self.lps[k][2]]
        arr["lps.nblocks"] = np.array([len(self.lps[k][2]) for k in lk], np.int64)
        arr["lps.onp"] = np.array([onp for _, onp in blocks], bool)
        _, arr["lps.off"], arr["lps.rows"] = ragged({i: r for i, (r, _) in enumerate(blocks)})
        bases = [self.lps[k][1].basis_statuses() for k in lk]
        arr["lps.basis"] = np.concatenate([x for b in bases if b is not None for x in b]
                                          + [np.zeros(0, np.int8)])
        arr["lps.valid"] = np.array([b is not None for b in bases], bool)
        opt = [self.lps[k][1].optimum for k in lk]
        arr["lps.has_opt"] = np.array([o is not None for o in opt], bool)
        arr["lps.t_b"] = np.array([(o[0], o[2]) if o else (0.0, 0.0) for o in opt],
                                  np.float64).reshape(-1, 2)
        arr["lps.w"] = (np.stack([o[1] if o else np.zeros(self.dim) for o in opt]) if opt
                        else np.zeros((0, self.dim)))
        return arr

    def load(self, z) -> None:
        """Replace every record by those :meth:`arrays` wrote (``z``: an opened ``.npz``)."""
        self.witness = {}
        for a, b in z["witness"].tolist():
            self.witness.setdefault(a, set()).add(b)
        self.overlap_rows = {}
        off, v = z["overlap.off"], z["overlap.v"]
        for i, (a, c) in enumerate(z["overlap.k"].tolist()):
            self.overlap_rows.setdefault(a, {})[c] = (v[off[2 * i] : off[2 * i + 1]],
                                                      v[off[2 * i + 1] : off[2 * i + 2]])
        w, lohi = z["planes.w"], z["planes.lohi"]
        self.planes = {(a, b): (w[i], float(lohi[i, 0]), float(lohi[i, 1]))
                       for i, (a, b) in enumerate(z["planes.k"].tolist())}
        off, v = z["support.off"], z["support.v"]
        self.support = {(a, b): v[off[i] : off[i + 1]]
                        for i, (a, b) in enumerate(z["support.k"].tolist())}
        self.plane_keys = {}
        for key in list(self.planes) + list(self.support):
            for c in key:
                self.plane_keys.setdefault(c, set()).add(key)
        self.lps, self.live, self.live_rows = {}, {}, 0
        dim = self.dim
        off, rows, onp = z["lps.off"], z["lps.rows"], z["lps.onp"]
        basis, pos, blk = z["lps.basis"], 0, 0
        for i, (a, b) in enumerate(z["lps.k"].tolist()):
            nb = int(z["lps.nblocks"][i])
            blocks = [(rows[off[j] : off[j + 1]], bool(onp[j])) for j in range(blk, blk + nb)]
            blk += nb
            n, nc = sum(len(r) for r, _ in blocks), dim + 2
            valid = bool(z["lps.valid"][i])
            statuses = (basis[pos : pos + nc], basis[pos + nc : pos + nc + n]) if valid else None
            if valid:  # only valid bases are stored
                pos += nc + n
            optimum = None
            if z["lps.has_opt"][i]:
                t, b0 = z["lps.t_b"][i]
                optimum = (float(t), z["lps.w"][i].copy(), float(b0))
            # frozen: rebuilt from its rows and basis if a check continues it
            model = MarginLP.from_frozen_state(dim, n, statuses, optimum, self.tuning)
            self.lps[(a, b)] = (int(z["lps.pside"][i]), model, blocks)
