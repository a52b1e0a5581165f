"""The max-margin LP that decides hull distance against the tolerance, with constraint generation.

:class:`MarginLP` maximises the margin t of a plane with |w_i| <= 1 over a working set of rows
(a dense dual simplex, continued in place as rows are added); its optimum is half the L1
distance of the working sets' hulls and its dual gives the two convex combinations that attain it.
:func:`decide_distance` grows the working set until the plane holds on all points (disjoint,
with a verified normal) or the dual's pair is within tol in L2 (overlap, with the two points),
and answers None in between, where the caller keeps its exact method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ftprobe.probe.directprobe.dual_simplex import (
    HIGHS_BASIC,
    LIMIT,
    MET,
    OPTIMAL,
    DenseDualSimplex,
)
from ftprobe.probe.directprobe.highs import new_highs
from ftprobe.probe.directprobe.hull import most_violated
from ftprobe.probe.directprobe.overlap import candidate_pairs, common_pair
from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning

# -- tolerance-aware decision for pairs the nearest-point solver does not settle quickly -------
# (its caps and working-set sizes are fields of tuning.Tuning: lp_*, probe_*)


@dataclass
class Decision:
    """Outcome of :func:`decide_distance`: ``disjoint`` True (hull distance > tol, with a verified
    unit normal ``w``: min P@w - max Q@w > tol), False (an explicit pair ``zp`` in conv(P),
    ``zq`` in conv(Q) with ||zp - zq|| <= tol), or None (undecided: the caller must fall back to
    an exact method)."""

    disjoint: bool | None
    w: np.ndarray | None = None
    lo: float = 0.0
    hi: float = 0.0
    zp: np.ndarray | None = None
    zq: np.ndarray | None = None
    rounds: int = 0
    # Indices (into P, Q) of the points that held the last working-set optimum up: a good
    # first working set when the same pair, grown a little, is decided again. For an overlap,
    # the points of the common pair's convex combinations.
    support_p: np.ndarray | None = None
    support_q: np.ndarray | None = None
    # The LP at the end (its last vertex, usually an optimum) and its rows as blocks of
    # indices (into P when the flag is True, else into Q), in the order they were added: the
    # caller may hand both back (``warm``) to decide a superset of P against the same Q, or,
    # after deleting rows (``MarginLP.drop_rows``), a set that shares most of P. Given with
    # either answer (an overlap's LP too).
    lp: object | None = None
    blocks: list | None = None
    probed: bool = False  # an overlap certified by overlap_probe, the LP left unfinished


def overlap_probe(P, Q, tol, blocks, vp0, vq0, max_points=DEFAULT_TUNING.probe_points):
    """An overlap certificate without the LP, for a continued decision whose new points lie
    deep past the kept plane (normal w0; ``vp0``, ``vq0`` are P @ w0 and Q @ w0) and whose LP did
    not settle within a short run: NNLS over the LP's rows (``blocks``) and the points of each
    side nearest that plane, checked in L2 like any common pair. Such pairs nearly
    touched before (the kept margin is tiny), and the pair may need points the LP has not
    taken in yet. A Decision(False) or None."""
    rows_p = np.unique(np.concatenate([blk for blk, onp in blocks if onp] + [np.zeros(0, np.int64)]))
    rows_q = np.unique(np.concatenate([blk for blk, onp in blocks if not onp]
                                      + [np.zeros(0, np.int64)]))
    room = (max_points - len(rows_p) - len(rows_q)) // 2
    if room <= 0:
        return None
    near_p = np.argpartition(vp0, room - 1)[:room] if room < len(P) else np.arange(len(P))
    near_q = np.argpartition(-vq0, room - 1)[:room] if room < len(Q) else np.arange(len(Q))
    sp = np.union1d(rows_p, near_p)
    sq = np.union1d(rows_q, near_q)
    found = common_pair(P, Q, sp, sq, tol, max_points)
    if found is None:
        return None
    zp, zq, up, uq = found
    return Decision(False, zp=zp, zq=zq, rounds=1, support_p=up, support_q=uq, probed=True)


class MarginLP:
    """max t  s.t.  w.p + b >= t (p in P),  w.q + b <= -t (q in Q),  -1 <= w_i <= 1.

    Columns w (D), b, t; rows are added incrementally and the LP is continued from its last
    vertex. By LP duality the optimum is half the L1 distance between the hulls of the rows'
    points: the dual weights (a on P, b on Q) are convex combinations up to a factor 1/2 each,
    and the dual objective is ||P'a - Q'b||_1.

    The LP lives in a :class:`~ftprobe.probe.directprobe.dual_simplex.DenseDualSimplex`
    (started from the closest pair of rows), which keeps its basis inverse between solves
    (HiGHS, used before, refactorised it after every added row, ~0.09 s) and can stop as soon
    as its dual pair is within a tolerance (``solve(meet_tol=...)``). HiGHS only takes out
    rows a vertex rests on (:meth:`drop_rows`).

    A kept LP can be *frozen* (:meth:`freeze`): only its basis (HiGHS's codes, ~1 byte per row)
    and optimum stay; whoever continues it rebuilds the rows from the same points
    (:meth:`thaw`, done by ``decide_distance`` from its blocks: one inverse, ~10 ms).
    """

    def __init__(self, dim: int, tuning: Tuning = DEFAULT_TUNING):
        self.dim = dim
        self.tuning = tuning  # its iteration limits and pruning (lp_iter_*, probe_iters, ...)
        self.engine: DenseDualSimplex | None = None  # after the first solve
        self.pending: list[np.ndarray] = []  # rows added before the first solve
        self.optimum = None  # (t, w, b) of the last optimal solve, for continuing decisions
        self.frozen_basis = None  # (column statuses, row statuses) as int8 while frozen
        self.frozen_rows = 0
        self.is_frozen = False
        self.paused = False  # the last solve stopped at pause_after (see solve)
        self.met = False  # the last solve stopped at a dual pair within meet_tol (see solve)
        self.iterations = 0  # simplex iterations of the last solve
        self.at_optimum = False  # the vertex is the optimum of the rows held

    @classmethod
    def from_frozen_state(cls, dim: int, n_rows: int, basis, optimum,
                          tuning: Tuning = DEFAULT_TUNING) -> MarginLP:
        """A frozen LP of ``n_rows`` rows, as :meth:`freeze` leaves one (``basis``: column and
        row statuses, or None), e.g. from a saved state."""
        lp = cls(dim, tuning)
        lp.optimum, lp.frozen_basis, lp.frozen_rows, lp.is_frozen = optimum, basis, n_rows, True
        return lp

    @property
    def frozen(self) -> bool:
        return self.is_frozen

    @property
    def num_rows(self) -> int:
        if self.is_frozen:
            return self.frozen_rows
        if self.engine is not None:
            return self.engine.m
        return sum(len(r) for r in self.pending)

    def constraint_rows(self) -> np.ndarray:
        """The rows (s z, s, -1) the LP holds, in order (none while frozen)."""
        return self._held_rows().copy()

    def _held_rows(self) -> np.ndarray:
        """The rows held, the engine's or those waiting for the first solve (not a copy)."""
        if self.engine is not None:
            return self.engine.rows
        return np.concatenate(self.pending or [np.zeros((0, self.dim + 2))])

    def _iteration_limit(self, n_rows: int) -> int:
        """Pivots one solve may take on ``n_rows`` rows (``lp_iter_per_row``, ``lp_iter_base``)."""
        tn = self.tuning
        return int(tn.lp_iter_per_row * (n_rows + self.dim + 2) + tn.lp_iter_base)

    def basis_statuses(self):
        """(column statuses, row statuses) as int8 arrays (HiGHS's codes), or None if the LP
        has no basis yet."""
        if self.is_frozen:
            return self.frozen_basis
        return None if self.engine is None else self.engine.statuses()

    def freeze(self) -> None:
        """Give back the rows and the basis inverse, keeping the basis and the optimum."""
        if not self.is_frozen:
            self.frozen_basis = self.basis_statuses()
            self.frozen_rows = self.num_rows
            self.engine, self.pending, self.is_frozen = None, [], True

    def thaw(self, Z: np.ndarray, signs: np.ndarray) -> None:
        """Rebuild a frozen LP from its rows' points ``Z`` (in row order, ``signs`` +1 for P
        and -1 for Q) and its basis (a basis that is no longer a dual-feasible vertex, or
        none, leaves the rows to be solved from scratch)."""
        if not self.is_frozen:
            return
        if len(Z) != self.frozen_rows:
            raise ValueError(f"a frozen LP of {self.frozen_rows} rows thawed with {len(Z)}")
        rows = self._rows(Z, signs)
        self.engine = None
        if self.frozen_basis is not None:
            self.engine = DenseDualSimplex.from_statuses(rows, self.dim, *self.frozen_basis)
        self.pending = [] if self.engine is not None else [rows]
        self.frozen_basis, self.frozen_rows, self.is_frozen = None, 0, False

    def checkpoint(self):
        """The state that :meth:`rollback` returns to (the vertex and optimum; for a frozen
        LP, the frozen state itself)."""
        if self.is_frozen:
            saved = ("frozen", self.frozen_basis, self.frozen_rows)
        elif self.engine is None:
            saved = ("pending", self.num_rows)
        else:
            saved = self.engine.snapshot()
        return saved, self.optimum, self.at_optimum

    def rollback(self, n_rows: int, state) -> None:
        """Delete the rows added after the first ``n_rows`` and return to the checkpointed
        vertex and optimum: the LP is as it was (a re-solve takes no iteration). An LP frozen
        at the checkpoint is frozen again as it was."""
        saved, self.optimum, self.at_optimum = state
        if isinstance(saved, tuple) and saved[0] == "frozen":
            _, self.frozen_basis, self.frozen_rows = saved
            self.engine, self.pending, self.is_frozen = None, [], True
            return
        if isinstance(saved, tuple):  # no vertex at the checkpoint: only rows
            rows = self._held_rows()[:n_rows].copy()
            self.engine, self.pending = None, [rows]
            return
        self.engine.restore(saved)

    def add(self, Z: np.ndarray, sign: float) -> None:
        self._add_rows(Z, np.full(len(Z), float(sign)))

    def _rows(self, Z: np.ndarray, signs: np.ndarray) -> np.ndarray:
        """The LP rows (s z, s, -1) of points ``Z`` with signs ``signs``."""
        d = self.dim
        rows = np.empty((len(Z), d + 2))
        rows[:, :d] = signs[:, None] * Z
        rows[:, d] = signs
        rows[:, d + 1] = -1.0
        return rows

    def _add_rows(self, Z: np.ndarray, signs: np.ndarray) -> None:
        if len(Z) == 0:
            return
        rows = self._rows(np.asarray(Z, np.float64), np.asarray(signs, np.float64))
        self.at_optimum = False
        if self.engine is None:
            self.pending.append(rows)
        else:
            self.engine.add_rows(rows)

    def prune(self, blocks: list) -> list:
        """Delete the rows farthest from the current plane until at most
        ``tuning.lp_rows_per_col`` x columns are left; return ``blocks`` (index blocks in row
        order) without them. Call it when the LP is kept for continuation.

        Only inactive rows clearly off their bound go, so the vertex stays as it is and the
        next solve resumes from it. Every solve pays for every row, while the optimum rests on
        at most as many rows as columns. Never called during a decision: a continued decision
        only appends rows, which is what lets a rejected merge give the LP back by deleting
        them (clustering.MergeEngine._restore_lps).
        """
        eng = self.engine
        if eng is None:  # frozen (pruned when it was kept, unchanged since) or never solved
            return blocks
        n = eng.m
        keep = self.tuning.lp_rows_per_col * (self.dim + 2)
        if n <= keep:
            return blocks
        act = eng.activities()
        slack = 1e-6 * max(1.0, abs(eng.t))  # relative to t
        far = np.flatnonzero((act > slack) & ~eng.active.row_on[:n])
        k = min(len(far), n - keep)
        if k <= 0:
            return blocks
        drop = far[np.argpartition(-act[far], k - 1)[:k]] if k < len(far) else far
        eng.delete_rows(drop)
        kept = np.ones(n, bool)
        kept[drop] = False
        out, pos = [], 0
        for blk, onp in blocks:
            m = kept[pos : pos + len(blk)]
            pos += len(blk)
            if m.any():
                out.append((blk[m], onp))
        return out

    def drop_rows(self, rows: np.ndarray) -> bool:
        """Delete the rows ``rows`` (positions) and re-optimise what is left; False if no
        optimum is reached (the LP is then of no further use).

        Inactive rows go without touching the vertex. If one of them holds the vertex up (a
        dual simplex cannot take out an active row), HiGHS frees those rows and re-optimises
        from the vertex (a few primal and dual iterations), and they go once inactive; failing
        that, the rows left are solved from scratch.
        """
        idx = np.unique(np.asarray(rows, np.int64))
        if len(idx) == 0:
            return True
        eng = self.engine
        if eng is None:  # frozen or never solved: no vertex to keep
            return False
        if not eng.active.row_on[idx].any():
            eng.delete_rows(idx)
            return self.at_optimum or self.solve() is not None
        basis, self.iterations = _highs_basis_freed(eng.rows, self.dim, self._iteration_limit(eng.m),
                                                    eng.statuses(), idx)
        moved = (DenseDualSimplex.from_statuses(eng.rows, self.dim, *basis)
                 if basis is not None and (basis[1][idx] == HIGHS_BASIC).all() else None)
        keep = np.ones(eng.m, bool)
        keep[idx] = False
        if moved is None:
            self.engine, self.pending = None, [eng.rows[keep].copy()]
            return self.solve() is not None
        moved.delete_rows(idx)
        self.engine = moved
        return self.solve() is not None  # at the optimum already: no iteration

    def solve(self, pause_after: int | None = None, meet_tol: float = 0.0):
        """(t, w, b, row duals) or None when no optimum is reached.

        Each solve gets an iteration limit (normal re-solves take ~1-3 x the columns; an LP
        whose optimum sits on exactly shared points, t = 0, was seen to stall for minutes):
        hitting it means "no answer" and the caller falls back to its exact method.
        ``pause_after``: stop unfinished after that many iterations with ``paused`` set (the
        next call goes on from there). ``meet_tol``: stop with ``met`` set as soon as the dual
        pair is within it (the caller checks that pair; the vertex is then not an optimum
        and ``optimum`` keeps the last one).
        """
        self.paused = self.met = self.at_optimum = False
        self.iterations = 0
        limit = self._iteration_limit(self.num_rows)
        if limit <= 0:  # no budget: no answer (not even from the starting vertex)
            return None
        if self.engine is None:
            self.engine = DenseDualSimplex.cold(self._held_rows(), self.dim)
            if self.engine is None:  # one side has no row: unbounded
                return None
            self.pending = []
        eng = self.engine
        first = limit if pause_after is None else min(limit, pause_after)
        status = eng.solve(first, meet_tol)
        self.iterations = eng.iterations
        if status == LIMIT and pause_after is not None and first < limit:
            self.paused = True
            return None
        if status not in (OPTIMAL, MET):
            return None
        self.met = status == MET
        d = self.dim
        x = eng.x
        if status == OPTIMAL:
            self.optimum = (float(x[d + 1]), x[:d].copy(), float(x[d]))
            self.at_optimum = True
        return float(x[d + 1]), x[:d].copy(), float(x[d]), eng.row_duals()


def _highs_basis_freed(rows: np.ndarray, dim: int, limit: int, start, free: np.ndarray):
    """HiGHS's optimal basis of the margin LP with these rows from the basis ``start``
    (statuses in HiGHS's codes) once the rows ``free`` are unbounded: ((column statuses, row
    statuses) as int8, iterations), or (None, iterations) without an optimum."""
    import highspy

    h = new_highs()
    h.setOptionValue("presolve", "off")  # nothing to remove in these dense rows
    h.setOptionValue("simplex_iteration_limit", limit)
    n = dim + 2
    lo = np.r_[np.full(dim, -1.0), -np.inf, -np.inf]
    hi = np.r_[np.full(dim, 1.0), np.inf, np.inf]
    cost = np.zeros(n)
    cost[-1] = -1.0  # minimise -t
    h.addCols(n, cost, lo, hi, 0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
    m = len(rows)
    if m:
        h.addRows(m, np.zeros(m), np.full(m, np.inf), m * n,
                  np.arange(0, m * n, n, dtype=np.int32),
                  np.tile(np.arange(n, dtype=np.int32), m), rows.ravel())
    hb = highspy.HighsBasis()
    hb.col_status = [highspy.HighsBasisStatus(int(x)) for x in start[0]]
    hb.row_status = [highspy.HighsBasisStatus(int(x)) for x in start[1]]
    hb.valid = True
    h.setBasis(hb)
    free = np.asarray(free, np.int32)
    h.changeRowsBounds(len(free), free, np.full(len(free), -np.inf), np.full(len(free), np.inf))
    h.run()
    iterations = int(h.getInfo().simplex_iteration_count)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None, iterations
    b = h.getBasis()
    if not b.valid:
        return None, iterations
    return (np.array([int(x) for x in b.col_status], np.int8),
            np.array([int(x) for x in b.row_status], np.int8)), iterations


def _dual_weights(dual: np.ndarray, blocks: list, n_p: int, n_q: int):
    """The LP's row duals as weights on P and on Q (tiny ones zeroed)."""
    a, bq = np.zeros(n_p), np.zeros(n_q)
    pos = 0
    for blk, onp in blocks:
        (a if onp else bq)[blk] += dual[pos : pos + len(blk)]
        pos += len(blk)
    a[a < 1e-12 * max(a.max(initial=0.0), 1e-300)] = 0.0
    bq[bq < 1e-12 * max(bq.max(initial=0.0), 1e-300)] = 0.0
    return a, bq


def _pair_within(P, Q, a, bq, tol):
    """The first pair from the weights (:func:`candidate_pairs`) within tol in L2, or None."""
    for zp, zq in candidate_pairs(P, Q, a, bq):
        if float(np.linalg.norm(zp - zq)) <= tol:
            return zp, zq
    return None


def _margin_violators(vp, vq, b, t, skip_p, skip_q, n_add):
    """Points outside the working sets (``skip_p``, ``skip_q``) that violate the margin ``t``
    of the plane with projections ``vp``, ``vq`` and offset ``b``: the ``n_add`` worst per
    side, as indices into P and Q."""
    eps = 1e-9 * max(1.0, abs(t))
    badp = np.flatnonzero((vp + b < t - eps) & ~skip_p)
    badq = np.flatnonzero((vq + b > -t + eps) & ~skip_q)
    return most_violated(badp, vp[badp], n_add), most_violated(badq, -vq[badq], n_add)


def decide_distance(P: np.ndarray, Q: np.ndarray, tol: float,
                    seed_p: np.ndarray | None = None, seed_q: np.ndarray | None = None,
                    direction: np.ndarray | None = None, warm=None,
                    tuning: Tuning = DEFAULT_TUNING) -> Decision:
    """Decide hull distance > ``tol`` with a max-margin LP and constraint generation.

    The LP (:class:`MarginLP`) maximises the margin t of a plane with |w_i| <= 1 on a working
    set; its optimum is half the L1 distance between the working sets' hulls, and its dual gives
    the two convex combinations z_P, z_Q that attain it. Violators on the full sets (one
    matrix-vector product per side) join the working set until the plane holds on all points.
    Nothing is taken on trust:
    - overlap (distance <= tol) is accepted only from two explicit points z_P in conv(P),
      z_Q in conv(Q) with ||z_P - z_Q||_2 <= tol (L2 <= L1, so any working set whose L1
      distance is at most tol yields one);
    - disjointness (distance > tol) only from a unit normal whose projections separate *all*
      points of P and Q by more than tol.
    The LP's plane maximises an L1 margin, which is within a factor sqrt(D) of the Euclidean
    one; a pair whose distance falls in that band (or any LP trouble) returns
    ``disjoint=None`` and the caller keeps its exact method. So this routine can make a decision
    faster, never different.

    ``seed_p``/``seed_q`` (e.g. the nearest-point solver's active points) and the points nearest
    the plane orthogonal to ``direction`` (P on its high side) form the first working set.
    ``warm = (lp, blocks)`` continues an earlier decision's LP instead (its rows re-indexed into
    this P and Q by the caller): every earlier row is still a valid constraint, the LP goes on
    from its last vertex, and only the new violators are added (those of the kept optimum
    already before the first solve). When a new point lies more than ``probe_depth`` margins
    past the kept plane, the pair most likely meets: if the first re-solve does not finish
    within ``probe_iters`` iterations, :func:`overlap_probe` looks for the common pair by NNLS
    before the LP goes on. Every solve stops as soon as its dual pair is within tol in L2
    (then checked on the points like any pair), long before an optimum at t = 0.
    """
    P = np.asarray(P, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if not (tol > 0):
        return Decision(None)
    dim = P.shape[1]
    d = P.mean(0) - Q.mean(0) if direction is None else np.asarray(direction, np.float64)
    inP = np.zeros(len(P), bool)
    inQ = np.zeros(len(Q), bool)
    if seed_p is not None:
        inP[np.asarray(seed_p, np.int64)] = True
    if seed_q is not None:
        inQ[np.asarray(seed_q, np.int64)] = True
    sp, sq = P @ d, Q @ d
    tn = tuning
    k = min(tn.lp_first_rows, len(P))
    inP[np.argpartition(sp, k - 1)[:k] if k < len(P) else slice(None)] = True
    k = min(tn.lp_first_rows, len(Q))
    inQ[np.argpartition(-sq, k - 1)[:k] if k < len(Q) else slice(None)] = True
    probe = None  # the kept plane's projections, when an overlap probe may pay (see below)
    if warm is not None:
        lp, old_blocks = warm
        lp.tuning = tn  # this decision's limits govern the LP it continues
        blocks = [(np.asarray(blk, np.int64), onp) for blk, onp in old_blocks]
        if lp.frozen:
            lp.thaw(np.concatenate([P[blk] if onp else Q[blk] for blk, onp in blocks] + [P[:0]]),
                    np.concatenate([np.full(len(blk), 1.0 if onp else -1.0) for blk, onp in blocks]
                                   + [np.zeros(0)]))
        had_p = np.zeros(len(P), bool)
        had_q = np.zeros(len(Q), bool)
        for blk, onp in blocks:
            (had_p if onp else had_q)[blk] = True
        if lp.optimum is not None:
            # The new points that violate the LP's optimum join at once: a first solve
            # without them would keep that optimum (0 iterations) and only then find them.
            t0, w0, b0 = lp.optimum
            vp0, vq0 = P @ w0, Q @ w0
            badp, badq = _margin_violators(vp0, vq0, b0, t0, inP | had_p, inQ | had_q,
                                           tn.lp_add_rows)
            inP[badp] = True
            inQ[badq] = True
        new_p, new_q = np.flatnonzero(inP & ~had_p), np.flatnonzero(inQ & ~had_q)
        if lp.optimum is not None and t0 > 0:
            # A new point far beyond the old plane (in units of its margin) mostly makes the
            # pair meet, sometimes through points the LP does not have yet: an NNLS probe
            # over the points nearest the old plane may then find the pair sooner.
            depth = min(float((vp0[new_p] + b0).min()) if len(new_p) else 0.0,
                        float(-(vq0[new_q] + b0).max()) if len(new_q) else 0.0)
            if depth < -tn.probe_depth * t0:
                probe = (vp0, vq0)
        inP |= had_p
        inQ |= had_q
        for blk, onp in ((new_p, True), (new_q, False)):
            if len(blk):
                lp.add(P[blk] if onp else Q[blk], 1.0 if onp else -1.0)
                blocks.append((blk, onp))
    else:
        lp = MarginLP(dim, tn)
        blocks = [(np.flatnonzero(inP), True), (np.flatnonzero(inQ), False)]
        for blk, onp in blocks:
            lp.add(P[blk] if onp else Q[blk], 1.0 if onp else -1.0)
    for rounds in range(1, tn.lp_rounds + 1):
        res = lp.solve(pause_after=tn.probe_iters if probe is not None else None, meet_tol=tol)
        if lp.paused:
            # Deep violators and no answer after a short run: the pair most likely meets,
            # but the LP may need thousands of iterations to show it.
            dec = overlap_probe(P, Q, tol, blocks, *probe, max_points=tn.probe_points)
            if dec is not None:
                dec.lp, dec.blocks = lp, blocks
                return dec
            res = lp.solve(meet_tol=tol)
        probe = None
        if res is None:
            return Decision(None, rounds=rounds)
        t, w, b0, dual = res
        a, bq = _dual_weights(dual, blocks, len(P), len(Q))
        if t <= 0.5 * tol or t <= 4.0 * tol * np.sqrt(dim):
            pair = _pair_within(P, Q, a, bq, tol)
            if pair is None and lp.met:
                # The multipliers' pair was not within tol on the points after all (rounding):
                # on to the optimum.
                res = lp.solve()
                if res is None:
                    return Decision(None, rounds=rounds)
                t, w, b0, dual = res
                a, bq = _dual_weights(dual, blocks, len(P), len(Q))
                pair = _pair_within(P, Q, a, bq, tol)
            if pair is not None:
                return Decision(False, zp=pair[0], zq=pair[1], rounds=rounds,
                                support_p=np.flatnonzero(a > 0),
                                support_q=np.flatnonzero(bq > 0), lp=lp, blocks=blocks)
            if t <= 0.5 * tol:
                return Decision(None, rounds=rounds)
        vp = P @ w
        vq = Q @ w
        lo, hi = float(vp.min()), float(vq.max())
        nw = float(np.linalg.norm(w))
        if nw > 0 and (lo - hi) / nw > tol:
            k_p, k_q = min(tn.lp_support_rows, len(P)), min(tn.lp_support_rows, len(Q))
            near_p = np.argpartition(vp, k_p - 1)[:k_p] if k_p < len(P) else np.arange(len(P))
            near_q = np.argpartition(-vq, k_q - 1)[:k_q] if k_q < len(Q) else np.arange(len(Q))
            return Decision(True, w=w / nw, lo=lo / nw, hi=hi / nw, rounds=rounds,
                            support_p=np.union1d(np.flatnonzero(a > 0), near_p),
                            support_q=np.union1d(np.flatnonzero(bq > 0), near_q),
                            lp=lp, blocks=blocks)
        # Violators of the working-set margin join the working set.
        badp, badq = _margin_violators(vp, vq, b0, t, inP, inQ, tn.lp_add_rows)
        if len(badp) == 0 and len(badq) == 0:
            # In the band between L1 and L2 readings; the working set goes back as a first
            # working set for the exact solver.
            return Decision(None, rounds=rounds, blocks=blocks)
        inP[badp] = True
        inQ[badq] = True
        lp.add(P[badp], 1.0)
        lp.add(Q[badq], -1.0)
        blocks += [(badp, True), (badq, False)]
    return Decision(None, rounds=tn.lp_rounds)
