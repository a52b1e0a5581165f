import numpy as np
import pytest
from scipy.spatial.distance import cdist

from ftprobe.compare import knn_overlap, mutual_knn, nearest_neighbours


def _rotation(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _brute_overlap(X, Y, k):
    """Brute force from the definition: full distance matrices, self excluded, Python sets."""
    out = []
    DX, DY = cdist(X, X), cdist(Y, Y)
    np.fill_diagonal(DX, np.inf)
    np.fill_diagonal(DY, np.inf)
    for i in range(X.shape[0]):
        nx = set(np.argsort(DX[i])[:k].tolist())
        ny = set(np.argsort(DY[i])[:k].tolist())
        out.append(len(nx & ny) / k)
    return np.array(out)


def test_neighbours_match_brute_force():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 7)) + 100.0
    dist, idx = nearest_neighbours(X, 5, device="cpu")
    D = cdist(X, X)
    np.fill_diagonal(D, np.inf)
    ref = np.argsort(D, axis=1)[:, :5]
    np.testing.assert_array_equal(idx, ref)
    np.testing.assert_allclose(dist, np.take_along_axis(D, ref, axis=1), rtol=1e-12)


def test_overlap_matches_brute_force_and_identity():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(250, 6))
    Y = X @ rng.normal(size=(6, 4)) + 0.7 * rng.normal(size=(250, 4))
    for k in (1, 3, 10):
        np.testing.assert_allclose(knn_overlap(X, Y, k, device="cpu"), _brute_overlap(X, Y, k))
    # Rotation, translation and scaling keep every neighbourhood.
    Z = 2.5 * X @ _rotation(6, rng) + 3.0
    assert mutual_knn(X, Z, k=10, device="cpu") == 1.0


def test_chance_level_on_independent_spaces():
    rng = np.random.default_rng(2)
    n, k = 1000, 10
    vals = [mutual_knn(rng.normal(size=(n, 5)), rng.normal(size=(n, 5)), k, device="cpu")
            for _ in range(3)]
    # E = k / (n - 1) ~ 0.01; sd of the mean of n overlaps ~ sqrt(0.01 / (k n)) ~ 0.001.
    assert np.mean(vals) == pytest.approx(k / (n - 1), abs=0.003)


def test_blocks_do_not_change_the_answer():
    # Several blocks of rows on CPU (the block budget divided by N rows of float64).
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5000, 3))
    _, idx = nearest_neighbours(X, 4, device="cpu")
    rows = rng.choice(5000, size=50, replace=False)
    D = cdist(X[rows], X)
    D[np.arange(50), rows] = np.inf
    np.testing.assert_array_equal(idx[rows], np.argsort(D, axis=1)[:, :4])


def test_bad_input():
    X = np.random.default_rng(4).normal(size=(10, 3))
    with pytest.raises(ValueError, match="k must be < the number of rows"):
        mutual_knn(X, X, k=10, device="cpu")
    with pytest.raises(ValueError, match="k must be >= 1"):
        mutual_knn(X, X, k=0, device="cpu")
    with pytest.raises(ValueError, match="same points"):
        mutual_knn(X, X[:9], k=2, device="cpu")
    bad = X.copy()
    bad[2, 2] = np.inf
    with pytest.raises(ValueError, match=r"Y has a NaN or infinite value \(row 2\)"):
        mutual_knn(X, bad, k=2, device="cpu")
