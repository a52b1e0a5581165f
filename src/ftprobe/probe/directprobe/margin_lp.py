"""The max-margin LP that decides hull distance against the tolerance, with constraint generation.

:class:`MarginLP` maximises the margin t of a plane with |w_i| <= 1 over a working set of rows
(HiGHS, re-solved warm as rows are added); its optimum is half the L1 distance of the working
sets' hulls and its dual gives the two convex combinations that attain it.
:func:`decide_distance` grows the working set until the plane holds on all points (disjoint,
with a verified normal) or the dual's pair is within tol in L2 (overlap, with the two points),
and answers None in between, where the caller keeps its exact method.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ftprobe.probe.directprobe.highs import new_highs
from ftprobe.probe.directprobe.hull import most_violated
from ftprobe.probe.directprobe.overlap import candidate_pairs, common_pair
from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning

# -- tolerance-aware decision for pairs the nearest-point solver does not settle quickly -------
# (its caps and working-set sizes are fields of tuning.Tuning: lp_*, devex_*, probe_points)


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
    # The LP at the end (HiGHS instance with its optimal basis) and its rows as blocks of
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
    touched before (the kept margin is tiny) and the LP can take thousands of degenerate
    iterations to reach t = 0, where this takes ~0.3 s. A Decision(False) or None."""
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

    Columns w (D), b, t; rows are added incrementally (HiGHS re-solves from the last basis).
    By LP duality the optimum is half the L1 distance between the hulls of the rows' points:
    the dual weights (a on P, b on Q) are convex combinations up to a factor 1/2 each, and the
    dual objective is ||P'a - Q'b||_1.

    A kept LP can be *frozen* (:meth:`freeze`): HiGHS's instance (~35 KB per row of 386 dense
    columns) is given back and only its basis and optimum stay (~1 byte per row); whoever
    continues it rebuilds the rows from the same points (:meth:`thaw`, done by
    ``decide_distance`` from its blocks), and HiGHS resumes from that basis. The rebuild costs
    ~0.01 s at ~1,200 rows (the factorisation is the run's, as for a live LP after new rows),
    against ~0.75 s for building the LP again from a few seeds.
    """

    def __init__(self, dim: int, tuning: Tuning = DEFAULT_TUNING):
        self.dim = dim
        self.tuning = tuning  # its iteration limits and pruning (lp_iter_*, devex_iters, ...)
        self.h = self._new_model()
        self.optimum = None  # (t, w, b) of the last optimal solve, for continuing decisions
        self.frozen_basis = None  # (column statuses, row statuses) as int8 while frozen
        self.frozen_rows = 0
        self.devex = False  # Devex pricing for the next solve's first iterations
        self.paused = False  # the last solve stopped after its Devex run (see solve)

    def _new_model(self):
        h = new_highs()
        # Presolve finds little to remove in these dense rows (one point each): solves from
        # scratch take ~10 % less time without it (16 captured pairs, same optima).
        h.setOptionValue("presolve", "off")
        n = self.dim + 2
        lo = np.r_[np.full(self.dim, -1.0), -np.inf, -np.inf]
        hi = np.r_[np.full(self.dim, 1.0), np.inf, np.inf]
        cost = np.zeros(n)
        cost[-1] = -1.0  # minimise -t
        h.addCols(n, cost, lo, hi, 0, np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0))
        return h

    @classmethod
    def from_frozen_state(cls, dim: int, n_rows: int, basis, optimum,
                          tuning: Tuning = DEFAULT_TUNING) -> MarginLP:
        """A frozen LP of ``n_rows`` rows, as :meth:`freeze` leaves one (``basis``: column and
        row statuses, or None), without building a HiGHS instance (e.g. from a saved state)."""
        lp = cls.__new__(cls)
        lp.dim, lp.h, lp.optimum, lp.devex, lp.paused = dim, None, optimum, False, False
        lp.tuning = tuning
        lp.frozen_basis, lp.frozen_rows = basis, n_rows
        return lp

    @property
    def frozen(self) -> bool:
        return self.h is None

    @property
    def num_rows(self) -> int:
        return self.frozen_rows if self.h is None else self.h.getNumRow()

    def basis_statuses(self):
        """(column statuses, row statuses) as int8 arrays (HiGHS's codes), or None if the LP
        has no valid basis."""
        if self.h is None:
            return self.frozen_basis
        b = self.h.getBasis()
        if not b.valid:
            return None
        return (np.array([int(x) for x in b.col_status], np.int8),
                np.array([int(x) for x in b.row_status], np.int8))

    def freeze(self) -> None:
        """Give back HiGHS's instance, keeping the basis and the optimum (see the class)."""
        if self.h is not None:
            self.frozen_basis = self.basis_statuses()
            self.frozen_rows = self.h.getNumRow()
            self.h = None

    def thaw(self, Z: np.ndarray, signs: np.ndarray) -> None:
        """Rebuild a frozen LP from its rows' points ``Z`` (in row order, ``signs`` +1 for P
        and -1 for Q) and set its basis again."""
        import highspy

        if self.h is not None:
            return
        if len(Z) != self.frozen_rows:
            raise ValueError(f"a frozen LP of {self.frozen_rows} rows thawed with {len(Z)}")
        self.h = self._new_model()
        self._add_rows(Z, signs)
        if self.frozen_basis is not None:
            cols, rows = self.frozen_basis
            hb = highspy.HighsBasis()
            hb.col_status = [highspy.HighsBasisStatus(int(x)) for x in cols]
            hb.row_status = [highspy.HighsBasisStatus(int(x)) for x in rows]
            hb.valid = True
            # HiGHS's own basis for these very rows: not "alien", so setBasis takes it as it is
            # instead of factorising it to check it (~0.075 s at ~1,200 rows); run() factorises.
            hb.alien = False
            self.h.setBasis(hb)
        self.frozen_basis, self.frozen_rows = None, 0

    def checkpoint(self):
        """The state that :meth:`rollback` returns to (optimal basis and optimum; for a
        frozen LP, the frozen state itself)."""
        if self.h is None:
            return ("frozen", self.frozen_basis, self.frozen_rows), self.optimum
        return self.h.getBasis(), self.optimum

    def rollback(self, n_rows: int, state) -> None:
        """Delete the rows added after the first ``n_rows`` and set the checkpointed basis and
        optimum again: the LP is as it was (a re-solve takes no iteration). An LP frozen at
        the checkpoint is frozen again as it was."""
        basis, self.optimum = state
        if isinstance(basis, tuple):
            self.h = None
            _, self.frozen_basis, self.frozen_rows = basis
            return
        h = self.h
        extra = h.getNumRow() - n_rows
        if extra > 0:
            h.deleteRows(extra, np.arange(n_rows, n_rows + extra, dtype=np.int32))
        h.setBasis(basis)

    def add(self, Z: np.ndarray, sign: float) -> None:
        self._add_rows(Z, np.full(len(Z), float(sign)))

    def _add_rows(self, Z: np.ndarray, signs: np.ndarray) -> None:
        m = len(Z)
        if m == 0:
            return
        d = self.dim
        per = d + 2
        idx = np.empty((m, per), np.int32)
        idx[:, :d] = np.arange(d, dtype=np.int32)
        idx[:, d] = d
        idx[:, d + 1] = d + 1
        val = np.empty((m, per))
        val[:, :d] = signs[:, None] * Z
        val[:, d] = signs
        val[:, d + 1] = -1.0
        starts = np.arange(0, m * per, per, dtype=np.int32)
        self.h.addRows(m, np.zeros(m), np.full(m, np.inf), m * per, starts, idx.ravel(),
                       val.ravel())

    def prune(self, blocks: list) -> list:
        """Delete the rows farthest from the optimal plane until at most
        ``tuning.lp_rows_per_col`` x columns are left; return ``blocks`` (index blocks in row
        order) without them. Call it on an LP at its optimum, when it is kept for continuation.

        Only rows clearly off their bound go: those are basic (a nonbasic row sits at its bound
        0), so the optimal basis stays valid and the next solve resumes from it. Every HiGHS
        run pays for every row (a kept LP of 3,000 rows: ~0.1 s before its first iteration),
        while the optimum rests on at most as many rows as columns. Never called during a
        decision: a continued decision only appends rows, which is what lets a rejected merge
        give the LP back by deleting them (clustering.MergeEngine._restore_lps).
        """
        h = self.h
        if h is None:  # frozen: pruned when it was kept, unchanged since
            return blocks
        n = h.getNumRow()
        keep = self.tuning.lp_rows_per_col * (self.dim + 2)
        if n <= keep:
            return blocks
        sol = h.getSolution()
        act = np.asarray(sol.row_value)
        if len(act) != n:  # no solution of this model to go by
            return blocks
        slack = 1e-6 * max(1.0, abs(float(sol.col_value[self.dim + 1])))  # relative to t
        far = np.flatnonzero(act > slack)
        k = min(len(far), n - keep)
        if k <= 0:
            return blocks
        drop = far[np.argpartition(-act[far], k - 1)[:k]] if k < len(far) else far
        h.deleteRows(k, np.sort(drop).astype(np.int32))
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
        """Delete the rows ``rows`` (positions) from an LP at its optimum and re-optimise what
        is left; False if HiGHS does not reach an optimum (the LP is then of no further use).

        Deleting a row that holds the optimum up (nonbasic) would leave HiGHS an invalid basis
        to repair; freeing the rows first and re-solving makes them basic (two dual simplex
        runs' worth of work at most), so they go without touching the basis.
        """
        idx = np.sort(np.asarray(rows, np.int32))
        if len(idx) == 0:
            return True
        h = self.h
        h.changeRowsBounds(len(idx), idx, np.full(len(idx), -np.inf), np.full(len(idx), np.inf))
        if self.solve() is None:
            return False
        h.deleteRows(len(idx), idx)
        if not h.getBasis().valid:  # a free row left nonbasic (degenerate): HiGHS repairs it
            return self.solve() is not None
        return True

    def solve(self, pause: bool = False):
        """(t, w, b, row duals) or None when HiGHS does not reach an optimum.

        Each run gets a simplex iteration limit (normal re-solves take ~1-3 x the columns; an
        LP whose optimum sits on exactly shared points, t = 0, was seen to stall for minutes):
        hitting it means "no answer" and the caller falls back to its exact method.
        ``pause``: if the short Devex run (``devex``) ends unfinished, return None with
        ``paused`` set instead of going on; the next call goes on from there.
        """
        import highspy

        h = self.h

        def run(pricing: int, iterations: int) -> None:  # 1: Devex, -1: HiGHS's choice (DSE)
            h.setOptionValue("simplex_dual_edge_weight_strategy", pricing)
            h.setOptionValue("simplex_iteration_limit", iterations)
            h.run()

        self.paused = False
        tn = self.tuning
        limit = int(tn.lp_iter_per_row * (h.getNumRow() + h.getNumCol()) + tn.lp_iter_base)
        if self.devex:
            # Devex for a short run only: a re-solve that needs many iterations converges in
            # far fewer with steepest edge, so it goes on with that (from where Devex stopped).
            self.devex = False
            run(1, min(limit, tn.devex_iters))
            limit -= h.getInfo().simplex_iteration_count
            if h.getModelStatus() == highspy.HighsModelStatus.kIterationLimit:
                if pause:
                    self.paused = True
                    return None
                if limit > 0:
                    run(-1, limit)
        else:
            run(-1, limit)
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        sol = h.getSolution()
        x = np.asarray(sol.col_value)
        d = self.dim
        self.optimum = (float(x[d + 1]), x[:d].copy(), float(x[d]))
        return float(x[d + 1]), x[:d].copy(), float(x[d]), np.abs(np.asarray(sol.row_dual))


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
    """Decide hull distance > ``tol`` with a max-margin LP on HiGHS and constraint generation.

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
    this P and Q by the caller): every earlier row is still a valid constraint, HiGHS restarts
    from the earlier optimal basis, and only the new violators are added (those of the kept
    optimum already before the first solve). When a new point lies more than ``devex_depth``
    margins past the kept plane, the pair most likely meets: the first re-solve starts with
    Devex pricing, and if that short run does not finish, :func:`overlap_probe` looks for the
    common pair by NNLS before the LP goes on.
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
        lp.devex = False
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
            # A new point far beyond the old plane (in units of its margin) almost always
            # makes the pair meet, which the dual simplex shows in a few iterations: then the
            # exact steepest-edge weights HiGHS computes for a rebuilt LP (one solve with the
            # basis per row, as costly as the factorisation) are not worth it.
            depth = min(float((vp0[new_p] + b0).min()) if len(new_p) else 0.0,
                        float(-(vq0[new_q] + b0).max()) if len(new_q) else 0.0)
            lp.devex = depth < -tn.devex_depth * t0
            if lp.devex:
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
        res = lp.solve(pause=probe is not None)
        if lp.paused:
            # Deep violators and no optimum after the short Devex run: the pair most likely
            # meets but the LP may need thousands of iterations to show it.
            dec = overlap_probe(P, Q, tol, blocks, *probe, max_points=tn.probe_points)
            if dec is not None:
                dec.lp, dec.blocks = lp, blocks
                return dec
            res = lp.solve()
        probe = None
        if res is None:
            return Decision(None, rounds=rounds)
        t, w, b0, dual = res
        # The dual's pair: explicit points, checked in L2.
        a = np.zeros(len(P))
        bq = np.zeros(len(Q))
        pos = 0
        for blk, onp in blocks:
            (a if onp else bq)[blk] += dual[pos : pos + len(blk)]
            pos += len(blk)
        a[a < 1e-12 * max(a.max(), 1e-300)] = 0.0
        bq[bq < 1e-12 * max(bq.max(), 1e-300)] = 0.0
        if t <= 0.5 * tol or t <= 4.0 * tol * np.sqrt(dim):
            for zp, zq in candidate_pairs(P, Q, a, bq):
                if float(np.linalg.norm(zp - zq)) <= tol:
                    return Decision(False, zp=zp, zq=zq, rounds=rounds,
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
