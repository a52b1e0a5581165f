import json
import math

import numpy as np
import pytest

from ftprobe.compare import (
    accuracy_change,
    cluster_change,
    cross_task_change,
    layer_dynamics,
    layer_dynamics_matrix,
    min_distance_change,
    train_test_similarity,
)


def test_min_distance_change_hand_numbers():
    ch = min_distance_change(
        [1.0, 2.0, 3.0, None, 4.0], [2.0, 1.0, 3.5, 5.0, np.nan], ["a", "b", "c", "d", "e"], top=2
    )
    assert (ch.up, ch.down, ch.unchanged, ch.n_compared) == (2, 1, 0, 3)
    assert ch.mean_change == pytest.approx((1.0 - 1.0 + 0.5) / 3)
    assert ch.rise_most == [("a", 1.0), ("c", 0.5)]
    assert ch.rise_least == [("b", -1.0), ("c", 0.5)]
    js = ch.to_json()
    assert json.loads(json.dumps(js, allow_nan=False)) == js
    assert js["per_label"] == {"a": 1.0, "b": -1.0, "c": 0.5}


def test_min_distance_change_unchanged_empty_and_errors():
    ch = min_distance_change([1.0, 2.0], [1.0, 3.0])
    assert (ch.up, ch.down, ch.unchanged) == (1, 0, 1)
    assert ch.rise_most[0] == ("1", 1.0)
    empty = min_distance_change([None], [1.0])
    assert empty.n_compared == 0 and math.isnan(empty.mean_change)
    assert empty.to_json()["mean_change"] is None
    with pytest.raises(ValueError):
        min_distance_change([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        min_distance_change([1.0, 2.0], [1.0, 2.0], ["only-one"])


def test_min_distance_change_scale_free():
    before = [1.0, 2.0, 3.0]
    grown = [2.0, 4.0, 6.0]  # the whole space twice as large: every label "rose"
    assert min_distance_change(before, grown).up == 3
    ch = min_distance_change(before, grown, scales=(1.5, 3.0))
    assert (ch.up, ch.down, ch.unchanged) == (0, 0, 3) and ch.mean_change == 0.0
    # over the spreads, a label that rose less than the space grew fell
    ch = min_distance_change(before, [2.0, 4.5, 5.0], ["a", "b", "c"], scales=(1.0, 2.0))
    assert (ch.up, ch.down) == (1, 1) and ch.per_label == pytest.approx({"a": 0.0, "b": 0.25, "c": -0.5})
    for bad in ((0.0, 1.0), (1.0, np.inf), (-1.0, 2.0)):
        with pytest.raises(ValueError, match="scales"):
            min_distance_change(before, grown, scales=bad)


def test_layer_dynamics_and_matrix():
    ref = {1: [1.0, 2.0, 3.0], 2: [1.0, 2.0, 3.0], 3: [3.0, 1.0, 2.0]}
    dvs = {
        "step-10": {2: [3.0, 2.0, 1.0], 1: [2.0, 4.0, 6.0]},
        "final": {1: [1.0, 2.0, 3.5], 2: [1.0, 3.0, 2.0], 9: [1.0, 2.0, 3.0]},
    }
    dyn = layer_dynamics(dvs, ref)
    assert list(dyn) == ["step-10", "final"]
    assert dyn["step-10"][1] == pytest.approx(1.0)
    assert dyn["step-10"][2] == pytest.approx(-1.0)
    assert dyn["final"][2] == pytest.approx(0.5)
    assert math.isnan(dyn["final"][9])  # no reference layer 9
    M, ckpts, layers = layer_dynamics_matrix(dyn)
    assert ckpts == ["step-10", "final"] and layers == [1, 2, 9]
    assert M.shape == (2, 3)
    assert M[0, 1] == pytest.approx(-1.0) and np.isnan(M[0, 2]) and np.isnan(M[1, 2])
    M2, c2, l2 = layer_dynamics_matrix(dyn, checkpoints=["final", "step-10"], layers=[2])
    assert c2 == ["final", "step-10"] and l2 == [2]
    np.testing.assert_allclose(M2[:, 0], [0.5, -1.0])


def test_cross_task_change_like_the_paper():
    before = [1.0, 2.0, 3.0, 4.0]
    pos = [0.5, 1.5, 2.0, 3.9]
    ch = cross_task_change(before, pos, ["p.A", "p.B", "p.C", "p.D"], 87.75, 83.24)
    assert (ch.distances.up, ch.distances.down) == (0, 4)
    assert ch.accuracy_change == pytest.approx(-4.51)
    out = ch.to_json()
    assert (out["up"], out["down"]) == (0, 4)
    assert out["mean_change"] == pytest.approx(-(0.5 + 0.5 + 1.0 + 0.1) / 4)
    assert out["accuracy_before"] == 87.75 and out["accuracy_after"] == 83.24
    assert out["accuracy_change"] == pytest.approx(-4.51)
    assert out["rise_least"][0] == ["p.C", pytest.approx(-1.0)]
    json.dumps(out, allow_nan=False)
    assert cross_task_change(before, before).to_json()["accuracy_change"] is None
    assert cross_task_change(before, before, acc_original=float("nan"), acc_A=80.0).accuracy_change is None


def test_accuracy_change():
    a = accuracy_change(86.26, 0.3, 85.08, 0.4)
    assert a.change == pytest.approx(-1.18)
    assert a.improved is False and a.beyond_noise is True
    b = accuracy_change(74.14, 0.5, 74.40, 0.5)
    assert b.improved is True and b.beyond_noise is False
    c = accuracy_change(90.0, None, 91.0, None)
    assert c.before_std is None and c.beyond_noise is True
    missing = accuracy_change(None, None, 91.0, None)
    assert missing.improved is None and missing.change is None and missing.beyond_noise is None
    assert accuracy_change(float("nan"), 0.1, 91.0, 0.2).to_json()["improved"] is None
    assert json.loads(json.dumps(a.to_json(), allow_nan=False))["change"] == pytest.approx(-1.18)


def test_cluster_change():
    c = cluster_change(3936, 20, 17)
    assert c.change == -3916 and c.fewer_or_equal and c.closer_to_labels
    assert c.linear_before is False and c.linear_after is False
    assert c.excess_after == 3
    d = cluster_change(17, 17, 17)
    assert d.linear_before and d.linear_after and d.closer_to_labels
    e = cluster_change(17, 30, 17)
    assert not e.fewer_or_equal and not e.closer_to_labels
    unknown = cluster_change(None, 17, 17)
    assert unknown.change is None and unknown.fewer_or_equal is None and unknown.closer_to_labels is None
    assert unknown.linear_after is True and unknown.linear_before is None
    assert cluster_change(20, 17, None).to_json() == {
        "before": 20, "after": 17, "n_labels": None, "linear_before": None, "linear_after": None,
        "excess_before": None, "excess_after": None, "change": -3, "fewer_or_equal": True,
        "closer_to_labels": None}


def test_train_test_similarity():
    assert train_test_similarity([1.0, 2.0, 3.0], [2.0, 4.0, 7.0]) == pytest.approx(
        np.corrcoef([1, 2, 3], [2, 4, 7])[0, 1]
    )
    assert math.isnan(train_test_similarity(None, [1.0, 2.0]))
    assert math.isnan(train_test_similarity([1.0, 2.0], None))
