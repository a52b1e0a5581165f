"""A straightforward DirectProbe, the yardstick for ftprobe's speed (bench only).

The procedure as the reference describes it, with no certificate and no shortcut: points are
Python objects (tuples), a heap holds every same-label centroid pair, and every merge is checked
with one LP (scipy linprog / HiGHS) against every current cluster of another label. Ties follow
ftprobe's documented rule: (distance, smaller representative, larger representative).

Hull overlap is decided by the same criterion as ftprobe (strict separability with margin above
``tol`` times the data's RMS norm): the LP maximises the margin t of a hyperplane with
``||w||_inf <= 1`` and the pair counts as separable when the L2 gap it certifies exceeds the
tolerance. (A plain feasibility LP can disagree with any tolerance-aware method on pairs that
touch within rounding.)
"""

from __future__ import annotations

import heapq
import time

import numpy as np
from scipy.optimize import linprog


def _separable(P: list[tuple], Q: list[tuple], tol: float) -> bool:
    A = np.asarray(P)
    B = np.asarray(Q)
    d = A.shape[1]
    # Variables w (d, |w_i| <= 1), b, t: maximise t s.t. w.a + b >= t, w.q + b <= -t.
    c = np.zeros(d + 2)
    c[-1] = -1.0
    ub = np.vstack([np.hstack([-A, -np.ones((len(A), 1)), np.ones((len(A), 1))]),
                    np.hstack([B, np.ones((len(B), 1)), np.ones((len(B), 1))])])
    bounds = [(-1, 1)] * d + [(None, None), (None, 1.0)]
    res = linprog(c, A_ub=ub, b_ub=np.zeros(len(ub)), bounds=bounds, method="highs")
    if res.status != 0:
        raise RuntimeError(f"LP failed: {res.message}")
    t = -res.fun
    if t <= 0:
        return False
    w = res.x[:d]
    # Certified L2 gap of this hyperplane.
    gap = (float((A @ w).min()) - float((B @ w).max())) / float(np.linalg.norm(w))
    return gap > tol


def naive_directprobe(X: np.ndarray, y: np.ndarray, tol: float = 1e-6,
                      deadline: float | None = None):
    """Returns (cluster id per row numbered by smallest row, finished, merge checks done)."""
    X = np.asarray(X, dtype=np.float64)
    c = X - X.mean(0)
    unit = float(np.sqrt(np.mean((c * c).sum(1))))
    tol_abs = tol * unit
    pts = [tuple(map(float, row)) for row in X]  # points as Python objects
    members = {i: [i] for i in range(len(X))}
    label = {i: int(y[i]) for i in range(len(X))}
    cent = {i: np.array(pts[i]) for i in range(len(X))}
    alive = set(range(len(X)))
    heap = []
    by_label: dict[int, list[int]] = {}
    for i in range(len(X)):
        by_label.setdefault(label[i], []).append(i)
    for ids in by_label.values():
        for a_i, a in enumerate(ids):
            for b in ids[a_i + 1 :]:
                diff = cent[a] - cent[b]
                heapq.heappush(heap, (float(diff @ diff), a, b, a, b))
    rejected = set()
    checks = 0
    next_id = len(X)
    rep = {i: i for i in range(len(X))}
    while heap:
        if deadline is not None and time.perf_counter() > deadline:
            return None, False, checks
        _, _, _, a, b = heapq.heappop(heap)
        if a not in alive or b not in alive or (a, b) in rejected:
            continue
        U = [pts[i] for i in members[a] + members[b]]
        ok = True
        for o in list(alive):
            if label[o] == label[a]:
                continue
            checks += 1
            if not _separable(U, [pts[i] for i in members[o]], tol_abs):
                ok = False
                break
        if not ok:
            rejected.add((a, b))
            rejected.add((b, a))
            continue
        u = next_id
        next_id += 1
        members[u] = members.pop(a) + members.pop(b)
        label[u] = label[a]
        cent[u] = np.mean([pts[i] for i in members[u]], axis=0)
        rep[u] = min(rep[a], rep[b])
        alive -= {a, b}
        for o in alive:
            if label[o] == label[u]:
                diff = cent[u] - cent[o]
                lo, hi = min(rep[u], rep[o]), max(rep[u], rep[o])
                heapq.heappush(heap, (float(diff @ diff), lo, hi, u, o))
        alive.add(u)
    reps = sorted(rep[c_] for c_ in alive)
    pos = {r: k for k, r in enumerate(reps)}
    out = np.empty(len(X), np.int64)
    for c_ in alive:
        out[members[c_]] = pos[rep[c_]]
    return out, True, checks
