"""DirectProbe on real MiniLM vectors (slow; skipped without ../shared/data).

The first 1,000 words of UD EWT train are extracted with the offline MiniLM, and the partition
found on them (non-linear at both layers) is checked with independent LPs: purity, separability
of every cross-label cluster pair, maximality of every same-label pair.
"""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.probe.directprobe import DirectProbe

from .test_directprobe import assert_valid_partition

N = 1000  # layer 0: ~28 clusters for 14 labels (duplicates across labels)


@pytest.fixture(scope="module")
def ewt_vectors(shared_data, tmp_path_factory):
    from ftprobe.data import load_task
    from ftprobe.represent import Store, extract, load_encoder

    try:
        enc = load_encoder(None, device="cpu")
    except Exception as exc:  # noqa: BLE001 - the offline model is an optional extra
        pytest.skip(f"offline MiniLM unavailable: {exc}")
    task = load_task("pos", shared_data / "ud_english_ewt", max_sentences=120)
    entry = extract(enc, task, "train", Store(tmp_path_factory.mktemp("store")), layers=[0, 6],
                    progress=False)
    assert entry.n_targets >= N
    return entry


@pytest.mark.slow
@pytest.mark.realdata
@pytest.mark.parametrize("layer", [0, 6])
def test_real_subset_partition_is_valid(layer, ewt_vectors):
    X = np.asarray(ewt_vectors.layer(layer))[:N].astype(np.float64)
    _, y = np.unique(np.asarray(ewt_vectors.labels)[:N], return_inverse=True)
    dp = DirectProbe().fit(X, y)
    assert_valid_partition(X, y, dp.labels_)
