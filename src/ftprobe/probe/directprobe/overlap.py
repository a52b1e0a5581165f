"""Overlap certificates: two explicit points, one in each hull, within the tolerance.

Whatever proposes a pair of hulls as meeting (an LP's dual weights, candidate points from an
earlier fit, a stalled nearest-point run), the answer is accepted only from a pair
zp in conv(P), zq in conv(Q) with ||zp - zq||_2 <= tol. Non-negative least squares over a few
hundred candidate points finds the closest such pair of their hulls; :func:`nnls_decide` grows
the candidates into a decision of its own for pairs the nearest-point solver left stalled.
"""

from __future__ import annotations

import numpy as np

from ftprobe.probe.directprobe.hull import most_violated
from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning


def candidate_pairs(P: np.ndarray, Q: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Convex weights (a on P, b on Q) turned into points; then the same support re-solved by
    non-negative least squares (removes the LP's tolerance from the weights). A generator:
    the NNLS (~30 ms at ~380 support points) runs only if the caller asks for the second pair,
    i.e. when the LP's own weights were not close enough."""
    if a.sum() > 0 and b.sum() > 0:
        yield a @ P / a.sum(), b @ Q / b.sum()
    found = _nnls_common_point(P, Q, np.flatnonzero(a > 0), np.flatnonzero(b > 0))
    if found is not None:
        yield found[:2]


def _nnls_common_point(P: np.ndarray, Q: np.ndarray, sp: np.ndarray, sq: np.ndarray,
                       cap: int | None = None):
    """The pair (zp in conv(P[sp]), zq in conv(Q[sq])) that non-negative least squares puts
    closest, with the indices (into P and Q) of the points it uses: (zp, zq, up, uq), or None
    (no answer, or more candidates than ``cap``, default 4 x the dimension: too slow to be
    worth it)."""
    from scipy.optimize import nnls

    cap = 4 * P.shape[1] + 8 if cap is None else cap
    if not (0 < len(sp) and 0 < len(sq) and len(sp) + len(sq) <= cap):
        return None
    c = 10.0 * max(float(np.abs(P[sp]).max()), float(np.abs(Q[sq]).max()), 1e-300)
    dim = P.shape[1]
    A = np.zeros((dim + 2, len(sp) + len(sq)))
    A[:dim, : len(sp)] = P[sp].T
    A[:dim, len(sp) :] = -Q[sq].T
    A[dim, : len(sp)] = c
    A[dim + 1, len(sp) :] = c
    rhs = np.zeros(dim + 2)
    rhs[dim:] = c
    try:
        x, _ = nnls(A, rhs, maxiter=50 * A.shape[1])
    except RuntimeError:
        return None
    xa, xb = x[: len(sp)], x[len(sp) :]
    if not (xa.sum() > 0 and xb.sum() > 0):
        return None
    return (xa @ P[sp] / xa.sum(), xb @ Q[sq] / xb.sum(), sp[xa > 0], sq[xb > 0])


def common_pair(P: np.ndarray, Q: np.ndarray, sp: np.ndarray, sq: np.ndarray, tol: float,
                max_points: int = DEFAULT_TUNING.probe_points, tuning: Tuning = DEFAULT_TUNING):
    """An overlap certificate from candidates: the pair (zp in conv(P[sp]), zq in conv(Q[sq]))
    that NNLS puts closest, if within ``tol`` in L2, as (zp, zq, up, uq) with the indices of the
    points it uses; else None (also beyond ``max_points`` candidates)."""
    found = _nnls_common_point(P, Q, sp, sq, cap=max_points)
    if found is None or float(np.linalg.norm(found[0] - found[1])) > tol:
        return None
    return found


def nnls_decide(P: np.ndarray, Q: np.ndarray, tol: float, seed_p=None, seed_q=None,
                direction: np.ndarray | None = None, rounds: int = 12,
                max_points: int = DEFAULT_TUNING.probe_points, tuning: Tuning = DEFAULT_TUNING):
    """Hull distance against tol by non-negative least squares on working sets, for pairs the
    nearest-point solver left stalled: (True, (w, lo, hi)) with a unit normal verified on all
    points to separate by more than tol, (False, None) with two explicit hull points within tol
    in L2, or None when neither certificate comes (the distance within float noise of tol, or
    the working set past NNLS's size cap).

    Lawson-Hanson NNLS is a finite active-set method, so it does not stall where Wolfe's
    iteration can when the hulls touch in many dimensions. Each round solves the working sets'
    nearest pair (the convex-weight constraints as heavily weighted rows, the weights then
    normalised, so the points are exact hull points however NNLS rounds) and adds the points
    beyond its supporting planes, most violated first, as the nearest-point solver's working
    sets do. ``seed_p``/``seed_q`` (indices) and ``direction`` choose the first working set
    only; ``tuning.nnls_add_rows`` points per side start it and join it per round.
    """
    d = P.mean(0) - Q.mean(0) if direction is None else np.asarray(direction, np.float64)
    inp = np.zeros(len(P), bool)
    inq = np.zeros(len(Q), bool)
    inp[most_violated(np.arange(len(P)), P @ d, tuning.nnls_add_rows)] = True
    inq[most_violated(np.arange(len(Q)), -(Q @ d), tuning.nnls_add_rows)] = True
    for seed, mask in ((seed_p, inp), (seed_q, inq)):
        if seed is not None and len(seed):
            mask[np.asarray(seed)] = True
    for _ in range(rounds):
        found = _nnls_common_point(P, Q, np.flatnonzero(inp), np.flatnonzero(inq),
                                   cap=max_points)
        if found is None:
            return None
        zp, zq = found[0], found[1]
        w = zp - zq
        dist = float(np.linalg.norm(w))
        if dist <= tol:
            return False, None
        w = w / dist
        sp, sq = P @ w, Q @ w
        lo, hi = float(sp.min()), float(sq.max())
        if lo - hi > tol:
            return True, (w, lo, hi)
        vp = np.flatnonzero((sp < float(zp @ w)) & ~inp)
        vq = np.flatnonzero((sq > float(zq @ w)) & ~inq)
        if len(vp) == 0 and len(vq) == 0:
            return None  # the working sets' optimum is the full sets' one, within float noise
        inp[most_violated(vp, sp[vp], tuning.nnls_add_rows)] = True
        inq[most_violated(vq, -sq[vq], tuning.nnls_add_rows)] = True
    return None
