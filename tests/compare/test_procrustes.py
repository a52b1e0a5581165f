import numpy as np
import pytest
from scipy.linalg import orthogonal_procrustes

from ftprobe.compare import procrustes_distance


def _rotation(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _reference(X, Y):
    """Plain numpy/scipy from the definition: centre, unit Frobenius norm, zero-pad to the same
    width, best orthogonal Q by scipy, distance |Xn - Yn Q|_F."""
    X, Y = X - X.mean(0), Y - Y.mean(0)
    X, Y = X / np.linalg.norm(X), Y / np.linalg.norm(Y)
    d = max(X.shape[1], Y.shape[1])
    X = np.pad(X, ((0, 0), (0, d - X.shape[1])))
    Y = np.pad(Y, ((0, 0), (0, d - Y.shape[1])))
    Q, _ = orthogonal_procrustes(Y, X)
    return np.linalg.norm(X - Y @ Q)


def test_agrees_with_scipy_orthogonal_procrustes():
    rng = np.random.default_rng(0)
    for n, dx, dy in [(5, 2, 3), (50, 6, 6), (300, 12, 4)]:
        X = rng.normal(size=(n, dx))
        Y = np.tanh(X @ rng.normal(size=(dx, dy))) + 0.5 * rng.normal(size=(n, dy))
        assert procrustes_distance(X, Y) == pytest.approx(_reference(X, Y), abs=1e-10)
        assert procrustes_distance(X, Y, block_rows=3) == pytest.approx(_reference(X, Y), abs=1e-10)


def test_zero_under_rotation_translation_scaling_and_not_otherwise():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 8))
    Y = 0.3 * X @ _rotation(8, rng) - 40.0
    assert procrustes_distance(X, Y) == pytest.approx(0.0, abs=1e-6)
    assert procrustes_distance(X, Y, angular=True) == pytest.approx(0.0, abs=1e-6)
    # A reflection is orthogonal too.
    assert procrustes_distance(X, X * np.r_[-1.0, np.ones(7)]) == pytest.approx(0.0, abs=1e-6)
    # Anisotropic scaling changes the shape.
    assert procrustes_distance(X, X * np.linspace(0.1, 3, 8)) > 0.1


def test_metric_symmetry_and_triangle_inequality():
    rng = np.random.default_rng(2)
    spaces = [rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5)) for _ in range(6)]
    for angular in (False, True):
        d = np.array([[procrustes_distance(a, b, angular=angular) for b in spaces] for a in spaces])
        np.testing.assert_allclose(d, d.T, atol=1e-12)
        np.testing.assert_allclose(np.diag(d), 0.0, atol=1e-6)
        for i in range(6):
            for j in range(6):
                assert (d[i, j] <= d[i] + d[:, j] + 1e-9).all()


def test_independent_spaces_are_far_and_bounded():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(2000, 4)), rng.normal(size=(2000, 4))
    d = procrustes_distance(X, Y)
    assert 1.3 < d <= np.sqrt(2)
    assert procrustes_distance(X, Y, angular=True) <= np.pi / 2


def test_bad_input():
    X = np.random.default_rng(4).normal(size=(10, 3))
    with pytest.raises(ValueError, match="same points"):
        procrustes_distance(X, X[:5])
    with pytest.raises(ValueError, match="Y has no variance"):
        procrustes_distance(X, np.zeros((10, 3)))
    with pytest.raises(ValueError, match="X has a NaN"):
        procrustes_distance(np.full((10, 3), np.nan), X)
