"""Nearest-hull prediction on CUDA: the same clusters as on the CPU and as the point-by-point
exact procedure. Skipped without a GPU (run ``pytest tests/gpu`` on a GPU machine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftprobe.probe.directprobe.nearest import NearestHullSettings, nearest_hull_batched
from ftprobe.probe.directprobe.predict import nearest_hull

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


def test_cuda_equals_cpu_and_the_point_by_point_procedure():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 48)) * 0.6
    groups = [c + rng.normal(size=(int(rng.integers(1, 150)), 48)) * 0.5 for c in centres]
    test = centres[rng.integers(0, 12, 300)] + rng.normal(size=(300, 48)) * 0.5
    gpu = nearest_hull_batched(test, groups, NearestHullSettings(device="cuda"))
    cpu = nearest_hull_batched(test, groups, NearestHullSettings(device="cpu"))
    assert np.array_equal(gpu.cluster, cpu.cluster)
    cent = np.stack([g.mean(0) for g in groups])
    rad = np.array([np.sqrt(((g - c) ** 2).sum(1).max()) for g, c in zip(groups, cent, strict=True)])
    assert np.array_equal(gpu.cluster[:80], nearest_hull(test[:80], groups, cent, rad)[0])
