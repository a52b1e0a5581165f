"""DirectProbe makes the same decisions on real vectors as the code the benchmarks measured.

The vectors are MiniLM's for the first 800 words of UD EWT train at layers 0 and 6, on their
first 32 principal axes (tests/probe/data/ewt_minilm_pca32.npz, made by
bench/directprobe/make_test_vectors.py). The digests are those of commit 0429317, the engine
before issue 21's rebuild, on the same file: a change that moves any merge decision changes the
partition (or the number of rejections) and fails here. Every Tuning must give the same ones.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from ftprobe.probe.directprobe import DirectProbe, Tuning
from ftprobe.probe.directprobe.definition import reference_partition

DATA = Path(__file__).parent / "data" / "ewt_minilm_pca32.npz"

# (layer, dimensions) -> (partition digest, clusters, merges, rejections), from commit 0429317
DIGESTS = {
    (0, 16): ("79e7c1f62186d242", 29, 663, 10),
    (0, 32): ("80b1575dbf74c924", 27, 582, 3),
    (6, 16): ("4fdda4cc0e14c3ce", 31, 754, 77),
    (6, 32): ("76fd2abfc9acf0ee", 20, 505, 18),
}
# Wolfe capped at one iteration: every solver check goes through the LP decision and the kept,
# continued, frozen and turned LPs, which the default reaches only at scale on these sets.
LP_PATHS = Tuning(wolfe_cap_min=1, wolfe_cap_per_dim=0)


def _vectors(layer: int, dims: int) -> tuple[np.ndarray, np.ndarray]:
    z = np.load(DATA, allow_pickle=False)
    return z[f"layer{layer}"][:, :dims].astype(np.float64), z["y"]


def _digest(labels: np.ndarray) -> str:
    return hashlib.sha256(np.asarray(labels, np.int64).tobytes()).hexdigest()[:16]


@pytest.mark.parametrize("case", sorted(DIGESTS))
def test_partition_digest_on_real_vectors(case):
    X, y = _vectors(*case)
    dp = DirectProbe().fit(X, y)
    s = dp.stats_
    assert (_digest(dp.labels_), dp.n_clusters_, s.merges, s.rejections) == DIGESTS[case]


@pytest.mark.parametrize("case", [(0, 32), (6, 32)])
def test_partition_digest_with_every_check_through_the_lps(case):
    X, y = _vectors(*case)
    dp = DirectProbe(tuning=LP_PATHS).fit(X, y)
    s = dp.stats_
    assert s.lp_sep + s.lp_overlap > 0  # the LP paths were taken
    assert (_digest(dp.labels_), dp.n_clusters_, s.merges, s.rejections) == DIGESTS[case]


@pytest.mark.parametrize("case", sorted(DIGESTS))
@pytest.mark.parametrize("tuning", [Tuning(screen_min_rows=1, screen_after=0),
                                    Tuning(screen_queries=False)],
                         ids=["every-query-screened", "no-query-screened"])
def test_partition_digest_whether_support_queries_are_screened_or_not(case, tuning):
    X, y = _vectors(*case)
    dp = DirectProbe(tuning=tuning).fit(X, y)
    s = dp.stats_
    assert (_digest(dp.labels_), dp.n_clusters_, s.merges, s.rejections) == DIGESTS[case]


def test_layer0_has_identical_rows_across_labels():
    """The data exercise the duplicate rule: rows of two labels at the same point stay
    singletons (frozen)."""
    X, y = _vectors(0, 16)
    assert DirectProbe().fit(X, y).stats_.frozen_points > 0


@pytest.mark.slow
def test_equals_the_definition_on_real_vectors():
    """The first 150 words at layer 0 on 8 axes (3 rejections): the definition's procedure,
    one LP per check (~17 s), gives the same partition."""
    X, y = _vectors(0, 8)
    X, y = X[:150], y[:150]
    dp = DirectProbe().fit(X, y)
    assert dp.stats_.rejections > 0
    np.testing.assert_array_equal(dp.labels_, reference_partition(X, y).labels)
