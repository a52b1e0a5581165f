"""DirectProbe on real MiniLM vectors (slow; skipped without /work/bench-vectors).

The partition found on a non-linear real subset is checked with independent LPs: purity,
separability of every cross-label cluster pair, maximality of every same-label pair.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_directprobe import assert_valid_partition  # noqa: E402

from ftprobe.probe.directprobe import DirectProbe  # noqa: E402

VECTORS = Path("/work/bench-vectors")
N = 1000  # layer 0: 28 clusters for 14 labels (duplicates across labels)


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("layer", [0, 6])
def test_real_subset_partition_is_valid(layer):
    f = VECTORS / f"ewt_pos_train_layer{layer}.npy"
    if not f.exists():
        pytest.skip("no MiniLM vectors")
    X = np.load(f, mmap_mode="r")[:N].astype(np.float64)
    _, y = np.unique(np.load(VECTORS / "ewt_pos_train_labels.npy")[:N], return_inverse=True)
    dp = DirectProbe().fit(X, y)
    assert_valid_partition(X, y, dp.labels_)
