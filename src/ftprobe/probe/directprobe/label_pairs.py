"""The label-pair phase, and the directions of the merge phase's slab certificates.

Before any merge, every pair of labels is tested once with all its points: labels whose hulls
do not meet never cause or suffer a rejection (docs/directprobe.md), so only labels in a
conflicting pair take part in the merge phase. Each test is certified exactly (a separating
direction verified on every point, or the cascade's exact decision); the cheap certificates
here only spare most pairs the solvers.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg

from ftprobe.probe.directprobe.cascade import hulls_disjoint
from ftprobe.probe.directprobe.counters import ClusterStats
from ftprobe.probe.directprobe.prior import PriorIndex, PriorRecorder
from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning


@dataclass
class PairContext:
    """What every label-pair test reads: the scaled points, each label's rows, centroid and
    radius, the tolerance, the pooled Fisher direction of each pair (None: not computed) and
    each label's covariance (computed on first use, per process)."""

    Xs: np.ndarray
    groups: list[np.ndarray]
    cent: np.ndarray
    rad: np.ndarray
    tol: float
    tuning: Tuning
    pooled: dict[tuple[int, int], np.ndarray | None]
    covs: dict[int, np.ndarray] = field(default_factory=dict)
    prior: PriorIndex | None = None  # a series' previous fit: its planes and overlaps, verified here


def _fisher_direction(Xs, groups, cent, covs, a, b) -> np.ndarray:
    """The two labels' Fisher direction (a on the high side): a cheap certificate's candidate.

    The covariances are kept in float32: one per label (K D^2 values, 44 MiB in float64 for
    STREUSLE's 38 labels at D = 384) was the fit's peak memory, and a candidate direction
    needs no more precision (it is verified exactly, and regularised far above float32's)."""
    for k in (a, b):
        if k not in covs:
            Z = Xs[groups[k]]
            cov = np.atleast_2d(np.cov(Z.T)) if len(Z) > 1 else np.zeros((Xs.shape[1],) * 2)
            covs[k] = cov.astype(np.float32)
    S = covs[a].astype(np.float64)
    S += covs[b]
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
    ctx = PairContext(Xs, groups, cent, rad, tol, tuning, _pooled_fisher(Xs, y, cent, pairs), prior=prior)

    def record(a, b, plane, witness):
        if recorder is not None:
            if plane is not None:
                recorder.label_plane(a, b, plane)
            if witness is not None:
                recorder.label_witness[(a, b)] = witness
    jobs = min(int(jobs), len(pairs))
    if jobs > 1 and "fork" in mp.get_all_start_methods():
        pairs.sort(key=lambda p: -len(groups[p[0]]) * len(groups[p[1]]))
        global _PAIR_CTX
        _PAIR_CTX = ctx  # inherited by the forked workers, never pickled
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
            _PAIR_CTX = None
        return conflict
    for a, b in pairs:
        meet, plane, witness = _label_pair_meets(ctx, a, b, stats)
        conflict[a, b] = conflict[b, a] = meet
        record(a, b, plane, witness)
        if progress is not None:
            progress(1)
    return conflict


_PAIR_CTX: PairContext | None = None  # the label-pair phase's data, for forked workers


def _label_pair_job(a, b):
    part = ClusterStats()
    return a, b, _label_pair_meets(_PAIR_CTX, a, b, part), part


def _label_pair_meets(ctx: PairContext, a: int, b: int, stats: ClusterStats):
    """(meet, plane, witness): True if the hulls of labels a and b meet, certificates first
    (a series' previous planes and overlaps, then Fisher directions), then the exact test;
    with the separating direction (a on the high side) or the rows (of a, of b) of a common
    pair where one was found, for the next fit of a series."""
    Xs, groups, cent, rad, tol = ctx.Xs, ctx.groups, ctx.cent, ctx.rad, ctx.tol
    stats.label_pair_tests += 1
    if np.linalg.norm(cent[a] - cent[b]) > rad[a] + rad[b] + tol:
        stats.ball_full += 1
        return False, None, None
    prior = ctx.prior
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
    w = ctx.pooled[(a, b)]
    if not _projections_separate(Xs, groups, a, b, w, tol):
        w = _fisher_direction(Xs, groups, cent, ctx.covs, a, b)
        if not _projections_separate(Xs, groups, a, b, w, tol):
            w = None
    if w is not None:
        stats.slab += 1
        return False, w, None
    ok, h, dec = hulls_disjoint(Xs[groups[a]], Xs[groups[b]], tol, stats, tuning=ctx.tuning)
    if ok:
        return False, h[0], None
    stats.label_pairs_overlapping += 1
    witness = None
    if dec is not None and dec.support_p is not None and dec.support_q is not None:
        witness = (groups[a][dec.support_p], groups[b][dec.support_q])
    return True, None, witness


def certificate_directions(Xs, y, eng_rows, rows_by_label, conflict, proj_dims):
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

