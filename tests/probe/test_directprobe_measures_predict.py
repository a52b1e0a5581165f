"""Batched nearest-hull prediction: closed forms, an independent QP, and equality with the
point-by-point exact procedure it replaces (ties included)."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.probe.directprobe import DirectProbe
from ftprobe.probe.directprobe.measures import cluster_hull_distance, qp_hull_distance
from ftprobe.probe.directprobe.nearest import (
    NearestHullSettings,
    SparseWeights,
    nearest_hull_batched,
)
from ftprobe.probe.directprobe.predict import nearest_hull


def _reference(Xt, groups):
    """The point-by-point exact procedure (every cluster solved unless its ball rules it out)."""
    cent = np.stack([g.mean(0) for g in groups])
    rad = np.array([np.sqrt(((g - c) ** 2).sum(1).max()) for g, c in zip(groups, cent, strict=True)])
    return nearest_hull(Xt, groups, cent, rad)[0]


def _random_clusters(rng, n_clusters, dim, sizes=(1, 40)):
    groups = []
    for _ in range(n_clusters):
        n = int(rng.integers(*sizes))
        centre = rng.normal(size=dim) * 3
        groups.append(centre + rng.normal(size=(n, dim)) * rng.uniform(0.3, 2.0))
    return groups


SETTINGS = {
    "default": NearestHullSettings(device="cpu"),
    "bounds only": NearestHullSettings(device="cpu", rounds=0),
    "no kernels, small blocks": NearestHullSettings(device="cpu", kernel_max=0, block_elements=50),
    # bounds from chunks of a row or a few (fewer elements than a block's rows x points)
    "bounds in chunks": NearestHullSettings(device="cpu", bound_elements=50, bound_rows=1),
    # the steps of a cluster's rows in pieces of a row or a few
    "steps in pieces": NearestHullSettings(device="cpu", step_elements=50),
    "one long round, no lead": NearestHullSettings(device="cpu", rounds=1, steps=200, lead_steps=0),
}


def test_closed_forms_segment_triangle_box():
    # hand-computed distances from x = (2, 1, 0):
    seg = np.array([[0.0, 0, 0], [0, 4, 0]])  # the y axis from 0 to 4: distance 2
    tri = np.array([[3.0, 0, 1.5], [5, 0, 1.5], [3, 3, 1.5]])  # plane z = 1.5 above x: 1.5 + ...
    box = np.array([[a, b, c] for a in (2.5, 3.5) for b in (0.5, 1.5) for c in (-1, 1)])  # 0.5
    x = np.array([[2.0, 1, 0]])
    # x's projection on the triangle's plane is (2, 1, 1.5), outside it; nearest point on the
    # edge x = 3: (3, 1, 1.5), so the distance is sqrt(1 + 2.25)
    d = [2.0, np.sqrt(3.25), 0.5]
    for g, want in zip((seg, tri, box), d, strict=True):
        assert qp_hull_distance(x, g) == pytest.approx(want, abs=1e-7)
    for order in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        groups = [(seg, tri, box)[k] for k in order]
        res = nearest_hull_batched(x, groups, NearestHullSettings(device="cpu"))
        assert order[res.cluster[0]] == 2  # the box, at 0.5
    # a point inside the box: distance 0, still the box; a point 1.9 from the segment only
    inside = np.array([[3.0, 1.0, 0.2], [-1.9, 2.0, 0.0]])
    assert list(nearest_hull_batched(inside, [seg, tri, box]).cluster) == [2, 0]


@pytest.mark.parametrize("dim,seed", [(2, 0), (5, 1), (40, 2), (40, 3)])
@pytest.mark.parametrize("name", list(SETTINGS))
def test_equals_point_by_point_procedure_on_random_sets(dim, seed, name):
    rng = np.random.default_rng(seed)
    groups = _random_clusters(rng, 9, dim)
    Xt = np.concatenate([rng.normal(size=(60, dim)) * 4,
                         groups[0][:5],  # training points: in their own hull (distance 0)
                         groups[3].mean(0, keepdims=True)])
    res = nearest_hull_batched(Xt, groups, SETTINGS[name])
    assert np.array_equal(res.cluster, _reference(Xt, groups))
    assert res.pairs == len(Xt) * len(groups)
    assert res.open_after_refinement <= res.open_after_bounds <= res.pairs


@pytest.mark.parametrize("scale", [1e-30, 1e-20, 1e10, 1e20])
def test_same_answer_at_any_scale(scale):
    """Scaling every point scales every distance: the nearest hull is the same, and the
    point-by-point procedure's, where the steps' float32 Gram matrices underflow (1e-20, 1e-30:
    their entries are ~1e-40 or 0; the exact solves' tolerance follows the scale there), hold
    large values (1e10), and where they would overflow (1e20: the search keeps them in
    float64)."""
    rng = np.random.default_rng(13)
    groups = _random_clusters(rng, 7, 12)
    Xt = rng.normal(size=(40, 12)) * 4
    want = nearest_hull_batched(Xt, groups).cluster
    assert np.array_equal(want, _reference(Xt, groups))
    scaled = [g * scale for g in groups]
    got = nearest_hull_batched(Xt * scale, scaled)
    assert np.array_equal(got.cluster, want)
    assert np.array_equal(got.cluster, _reference(Xt * scale, scaled))


@pytest.mark.parametrize("scale", [1e-30, 1e-12, 1.0, 1e20])
def test_hull_distance_scales_with_the_data(scale):
    rng = np.random.default_rng(17)
    P = rng.normal(size=(30, 8))
    Q = rng.normal(size=(25, 8)) + 1.5
    d = cluster_hull_distance(P, Q)
    assert d == pytest.approx(qp_hull_distance(P, Q), rel=1e-6)
    assert cluster_hull_distance(P * scale, Q * scale) == pytest.approx(d * scale, rel=1e-8)


def test_nearest_is_the_minimum_of_an_independent_qp():
    rng = np.random.default_rng(5)
    groups = _random_clusters(rng, 6, 8, sizes=(2, 25))
    Xt = rng.normal(size=(25, 8)) * 3
    pred = nearest_hull_batched(Xt, groups).cluster
    for x, p in zip(Xt, pred, strict=True):
        d = np.array([qp_hull_distance(x[None], g) for g in groups])
        assert d[p] <= d.min() + 1e-6


def test_exact_ties_go_to_the_smaller_cluster_index():
    """Two copies of one hull: never separated by bounds, decided by the exact solver; the same
    point list gives bitwise-equal distances (the smaller index wins), a permuted one may differ
    in the last bits, as in the point-by-point procedure, which the answer then equals."""
    rng = np.random.default_rng(7)
    a = rng.normal(size=(12, 6))
    far = a + 50
    Xt = rng.normal(size=(20, 6)) * 3
    for groups, want in (([far, a, a.copy()], 1), ([a, far, a.copy()], 0)):
        res = nearest_hull_batched(Xt, groups)
        assert (res.cluster == want).all()
        assert res.exact_points == len(Xt)  # a tie is never decided by bounds
    groups = [far, a, a[::-1].copy()]
    res = nearest_hull_batched(Xt, groups)
    assert np.array_equal(res.cluster, _reference(Xt, groups))
    assert set(res.cluster) <= {1, 2} and res.exact_points == len(Xt)


@pytest.mark.parametrize("seed", [0, 3])
def test_ties_at_zero_go_to_the_smaller_index_in_high_dimensions(seed):
    """Clusters that hold the test point itself (a repeated vector, as at a contextless layer):
    all at distance 0, the smaller index wins. The Gram bounds of such clusters differ by their
    rounding (~1e-8 at 384 dimensions), which must not drop any of them."""
    rng = np.random.default_rng(seed)
    dim = 384
    shared = rng.normal(size=(6, dim))
    groups = [rng.normal(size=(int(rng.integers(20, 300)), dim)) + 3 * rng.normal(size=dim)
              for _ in range(12)]
    for k in range(6):
        for _ in range(4):
            groups.insert(int(rng.integers(0, len(groups) + 1)), shared[k][None].copy())
    Xt = np.concatenate([shared, rng.normal(size=(10, dim))])
    got = nearest_hull_batched(Xt, groups).cluster
    assert np.array_equal(got, _reference(Xt, groups))
    for k in range(6):
        holders = [j for j, g in enumerate(groups) if len(g) == 1 and np.array_equal(g[0], shared[k])]
        assert got[k] == min(holders)


def test_most_pairs_are_settled_by_bounds_on_separated_clusters():
    rng = np.random.default_rng(11)
    centres = np.eye(10) * 20
    groups = [c + rng.normal(size=(30, 10)) for c in centres]
    Xt = np.concatenate([c + rng.normal(size=(10, 10)) for c in centres])
    res = nearest_hull_batched(Xt, groups)
    assert np.array_equal(res.cluster, np.repeat(np.arange(10), 10))
    assert res.open_after_bounds == len(Xt) and res.exact_points == 0


def test_weights_kept_between_rounds_as_nonzeros_come_back_exactly():
    import torch

    rng = np.random.default_rng(0)
    lam = np.zeros((30, 50))
    for row, k in zip(lam, rng.integers(1, 9, 30), strict=True):  # k nonzeros, on the simplex
        row[rng.choice(50, k, replace=False)] = rng.dirichlet(np.ones(k))
    kept = SparseWeights.of(torch.from_numpy(lam))
    assert kept.index.shape[1] == int((lam > 0).sum(1).max())  # no more columns than needed
    # rows 3, 0 and 7 written into rows 1, 2 and 4 of a fresh array; the others untouched
    out = torch.full((5, 50), -1.0, dtype=torch.float64)
    rows = torch.tensor([False, True, True, False, True])
    kept.put_rows(out, rows, torch.tensor([3, 0, 7]))
    assert np.array_equal(out.numpy()[[1, 2, 4]], lam[[3, 0, 7]])
    assert (out.numpy()[[0, 3]] == -1).all()


def test_directprobe_predict_and_score_use_it_with_progress_on_stderr(capsys):
    rng = np.random.default_rng(3)
    X = np.concatenate([rng.normal(size=(40, 4)) + 4 * k for k in range(3)])
    y = np.repeat(np.arange(3), 40)
    Xt = np.concatenate([rng.normal(size=(10, 4)) + 4 * k for k in range(3)])
    yt = np.repeat(np.arange(3), 10)
    quiet = DirectProbe(device="cpu").fit(X, y)
    capsys.readouterr()
    pred = quiet.predict(Xt)
    assert capsys.readouterr().err == ""
    groups = [X[quiet.labels_ == c] for c in range(quiet.n_clusters_)]
    assert np.array_equal(pred, quiet.cluster_label_[_reference(Xt, groups)])
    loud = DirectProbe(progress=True, device="cpu").fit(X, y)
    capsys.readouterr()
    assert loud.score(Xt, yt) == quiet.score(Xt, yt)
    err = capsys.readouterr().err
    assert "nearest hull" in err and "/30 " in err
