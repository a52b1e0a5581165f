"""DirectProbe: equality with a brute-force implementation of the definition, properties on
every result, closed-form hull distances, measures, prediction, persistence."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ftprobe.probe.directprobe import DirectProbe, Tuning, pearson_similarity
from ftprobe.probe.directprobe.definition import hulls_apart, reference_partition
from ftprobe.probe.directprobe.hull import (
    hull_distance,
    nearest_points,
    point_hull_distance,
)
from ftprobe.probe.directprobe.separability import separate


def brute_force_clusters(X, y) -> np.ndarray:
    """The definition's partition (probe/directprobe/definition.py): one LP per check."""
    return reference_partition(X, y).labels


def strictly_separable(P, Q) -> bool:
    """The definition's check at tol 0: the hulls have no point in common."""
    return hulls_apart(P, Q, 0.0)


# LP iteration limit 0: every LP decision is left undecided (the exact solvers decide).
LP_GIVES_UP = Tuning(lp_iter_per_row=0, lp_iter_base=0)
# Wolfe stopped after one iteration: every solver check goes through the LP decision.
WOLFE_CAPPED = Tuning(wolfe_cap_min=1, wolfe_cap_per_dim=0)


def _groups(labels):
    return [np.flatnonzero(labels == c) for c in range(labels.max() + 1)]


def assert_valid_partition(X, y, labels):
    """Purity, cross-label separability (independent LP), maximality (independent LP)."""
    groups = _groups(labels)
    for g in groups:
        assert len(np.unique(y[g])) == 1, "cluster is not pure"
    for a, b in itertools.combinations(range(len(groups)), 2):
        ga, gb = groups[a], groups[b]
        same = y[ga[0]] == y[gb[0]]
        if not same:
            dup = (X[ga][:, None, :] == X[gb][None, :, :]).all(-1).any()
            if dup:  # identical points of two labels: both must be singletons
                assert len(ga) == 1 and len(gb) == 1
            else:
                assert strictly_separable(X[ga], X[gb]), f"clusters {a},{b} of different labels meet"
        else:
            U = X[np.concatenate([ga, gb])]
            others = [g for g in groups if y[g[0]] != y[ga[0]]]
            assert any(not strictly_separable(U, X[g]) for g in others), (
                f"clusters {a},{b} could still merge: not maximal")


def _random_case(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 30))
    d = int(rng.integers(2, 4))
    k = int(rng.integers(2, 4))
    return rng.normal(size=(n, d)), rng.integers(0, k, n)


@pytest.mark.parametrize("seed", range(6))
def test_equals_brute_force_random(seed):
    X, y = _random_case(seed)
    dp = DirectProbe().fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))


def _clumps(seed):
    """Six clumps of six points in 3-D, three labels interleaved, 15 % of labels flipped."""
    rng = np.random.default_rng(100 + seed)
    centres = rng.normal(size=(6, 3)) * 2
    X = np.concatenate([c + 0.6 * rng.normal(size=(6, 3)) for c in centres])
    y = np.repeat(np.arange(6) % 3, 6)
    flip = rng.random(len(y)) < 0.15
    y[flip] = rng.integers(0, 3, flip.sum())
    return X, y


@pytest.mark.parametrize("seed", range(2))
def test_equals_brute_force_clumps(seed):
    """Interleaved clumps: many rejections, inherited rejections, merges of large clusters."""
    X, y = _clumps(seed)
    dp = DirectProbe().fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))
    assert_valid_partition(X, y, dp.labels_)


def test_equals_brute_force_with_compaction():
    """Slot compaction (normally only for big labels) forced on: same answer."""
    for seed in (1, 4):
        X, y = _random_case(seed)
        dp = DirectProbe(tuning=Tuning(compact_min=4)).fit(X, y)
        np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))


def test_equals_brute_force_higher_dim():
    """Small sets in more dimensions than points (affinely independent unions)."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(24, 12))
    y = rng.integers(0, 3, 24)
    dp = DirectProbe().fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))


def test_equals_brute_force_collinear():
    """Degenerate geometry: all points on a line, labels alternating in runs."""
    t = np.array([0.0, 0.3, 0.7, 1.2, 1.9, 2.2, 2.6, 3.5, 3.9, 4.4, 5.3, 6.0])
    X = np.stack([t, 2 * t + 1], 1)
    y = np.array([0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1])
    dp = DirectProbe().fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))
    assert_valid_partition(X, y, dp.labels_)


@pytest.mark.parametrize("seed", range(4))
def test_properties_medium(seed):
    rng = np.random.default_rng(200 + seed)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.8 * rng.normal(size=120) > 0).astype(int) + (X[:, 1] > 0.5)
    dp = DirectProbe().fit(X, y)
    assert_valid_partition(X, y, dp.labels_)
    assert dp.cluster_label_.shape == (dp.n_clusters_,)
    np.testing.assert_array_equal(dp.cluster_label_[dp.labels_], y)


def test_row_order_does_not_matter_without_ties():
    X, y = _random_case(11)
    perm = np.random.default_rng(0).permutation(len(y))
    a = DirectProbe().fit(X, y).labels_
    b = DirectProbe().fit(X[perm], y[perm]).labels_
    # Same partition up to cluster numbering.
    pa = {frozenset(np.flatnonzero(a == c)) for c in np.unique(a)}
    pb = {frozenset(perm[np.flatnonzero(b == c)]) for c in np.unique(b)}
    assert pa == pb


def test_linear_set_gives_one_cluster_per_label():
    rng = np.random.default_rng(3)
    centres = np.eye(5) * 10
    X = np.concatenate([c + rng.normal(size=(200, 5)) for c in centres])
    y = np.repeat(np.arange(5), 200)
    dp = DirectProbe().fit(X, y)
    assert dp.linear_ and dp.n_clusters_ == 5 and dp.n_labels_ == 5
    np.testing.assert_array_equal(dp.labels_, y)  # clusters numbered by smallest row
    assert dp.stats_.merges == 0  # recognised without replaying the merge sequence


def test_duplicate_points_with_different_labels_stay_singletons():
    X = np.array([[0.0, 0], [1, 0], [2, 0], [1, 0], [5, 5], [6, 5], [1, 0]])
    y = np.array([0, 0, 0, 1, 1, 1, 0])
    dp = DirectProbe().fit(X, y)
    labels = dp.labels_
    # Rows 1, 3 and 6 are the same point; 1 and 6 (label 0) share it with row 3 (label 1).
    for r in (1, 3, 6):
        assert (labels == labels[r]).sum() == 1
    assert dp.stats_.frozen_points == 3
    np.testing.assert_array_equal(labels, brute_force_clusters(X, y))
    assert not dp.linear_


def test_duplicate_points_same_label_merge_first():
    X = np.array([[0.0, 0], [0, 0], [3, 3], [3, 3.5]])
    y = np.array([0, 0, 1, 1])
    dp = DirectProbe().fit(X, y)
    assert dp.n_clusters_ == 2 and dp.linear_


def test_single_label_and_single_points():
    dp = DirectProbe().fit(np.random.default_rng(0).normal(size=(10, 3)), np.zeros(10, int))
    assert dp.n_clusters_ == 1 and dp.linear_
    dp = DirectProbe().fit(np.array([[0.0], [1.0]]), np.array([0, 1]))
    assert dp.n_clusters_ == 2 and dp.linear_


def test_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="NaN"):
        DirectProbe().fit(np.array([[np.nan, 0.0]]), np.array([0]))
    with pytest.raises(ValueError, match="one label per row"):
        DirectProbe().fit(np.zeros((3, 2)), np.array([0, 1]))
    with pytest.raises(ValueError, match="empty"):
        DirectProbe().fit(np.zeros((0, 2)), np.array([], int))


# -- separability -----------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_separability_solvers_agree_with_plain_lp(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 8))
    P = rng.normal(size=(int(rng.integers(3, 60)), d))
    Q = rng.normal(size=(int(rng.integers(3, 60)), d)) + rng.uniform(0, 3) * rng.normal(size=d)
    expected = strictly_separable(P, Q)
    res = separate(P, Q)
    assert res.separable == expected
    if expected:
        h = res.hyperplane
        assert (P @ h.w + h.b).min() > 0 > (Q @ h.w + h.b).max()
    r = nearest_points(P, Q)
    assert (r.distance > 1e-9) == expected


def test_separability_constraint_generation_large():
    rng = np.random.default_rng(5)
    P = rng.normal(size=(1500, 10))
    Q = rng.normal(size=(1500, 10)) + np.r_[4.0, np.zeros(9)]
    Q2 = rng.normal(size=(1500, 10)) + np.r_[0.5, np.zeros(9)]
    assert separate(P, Q).separable == strictly_separable(P, Q)
    assert separate(P, Q2).separable == strictly_separable(P, Q2)


# -- hull distances ---------------------------------------------------------------------------

def test_hull_distance_closed_forms():
    # point to point
    assert hull_distance(np.array([[1.0, 2, 3]]), np.array([[4.0, 6, 3]])) == pytest.approx(5.0)
    # point to segment interior and to an endpoint
    seg = np.array([[-1.0, 0], [1, 0]])
    assert hull_distance(np.array([[0.3, 2.0]]), seg) == pytest.approx(2.0, rel=1e-9)
    assert hull_distance(np.array([[4.0, 4.0]]), seg) == pytest.approx(5.0, rel=1e-9)
    # skew segments in 3-D: x-axis segment and a y-parallel segment at z = 1.5
    a = np.array([[-1.0, 0, 0], [1, 0, 0]])
    b = np.array([[0.2, -1, 1.5], [0.2, 1, 1.5]])
    assert hull_distance(a, b) == pytest.approx(1.5, rel=1e-9)
    # crossing segments meet
    assert hull_distance(np.array([[-1.0, 0], [1, 0]]), np.array([[0.0, -1], [0, 1]])) == 0.0


def test_hull_distance_simplices_general_position():
    rng = np.random.default_rng(0)
    for _ in range(5):
        d = 6
        # A random 4-simplex inside the hyperplane x_0 = 0 and a point above its interior.
        S = np.c_[np.zeros(5), rng.normal(size=(5, d - 1))]
        w = rng.dirichlet(np.ones(5))
        h = rng.uniform(0.5, 3)
        x = w @ S + np.r_[h, np.zeros(d - 1)]
        assert hull_distance(x[None], S) == pytest.approx(h, rel=1e-9)
        # Two simplices in parallel hyperplanes whose projections overlap: distance = offset.
        T = np.c_[np.full(4, h), rng.normal(size=(4, d - 1)) * 0.1 + w @ S[:, 1:] * 1]
        T[:, 1:] += (w @ S)[1:] - T[:, 1:].mean(0)
        assert hull_distance(S, T) == pytest.approx(h, rel=1e-9)


def test_hull_distance_matches_qp_on_random_sets():
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    P = rng.normal(size=(8, 3))
    Q = rng.normal(size=(9, 3)) + 3
    r = nearest_points(P, Q)
    assert r.converged and r.lower == pytest.approx(r.distance, rel=1e-8)

    def f(z):
        v = z[:8] @ P - z[8:] @ Q
        return v @ v

    cons = [{"type": "eq", "fun": lambda z: z[:8].sum() - 1},
            {"type": "eq", "fun": lambda z: z[8:].sum() - 1}]
    z0 = np.r_[np.full(8, 1 / 8), np.full(9, 1 / 9)]
    res = minimize(f, z0, method="SLSQP", bounds=[(0, 1)] * 17, constraints=cons,
                   options={"ftol": 1e-15, "maxiter": 1000})
    qp = np.sqrt(res.fun)
    assert r.distance <= qp + 1e-9  # the certified optimum is never above a feasible value
    assert r.distance == pytest.approx(qp, rel=1e-5)


@pytest.mark.parametrize("shift", [0.5, 3.0])
def test_a_stalled_nearest_point_run_is_retried_before_the_soft_margin_lp(monkeypatch, shift):
    """A numerical stall (bounds [lower, upper] around tol, not converged) is retried from
    scratch along its last direction, and only a second stall goes to the soft-margin LP,
    whose tolerance band is coarser than the definition's."""
    import ftprobe.probe.directprobe.cascade as cl
    from ftprobe.probe.directprobe.hull import HullResult

    rng = np.random.default_rng(3)
    P = rng.normal(size=(60, 5))
    Q = rng.normal(size=(50, 5)) + np.r_[shift, np.zeros(4)] * 3
    dist = hull_distance(P, Q)
    tol = 1e-6
    calls = []
    real = cl.nearest_points

    def stalls_twice(P_, Q_, **kw):
        calls.append(kw)
        r = real(P_, Q_, **kw)
        if len(calls) <= 2:  # the capped run and the uncapped one stall; the retry does not
            return HullResult(distance=tol * 2, lower=tol / 2, x=r.x, zp=r.zp, zq=r.zq,
                              iterations=r.iterations, converged=False, corral_p=r.corral_p,
                              corral_q=r.corral_q, start=r.start)
        return r

    monkeypatch.setattr(cl, "nearest_points", stalls_twice)
    monkeypatch.setattr(cl, "separate", lambda *a, **k: pytest.fail("soft-margin LP called"))
    stats = cl.ClusterStats()
    ok, h, _ = cl.hulls_disjoint(P, Q, tol, stats, tuning=LP_GIVES_UP)
    assert len(calls) == 3 and ok == (dist > tol) and stats.lp_fallback == 0
    if ok:
        w, lo, hi = h
        assert (P @ w).min() == pytest.approx(lo) and lo - hi > tol


@pytest.mark.parametrize("ratio", [0.5, 1.5])
def test_a_nearest_point_run_that_stalls_again_is_decided_by_nnls_not_the_soft_margin_lp(
        monkeypatch, ratio):
    """When the retry stalls too, NNLS on working sets decides with the same certificates, so
    a pair at 1.5 tol (inside the soft-margin LP's band, which would call it meeting) is
    separated and one at 0.5 tol meets; the soft-margin LP is never reached."""
    import ftprobe.probe.directprobe.cascade as cl
    from ftprobe.probe.directprobe.hull import HullResult

    rng = np.random.default_rng(4)
    P = rng.normal(size=(400, 30))
    Q = rng.normal(size=(300, 30)) + np.r_[7.0, np.zeros(29)]
    dist = hull_distance(P, Q)
    assert dist > 0.1
    tol = dist / ratio
    real = cl.nearest_points

    def always_stalls(P_, Q_, **kw):
        r = real(P_, Q_, **{**kw, "max_iter": 3})
        return HullResult(distance=tol * 2, lower=tol / 2, x=r.x, zp=r.zp, zq=r.zq,
                          iterations=r.iterations, converged=False, corral_p=r.corral_p,
                          corral_q=r.corral_q, start=r.start)

    monkeypatch.setattr(cl, "nearest_points", always_stalls)
    monkeypatch.setattr(cl, "separate", lambda *a, **k: pytest.fail("soft-margin LP called"))
    stats = cl.ClusterStats()
    ok, h, _ = cl.hulls_disjoint(P, Q, tol, stats, tuning=LP_GIVES_UP)
    assert ok == (ratio > 1) and stats.stall_nnls == 1 and stats.lp_fallback == 0
    if ok:
        w, lo, hi = h
        assert (P @ w).min() >= lo and (Q @ w).max() <= hi and lo - hi > tol


@pytest.mark.parametrize("seed", range(12))
def test_nnls_decide_agrees_with_the_exact_hull_distance(seed):
    """Against Wolfe's certified distance, on sets bigger than one working set: a verdict is
    always right, and away from tol (10 % either side) there is always one."""
    from ftprobe.probe.directprobe.overlap import nnls_decide

    rng = np.random.default_rng(seed)
    d = int(rng.integers(2, 40))
    P = rng.normal(size=(int(rng.integers(1, 500)), d))
    Q = rng.normal(size=(int(rng.integers(1, 500)), d)) + np.r_[rng.uniform(0, 8), np.zeros(d - 1)]
    dist = hull_distance(P, Q)
    for tol in (dist / 1.1, dist * 1.1) if dist > 0 else (1e-6,):
        got = nnls_decide(P, Q, tol)
        assert got is not None
        assert got[0] == (dist > tol)
        if got[0]:
            w, lo, hi = got[1]
            assert np.linalg.norm(w) == pytest.approx(1.0)
            assert (P @ w).min() >= lo - 1e-12 and (Q @ w).max() <= hi + 1e-12 and lo - hi > tol


def test_pivoted_plane_certifies_only_true_separations():
    """A kept optimum (A against C) turned to take in new points: a plane is returned only if
    it separates the grown set from C by more than tol on every point; a grown set that meets
    C gets none; a point just beyond the old plane, off to the side, is taken in."""
    from ftprobe.probe.directprobe.margin_lp import decide_distance
    from ftprobe.probe.directprobe.planes import pivoted_plane

    rng = np.random.default_rng(21)
    d = 6
    found = 0
    for _ in range(20):
        A = rng.normal(size=(150, d))
        C = rng.normal(size=(120, d)) + np.r_[9.0, np.zeros(d - 1)]
        dec = decide_distance(A, C, 1e-6)
        assert dec.disjoint is True
        t, w, b = dec.lp.optimum
        # New points a little beyond the optimum's plane, towards C but off to the side.
        u = rng.normal(size=d)
        u -= (u @ w) / (w @ w) * w
        step = rng.uniform(0.05, 0.6)
        new = A[np.argmin(A @ w)] - step * t * w / (w @ w) + 3.0 * u / np.linalg.norm(u)
        U = np.vstack([A, new[None]])
        h = pivoted_plane(U, C, w, b, t, 1e-6)
        truth = hull_distance(U, C) > 1e-6
        if h is not None:
            v, lo, hi = h
            assert truth and abs(np.linalg.norm(v) - 1) < 1e-12 and lo - hi > 1e-6
            assert (U @ v).min() == pytest.approx(lo) and (C @ v).max() == pytest.approx(hi)
            found += 1
        # A grown set reaching into C's hull: never a plane.
        assert pivoted_plane(np.vstack([A, C.mean(0)[None]]), C, w, b, t, 1e-6) is None
    assert found >= 10


def test_subspace_plane_certifies_only_true_separations_and_finds_what_turns_miss():
    """An LP over a few directions (the kept normal, the means' difference, the worst points'
    offsets) returns a plane only if it separates the grown set from C by more than tol on
    every point; a grown set reaching into C's hull gets none. Where several new points lie
    well past the kept plane in different directions, it finds every true separation, some of
    which the 2-D turn of pivoted_plane misses."""
    from ftprobe.probe.directprobe.margin_lp import decide_distance
    from ftprobe.probe.directprobe.planes import pivoted_plane, subspace_plane

    rng = np.random.default_rng(21)
    d = 6
    true = found = missed_by_turns = 0
    for _ in range(15):
        A = rng.normal(size=(150, d))
        C = rng.normal(size=(120, d)) + np.r_[5.0, np.zeros(d - 1)]
        dec = decide_distance(A, C, 1e-6)
        if not dec.disjoint:
            continue
        t, w, b = dec.lp.optimum
        news = []
        for _ in range(4):
            u = rng.normal(size=d)
            u -= (u @ w) / (w @ w) * w
            depth = rng.uniform(1.5, 3.0) * t
            news.append(A[np.argmin(A @ w)] - depth * w / (w @ w) + u / np.linalg.norm(u))
        U = np.vstack([A] + news)
        truth = hull_distance(U, C) > 1e-6
        h = subspace_plane(U, C, w, 1e-6)
        true += truth
        if h is not None:
            v, lo, hi = h
            assert truth and abs(np.linalg.norm(v) - 1) < 1e-12 and lo - hi > 1e-6
            assert (U @ v).min() == pytest.approx(lo) and (C @ v).max() == pytest.approx(hi)
            found += 1
            missed_by_turns += pivoted_plane(U, C, w, b, t, 1e-6) is None
        assert subspace_plane(np.vstack([A, C.mean(0)[None]]), C, w, 1e-6) is None
    assert true >= 8 and found == true and missed_by_turns > 0


def _affine_min_norm_weights(V: np.ndarray) -> np.ndarray:
    """Weights (sum 1) of the min-norm point of aff(V), from the KKT system solved densely."""
    k = len(V)
    K = np.zeros((k + 1, k + 1))
    K[:k, :k] = V @ V.T
    K[:k, k] = K[k, :k] = 1.0
    return np.linalg.lstsq(K, np.r_[np.zeros(k), 1.0], rcond=None)[0][:k]


@pytest.mark.parametrize(("dim", "most"), [(40, 30), (5, 6)])
def test_corral_updates_match_a_fresh_solve(dim, most):
    """The corral's QR factors, updated through adds and removals (the anchor too, several at
    once, more than the update limit at once), give the affine minimiser a fresh solve gives;
    up to D + 1 vertices (square factors) too."""
    from ftprobe.probe.directprobe.hull import _Corral

    limit = Tuning().qr_max_deletes
    rng = np.random.default_rng(5)
    c = _Corral(dim, 4, limit)  # small: the arrays grow on the way
    n_added = carried = 0
    for step in range(120):
        if c.k < 3 or (c.k < most and rng.random() < 0.6):
            c.add(rng.normal(size=dim), n_added, n_added)
            n_added += 1
            if c.qtv0 is not None:  # Qf^T v_0 carried over the add: its new entry appended
                carried += 1
                np.testing.assert_allclose(c.qtv0, c.Qf.T @ c.V[0], atol=1e-12)
        else:
            mask = np.ones(c.k, bool)
            many = step % 25 == 0
            n_drop = min(c.k - 2, limit + 3) if many else int(rng.integers(1, 3))
            mask[rng.choice(c.k, n_drop, replace=False)] = False
            if step % 7 == 0:
                mask[0] = False  # the anchor goes
            c.keep(mask)
        if c.k >= 2:
            mu = c.affine_minimizer()
            np.testing.assert_allclose(mu, _affine_min_norm_weights(c.V[: c.k]), atol=1e-9)
            if c.Qf is not None:  # the factors are those of B = [v_a - v_0]
                B = (c.V[1 : c.k] - c.V[0]).T
                np.testing.assert_allclose(c.Qf @ c.R, B, atol=1e-10)
    assert carried > 10


def test_corral_of_dependent_vertices_still_gives_the_min_norm_point():
    from ftprobe.probe.directprobe.hull import _Corral

    rng = np.random.default_rng(6)
    c = _Corral(3, 8)
    V = rng.normal(size=(3, 3))
    for i, v in enumerate(V):
        c.add(v, i, i)
    c.affine_minimizer()  # factorised: the next vertex goes through the QR update
    c.add(0.5 * (V[0] + V[1]), 3, 3)  # in aff(V[:2]): numerically dependent
    mu = c.affine_minimizer()
    assert mu.sum() == pytest.approx(1.0)
    x = mu @ c.V[: c.k]
    want = _affine_min_norm_weights(V) @ V
    np.testing.assert_allclose(x, want, atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_nearest_points_from_a_start_or_seed_agree(seed):
    """A corral from an earlier solve (``start``) or a first working set (``seed``) changes
    where the solve begins, not its answer; working sets small enough to take several rounds."""
    small = Tuning(ws_min=40, ws_add=8)
    rng = np.random.default_rng(40 + seed)
    d = 6
    P = rng.normal(size=(300, d))
    Q = rng.normal(size=(250, d)) + np.r_[3.5, np.zeros(d - 1)]
    cold = nearest_points(P, Q, tuning=small)
    assert cold.converged
    assert cold.distance == pytest.approx(nearest_points(P, Q).distance, rel=1e-8)  # one set
    sub = nearest_points(P[:100], Q[:90], tuning=small)  # a start valid in P, Q too
    warm = nearest_points(P, Q, start=sub.start, tuning=small)
    seeded = nearest_points(P, Q, seed=(np.arange(0, 300, 7), np.arange(0, 250, 5)),
                            start=cold.start, tuning=small)
    for r in (warm, seeded):
        assert r.converged
        assert r.distance == pytest.approx(cold.distance, rel=1e-8)
        assert np.linalg.norm(r.zp - r.zq) == pytest.approx(r.distance)
    assert seeded.iterations <= 2  # started from the optimum's own corral
    ip, iq, lam = cold.start
    assert lam.sum() == pytest.approx(1.0) and (lam > 0).all()
    np.testing.assert_allclose(lam @ P[ip] - lam @ Q[iq], cold.x, atol=1e-12)


def test_lp_band_undecided_pairs_are_decided_by_the_solver_from_the_lp_working_set(monkeypatch):
    """tol just under the true distance: the L1 (box) plane's Euclidean gap is below tol while
    no common pair is within it, so the LP leaves the pair undecided and hands its working set
    to the nearest-point solver, which proves the separation."""
    import ftprobe.probe.directprobe.cascade as cl
    from ftprobe.probe.directprobe.margin_lp import decide_distance

    small_sets = Tuning(ws_min=40)  # the solver on working sets, as for big clusters
    rng = np.random.default_rng(11)
    d = 8
    P = rng.normal(size=(200, d))
    Q = rng.normal(size=(180, d)) + 3.0 * rng.normal(size=d)
    dist = hull_distance(P, Q)
    tol = 0.999 * dist
    dec = decide_distance(P, Q, tol)
    assert dec.disjoint is None and dec.blocks  # the band: undecided, working set given back
    calls = []
    real = cl.nearest_points
    monkeypatch.setattr(cl, "nearest_points", lambda *a, **k: calls.append(k) or real(*a, **k))
    stats = cl.ClusterStats()
    ok, (w, lo, hi), _ = cl.hulls_disjoint(P, Q, tol, stats, lp_first=True, tuning=small_sets)
    assert ok and lo - hi > tol and (P @ w).min() == pytest.approx(lo)
    assert stats.lp_undecided == 1
    assert calls and calls[-1]["seed"] is not None and len(calls[-1]["seed"][0]) > 0


# -- measures, prediction, persistence ----------------------------------------------------------

def _three_blobs(n=40, seed=0):
    rng = np.random.default_rng(seed)
    c = np.array([[0.0, 0], [6, 0], [0, 8]])
    X = np.concatenate([ci + rng.normal(size=(n, 2)) for ci in c])
    return X, np.repeat(np.arange(3), n)


def test_measures_on_linear_space():
    X, y = _three_blobs()
    dp = DirectProbe().fit(X, y)
    assert dp.linear_
    D = dp.cluster_distances_
    assert D.shape == (3, 3) and np.allclose(D, D.T) and np.all(np.diag(D) == 0)
    assert np.all(D[~np.eye(3, dtype=bool)] > 0)
    L = dp.label_distances()
    np.testing.assert_allclose(L, D)  # one cluster per label
    np.testing.assert_allclose(dp.distance_vector(), [D[0, 1], D[0, 2], D[1, 2]])
    np.testing.assert_allclose(dp.min_distances(), [min(D[0, 1], D[0, 2]),
                                                    min(D[0, 1], D[1, 2]),
                                                    min(D[0, 2], D[1, 2])])
    s = dp.spread()
    for k in range(3):
        pts = X[y == k]
        assert s[k] == pytest.approx(np.linalg.norm(pts - pts.mean(0), axis=1).mean())
    assert pearson_similarity(dp, dp) == pytest.approx(1.0)


def test_small_clusters_left_out_of_distances():
    X, y = _three_blobs(n=30)
    X = np.vstack([X, [[12.0, 0.0]]])  # label-0 point beyond blob 1: stays a singleton
    y = np.r_[y, 0]
    dp = DirectProbe(min_cluster_size=5).fit(X, y)
    assert dp.n_clusters_ >= 4
    kept = dp.cluster_sizes_ > 5
    L = dp.label_distances()
    for a, b in [(0, 1), (0, 2), (1, 2)]:
        ia = np.flatnonzero((dp.cluster_label_ == a) & kept)
        ib = np.flatnonzero((dp.cluster_label_ == b) & kept)
        exp = np.mean([dp.cluster_distance(i, j) for i in ia for j in ib])
        assert L[a, b] == pytest.approx(exp)
    dp0 = DirectProbe(min_cluster_size=0).fit(X, y)
    assert not np.allclose(dp0.label_distances(), L)


def test_predict_nearest_hull_matches_brute_force():
    X, y = _three_blobs(n=25, seed=2)
    y = y.copy()
    y[::9] = (y[::9] + 1) % 3  # some clutter so that there are several clusters per label
    dp = DirectProbe().fit(X, y)
    rng = np.random.default_rng(9)
    T = rng.normal(size=(30, 2)) * 5 + [2, 3]
    pred = dp.predict_cluster(T)
    for t, p in zip(T, pred, strict=True):
        d = [hull_distance(t[None], X[dp.labels_ == c]) for c in range(dp.n_clusters_)]
        assert d[p] == pytest.approx(min(d), abs=1e-9)
    assert dp.score(X, y) == 1.0  # a training point lies in its own cluster's hull


def test_save_load_roundtrip(tmp_path):
    X, y = _three_blobs()
    dp = DirectProbe().fit(X, y)
    _ = dp.cluster_distances_
    dp.save(tmp_path / "dp")
    names = sorted(p.name for p in (tmp_path / "dp").iterdir())
    assert "clusters.txt" in names and "summary.json" in names
    assert not any(n.endswith(".tmp") or n.endswith(".pkl") for n in names)
    back = DirectProbe.load(tmp_path / "dp")
    np.testing.assert_array_equal(back.labels_, dp.labels_)
    np.testing.assert_allclose(back.label_distances(), dp.label_distances())
    assert back.n_clusters_ == dp.n_clusters_ and back.linear_ == dp.linear_
    np.testing.assert_array_equal(back.predict(X[:5]), dp.predict(X[:5]))


def test_a_fit_saved_with_other_counters_loads(tmp_path):
    """Counters only inform: a save of another ftprobe version (a counter this one does not
    know, one it has missing) loads with the same clusters."""
    import json

    X, y = _three_blobs()
    dp = DirectProbe().fit(X, y)
    dp.save(tmp_path / "dp")
    summary = json.loads((tmp_path / "dp" / "summary.json").read_text())
    summary["stats"]["a_counter_of_a_later_version"] = 7
    del summary["stats"]["merges"]
    (tmp_path / "dp" / "summary.json").write_text(json.dumps(summary))
    back = DirectProbe.load(tmp_path / "dp")
    np.testing.assert_array_equal(back.labels_, dp.labels_)
    assert back.stats_.merges == 0 and back.stats_.rejections == dp.stats_.rejections


# -- LP decision for pairs Wolfe leaves undecided ----------------------------------------------

@pytest.mark.parametrize("seed", range(8))
def test_lp_decision_is_verified_and_agrees_with_exact_distance(seed):
    from ftprobe.probe.directprobe.margin_lp import decide_distance

    rng = np.random.default_rng(300 + seed)
    d = int(rng.integers(2, 12))
    P = rng.normal(size=(int(rng.integers(3, 400)), d))
    Q = rng.normal(size=(int(rng.integers(3, 400)), d)) + rng.uniform(0, 4) * rng.normal(size=d)
    dist = hull_distance(P, Q)
    for tol in (1e-6, 0.5 * dist if dist > 0 else 1e-3, 2.0 * dist if dist > 0 else 1e-1):
        dec = decide_distance(P, Q, tol)
        if dec.disjoint is True:
            assert dist > tol
            assert (P @ dec.w).min() - (Q @ dec.w).max() > tol
            assert abs(np.linalg.norm(dec.w) - 1) < 1e-12
        elif dec.disjoint is False:
            assert dist <= tol * (1 + 1e-9)
            assert np.linalg.norm(dec.zp - dec.zq) <= tol
            for z, S in ((dec.zp, P), (dec.zq, Q)):
                assert point_hull_distance(z, S) <= 1e-7 * (1 + np.abs(S).max())


def test_lp_decision_large_overlap_and_separation():
    from ftprobe.probe.directprobe.margin_lp import decide_distance

    rng = np.random.default_rng(9)
    P = rng.normal(size=(3000, 20))
    Q = rng.normal(size=(2500, 20)) + np.r_[3.0, np.zeros(19)]  # overlapping tails
    dec = decide_distance(P, Q, 1e-6)
    assert dec.disjoint is False and np.linalg.norm(dec.zp - dec.zq) <= 1e-6
    Q2 = rng.normal(size=(2500, 20)) + np.r_[15.0, np.zeros(19)]
    dec = decide_distance(P, Q2, 1e-6)
    assert dec.disjoint is True and (P @ dec.w).min() - (Q2 @ dec.w).max() > 1e-6


@pytest.mark.parametrize("seed", range(4))
def test_equals_brute_force_with_wolfe_capped(seed):
    """Wolfe stopped after one iteration: every solver check goes through the LP decision
    (and, when it is inconclusive, the uncapped solver); the partition is unchanged."""
    X, y = _clumps(seed)
    dp = DirectProbe(tuning=WOLFE_CAPPED).fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))
    s = dp.stats_
    assert s.lp_sep + s.lp_overlap > 0


def test_equals_brute_force_when_lp_decision_gives_up():
    """LP iteration limit 0: every LP decision is inconclusive, the uncapped solver decides."""
    X, y = _random_case(4)
    tuning = Tuning(wolfe_cap_min=1, wolfe_cap_per_dim=0, lp_iter_per_row=0, lp_iter_base=0)
    dp = DirectProbe(tuning=tuning).fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))
    assert dp.stats_.lp_undecided > 0 and dp.stats_.lp_sep + dp.stats_.lp_overlap == 0


def _gap_data(seed: int):
    """Two labels on either side of a thin gap and a third one inside it: unions grow towards
    the same clusters of another label, so pairs are decided again and again."""
    rng = np.random.default_rng(200 + seed)
    A = rng.normal(size=(30, 4))
    A[:, 0] = np.abs(A[:, 0]) + 0.05
    B = rng.normal(size=(30, 4))
    B[:, 0] = -np.abs(B[:, 0]) - 0.05
    C = rng.normal(size=(8, 4)) * 0.3
    return np.concatenate([A, B, C]), np.r_[np.zeros(30, int), np.ones(30, int), np.full(8, 2)]


_DATA = {"gap": _gap_data, "clumps": _clumps, "random": _random_case}  # case generators by name


def _lp_matrix(lp) -> np.ndarray:
    """The constraint matrix a margin LP holds."""
    return lp.constraint_rows()


def _assert_kept_lps_match_their_blocks(X, certs) -> None:
    """A kept LP's constraint rows are exactly its blocks' points in order (sign +1 on the P
    side), as continuing it assumes: after restores (rejected merges) and prunes. A frozen
    one has as many rows (rebuilt from the blocks when continued) and a basis for them."""
    dim = X.shape[1]
    for _key, (_p_side, model, blocks) in certs.lps.items():
        if model.frozen:
            assert model.num_rows == sum(len(rows) for rows, _ in blocks)
            if model.frozen_basis is not None:
                cols, rows_ = model.frozen_basis
                assert len(cols) == dim + 2 and len(rows_) == model.num_rows
            continue
        A = _lp_matrix(model)
        sign = np.concatenate([np.full(len(rows), 1.0 if onp else -1.0) for rows, onp in blocks])
        want = np.concatenate([X[rows] for rows, _ in blocks]) * sign[:, None]
        assert A.shape == (len(sign), dim + 2)
        np.testing.assert_array_equal(A[:, :dim], want)
        np.testing.assert_array_equal(A[:, dim], sign)


@pytest.mark.parametrize("seed", [0, 2, 7, 8])
def test_equals_brute_force_when_lps_are_continued(monkeypatch, seed):
    _fit_with_continued_lps(monkeypatch, seed)


@pytest.mark.parametrize("seed", [0, 2, 7, 8])
def test_equals_brute_force_with_kept_optima_turned(monkeypatch, seed):
    """The same, with kept LP optima turned before any LP continues: planes found that way
    are verified like the others (checked after every step) and the partition is the same."""
    dp = _fit_with_continued_lps(monkeypatch, seed, _capped(True))
    assert dp.stats_.pivoted_plane > 0


@pytest.mark.parametrize("seed", [0, 2, 7, 8])
def test_equals_brute_force_with_kept_optima_repaired_in_a_subspace(monkeypatch, seed):
    """The same with the 2-D turns off, so that every kept optimum a union breaks goes to the
    LP over a few directions first (planes.subspace_plane)."""
    tuning = Tuning(wolfe_cap_min=1, wolfe_cap_per_dim=0, subspace_planes=True)
    dp = _fit_with_continued_lps(monkeypatch, seed, tuning)
    assert dp.stats_.subspace_plane > 0 and dp.stats_.pivoted_plane == 0


@pytest.mark.parametrize("seed,pivot", [(1, True), (11, True), (7, False), (11, False)])
def test_equals_brute_force_with_overlaps_recalled(monkeypatch, seed, pivot):
    """Rejections certified from the points of a common pair found before (no LP run): each
    such union does meet the cluster (an independent LP finds no separating plane), and the
    partition is the definition's, as with recall off."""
    from ftprobe.probe.directprobe.cascade import Cascade

    recalled = []
    orig = Cascade.recalled_overlap

    def recall(self, a, b, cj, U, C):
        met = orig(self, a, b, cj, U, C)
        if met:
            assert not strictly_separable(U, C)
            recalled.append(cj)
        return met

    monkeypatch.setattr(Cascade, "recalled_overlap", recall)
    dp = _fit_with_continued_lps(monkeypatch, seed, _capped(pivot, recall_overlaps=True))
    assert len(recalled) == dp.stats_.overlap_recalled > 0
    off = _fit_with_continued_lps(monkeypatch, seed, _capped(pivot, recall_overlaps=False))
    assert off.stats_.overlap_recall_tried == 0
    np.testing.assert_array_equal(dp.labels_, off.labels_)


def _capped(pivot: bool, **more) -> Tuning:
    """Wolfe capped, with kept optima turned (and repaired in a subspace) or not."""
    return Tuning(wolfe_cap_min=1, wolfe_cap_per_dim=0, turn_kept_planes=pivot,
                  subspace_planes=pivot, **more)


def _fit_with_continued_lps(monkeypatch, seed, tuning=None):
    """Two labels on either side of a thin gap, a third one inside it, Wolfe capped: unions
    that grow against the same cluster are re-decided from their kept support and their
    earlier LP (warm basis, new rows only), whichever of the two clusters grew (the LP then
    continues with its sides as they were); the partition is still the definition's."""
    import ftprobe.probe.directprobe.clustering as cl

    tuning = _capped(False) if tuning is None else tuning
    pivot = tuning.turn_kept_planes or tuning.subspace_planes
    X, y = _gap_data(seed)
    # Every kept plane is what later checks trust: (w, lo, hi) for clusters (a, b) with a < b
    # has a's points at or above lo, b's at or below hi, and lo - hi > tol.
    orig = cl.MergeEngine.decide
    seen = []

    def step(self, lab, s, t):
        orig(self, lab, s, t)
        for (a, b), (w, lo, hi) in self.certs.planes.items():
            pa, pb = self.members.points(a), self.members.points(b)
            assert (pa @ w).min() >= lo - 1e-12 and (pb @ w).max() <= hi + 1e-12
            assert lo - hi > self.cascade.tol
        _assert_kept_lps_match_their_blocks(self.X, self.certs)
        seen.append(len(self.certs.planes))

    monkeypatch.setattr(cl.MergeEngine, "decide", step)
    dp = DirectProbe(tuning=tuning).fit(X, y)
    assert max(seen) > 0
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))
    assert dp.stats_.lp_from_support > 0 and dp.stats_.lp_continued > 0
    if seed in (2, 7, 8) and not pivot:  # data where both sides of a pair grow in turn
        assert 0 < dp.stats_.lp_continued_swapped < dp.stats_.lp_continued
    return dp


def test_lps_of_rejected_merges_are_restored(monkeypatch):
    """A merge rejected after its check continued an LP puts that LP back as it was (rows
    and basis), for the unchanged pair; kept LPs still match their blocks (checked after
    every merge) and the partition is the definition's."""
    from ftprobe.probe.directprobe.certificates import Certificates

    restored = []
    orig = Certificates.restore_lps

    def restore(self, continued):
        before = {key: (entry[2], n_rows) for key, entry, n_rows, _ in continued}
        orig(self, continued)
        for key, (blocks, n_rows) in before.items():
            assert self.lps[key][2] is blocks and self.lps[key][1].num_rows == n_rows
            assert sum(len(r) for r, _ in blocks) == n_rows
            # the earlier optimum is back without a simplex iteration
            self.lps[key][1].solve()
            assert self.lps[key][1].iterations == 0
            restored.append(key)

    monkeypatch.setattr(Certificates, "restore_lps", restore)
    dp = _fit_with_continued_lps(monkeypatch, 8)
    assert len(restored) == dp.stats_.lp_restored > 0


@pytest.mark.parametrize("data", [("gap", 0), ("gap", 9), ("clumps", 5), ("random", 2), ("random", 3)])
def test_lps_built_in_rejected_merges_are_kept_for_the_bigger_part(monkeypatch, data):
    """An LP built from scratch in the check of a merge that is then rejected is kept for the
    merge's bigger part: the piece's rows deleted, the rest exactly that part's and the other
    cluster's points (checked against the LP's own matrix), at an optimum (a re-solve takes no
    iteration); a later check of the pair continues it; the partition is the definition's."""
    import ftprobe.probe.directprobe.cascade as cs
    import ftprobe.probe.directprobe.clustering as cl
    from ftprobe.probe.directprobe.certificates import Certificates

    tuning = _capped(False)  # the later checks continue the LP, not turn it
    kept, continued = {}, []  # id of a kept model -> (its key, the model: alive, so ids stay unique)
    orig_keep = Certificates.keep_part_lps

    def keep(self, a, b, built, rows_of):
        before = {key: entry[1] for key, entry in self.lps.items()}
        orig_keep(self, a, b, built, rows_of)
        ra, rb = rows_of(a), rows_of(b)
        big, piece = (a, rb) if len(ra) >= len(rb) else (b, ra)
        for key, (p_side, model, blocks) in self.lps.items():
            if before.get(key) is model:
                continue
            assert p_side == big and big in key
            cj = key[0] if key[1] == big else key[1]
            for rows, onp in blocks:
                assert np.isin(rows, rows_of(big) if onp else rows_of(cj)).all()
                assert not np.isin(rows, piece).any()
            assert np.isin(self.support[key], np.r_[rows_of(big), rows_of(cj)]).all()
            assert model.basis_statuses() is not None
            kept[id(model)] = (key, model)
        _assert_kept_lps_match_their_blocks(cl.scale_data(X)[0], self)  # the engine's scaled X
        for model in {id(entry[1]): entry[1] for entry in self.lps.values()}.values():
            if id(model) in kept:
                model.solve()
                assert model.iterations == 0

    orig_hd = cs.hulls_disjoint

    def spy(P, Q, tol, stats=None, **kw):
        if kw.get("warm") is not None and id(kw["warm"][0]) in kept:
            continued.append(kept[id(kw["warm"][0])])
        return orig_hd(P, Q, tol, stats, **kw)

    monkeypatch.setattr(Certificates, "keep_part_lps", keep)
    monkeypatch.setattr(cs, "hulls_disjoint", spy)
    kind, seed = data
    X, y = _DATA[kind](seed)
    dp = DirectProbe(tuning=tuning).fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))
    assert dp.stats_.lp_kept_after_rejection == len(kept) > 0
    assert continued


@pytest.mark.parametrize("case", [("clumps", 1), ("clumps", 5), ("random", 3), ("random", 7)])
def test_rejections_keep_the_common_pair_as_support(monkeypatch, case):
    """A merge the LP rejects after a capped nearest-point run leaves, for each part and the
    cluster it met, the points of the common pair that belong to them as the pair's support
    (rows of those two clusters only); later checks of that pair start from it, and the
    partition is still the definition's."""
    from ftprobe.probe.directprobe.certificates import Certificates

    kept, used = set(), []
    orig_keep, orig_of = Certificates.keep_overlap_support, Certificates.support_of

    def keep(self, a, b, cj, dec, flip, urows, crows, rows_of):
        orig_keep(self, a, b, cj, dec, flip, urows, crows, rows_of)
        assert len(dec.support_p) and len(dec.support_q)
        for part in (a, b):
            key = (min(part, cj), max(part, cj))
            if key in self.support:
                rows = self.support[key]
                mine = np.concatenate([rows_of(part), rows_of(cj)])
                assert np.isin(rows, mine).all()
                assert np.isin(rows, rows_of(cj)).any()
                kept.add(key)

    def support_of(self, a, b):
        sup = orig_of(self, a, b)
        if sup is not None and (min(a, b), max(a, b)) in kept:
            used.append((a, b))
        return sup

    monkeypatch.setattr(Certificates, "keep_overlap_support", keep)
    monkeypatch.setattr(Certificates, "support_of", support_of)
    X, y = (_clumps if case[0] == "clumps" else _random_case)(case[1])
    dp = DirectProbe(tuning=WOLFE_CAPPED).fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))
    assert dp.stats_.lp_overlap > 0 and kept and used


@pytest.mark.parametrize("case", [("gap", 1), ("clumps", 1), ("gap", 0), ("random", 3)])
def test_clusters_that_met_a_part_are_checked_first(monkeypatch, case):
    """A rejected merge records the cluster its union met for both parts; a later check of a
    union of either part runs the solvers on recorded clusters before any other, and the
    partition is still the definition's."""
    from ftprobe.probe.directprobe.cascade import Cascade
    from ftprobe.probe.directprobe.membership import Membership

    checks = []  # per check_union: (label, clusters met by either part before, clusters solved)
    orig_check, orig_rows = Cascade.check_union, Membership.rows

    def check(self, lab, sa, sb, u):
        D = self.slots[lab]
        a, b = int(D.rows[sa]), int(D.rows[sb])
        checks.append((lab, self.certs.witness.get(a, set()) | self.certs.witness.get(b, set()), []))
        ok, planes = orig_check(self, lab, sa, sb, u)
        if not ok:  # the cluster met last is recorded for both parts
            assert checks[-1][2] and all(checks[-1][2][-1] in self.certs.witness[p] for p in (a, b))
        return ok, planes

    def member_rows(self, cid):  # the solver pass reads each cluster's rows it checks
        if checks and y[cid] != checks[-1][0]:
            checks[-1][2].append(int(cid))
        return orig_rows(self, cid)

    monkeypatch.setattr(Cascade, "check_union", check)
    monkeypatch.setattr(Membership, "rows", member_rows)
    X, y = _DATA[case[0]](case[1])
    dp = DirectProbe(tuning=WOLFE_CAPPED).fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))
    assert dp.stats_.rejections > 0
    used = 0
    for _, met, solved in checks:
        solved = list(dict.fromkeys(solved))
        firsts = [c in met for c in solved]
        assert firsts == sorted(firsts, reverse=True), (met, solved)  # met ones lead
        used += any(firsts)
    assert used > 0  # a recorded cluster was checked again


@pytest.mark.parametrize("case", [("clumps", 1), ("random", 3), ("random", 7)])
def test_cold_lp_from_a_support_starts_with_the_small_piece(monkeypatch, case):
    """A union decided by a cold LP from a support starts with the small part's points in its
    first working set (the piece that may break the pair); the partition is the definition's."""
    import ftprobe.probe.directprobe.cascade as cl

    seen = []
    orig = cl.hulls_disjoint

    def spy(P, Q, tol, stats=None, **kw):
        if kw.get("lp_first") and kw.get("warm") is None and kw.get("support") is not None:
            seen.append((len(P), pieces[-1], kw["support"]))  # the check being made
        return orig(P, Q, tol, stats, **kw)

    monkeypatch.setattr(cl, "hulls_disjoint", spy)
    pieces = []
    orig_check = cl.Cascade.check_union

    def check(self, lab, sa, sb, u):
        D = self.slots[lab]
        na, nb = (len(self.members.rows(int(D.rows[x]))) for x in (sa, sb))
        pieces.append((na, nb))
        return orig_check(self, lab, sa, sb, u)

    monkeypatch.setattr(cl.Cascade, "check_union", check)
    X, y = (_clumps if case[0] == "clumps" else _random_case)(case[1])
    dp = DirectProbe(tuning=WOLFE_CAPPED).fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))
    # the union is P unless a kept LP was continued with it on the Q side (never when cold)
    hits = 0
    for n_p, (na, nb), (sp, _) in seen:
        assert n_p == na + nb
        if min(na, nb) <= WOLFE_CAPPED.seed_piece:
            piece = np.arange(na, n_p) if nb <= na else np.arange(na)
            assert np.isin(piece, sp).all()
            hits += 1
    assert hits > 0


def test_cached_planes_verified_in_blocks():
    """Cached planes are verified for all clusters of a label in one product, in blocks of
    planes; with blocks of one plane the partition and the counters are the same."""
    from dataclasses import asdict

    X, y = _gap_data(2)
    whole = DirectProbe().fit(X, y)
    blocks = DirectProbe(tuning=Tuning(plane_block=1)).fit(X, y)
    np.testing.assert_array_equal(blocks.labels_, whole.labels_)
    np.testing.assert_array_equal(whole.labels_, brute_force_clusters(X, y))
    a, b = asdict(whole.stats_), asdict(blocks.stats_)
    a.pop("seconds"), b.pop("seconds")
    assert a == b and whole.stats_.cached_plane > 0


def test_common_pair_certifies_only_pairs_within_tol():
    """overlap.common_pair: two triangles crossing at a known point give a pair within
    tol whose points lie in the hulls of the candidates it names; the same triangles
    moved 10 apart give none at tol 1e-6, nor a candidate set that cannot form one."""
    from ftprobe.probe.directprobe.overlap import common_pair

    P = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 2.0]])
    Q = np.array([[0.0, 1.0], [2.0, 1.0], [1.0, -1.0]])  # both contain (1, 0.5)
    found = common_pair(P, Q, np.arange(3), np.arange(3), 1e-6)
    assert found is not None
    zp, zq, up, uq = found
    assert np.linalg.norm(zp - zq) <= 1e-6
    assert strictly_separable(P[up], zp[None]) is False and strictly_separable(Q[uq], zq[None]) is False
    apart = P + np.array([10.0, 0.0])
    assert common_pair(apart, Q, np.arange(3), np.arange(3), 1e-6) is None
    # a pair only a part of the candidates can form: none from the apex alone
    assert common_pair(P, Q, np.array([2]), np.arange(3), 1e-6) is None


def test_lp_overlap_decision_carries_its_common_pair():
    """An overlap decided by the LP returns the points of its convex combinations as support:
    a subset of each side whose hulls already meet within tol."""
    from ftprobe.probe.directprobe.hull import nearest_points
    from ftprobe.probe.directprobe.margin_lp import decide_distance

    rng = np.random.default_rng(5)
    P = rng.normal(size=(300, 6))
    Q = rng.normal(size=(200, 6)) + 0.3
    dec = decide_distance(P, Q, 1e-6)
    assert dec.disjoint is False
    sp, sq = dec.support_p, dec.support_q
    assert 0 < len(sp) < len(P) and 0 < len(sq) < len(Q)
    assert nearest_points(P[sp], Q[sq]).distance <= 1e-6


def test_continued_lp_decision_only_appends_rows():
    """Continuing an LP keeps its earlier rows as they were (new rows go after them): what
    lets a rejected merge give the LP back by deleting the rows past the old count."""
    from ftprobe.probe.directprobe.margin_lp import decide_distance

    rng = np.random.default_rng(5)
    P = rng.normal(size=(400, 4)) + np.r_[6.0, 0, 0, 0]
    Q = rng.normal(size=(400, 4)) - np.r_[6.0, 0, 0, 0]
    first = decide_distance(P[:300], Q, 1e-6)
    assert first.disjoint is True
    before = _lp_matrix(first.lp)
    assert len(before) > 2 * (4 + 2)  # more rows than a kept LP would be pruned to
    for grown in (P, np.vstack([P, [[0.2, 0, 0, 0]]])):  # a separable and a harder growth
        warm = (first.lp, first.blocks)
        n, state = first.lp.num_rows, first.lp.checkpoint()
        dec = decide_distance(grown, Q, 1e-6, warm=warm)
        after = _lp_matrix(first.lp)
        np.testing.assert_array_equal(after[:n], before)
        assert dec.disjoint is True
        first.lp.rollback(n, state)
        np.testing.assert_array_equal(_lp_matrix(first.lp), before)


@pytest.mark.parametrize("keep_optimum", [True, False])
def test_continued_lp_decision_adds_the_optimums_violators_first(keep_optimum):
    """A continued decision puts the new points that violate the LP's kept optimum into its
    first working set (a first solve without them would keep that optimum and only then find
    them). Without a kept optimum (a fresh LP has none) the first rows are the seeds alone;
    either way the answer is the same verified separation."""
    from ftprobe.probe.directprobe.margin_lp import decide_distance

    rng = np.random.default_rng(3)
    P = rng.normal(size=(400, 4)) + np.r_[6.0, 0, 0, 0]
    Q = rng.normal(size=(400, 4)) - np.r_[6.0, 0, 0, 0]
    first = decide_distance(P, Q, 1e-6)
    assert first.disjoint is True and first.lp.optimum is not None
    # New points past the optimum's plane (w0.x + b0 = -t0 / 2, on Q's side of it), far off
    # along a direction orthogonal to its normal (still separable from Q with a tilt), and
    # not among the first working set's own points (the lowest along e_1).
    t0, w0, b0 = first.lp.optimum
    u = np.r_[0.0, 1.0, 0, 0] - w0 * (w0[1] / (w0 @ w0))
    u /= np.linalg.norm(u)
    new = -w0 * (b0 + 0.5 * t0) / (w0 @ w0) + 40.0 * u + 0.1 * rng.normal(size=(20, 4))
    assert ((new @ w0 + b0) < t0).all()
    grown = np.vstack([P, new])
    n_blocks = len(first.blocks)
    if not keep_optimum:
        first.lp.optimum = None
    dec = decide_distance(grown, Q, 1e-6, warm=(first.lp, first.blocks),
                          direction=np.r_[0.0, 1.0, 0, 0])
    assert dec.disjoint is True
    assert (grown @ dec.w).min() - (Q @ dec.w).max() > 1e-6
    first_new_p = np.concatenate([b for b, onp in dec.blocks[n_blocks:n_blocks + 2] if onp])
    assert np.isin(np.arange(400, 420), first_new_p).all() == keep_optimum


def test_continued_lp_pauses_for_a_probe_only_past_deep_violators(monkeypatch):
    """A continued decision whose new points lie far beyond the kept plane (in units of its
    margin) runs its first re-solve with a pause for an overlap probe (such pairs mostly
    meet); points just past the plane go straight on. Answers are verified either way."""
    import ftprobe.probe.directprobe.margin_lp as sep

    seen = []
    orig = sep.MarginLP.solve

    def solve(self, **kw):
        seen.append(kw.get("pause_after") is not None)
        return orig(self, **kw)

    monkeypatch.setattr(sep.MarginLP, "solve", solve)
    rng = np.random.default_rng(3)
    P = rng.normal(size=(400, 4)) + np.r_[6.0, 0, 0, 0]
    Q = rng.normal(size=(400, 4)) - np.r_[6.0, 0, 0, 0]
    first = sep.decide_distance(P, Q, 1e-6)
    assert first.disjoint is True
    t0, w0, b0 = first.lp.optimum
    for depth, meets in ((0.5, False), (10 * Tuning().probe_depth, True)):
        # Q's centroid moved along w0 onto the plane w0.x + b0 = -depth * t0
        x = Q.mean(0)
        x = x - w0 * ((x @ w0 + b0 + depth * t0) / (w0 @ w0))
        assert (x @ w0 + b0) == pytest.approx(-depth * t0)
        lp, blocks = first.lp, [(b.copy(), o) for b, o in first.blocks]
        n, state = lp.num_rows, lp.checkpoint()
        seen.clear()
        dec = sep.decide_distance(np.vstack([P, x]), Q, 1e-6, warm=(lp, blocks))
        assert seen[0] == meets and not any(seen[1:])
        assert dec.disjoint is (not meets)
        if meets:
            assert np.linalg.norm(dec.zp - dec.zq) <= 1e-6
        lp.rollback(n, state)


def test_paused_continued_solve_goes_on_to_the_optimum_of_all_its_rows():
    """A continued solve paused after a few iterations returns None with ``paused`` set; the
    next solve goes on from that vertex to the optimum a fresh LP of all the rows reaches."""
    import ftprobe.probe.directprobe.margin_lp as sep

    rng = np.random.default_rng(8)
    P = rng.normal(size=(60, 12)) + 0.8
    Q = rng.normal(size=(60, 12)) - 0.8
    lp = sep.MarginLP(12)
    lp.add(P[:20], 1.0)
    lp.add(Q[:20], -1.0)
    assert lp.solve() is not None
    lp.add(P[20:], 1.0)
    lp.add(Q[20:], -1.0)
    assert lp.solve(pause_after=3) is None and lp.paused and lp.iterations == 3
    t, w, b, _ = lp.solve()
    assert not lp.paused and lp.iterations > 0
    fresh = sep.MarginLP(12)
    for Z, sign in ((P[:20], 1.0), (Q[:20], -1.0), (P[20:], 1.0), (Q[20:], -1.0)):
        fresh.add(Z, sign)
    assert t == pytest.approx(fresh.solve()[0], rel=1e-9)
    # the plane holds on every point with margin t (|w_i| <= 1)
    assert np.abs(w).max() <= 1 + 1e-9
    assert (P @ w + b).min() >= t - 1e-9 and (Q @ w + b).max() <= -t + 1e-9


def _nearly_touching(rng, dim=12, n=300, tuning=None):
    """Two clouds a hair apart along e_1 (separable, tiny margin), and a decided LP for them."""
    from ftprobe.probe.directprobe.margin_lp import decide_distance

    P = rng.normal(size=(n, dim))
    P[:, 0] = np.abs(P[:, 0]) + 1e-3
    Q = rng.normal(size=(n, dim))
    Q[:, 0] = -np.abs(Q[:, 0]) - 1e-3
    first = decide_distance(P, Q, 1e-6, tuning=tuning or Tuning())
    assert first.disjoint is True
    return P, Q, first


@pytest.mark.parametrize("meets", [True, False])
def test_deep_violators_unsettled_by_a_short_run_get_an_nnls_overlap_probe(monkeypatch, meets):
    """A continued decision with new points deep past the kept plane whose short first run
    ends unfinished tries an overlap certificate by NNLS over the LP's rows and the points
    nearest the plane: a pair that meets is answered with a verified common pair and the LP
    left unfinished; a pair that does not goes on to the LP's verified separation."""
    import ftprobe.probe.directprobe.margin_lp as sep

    tuning = Tuning(probe_iters=0)  # every deep decision pauses before its first iteration
    calls = []
    orig = sep.overlap_probe
    monkeypatch.setattr(sep, "overlap_probe", lambda *a, **k: calls.append(1) or orig(*a, **k))
    rng = np.random.default_rng(11)
    P, Q, first = _nearly_touching(rng, tuning=tuning)
    t0, w0, b0 = first.lp.optimum
    # meets: a point inside Q's cloud, deep past the plane; else: as deep past the plane but
    # far out along a direction in it, where a slightly tilted plane still separates
    if meets:
        x = -5.0 * np.eye(12)[0]
    else:
        u = np.eye(12)[1] - w0 * (w0[1] / (w0 @ w0))
        x = -w0 * (b0 + 10 * tuning.probe_depth * t0) / (w0 @ w0) + 1e5 * u / np.linalg.norm(u)
    assert (x @ w0 + b0) < -tuning.probe_depth * t0
    dec = sep.decide_distance(np.vstack([P, x]), Q, 1e-6, warm=(first.lp, first.blocks),
                              tuning=tuning)
    assert calls == [1]
    assert dec.disjoint is (not meets) and dec.probed is meets
    if meets:
        assert np.linalg.norm(dec.zp - dec.zq) <= 1e-6
        assert len(P) in dec.support_p  # the new point is in the common pair
    else:
        assert (np.vstack([P, x]) @ dec.w).min() - (Q @ dec.w).max() > 1e-6


def test_common_point_runs_nnls_only_when_the_lp_weights_fall_short(monkeypatch):
    """The LP's own weights are tried first; the NNLS re-solve (tens of ms at a few hundred
    support points) runs only if the caller asks for the next candidate."""
    import scipy.optimize

    import ftprobe.probe.directprobe.overlap as overlap

    calls = []
    orig = scipy.optimize.nnls

    def nnls(*a, **k):
        calls.append(1)
        return orig(*a, **k)

    monkeypatch.setattr(scipy.optimize, "nnls", nnls)
    P = np.array([[0.0, 0.0], [2.0, 0.0]])
    Q = np.array([[1.0, -1.0], [1.0, 1.0]])
    gen = overlap.candidate_pairs(P, Q, np.array([0.5, 0.5]), np.array([0.5, 0.5]))
    zp, zq = next(gen)
    np.testing.assert_allclose(zp, [1.0, 0.0])
    np.testing.assert_allclose(zq, [1.0, 0.0])
    assert calls == []
    zp, zq = next(gen)
    assert calls == [1]
    assert np.linalg.norm(zp - zq) < 1e-9


def test_kept_lps_are_pruned_to_their_nearest_rows(monkeypatch):
    """LPs kept for continuation are pruned (when stored) to at most one row per column, the rows
    farthest from the plane first (they are basic: the optimum stays, no iteration needed);
    continuing pruned LPs gives the definition's partition."""
    import ftprobe.probe.directprobe.margin_lp as sep

    pruned = []
    orig = sep.MarginLP.prune

    def prune(self, blocks):
        t_before = self.solve()[0]
        out = orig(self, blocks)
        if self.num_rows < sum(len(b) for b, _ in blocks):
            pruned.append(self.num_rows)
            t_after = self.solve()[0]
            assert self.iterations == 0 and t_after == pytest.approx(t_before)
        assert self.num_rows == sum(len(b) for b, _ in out)
        return out

    monkeypatch.setattr(sep.MarginLP, "prune", prune)
    for seed in (2, 8):
        _fit_with_continued_lps(monkeypatch, seed, _capped(False, lp_rows_per_col=1))
    assert pruned and max(pruned) <= 4 + 2


def test_label_pairs_in_processes_give_the_same_result():
    """jobs=2 tests the label pairs in forked workers (and gives the initial searches 2 BLAS
    threads): same clusters, same counters."""
    from dataclasses import asdict

    rng = np.random.default_rng(7)
    centres = np.array([[0, 0, 0], [0.5, 0, 0], [8, 0, 0], [0, 8, 0], [8, 8, 0], [0.4, 0.4, 0.2]])
    y = np.repeat(np.arange(6), 40)
    X = centres[y] + rng.normal(0, 0.5, (len(y), 3))
    one = DirectProbe(jobs=1).fit(X, y)
    two = DirectProbe(jobs=2).fit(X, y)
    np.testing.assert_array_equal(two.labels_, one.labels_)
    a, b = asdict(one.stats_), asdict(two.stats_)
    a.pop("seconds"), b.pop("seconds")
    assert a == b
    # both kinds of label pair are exercised: some meet (0, 1, 5), some are far apart
    assert 0 < one.stats_.label_pairs_overlapping < one.stats_.label_pair_tests == 15
    assert_valid_partition(X, y, one.labels_)


def test_initial_searches_get_the_blas_threads_asked_for():
    """jobs > 1 lets BLAS use that many threads for the initial searches, and only there."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import ftprobe.probe.directprobe.clustering as cl

    def blas():
        return {i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"}

    if not blas():
        pytest.skip("no BLAS library found by threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        with cl._blas_threads(2):
            assert blas() == {2}
        assert blas() == {1}
        with cl._blas_threads(1):
            assert blas() == {1}
    # A fit runs on one BLAS thread outside the initial searches (many small products) and
    # gives the caller's setting back, whatever it was.
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        if blas() != {2}:
            pytest.skip("BLAS cannot use 2 threads here")
        with cl._blas_threads(1):
            assert blas() == {1}
        assert blas() == {2}
        rng = np.random.default_rng(0)
        DirectProbe(jobs=1).fit(rng.normal(size=(60, 4)), rng.integers(0, 3, 60))
        assert blas() == {2}


@pytest.mark.parametrize("bounds", [(1, 30_000), (64, 20)])
@pytest.mark.parametrize("data", [("gap", 8), ("random", 3), ("clumps", 5)])
def test_kept_lps_beyond_the_live_bounds_are_frozen_and_rebuilt(monkeypatch, bounds, data):
    """Live kept LPs (rows and basis inverse held) stay within warm_lps and warm_lp_rows rows in all (beyond
    a single one); the least recent beyond are frozen (basis and optimum only), and a check
    that continues one rebuilds it from its blocks at the same optimum (a re-solve takes no
    iteration and gives the frozen optimum); the partition is the definition's."""
    import ftprobe.probe.directprobe.clustering as cl
    import ftprobe.probe.directprobe.margin_lp as sep

    # Recalled overlaps would settle some of the continued checks without thawing their LP.
    tuning = Tuning(wolfe_cap_min=1, wolfe_cap_per_dim=0, warm_lps=bounds[0],
                    warm_lp_rows=bounds[1], recall_overlaps=False)
    orig = cl.MergeEngine.decide
    frozen_seen, thawed = [], []

    def step(self, lab, s, t):
        orig(self, lab, s, t)
        live = {key: st[1].num_rows for key, st in self.certs.lps.items() if not st[1].frozen}
        assert live == self.certs.live and sum(live.values()) == self.certs.live_rows
        assert len(live) <= bounds[0] and (len(live) <= 1 or sum(live.values()) <= bounds[1])
        frozen_seen.append(len(self.certs.lps) - len(live))
        _assert_kept_lps_match_their_blocks(self.X, self.certs)

    orig_thaw = sep.MarginLP.thaw

    def thaw(self, Z, signs):
        t0 = self.optimum
        orig_thaw(self, Z, signs)
        res = self.solve()
        assert self.iterations == 0
        assert t0 is not None and abs(res[0] - t0[0]) <= 1e-9 * max(1.0, abs(t0[0]))
        thawed.append(len(Z))

    monkeypatch.setattr(cl.MergeEngine, "decide", step)
    monkeypatch.setattr(sep.MarginLP, "thaw", thaw)
    kind, seed = data
    X, y = _DATA[kind](seed)
    dp = DirectProbe(tuning=tuning).fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))
    assert max(frozen_seen) > 0 and dp.stats_.lp_frozen > 0
    assert len(thawed) == dp.stats_.lp_thawed > 0


def test_tuning_names_a_bad_setting():
    """A cap that cannot work is refused with the field's name, before any fit."""
    with pytest.raises(ValueError, match="Tuning.nn_cache must be at least 1"):
        Tuning(nn_cache=0)
    with pytest.raises(ValueError, match="Tuning.warm_lps must be a non-negative number"):
        Tuning(warm_lps=-1)
    with pytest.raises(ValueError, match="Tuning.seed_piece"):
        Tuning(seed_piece="64")
