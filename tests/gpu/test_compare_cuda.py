"""The calibrated measures' CUDA paths give the CPU's answers (skipped without a GPU)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

from ftprobe.compare import (
    intrinsic_dimension,
    linear_cka,
    mutual_knn,
    nearest_neighbours,
    permutation_null,
    procrustes_distance,
)

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


def test_neighbours_and_mutual_knn_match_cpu():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(6000, 64)).astype(np.float32)
    Y = X @ rng.normal(size=(64, 48)).astype(np.float32) + rng.normal(size=(6000, 48)).astype(np.float32)
    dg, ig = nearest_neighbours(X, 10, "cuda")
    dc, ic = nearest_neighbours(X, 10, "cpu")
    np.testing.assert_array_equal(ig, ic)
    np.testing.assert_allclose(dg, dc, rtol=1e-12)
    assert mutual_knn(X, Y, 10, device="cuda") == mutual_knn(X, Y, 10, device="cpu")
    assert intrinsic_dimension(X, device="cuda") == pytest.approx(intrinsic_dimension(X, device="cpu"), rel=1e-12)


@pytest.mark.parametrize("measure", [linear_cka, procrustes_distance,
                                     functools.partial(mutual_knn, k=5)])
def test_nulls_match_cpu(measure):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 40))
    Y = X[:, :30] + rng.normal(size=(800, 30))
    g = permutation_null(measure, X, Y, n=30, seed=2, device="cuda")
    c = permutation_null(measure, X, Y, n=30, seed=2, device="cpu")
    np.testing.assert_allclose(g.null, c.null, rtol=1e-10, atol=1e-13)
    assert g.p_value == c.p_value
