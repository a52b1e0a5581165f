"""The dense dual simplex of the margin LP: optima against an independent LP solve, its duality
guarantees, warm continuation, the early stop at a meeting pair, and its state operations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linprog

from ftprobe.probe.directprobe.dual_simplex import (
    LIMIT,
    MEET_EVERY,
    MET,
    OPTIMAL,
    DenseDualSimplex,
)


def _rows(P: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """Margin-LP rows (s z, s, -1): P with s = +1, then Q with s = -1."""
    Z = np.vstack([P, Q])
    s = np.r_[np.ones(len(P)), -np.ones(len(Q))]
    return np.c_[s[:, None] * Z, s, -np.ones(len(Z))]


def _reference_t(rows: np.ndarray) -> float:
    """max t s.t. rows @ x >= 0, |w_i| <= 1, by scipy's linprog (an independent solve)."""
    n = rows.shape[1]
    c = np.zeros(n)
    c[-1] = -1.0
    bounds = [(-1, 1)] * (n - 2) + [(None, None)] * 2
    res = linprog(c, A_ub=-rows, b_ub=np.zeros(len(rows)), bounds=bounds, method="highs")
    assert res.status == 0
    return -res.fun


def _clouds(seed: int, n: int = 60, dim: int = 6, shift: float = 1.0):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(n, dim)) + shift * np.eye(dim)[0]
    Q = rng.normal(size=(n, dim)) - shift * np.eye(dim)[0]
    return P, Q


def test_two_points_are_solved_by_the_cold_start_itself():
    """P = {1}, Q = {-1} on a line: w = 1, b = 0, t = 1 (half the L1 distance), no pivot."""
    lp = DenseDualSimplex.cold(_rows(np.array([[1.0]]), np.array([[-1.0]])), 1)
    assert lp.solve(10) == OPTIMAL and lp.iterations == 0
    np.testing.assert_allclose(lp.x, [1.0, 0.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shift", [3.0, 1.0, 0.0])
def test_optimum_equals_an_independent_lp_solve(seed, shift):
    """Separated, nearly touching and overlapping clouds: the same optimum as linprog; the
    vertex satisfies every row and bound; the duals are convex weights (1/2 per side) whose
    pair is 2t apart in L1 (LP duality: t is half the L1 distance of the hulls)."""
    P, Q = _clouds(seed, shift=shift)
    rows = _rows(P, Q)
    lp = DenseDualSimplex.cold(rows, P.shape[1])
    assert lp.solve(10_000) == OPTIMAL
    assert lp.t == pytest.approx(_reference_t(rows), abs=1e-9)
    assert (rows @ lp.x).min() >= -1e-9 and np.abs(lp.x[:-2]).max() <= 1 + 1e-9
    mu = lp.row_duals()
    a, b = mu[: len(P)], mu[len(P) :]
    assert a.sum() == pytest.approx(0.5) and b.sum() == pytest.approx(0.5)
    zp, zq = 2 * a @ P, 2 * b @ Q
    assert np.abs(zp - zq).sum() == pytest.approx(2 * lp.t, abs=1e-9)
    assert lp.meeting_gap() == pytest.approx(np.linalg.norm(zp - zq), abs=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_added_rows_continue_from_the_last_vertex_to_the_full_optimum(seed):
    """Half the points first, the rest added: the continued run reaches the optimum of all
    rows (as a fresh solve does) in fewer pivots than the fresh solve."""
    P, Q = _clouds(seed, n=80, shift=1.5)
    lp = DenseDualSimplex.cold(_rows(P[:40], Q[:40]), P.shape[1])
    assert lp.solve(10_000) == OPTIMAL
    lp.add_rows(_rows(P[40:], Q[40:]))
    assert lp.solve(10_000) == OPTIMAL
    full = np.vstack([_rows(P[:40], Q[:40]), _rows(P[40:], Q[40:])])
    fresh = DenseDualSimplex.cold(full, P.shape[1])
    assert fresh.solve(10_000) == OPTIMAL
    assert lp.t == pytest.approx(_reference_t(full), abs=1e-9) == pytest.approx(fresh.t, abs=1e-9)
    assert lp.iterations < fresh.iterations


def test_every_vertex_gives_a_pair_as_far_apart_as_its_meeting_gap():
    """Dual feasibility holds at every vertex on the way, so the multipliers' pair (convex
    weights, 1/2 per side) is always explicit and meeting_gap is its L2 distance."""
    P, Q = _clouds(3, n=80, shift=0.5)
    rows = _rows(P, Q)
    lp = DenseDualSimplex.cold(rows, P.shape[1])
    for _ in range(6):
        status = lp.solve(3)
        mu = lp.row_duals()
        a, b = mu[: len(P)], mu[len(P) :]
        assert a.sum() == pytest.approx(0.5) and b.sum() == pytest.approx(0.5)
        assert lp.meeting_gap() == pytest.approx(np.linalg.norm(2 * a @ P - 2 * b @ Q), abs=1e-9)
        if status == OPTIMAL:
            break
        assert status == LIMIT and lp.iterations == 3


def test_meet_tol_stops_at_the_first_vertex_whose_pair_is_that_close():
    """Overlapping clouds (optimum t = 0): a run with meet_tol stops, MET, at the first vertex
    of the same path where it reads the gap (every MEET_EVERY pivots) whose dual pair is within
    it (checked on the points), before the optimum."""
    P, Q = _clouds(5, n=150, dim=40, shift=0.0)
    rows = _rows(P, Q)
    path = DenseDualSimplex.cold(rows, 40)
    gaps = [path.meeting_gap()]
    while path.solve(1) == LIMIT:  # one pivot per call: the gap at every vertex on the way
        gaps.append(path.meeting_gap())
    assert path.t == pytest.approx(0.0, abs=1e-9) and len(gaps) > 20
    for k in (0, len(gaps) // 2 // MEET_EVERY * MEET_EVERY):  # vertices where the gap is read
        tol = gaps[k]
        early = DenseDualSimplex.cold(rows, 40)
        assert early.solve(10_000, meet_tol=tol) == MET
        first = min(j for j, g in enumerate(gaps) if g <= tol and j % MEET_EVERY == 0)
        assert early.iterations == first <= k < len(gaps) - 1
        mu = early.row_duals()
        assert np.linalg.norm(2 * mu[:150] @ P - 2 * mu[150:] @ Q) <= tol * (1 + 1e-9)


def test_snapshot_restore_statuses_and_row_deletion():
    """restore returns to the snapshot's vertex and rows; a basis in HiGHS's codes gives the
    same vertex again; inactive rows go without moving it, active ones are refused."""
    P, Q = _clouds(1, n=50, shift=1.0)
    lp = DenseDualSimplex.cold(_rows(P[:30], Q[:30]), 6)
    assert lp.solve(10_000) == OPTIMAL
    snap, x0, m0 = lp.snapshot(), lp.x.copy(), lp.m
    lp.add_rows(_rows(P[30:], Q[30:]))
    assert lp.solve(10_000) == OPTIMAL
    lp.restore(snap)
    assert lp.m == m0
    np.testing.assert_array_equal(lp.x, x0)
    assert lp.solve(10) == OPTIMAL and lp.iterations == 0

    again = DenseDualSimplex.from_statuses(lp.rows.copy(), 6, *lp.statuses())
    np.testing.assert_allclose(again.x, lp.x, atol=1e-12)
    assert DenseDualSimplex.from_statuses(lp.rows, 6, lp.statuses()[0][:-1], lp.statuses()[1]) is None

    inactive = np.flatnonzero(lp.statuses()[1] == 1)
    t = lp.t
    lp.delete_rows(inactive[:5])
    assert lp.m == m0 - 5 and lp.t == t
    assert lp.solve(10) == OPTIMAL and lp.iterations == 0
    active = np.flatnonzero(lp.statuses()[1] == 0)
    with pytest.raises(ValueError, match="inactive"):
        lp.delete_rows(active[:1])


def test_cold_start_needs_both_sides():
    """Rows of one side only leave the LP unbounded: no vertex to start from."""
    P, _ = _clouds(0)
    assert DenseDualSimplex.cold(_rows(P, P[:0]), 6) is None


def _margin_lp(P, Q, dim):
    from ftprobe.probe.directprobe.margin_lp import MarginLP

    lp = MarginLP(dim)
    lp.add(P, 1.0)
    lp.add(Q, -1.0)
    return lp


def test_margin_lp_drops_rows_that_hold_its_vertex_up_and_reoptimises():
    """MarginLP.drop_rows: deleting rows the optimum rests on gives the optimum of the rows
    left (as a fresh LP of them); deleting only inactive ones keeps the vertex."""
    P, Q = _clouds(2, n=40, shift=1.0)
    lp = _margin_lp(P, Q, 6)
    t_all = lp.solve()[0]
    cols, rows = lp.basis_statuses()
    active_p = np.flatnonzero(rows[: len(P)] == 0)
    assert len(active_p) > 0
    assert lp.drop_rows(active_p[:1])
    keep = np.setdiff1d(np.arange(len(P)), active_p[:1])
    t_fresh = _margin_lp(P[keep], Q, 6).solve()[0]
    assert lp.at_optimum and lp.optimum[0] == pytest.approx(t_fresh, abs=1e-9)
    assert t_fresh >= t_all - 1e-12  # fewer rows: a margin at least as wide
    rows_now = lp.basis_statuses()[1]
    inactive = np.flatnonzero(rows_now == 1)[:3]
    x_before = lp.optimum[1].copy()
    assert lp.drop_rows(inactive) and lp.num_rows == 80 - 1 - 3
    np.testing.assert_array_equal(lp.solve()[1], x_before)
    assert lp.iterations == 0


def test_margin_lp_thaws_to_its_vertex_or_solves_again_from_scratch():
    """A frozen LP thawed from the same rows resumes at its vertex (no iteration); thawed
    with a basis that is no longer a vertex of its rows, it is solved from scratch to the
    same optimum."""
    P, Q = _clouds(4, n=40, shift=1.0)
    Z, signs = np.vstack([P, Q]), np.r_[np.ones(40), -np.ones(40)]
    lp = _margin_lp(P, Q, 6)
    t = lp.solve()[0]
    lp.freeze()
    assert lp.frozen and lp.num_rows == 80
    lp.thaw(Z, signs)
    assert lp.solve()[0] == pytest.approx(t, abs=1e-12) and lp.iterations == 0
    lp.freeze()
    cols, rows = lp.frozen_basis
    lp.frozen_basis = (cols, np.zeros_like(rows))  # every row "active": not a vertex
    lp.thaw(Z, signs)
    assert lp.solve()[0] == pytest.approx(t, abs=1e-9) and lp.iterations > 0
