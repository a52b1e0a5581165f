import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import pearsonr, spearmanr

from ftprobe.compare import batched_pearson, bootstrap_ci, pearson, rsa


def _rotation(d, rng):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def test_pearson_matches_scipy():
    rng = np.random.default_rng(1)
    for n in (3, 10, 500):
        a = rng.normal(size=n)
        b = 0.3 * a + rng.normal(size=n)
        assert pearson(a, b) == pytest.approx(pearsonr(a, b)[0], abs=1e-12)


def test_pearson_degenerate_and_errors():
    assert np.isnan(pearson([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert np.isnan(pearson([1.0, 2.0, 3.0], [5.0, 5.0, 5.0]))
    assert np.isnan(pearson([1.0], [2.0]))
    with pytest.raises(ValueError):
        pearson([1.0, 2.0], [1.0, 2.0, 3.0])
    # Non-finite pairs are dropped, not propagated.
    assert pearson([1.0, np.nan, 2.0, 3.0], [2.0, 9.0, 4.0, 6.0]) == pytest.approx(1.0)
    assert pearson([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)


def test_batched_pearson_rows():
    rng = np.random.default_rng(2)
    A, B = rng.normal(size=(4, 20)), rng.normal(size=(4, 20))
    B[3] = 7.0
    r = batched_pearson(A, B)
    for i in range(3):
        assert r[i] == pytest.approx(pearsonr(A[i], B[i])[0], abs=1e-12)
    assert np.isnan(r[3])


def test_bootstrap_ci_contains_estimate_narrows_and_is_seeded():
    rng = np.random.default_rng(3)
    widths = []
    for n in (30, 3000):
        a = rng.normal(size=n)
        b = 0.5 * a + rng.normal(size=n)
        lo, hi = bootstrap_ci(a, b, n_boot=500, seed=7)
        assert lo < pearson(a, b) < hi
        assert bootstrap_ci(a, b, n_boot=500, seed=7) == (lo, hi)
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 4  # ~1/sqrt(100) ideally
    a = rng.normal(size=40)
    b = a + rng.normal(size=40)
    assert bootstrap_ci(a, b, seed=1) != bootstrap_ci(a, b, seed=2)


def test_bootstrap_ci_generic_stat_matches_vectorised_pearson():
    rng = np.random.default_rng(4)
    a = rng.normal(size=50)
    b = a + rng.normal(size=50)
    fast = bootstrap_ci(a, b, n_boot=200, seed=5)
    slow = bootstrap_ci(a, b, stat=lambda x, y: pearsonr(x, y)[0], n_boot=200, seed=5)
    assert fast == pytest.approx(slow, abs=1e-10)
    assert np.isnan(bootstrap_ci([1.0], [2.0])[0])


def test_rsa_invariant_to_rotation_scaling_translation():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(400, 12)) @ rng.normal(size=(12, 12))
    Y = 3.7 * X @ _rotation(12, rng) + rng.normal(size=12) * 10
    assert rsa(X, Y) == pytest.approx(1.0, abs=1e-12)
    assert rsa(X, Y, method="pearson") == pytest.approx(1.0, abs=1e-12)


def test_rsa_subsample_and_reference():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 6))
    Y = X + 0.5 * rng.normal(size=(300, 6))
    # Without subsampling: equals scipy's Spearman over the condensed distances.
    ref = spearmanr(pdist(X), pdist(Y))[0]
    assert rsa(X, Y, n_points=1000) == pytest.approx(ref, abs=1e-12)
    # With subsampling: same rows on both sides, so identical spaces still give 1; seeded.
    assert rsa(X, X, n_points=50, seed=3) == pytest.approx(1.0)
    assert rsa(X, Y, n_points=50, seed=3) == rsa(X, Y, n_points=50, seed=3)
    assert rsa(X, Y, n_points=50, seed=3) != rsa(X, Y, n_points=50, seed=4)
    assert abs(rsa(X, rng.normal(size=(300, 6)))) < 0.1
    with pytest.raises(ValueError):
        rsa(X, Y, method="kendall")
