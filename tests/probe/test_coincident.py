"""coincident_labels: hand-counted cases, and the invariances a count of identical rows must have."""

import numpy as np
import pytest

from ftprobe.probe.directprobe.coincident import coincident_labels, vector_ids


def test_hand_counted():
    X = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [2.0, 3.0], [2.0, 3.0], [5.0, 5.0]])
    y = np.array([0, 1, 0, 2, 2, 1])
    c = coincident_labels(X, y)
    # rows 0-2 share a vector with labels {0, 1}; rows 3-4 share one with label 2 only
    assert (c.n_points, c.n_distinct, c.n_conflicting) == (6, 3, 3)
    assert c.share_conflicting == pytest.approx(0.5)
    # labels 1 (row 5) and 2 (rows 3-4) keep a free point, label 0 does not: 3 + 2 clusters
    assert (c.n_labels_free, c.min_clusters) == (2, 5)


def test_distinct_points_never_conflict_and_a_single_vector_always_does():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8))
    y = rng.integers(0, 5, 200)
    assert coincident_labels(X, y).n_conflicting == 0
    # every sentence's layer-0 [CLS] vector is the same: every point conflicts
    same = np.tile(X[:1], (200, 1))
    c = coincident_labels(same, y)
    assert (c.n_distinct, c.n_conflicting, c.min_clusters) == (1, 200, 200)


def test_invariant_to_row_order_and_label_names_and_signed_zero():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(30, 4)).astype(np.float32)
    X = base[rng.integers(0, 30, 300)]
    y = rng.integers(0, 3, 300)
    ref = coincident_labels(X, y)
    perm = rng.permutation(300)
    assert coincident_labels(X[perm], y[perm]) == ref
    assert coincident_labels(X, np.array(["a", "b", "c"])[y]) == ref
    # brute force: a point conflicts if an identical row carries another label
    same = (X[:, None, :] == X[None, :, :]).all(-1)
    brute = int((same & (y[:, None] != y[None, :])).any(1).sum())
    assert ref.n_conflicting == brute
    Z = np.zeros((2, 3))
    Z[1, 0] = -0.0
    assert coincident_labels(Z, [0, 1]).n_conflicting == 2


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16, np.int32])
def test_vector_ids_group_exactly_the_equal_rows(dtype):
    rng = np.random.default_rng(3)
    base = rng.normal(size=(40, 6)) * 4
    # rows drawn with repeats, spread over more than one hashing block, some differing from
    # another in one coordinate only, and a signed zero
    X = base[rng.integers(0, 40, 24000)].astype(dtype)  # 2^16 values a block: 10,922 rows
    X[::7, 2] = X[1, 2] + 1
    X[5] = 0
    X[6] = 0
    if X.dtype.kind == "f":
        X[6, 3] = -0.0
    ids = vector_ids(X)
    assert ids.dtype == np.int64 and ids.min() == 0 and set(np.unique(ids)) == set(range(ids.max() + 1))
    # brute force on a sample of row pairs, and every row against the first row of its id
    i, j = rng.integers(0, len(X), (2, 20000))
    assert np.array_equal(ids[i] == ids[j], (X[i] == X[j]).all(1))
    first = np.unique(ids, return_index=True)[1]
    assert (X == X[first[ids]]).all()
    assert ids[5] == ids[6]
    # the same grouping as np.unique's
    ref = np.unique(X, axis=0, return_inverse=True)[1].ravel()
    assert len(np.unique(np.stack([ids, ref], 1), axis=0)) == ref.max() + 1 == ids.max() + 1


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="one label per row"):
        coincident_labels(np.zeros((3, 2)), [0, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_min_clusters_bounds_directprobe_and_is_reached_when_nothing_else_forces_more(seed):
    from ftprobe.probe.directprobe import DirectProbe

    rng = np.random.default_rng(seed)
    centres = 50.0 * rng.normal(size=(4, 3))
    y = np.repeat(np.arange(4), 15)
    X = centres[y] + rng.normal(size=(60, 3))
    # three far-off places, each holding two points of different labels: every such point stays
    # a cluster of its own, each blob stays one cluster, and the count is exactly the floor
    far = 500.0 * rng.normal(size=(3, 3))
    Xf = np.vstack([X, far, far])
    yf = np.concatenate([y, [0, 1, 2], [1, 2, 3]])
    c = coincident_labels(Xf, yf)
    assert (c.n_conflicting, c.n_labels_free, c.min_clusters) == (6, 4, 10)
    assert DirectProbe().fit(Xf, yf).n_clusters_ == 10
    # relabelled copies inside the blobs: other points' hulls may hold them too, so the floor
    # is a lower bound there
    dup = rng.choice(60, 3, replace=False)
    Xd, yd = np.vstack([X, X[dup]]), np.concatenate([y, (y[dup] + 1) % 4])
    assert DirectProbe().fit(Xd, yd).n_clusters_ >= coincident_labels(Xd, yd).min_clusters == 10
