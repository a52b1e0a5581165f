"""Classifier probes: learning what is there, not learning what is not, parity with scikit-learn,
and batching that changes nothing about each model."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from ftprobe.errors import UserError
from ftprobe.probe import (
    BatchedTrainer,
    LinearProbe,
    MLPProbe,
    ModelSpec,
    ProbeProtocol,
    run_protocol,
)
from ftprobe.probe.protocol import feature_scales

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def separable(n, d=8, k=4, seed=0, margin=4.0):
    """Classes around well-separated centres: linearly separable with a wide margin."""
    rng = np.random.default_rng(seed)
    centres = np.eye(k, d) * margin
    y = rng.integers(0, k, n)
    X = centres[y] + rng.uniform(-0.5, 0.5, size=(n, d))
    return X.astype(np.float32), y


def rings(n, seed):
    """Three concentric noisy rings in 2-D padded with noise dims: not linearly separable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    angle = rng.uniform(0, 2 * np.pi, n)
    r = 1.0 + y + rng.normal(0, 0.3, n)
    X = np.c_[r * np.cos(angle), r * np.sin(angle), rng.normal(0, 1, (n, 4))]
    return X.astype(np.float32), y


# small data: minibatches of 32 give Adam (lr 1e-3) enough steps per epoch
@pytest.mark.parametrize("probe", [MLPProbe((32, 32), alpha=1e-4, batch_size=32),
                                   LinearProbe(alpha=1e-4, batch_size=32)])
def test_separable_reaches_100(probe):
    X, y = separable(600)
    Xt, yt = separable(400, seed=1)
    probe.fit(X, y)
    assert probe.score(Xt, yt) == 1.0
    assert set(probe.predict(Xt)) <= set(range(4))


def test_shuffled_labels_stay_at_chance():
    X, y = separable(1200)
    Xt, yt = separable(2000, seed=1)
    rng = np.random.default_rng(5)
    probe = MLPProbe((64, 64), alpha=1e-4).fit(X, rng.permutation(y))
    acc = probe.score(Xt, rng.permutation(yt))
    chance = float(np.max(np.bincount(yt)) / len(yt))
    assert abs(acc - 0.25) < 0.05 and acc < chance + 0.03


def test_linear_cannot_solve_rings_but_mlp_can():
    """The MLP probe really is non-linear (and the linear one is not)."""
    X, y = rings(1500, 0)
    Xt, yt = rings(1000, 1)
    assert MLPProbe((64, 64), alpha=1e-4).fit(X, y).score(Xt, yt) > 0.85
    assert LinearProbe(alpha=1e-4).fit(X, y).score(Xt, yt) < 0.6


def test_parity_with_sklearn_mlpclassifier():
    """Same architecture, init, loss, optimiser and stopping rule: accuracy within noise."""
    from sklearn.neural_network import MLPClassifier

    X, y = rings(1000, 2)
    Xt, yt = rings(2000, 3)
    ours, theirs = [], []
    for seed in range(3):
        ours.append(MLPProbe((32, 32), alpha=1e-3, random_state=seed).fit(X, y).score(Xt, yt))
        sk = MLPClassifier((32, 32), alpha=1e-3, early_stopping=True, max_iter=1000,
                           random_state=seed).fit(X, y)
        theirs.append(sk.score(Xt, yt))
    # per-seed test accuracies vary by ~1-2 points on this problem; means must agree closely
    assert np.mean(theirs) > 0.85
    assert abs(np.mean(ours) - np.mean(theirs)) < 0.03


def test_batched_equals_alone():
    """Four probes trained together end exactly where each ends alone (same seed)."""
    rng = np.random.default_rng(0)
    X0, y = rings(500, 4)
    X = torch.from_numpy(np.stack([X0, X0[:, ::-1].copy() + rng.normal(0, 0.1, X0.shape)
                                   .astype(np.float32)]))
    Xv, yv = X[:, :100], torch.from_numpy(y[:100])
    Xt, yt = X[:, 100:], torch.from_numpy(y[100:])
    specs = [ModelSpec(0, (32, 32), 1e-4, 0), ModelSpec(1, (32, 32), 1e-2, 1),
             ModelSpec(0, (64, 32), 1e-3, 2), ModelSpec(1, (), 1e-5, 0)]
    kw = {"max_iter": 40, "patience": 5, "batch_size": 64, "device": "cpu"}
    together = BatchedTrainer(specs, 3, **kw).fit(Xt, yt, Xv, yv)
    for spec, mt in zip(specs, together, strict=True):
        (ma,) = BatchedTrainer([spec], 3, **kw).fit(Xt, yt, Xv, yv)
        assert ma.n_iter == mt.n_iter and ma.best_iter == mt.best_iter
        assert ma.best_score == mt.best_score
        for a, b in zip(ma.weights + ma.biases, mt.weights + mt.biases, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # and the models really differ from one another (a test that could not fail otherwise)
    assert not torch.allclose(together[0].weights[0], together[1].weights[0])


def test_early_stopping_keeps_best_weights():
    X, y = rings(400, 5)
    Xt = torch.from_numpy(X)[None]
    (m,) = BatchedTrainer([ModelSpec(0, (32, 32), 1e-4, 0)], 3, max_iter=1000, patience=3,
                          device="cpu").fit(Xt[:, 100:], torch.from_numpy(y[100:]),
                                            Xt[:, :100], torch.from_numpy(y[:100]))
    assert m.n_iter < 1000 and m.n_iter - m.best_iter == 4  # patience 3: the 4th miss stops it
    pred = m.logits(Xt[0, :100]).argmax(1).numpy()
    assert float((pred == y[:100]).mean()) == pytest.approx(m.best_score)
    assert m.best_score == max(m.curve)


def _layers(seed=0, n=600):
    """Layer 0 carries the labels, layer 1 is noise."""
    X, y = separable(n, seed=seed, margin=1.0)
    noise = np.random.default_rng(seed + 10).normal(size=X.shape).astype(np.float32)
    return {0: X, 1: noise}, y


SMALL = ProbeProtocol(hidden_sizes=(16, 32), l2=(1e-4, 1e-1), seeds=3, max_iter=200,
                      patience=5, batch_size=32, device="cpu")


def test_protocol_layers_grid_seeds_and_json():
    tr, ytr = _layers(0)
    te, yte = _layers(1)
    res = run_protocol(tr, ytr, te, yte, protocol=SMALL, n_labels=4, progress=False)
    good, bad = res.layers[0], res.layers[1]
    assert good.accuracy_mean > 0.9 and bad.accuracy_mean < 0.4
    assert len(good.accuracies) == 3 and len(good.grid) == 8
    lo, hi = good.accuracy_ci95
    assert lo <= good.accuracy_mean <= hi
    assert good.accuracy_std == pytest.approx(np.std(good.accuracies, ddof=1))
    best = max(good.grid, key=lambda r: r["dev_accuracy"])
    assert best["dev_accuracy"] == good.dev_accuracy
    assert res.dev_source.startswith("train slice") and res.n_train + res.n_dev == 600
    data = json.loads(json.dumps(res.to_json()))
    assert data["layers"]["0"]["accuracy"] == good.accuracy_mean


def test_protocol_reports_its_progress():
    tr, ytr = _layers(0)
    te, yte = _layers(1)
    seen = []
    res = run_protocol(tr, ytr, te, yte, protocol=SMALL, n_labels=4, progress=False,
                       report=lambda phase, done, total: seen.append((phase, done, total)))
    n_grid = sum(len(r.grid) for r in res.layers.values())
    grid = [(d, t) for p, d, t in seen if p == "probe grid"]
    seeds = [(d, t) for p, d, t in seen if p == "probe seeds"]
    # the grid trains in chunks on the CPU (a layer's settings of one width at a time)
    assert grid[0] == (0, n_grid) and grid[-1] == (n_grid, n_grid) and len(grid) > 2
    assert all(a[0] <= b[0] for a, b in zip(grid, grid[1:], strict=False))
    assert seeds == [(0, 6), (6, 6)]  # 2 layers x 3 seeds
    assert seen.index(("probe grid", n_grid, n_grid)) < seen.index(("probe seeds", 0, 6))


def test_protocol_linear_and_halving():
    tr, ytr = _layers(0)
    te, yte = _layers(1)
    dv, ydv = _layers(2, n=200)
    proto = ProbeProtocol(probe="linear", l2=(1e-6, 1e-4, 1e-2, 1.0), seeds=2, max_iter=200,
                          patience=5, batch_size=32, search="halving", halving_r0=2, halving_eta=2,
                          device="cpu")
    res = run_protocol(tr, ytr, te, yte, dv, ydv, protocol=proto, n_labels=4, progress=False)
    rows = res.layers[0].grid
    assert all(r["hidden"] == [] for r in rows)
    assert sum(r["pruned"] for r in rows) == 3  # 4 -> 2 at epoch 2 -> 1 at epoch 4
    assert res.dev_source == "dev" and res.layers[0].accuracy_mean > 0.9


def test_unseen_test_label_counts_as_error():
    tr, ytr = _layers(0)
    te, yte = _layers(1)
    yte = yte.copy()
    yte[:50] = 4  # a label train never had
    res = run_protocol(tr, ytr, te, yte, protocol=SMALL, n_labels=5, progress=False)
    assert res.unseen_test_labels == {4: 50}
    assert res.layers[0].accuracy_mean <= 1 - 50 / 600 + 1e-12


@pytest.mark.parametrize("mutate, message", [
    (lambda tr, y: ({0: tr[0][:-1], 1: tr[1][:-1]}, y), "vectors but"),
    (lambda tr, y: ({0: np.where(np.arange(len(y))[:, None] == 3, np.nan, tr[0]), 1: tr[1]}, y),
     "NaN or infinite"),
    (lambda tr, y: ({0: np.full_like(tr[0], np.inf), 1: tr[1]}, y), "NaN or infinite"),
    (lambda tr, y: ({0: tr[0][:0], 1: tr[1][:0]}, y[:0]), "empty"),
])
def test_bad_input_is_a_user_error(mutate, message):
    tr, ytr = _layers(0)
    te, yte = _layers(1)
    bad, ybad = mutate(tr, ytr)
    with pytest.raises(UserError, match=message):
        run_protocol(bad, ybad, te, yte, protocol=SMALL, progress=False)


def test_directprobe_is_loaded_lazily():
    import subprocess
    import sys

    code = ("import sys, ftprobe.probe as p; "
            "assert 'ftprobe.probe.directprobe' not in sys.modules; "
            "from ftprobe.probe import *; "
            "assert 'ftprobe.probe.directprobe' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr


@pytest.mark.parametrize("search", ["grid", "halving"])
def test_grid_schedule_does_not_change_results(search):
    """Chunked (cache-sized runs) and lock-step schedules train the same models: every grid
    score, every chosen setting and every seed's accuracy agree exactly."""
    from dataclasses import replace

    tr, ytr = _layers(0)
    te, yte = _layers(1)
    base = replace(SMALL, search=search, halving_r0=2, halving_eta=2)
    res = {sch: run_protocol(tr, ytr, te, yte, protocol=replace(base, schedule=sch), n_labels=4,
                             progress=False)
           for sch in ("together", "chunks")}
    for li in (0, 1):
        a, b = res["together"].layers[li], res["chunks"].layers[li]
        assert a.grid == b.grid
        assert (a.best_hidden, a.best_l2) == (b.best_hidden, b.best_l2)
        assert a.accuracies == b.accuracies
    if search == "halving":
        assert any(r["pruned"] for r in res["chunks"].layers[0].grid)


def _offset(layers, scale=1e-3, offset=10.0):
    """The labels' signal shrunk to `scale` on a constant `offset` (MiniLM's [CLS] at layers 1-3)."""
    return {k: (offset + scale * v).astype(np.float32) for k, v in layers.items()}


def test_standardize_reads_a_tiny_signal_on_a_large_offset():
    tr, ytr = _layers(0)
    te, yte = _layers(1)
    majority = np.bincount(yte).max() / len(yte)
    raw = run_protocol(_offset(tr), ytr, _offset(te), yte, protocol=SMALL, n_labels=4,
                       progress=False).layers[0]
    std = run_protocol(_offset(tr), ytr, _offset(te), yte, n_labels=4, progress=False,
                       protocol=dataclasses.replace(SMALL, standardize=True)).layers[0]
    # unscaled, early stopping ends the probe near the majority class; scaled, it reads the labels
    assert raw.accuracy_mean < majority + 0.05
    assert std.accuracy_mean > 0.9


def test_standardized_probe_is_invariant_to_each_features_scale_and_shift():
    tr, ytr = _layers(0)
    te, yte = _layers(1)
    rng = np.random.default_rng(3)
    a, b = 2.0 ** rng.integers(-3, 4, 8), rng.normal(0, 5, 8)

    def moved(layers):
        return {k: (v * a + b).astype(np.float32) for k, v in layers.items()}

    proto = dataclasses.replace(SMALL, standardize=True)
    one = run_protocol(tr, ytr, te, yte, protocol=proto, n_labels=4, progress=False)
    two = run_protocol(moved(tr), ytr, moved(te), yte, protocol=proto, n_labels=4, progress=False)
    for k in (0, 1):
        assert two.layers[k].accuracies == pytest.approx(one.layers[k].accuracies, abs=2 / len(yte))
        assert two.layers[k].best_hidden == one.layers[k].best_hidden


def test_feature_scales_come_from_the_given_rows_only():
    X = np.array([[1.0, 5.0], [3.0, 5.0], [100.0, -7.0]])
    (mu, sd), = feature_scales({0: X}, rows=np.array([0, 1])).values()
    assert mu.tolist() == [2.0, 5.0]
    assert sd.tolist() == [1.0, 1.0]  # the population sd of 1 and 3; a constant feature gets 1
    (mu, sd), = feature_scales({0: X}).values()
    assert mu[0] == pytest.approx(104 / 3) and sd[1] == pytest.approx(np.std([5, 5, -7]))
    # a constant feature whose mean does not come out exact (0.1 * 3 / 3) is still constant
    (mu, sd), = feature_scales({0: np.full((3, 2), 0.1)}).values()
    assert sd.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("flushed_before", [False, True])
def test_training_flushes_subnormals_and_gives_back_the_callers_setting(flushed_before):
    from ftprobe.probe.batched import denormals_flushed, flushed_denormals

    torch.set_flush_denormal(flushed_before)
    try:
        assert denormals_flushed() is flushed_before
        with flushed_denormals():
            assert denormals_flushed()
            tiny = torch.tensor([1e-39]) * 1.0  # subnormal: flushed to zero inside
            assert tiny.item() == 0.0
        assert denormals_flushed() is flushed_before
        X, y = separable(200)
        t = torch.from_numpy(X)[None]
        BatchedTrainer([ModelSpec(0, (8,), 1e-4, 0)], 4, max_iter=3).fit(
            t, torch.from_numpy(y), t, torch.from_numpy(y))
        assert denormals_flushed() is flushed_before
    finally:
        torch.set_flush_denormal(False)
