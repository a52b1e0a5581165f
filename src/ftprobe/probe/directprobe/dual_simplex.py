"""A dense dual simplex for the margin LP, continued by rank-one updates of its basis inverse.

The margin LP (``margin_lp.MarginLP``) is

    max t   s.t.   g_i . x >= 0 for every row i,   -1 <= x_j <= 1 for j < D,

with x = (w, b, t) and a row g_i = (s_i z_i, s_i, -1) per point (s_i = +1 on P, -1 on Q). Its
rows are dense (one point each, D + 2 columns) and a kept LP is continued again and again with
a few new rows. HiGHS refactorised its basis (a dense ~380 x 380 kernel, ~0.09 s) at every run
after rows were added, and paid ~0.77 ms per iteration on these dense rows; here the basis
inverse is kept between runs and updated by rank-one steps (~0.2 ms per iteration at ~800 rows,
nothing fixed), and the pricing is exact dual steepest edge, updated like the inverse.

The form is the active-set (row-basis) one: a vertex is n = D + 2 active constraints (point rows
at 0 and bounds at +-1) whose normals form the square matrix M; x = M^-1 h and the objective
gradient is c = -sum_k mu_k m_k over them. A vertex is dual feasible when mu >= 0. Each iteration
takes the most violated inactive constraint (violation^2 / steepest-edge weight), the active one
whose multiplier reaches 0 first (Harris's two-pass ratio test) leaves, and M^-1, x, mu, the row
activities and the weights ||M^-T g||^2 are updated in O(n^2 + m n). The inverse is recomputed
from M every ``REFACTOR_EVERY`` iterations, or sooner when it has drifted.

Nothing here is trusted by the caller: a plane is verified on all points and an overlap pair in
L2 (``margin_lp.decide_distance``), so a run that fails or stops only costs time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.linalg.blas import dger

REFACTOR_EVERY = 400  # iterations between recomputations of M^-1 from M (rounding drifts)
DRIFT_TOL = 1e-9  # ... or sooner, when the pivot computed two ways differs by this (relative)
MEET_EVERY = 8  # iterations between checks of the dual pair's distance (meet_tol)
PRIMAL_TOL = 1e-9  # a row violated by less than this x max(1, ||g||) counts as satisfied
PIVOT_TOL = 1e-9  # relative size below which a ratio-test entry is not a pivot
DUAL_TOL = 1e-9  # Harris's slack on the multipliers in the ratio test

# Outcomes of DenseDualSimplex.solve.
OPTIMAL, MET, LIMIT, FAILED = "optimal", "met", "limit", "failed"

# Kinds of active constraint (``ActiveSet.kind``), and HiGHS's basis codes they map to.
ROW, LOWER, UPPER = 0, 1, 2
HIGHS_LOWER, HIGHS_BASIC, HIGHS_UPPER = 0, 1, 2


@dataclass
class ActiveSet:
    """The n active constraints: ``kind[k]`` (ROW, LOWER, UPPER) and ``index[k]`` (a row, or a
    column of w), plus masks for lookup (``row_on``: rows active; ``at_lower``, ``at_upper``:
    columns of w at a bound)."""

    kind: np.ndarray
    index: np.ndarray
    row_on: np.ndarray
    at_lower: np.ndarray
    at_upper: np.ndarray

    def copy(self) -> ActiveSet:
        return ActiveSet(self.kind.copy(), self.index.copy(), self.row_on.copy(),
                         self.at_lower.copy(), self.at_upper.copy())


@dataclass
class Snapshot:
    """Everything :meth:`DenseDualSimplex.restore` needs to return to a vertex (rows beyond
    ``rows`` are cut, so only appended rows may come between)."""

    rows: int
    active: ActiveSet
    inverse: np.ndarray
    x: np.ndarray
    mu: np.ndarray
    row_weights: np.ndarray
    col_weights: np.ndarray


class DenseDualSimplex:
    """The margin LP's rows and a dual-feasible vertex, solved and continued in place.

    Build one with :meth:`cold` (a dual-feasible vertex from one P and one Q row) or
    :meth:`from_statuses` (a basis in HiGHS's codes, e.g. a saved or frozen LP); then
    :meth:`add_rows`, :meth:`solve`, :meth:`delete_rows` (inactive rows only), :meth:`snapshot`
    and :meth:`restore`.
    """

    def __init__(self, rows: np.ndarray, dim: int, active: ActiveSet):
        self.dim = dim
        self.n = dim + 2
        self._buf = np.array(rows, np.float64, order="C")
        self.m = len(rows)
        self.active = active
        self.iterations = 0  # of the last solve
        self.refactor()
        self.row_weights = self._weights_of(self.rows)
        self.col_weights = np.einsum("ij,ij->i", self.inverse[:dim], self.inverse[:dim])

    # -- construction --------------------------------------------------------------------------
    @classmethod
    def cold(cls, rows: np.ndarray, dim: int) -> DenseDualSimplex | None:
        """A dual-feasible vertex from the closest (L2) pair of a P row and a Q row: the
        max-margin plane of those two points (w_j = sign(p - q)_j at a bound, both rows at 0).
        None if a side has no row (the LP is then unbounded).

        The closest pair costs one Gram product and tends to start nearer the optimum (on LPs
        captured from real fits, ~30 % less time than a start from the first two rows)."""
        side = rows[:, dim]
        on_p, on_q = np.flatnonzero(side > 0), np.flatnonzero(side < 0)
        if len(on_p) == 0 or len(on_q) == 0:
            return None
        Zp, Zq = rows[on_p, :dim], -rows[on_q, :dim]  # Q's rows hold -z_q
        d2 = np.einsum("ij,ij->i", Zp, Zp)[:, None] + np.einsum("ij,ij->i", Zq, Zq) - 2.0 * Zp @ Zq.T
        i, j = np.unravel_index(int(d2.argmin()), d2.shape)
        p0, q0 = int(on_p[i]), int(on_q[j])
        up = rows[p0, :dim] + rows[q0, :dim] > 0  # z_p - z_q > 0
        kind = np.r_[np.where(up, UPPER, LOWER), ROW, ROW].astype(np.int8)
        index = np.r_[np.arange(dim), p0, q0].astype(np.int64)
        return cls(rows, dim, _active_set(kind, index, len(rows), dim))

    @classmethod
    def from_statuses(cls, rows: np.ndarray, dim: int, col_status: np.ndarray,
                      row_status: np.ndarray) -> DenseDualSimplex | None:
        """The vertex of a basis in HiGHS's codes (rows at their lower bound and columns of w at
        a bound are active). None if it is not a vertex of n independent constraints with
        non-negative multipliers (the caller then starts :meth:`cold`)."""
        col_status, row_status = np.asarray(col_status), np.asarray(row_status)
        if len(col_status) != dim + 2 or len(row_status) != len(rows):
            return None
        if (col_status[dim:] != HIGHS_BASIC).any():  # b and t are free: never at a bound
            return None
        act_rows = np.flatnonzero(row_status == HIGHS_LOWER)
        lower = np.flatnonzero(col_status[:dim] == HIGHS_LOWER)
        upper = np.flatnonzero(col_status[:dim] == HIGHS_UPPER)
        if len(act_rows) + len(lower) + len(upper) != dim + 2:
            return None
        kind = np.r_[np.full(len(act_rows), ROW), np.full(len(lower), LOWER),
                     np.full(len(upper), UPPER)].astype(np.int8)
        index = np.r_[act_rows, lower, upper].astype(np.int64)
        try:
            lp = cls(rows, dim, _active_set(kind, index, len(rows), dim))
        except np.linalg.LinAlgError:
            return None
        if not np.isfinite(lp.inverse).all() or lp.mu.min() < -1e-7 * max(1.0, lp.mu.max()):
            return None
        return lp

    # -- state -----------------------------------------------------------------------------------
    @property
    def rows(self) -> np.ndarray:
        return self._buf[: self.m]

    @property
    def t(self) -> float:
        return float(self.x[-1])

    def statuses(self) -> tuple[np.ndarray, np.ndarray]:
        """The vertex in HiGHS's basis codes: (column statuses, row statuses) as int8."""
        a = self.active
        cols = np.full(self.n, HIGHS_BASIC, np.int8)
        cols[: self.dim][a.at_lower] = HIGHS_LOWER
        cols[: self.dim][a.at_upper] = HIGHS_UPPER
        rows = np.where(a.row_on[: self.m], HIGHS_LOWER, HIGHS_BASIC).astype(np.int8)
        return cols, rows

    def row_duals(self) -> np.ndarray:
        """The multipliers of the rows (0 for inactive ones): the convex weights, 1/2 per side."""
        out = np.zeros(self.m)
        on = self.active.kind == ROW
        out[self.active.index[on]] = np.maximum(self.mu[on], 0.0)
        return out

    def activities(self) -> np.ndarray:
        """g_i . x for every row."""
        return self.rows @ self.x

    def snapshot(self) -> Snapshot:
        return Snapshot(self.m, self.active.copy(), self.inverse.copy(), self.x.copy(),
                        self.mu.copy(), self.row_weights.copy(), self.col_weights.copy())

    def restore(self, s: Snapshot) -> None:
        self.m = s.rows
        self.active = s.active.copy()
        self.inverse, self.x, self.mu = s.inverse.copy(), s.x.copy(), s.mu.copy()
        self.row_weights, self.col_weights = s.row_weights.copy(), s.col_weights.copy()

    # -- rows --------------------------------------------------------------------------------------
    def add_rows(self, rows: np.ndarray) -> None:
        """Append inactive rows (the vertex stays dual feasible; they may be violated)."""
        k = len(rows)
        if k == 0:
            return
        if self.m + k > len(self._buf):
            grown = np.empty((max(2 * len(self._buf), self.m + k), self.n))
            grown[: self.m] = self.rows
            self._buf = grown
        self._buf[self.m : self.m + k] = rows
        self.m += k
        self.row_weights = np.r_[self.row_weights[: self.m - k], self._weights_of(rows)]
        self.active.row_on = np.r_[self.active.row_on[: self.m - k], np.zeros(k, bool)]

    def delete_rows(self, positions: np.ndarray) -> None:
        """Delete inactive rows (the vertex and its inverse are unchanged)."""
        positions = np.asarray(positions, np.int64)
        if len(positions) == 0:
            return
        a = self.active
        if a.row_on[positions].any():
            raise ValueError("only inactive rows can be deleted from a vertex")
        keep = np.ones(self.m, bool)
        keep[positions] = False
        new_index = np.cumsum(keep) - 1
        rows = a.kind == ROW
        a.index[rows] = new_index[a.index[rows]]
        self._buf = np.ascontiguousarray(self.rows[keep])
        self.row_weights = self.row_weights[keep]
        a.row_on = a.row_on[: self.m][keep]
        self.m = len(self._buf)

    # -- the simplex -------------------------------------------------------------------------------
    def refactor(self) -> None:
        """M^-1, the vertex and its multipliers computed again from the active constraints."""
        a, n = self.active, self.n
        M = np.zeros((n, n))
        on = a.kind == ROW
        M[on] = self.rows[a.index[on]]
        lo, hi = np.flatnonzero(a.kind == LOWER), np.flatnonzero(a.kind == UPPER)
        M[lo, a.index[lo]] = 1.0
        M[hi, a.index[hi]] = -1.0
        rhs = np.where(on, 0.0, -1.0)  # rows: g.x >= 0; bounds: x_j >= -1, -x_j >= -1
        self.inverse = np.asfortranarray(np.linalg.inv(M))
        self.x = self.inverse @ rhs
        self.mu = -self.inverse[-1].copy()  # c = e_t = -M^T mu

    def _weights_of(self, rows: np.ndarray) -> np.ndarray:
        """Steepest-edge weights ||M^-T g||^2 of rows."""
        beta = rows @ self.inverse
        return np.maximum(np.einsum("ij,ij->i", beta, beta), 1e-12)

    def meeting_gap(self) -> float:
        """||z_P - z_Q||_2 of the convex combinations the multipliers give (1/2 per side).

        At any dual-feasible vertex, c = e_t = -M^T mu says sum_P mu z - sum_Q mu z = v with
        v_j = mu of w_j's upper bound minus mu of its lower one (0 if w_j is at neither), so
        the pair is 2 v apart: an overlap certificate as soon as that is within tol, long
        before the optimum when the hulls meet (the LP then crawls to t = 0)."""
        a = self.active
        v = np.zeros(self.dim)
        lo, hi = a.kind == LOWER, a.kind == UPPER
        v[a.index[lo]] = -self.mu[lo]
        v[a.index[hi]] = self.mu[hi]
        return 2.0 * float(np.linalg.norm(v))

    def solve(self, max_iterations: int, meet_tol: float = 0.0) -> str:
        """Run the dual simplex from the current vertex. Returns OPTIMAL; MET when
        ``meet_tol`` > 0 and the multipliers' pair is within it (:meth:`meeting_gap`); LIMIT
        at ``max_iterations`` (the vertex is kept: a later call goes on from there); FAILED on
        numerical trouble. ``iterations`` counts this call's pivots."""
        self.iterations = 0
        D, G = self.dim, self.rows
        tol = PRIMAL_TOL * np.maximum(1.0, np.sqrt(np.einsum("ij,ij->i", G, G)))
        act = G @ self.x
        since = 0
        while True:
            a, x = self.active, self.x
            row_gap = np.where(a.row_on[: self.m] | (act > -tol), 0.0, act)
            lo_gap = np.where(a.at_lower | (x[:D] > -1.0 - PRIMAL_TOL), 0.0, x[:D] + 1.0)
            hi_gap = np.where(a.at_upper | (x[:D] < 1.0 + PRIMAL_TOL), 0.0, 1.0 - x[:D])
            score_r = row_gap * row_gap / self.row_weights
            score_lo = lo_gap * lo_gap / self.col_weights
            score_hi = hi_gap * hi_gap / self.col_weights
            i_r, i_lo, i_hi = int(score_r.argmax()), int(score_lo.argmax()), int(score_hi.argmax())
            best = max(score_r[i_r], score_lo[i_lo], score_hi[i_hi])
            if best <= 0.0:
                return OPTIMAL if self.mu.min() >= -1e-7 * max(1.0, self.mu.max()) else FAILED
            if meet_tol > 0 and self.iterations % MEET_EVERY == 0 and self.meeting_gap() <= meet_tol:
                return MET
            if self.iterations >= max_iterations:
                return LIMIT
            # The entering constraint g (violated by `gap` < 0) and alpha = M^-T g.
            if score_r[i_r] == best:
                kind, idx, gap = ROW, i_r, act[i_r]
                alpha = G[i_r] @ self.inverse
            elif score_lo[i_lo] == best:
                kind, idx, gap = LOWER, i_lo, x[i_lo] + 1.0
                alpha = self.inverse[i_lo].copy()
            else:
                kind, idx, gap = UPPER, i_hi, 1.0 - x[i_hi]
                alpha = -self.inverse[i_hi]
            p = _ratio_test(alpha, self.mu)
            if p < 0:  # no pivot: infeasible, impossible for this LP but by rounding
                return FAILED
            drift = self._pivot(p, kind, idx, gap, alpha, act)
            self.iterations += 1
            since += 1
            if since >= REFACTOR_EVERY or drift:
                self.refactor()
                act = G @ self.x
                since = 0

    def _pivot(self, p: int, kind: int, idx: int, gap: float, alpha: np.ndarray,
               act: np.ndarray) -> bool:
        """Active slot p leaves, the constraint (kind, idx) enters; everything updated. True
        if the inverse has drifted (the pivot read from its row and from its column differ)."""
        D, G = self.dim, self.rows
        ap = alpha[p]
        d = self.inverse[:, p].copy()  # the edge: keeps the others active, raises slot p's
        u = self.inverse @ alpha
        Gd, Gu = G @ d, G @ u
        drift = kind == ROW and abs(Gd[idx] - ap) > DRIFT_TOL * max(1.0, abs(ap))
        a_e = alpha.copy()
        a_e[p] -= 1.0
        norm2 = float(a_e @ a_e)
        # Steepest-edge weights of the inactive constraints, updated exactly (Forrest-Goldfarb
        # in this form): beta' = beta - (alpha - e_p) (g.d) / alpha_p.
        gam = Gd / ap
        self.row_weights = np.maximum(self.row_weights - 2.0 * gam * (Gu - Gd) + gam * gam * norm2,
                                      1e-12)
        gc = d[:D] / ap
        self.col_weights = np.maximum(self.col_weights - 2.0 * gc * (u[:D] - d[:D]) + gc * gc * norm2,
                                      1e-12)
        # Primal step along d until the entering constraint is tight; dual step.
        step = -gap / ap
        self.x += step * d
        act += step * Gd
        theta = max(self.mu[p], 0.0) / ap
        self.mu -= theta * alpha
        self.mu[p] = theta
        # Basis change, and the leaving constraint's weight: beta = e_p - (alpha - e_p)/alpha_p.
        a = self.active
        out_kind, out_idx = int(a.kind[p]), int(a.index[p])
        _set_mask(a, out_kind, out_idx, False)
        _set_mask(a, kind, idx, True)
        a.kind[p], a.index[p] = kind, idx
        beta = -a_e / ap
        beta[p] += 1.0
        w_out = max(float(beta @ beta), 1e-12)
        if out_kind == ROW:
            self.row_weights[out_idx] = w_out
        else:
            self.col_weights[out_idx] = w_out
        # M'^-1 = M^-1 - d (alpha - e_p)^T / alpha_p, in place.
        self.inverse = dger(-1.0 / ap, d, a_e, a=self.inverse, overwrite_a=1)
        return drift


def _ratio_test(alpha: np.ndarray, mu: np.ndarray) -> int:
    """The active slot to leave (Harris's two passes: the largest pivot among the slots whose
    ratio mu / alpha is within the tolerance of the smallest), or -1 if none has alpha > 0."""
    ok = np.flatnonzero(alpha > PIVOT_TOL * np.abs(alpha).max())
    if len(ok) == 0:
        return -1
    m = np.maximum(mu[ok], 0.0)
    bound = ((m + DUAL_TOL) / alpha[ok]).min()
    near = ok[m / alpha[ok] <= bound]
    return int(near[np.argmax(alpha[near])])


def _active_set(kind: np.ndarray, index: np.ndarray, m: int, dim: int) -> ActiveSet:
    a = ActiveSet(kind, index, np.zeros(m, bool), np.zeros(dim, bool), np.zeros(dim, bool))
    for k, i in zip((ROW, LOWER, UPPER), (a.row_on, a.at_lower, a.at_upper), strict=True):
        i[index[kind == k]] = True
    return a


def _set_mask(a: ActiveSet, kind: int, idx: int, on: bool) -> None:
    (a.row_on if kind == ROW else a.at_lower if kind == LOWER else a.at_upper)[idx] = on
