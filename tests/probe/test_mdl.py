"""MDL online code: block layout, the uniform first block, and codelength that tracks learnability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ftprobe.probe import MDL_PORTIONS, mdl_codelength
from ftprobe.probe.mdl import block_bounds

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_block_bounds_follow_the_usual_portions():
    ends = block_bounds(10000)
    assert ends == [10, 20, 40, 80, 160, 320, 625, 1250, 2500, 5000, 10000]
    assert len(MDL_PORTIONS) == 11
    small = block_bounds(50)  # tiny sets: at least one point, strictly increasing
    assert small[0] == 1 and small[-1] == 50 and all(a < b for a, b in zip(small[:-1], small[1:], strict=True))


def data(n, k, seed, learnable=True):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = rng.normal(0, 0.5, (n, 8)).astype(np.float32)
    if learnable:
        X[:, :k] += 3 * np.eye(k)[y]
    return X, y


KW = {"probe": "linear", "batch_size": 32, "max_iter": 100, "patience": 5, "device": "cpu"}


def test_first_block_costs_exactly_the_uniform_code():
    X, y = data(2000, 4, 0)
    res = mdl_codelength(X, y, 4, **KW)
    first = res.blocks[0]
    assert (first["start"], first["end"]) == (0, 2)
    assert first["bits"] == 2 * math.log2(4)  # n * log2 K, exactly
    assert res.uniform_codelength == 2000 * 2.0
    assert res.codelength == pytest.approx(sum(b["bits"] for b in res.blocks))
    assert [b["end"] for b in res.blocks] == block_bounds(2000)


def test_learnable_labels_compress_and_random_labels_do_not():
    X, y = data(2000, 4, 1)
    good = mdl_codelength(X, y, 4, **KW)
    Xr, yr = data(2000, 4, 2, learnable=False)
    bad = mdl_codelength(Xr, yr, 4, **KW)
    assert good.compression > 3
    assert bad.compression < 1.1
    assert good.codelength < bad.codelength


def test_layers_are_coded_together_and_match_alone():
    X, y = data(800, 3, 3)
    Xn, _ = data(800, 3, 4, learnable=False)
    both = mdl_codelength({0: X, 5: Xn}, y, 3, **KW)
    alone = mdl_codelength(X, y, 3, **KW)
    assert set(both) == {0, 5}
    assert both[0].codelength == pytest.approx(alone.codelength, rel=1e-4)
    assert both[0].compression > both[5].compression


def test_mlp_probe_codelength():
    X, y = data(1000, 3, 5)
    res = mdl_codelength(X, y, 3, hidden=(16, 16), **{**KW, "probe": "mlp"})
    assert res.compression > 2
