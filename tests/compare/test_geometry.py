import numpy as np
import pytest
from scipy.spatial.distance import pdist

from ftprobe.compare import (
    centroid_movement,
    centroid_paths_pca,
    centroid_shift,
    label_centroids,
    pca_2d,
    shift_pca,
    space_scale,
)


def _loop_centroids(X, y, k):
    out = np.full((k, X.shape[1]), np.nan)
    for lab in range(k):
        rows = [X[i] for i in range(len(y)) if y[i] == lab]
        if rows:
            out[lab] = np.mean(rows, axis=0)
    return out


def test_label_centroids_match_loop_with_absent_label():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 7)).astype(np.float32)
    y = rng.choice([0, 1, 3, 4], size=200)  # label 2 absent
    got = label_centroids(X, y, 5)
    ref = _loop_centroids(X.astype(np.float64), y, 5)
    assert got.shape == (5, 7)
    assert np.isnan(got[2]).all()
    np.testing.assert_allclose(got, ref, atol=1e-6, equal_nan=True)


def test_label_centroids_validate_labels():
    X = np.zeros((3, 2))
    with pytest.raises(ValueError):
        label_centroids(X, np.array([0, 1, 5]), 3)
    with pytest.raises(ValueError):
        label_centroids(X, np.array([0, 1]), 3)
    with pytest.raises(ValueError):
        label_centroids(X, np.array([0.0, 1.0, 1.0]), 3)


def test_shift_and_movement_of_a_translation():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(120, 4))
    y = rng.integers(0, 3, size=120)
    v = np.array([3.0, 0.0, -4.0, 0.0])
    shifts = centroid_shift(X, X + v, y, 4)
    np.testing.assert_allclose(shifts[:3], np.tile(v, (3, 1)), atol=1e-12)
    if not (y == 3).any():
        assert np.isnan(shifts[3]).all()
    mv = centroid_movement(X, X + v, y, 4)
    assert mv.mean == pytest.approx(5.0)
    assert mv.per_label[:3] == pytest.approx([5.0, 5.0, 5.0])
    assert mv.per_label[3] is None
    assert mv.n_labels_present == 3
    assert mv.to_json()["per_label"][3] is None


def test_movement_distinguishes_labels():
    X = np.zeros((4, 2))
    y = np.array([0, 0, 1, 1])
    after = X.copy()
    after[2:] += [0.0, 2.0]
    mv = centroid_movement(X, after, y, 2)
    assert mv.per_label == pytest.approx([0.0, 2.0])
    assert mv.mean == pytest.approx(1.0)


def test_pca_on_a_line_in_10d():
    rng = np.random.default_rng(2)
    t = rng.normal(size=30)
    pts = np.outer(t, rng.normal(size=10)) + rng.normal(size=10)
    coords, evr = pca_2d(pts)
    np.testing.assert_allclose(evr, [1.0, 0.0], atol=1e-12)
    assert np.abs(coords[:, 1]).max() < 1e-9
    # First coordinate is an affine image of t (distances preserved along the line).
    assert abs(np.corrcoef(coords[:, 0], t)[0, 1]) == pytest.approx(1.0)
    np.testing.assert_allclose(pdist(coords), pdist(pts), atol=1e-9)


def test_pca_nan_rows_and_degenerate_inputs():
    pts = np.array([[0.0, 0, 0], [1, 1, 0], [np.nan, 0, 0], [2, 0, 1]])
    coords, evr = pca_2d(pts)
    assert np.isnan(coords[2]).all() and np.isfinite(coords[[0, 1, 3]]).all()
    assert evr.sum() == pytest.approx(1.0)  # three points span a plane exactly
    c1, e1 = pca_2d(np.ones((4, 3)))
    assert np.isnan(e1).all() and np.allclose(c1, 0)
    c2, e2 = shift_pca(np.array([[1.0, 2.0]]))
    assert c2.shape == (1, 2)


def test_centroid_paths_share_axes_across_steps():
    rng = np.random.default_rng(3)
    basis = np.linalg.qr(rng.normal(size=(10, 2)))[0].T  # a 2-D plane in 10-D
    S, K = 4, 5
    plane = rng.normal(size=(S, K, 2))
    plane[:, 0] = plane[0, 0]  # label 0 never moves
    C = plane @ basis + 5.0
    labels = [0, 2, 4]
    coords, evr = centroid_paths_pca(C, labels, return_evr=True)
    assert coords.shape == (S, 3, 2)
    assert evr.sum() == pytest.approx(1.0)
    # Shared axes: distances between any two points of any two steps are preserved
    # (a per-step PCA would break the cross-step ones), and the fixed label stays put.
    sel = C[:, labels].reshape(-1, 10)
    np.testing.assert_allclose(pdist(coords.reshape(-1, 2)), pdist(sel), atol=1e-9)
    np.testing.assert_allclose(coords[:, 0], np.tile(coords[0, 0], (S, 1)), atol=1e-9)
    with pytest.raises(ValueError):
        centroid_paths_pca(C, [7])


def test_label_centroids_across_row_chunks():
    # More rows than one chunk: per-label masked means as the reference.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(70000, 3)).astype(np.float32)
    y = rng.integers(0, 6, size=70000)
    ref = np.stack([X[y == k].astype(np.float64).mean(axis=0) for k in range(6)])
    np.testing.assert_allclose(label_centroids(X, y, 6), ref, atol=1e-9)


def test_space_scale_hand_value_and_invariances():
    # four points at distance 1 from their mean (the centre of a square of side sqrt(2))
    square = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]) + [3.0, -2.0]
    assert space_scale(square) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6)) * rng.uniform(0.5, 3, size=6)
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    s = space_scale(X)
    assert space_scale(X @ Q + 5.0) == pytest.approx(s)  # rotation and translation
    assert space_scale(2.5 * X) == pytest.approx(2.5 * s)  # uniform scaling
    # the mean squared distance from the mean is half the mean squared pairwise distance
    assert s ** 2 == pytest.approx((pdist(X, "sqeuclidean") * 2).sum() / (2 * 300 ** 2))


def test_space_scale_across_row_chunks_and_bad_input():
    rng = np.random.default_rng(1)
    X = (rng.normal(size=(70000, 3)) * [1.0, 2.0, 3.0] + 100.0).astype(np.float32)  # > one chunk
    X64 = X.astype(np.float64)
    assert space_scale(X) == pytest.approx(np.sqrt(((X64 - X64.mean(0)) ** 2).sum(1).mean()), rel=1e-9)
    with pytest.raises(ValueError, match="NaN"):
        space_scale(np.array([[0.0, np.nan], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="2-D"):
        space_scale(np.zeros((0, 3)))
