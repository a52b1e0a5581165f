import numpy as np
import pytest

from ftprobe.compare import effective_rank, intrinsic_dimension, isotropy


def _rotation(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _planted(n, k, d, rng):
    """Isotropic Gaussian on a random k-dimensional subspace of R^d, shifted."""
    basis = _rotation(d, rng)[:k]
    return rng.normal(size=(n, k)) @ basis + rng.normal(size=d) * 5


def _erank_numpy(X):
    s = np.linalg.svd(X - X.mean(0), compute_uv=False)
    p = s / s.sum()
    p = p[p > 1e-15]
    return np.exp(-(p * np.log(p)).sum())


def _isoscore_numpy(X):
    """IsoScore, steps 1-6 of Rudman et al. (2022), from the paper: PCA-reorient, variance
    vector, normalise to norm sqrt(d), distance to the identity's diagonal, phi, rescale."""
    Xc = X - X.mean(0)
    _, _, vt = np.linalg.svd(Xc, full_matrices=False)
    var = np.var(Xc @ vt.T, axis=0) * Xc.shape[0]
    var = np.pad(var, (0, X.shape[1] - var.size))
    d = X.shape[1]
    v = np.sqrt(d) * var / np.linalg.norm(var)
    delta = np.linalg.norm(v - np.ones(d)) / np.sqrt(2 * (d - np.sqrt(d)))
    phi = (d - delta**2 * (d - np.sqrt(d))) ** 2 / d**2
    return (d * phi - 1) / (d - 1)


def test_effective_rank_known_answers_and_reference():
    rng = np.random.default_rng(0)
    assert effective_rank(rng.normal(size=(20000, 10))) == pytest.approx(10, abs=0.1)
    assert effective_rank(_planted(20000, 4, 30, rng)) == pytest.approx(4, abs=0.05)
    line = np.outer(rng.normal(size=50), rng.normal(size=6)) + 1.0
    assert effective_rank(line) == pytest.approx(1.0, abs=1e-6)
    X = rng.normal(size=(80, 9)) * rng.uniform(0.1, 3, size=9)
    assert effective_rank(X) == pytest.approx(_erank_numpy(X), rel=1e-10)
    assert effective_rank(X, block_rows=7) == pytest.approx(_erank_numpy(X), rel=1e-10)


def test_isotropy_known_answers_reference_and_invariance():
    rng = np.random.default_rng(1)
    d = 20
    assert isotropy(rng.normal(size=(50000, d))) == pytest.approx(1.0, abs=0.01)
    for k in (1, 5):
        assert isotropy(_planted(50000, k, d, rng)) == pytest.approx((k - 1) / (d - 1), abs=0.01)
    X = rng.normal(size=(300, d)) * rng.uniform(0.1, 3, size=d)
    assert isotropy(X) == pytest.approx(_isoscore_numpy(X), abs=1e-10)
    Y = 4.0 * X @ _rotation(d, rng) - 2.0
    assert isotropy(Y) == pytest.approx(isotropy(X), abs=1e-10)


def test_twonn_known_answers():
    rng = np.random.default_rng(2)
    for d in (2, 5):
        est = intrinsic_dimension(rng.uniform(size=(4000, d)), device="cpu")
        assert est == pytest.approx(d, rel=0.1)
    est = intrinsic_dimension(_planted(4000, 3, 40, rng), device="cpu")
    assert est == pytest.approx(3, rel=0.1)
    mle = intrinsic_dimension(rng.normal(size=(4000, 4)), discard_fraction=0.0, device="cpu")
    assert mle == pytest.approx(4, rel=0.1)


def test_twonn_matches_plain_numpy_formula():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 3))
    D = np.linalg.norm(X[:, None] - X[None], axis=2)
    np.fill_diagonal(D, np.inf)
    r = np.sort(D, axis=1)[:, :2]
    mu = np.sort(r[:, 1] / r[:, 0])
    assert intrinsic_dimension(X, discard_fraction=0.0, device="cpu") == pytest.approx(
        (300 - 1) / np.log(mu).sum(), rel=1e-10)
    keep = 270  # 10% discarded: line through the origin of -log(1 - i/N) on log mu_i
    x, y = np.log(mu[:keep]), -np.log(1 - np.arange(1, keep + 1) / 300)
    assert intrinsic_dimension(X, device="cpu") == pytest.approx((x @ y) / (x @ x), rel=1e-10)


def test_bad_input():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20, 3))
    dup = np.vstack([X, X[:2]])
    with pytest.raises(ValueError, match="duplicate; TwoNN needs distinct points|duplicate"):
        intrinsic_dimension(dup, device="cpu")
    with pytest.raises(ValueError, match="X has 2 rows"):
        intrinsic_dimension(X[:2], device="cpu")
    with pytest.raises(ValueError, match="X has no variance"):
        effective_rank(np.ones((5, 3)))
    with pytest.raises(ValueError, match="X has no variance"):
        isotropy(np.ones((5, 3)))
    with pytest.raises(ValueError, match="X has a NaN"):
        isotropy(np.where(X > 2, np.nan, X))
    with pytest.raises(ValueError, match="discard_fraction"):
        intrinsic_dimension(X, discard_fraction=1.0)
