"""DirectProbe clustering: centroid-linkage merges with hull-disjointness checks
(docs/directprobe.md; its plain form is :mod:`.definition`).

Semantics (the brute-force definition, reproduced exactly):
- start with one cluster per point; candidates are same-label pairs ordered by the Euclidean
  distance of their means, one global order across labels;
- ties in that distance are broken by the pair's representatives (the smallest row index in each
  cluster): the pair (a, b), a < b, with the smaller a first, then the smaller b;
- the closest candidate is merged if the union's hull is disjoint from the hull of every current
  cluster of another label, otherwise the pair is dropped for good; stop when no candidate is left.

"Disjoint" means hull distance > ``tol`` on the internally scaled data (in units of the RMS norm of the centred data);
hulls closer than that count as meeting. This is the only tolerance in the procedure.

What makes it fast without changing the answer:
- a label whose points are disjoint from every other label's points never has a merge rejected
  and never causes a rejection, so it ends as one cluster without simulation; if every label is
  like that the space is "linear" and no merge is replayed at all;
- a pair of labels that is disjoint needs no check between their clusters;
- a rejected pair (A, B) also rejects every later pair (A' ⊇ A, B' ⊇ B), because the overlapping
  cluster of the other label only grows; rejections are inherited by merged clusters instead of
  being re-tested;
- identical points with different labels overlap from the start, so no union containing one of
  them can ever pass: such points stay singletons ("frozen") and are not candidates;
- the nearest partner of every cluster is kept exactly (exact distances, same tie rule), but
  found without a pass over the whole label where possible: each cluster caches its K nearest
  partners from its last search, so a cluster whose partner merged looks only at its cache and
  at the clusters changed since; full searches and the union's own search are pruned by lower
  bounds (projected distances, then the norm expansion) and share one pass with the screen
  for the clusters the union is now nearest to (see ``MergeEngine._lookup``);
- checks use certificates before any optimisation, each of which proves hull distance > tol:
  slabs (exact min/max of every cluster's projections on PCA axes and on one Fisher direction
  per conflicting label pair, merged by min/max), bounding spheres in a 1-Lipschitz projection
  and in full space, separating hyperplanes cached per cluster pair and re-verified on the new
  points only; then the exact nearest-point solver (hull.py), which returns either a verified
  separating hyperplane or an explicit pair of points closer than tol. Its iterations are
  capped: pairs it leaves undecided (hulls nearly touching in many dimensions, where Wolfe
  crawls) go to a max-margin LP on HiGHS with constraint generation
  (separability.decide_distance), which answers only with the same two kinds of verified
  certificates; if it cannot, the uncapped solver runs from the LP's working set (retried once
  from scratch if it stalls numerically, then NNLS on working sets, separability.nnls_decide,
  with the same certificates), with the soft-margin LP (separability.separate) as the last
  fallback, reached only when no certificate holds, i.e. the distance is within float noise
  of tol. A pair that needed the LP is decided again, when either cluster grows,
  first by turning that LP's optimal plane to take in the new points
  (separability.pivoted_plane), else by continuing the LP (warm basis, new rows only, pruned to
  the rows nearest its plane); the solvers run on the clusters that met a union of either part
  before first, so that a merge headed for rejection meets its cluster early; a rejected merge
  gives the LPs its check continued back as they were, and one the LP rejected after Wolfe's
  cap leaves the points of its common pair as the surviving pairs' support (their next check
  starts from the LP, with the union's small piece in its first working set); an LP built in a rejected merge's check
  is kept for its bigger part, the piece's rows deleted. Kept LPs beyond a live budget are
  frozen (HiGHS's instance given back, the basis kept) and rebuilt when continued;
- stale entries of the merge heap (superseded distances) are cleared once they dominate.
"""

from __future__ import annotations

import heapq
import json
import logging
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.linalg

from ftprobe.probe.directprobe.certificates import Certificates, _common_rows
from ftprobe.probe.directprobe.hull import nearest_points
from ftprobe.probe.directprobe.prior import PriorIndex, PriorRecorder, SeriesPrior
from ftprobe.probe.directprobe.separability import (
    common_pair,
    decide_distance,
    nnls_decide,
    pivoted_plane,
    separate,
    subspace_plane,
)
from ftprobe.probe.directprobe.slots import NO_SLOT, LabelSlots
from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)

# Not tuning (tuning.Tuning holds that): a margin that keeps lower bounds of centroid distances
# below the exact values whatever their rounding, and the "no slot" sentinel.
_BAND = 1e-9  # relative margin over the rounding error of lower bounds of centroid distances
_NO_SLOT = NO_SLOT


@dataclass
class ClusterStats:
    """Counters of what decided each check (for benchmarks and profiles)."""

    merges: int = 0
    rejections: int = 0
    inherited_rejections: int = 0
    frozen_points: int = 0
    label_pair_tests: int = 0
    label_pairs_overlapping: int = 0
    slab: int = 0
    ball_proj: int = 0
    ball_full: int = 0
    cached_plane: int = 0
    pivoted_plane: int = 0  # kept LP optima turned to separate a union (separability.pivoted_plane)
    subspace_plane: int = 0  # ... else separated by an LP over a few directions (subspace_plane)
    solver_sep: int = 0
    solver_overlap: int = 0
    stall_nnls: int = 0  # pairs the nearest-point solver stalled on twice, decided by NNLS
    lp_fallback: int = 0  # ... and left to the soft-margin LP
    lp_sep: int = 0  # pairs Wolfe left undecided within its cap, settled by the LP decision
    lp_overlap: int = 0
    lp_overlap_probed: int = 0  # ... of which certified by an NNLS probe, the LP unfinished
    overlap_recalled: int = 0  # rejections certified from an earlier common pair's points
    overlap_recall_tried: int = 0  # ... attempts (the others go on to the LP)
    lp_undecided: int = 0  # ... and left to the uncapped nearest-point solver
    lp_from_support: int = 0  # re-decisions that went straight to the LP from a kept support
    lp_continued: int = 0  # ... of which continued the pair's earlier LP (warm basis)
    lp_continued_swapped: int = 0  # ... of which with the union on that LP's Q side
    lp_restored: int = 0  # continued LPs put back as they were after a rejected merge
    lp_kept_after_rejection: int = 0  # LPs built in a rejected merge's check, kept for a part
    lp_frozen: int = 0  # kept LPs frozen (HiGHS instance given back) beyond the live bounds
    lp_thawed: int = 0  # ... and rebuilt to be continued
    heap_cleared: int = 0  # times the merge heap was cleared of stale entries
    nn_searches: int = 0  # nearest-partner searches over a whole label (pruned by lower bounds)
    nn_cached: int = 0  # new nearest partners settled by a slot's cache
    nn_exact: int = 0  # exact centroid distances computed for nearest partners
    nn_screened: int = 0  # cache lookups that screened many changed slots instead of a search
    nn_union_cached: int = 0  # unions whose partners were settled from the merged caches
    resumed_at: int = 0  # merge decisions read from a saved state (0: none); see .state
    prior_plane: int = 0  # checks settled by a plane of a series' previous fit (prior.SeriesPrior)
    prior_overlap: int = 0  # ... and overlaps certified where the previous fit's hulls met
    prior_rejected: int = 0  # ... candidates that did not hold on this fit's points
    seconds: dict = field(default_factory=dict)

    def add(self, other: ClusterStats) -> None:
        """Add another run's counters (and seconds) to these (work done in another process)."""
        for name, value in vars(other).items():
            if name == "seconds":
                for k, v in value.items():
                    self.seconds[k] = self.seconds.get(k, 0.0) + v
            else:
                setattr(self, name, getattr(self, name) + value)


def scale_data(X: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale by a power of two near 1/RMS norm of the centred data; return (Xs, unit).

    A power of two is exact in float64, so centroid distances keep their exact order and ties
    (the merge order is the same as on the raw data); ``unit`` is the RMS norm of the centred,
    scaled data, the length that ``tol`` is relative to.
    """
    X = np.asarray(X, dtype=np.float64)
    c = X - X.mean(0)
    rms = float(np.sqrt(np.mean(np.einsum("ij,ij->i", c, c)))) if len(X) else 0.0
    if not np.isfinite(rms) or rms == 0.0:
        return X.copy(), 1.0
    f = 2.0 ** -round(np.log2(rms))
    return X * f, rms * f


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
    then goes to the max-margin LP with constraint generation (separability.decide_distance),
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
        r = nearest_points(P, Q, stop_above=tol, stop_below=tol, direction=direction, max_iter=cap)
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
                           start=None if lp_first else r.start)
    verdict = _nearest_verdict(P, Q, r, tol, stats)
    if corral_out is not None and verdict is not None and not verdict[0] and r.distance <= tol:
        corral_out.append((r.corral_p, r.corral_q))
    if verdict is None:
        # The nearest-point solver stalled numerically (its best vertex already in the corral,
        # or no progress in float64), which depends on where it started: once more from
        # scratch, from the centroids' direction. A pair at ~1.0002 tol was seen to stall from
        # one start and be certified disjoint from another.
        r = nearest_points(P, Q, stop_above=tol, stop_below=tol)
        verdict = _nearest_verdict(P, Q, r, tol, stats)
    if verdict is not None:
        return (*verdict, None)
    # Still stalled: NNLS on working sets (a finite active-set method) from where Wolfe ended.
    verdict = nnls_decide(P, Q, tol, r.corral_p, r.corral_q, direction=r.x,
                          max_points=tuning.probe_points)
    if verdict is not None:
        if stats is not None:
            stats.stall_nnls += 1
        return (*verdict, None)
    # Only within float noise of tol: the soft-margin LP (whose tolerance band is documented).
    if stats is not None:
        stats.lp_fallback += 1
    res = separate(P, Q)
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


def find_frozen(Xs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Rows whose exact vector also occurs with another label (they overlap from the start)."""
    _, inv = np.unique(Xs, axis=0, return_inverse=True)
    inv = inv.ravel()
    order = np.lexsort((y, inv))
    g, lab = inv[order], y[order]
    first = np.r_[True, g[1:] != g[:-1]]
    start = np.flatnonzero(first)
    # A group is mixed if its first and last labels differ (labels sorted within the group).
    end = np.r_[start[1:], len(g)] - 1
    mixed_groups = g[start][lab[start] != lab[end]]
    return np.isin(inv, mixed_groups)


def _fisher_direction(Xs, groups, cent, covs, a, b) -> np.ndarray:
    """The two labels' Fisher direction (a on the high side): a cheap certificate's candidate."""
    for k in (a, b):
        if k not in covs:
            Z = Xs[groups[k]]
            covs[k] = np.atleast_2d(np.cov(Z.T)) if len(Z) > 1 else np.zeros((Xs.shape[1],) * 2)
    S = covs[a] + covs[b]
    S = S + np.eye(len(S)) * (1e-3 * max(np.trace(S) / len(S), 1e-12))
    return np.linalg.solve(S, cent[a] - cent[b])


def _pooled_fisher(Xs, y, cent, pairs) -> dict:
    """Fisher directions of every label pair under one pooled within-label covariance.

    One factorisation and one multi-right-hand-side solve for all pairs, instead of a solve per
    pair: a cheap first certificate (verified exactly on the points, so it never changes the
    answer); pairs it does not separate fall through to the per-pair Fisher direction and the LP.
    """
    if not pairs:
        return {}
    resid = Xs - cent[y]
    S = resid.T @ resid / max(len(Xs) - 1, 1)
    S[np.diag_indices_from(S)] += 1e-3 * max(np.trace(S) / len(S), 1e-12)
    diffs = np.stack([cent[a] - cent[b] for a, b in pairs], axis=1)
    try:
        W = scipy.linalg.cho_solve(scipy.linalg.cho_factor(S), diffs)
    except np.linalg.LinAlgError:
        return {pair: None for pair in pairs}
    return {pair: W[:, i] for i, pair in enumerate(pairs)}


def _projections_separate(Xs, groups, a, b, w, tol) -> bool:
    """Exact check that direction ``w`` strictly separates labels ``a`` and ``b``."""
    if w is None:
        return False
    nw = np.linalg.norm(w)
    if not np.isfinite(nw) or nw == 0:
        return False
    w = w / nw
    return bool((Xs[groups[a]] @ w).min() > (Xs[groups[b]] @ w).max() + tol)


def label_conflicts(Xs, y, n_labels, tol, stats, progress=None, jobs=1,
                    tuning: Tuning = DEFAULT_TUNING, prior: PriorIndex | None = None,
                    recorder: PriorRecorder | None = None):
    """Which label pairs have meeting hulls (all points of each label taken together).

    The pairs are independent: with ``jobs`` > 1 they are tested in that many forked
    processes (sharing ``Xs`` copy-on-write), the largest pairs first; the answer is the same.
    ``prior``: a series' previous fit's planes and overlaps, tried first (verified here);
    ``recorder``: keeps this fit's, for the next.
    """
    conflict = np.zeros((n_labels, n_labels), bool)
    groups = [np.flatnonzero(y == k) for k in range(n_labels)]
    cent = np.stack([Xs[g].mean(0) if len(g) else np.zeros(Xs.shape[1]) for g in groups])
    rad = np.array([
        np.sqrt(np.einsum("ij,ij->i", Xs[g] - cent[k], Xs[g] - cent[k]).max()) if len(g) else 0.0
        for k, g in enumerate(groups)
    ])
    pairs = [(a, b) for a in range(n_labels) for b in range(a + 1, n_labels)
             if len(groups[a]) and len(groups[b])]
    ctx = {"Xs": Xs, "groups": groups, "cent": cent, "rad": rad, "tol": tol, "covs": {},
           "tuning": tuning, "prior": prior,
           "pooled": _pooled_fisher(Xs, y, cent, pairs)}

    def record(a, b, plane, witness):
        if recorder is not None:
            if plane is not None:
                recorder.label_plane(a, b, plane)
            if witness is not None:
                recorder.label_witness[(a, b)] = witness
    jobs = min(int(jobs), len(pairs))
    if jobs > 1 and "fork" in mp.get_all_start_methods():
        pairs.sort(key=lambda p: -len(groups[p[0]]) * len(groups[p[1]]))
        _PAIR_CTX.update(ctx)  # inherited by the forked workers, never pickled
        try:
            with ProcessPoolExecutor(jobs, mp_context=mp.get_context("fork")) as pool:
                futures = [pool.submit(_label_pair_job, a, b) for a, b in pairs]
                for fut in as_completed(futures):
                    a, b, (meet, plane, witness), part = fut.result()
                    stats.add(part)
                    conflict[a, b] = conflict[b, a] = meet
                    record(a, b, plane, witness)
                    if progress is not None:
                        progress(1)
        finally:
            _PAIR_CTX.clear()
        return conflict
    for a, b in pairs:
        meet, plane, witness = _label_pair_meets(ctx, a, b, stats)
        conflict[a, b] = conflict[b, a] = meet
        record(a, b, plane, witness)
        if progress is not None:
            progress(1)
    return conflict


_PAIR_CTX: dict = {}  # the label-pair phase's data, for forked workers


def _label_pair_job(a, b):
    part = ClusterStats()
    return a, b, _label_pair_meets(_PAIR_CTX, a, b, part), part


def _label_pair_meets(ctx, a, b, stats):
    """(meet, plane, witness): True if the hulls of labels a and b meet, certificates first
    (a series' previous planes and overlaps, then Fisher directions), then the exact test;
    with the separating direction (a on the high side) or the rows (of a, of b) of a common
    pair where one was found, for the next fit of a series."""
    Xs, groups, cent, rad, tol = ctx["Xs"], ctx["groups"], ctx["cent"], ctx["rad"], ctx["tol"]
    stats.label_pair_tests += 1
    if np.linalg.norm(cent[a] - cent[b]) > rad[a] + rad[b] + tol:
        stats.ball_full += 1
        return False, None, None
    prior = ctx["prior"]
    if prior is not None:
        w = prior.label_plane(a, b)
        if w is not None:
            ok = _projections_separate(Xs, groups, a, b, w, tol)
            prior.used(ok)
            if ok:
                return False, w, None
        met = prior.label_witness(a, b, groups[a], groups[b], Xs[groups[a]], Xs[groups[b]])
        if met is not None:
            stats.label_pairs_overlapping += 1
            return True, None, met
    w = ctx["pooled"][(a, b)]
    if not _projections_separate(Xs, groups, a, b, w, tol):
        w = _fisher_direction(Xs, groups, cent, ctx["covs"], a, b)
        if not _projections_separate(Xs, groups, a, b, w, tol):
            w = None
    if w is not None:
        stats.slab += 1
        return False, w, None
    ok, h, dec = hulls_disjoint(Xs[groups[a]], Xs[groups[b]], tol, stats, tuning=ctx["tuning"])
    if ok:
        return False, h[0], None
    stats.label_pairs_overlapping += 1
    witness = None
    if dec is not None and dec.support_p is not None and dec.support_q is not None:
        witness = (groups[a][dec.support_p], groups[b][dec.support_q])
    return True, None, witness


def _directions(Xs, y, eng_rows, rows_by_label, conflict, proj_dims):
    """Unit directions for cheap certificates: PCA axes and one Fisher direction per
    conflicting label pair. Returns (PCA basis for projected spheres, slab directions, the
    column of each conflicting pair's Fisher direction)."""
    sub = Xs[eng_rows]
    cov = np.cov(sub[:50000].T) if len(sub) > 1 else np.eye(Xs.shape[1])
    cov = np.atleast_2d(cov)
    _, vec = np.linalg.eigh(cov)
    k = min(proj_dims, Xs.shape[1])
    pca = vec[:, ::-1][:, :k].copy()  # orthonormal: the projection is 1-Lipschitz
    dirs = [pca]
    first = {}  # conflicting label pair (a < b) -> column of its Fisher direction
    labels = sorted(rows_by_label)
    stats = {}
    for lab in labels:
        Z = Xs[rows_by_label[lab]]
        c = np.atleast_2d(np.cov(Z.T)) if len(Z) > 1 else np.zeros((Xs.shape[1],) * 2)
        stats[lab] = (Z.mean(0), c)
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            if not conflict[a, b]:
                continue
            (ma, ca), (mb, cb) = stats[a], stats[b]
            S = ca + cb
            S[np.diag_indices_from(S)] += 1e-3 * max(np.trace(S) / len(S), 1e-12)
            w = np.linalg.solve(S, ma - mb)
            nw = np.linalg.norm(w)
            if nw > 0:
                first[a, b] = k + len(dirs) - 1
                dirs.append((w / nw)[:, None])
    return pca, np.hstack(dirs), first


class MergeEngine:
    """The checked centroid-linkage process over the labels that have conflicts.

    May assume: ``Xs`` is scaled (``scale_data``) and ``tol`` is in its units; ``conflict``
    holds exactly the label pairs whose hulls meet; ``frozen`` rows share their point with
    another label. Guarantees: the decisions of the definition (docs/directprobe.md), in its
    order, every one certified (a verified plane or two hull points within tol); none depends
    on ``tuning`` or ``jobs``. Its parts: the slots of each label (``L``, slots.LabelSlots),
    the nearest-partner caches and the heap (the merge order), cluster membership
    (``members``), what checks leave for later (``certs``, certificates.Certificates), and the
    checks themselves (``check_union``, with ``hulls_disjoint``). Its public steps
    (``start``, ``loop``, ``decide``, ``check_union``) are where tests watch it."""

    def __init__(self, Xs, y, rows_by_label, conflict, frozen, tol, stats, progress, jobs=1,
                 tuning: Tuning = DEFAULT_TUNING, prior: PriorIndex | None = None,
                 recorder: PriorRecorder | None = None):
        self.X = Xs
        self.prior = prior  # a series' previous fit: candidate planes and overlaps (verified)
        self.recorder = recorder  # ... and this fit's, for the next
        self.tuning = tuning
        self.jobs = max(1, int(jobs))  # BLAS threads for the initial searches' products
        self.y = y
        self.tol = tol
        self.stats = stats
        self.progress = progress
        self.conflict = conflict
        self.labels = sorted(rows_by_label)
        n = len(Xs)
        self.frozen = frozen
        # Global cluster id = representative row (smallest row index in the cluster).
        self.loc = np.full(n, -1, np.int64)  # row -> slot within its label
        self.L: dict[int, LabelSlots] = {}  # label -> its clusters
        eng_rows = np.concatenate([rows_by_label[k] for k in self.labels])
        self.proj, self.slab_dirs, self.first_dir = _directions(Xs, y, eng_rows, rows_by_label,
                                                                conflict, tuning.proj_dims)
        # Projected distances bound centroid distances from below only if proj is orthonormal:
        # ||P'x||^2 <= (1 + k max|P'P - I|) ||x||^2, and _BAND covers a defect up to 1e-12.
        k = self.proj.shape[1]
        self.lb_ok = bool(k * np.abs(self.proj.T @ self.proj - np.eye(k)).max() <= 1e-12)
        # Norm expansions are screened in float32 (half the memory traffic of the float64 pass).
        # Rounding the centroids to float32 and a float32 dot product of D terms are off by at
        # most ((D + 2) u + O(u^2)) |a||b| <= that * (sq_a + sq_b) / 2 with u = 2^-24, for any
        # summation order; the expansion doubles it. This bound is subtracted from each screen.
        self.f32_rel = (Xs.shape[1] + 3) * 2.0**-24
        for lab in self.labels:
            rows = np.sort(rows_by_label[lab])
            self.loc[rows] = np.arange(len(rows))
            self.L[lab] = LabelSlots.singletons(Xs, rows, frozen, self.proj, self.slab_dirs,
                                                tuning.nn_cache)
        self.members: dict[int, list[np.ndarray]] = {}
        self.rej: dict[int, set[int]] = {}
        self.certs = Certificates(Xs.shape[1], tuning, stats)  # what checks leave for later
        self.certs.recorder = recorder  # overlaps found, for the next fit of a series
        self.heap: list = []
        self.heap_cap = tuning.heap_min  # see clear_heap

    # -- members -----------------------------------------------------------------------------
    def points(self, cid: int) -> np.ndarray:
        m = self.members.get(cid)
        if m is None:
            return self.X[cid : cid + 1]
        if len(m) > 1:
            m[:] = [np.concatenate(m)]
        return self.X[m[0]]

    def member_rows(self, cid: int) -> np.ndarray:
        m = self.members.get(cid)
        if m is None:
            return np.array([cid])
        if len(m) > 1:
            m[:] = [np.concatenate(m)]
        return m[0]

    # -- nearest-neighbour bookkeeping -------------------------------------------------------
    # Every nearest partner is exact: the partner p of slot s minimises the exact squared
    # distance e(s, p) (the sum of squares of the difference of the two centroids, always with
    # the same row-wise einsum, which is symmetric and independent of the batch it is computed
    # in) over the valid partners (candidates of the label other than s, not rejected with s),
    # ties to the smaller slot. Cheaper quantities only bound e from below, with a margin
    # ``_BAND * (sq_s + sq_p)`` far above their rounding error, to decide which e to compute:
    # - the norm expansion sq_s + sq_p - 2 c_s.c_p (a matrix product);
    # - the distance of the centroids' projections ``pc`` on the orthonormal PCA basis
    #   (``proj``): ||P'(c_s - c_p)|| <= ||c_s - c_p||, 16 instead of D dimensions;
    # - a slot's cache of its K nearest valid partners (slots and exact e, ordered by (e, slot))
    #   from its last full search at label time ``kt``: an unchanged slot outside the cache has
    #   (e, slot) after the cache's K-th entry, and validity of unchanged pairs only ever gets
    #   lost (rejections grow, candidates die), so the best of the valid unchanged cache
    #   entries and of the slots changed since ``kt`` (re-measured) is exact whenever it comes
    #   before the K-th entry (always, if the search found at most K valid partners).
    def _exact(self, cent: np.ndarray, idx: np.ndarray, c: np.ndarray) -> np.ndarray:
        self.stats.nn_exact += len(idx)
        diff = cent[idx] - c
        return np.einsum("ij,ij->i", diff, diff)

    def _partners(self, D: LabelSlots, s: int) -> np.ndarray:
        """Mask of the valid partners of slot s."""
        ok = D.cand.copy()
        ok[s] = False
        rj = self.rej.get(int(D.rows[s]))
        if rj:
            ok[self.loc[np.fromiter(rj, np.int64, len(rj))]] = False
        return ok

    def _nn(self, lab: int, s: int) -> None:
        self._renn(lab, [s])

    def _renn(self, lab: int, slots) -> None:
        """New nearest partners of ``slots`` (their cache when it decides, else a search)."""
        D = self.L[lab]
        rows, kt = D.rows, D.kt
        batch, single = [], []
        for s in slots:
            s = int(s)
            (single if kt[s] < 0 or self.rej.get(int(rows[s])) else batch).append(s)
        if len(batch) > 1:
            single.extend(self._lookup_batch(lab, np.array(batch)))
        else:
            single.extend(batch)
        for s in single:
            if self._lookup(lab, s):
                self.stats.nn_cached += 1
            else:
                self._search(lab, s)

    def _set_partner(self, lab: int, s: int, p: int, e: float) -> None:
        """Slot s's nearest partner is now p at exact squared distance e (p < 0: none); its
        older heap entries become stale and a new one is pushed."""
        D = self.L[lab]
        D.ver[s] += 1
        if p < 0:
            D.nn[s] = -1
            D.nnd[s] = np.inf
            return
        D.nn[s] = p
        D.nnd[s] = e
        self._push(lab, s)

    def _store(self, lab: int, s: int, idx: np.ndarray, e: np.ndarray, n_valid: int) -> None:
        """Set slot s's nearest partner and cache from exact distances ``e`` of slots ``idx``,
        which hold the K first valid partners by (e, slot) (all ``n_valid`` of them if fewer)."""
        D = self.L[lab]
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
            D.kthd[s], D.kths[s] = np.inf, _NO_SLOT
        self._set_partner(lab, s, int(ks[0]), kd[0])  # unfilled entries are (-1, inf)

    def _lookup(self, lab: int, s: int) -> bool:
        """Nearest partner of s from its cache and the slots changed since; False if undecided."""
        D = self.L[lab]
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
        rj = self.rej.get(int(D.rows[s]))
        if rj:
            rs = self.loc[np.fromiter(rj, np.int64, len(rj))]
            m = ~np.isin(ks, rs)
            ks, kd = ks[m], kd[m]
            ch = ch[~np.isin(ch, rs)]
        if many:
            # Too many changed slots to measure them all: screen them with the float32 norm
            # expansion (a lower bound up to the band, see _norm_bound) and measure only those
            # that may come before the K-th entry.
            lb = self._norm_bound(D, s, ch)
            ch = ch[lb <= kthd + _BAND * (D.sq[ch] + D.sq[s]) + 1e-300]
            self.stats.nn_screened += 1
        if len(ch):
            ks = np.concatenate([ks, ch])
            kd = np.concatenate([kd, self._exact(D.cent, ch, D.cent[s])])
        m = (kd < kthd) | ((kd == kthd) & (ks < kths))  # before the K-th: exact
        if not m.any() and kthd != np.inf:
            return False
        ks, kd = ks[m], kd[m]
        order = np.lexsort((ks, kd))[: self.tuning.nn_cache]
        self._refresh(D, s, ks[order], kd[order], len(ks))
        if len(order) == 0:
            self._set_partner(lab, s, -1, np.inf)
        else:
            self._set_partner(lab, s, ks[order[0]], kd[order[0]])
        return True

    def _refresh(self, D: LabelSlots, s, ks: np.ndarray, kd: np.ndarray, n_before) -> None:
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

    def _lookup_batch(self, lab: int, S: np.ndarray) -> list:
        """_lookup of several slots at once (slots with a cache and no rejections); returns
        the slots it leaves undecided."""
        D = self.L[lab]
        K = self.tuning.nn_cache
        cand, chg = D.cand, D.chg
        kt = D.kt[S]
        ks = D.kslot[S]
        ksc = np.where(ks >= 0, ks, 0)
        good = (ks >= 0) & cand[ksc] & (chg[ksc] <= kt[:, None])
        E = np.where(good, D.kd[S], np.inf)
        P = np.where(good, ks, _NO_SLOT)
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
                P = np.concatenate([P, np.where(M, ch[None, :], _NO_SLOT)], axis=1)
        kthd, kths = D.kthd[S][:, None], D.kths[S][:, None]
        before = (E < kthd) | ((E == kthd) & (P < kths))  # exact (never true for fillers)
        nb = before.sum(1)
        ok = ~undecided & ((nb > 0) | (kthd[:, 0] == np.inf))
        if not ok.any():
            return S.tolist()
        E, P, nb = np.where(before, E, np.inf)[ok], np.where(before, P, _NO_SLOT)[ok], nb[ok]
        order = np.lexsort((P, E), axis=-1)[:, :K]
        E, P = np.take_along_axis(E, order, 1), np.take_along_axis(P, order, 1)
        fill = np.arange(E.shape[1])[None, :] >= nb[:, None]
        P[fill] = -1
        Sok = S[ok]
        self._refresh(D, Sok, P, E, nb)
        self.stats.nn_cached += len(Sok)
        for s, p, e in zip(Sok.tolist(), P[:, 0].tolist(), E[:, 0].tolist(), strict=True):
            self._set_partner(lab, s, p, e)
        return S[~ok].tolist()

    def _search(self, lab: int, s: int):
        """Full search of slot s's K nearest valid partners, pruned by lower bounds.

        Returns (valid partner slots, bounds b with e >= b - band, bands, exact distances or
        NaN where not computed), for the caller's own use of the same bounds.
        """
        D = self.L[lab]
        K = self.tuning.nn_cache
        self.stats.nn_searches += 1
        cent, sq = D.cent, D.sq
        idx = np.flatnonzero(self._partners(D, s))
        nv = len(idx)
        c = cent[s]
        band = _BAND * (sq[idx] + sq[s]) + 1e-300
        if nv <= 2 * K:
            e = self._exact(cent, idx, c)
            self._store(lab, s, idx, e, nv)
            return idx, e, band, e
        gemv = not self.lb_ok
        if gemv:
            bnd = self._norm_bound(D, s)[idx]
        else:
            dp = D.pc[idx] - D.pc[s]
            bnd = np.einsum("ij,ij->i", dp, dp)
        e = np.full(nv, np.nan)
        first = np.argpartition(bnd, 2 * K - 1)[: 2 * K]
        e[first] = self._exact(cent, idx[first], c)
        tau = np.partition(e[first], K - 1)[K - 1]
        # Any slot left out has e > tau: after K computed ones.
        need = bnd <= tau + band
        need[first] = False
        if not gemv and np.count_nonzero(need) > max(2 * K, len(sq) // 16):
            # The projection prunes too little here: the norm expansion (one pass) as well.
            approx = self._norm_bound(D, s)[idx]
            bnd = np.maximum(bnd, approx)
            need &= approx <= tau + band
        more = np.flatnonzero(need)
        if len(more):
            e[more] = self._exact(cent, idx[more], c)
        done = ~np.isnan(e)
        self._store(lab, s, idx[done], e[done], nv)
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
        D = self.L[lab]
        K = self.tuning.nn_cache
        ok = self._partners(D, u)
        idx = np.flatnonzero(ok)
        nv = len(idx)
        if nv <= 2 * K:
            return None  # a full search is as cheap
        cent, sq, chg = D.cent, D.sq, D.chg
        band = _BAND * (sq[idx] + sq[u]) + 1e-300
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
        ec = self._exact(cent, cands, cent[u])
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
        self._refresh(D, u, cs[:k], ce[:k], n_before)  # sets the K-th entry when n_before >= K
        if n_before < K:
            D.kthd[u], D.kths[u] = (np.inf, _NO_SLOT) if lim2 == np.inf else (lim2, -1)
        self._set_partner(lab, u, int(cs[0]), ce[0])
        self.stats.nn_union_cached += 1
        return idx, bnd, band, e

    def _norm_bound(self, D: LabelSlots, s: int, idx: np.ndarray | None = None) -> np.ndarray:
        """For every slot p (or the slots ``idx``), a lower bound of e(s, p) up to the float64
        band: the norm expansion over the float32 centroids minus its rounding bound (see
        ``f32_rel``)."""
        sq, c32 = (D.sq, D.c32) if idx is None else (D.sq[idx], D.c32[idx])
        sqs = sq + D.sq[s]
        dot = (c32 @ D.c32[s]).astype(np.float64)
        return (sqs - 2.0 * dot) - self.f32_rel * sqs

    def _search_batch(self, lab: int, slots: np.ndarray) -> None:
        """Full searches of many slots: one matrix product per block for the norm expansion."""
        D = self.L[lab]
        K = self.tuning.nn_cache
        if len(slots) == 0:
            return
        ok = D.cand
        cent, sq = D.cent, D.sq
        n = len(sq)
        if not ok.any():
            for s in slots.tolist():
                self._store(lab, s, slots[:0], np.zeros(0), 0)
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
                rj = self.rej.get(int(D.rows[s]))
                if rj:
                    row[self.loc[np.fromiter(rj, np.int64, len(rj))]] = np.inf
                nv = int(np.count_nonzero(row < np.inf))
                if nv <= K:
                    idx = np.flatnonzero(row < np.inf)
                else:
                    # the K-th exact distance is at most the K-th screen plus the error; any
                    # slot within twice the error (and the float64 band) of it is measured
                    mk = np.partition(row, K - 1)[K - 1]
                    slack = (2.0 * self.f32_rel + _BAND) * (sq[s] + sqmax) + 1e-300
                    idx = np.flatnonzero(row <= mk + slack)
                self._store(lab, s, idx, self._exact(cent, idx, cent[s]), nv)

    def _push(self, lab: int, s: int) -> None:
        D = self.L[lab]
        a = int(D.rows[s])
        b = int(D.rows[D.nn[s]])
        heapq.heappush(self.heap, (float(D.nnd[s]), min(a, b), max(a, b), lab, s,
                                   int(D.ver[s])))

    # -- checks ------------------------------------------------------------------------------
    def _refresh_radius(self, lab: int, s: int) -> None:
        D = self.L[lab]
        if D.exact[s]:
            return
        P = self.points(int(D.rows[s]))
        diff = P - D.cent[s]
        D.rad[s] = np.sqrt(np.einsum("ij,ij->i", diff, diff).max())
        pd = diff @ self.proj
        D.prad[s] = np.sqrt(np.einsum("ij,ij->i", pd, pd).max())
        D.exact[s] = True

    def _union_rows(self, a: int, b: int) -> np.ndarray:
        """Rows of the union of clusters a and b, a's first (the order of its points)."""
        return np.concatenate([self.member_rows(a), self.member_rows(b)])

    def check_union(self, lab, sa, sb, cU, pcU, radU, pradU, exactU, loU, hiU):
        """Is the union of slots sa, sb (label lab) disjoint from every conflicting cluster?

        Two passes: the cheap certificates (slabs, spheres, cached planes) over every label,
        then the solvers on the clusters left, those that met a union of either part before
        first (``witness``), so that a merge headed for rejection meets its cluster early.
        Returns (ok, new_planes, radii) where new_planes maps other cluster id -> (oriented
        plane, support rows or None).
        """
        D = self.L[lab]
        a, b = int(D.rows[sa]), int(D.rows[sb])
        tol = self.tol
        new_planes = {}
        U = None
        rest_pts = {}  # each part's points, gathered once for all cached-plane checks
        continued = []  # LPs taken over from the parts' pairs, with their state before
        built = []  # LPs built from scratch in this check: (cluster, decision, union's rows)
        pending = []  # (label, slot, starting direction) left to the solvers
        for other in self.labels:
            if other == lab or not self.conflict[lab, other]:
                continue
            M = self.L[other]
            # Slabs: separated projections on one unit direction prove hull distance > tol.
            # The pair's Fisher direction alone separates most clusters: one pass over it, then
            # every direction on the few left (the same set as every direction on all).
            alive, lo, hi = M.alive, M.lo, M.hi
            j = self.first_dir.get((min(lab, other), max(lab, other)), 0)
            idx = np.flatnonzero(alive & (lo[j] <= hiU[j] + tol) & (hi[j] >= loU[j] - tol))
            if len(idx):
                sep = ((lo[:, idx] > (hiU + tol)[:, None]) | (hi[:, idx] < (loU - tol)[:, None])).any(0)
                idx = idx[~sep]
            self.stats.slab += int(np.count_nonzero(alive)) - len(idx)
            if len(idx) == 0:
                continue
            dp = np.sqrt(np.einsum("ij,ij->i", M.pc[idx] - pcU, M.pc[idx] - pcU))
            keep = dp <= M.prad[idx] + pradU + tol
            self.stats.ball_proj += int((~keep).sum())
            idx = idx[keep]
            if len(idx) == 0:
                continue
            diff = M.cent[idx] - cU
            df = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            keep = df <= M.rad[idx] + radU + tol
            self.stats.ball_full += int((~keep).sum())
            idx, df = idx[keep], df[keep]
            ts = idx[np.argsort(df, kind="stable")]
            # Cached planes from either part, verified on the other part's points only.
            passed, hints = self._cached_planes(a, b, M.rows[ts], new_planes, rest_pts)
            left = np.flatnonzero(~passed).tolist()
            pending += [(other, t, hints[i]) for t, i in zip(ts[left].tolist(), left, strict=True)]
        if pending:
            # Clusters that met a union of either part before come first: a merge that ends
            # rejected then costs one solver check instead of the separations before it (the
            # answer does not depend on the order; every check is exact).
            met = self.certs.witness.get(a, set()) | self.certs.witness.get(b, set())
            if met:
                pending.sort(key=lambda e: int(self.L[e[0]].rows[e[1]]) not in met)
        for other, t, hint in pending:
            M = self.L[other]
            cj = int(M.rows[t])
            if not M.exact[t] or not exactU:
                # Tighter spheres before any solver call.
                self._refresh_radius(other, t)
                if not exactU:
                    U = np.concatenate([self.points(a), self.points(b)])
                    dU = U - cU
                    radU = float(np.sqrt(np.einsum("ij,ij->i", dU, dU).max()))
                    pd = dU @ self.proj
                    pradU = float(np.sqrt(np.einsum("ij,ij->i", pd, pd).max()))
                    exactU = True
                if np.linalg.norm(M.cent[t] - cU) > M.rad[t] + radU + tol:
                    self.stats.ball_full += 1
                    continue
            if U is None:
                U = np.concatenate([self.points(a), self.points(b)])
            C = self.points(cj)
            if self.prior is not None:
                # A series' previous fit: its plane of these rows' clusters, verified on the
                # points; else where its hulls met, an explicit common pair within tol.
                h = self.prior.plane(U, C, self._union_rows(a, b), self.member_rows(cj))
                if h is not None:
                    new_planes[cj] = (h, None, None)
                    self._note_plane(a, b, cj, h)
                    continue
                met = self.prior.overlap(U, C, self._union_rows(a, b), self.member_rows(cj))
                if met is not None:
                    self.certs.keep_overlap_rows(a, b, cj, *met)
                    self.certs.met(a, b, cj, continued)
                    self.certs.keep_part_lps(a, b, built, self.member_rows)
                    return False, None, (radU, pradU, exactU)
            # The kept LP of the first part that has one against cj (None: neither has).
            kept = next(((part, st) for part in (a, b)
                         if (st := self.certs.lp_of(part, cj)) is not None), None)
            tn = self.tuning
            if (tn.turn_kept_planes or tn.subspace_planes) and kept is not None \
                    and kept[1][0].optimum is not None:
                # Its optimum turned to take in the other part, else an LP over a few
                # directions (the optimum's normal, the points it now fails worst): a verified
                # plane, and the LP goes on to the union unchanged, as a cached plane's.
                part, st = kept
                t0, w0, b0 = st[0].optimum
                sgn = 1.0 if st[2] else -1.0  # the part on the optimum's high side
                h, how = None, "pivoted_plane"
                if tn.turn_kept_planes:
                    h = pivoted_plane(U, C, sgn * w0, sgn * b0, t0, tol)
                if h is None and tn.subspace_planes:
                    h, how = subspace_plane(U, C, sgn * w0, tol), "subspace_plane"
                if h is not None:
                    new_planes[cj] = (h, self.certs.support_of(part, cj), st)
                    self._note_plane(a, b, cj, h)
                    setattr(self.stats, how, getattr(self.stats, how) + 1)
                    continue
            if tn.recall_overlaps and kept is not None and self.recalled_overlap(a, b, cj, U, C):
                self.certs.met(a, b, cj, continued)
                self.certs.keep_part_lps(a, b, built, self.member_rows)
                return False, None, (radU, pradU, exactU)
            # A plane that failed still points roughly the right way: start the solver there;
            # a pair that needed the LP before goes straight to it, from its old support.
            urows, crows = None, self.member_rows(cj)
            seeds = None
            warm = None
            flip = False  # the continued LP has the other cluster on its P side
            old = [x for x in (self.certs.support_of(a, cj), self.certs.support_of(b, cj)) if x is not None]
            if old:
                urows = self._union_rows(a, b)
                sup = np.concatenate(old)
                seeds = (np.flatnonzero(np.isin(urows, sup)), np.flatnonzero(np.isin(crows, sup)))
                if kept is not None:
                    # This LP is continued (and changed): no other pair may hold it. If the
                    # merge is rejected, it is put back as it was (see _restore_lps).
                    part, st = kept
                    key = (part, cj) if part < cj else (cj, part)
                    entry = self.certs.lp_pop(key)
                    self.stats.lp_thawed += st[0].frozen  # decide_distance rebuilds it
                    continued.append((key, entry, st[0].num_rows, st[0].checkpoint()))
                    model, blocks, flip = st[0], st[1], not st[2]
                    warm = (model, _local_blocks(blocks, crows, urows) if flip
                            else _local_blocks(blocks, urows, crows))
            if seeds is not None and warm is None and tn.seed_piece:
                # A cold LP from a support: the piece the union adds is what may break it,
                # so small pieces' points join the first working set (only its rows differ).
                na, nb = len(self.member_rows(a)), len(self.member_rows(b))
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
                ok, h, dec = hulls_disjoint(C, U, tol, self.stats,
                                            direction=None if hint is None else -hint,
                                            support=seeds[::-1], lp_first=True, warm=warm,
                                            tuning=tn, corral_out=corral)
                if ok:
                    h = (-h[0], -h[2], -h[1])
            else:
                ok, h, dec = hulls_disjoint(U, C, tol, self.stats, direction=hint,
                                            support=seeds, lp_first=seeds is not None, warm=warm,
                                            tuning=tn, corral_out=corral)
            if dec is not None and dec.lp is not None and warm is None:
                if urows is None:
                    urows = self._union_rows(a, b)
                built.append((cj, dec, urows))
            if not ok:
                if corral:  # the nearest-point solver's meeting corral, for the next fit of a series
                    if urows is None:
                        urows = self._union_rows(a, b)
                    cp, cq = corral[-1]
                    self.recorder.overlap(*((urows[cq], crows[cp]) if flip else (urows[cp], crows[cq])))
                if tn.recall_overlaps and dec is not None and dec.support_p is not None:
                    if urows is None:
                        urows = self._union_rows(a, b)
                    self.certs.keep_overlap_rows(a, b, cj, *_common_rows(dec, flip, urows, crows))
                self.certs.met(a, b, cj, continued)
                if dec is not None and seeds is None:
                    # decided by the LP after the nearest-point solver hit its cap
                    self.certs.keep_overlap_support(a, b, cj, dec, flip, urows, crows, self.member_rows)
                self.certs.keep_part_lps(a, b, built, self.member_rows)
                return False, None, (radU, pradU, exactU)
            rows = lp = None
            if dec is not None:
                if urows is None:
                    urows = self._union_rows(a, b)
                rows = np.concatenate(_common_rows(dec, flip, urows, crows))
                if dec.lp is not None:
                    prow, qrow = (crows, urows) if flip else (urows, crows)
                    lp = (dec.lp, [(prow[blk] if onp else qrow[blk], onp) for blk, onp in dec.blocks],
                          not flip)
            new_planes[cj] = (h, rows, lp)
            self._note_plane(a, b, cj, h)
        return True, new_planes, (radU, pradU, exactU)

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
                R = rest_pts[rest] = self.points(rest)
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
        overlaps without thawing and running the pair's LP (~0.3 s). A common pair within tol
        (checked in L2, like any) is the certificate; else the LP decides as always."""
        wa, wb = self.certs.overlap_rows.get(a, {}).get(cj), self.certs.overlap_rows.get(b, {}).get(cj)
        if wa is None and wb is None:
            return False
        ra, rb = self.member_rows(a), self.member_rows(b)
        if min(len(ra), len(rb)) > self.tuning.recall_piece:
            return False
        urows, crows = self._union_rows(a, b), self.member_rows(cj)
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

    # -- main loop ---------------------------------------------------------------------------
    def run(self) -> None:
        self.start()
        self.loop()

    def start(self) -> None:
        """Every candidate's first nearest-partner search (before the first decision)."""
        # The initial searches are large matrix products, the one part of the merge phase that
        # spreads over threads; the sequence of merges itself is one process.
        with _blas_threads(self.jobs):
            for lab in self.labels:
                D = self.L[lab]
                cand = np.flatnonzero(D.cand)
                if len(cand) >= 2:
                    t0 = time.perf_counter()
                    self._search_batch(lab, cand)
                    self._tick("neighbours_start", t0)

    def loop(self) -> None:
        """The merge decisions, in the global order, until no candidate pair is left."""
        while self.heap:
            if len(self.heap) > self.heap_cap:
                self.clear_heap()
            d2, _lo, _hi, lab, s, ver = heapq.heappop(self.heap)
            D = self.L[lab]
            if not D.cand[s] or D.ver[s] != ver:
                continue
            t = int(D.nn[s])
            if t < 0:
                continue
            a, b = int(D.rows[s]), int(D.rows[t])
            if b in self.rej.get(a, ()):  # cannot happen (NN skips rejected); keep it safe
                self._nn(lab, s)
                continue
            self.decide(lab, s, t)
            if self.progress is not None:
                self.progress(1)

    def clear_heap(self) -> None:
        """Drop the heap's stale entries (older versions of a slot's entry, dead slots).

        Every change of a slot's partner or distance pushes a new entry and leaves the old one
        to be skipped when popped; a big cluster that many slots point at re-pushes them all at
        each of its merges, so late in a big run stale entries outnumber valid ones ~30 to 1
        (3.4 million tuples, most of a GiB, at 70k decisions of the full EWT set). The valid
        entries are exactly those the loop would not skip, and pops take the smallest tuple, so
        clearing the rest changes no decision.
        """
        H = self.heap
        lab = np.fromiter((e[3] for e in H), np.int64, len(H))
        slot = np.fromiter((e[4] for e in H), np.int64, len(H))
        ver = np.fromiter((e[5] for e in H), np.int64, len(H))
        keep = np.zeros(len(H), bool)
        for k in np.unique(lab).tolist():
            m = lab == k
            D = self.L[k]
            keep[m] = D.cand[slot[m]] & (D.ver[slot[m]] == ver[m])
        self.heap = [H[i] for i in np.flatnonzero(keep).tolist()]
        heapq.heapify(self.heap)
        self.heap_cap = max(self.tuning.heap_min, self.tuning.heap_stale * len(self.heap))
        self.stats.heap_cleared += 1

    def decide(self, lab, s, t):
        """Decide the candidate pair (slots s, t of label lab): merge it if the union passes
        ``check_union``, else reject it for good; then update the merge order."""
        D = self.L[lab]
        a, b = int(D.rows[s]), int(D.rows[t])
        na, nb = D.count[s], D.count[t]
        cU = (na * D.cent[s] + nb * D.cent[t]) / (na + nb)
        pcU = cU @ self.proj
        # How far each old centroid moves to the union's: for its sphere and its caches' bounds.
        ds, dt = (float(np.linalg.norm(cU - D.cent[x])) for x in (s, t))
        radU = max(D.rad[s] + ds, D.rad[t] + dt)
        pradU = max(D.prad[s] + np.linalg.norm(pcU - D.pc[s]),
                    D.prad[t] + np.linalg.norm(pcU - D.pc[t]))
        exactU = False
        if na + nb <= 2:
            # Two points: exact radius is half their distance.
            radU = float(np.linalg.norm(D.cent[s] - D.cent[t])) * 0.5
            pradU = float(np.linalg.norm(D.pc[s] - D.pc[t])) * 0.5
            exactU = True
        loU = np.minimum(D.lo[:, s], D.lo[:, t])
        hiU = np.maximum(D.hi[:, s], D.hi[:, t])
        ok, planes, (radU, pradU, exactU) = self.check_union(lab, s, t, cU, pcU, radU, pradU, exactU,
                                                        loU, hiU)
        if not ok:
            self.stats.rejections += 1
            self.rej.setdefault(a, set()).add(b)
            self.rej.setdefault(b, set()).add(a)
            t0 = time.perf_counter()
            self._renn(lab, (s, t))
            self._tick("neighbours", t0)
            return
        self.stats.merges += 1
        keep_s, drop_s = (s, t) if a < b else (t, s)
        keep_id = min(a, b)
        # What the caches of s and t tell about the union (read before the merge changes them):
        # (slot, distance its centroid moves to the union's, its last change time).
        moved = [(s, ds, int(D.chg[s])), (t, dt, int(D.chg[t]))]
        # Members and statistics.
        ma = self.members.pop(a, None) or [np.array([a])]
        mb = self.members.pop(b, None) or [np.array([b])]
        self.members[keep_id] = ma + mb
        D.cent[keep_s] = cU
        D.c32[keep_s] = cU
        D.sq[keep_s] = float(cU @ cU)
        D.pc[keep_s] = pcU
        D.lo[:, keep_s] = loU
        D.hi[:, keep_s] = hiU
        D.count[keep_s] = na + nb
        D.rad[keep_s] = radU
        D.prad[keep_s] = pradU
        D.exact[keep_s] = exactU
        D.alive[drop_s] = False
        D.cand[drop_s] = False
        D.ver[drop_s] += 1
        D.clock += 1
        D.chg[keep_s] = D.chg[drop_s] = D.clock
        # Planes: the old ones of a and b are stale; the verified new ones replace them.
        self.certs.merged(a, b, keep_id, planes)
        # Rejections are inherited by the union.
        ra = self.rej.pop(a, set())
        rb = self.rej.pop(b, set())
        ru = (ra | rb) - {a, b}
        for r in ru:
            rr = self.rej[r]
            rr.discard(a)
            rr.discard(b)
            rr.add(keep_id)
        if ru:
            self.rej[keep_id] = ru
            self.stats.inherited_rejections += len(ru)
        # Nearest neighbours: the union's own, those that pointed at a or b, those now closer.
        t0 = time.perf_counter()
        found = self.union_from_caches(lab, keep_s, moved)
        if found is None:
            found = self._search(lab, keep_s)
        self._update_neighbours(lab, s, t, keep_s, found)
        self._tick("neighbours", t0)
        self._maybe_compact(lab)

    def _tick(self, key: str, t0: float) -> None:
        sec = self.stats.seconds
        sec[key] = sec.get(key, 0.0) + (time.perf_counter() - t0)

    def _update_neighbours(self, lab, s, t, keep_s, found) -> None:
        """After a merge into keep_s: new partners of the slots that pointed at s or t, and the
        union as the new partner of those it is now nearer to (or as near, with a smaller slot).

        ``found`` is the union's search: its valid partners (exactly the candidates other than
        the union and not rejected with it), lower bounds, bands and exact distances so far.
        """
        D = self.L[lab]
        nn = D.nn
        ok = D.cand.copy()
        ok[keep_s] = False
        pointed = np.flatnonzero(ok & ((nn == s) | (nn == t)))
        self._renn(lab, pointed.tolist())
        idx, bnd, band, e = found
        if len(idx) == 0:
            return
        nnd = D.nnd[idx]
        near = np.flatnonzero(bnd <= nnd + band)
        if len(near) == 0:
            return
        todo = near[np.isnan(e[near])]
        if len(todo):
            e[todo] = self._exact(D.cent, idx[todo], D.cent[keep_s])
        d2 = e[near]
        nnd = nnd[near]
        near = idx[near]
        cur = nn[near]
        # Closer, or equally close with a smaller representative (keep_s vs current partner).
        better = (d2 < nnd) | ((d2 == nnd) & (cur >= 0) & (keep_s < cur))
        for c, dc in zip(near[better].tolist(), d2[better].tolist(), strict=True):
            self._set_partner(lab, c, keep_s, dc)

    def _maybe_compact(self, lab: int) -> None:
        """Drop dead slots once they are half of a label's arrays (merge cost ~ live clusters).

        Slots are renumbered in the same (row) order, so the tie rule on slots is unchanged;
        the label's heap entries are rebuilt from the current nearest neighbours.
        """
        D = self.L[lab]
        n = len(D.rows)
        live = D.alive
        n_live = int(live.sum())
        if n < self.tuning.compact_min or n_live > n // 2:
            return
        D.compact()
        self.loc[D.rows] = np.arange(n_live)
        self.heap = [e for e in self.heap if e[3] != lab]
        heapq.heapify(self.heap)
        for s_ in np.flatnonzero(D.cand & (D.nn >= 0)).tolist():
            self._push(lab, s_)

    # -- saved state: each part's own arrays (the file itself: .state) ------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """The whole merge state between two decisions, as plain arrays."""
        from ftprobe.probe.directprobe.state import ragged

        arr = {"loc": self.loc, "stats": np.array(json.dumps(vars(self.stats)))}
        for lab, slots in self.L.items():
            arr.update(slots.arrays(f"L{lab}."))
        arr["members.k"], arr["members.off"], arr["members.v"] = ragged(
            {k: np.concatenate(m) for k, m in self.members.items()})
        arr["rej"] = np.array([(a, b) for a, bs in self.rej.items() for b in sorted(bs)],
                              np.int64).reshape(-1, 2)
        arr.update(self.certs.arrays())
        arr["heap.d"] = np.array([e[0] for e in self.heap], np.float64)
        arr["heap.i"] = np.array([e[1:] for e in self.heap], np.int64).reshape(-1, 5)
        return arr

    def load_state(self, z) -> None:
        """Put back what :meth:`state_arrays` saved (an engine built for the same inputs)."""
        self.loc = z["loc"]
        for lab in self.L:
            self.L[lab] = LabelSlots.from_arrays(z, f"L{lab}.")
        self.stats.__dict__.update(json.loads(str(z["stats"])))
        k, off, v = z["members.k"], z["members.off"], z["members.v"]
        self.members = {int(k[i]): [v[off[i] : off[i + 1]]] for i in range(len(k))}
        self.rej = {}
        for a, b in z["rej"].tolist():
            self.rej.setdefault(a, set()).add(b)
        self.certs.load(z)
        self.heap = [(d, *i) for d, i in zip(z["heap.d"].tolist(), z["heap.i"].tolist(), strict=True)]

    def clusters(self) -> dict[int, np.ndarray]:
        out = {}
        for lab in self.labels:
            D = self.L[lab]
            for s in np.flatnonzero(D.alive):
                cid = int(D.rows[s])
                out[cid] = self.member_rows(cid)
        return out


def directprobe_clusters(X: np.ndarray, y: np.ndarray, n_labels: int | None = None,
                         tol: float = 1e-6, progress: bool = False, jobs: int = 1,
                         state_path=None, save_every: float = 600.0,
                         tuning: Tuning = DEFAULT_TUNING, prior: SeriesPrior | None = None,
                         recorder: PriorRecorder | None = None):
    """Run the clustering; returns (cluster id per row, cluster label, linear flag, stats).

    Cluster ids are 0..C-1 in the order of each cluster's smallest row index. ``jobs``:
    processes for the label-pair phase and BLAS threads for the initial nearest-partner
    searches (the merge phase is sequential by definition). ``tuning``: the engine's caps and
    switches (:class:`.tuning.Tuning`; the answer does not depend on them).

    ``state_path``: a file where the merge phase's progress is saved (after its first searches,
    then every ``save_every`` seconds of work, between two decisions; see :mod:`.state`). If
    it exists, the fit resumes from it, skipping the label pairs and every decision already
    made, with the same result as an uninterrupted fit; a state written for other inputs is
    refused (state.StateMismatch, a ValueError). The file is left in place: the caller
    removes it once the results are safe.

    ``prior``: what the previous fit of a series proved (:mod:`.prior`), tried first in every
    check and verified there (the result is the same without it); ``recorder``: collects what
    this fit proves, for the next (its final cluster planes are added here).
    """
    from ftprobe.probe.directprobe import state as saved_state

    t0 = time.perf_counter()
    y = np.asarray(y, dtype=np.int64)
    if n_labels is None:
        n_labels = int(y.max()) + 1 if len(y) else 0
    stats = ClusterStats()
    Xs, unit = scale_data(X)
    tol = tol * unit
    index = None
    if prior is not None:
        prior.check_fits(y)
        index = PriorIndex(prior, tol, tuning.probe_points, stats)
    frozen = find_frozen(Xs, y)
    stats.frozen_points = int(frozen.sum())
    fp, saved = None, None
    if state_path is not None:
        fp = saved_state.fingerprint(X, y, tol, n_labels)
        if Path(state_path).exists():
            saved = saved_state.SavedState(state_path)
            if saved.fingerprint != fp or saved.conflict is None:
                raise saved_state.StateMismatch(
                    f"{state_path}: saved by a fit of other data or settings; remove it to start over")
    stats.seconds["prepare"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    if saved is not None:
        conflict = saved.conflict
    else:
        bar = _bar(progress, n_labels * (n_labels - 1) // 2, "label pairs")
        conflict = label_conflicts(Xs, y, n_labels, tol, stats, bar.update if bar else None, jobs,
                                   tuning, index, recorder)
        if bar:
            bar.close()
        stats.seconds["label_pairs"] = time.perf_counter() - t1
    involved = np.flatnonzero(conflict.any(1))
    rep = np.full(len(y), -1, np.int64)  # representative row per row
    linear = not conflict.any()
    for k in range(n_labels):
        rows = np.flatnonzero(y == k)
        if len(rows) and k not in set(involved.tolist()):
            rep[rows] = rows.min()
    t2 = time.perf_counter()
    if len(involved):
        rows_by_label = {int(k): np.flatnonzero(y == k) for k in involved}
        n_eng = sum(int((~frozen[r]).sum()) for r in rows_by_label.values())
        # merges out of the most there can be (rejections, which do not count, can outnumber
        # the merges late in a big set, so decisions would run past any fixed total)
        bar = _bar(progress, max(n_eng - 1, 0), "merges")
        done = {"dec": 0, "saved_at": time.perf_counter()}

        def step(k: int) -> None:
            done["dec"] += k
            if bar:
                bar.update(stats.merges - bar.n)
            if state_path is not None and time.perf_counter() - done["saved_at"] >= save_every:
                saved_state.save_state(eng, state_path, done["dec"], conflict, fp)
                done["saved_at"] = time.perf_counter()

        eng = MergeEngine(Xs, y, rows_by_label, conflict, frozen, tol, stats, step, jobs=jobs,
                          tuning=tuning, prior=index, recorder=recorder)
        if saved is not None:
            done["dec"] = stats.resumed_at = saved_state.restore_engine(eng, saved)
            if bar:
                bar.update(stats.merges)
        else:
            eng.start()
            if state_path is not None:
                saved_state.save_state(eng, state_path, 0, conflict, fp)
        eng.loop()
        if bar:
            bar.close()
        for cid, mem in eng.clusters().items():
            rep[mem] = cid
    stats.seconds["merge"] = time.perf_counter() - t2  # this process's (a resumed fit's: since)
    reps, labels_ = np.unique(rep, return_inverse=True)
    cluster_label = y[reps]
    if recorder is not None:
        recorder.cluster_of = labels_.astype(np.int64)
    stats.seconds["total"] = time.perf_counter() - t0
    return labels_.astype(np.int64), cluster_label, linear, stats


def _blas_threads(n: int):
    """Let BLAS use ``n`` threads inside the block (no change for n = 1 or without
    threadpoolctl)."""
    import contextlib

    if n <= 1:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def _bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="", leave=False, mininterval=1.0)
