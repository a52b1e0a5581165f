import functools

import numpy as np
import pytest
from scipy.stats import pearsonr

from ftprobe.compare import (
    half_sample_interval,
    linear_cka,
    mantel_null,
    mutual_knn,
    permutation_null,
    procrustes_distance,
)


def _plain_null(measure, X, Y, n, seed):
    """The definition, with nothing reused: measure(X, Y[perm]) for the same seeded perms."""
    rng = np.random.default_rng(seed)
    return np.array([measure(X, Y[rng.permutation(X.shape[0])]) for _ in range(n)])


@pytest.mark.parametrize("measure", [
    linear_cka,
    functools.partial(linear_cka, debiased=False),
    procrustes_distance,
    functools.partial(procrustes_distance, angular=True),
    functools.partial(mutual_knn, k=5, device="cpu"),
])
def test_fast_null_equals_recomputing_the_measure(measure):
    rng = np.random.default_rng(0)
    # More rows than features and fewer.
    for n, dx, dy in [(60, 5, 4), (30, 8, 6)]:
        X = rng.normal(size=(n, dx))
        Y = X @ rng.normal(size=(dx, dy)) + rng.normal(size=(n, dy))
        res = permutation_null(measure, X, Y, n=20, seed=3)
        np.testing.assert_allclose(res.null, _plain_null(measure, X, Y, 20, 3), rtol=1e-9, atol=1e-12)
        assert res.value == pytest.approx(measure(X, Y))


def test_score_and_p_value_from_their_definitions():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 3))
    Y = X + rng.normal(size=(40, 3))
    res = permutation_null(linear_cka, X, Y, n=50, seed=0)
    assert res.null_mean == pytest.approx(res.null.mean())
    assert res.null_sd == pytest.approx(res.null.std(ddof=1))
    assert res.calibrated == pytest.approx((res.value - res.null.mean()) / res.null.std(ddof=1))
    assert res.p_value == pytest.approx((1 + (res.null >= res.value).sum()) / 51)
    # A distance: smaller is more agreement, so the score is flipped and p counts the low tail.
    d = permutation_null(procrustes_distance, X, Y, n=50, seed=0)
    assert d.alternative == "less"
    assert d.calibrated == pytest.approx((d.null.mean() - d.value) / d.null.std(ddof=1))
    assert d.p_value == pytest.approx((1 + (d.null <= d.value).sum()) / 51)
    assert permutation_null(linear_cka, X, Y, n=50, seed=0).null.tolist() == res.null.tolist()


def test_p_values_uniformish_on_independent_data_and_tiny_on_dependent():
    rng = np.random.default_rng(2)
    ps = []
    for _ in range(40):
        X, Y = rng.normal(size=(30, 4)), rng.normal(size=(30, 4))
        ps.append(permutation_null(linear_cka, X, Y, n=99, seed=int(rng.integers(1 << 30))).p_value)
    ps = np.array(ps)
    # Uniform on {1/100, ..., 1}: mean 0.505; 40 draws put the mean within ~0.14 of it
    # (3 sd), and roughly a tenth fall below 0.1.
    assert abs(ps.mean() - 0.5) < 0.14
    assert (ps < 0.1).sum() <= 10
    X = rng.normal(size=(30, 4))
    for measure in (linear_cka, procrustes_distance, functools.partial(mutual_knn, k=3, device="cpu")):
        res = permutation_null(measure, X, X + 0.3 * rng.normal(size=(30, 4)), n=99, seed=0)
        assert res.p_value == pytest.approx(0.01)
        assert res.calibrated > 3


def test_generic_measure_and_bad_input():
    rng = np.random.default_rng(3)
    X, Y = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    res = permutation_null(lambda a, b: pearsonr(a[:, 0], b[:, 0])[0], X, Y, n=10, seed=1)
    assert res.n == 10 and 0 < res.p_value <= 1
    with pytest.raises(ValueError, match="same points"):
        permutation_null(linear_cka, X, Y[:10])
    with pytest.raises(ValueError, match="n must be >= 2"):
        permutation_null(linear_cka, X, Y, n=1)
    with pytest.raises(ValueError, match="alternative"):
        permutation_null(linear_cka, X, Y, alternative="two-sided")
    with pytest.raises(ValueError, match="zero spread"):
        permutation_null(lambda a, b: 1.0, X, Y, n=5)
    with pytest.raises(ValueError, match="non-finite"):
        permutation_null(lambda a, b: float("nan"), X, Y, n=5)


def test_mantel_null_against_a_plain_loop():
    rng = np.random.default_rng(4)
    P = rng.normal(size=(8, 3))
    A = np.linalg.norm(P[:, None] - P[None], axis=2)
    B = A + 0.2 * rng.uniform(size=A.shape)
    B = (B + B.T) / 2
    A[0, 5] = A[5, 0] = np.nan  # a label pair missing on one side
    res = mantel_null(A, B, n=30, seed=2)
    iu = np.triu_indices(8, k=1)
    rng2 = np.random.default_rng(2)
    ref = []
    for _ in range(30):
        p = rng2.permutation(8)
        a, b = A[iu], B[p][:, p][iu]
        ok = np.isfinite(a) & np.isfinite(b)
        ref.append(pearsonr(a[ok], b[ok])[0])
    np.testing.assert_allclose(res.null, ref, atol=1e-12)
    ok = np.isfinite(A[iu])
    assert res.value == pytest.approx(pearsonr(A[iu][ok], B[iu][ok])[0])
    with pytest.raises(ValueError, match="same labels"):
        mantel_null(A, B[:7, :7])
    with pytest.raises(ValueError, match="square"):
        mantel_null(A[:, :3], B)


def test_half_sample_interval_covers_and_narrows():
    rng = np.random.default_rng(5)
    widths = []
    for n in (80, 1280):
        X = rng.normal(size=(n, 4))
        Y = X + rng.normal(size=(n, 4))
        lo, hi = half_sample_interval(linear_cka, X, Y, n=60, seed=0)
        assert lo < linear_cka(X, Y) < hi
        widths.append(hi - lo)
    assert widths[1] < widths[0] / 2.5  # ~1/sqrt(16) ideally
    with pytest.raises(ValueError, match="level"):
        half_sample_interval(linear_cka, X, Y, level=1.5)
