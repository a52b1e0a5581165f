"""The decision cascade: is the union of two clusters disjoint from every cluster of the
labels it conflicts with? (docs/directprobe.md, "How a check is decided".)

Each check tries the cheap certificates first (slabs, spheres, cached planes, a kept LP's
optimum turned), then the exact solvers (``hulls_disjoint``: Wolfe's nearest points, capped,
then the max-margin LP with constraint generation, then the uncapped solver, NNLS, and the
soft-margin LP). Every answer is certified: a plane verified on all points, or two points of
the hulls within tol; which certificate decides never changes the answer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ftprobe.probe.directprobe.certificates import Certificates, _common_rows
from ftprobe.probe.directprobe.counters import ClusterStats
from ftprobe.probe.directprobe.hull import nearest_points
from ftprobe.probe.directprobe.margin_lp import decide_distance
from ftprobe.probe.directprobe.membership import Membership
from ftprobe.probe.directprobe.overlap import common_pair, nnls_decide
from ftprobe.probe.directprobe.planes import pivoted_plane, subspace_plane
from ftprobe.probe.directprobe.prior import PriorIndex, PriorRecorder
from ftprobe.probe.directprobe.separability import separate
from ftprobe.probe.directprobe.slots import LabelSlots, UnionShape
from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning


def hulls_disjoint(P: np.ndarray, Q: np.ndarray, tol: float, stats: ClusterStats | None = None,
                   direction: np.ndarray | None = None, support=None, lp_first: bool = False,
                   warm=None, tuning: Tuning = DEFAULT_TUNING, corral_out: list | None = None):
    """Decide hull distance > tol. Returns (disjoint, (w, lo_p, hi_q) or None, LP decision or None).

    The LP decision comes back whenever the LP decided, either way (an overlap's carries the
    points of its common pair as its support).

    w is a unit normal with min(P@w) = lo_p > hi_q = max(Q@w) + tol when disjoint.

    Wolfe's nearest-point iteration decides most pairs in a few steps, but crawls when the
    hulls nearly touch in many dimensions (its corral approaches D+1 vertices while the bounds
    close slowly). It therefore runs for at most ``tuning.wolfe_cap(D)`` iterations; an undecided pair
    then goes to the max-margin LP with constraint generation (margin_lp.decide_distance),
    seeded with Wolfe's active points, which returns only verified answers (a separating unit
    normal checked on all points, or two explicit points within tol). Only if that is
    inconclusive does the uncapped nearest-point solver run, as before.

    ``lp_first`` skips Wolfe and goes straight to the LP, seeded with ``support`` (indices into
    P and Q): for a pair that needed the LP before and has grown since, Wolfe would most likely
    hit its cap again; ``warm`` continues that earlier LP itself (see decide_distance). A
    separation found by the LP returns the LP's Decision (its support and its LP), so that the
    caller can do this next time. ``corral_out``: where the nearest-point solver finds the
    hulls within tol, its corral's points (indices into P, into Q) are appended to it.
    """
    dec = None
    if lp_first:
        sp, sq = support if support is not None else (None, None)
        dec = _lp_decide(P, Q, tol, stats, sp, sq, direction, warm, tuning)
    else:
        cap = tuning.wolfe_cap(P.shape[1])
        r = nearest_points(P, Q, stop_above=tol, stop_below=tol, direction=direction, max_iter=cap,
                           tuning=tuning, screen=tuning.screen_queries)
        if not (r.lower > tol or r.distance <= tol or r.converged):
            direction = r.x
            dec = _lp_decide(P, Q, tol, stats, r.corral_p, r.corral_q, direction, tuning=tuning)
    if dec is not None:
        if dec.disjoint is True:
            return True, (dec.w, dec.lo, dec.hi), dec
        if dec.disjoint is False:
            return False, None, dec
        # The LP could not decide: the uncapped nearest-point solver does, its first working
        # set the LP's (where the two distances' supports mostly lie) and its first corral
        # Wolfe's capped run's, if any.
        seed = None
        if dec.blocks:
            seed = tuple(np.concatenate([blk for blk, onp in dec.blocks if onp == side]
                                        + [np.zeros(0, np.int64)]) for side in (True, False))
        r = nearest_points(P, Q, stop_above=tol, stop_below=tol, direction=direction, seed=seed,
                           start=None if lp_first else r.start, tuning=tuning,
                           screen=tuning.screen_queries)
    verdict = _nearest_verdict(P, Q, r, tol, stats)
    if corral_out is not None and verdict is not None and not verdict[0] and r.distance <= tol:
        corral_out.append((r.corral_p, r.corral_q))
    if verdict is None:
        # The nearest-point solver stalled numerically (its best vertex already in the corral,
        # or no progress in float64), which depends on where it started: once more from
        # scratch, from the centroids' direction. A pair at ~1.0002 tol was seen to stall from
        # one start and be certified disjoint from another.
        r = nearest_points(P, Q, stop_above=tol, stop_below=tol, tuning=tuning,
                           screen=tuning.screen_queries)
        verdict = _nearest_verdict(P, Q, r, tol, stats)
    if verdict is not None:
        return (*verdict, None)
    # Still stalled: NNLS on working sets (a finite active-set method) from where Wolfe ended.
    verdict = nnls_decide(P, Q, tol, r.corral_p, r.corral_q, direction=r.x,
                          max_points=tuning.probe_points, tuning=tuning)
    if verdict is not None:
        if stats is not None:
            stats.stall_nnls += 1
        return (*verdict, None)
    # Only within float noise of tol: the soft-margin LP (whose tolerance band is documented).
    if stats is not None:
        stats.lp_fallback += 1
    res = separate(P, Q, tuning=tuning)
    if res.separable and res.hyperplane is not None:
        w = res.hyperplane.w / np.linalg.norm(res.hyperplane.w)
        lo, hi = float((P @ w).min()), float((Q @ w).max())
        if lo - hi > tol:
            return True, (w, lo, hi), None
    return False, None, None


def _nearest_verdict(P, Q, r, tol, stats):
    """(disjoint, plane or None) from a nearest-point result, or None when it stalled with
    tol between its bounds. Converged bounds around tol (the distance known to rtol and on
    the tolerance boundary) count as meeting."""
    if r.lower > tol:
        w = r.x / np.linalg.norm(r.x)
        lo, hi = float((P @ w).min()), float((Q @ w).max())
        if lo - hi > tol:
            if stats is not None:
                stats.solver_sep += 1
            return True, (w, lo, hi)
    if r.distance <= tol or r.converged:
        if stats is not None:
            stats.solver_overlap += 1
        return False, None
    return None


def _lp_decide(P, Q, tol, stats, seed_p, seed_q, direction, warm=None, tuning=DEFAULT_TUNING):
    """decide_distance, with its time and outcome counted in ``stats``."""
    t0 = time.perf_counter()
    dec = decide_distance(P, Q, tol, seed_p=seed_p, seed_q=seed_q, direction=direction, warm=warm,
                          tuning=tuning)
    if stats is not None:
        stats.seconds["lp_decide"] = stats.seconds.get("lp_decide", 0.0) + (time.perf_counter() - t0)
        if dec.disjoint is True:
            stats.lp_sep += 1
        elif dec.disjoint is False:
            stats.lp_overlap += 1
            stats.lp_overlap_probed += dec.probed
        else:
            stats.lp_undecided += 1
    return dec


def _local_blocks(blocks, urows: np.ndarray, crows: np.ndarray) -> list:
    """An LP's row blocks, from global rows to positions in the union (P) and the cluster (Q)."""
    uo, co = np.argsort(urows), np.argsort(crows)
    out = []
    for rows, onp in blocks:
        order, ref = (uo, urows) if onp else (co, crows)
        out.append((order[np.searchsorted(ref[order], rows)], onp))
    return out




@dataclass
class _UnionCheck:
    """What the cluster checks of one candidate merge (parts a and b) share: the union's points
    and its rows for a series' prior (gathered once, when first needed), the LPs it continued
    (put back if the merge ends rejected) or built, and the planes found so far."""

    a: int
    b: int
    new_planes: dict = field(default_factory=dict)
    continued: list = field(default_factory=list)
    built: list = field(default_factory=list)  # (cluster, decision, union's rows)
    _points: np.ndarray | None = None
    _prior_rows: np.ndarray | None = None

    def union_points(self, members: Membership) -> np.ndarray:
        if self._points is None:
            self._points = np.concatenate([members.points(self.a), members.points(self.b)])
        return self._points

    def prior_rows(self, members: Membership) -> np.ndarray:
        if self._prior_rows is None:
            self._prior_rows = members.union_rows(self.a, self.b)
        return self._prior_rows


class Cascade:
    """Decides whether the union of two clusters of one label may be merged.

    May assume: ``X`` is scaled and ``tol`` in its units; ``conflict`` holds exactly the label
    pairs whose hulls meet; ``slots`` (shared with the merge order) hold every current
    cluster's geometry, exact or a valid bound (sphere radii) for live slots; ``members``
    gives each cluster's rows; ``certs`` holds only records of current clusters.
    Guarantees: :meth:`check_union` answers "disjoint" exactly when the union's hull is at
    distance > tol from the hull of every current cluster of a conflicting label, each answer
    certified (a verified plane, or a common pair within tol); the planes, supports and LPs it
    returns for a merge are verified for the union; after a rejection, ``certs`` is left
    consistent (continued LPs restored, witnesses and common pairs recorded). Nothing it
    keeps or tries first (``tuning``) changes an answer.
    """

    def __init__(self, X: np.ndarray, tol: float, labels: list[int], conflict: np.ndarray,
                 slots: dict[int, LabelSlots], members: Membership, certs: Certificates,
                 proj: np.ndarray, first_dir: dict[tuple[int, int], int], tuning: Tuning,
                 stats: ClusterStats, prior: PriorIndex | None = None,
                 recorder: PriorRecorder | None = None):
        self.X = X
        self.prior = prior  # a series' previous fit: candidate planes and overlaps (verified)
        self.recorder = recorder  # ... and this fit's, for the next
        self.tol = tol
        self.labels = labels
        self.conflict = conflict
        self.slots = slots  # label -> its clusters (owned by the merge order; read here)
        self.members = members
        self.certs = certs
        self.proj = proj  # PCA basis of the projected spheres
        self.first_dir = first_dir  # conflicting label pair -> its Fisher direction's row
        self.tuning = tuning
        self.stats = stats

    def _refresh_radius(self, lab: int, s: int) -> None:
        """Slot s's spheres made exact (a bound after merges) from its points."""
        D = self.slots[lab]
        if D.exact[s]:
            return
        P = self.members.points(int(D.rows[s]))
        diff = P - D.cent[s]
        D.rad[s] = np.sqrt(np.einsum("ij,ij->i", diff, diff).max())
        pd = diff @ self.proj
        D.prad[s] = np.sqrt(np.einsum("ij,ij->i", pd, pd).max())
        D.exact[s] = True


    def check_union(self, lab: int, sa: int, sb: int, u: UnionShape):
        """Is the union of slots sa, sb (label lab) disjoint from every conflicting cluster?

        Two passes: the cheap certificates (slabs, spheres, cached planes) over every label,
        then the solvers on the clusters left, those that met a union of either part before
        first (``witness``), so that a merge headed for rejection meets its cluster early.
        Returns (ok, new_planes) where new_planes maps other cluster id -> (oriented plane,
        support rows or None, kept LP or None); the union's spheres in ``u`` are made exact
        when a solver needs them.
        """
        D = self.slots[lab]
        check = _UnionCheck(int(D.rows[sa]), int(D.rows[sb]))
        pending = self._screened(lab, check, u)
        if pending:
            # Clusters that met a union of either part before come first: a merge that ends
            # rejected then costs one solver check instead of the separations before it (the
            # answer does not depend on the order; every check is exact).
            met = self.certs.witness.get(check.a, set()) | self.certs.witness.get(check.b, set())
            if met:
                pending.sort(key=lambda e: int(self.slots[e[0]].rows[e[1]]) not in met)
        for other, t, hint in pending:
            if not self._separated(check, u, other, t, hint):
                return False, None
        return True, check.new_planes

    def _screened(self, lab: int, check: _UnionCheck, u: UnionShape) -> list[tuple[int, int, object]]:
        """The first pass: every conflicting cluster that the slabs, the spheres and the cached
        planes do not separate from the union, as (label, slot, starting direction)."""
        tol = self.tol
        rest_pts = {}  # each part's points, gathered once for all cached-plane checks
        pending = []
        for other in self.labels:
            if other == lab or not self.conflict[lab, other]:
                continue
            M = self.slots[other]
            # Slabs: separated projections on one unit direction prove hull distance > tol.
            # The pair's Fisher direction alone separates most clusters: one pass over it, then
            # every direction on the few left (the same set as every direction on all).
            alive, lo, hi = M.alive, M.lo, M.hi
            j = self.first_dir.get((min(lab, other), max(lab, other)), 0)
            idx = np.flatnonzero(alive & (lo[j] <= u.hi[j] + tol) & (hi[j] >= u.lo[j] - tol))
            if len(idx):
                sep = ((lo[:, idx] > (u.hi + tol)[:, None]) | (hi[:, idx] < (u.lo - tol)[:, None])).any(0)
                idx = idx[~sep]
            self.stats.slab += int(np.count_nonzero(alive)) - len(idx)
            if len(idx) == 0:
                continue
            dp = np.sqrt(np.einsum("ij,ij->i", M.pc[idx] - u.pc, M.pc[idx] - u.pc))
            keep = dp <= M.prad[idx] + u.prad + tol
            self.stats.ball_proj += int((~keep).sum())
            idx = idx[keep]
            if len(idx) == 0:
                continue
            diff = M.cent[idx] - u.cent
            df = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            keep = df <= M.rad[idx] + u.rad + tol
            self.stats.ball_full += int((~keep).sum())
            idx, df = idx[keep], df[keep]
            ts = idx[np.argsort(df, kind="stable")]
            # Cached planes from either part, verified on the other part's points only.
            passed, hints = self._cached_planes(check.a, check.b, M.rows[ts], check.new_planes, rest_pts)
            left = np.flatnonzero(~passed).tolist()
            pending += [(other, t, hints[i]) for t, i in zip(ts[left].tolist(), left, strict=True)]
        return pending

    def _separated(self, check: _UnionCheck, u: UnionShape, other: int, t: int, hint) -> bool:
        """The second pass on one cluster: exact spheres, then a series' prior, then the kept LP
        of a part (its optimum turned, or an overlap recalled), then the solvers. True: a plane
        separates the union from it (recorded in ``check.new_planes``); False: their hulls meet
        (what the parts' certificates learned is kept, and the continued LPs put back)."""
        a, b = check.a, check.b
        M = self.slots[other]
        cj = int(M.rows[t])
        if not M.exact[t] or not u.exact:
            # Tighter spheres before any solver call.
            self._refresh_radius(other, t)
            if not u.exact:
                dU = check.union_points(self.members) - u.cent
                u.rad = float(np.sqrt(np.einsum("ij,ij->i", dU, dU).max()))
                pd = dU @ self.proj
                u.prad = float(np.sqrt(np.einsum("ij,ij->i", pd, pd).max()))
                u.exact = True
            if np.linalg.norm(M.cent[t] - u.cent) > M.rad[t] + u.rad + self.tol:
                self.stats.ball_full += 1
                return True
        U = check.union_points(self.members)
        C = self.members.points(cj)
        if self.prior is not None:
            # A series' previous fit: its plane of these rows' clusters, verified on the
            # points; else where its hulls met, an explicit common pair within tol.
            urows_, crows_ = check.prior_rows(self.members), self.members.rows(cj)
            h = self.prior.plane(U, C, urows_, crows_)
            if h is not None:
                check.new_planes[cj] = (h, None, None)
                self._note_plane(a, b, cj, h)
                return True
            met = self.prior.overlap(U, C, urows_, crows_)
            if met is not None:
                self.certs.keep_overlap_rows(a, b, cj, *met)
                return self._met(check, cj)
        # The kept LP of the first part that has one against cj (None: neither has).
        kept = next(((part, st) for part in (a, b)
                     if (st := self.certs.lp_of(part, cj)) is not None), None)
        if kept is not None and self._turned_kept_plane(check, cj, U, C, kept):
            return True
        if self.tuning.recall_overlaps and kept is not None and self.recalled_overlap(a, b, cj, U, C):
            return self._met(check, cj)
        return self._solved(check, cj, U, C, hint, kept)

    def _met(self, check: _UnionCheck, cj: int) -> bool:
        """The union met cluster cj: the witnesses noted, the continued LPs put back, the LPs
        this check built kept for the parts."""
        self.certs.met(check.a, check.b, cj, check.continued)
        self.certs.keep_part_lps(check.a, check.b, check.built, self.members.rows)
        return False

    def _turned_kept_plane(self, check: _UnionCheck, cj: int, U, C, kept) -> bool:
        """A part's kept LP optimum turned to take in the other part, else an LP over a few
        directions (the optimum's normal, the points it now fails worst): a verified plane,
        and the LP goes on to the union unchanged, as a cached plane's."""
        tn = self.tuning
        if not (tn.turn_kept_planes or tn.subspace_planes) or kept[1][0].optimum is None:
            return False
        part, st = kept
        t0, w0, b0 = st[0].optimum
        sgn = 1.0 if st[2] else -1.0  # the part on the optimum's high side
        h, how = None, "pivoted_plane"
        if tn.turn_kept_planes:
            h = pivoted_plane(U, C, sgn * w0, sgn * b0, t0, self.tol, tn)
        if h is None and tn.subspace_planes:
            h, how = subspace_plane(U, C, sgn * w0, self.tol, tn), "subspace_plane"
        if h is None:
            return False
        check.new_planes[cj] = (h, self.certs.support_of(part, cj), st)
        self._note_plane(check.a, check.b, cj, h)
        setattr(self.stats, how, getattr(self.stats, how) + 1)
        return True

    def _solved(self, check: _UnionCheck, cj: int, U, C, hint, kept) -> bool:
        """The solvers (nearest points, then the LP) on the union and cluster cj. A plane that
        failed still points roughly the right way: the solver starts there; a pair that needed
        the LP before goes straight to it, from its old support (continuing a part's kept LP)."""
        a, b = check.a, check.b
        tn = self.tuning
        urows, crows = None, self.members.rows(cj)
        seeds = None
        warm = None
        flip = False  # the continued LP has the other cluster on its P side
        old = [x for x in (self.certs.support_of(a, cj), self.certs.support_of(b, cj)) if x is not None]
        if old:
            urows = self.members.union_rows(a, b)
            sup = np.concatenate(old)
            seeds = (np.flatnonzero(np.isin(urows, sup)), np.flatnonzero(np.isin(crows, sup)))
            if kept is not None:
                # This LP is continued (and changed): no other pair may hold it. If the
                # merge is rejected, it is put back as it was (see _restore_lps).
                part, st = kept
                key = (part, cj) if part < cj else (cj, part)
                entry = self.certs.lp_pop(key)
                self.stats.lp_thawed += st[0].frozen  # decide_distance rebuilds it
                check.continued.append((key, entry, st[0].num_rows, st[0].checkpoint()))
                model, blocks, flip = st[0], st[1], not st[2]
                warm = (model, _local_blocks(blocks, crows, urows) if flip
                        else _local_blocks(blocks, urows, crows))
        if seeds is not None and warm is None and tn.seed_piece:
            # A cold LP from a support: the piece the union adds is what may break it,
            # so small pieces' points join the first working set (only its rows differ).
            na, nb = len(self.members.rows(a)), len(self.members.rows(b))
            if min(na, nb) <= tn.seed_piece:
                piece = np.arange(na, na + nb) if nb <= na else np.arange(na)
                seeds = (np.union1d(seeds[0], piece), seeds[1])
        if seeds is not None:
            self.stats.lp_from_support += 1
            self.stats.lp_continued += warm is not None
            self.stats.lp_continued_swapped += flip
        corral = [] if self.recorder is not None else None  # where the solver found them meeting
        if flip:
            # Whichever cluster grew, the earlier LP holds: the same LP with the sides
            # swapped (w, b -> -w, -b), so it is continued as it was set up and the
            # answer turned round to put the union on the high side.
            ok, h, dec = hulls_disjoint(C, U, self.tol, self.stats,
                                        direction=None if hint is None else -hint,
                                        support=seeds[::-1], lp_first=True, warm=warm,
                                        tuning=tn, corral_out=corral)
            if ok:
                h = (-h[0], -h[2], -h[1])
        else:
            ok, h, dec = hulls_disjoint(U, C, self.tol, self.stats, direction=hint,
                                        support=seeds, lp_first=seeds is not None, warm=warm,
                                        tuning=tn, corral_out=corral)
        if dec is not None and dec.lp is not None and warm is None:
            if urows is None:
                urows = self.members.union_rows(a, b)
            check.built.append((cj, dec, urows))
        if not ok:
            if corral:  # the nearest-point solver's meeting corral, for the next fit of a series
                if urows is None:
                    urows = self.members.union_rows(a, b)
                cp, cq = corral[-1]
                self.recorder.overlap(*((urows[cq], crows[cp]) if flip else (urows[cp], crows[cq])))
            if (dec is not None and dec.support_p is not None
                    and (tn.recall_overlaps or self.recorder is not None)):
                if urows is None:
                    urows = self.members.union_rows(a, b)
                # the common pair, for the next fit of a series and (if on) recalled overlaps
                self.certs.keep_overlap_rows(a, b, cj, *_common_rows(dec, flip, urows, crows),
                                             keep=tn.recall_overlaps)
            self.certs.met(a, b, cj, check.continued)
            if dec is not None and seeds is None:
                # decided by the LP after the nearest-point solver hit its cap
                self.certs.keep_overlap_support(a, b, cj, dec, flip, urows, crows, self.members.rows)
            self.certs.keep_part_lps(a, b, check.built, self.members.rows)
            return False
        rows = lp = None
        if dec is not None:
            if urows is None:
                urows = self.members.union_rows(a, b)
            rows = np.concatenate(_common_rows(dec, flip, urows, crows))
            if dec.lp is not None:
                prow, qrow = (crows, urows) if flip else (urows, crows)
                lp = (dec.lp, [(prow[blk] if onp else qrow[blk], onp) for blk, onp in dec.blocks],
                      not flip)
        check.new_planes[cj] = (h, rows, lp)
        self._note_plane(a, b, cj, h)
        return True

    def _note_plane(self, a: int, b: int, cj: int, h) -> None:
        """A plane a solver (or a prior) found between the union of a and b and cluster cj,
        for the next fit of a series (it separates any part of either from cj)."""
        if self.recorder is not None:
            self.recorder.plane(a, b, cj, h[0])

    def _cached_planes(self, a, b, cjs: np.ndarray, new_planes: dict, rest_pts: dict):
        """Which of the clusters ``cjs`` a cached plane of part a (else of part b) still
        separates from the union of a and b, verified on the other part's points: one matrix
        product per part for all the clusters instead of one product each. The planes that hold
        go into ``new_planes`` (with their lo lowered to the union's); returns the mask of those
        clusters and, per cluster, the normal of the last plane tried (a solver's starting
        direction for the others)."""
        n = len(cjs)
        passed = np.zeros(n, bool)
        hints = [None] * n
        tol = self.tol
        for part, rest in ((a, b), (b, a)):
            sel, W, LO, HI = [], [], [], []
            for i in np.flatnonzero(~passed).tolist():
                h = self.certs.plane(part, int(cjs[i]))
                if h is not None:
                    sel.append(i)
                    W.append(h[0])
                    LO.append(h[1])
                    HI.append(h[2])
                    hints[i] = h[0]
            if not sel:
                continue
            R = rest_pts.get(rest)
            if R is None:
                R = rest_pts[rest] = self.members.points(rest)
            Wm = np.stack(W, axis=1)
            step = max(1, self.tuning.plane_block // max(len(R), 1))  # bound the [rest x planes] product
            vmin = np.concatenate([(R @ Wm[:, k : k + step]).min(0) for k in range(0, len(W), step)])
            lo2 = np.minimum(np.asarray(LO), vmin)
            ok = lo2 - np.asarray(HI) > tol
            for k in np.flatnonzero(ok).tolist():
                i = sel[k]
                cj = int(cjs[i])
                new_planes[cj] = ((W[k], float(lo2[k]), HI[k]), self.certs.support_of(part, cj),
                                  self.certs.lp_of(part, cj))
                passed[i] = True
            self.stats.cached_plane += int(np.count_nonzero(ok))
        return passed, hints

    def recalled_overlap(self, a, b, cj, U, C) -> bool:
        """Does the union of a and b meet cj where a union of either part met it before?

        Late in a big task set, one big cluster keeps trying to take in small pieces lying
        towards a cluster it nearly touches, and most such unions meet that cluster in the same
        place. NNLS over the points of the common pairs found there before, the pair's LP
        support and the new piece (a few hundred candidates, ~40 ms) certifies most of these
        overlaps without thawing and running the pair's LP. A common pair within tol
        (checked in L2, like any) is the certificate; else the LP decides as always."""
        wa, wb = self.certs.overlap_rows.get(a, {}).get(cj), self.certs.overlap_rows.get(b, {}).get(cj)
        if wa is None and wb is None:
            return False
        ra, rb = self.members.rows(a), self.members.rows(b)
        if min(len(ra), len(rb)) > self.tuning.recall_piece:
            return False
        urows, crows = self.members.union_rows(a, b), self.members.rows(cj)
        sup = [x for x in (self.certs.support_of(a, cj), self.certs.support_of(b, cj)) if x is not None]
        known = [w for w in (wa, wb) if w is not None]
        cand_u = np.concatenate([w[0] for w in known] + [rb if len(rb) <= len(ra) else ra] + sup)
        cand_c = np.concatenate([w[1] for w in known] + sup)
        su = np.flatnonzero(np.isin(urows, cand_u))
        sc = np.flatnonzero(np.isin(crows, cand_c))
        self.stats.overlap_recall_tried += 1
        found = common_pair(U, C, su, sc, self.tol, self.tuning.probe_points)
        if found is None:
            return False
        self.stats.overlap_recalled += 1
        self.certs.keep_overlap_rows(a, b, cj, urows[found[2]], crows[found[3]])
        return True

