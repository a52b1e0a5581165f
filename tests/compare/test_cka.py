import numpy as np
import pytest

from ftprobe.compare import linear_cka


def _rotation(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _hsic_gram(K, L, debiased):
    """Plain numpy from the formulas, on N x N Gram matrices (the reference).

    Biased: tr(HKHL) / (n-1)^2. Unbiased (Song et al. 2012): K~, L~ with zero diagonals,
    [tr(K~L~) + 1'K~1 1'L~1 / ((n-1)(n-2)) - 2/(n-2) 1'K~L~1] / (n(n-3)).
    """
    n = K.shape[0]
    if not debiased:
        H = np.eye(n) - np.ones((n, n)) / n
        return np.sum((H @ K @ H) * L) / (n - 1) ** 2  # tr(HKHL), L symmetric
    Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
    one = np.ones(n)
    return (np.sum(Kt * Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
            - 2.0 / (n - 2) * ((Kt @ one) @ (Lt @ one))) / (n * (n - 3))


def _cka_gram(X, Y, debiased):
    # Kornblith et al. centre the features before either estimator.
    X, Y = X - X.mean(0), Y - Y.mean(0)
    K, L = X @ X.T, Y @ Y.T
    return _hsic_gram(K, L, debiased) / np.sqrt(_hsic_gram(K, K, debiased) * _hsic_gram(L, L, debiased))


@pytest.mark.parametrize("debiased", [True, False])
def test_agrees_with_plain_gram_formula_on_random_inputs(debiased):
    rng = np.random.default_rng(0)
    for n, dx, dy in [(4, 3, 2), (7, 5, 9), (60, 8, 6), (200, 30, 50)]:
        X = rng.normal(size=(n, dx)) * rng.uniform(0.1, 5, size=dx) + rng.normal(size=dx) * 20
        Y = X[:, :1] @ rng.normal(size=(1, dy)) + rng.normal(size=(n, dy)) + 7.0
        assert linear_cka(X, Y, debiased=debiased) == pytest.approx(
            _cka_gram(X, Y, debiased), rel=1e-9, abs=1e-11)


def test_streaming_blocks_equal_the_exact_gram_form():
    # Far more rows than one block, rows with a large common offset (the pilot shift's job).
    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 6)) + 50.0
    Y = np.tanh(X @ rng.normal(size=(6, 5))) + rng.normal(size=(800, 5)) * 0.3 - 20.0
    for debiased in (True, False):
        exact = _cka_gram(X, Y, debiased)
        for block in (1, 7, 256, 1000):
            assert linear_cka(X, Y, debiased=debiased, block_rows=block) == pytest.approx(
                exact, rel=1e-9)


def test_memmap_input_and_float32(tmp_path):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 8)).astype(np.float32)
    Y = (X @ rng.normal(size=(8, 4))).astype(np.float32) + rng.normal(size=(500, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert linear_cka(mm, Y, block_rows=64) == pytest.approx(
        _cka_gram(X.astype(np.float64), Y.astype(np.float64), True), rel=1e-9)


def test_invariances_and_identity():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 10)) @ rng.normal(size=(10, 10))
    Y = 3.7 * X @ _rotation(10, rng) + rng.normal(size=10) * 10
    for debiased in (True, False):
        assert linear_cka(X, X, debiased=debiased) == pytest.approx(1.0, abs=1e-12)
        assert linear_cka(X, Y, debiased=debiased) == pytest.approx(1.0, abs=1e-10)
        # Anisotropic scaling is not an invariance: guards against a CKA that is always 1.
        assert linear_cka(X, X * np.linspace(0.1, 10, 10), debiased=debiased) < 0.99
    Z = rng.normal(size=(300, 7))
    assert linear_cka(X, Z) == pytest.approx(linear_cka(Z, X), abs=1e-12)


def test_debiased_near_zero_on_independent_gaussians_where_biased_is_not():
    # n = 100 points, d = 200 features: plain CKA of independent spaces reads ~0.67 here.
    rng = np.random.default_rng(4)
    deb, bia = [], []
    for _ in range(10):
        X, Y = rng.normal(size=(100, 200)), rng.normal(size=(100, 200))
        deb.append(linear_cka(X, Y))
        bia.append(linear_cka(X, Y, debiased=False))
    assert abs(np.mean(deb)) < 0.01 and max(abs(v) for v in deb) < 0.03
    assert min(bia) > 0.5


def test_bad_input_names_the_argument():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match="X and Y must hold the same points"):
        linear_cka(X, X[:9])
    bad = X.copy()
    bad[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"Y has a NaN or infinite value \(row 4\)"):
        linear_cka(X, bad)
    bad[4, 1] = np.inf
    with pytest.raises(ValueError, match="X has a NaN"):
        linear_cka(bad, X)
    with pytest.raises(ValueError, match="n >= 4"):
        linear_cka(X[:3], X[:3])
    assert linear_cka(X[:3], X[:3], debiased=False) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="X has no variance"):
        linear_cka(np.ones((10, 3)), X)
    with pytest.raises(ValueError, match="Y has no variance"):
        linear_cka(X, np.ones((10, 2)), debiased=False)
    with pytest.raises(ValueError, match="X must be 2-D"):
        linear_cka(X[:, 0], X)
    with pytest.raises(ValueError, match="block_rows"):
        linear_cka(X, X, block_rows=0)


def test_streaming_memory_does_not_grow_with_rows(tmp_path):
    import tracemalloc

    peaks = []
    for n in (2000, 16000):
        X = np.lib.format.open_memmap(tmp_path / f"x{n}.npy", mode="w+", dtype=np.float32, shape=(n, 32))
        X[:] = np.random.default_rng(n).normal(size=(n, 32))
        X.flush()
        X = np.load(tmp_path / f"x{n}.npy", mmap_mode="r")
        tracemalloc.start()
        linear_cka(X, X[::-1], block_rows=1000)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # 8x the rows, the same working memory (a 16000 x 32 float64 copy alone would be 4 MB).
    assert peaks[1] < 1.1 * peaks[0] and peaks[1] < 2_000_000
