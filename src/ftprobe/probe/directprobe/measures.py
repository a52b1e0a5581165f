"""Measures on a DirectProbe clustering: exact hull distances, label-pair distances, spread."""

from __future__ import annotations

import multiprocessing as mp
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ftprobe.probe.directprobe.highs import new_highs
from ftprobe.probe.directprobe.hull import ZERO_REL, atol_for_scale, nearest_points
from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning

QP_TIME_LIMIT_S = 300.0  # one hull-distance QP; a solve this long is stuck, not slow


def cluster_hull_distance(P: np.ndarray, Q: np.ndarray, rtol: float = 1e-9,
                          qp_time_limit: float = QP_TIME_LIMIT_S,
                          tuning: Tuning = DEFAULT_TUNING) -> float:
    """Exact Euclidean distance between conv(P) and conv(Q), certified to ``rtol``.

    Hulls that meet (distance below ZERO_REL of the data scale) give exactly 0. Where the
    nearest-point iteration stops before ``rtol``, its certified bracket [lower, distance] is
    accepted when narrower than 1e-6 of the distance or of the data scale (nearly touching
    hulls converge slowly, and a bracket that narrow changes no reported digit that matters).
    A wider bracket goes to HiGHS's QP; if that does not finish within ``qp_time_limit``
    seconds, the bracket's upper end (a distance between two points of the hulls) is returned
    with a warning that names the bracket: one stuck solve must not stop a study. ``tuning``:
    the nearest-point solver's settings, screened support queries included
    (``screen_queries``: the same vertices; see :class:`.hull.ScreenedSupport`).
    """
    scale = max(float(np.abs(P).max()), float(np.abs(Q).max()), 1e-300)
    r = nearest_points(P, Q, rtol=rtol, atol=atol_for_scale(scale), tuning=tuning,
                       screen=tuning.screen_queries)
    if r.distance <= ZERO_REL * scale:
        return 0.0
    if not r.converged and r.distance - r.lower > 1e-6 * max(r.distance, scale):
        # Nearly touching hulls: solve the distance QP itself with HiGHS, and keep the answer
        # inside the bracket the nearest-point iteration certified.
        qp = qp_hull_distance(P, Q, time_limit=qp_time_limit)
        if qp is None:
            warnings.warn(f"hull distance certified only to [{r.lower:.6g}, {r.distance:.6g}]: the QP did "
                          f"not finish in {qp_time_limit:g} s; reporting the upper end", RuntimeWarning,
                          stacklevel=2)
            return r.distance
        return float(min(max(qp, r.lower), r.distance))
    return r.distance


def pair_distance(gi: np.ndarray, gj: np.ndarray, scale: float,
                  tuning: Tuning = DEFAULT_TUNING) -> float:
    """Exact hull distance of two clusters in original units, solved centred on the pair and
    divided by ``scale`` (the data's RMS norm) for numerics; translation invariant."""
    mid = 0.5 * (gi.mean(0) + gj.mean(0))
    return cluster_hull_distance((gi - mid) / scale, (gj - mid) / scale, tuning=tuning) * scale


_PAIRS_CTX: dict = {}  # the groups, for forked workers (inherited, never pickled)


def _pair_chunk(chunk: list[tuple[int, int]]) -> list[float]:
    groups, scale, tuning = _PAIRS_CTX["groups"], _PAIRS_CTX["scale"], _PAIRS_CTX["tuning"]
    return [pair_distance(groups[i], groups[j], scale, tuning) for i, j in chunk]


def pair_distances(groups: list[np.ndarray], pairs: list[tuple[int, int]], scale: float, *,
                   jobs: int = 1, progress: Callable[[int], None] | None = None,
                   tuning: Tuning = DEFAULT_TUNING) -> np.ndarray:
    """Exact hull distances of the cluster ``pairs`` (same values as :func:`pair_distance` one
    by one), biggest pairs first; with ``jobs`` > 1 in that many forked processes (each pair
    is one independent solve, so the values do not depend on it)."""
    out = np.empty(len(pairs))
    if not pairs:
        return out
    cost = np.array([len(groups[i]) + len(groups[j]) for i, j in pairs])
    order = np.argsort(-cost, kind="stable")  # big pairs first: the pool ends evenly
    if jobs > 1 and len(pairs) > 1 and "fork" in mp.get_all_start_methods():
        chunks = [order[k : k + 4] for k in range(0, len(order), 4)]
        _PAIRS_CTX.update(groups=groups, scale=scale, tuning=tuning)
        try:
            with ProcessPoolExecutor(jobs, mp_context=mp.get_context("fork")) as pool:
                for idx, vals in zip(chunks, pool.map(
                        _pair_chunk, [[pairs[k] for k in c] for c in chunks]), strict=True):
                    out[idx] = vals
                    if progress is not None:
                        progress(len(idx))
        finally:
            _PAIRS_CTX.clear()
        return out
    for k in order:
        i, j = pairs[k]
        out[k] = pair_distance(groups[i], groups[j], scale, tuning)
        if progress is not None:
            progress(1)
    return out


def qp_hull_distance(P: np.ndarray, Q: np.ndarray, time_limit: float = QP_TIME_LIMIT_S) -> float | None:
    """Distance between conv(P) and conv(Q) as a convex QP solved by HiGHS (None if not optimal,
    or not solved within ``time_limit`` seconds).

    min ||z||^2  s.t.  z = P^T a - Q^T b,  sum a = 1,  sum b = 1,  a, b >= 0.  Written with the
    difference ``z`` as variables, the Hessian is diagonal (2 on z, 0 elsewhere) and sparse.
    """
    import highspy
    import scipy.sparse as sp

    D, n, m = P.shape[1], len(P), len(Q)
    nv = D + n + m
    A = sp.vstack([
        sp.hstack([sp.eye(D), sp.csr_matrix(-P.T), sp.csr_matrix(Q.T)]),
        sp.hstack([sp.csr_matrix((1, D)), sp.csr_matrix(np.ones((1, n))), sp.csr_matrix((1, m))]),
        sp.hstack([sp.csr_matrix((1, D + n)), sp.csr_matrix(np.ones((1, m)))]),
    ]).tocsc()
    rhs = np.r_[np.zeros(D), 1.0, 1.0]
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = nv, D + 2
    lp.col_cost_ = np.zeros(nv)
    lp.col_lower_ = np.r_[np.full(D, -highspy.kHighsInf), np.zeros(n + m)]
    lp.col_upper_ = np.full(nv, highspy.kHighsInf)
    lp.row_lower_, lp.row_upper_ = rhs, rhs
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = A.indptr, A.indices, A.data
    hess = highspy.HighsHessian()
    hess.dim_, hess.format_ = nv, highspy.HessianFormat.kTriangular
    hess.start_ = np.r_[np.arange(D + 1), np.full(n + m, D)].astype(np.int32)
    hess.index_ = np.arange(D, dtype=np.int32)
    hess.value_ = np.full(D, 2.0)
    model = highspy.HighsModel()
    model.lp_, model.hessian_ = lp, hess
    # Through new_highs (one thread, silent) like every HiGHS instance of ftprobe: HiGHS sets
    # up its thread pool once per process, and an instance that asks for another number of
    # threads later fails every run (model status kNotset).
    h = new_highs()
    h.setOptionValue("time_limit", float(time_limit))
    h.passModel(model)
    h.run()
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    z = np.asarray(h.getSolution().col_value[:D])
    return float(np.linalg.norm(z))


def label_distance_matrix(cdist: np.ndarray, cluster_label: np.ndarray, keep: np.ndarray,
                          n_labels: int) -> np.ndarray:
    """Mean over cluster pairs (kept clusters only) of each label pair; NaN where none is kept."""
    out = np.full((n_labels, n_labels), np.nan)
    np.fill_diagonal(out, 0.0)
    for a in range(n_labels):
        ia = np.flatnonzero((cluster_label == a) & keep)
        for b in range(a + 1, n_labels):
            ib = np.flatnonzero((cluster_label == b) & keep)
            if len(ia) and len(ib):
                out[a, b] = out[b, a] = float(cdist[np.ix_(ia, ib)].mean())
    return out


def upper_triangle(M: np.ndarray) -> np.ndarray:
    """The n(n-1)/2 entries M[i, j], i < j, in row-major order."""
    i, j = np.triu_indices(len(M), k=1)
    return M[i, j]


def spread(X: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """Within-cluster spread: mean Euclidean distance of a cluster's points to its centroid."""
    counts = np.bincount(labels, minlength=n_clusters).astype(np.float64)
    sums = np.zeros((n_clusters, X.shape[1]))
    np.add.at(sums, labels, X)
    cent = sums / np.maximum(counts, 1)[:, None]
    d = np.linalg.norm(X - cent[labels], axis=1)
    return np.bincount(labels, weights=d, minlength=n_clusters) / np.maximum(counts, 1)
