import numpy as np
import pytest

from ftprobe.compare import linear_cka, procrustes_distance
from ftprobe.compare.spaces import MeasureSettings, compare_spaces, space_geometry


def test_compare_spaces_calibrates_every_measure():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    Y = X @ rng.normal(size=(6, 5)) + 0.3 * rng.normal(size=(300, 5))
    s = MeasureSettings(max_rows=120, n_null=20, n_interval=8, k=5, device="cpu")
    r = compare_spaces(X, Y, s)
    rows = np.sort(np.random.default_rng(0).choice(300, size=120, replace=False))
    assert r.cka.value == pytest.approx(linear_cka(X[rows], Y[rows]))
    assert r.cka.value_all_rows == pytest.approx(linear_cka(X, Y))
    assert r.procrustes.value_all_rows == pytest.approx(procrustes_distance(X, Y))
    for m in (r.cka, r.procrustes, r.mutual_knn):
        assert m.n_rows == 120 and m.p_value == pytest.approx(1 / 21) and m.calibrated > 3
        assert m.interval[0] < m.value < m.interval[1]
    js = r.to_json()
    assert set(js) == {"cka", "procrustes", "mutual_knn", "rows"} and js["rows"] == 300
    # Independent spaces: nothing beyond chance.
    Z = rng.normal(size=(300, 5))
    assert compare_spaces(X, Z, s).cka.p_value > 0.05


def test_geometry_and_settings_errors():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 3))
    X = np.vstack([X, X[:50]])  # duplicates are dropped for TwoNN
    g = space_geometry(X, MeasureSettings(max_rows=1000, device="cpu"))
    assert g.rows == 450 and g.rows_intrinsic_dimension == 400
    assert g.intrinsic_dimension == pytest.approx(3, rel=0.25)
    assert g.effective_rank == pytest.approx(3, abs=0.2)
    assert g.to_json()["rows"] == 450
    with pytest.raises(ValueError, match="max_rows"):
        MeasureSettings(max_rows=3)
    with pytest.raises(ValueError, match="level"):
        MeasureSettings(level=0)
    with pytest.raises(ValueError, match="same points"):
        compare_spaces(X, X[:100])
