"""Exact nearest points between two convex hulls (Wolfe's min-norm-point algorithm).

The distance between conv(P) and conv(Q) is the norm of the min-norm point of the Minkowski
difference conv(P) - conv(Q), whose vertices are p - q. Wolfe's algorithm (1976) finds it in
finitely many steps; it only needs the support query ``argmin_v <x, v>``, which for a Minkowski
difference splits into ``argmin_p <x, p>`` and ``argmax_q <x, q>`` (two matrix-vector
products, never the |P||Q| vertices). Each step keeps a *corral* of at most D+1 vertices and the
affine minimiser over it (a small bordered Gram system).

Why not an SVM: a hard-margin SVM solver that stops early, or fails to converge, reports a wrong
margin silently. Here every answer carries a certificate:
- an upper bound ``||x||`` (x = z_P - z_Q with z_P in conv(P), z_Q in conv(Q) explicit), and
- a lower bound ``min_v <x, v> / ||x||`` (the hyperplane orthogonal to x separates the hulls by
  at least that much),
and the returned distance is only reported once the two agree to a relative ``rtol``.

The same routine decides separability (:func:`hulls_separated`): it stops as soon as the lower
bound exceeds ``tol`` (a verified separating hyperplane) or the upper bound falls to ``tol`` or
below (an explicit common point, up to ``tol``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg as _sl

from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning


def _unbatched(f):
    """The function under scipy's batch wrapper (scipy >= 1.15 wraps linalg functions to apply
    over stacks of matrices, ~0.1 ms a call: a third of a Wolfe iteration on a real corral).
    For the 2-D arrays here the wrapper calls exactly this function: the same results."""
    return getattr(f, "__wrapped__", f)


qr, qr_delete, qr_insert, qr_update, solve_triangular = (
    _unbatched(f) for f in (_sl.qr, _sl.qr_delete, _sl.qr_insert, _sl.qr_update, _sl.solve_triangular))

ZERO_REL = 1e-10  # distances below this fraction of the data scale are "the hulls meet"
ATOL = 1e-12  # nearest_points' absolute tolerance, for data of scale 1 (see atol_for_scale)


def atol_for_scale(scale: float) -> float:
    """``nearest_points``' atol for data whose largest |coordinate| is ``scale``: ATOL at scale
    1 and above, proportionally less below (an absolute 1e-12 stops every solve at once on data
    of scale 1e-12 or less, and comparisons then go by unconverged distances)."""
    return ATOL * min(scale, 1.0)


def most_violated(idx: np.ndarray, score: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` entries of ``idx`` with the lowest ``score`` (all when there are fewer): the
    violators a constraint-generation round adds to its working set."""
    if len(idx) <= k:
        return idx
    return idx[np.argpartition(score, k - 1)[:k]]


class ScreenedSupport:
    """Support queries of conv(P) - conv(Q) read through float32 copies, with the same answers
    (but for points whose float64 products tie to the last bit, where either is exact).

    A query is memory-bound (a pass over every point), so reading half the bytes first pays:
    the float32 products bound each <x, p> within ``err`` = gamma |p|max |x| (Higham's
    gamma_n for an n-term float32 dot product, plus rounding p and x to float32), every point
    whose screened value is within 2 err of the screened minimum is a candidate (the true
    minimiser always is), and the candidates' products are taken again in float64: the index
    returned is the float64 argmin among them, its value a float64 product. Where float32
    could overflow or lose its exponent range the query is the plain float64 one.
    """

    def __init__(self, P: np.ndarray, Q: np.ndarray):
        self.P, self.Q = P, Q
        self.P32, self.Q32 = P.astype(np.float32), Q.astype(np.float32)
        n = P.shape[1] + 3
        u = 2.0 ** -24
        gamma = 1.01 * n * u / (1 - n * u)
        self.err_p = gamma * float(np.sqrt(np.einsum("ij,ij->i", P, P).max()))
        self.err_q = gamma * float(np.sqrt(np.einsum("ij,ij->i", Q, Q).max()))
        big = max(float(np.abs(P).max()), float(np.abs(Q).max()))
        self.safe = big * n < 1e30  # |sum| stays far below float32's 3.4e38 for |x| <= 1e6

    def __call__(self, x: np.ndarray) -> tuple[int, int, float]:
        nx = float(np.linalg.norm(x))
        if not self.safe or not nx <= 1e6 or nx < 1e-30:
            return plain_support(self.P, self.Q, x)
        x32 = x.astype(np.float32)
        # 2 err, and 1 % more: the threshold itself is rounded to float32 in the comparison
        i, vp = _screened_min(self.P32 @ x32, self.P, x, 2.02 * self.err_p * nx + 1e-35)
        j, vq = _screened_min(-(self.Q32 @ x32), self.Q, -x, 2.02 * self.err_q * nx + 1e-35)
        return i, j, vp + vq


def plain_support(P: np.ndarray, Q: np.ndarray, x: np.ndarray) -> tuple[int, int, float]:
    """The support query of conv(P) - conv(Q) in float64: i = argmin <x, p>, j = argmax <x, q>
    and <x, P[i]> - <x, Q[j]>."""
    sp = P @ x
    sq = Q @ x
    i = int(np.argmin(sp))
    j = int(np.argmax(sq))
    return i, j, float(sp[i] - sq[j])


class _ScreenLongSolves:
    """Plain queries for the first ``after`` of a solve, screened ones from then on: the float32
    copies cost a few passes over the points, which only a long solve earns back (most of the
    fit's checks end within a few iterations; a distance takes hundreds)."""

    def __init__(self, P: np.ndarray, Q: np.ndarray, after: int):
        self.P, self.Q, self.left = P, Q, after
        self.screened: ScreenedSupport | None = None

    def __call__(self, x: np.ndarray) -> tuple[int, int, float]:
        if self.screened is not None:
            return self.screened(x)
        if self.left > 0:
            self.left -= 1
            return plain_support(self.P, self.Q, x)
        self.screened = ScreenedSupport(self.P, self.Q)
        return self.screened(x)


def _screened_min(s32: np.ndarray, A: np.ndarray, x: np.ndarray, width: float) -> tuple[int, float]:
    """argmin and min of A @ x, given s32 within width/2 of it on every row."""
    cand = np.flatnonzero(s32 <= float(s32.min()) + width)
    if len(cand) == 1:
        i = int(cand[0])
        return i, float(A[i] @ x)
    v = A[cand] @ x
    k = int(np.argmin(v))
    return int(cand[k]), float(v[k])


@dataclass
class HullResult:
    distance: float  # best upper bound (= exact distance when converged)
    lower: float  # certified lower bound
    x: np.ndarray  # z_P - z_Q
    zp: np.ndarray  # nearest point in conv(P)
    zq: np.ndarray  # nearest point in conv(Q)
    iterations: int
    converged: bool
    corral_p: np.ndarray  # indices into P of the support points
    corral_q: np.ndarray  # indices into Q of the support points
    # The final corral as vertex pairs (indices into P and Q) with their weights: a later solve
    # on sets that contain these points can start from it (``start``) instead of one vertex.
    start: tuple | None = None


class _Corral:
    """Vertices p_i - q_j and a thin QR factorisation of B = [v_1 - v_0, ..., v_{k-1} - v_0].

    The affine minimiser is the least-squares solution of min ||v_0 + B t|| (QR keeps the
    conditioning of B; the normal equations would square it). Adding or removing a vertex
    updates the factors by Givens rotations in O(D k) (``scipy.linalg.qr_insert`` /
    ``qr_delete``; removing the anchor v_0 is a column removal plus a rank-one update), where
    refactorising would cost O(D k^2) at every step of Wolfe's minor cycles.
    """

    def __init__(self, dim: int, cap: int, max_deletes: int = DEFAULT_TUNING.qr_max_deletes):
        self.max_deletes = max_deletes  # losing more vertices at once: refactorise instead
        self.V = np.empty((cap, dim))
        self.ip = np.empty(cap, np.int64)
        self.iq = np.empty(cap, np.int64)
        self.k = 0
        self.Qf = self.R = None  # factors of B; None: refactorise before the next solve
        # Qf^T v_0, kept while the anchor and Qf's columns stay: appending a column (the usual
        # step) leaves the others as they are, so only its own product is new
        self.qtv0: np.ndarray | None = None

    def add(self, v: np.ndarray, i: int, j: int) -> None:
        k = self.k
        Qf, R = self.Qf, self.R
        if k == len(self.V):
            self._grow()
        self.V[k] = v
        self.ip[k] = i
        self.iq[k] = j
        self.k = k + 1
        self.Qf, self.R = None, None
        qtv0, self.qtv0 = self.qtv0, None
        if k >= 2 and Qf is not None and k <= self.V.shape[1]:
            try:
                self.Qf, self.R = qr_insert(Qf, R, v - self.V[0], k - 1, which="col",
                                            check_finite=False)
            except np.linalg.LinAlgError:
                return  # v (numerically) in the corral's affine hull: see affine_minimizer
            if qtv0 is not None and len(qtv0) == k - 1:
                self.qtv0 = np.append(qtv0, self.Qf[:, k - 1] @ self.V[0])

    def reset(self, V: np.ndarray, ip: np.ndarray, iq: np.ndarray) -> None:
        """The corral becomes these vertices (factorised at the next solve)."""
        k = len(V)
        while k > len(self.V):
            self._grow()
        self.V[:k] = V
        self.ip[:k] = ip
        self.iq[:k] = iq
        self.k = k
        self.Qf = self.qtv0 = None

    def _grow(self) -> None:
        cap = 2 * len(self.V)
        V = np.empty((cap, self.V.shape[1]))
        V[: self.k] = self.V[: self.k]
        self.V = V
        self.ip = np.resize(self.ip, cap)
        self.iq = np.resize(self.iq, cap)

    def keep(self, mask: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        m = len(idx)
        if m == self.k:
            return
        Qf, R = self.Qf, self.R
        self.Qf = self.R = self.qtv0 = None
        if Qf is not None and m >= 2 and self.k - m <= self.max_deletes:
            try:
                for a in np.flatnonzero(~mask[: self.k])[::-1]:
                    if a >= 1:
                        Qf, R = qr_delete(Qf, R, a - 1, which="col", overwrite_qr=True,
                                          check_finite=False)
                if idx[0] != 0:  # new anchor v' = v_idx[0]: v_a - v' = (v_a - v_0) - (v' - v_0)
                    b0 = self.V[idx[0]] - self.V[0]
                    Qf, R = qr_delete(Qf, R, 0, which="col", overwrite_qr=True,
                                      check_finite=False)
                    Qf, R = qr_update(Qf, R, -b0, np.ones(m - 1), overwrite_qruv=True,
                                      check_finite=False)
                n = R.shape[1]  # a square Q (k - 1 = D) comes back full: keep the thin part
                self.Qf, self.R = Qf[:, :n], R[:n]
            except np.linalg.LinAlgError:
                pass  # refactorised at the next solve
        self.V[:m] = self.V[idx]
        self.ip[:m] = self.ip[idx]
        self.iq[:m] = self.iq[idx]
        self.k = m

    def affine_minimizer(self) -> np.ndarray:
        """Weights mu (sum 1) of the min-norm point of the corral's affine hull."""
        k = self.k
        if k == 1:
            return np.ones(1)
        v0 = self.V[0]
        if self.Qf is None and k - 1 <= self.V.shape[1]:
            self.Qf, self.R = qr((self.V[1:k] - v0).T, mode="economic", check_finite=False)
            self.qtv0 = None
        t = None
        if self.Qf is not None:
            d = np.abs(np.diag(self.R))
            if d.min() > 1e-13 * max(d.max(), 1e-300):
                if self.qtv0 is None or len(self.qtv0) != self.Qf.shape[1]:
                    self.qtv0 = self.Qf.T @ v0
                t = -solve_triangular(self.R, self.qtv0, check_finite=False)
        if t is None:  # (numerically) affinely dependent: the minimum-norm least-squares t
            t = -np.linalg.lstsq((self.V[1:k] - v0).T, v0, rcond=1e-13)[0]
        mu = np.empty(k)
        mu[1:] = t
        mu[0] = 1.0 - t.sum()
        return mu


def nearest_points(P: np.ndarray, Q: np.ndarray, *, rtol: float = 1e-9, atol: float = ATOL,
                   stop_above: float | None = None, stop_below: float | None = None,
                   max_iter: int = 100_000, direction: np.ndarray | None = None,
                   start: tuple | None = None, seed: tuple | None = None,
                   tuning: Tuning = DEFAULT_TUNING, screen: bool = False) -> HullResult:
    """Min-norm point of conv(P) - conv(Q) with certified bounds (see :func:`_wolfe`).

    Large sets are solved on working sets: Wolfe's algorithm on the points that reach furthest
    toward the other set, then one pass over all points gives the certified lower bound; points
    beyond the working set's supporting planes join it and the solve repeats. Upper bounds are
    always explicit points, lower bounds always come from all points, so the certificate is the
    same as without working sets. ``direction`` (e.g. a hyperplane normal that separated
    parts of the sets before) only chooses the starting vertices, ``start`` (an earlier
    result's ``start`` on these sets) the starting corral, and ``seed`` (indices into P and Q,
    e.g. an LP's working set) points of the first working set; the answer depends on none of
    them. Each working-set round starts from the corral the round before ended with.
    ``tuning``: working-set sizes (``ws_min``, ``ws_add``) and ``qr_max_deletes``; the answer
    depends on none of them. ``screen``: a long solve's support queries read float32 copies
    first (:class:`ScreenedSupport`: the same vertices, certified; see :func:`_wolfe`).
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if len(P) + len(Q) <= tuning.ws_min:
        return _wolfe(P, Q, rtol=rtol, atol=atol, stop_above=stop_above, stop_below=stop_below,
                      max_iter=max_iter, direction=direction, start=start, tuning=tuning,
                      screen=screen)
    d0 = P.mean(0) - Q.mean(0) if direction is None else np.asarray(direction, np.float64)
    inp = np.zeros(len(P), bool)
    inq = np.zeros(len(Q), bool)
    k = min(tuning.ws_add, len(P))
    inp[np.argpartition(P @ d0, k - 1)[:k] if k < len(P) else slice(None)] = True
    k = min(tuning.ws_add, len(Q))
    inq[np.argpartition(-(Q @ d0), k - 1)[:k] if k < len(Q) else slice(None)] = True
    if start is not None:
        inp[start[0]] = True
        inq[start[1]] = True
    if seed is not None:
        inp[seed[0]] = True
        inq[seed[1]] = True
    total_it = 0
    while True:
        ip, iq = np.flatnonzero(inp), np.flatnonzero(inq)
        ws_start = None
        if start is not None:  # the corral in the working sets' own indices (ip, iq sorted)
            ws_start = (np.searchsorted(ip, start[0]), np.searchsorted(iq, start[1]), start[2])
        r = _wolfe(P[ip], Q[iq], rtol=rtol, atol=atol, stop_above=stop_above,
                   stop_below=stop_below, max_iter=max(max_iter - total_it, 1),
                   direction=direction, start=ws_start, tuning=tuning, screen=screen)
        total_it += r.iterations
        r.corral_p, r.corral_q = ip[r.corral_p], iq[r.corral_q]
        start = r.start = (ip[r.start[0]], iq[r.start[1]], r.start[2])
        if stop_below is not None and r.distance <= stop_below:
            r.iterations = total_it
            return r  # the working sets already meet: so do the full sets
        x = r.x
        nx = float(np.linalg.norm(x))
        if nx == 0.0:
            r.iterations = total_it
            return r
        sp, sq = P @ x, Q @ x
        lower = float(sp.min() - sq.max()) / nx
        r.lower = max(lower, 0.0)
        r.iterations = total_it
        r.converged = nx - r.lower <= rtol * nx + atol
        if r.converged or (stop_above is not None and r.lower > stop_above):
            return r
        if total_it >= max_iter:
            return r  # iteration budget spent: bounds as they are, not converged
        # Points beyond the working set's supporting levels improve the solution: add them.
        lp_ = float(sp[ip].min())
        lq_ = float(sq[iq].max())
        vp = np.flatnonzero((sp < lp_) & ~inp)
        vq = np.flatnonzero((sq > lq_) & ~inq)
        if len(vp) == 0 and len(vq) == 0:
            # The working-set solve was not accurate enough to move on; finish on all points.
            r = _wolfe(P, Q, rtol=rtol, atol=atol, stop_above=stop_above, stop_below=stop_below,
                       max_iter=max(max_iter - total_it, 1), start=start, tuning=tuning,
                       screen=screen)
            r.iterations += total_it
            return r
        vp = most_violated(vp, sp[vp], tuning.ws_add)
        vq = most_violated(vq, -sq[vq], tuning.ws_add)
        inp[vp] = True
        inq[vq] = True


def _wolfe(P: np.ndarray, Q: np.ndarray, *, rtol: float = 1e-9, atol: float = ATOL,
           stop_above: float | None = None, stop_below: float | None = None,
           max_iter: int = 100_000, direction: np.ndarray | None = None,
           start: tuple | None = None, tuning: Tuning = DEFAULT_TUNING,
           screen: bool = False) -> HullResult:
    """Min-norm point of conv(P) - conv(Q) by Wolfe's algorithm, with certified bounds.

    Stops when upper - lower <= rtol*upper + atol (converged), or, for decisions, as soon as the
    lower bound exceeds ``stop_above`` or the upper bound drops to ``stop_below``. ``start`` =
    (indices into P, indices into Q, weights) is a corral to begin with (an earlier result's
    ``start``): its vertices must be affinely independent, as a corral's are. ``screen``: once
    ``tuning.screen_after`` queries are done, the support queries read float32 copies first
    (:class:`ScreenedSupport`) where P and Q hold ``tuning.screen_min_rows`` points or more.
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if P.ndim != 2 or Q.ndim != 2 or len(P) == 0 or len(Q) == 0:
        raise ValueError("nearest_points needs two non-empty 2-D point sets")
    dim = P.shape[1]
    corral = _Corral(dim, min(dim + 2, len(P) * len(Q)) + 2, tuning.qr_max_deletes)

    if screen and len(P) + len(Q) >= tuning.screen_min_rows:
        support = _ScreenLongSolves(P, Q, tuning.screen_after)
    else:
        def support(x):
            return plain_support(P, Q, x)

    if start is not None and len(start[2]) and len(start[2]) <= corral.V.shape[0] - 2:
        corral.reset(P[start[0]] - Q[start[1]], start[0], start[1])
        lam = np.asarray(start[2], np.float64) / float(np.sum(start[2]))
        x = lam @ corral.V[: corral.k]
    else:
        d0 = P.mean(0) - Q.mean(0) if direction is None else np.asarray(direction, np.float64)
        i, j, _ = support(d0)
        corral.add(P[i] - Q[j], i, j)
        lam = np.ones(1)
        x = corral.V[0].copy()
    best_lower = 0.0
    it = 0
    converged = False
    while it < max_iter:
        it += 1
        xx = float(x @ x)
        nx = np.sqrt(xx)
        i, j, m = support(x)
        lower = m / nx if nx > 0 else 0.0
        best_lower = max(best_lower, lower)
        if nx - best_lower <= rtol * nx + atol:
            converged = True
            break
        if stop_above is not None and best_lower > stop_above:
            break
        if stop_below is not None and nx <= stop_below:
            break
        k = corral.k
        dup = np.flatnonzero((corral.ip[:k] == i) & (corral.iq[:k] == j))
        if len(dup):  # numerically stuck: the best vertex is already in the corral
            break
        corral.add(P[i] - Q[j], i, j)
        lam = np.append(lam, 0.0)
        for _minor in range(dim + 3):
            mu = corral.affine_minimizer()
            if np.all(mu > 1e-14):
                lam = mu
                break
            neg = mu <= 1e-14
            with np.errstate(divide="ignore", invalid="ignore"):
                ratios = np.where(neg, lam / (lam - mu), np.inf)
            theta = float(np.clip(ratios.min(), 0.0, 1.0))
            lam = (1 - theta) * lam + theta * mu
            drop = neg & (ratios <= theta * (1 + 1e-12) + 1e-15)
            drop |= lam <= 1e-15
            if drop.all():
                drop[np.argmax(lam)] = False
            keep = ~drop
            corral.keep(keep)
            lam = np.maximum(lam[keep], 0.0)
            lam /= lam.sum()
        k = corral.k
        x_new = lam @ corral.V[:k]
        if float(x_new @ x_new) >= xx * (1 - 1e-15) and it > 1:
            # No progress in float64: keep the best we have and stop.
            x = x_new if float(x_new @ x_new) < xx else x
            break
        x = x_new
    k = corral.k
    zp = lam @ P[corral.ip[:k]] if len(lam) == k else None
    zq = lam @ Q[corral.iq[:k]] if len(lam) == k else None
    if zp is None:
        zp, zq = x, np.zeros_like(x)
    xx = zp - zq
    nx = float(np.linalg.norm(xx))
    if nx > 0:
        i, j, m = support(xx)
        best_lower = max(best_lower, m / nx)
    return HullResult(distance=nx, lower=max(best_lower, 0.0), x=xx, zp=zp, zq=zq, iterations=it,
                      converged=converged or nx - best_lower <= rtol * nx + atol,
                      corral_p=np.unique(corral.ip[:k]), corral_q=np.unique(corral.iq[:k]),
                      start=(corral.ip[:k].copy(), corral.iq[:k].copy(),
                             lam.copy() if len(lam) == k else np.full(k, 1.0 / k)))


def hull_distance(P: np.ndarray, Q: np.ndarray, rtol: float = 1e-9) -> float:
    """Euclidean distance between conv(P) and conv(Q), certified to rtol.

    Hulls closer than 1e-10 of the data's scale (max absolute coordinate) meet: 0 is returned.
    """
    r = nearest_points(P, Q, rtol=rtol)
    scale = max(float(np.abs(P).max()), float(np.abs(Q).max()), 1e-300)
    if r.distance <= ZERO_REL * scale:
        return 0.0
    if not r.converged and r.distance - r.lower > 1e-6 * r.distance:
        raise RuntimeError(
            f"hull distance did not converge: bounds [{r.lower:.3g}, {r.distance:.3g}]"
        )
    return r.distance


def point_hull_distance(x: np.ndarray, P: np.ndarray, rtol: float = 1e-9) -> float:
    """Distance from a point to conv(P)."""
    return hull_distance(np.asarray(x, dtype=np.float64)[None, :], P, rtol=rtol)
