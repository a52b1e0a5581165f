"""Support queries screened in float32 give the float64 query's vertices, on random, nearly
tied and out-of-range points; the nearest points and distances do not change (the fits:
test_directprobe_digests.py)."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.probe.directprobe import Tuning
from ftprobe.probe.directprobe.hull import ScreenedSupport, nearest_points
from ftprobe.probe.directprobe.measures import cluster_hull_distance, qp_hull_distance


def _plain(P, Q, x):
    sp, sq = P @ x, Q @ x
    i, j = int(np.argmin(sp)), int(np.argmax(sq))
    return i, j, float(sp[i] - sq[j])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_screened_queries_find_the_float64_extremes(seed):
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(700, 96)) + 3.0
    Q = rng.normal(size=(400, 96)) * 5.0
    query = ScreenedSupport(P, Q)
    for _ in range(50):
        x = rng.normal(size=96) * 10.0 ** rng.uniform(-4, 3)
        i, j, m = query(x)
        pi, pj, pm = _plain(P, Q, x)
        assert (i, j) == (pi, pj)
        assert m == pytest.approx(pm, rel=1e-12, abs=1e-12 * np.linalg.norm(x))


def test_near_ties_below_float32_resolution_are_decided_in_float64():
    """Points whose products with x differ by 1e-9 relative look equal in float32: the screen
    keeps them all as candidates and the float64 products pick the true extreme."""
    rng = np.random.default_rng(5)
    D = 64
    x = rng.normal(size=D)
    x /= np.linalg.norm(x)
    flat = rng.normal(size=(900, D))
    flat -= np.outer(flat @ x, x)  # every point on the plane <x, p> = 0 ...
    P = flat + np.outer(rng.permutation(900) * 1e-9, x)  # ... lifted by distinct 1e-9 steps
    Q = flat[:300] - np.outer(rng.permutation(300) * 1e-9, x)
    x32 = x.astype(np.float32)
    assert np.argmin(P.astype(np.float32) @ x32) != np.argmin(P @ x)  # float32 alone errs
    i, j, m = ScreenedSupport(P, Q)(x)
    assert (i, j) == _plain(P, Q, x)[:2]
    assert (P @ x)[i] == (P @ x).min() and (Q @ x)[j] == (Q @ x).max()


def test_values_beyond_float32_range_use_the_plain_query():
    rng = np.random.default_rng(6)
    P = rng.normal(size=(300, 20)) * 1e36
    Q = rng.normal(size=(300, 20)) * 1e36
    x = rng.normal(size=20)
    assert ScreenedSupport(P, Q)(x)[:2] == _plain(P, Q, x)[:2]
    small = ScreenedSupport(P * 1e-72, Q * 1e-72)
    assert small(x)[:2] == _plain(P * 1e-72, Q * 1e-72, x)[:2]


@pytest.mark.parametrize("seed", [0, 1])
def test_nearest_points_screened_or_not_agree_with_the_qp(seed):
    """Overlapping-ish clouds in 40 dims (a corral of many vertices), on all points and on
    working sets."""
    rng = np.random.default_rng(seed)
    P = rng.normal(size=(900, 40))
    Q = rng.normal(size=(700, 40)) + 0.35 * rng.normal(size=40) / 40**0.5 * 40
    qp = qp_hull_distance(P, Q)
    for tuning in (Tuning(), Tuning(ws_min=500, ws_add=128, screen_after=0)):
        plain = nearest_points(P, Q, tuning=tuning)
        screened = nearest_points(P, Q, tuning=tuning, screen=True)
        assert plain.converged and screened.converged
        assert screened.distance == pytest.approx(plain.distance, rel=1e-8)
        assert screened.distance == pytest.approx(qp, rel=1e-6, abs=1e-9)
    assert cluster_hull_distance(P, Q) == pytest.approx(qp, rel=1e-6, abs=1e-9)
