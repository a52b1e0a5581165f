"""Control tasks: one label per word type, drawn from the training label distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftprobe.probe import ProbeProtocol, control_labels, run_protocol


def test_control_label_is_a_function_of_the_type():
    y = np.array([0, 1, 1, 2, 2, 2])
    train = ["the", "dog", "The", "runs", "dog", "cat"]
    test = ["dog", "THE", "zebra", "cat", "zebra"]
    c_tr = control_labels(train, y, 3, seed=0)
    c_te = control_labels(test, y, 3, seed=0)
    assert c_tr[0] == c_tr[2] == c_te[1]  # the / The / THE (lowercased)
    assert c_tr[1] == c_tr[4] == c_te[0]
    assert c_tr[5] == c_te[3]
    assert c_te[2] == c_te[4]  # an unseen type still gets one fixed label
    # independent of which other types are in the call, and repeatable
    assert control_labels(["zebra"], y, 3, seed=0)[0] == c_te[2]
    assert (control_labels(test, y, 3, seed=0) == c_te).all()


def test_case_kept_when_asked():
    y = np.arange(10) % 5
    types = [f"W{i}" for i in range(300)]
    low = control_labels(types, y, 5, lowercase=True)
    assert (low == control_labels([t.lower() for t in types], y, 5)).all()
    kept = control_labels(types, y, 5, lowercase=False)
    assert (kept != low).any()  # "W1" and "w1" are different types now


def test_labels_follow_the_training_distribution():
    y = np.array([0] * 70 + [1] * 20 + [3] * 10)  # label 2 never occurs
    types = [f"type{i}" for i in range(20000)]
    c = control_labels(types, y, 4, seed=3)
    freq = np.bincount(c, minlength=4) / len(c)
    assert freq[2] == 0
    np.testing.assert_allclose(freq, [0.7, 0.2, 0.0, 0.1], atol=0.015)
    # a different seed gives a different assignment with the same distribution
    c2 = control_labels(types, y, 4, seed=4)
    assert (c != c2).mean() > 0.3


def test_selectivity_memorising_vs_reading():
    """Vectors that encode the label but not the type: task is easy, control is near chance."""
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    k, n = 3, 900
    types = [f"w{i}" for i in rng.integers(0, 40, n)]
    y = rng.integers(0, k, n)
    X = (np.eye(k, 6)[y] * 3 + rng.normal(0, 0.3, (n, 6))).astype(np.float32)
    tr, te = slice(0, 600), slice(600, n)
    proto = ProbeProtocol(probe="linear", l2=(1e-4,), seeds=2, max_iter=200, patience=5,
                          batch_size=32, device="cpu")
    res = run_protocol({0: X[tr]}, y[tr], {0: X[te]}, y[te], protocol=proto, n_labels=k,
                       control=True, train_types=types[tr], test_types=types[te], progress=False)
    lay = res.layers[0]
    assert lay.accuracy_mean > 0.95
    expected_chance = np.sum((np.bincount(y[tr], minlength=k) / 600) ** 2)
    assert lay.control_accuracy_mean < expected_chance + 0.15
    assert lay.selectivity == pytest.approx(lay.accuracy_mean - lay.control_accuracy_mean)
