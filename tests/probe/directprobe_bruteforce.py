"""A plain brute-force DirectProbe written from the definition, for tests only.

Every merge check is an LP (scipy linprog, HiGHS) of the union against every cluster of another
label; no certificate, no caching, no shortcut. Ties: smaller (min rep, max rep) first, where a
cluster's rep is its smallest row index (the documented rule).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog


def lp_separable(P: np.ndarray, Q: np.ndarray) -> bool:
    """Feasibility of w.p + b >= 1 on P, w.q + b <= -1 on Q (strict separability)."""
    d = P.shape[1]
    A = np.vstack([np.hstack([-P, -np.ones((len(P), 1))]), np.hstack([Q, np.ones((len(Q), 1))])])
    res = linprog(np.zeros(d + 1), A_ub=A, b_ub=-np.ones(len(A)), bounds=[(None, None)] * (d + 1),
                  method="highs")
    if res.status == 0:
        return True
    assert res.status == 2, f"LP status {res.status}: {res.message}"
    return False


def brute_force_clusters(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    clusters = [[i] for i in range(len(X))]
    rejected: set[tuple[frozenset, frozenset]] = set()
    while True:
        best = None
        for i in range(len(clusters)):
            for j in range(i + 1, len(clusters)):
                A, B = clusters[i], clusters[j]
                if y[A[0]] != y[B[0]]:
                    continue
                if (frozenset(A), frozenset(B)) in rejected:
                    continue
                diff = X[A].mean(0) - X[B].mean(0)
                d2 = float(diff @ diff)
                ra, rb = min(A), min(B)
                key = (d2, min(ra, rb), max(ra, rb))
                if best is None or key < best[0]:
                    best = (key, i, j)
        if best is None:
            break
        _, i, j = best
        A, B = clusters[i], clusters[j]
        U = X[A + B]
        ok = all(
            lp_separable(U, X[C]) for C in clusters if y[C[0]] != y[A[0]]
        )
        if ok:
            clusters[i] = A + B
            del clusters[j]
        else:
            rejected.add((frozenset(A), frozenset(B)))
            rejected.add((frozenset(B), frozenset(A)))
    reps = sorted(min(C) for C in clusters)
    out = np.empty(len(X), np.int64)
    for C in clusters:
        out[C] = reps.index(min(C))
    return out
