"""Exact strict-separability tests for two finite point sets, on HiGHS.

Two sets P and Q are strictly separable iff some (w, b) gives ``w.p + b >= 1`` on P and
``w.q + b <= -1`` on Q. We solve the *soft-margin* form

    minimise  sum(s)   s.t.  w.p + b + s_p >= 1,  -(w.q + b) + s_q >= 1,  s >= 0,  |w_i| <= W

because a plain zero-objective feasibility LP was seen to end in status "unknown" on large pairs,
while this form always has a finite optimum: 0 iff separable (with |w_i| <= W), and at least 2
when the hulls meet (any common point z = sum a_p p = sum b_q q gives S_P + S_Q >= 2). Between 0
and 2 lie sets that are separable only with a margin too thin for the tolerance; they count as
overlapping (documented tolerance band, see :func:`separate`).

Constraint generation keeps the LP small: solve on a working set, check every point with one
matrix-vector product, add the worst violators, re-solve warm. A hyperplane is only ever
*accepted* after it has been verified on all points in float64, so "separable" answers carry a
certificate; "not separable" answers rest on the LP optimum of a subset (a subset that cannot
be separated proves the whole cannot).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ftprobe.probe.directprobe.highs import new_highs
from ftprobe.probe.directprobe.hull import most_violated
from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning

# Numerical constants of correctness, not tuning (tuning.Tuning holds that): they define what
# the soft-margin LP's answers mean (its tolerance band), so changing them could change an
# answer of that last-resort fallback, unlike any field of Tuning.
# Slack totals below this are "zero" (separable); a real overlap costs at least 2.
_OBJ_ZERO = 1e-6
# A verified hyperplane must give values >= 1 - _VERIFY on P and <= -1 + _VERIFY on Q.
_VERIFY = 1e-6





@dataclass(frozen=True)
class Hyperplane:
    """``w.x + b >= 1 - eps`` on the positive set and ``<= -1 + eps`` on the negative set."""

    w: np.ndarray
    b: float

    def side_ok(self, Z: np.ndarray, positive: bool) -> bool:
        """True if every row of Z lies on the given side (one matrix-vector product)."""
        if len(Z) == 0:
            return True
        v = Z @ self.w + self.b
        if positive:
            return bool(v.min() >= 1.0 - _VERIFY)
        return bool(v.max() <= -1.0 + _VERIFY)

    def flipped(self) -> Hyperplane:
        return Hyperplane(-self.w, -self.b)


class _SoftMarginLP:
    """Incremental soft-margin LP: columns w (D), b, then one slack per added point."""

    def __init__(self, dim: int, wmax: float):
        self.h = new_highs()
        self.dim = dim
        n = dim + 1
        lo = np.full(n, -wmax)
        hi = np.full(n, wmax)
        lo[-1], hi[-1] = -np.inf, np.inf
        self.h.addCols(n, np.zeros(n), lo, hi, 0, np.zeros(0, np.int32), np.zeros(0, np.int32),
                       np.zeros(0))
        self.ncols = n

    def add(self, Z: np.ndarray, sign: float) -> None:
        """Add constraints sign*(w.z + b) + s_z >= 1 for each row z of Z."""
        m = len(Z)
        if m == 0:
            return
        d = self.dim
        self.h.addCols(m, np.ones(m), np.zeros(m), np.full(m, np.inf), 0,
                       np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        slack = np.arange(self.ncols, self.ncols + m, dtype=np.int32)
        self.ncols += m
        per = d + 2
        idx = np.empty((m, per), np.int32)
        idx[:, :d] = np.arange(d, dtype=np.int32)
        idx[:, d] = d
        idx[:, d + 1] = slack
        val = np.empty((m, per))
        val[:, :d] = sign * Z
        val[:, d] = sign
        val[:, d + 1] = 1.0
        starts = np.arange(0, m * per, per, dtype=np.int32)
        self.h.addRows(m, np.ones(m), np.full(m, np.inf), m * per, starts, idx.ravel(),
                       val.ravel())

    def solve(self) -> tuple[float, np.ndarray]:
        import highspy

        h = self.h
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            # Numerical trouble: retry from scratch with the interior-point method.
            h.clearSolver()
            h.setOptionValue("solver", "ipm")
            h.run()
            h.setOptionValue("solver", "choose")
            status = h.getModelStatus()
            if status != highspy.HighsModelStatus.kOptimal:
                raise RuntimeError(f"HiGHS could not solve a separability LP: {status}")
        x = np.asarray(h.getSolution().col_value[: self.dim + 1])
        return float(h.getInfo().objective_function_value), x


@dataclass
class SeparationResult:
    separable: bool
    hyperplane: Hyperplane | None  # oriented positive on P when separable
    lp_rounds: int = 0


def separate(P: np.ndarray, Q: np.ndarray, wmax: float = 1e6,
             hint: Hyperplane | None = None, tuning: Tuning = DEFAULT_TUNING) -> SeparationResult:
    """Decide whether conv(P) and conv(Q) are disjoint; return a verified hyperplane if so.

    ``wmax`` bounds each coordinate of w (data are expected scaled to unit RMS norm), which is
    the tolerance: sets separable only with a margin thinner than about ``2/(wmax*sqrt(D))``
    may be reported as overlapping. ``hint`` is a hyperplane tried first (verified, never
    trusted). ``tuning``: working-set sizes (``soft_*``).
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if len(P) == 0 or len(Q) == 0:
        return SeparationResult(True, None)
    if hint is not None and hint.side_ok(P, True) and hint.side_ok(Q, False):
        return SeparationResult(True, hint)
    dim = P.shape[1]
    lp = _SoftMarginLP(dim, wmax)
    n = len(P) + len(Q)
    if n <= tuning.soft_small:
        lp.add(P, 1.0)
        lp.add(Q, -1.0)
        obj, x = lp.solve()
        if obj > _OBJ_ZERO:
            return SeparationResult(False, None, 1)
        hp = Hyperplane(x[:-1].copy(), float(x[-1]))
        if hp.side_ok(P, True) and hp.side_ok(Q, False):
            return SeparationResult(True, hp, 1)
        # LP tolerance left a sliver; fall through to generation starting from this solution.
    # Working set: the points of each side that reach furthest toward the other centroid.
    d = Q.mean(0) - P.mean(0)
    inP = np.zeros(len(P), bool)
    inQ = np.zeros(len(Q), bool)
    k = min(tuning.soft_first_rows, len(P))
    sel = np.argpartition(-(P @ d), k - 1)[:k] if k < len(P) else np.arange(len(P))
    inP[sel] = True
    k = min(tuning.soft_first_rows, len(Q))
    sel = np.argpartition(Q @ d, k - 1)[:k] if k < len(Q) else np.arange(len(Q))
    inQ[sel] = True
    lp = _SoftMarginLP(dim, wmax)
    lp.add(P[inP], 1.0)
    lp.add(Q[inQ], -1.0)
    rounds = 0
    while True:
        rounds += 1
        obj, x = lp.solve()
        if obj > _OBJ_ZERO:
            return SeparationResult(False, None, rounds)
        w, b = x[:-1], float(x[-1])
        vp = P @ w + b
        vq = Q @ w + b
        badp = np.flatnonzero((vp < 1.0 - _VERIFY) & ~inP)
        badq = np.flatnonzero((vq > -1.0 + _VERIFY) & ~inQ)
        if len(badp) == 0 and len(badq) == 0:
            hp = Hyperplane(w.copy(), b)
            if hp.side_ok(P, True) and hp.side_ok(Q, False):
                return SeparationResult(True, hp, rounds)
            # Working-set points themselves violate beyond tolerance: the LP is not accurate
            # enough to certify; treat as overlap only if a fresh full solve says so.
            return _full(P, Q, wmax, rounds)
        badp = most_violated(badp, vp[badp], tuning.soft_add_rows)
        badq = most_violated(badq, -vq[badq], tuning.soft_add_rows)
        inP[badp] = True
        inQ[badq] = True
        lp.add(P[badp], 1.0)
        lp.add(Q[badq], -1.0)


def _full(P, Q, wmax, rounds):
    lp = _SoftMarginLP(P.shape[1], wmax)
    lp.add(P, 1.0)
    lp.add(Q, -1.0)
    obj, x = lp.solve()
    hp = Hyperplane(x[:-1].copy(), float(x[-1]))
    if obj <= _OBJ_ZERO and hp.side_ok(P, True) and hp.side_ok(Q, False):
        return SeparationResult(True, hp, rounds + 1)
    return SeparationResult(False, None, rounds + 1)

