import numpy as np

from ftprobe.compare import linear_cka
from ftprobe.study.measure_steps import layer_measures, settings_from

SPEC = {"measures": {"max_rows": 100, "n_null": 5, "n_interval": 3, "level": 0.95, "k": 5, "seed": 0}}


def test_a_layer_without_variance_gives_reasons_not_a_crash():
    # [CLS] at the embedding layer is the same vector for every sentence.
    rng = np.random.default_rng(0)
    const = np.tile(rng.normal(size=8), (60, 1))
    moved = rng.normal(size=(60, 8))
    out = layer_measures(const, moved, settings_from(SPEC))
    assert out["cka"] is None
    assert "no variance" in out["compare"]["error"]
    assert "no variance" in out["geometry_before"]["error"]
    assert out["geometry_after"]["effective_rank"] > 1


def test_a_normal_layer_gets_every_measure():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 6))
    Y = X + 0.1 * rng.normal(size=(80, 6))
    out = layer_measures(X, Y, settings_from(SPEC))
    assert out["cka"] == linear_cka(X, Y)
    assert out["compare"]["cka"]["value_all_rows"] == out["cka"]
    assert set(out["compare"]) == {"cka", "procrustes", "mutual_knn", "rows"}
