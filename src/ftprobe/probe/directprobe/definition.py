"""The DirectProbe partition computed plainly from its definition (docs/directprobe.md).

This is the reference the engine (:mod:`.clustering`) is tested against, and the yardstick of
bench/directprobe: no certificate before the check, nothing cached between checks, no
shortcut. Start with one cluster per point; take the same-label pair of clusters whose
centroids are closest (ties: the smaller representative first, a cluster's representative
being its smallest row index); merge it if the union's hull keeps away from the hull of every
cluster of another label by more than ``tol``, else drop the pair for good; stop when no pair
is left. It is quadratic in memory and slow on purpose: use it on a few hundred points.

Each check decides one question, "is the Euclidean distance of two hulls above tol?", with one
LP: the max-margin plane with |w_i| <= 1, whose margin t is half the L1 distance of the hulls.
Its plane separating the two sets by more than tol (in L2) proves them apart; 2t <= tol proves
them meeting (the L2 distance is at most the L1 one). Only in between (an L2 distance that the
L1 plane cannot show) does the check go on to the distance itself, a convex QP.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from ftprobe.probe.directprobe.measures import qp_hull_distance


def tolerance_unit(X: np.ndarray) -> float:
    """The length ``tol`` is relative to: the RMS norm of the centred data (1 if it is 0)."""
    X = np.asarray(X, dtype=np.float64)
    c = X - X.mean(0)
    rms = float(np.sqrt(np.mean(np.einsum("ij,ij->i", c, c)))) if len(X) else 0.0
    return rms if np.isfinite(rms) and rms > 0 else 1.0


def hulls_apart(P: np.ndarray, Q: np.ndarray, tol: float) -> bool:
    """True if the Euclidean distance between conv(P) and conv(Q) exceeds ``tol`` (absolute)."""
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    d = P.shape[1]
    # Variables w (|w_i| <= 1), b, t: maximise t s.t. w.p + b >= t on P, w.q + b <= -t on Q.
    cost = np.zeros(d + 2)
    cost[-1] = -1.0
    A = np.vstack([np.hstack([-P, -np.ones((len(P), 1)), np.ones((len(P), 1))]),
                   np.hstack([Q, np.ones((len(Q), 1)), np.ones((len(Q), 1))])])
    res = linprog(cost, A_ub=A, b_ub=np.zeros(len(A)), method="highs",
                  bounds=[(-1.0, 1.0)] * d + [(None, None), (None, None)])
    if res.status != 0:
        raise RuntimeError(f"separability LP failed: {res.message}")
    t, w = -float(res.fun), res.x[:d]
    nw = float(np.linalg.norm(w))
    if t > 0 and nw > 0 and (float((P @ w).min()) - float((Q @ w).max())) / nw > tol:
        return True
    if 2.0 * t <= tol:
        return False
    dist = qp_hull_distance(P, Q)
    if dist is None:
        raise RuntimeError("hull distance QP failed")
    return dist > tol


@dataclass(frozen=True)
class ReferencePartition:
    """The definition's answer: ``labels`` (cluster of each row, numbered by the clusters'
    smallest rows), whether it ``finished`` before the deadline, and the ``checks`` made (one
    per union and cluster of another label)."""

    labels: np.ndarray
    finished: bool
    checks: int


def reference_partition(X: np.ndarray, y: np.ndarray, tol: float = 1e-6,
                        deadline: float | None = None) -> ReferencePartition:
    """DirectProbe's partition of (X, y) by the definition; ``tol`` in units of
    :func:`tolerance_unit` (the engine's). ``deadline`` (a ``time.perf_counter()`` value): stop
    there, with ``finished`` False and the clusters reached so far."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    tol_abs = tol * tolerance_unit(X)
    members = {i: [i] for i in range(len(X))}  # representative (smallest row) -> rows
    cent = {i: X[i] for i in range(len(X))}
    version = dict.fromkeys(range(len(X)), 0)  # a heap entry is current at its versions
    rejected: set[tuple[int, int]] = set()  # pairs of current clusters dropped for good
    heap = []
    for lab in np.unique(y):
        rows = np.flatnonzero(y == lab)
        for k, a in enumerate(rows.tolist()):
            for b, d2 in zip(rows[k + 1 :].tolist(), _sq_dist(X[rows[k + 1 :]], X[a]).tolist(),
                             strict=True):
                heap.append((d2, a, b, 0, 0))
    heapq.heapify(heap)
    checks = 0
    while heap:
        if deadline is not None and time.perf_counter() > deadline:
            return ReferencePartition(_numbered(members, len(X)), False, checks)
        _, a, b, va, vb = heapq.heappop(heap)
        if version.get(a) != va or version.get(b) != vb or (a, b) in rejected:
            continue
        union = members[a] + members[b]
        ok = True
        for c, rows in members.items():
            if y[c] != y[a]:
                checks += 1
                if not hulls_apart(X[union], X[rows], tol_abs):
                    ok = False
                    break
        if not ok:
            rejected.add((a, b))
            continue
        # The union keeps the smaller representative (a < b): a new cluster, new pairs.
        members[a] = union
        del members[b], cent[b], version[b]
        cent[a] = X[union].mean(0)
        version[a] += 1
        rejected = {pair for pair in rejected if a not in pair and b not in pair}
        others = [c for c in members if c != a and y[c] == y[a]]
        if others:
            d2 = _sq_dist(np.stack([cent[c] for c in others]), cent[a])
            for c, d in zip(others, d2.tolist(), strict=True):
                lo, hi = min(a, c), max(a, c)
                heapq.heappush(heap, (d, lo, hi, version[lo], version[hi]))
    return ReferencePartition(_numbered(members, len(X)), True, checks)


def _sq_dist(rows: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances of ``rows`` to ``x`` (the engine's formula, so that exact
    ties stay ties)."""
    diff = rows - x
    return np.einsum("ij,ij->i", diff, diff)


def _numbered(members: dict[int, list[int]], n: int) -> np.ndarray:
    out = np.empty(n, np.int64)
    for k, rep in enumerate(sorted(members)):
        out[members[rep]] = k
    return out
