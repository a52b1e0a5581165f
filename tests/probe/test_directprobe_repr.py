"""DirectProbe prints its settings, and once fitted what it found, on one line."""

import numpy as np

from ftprobe.probe.directprobe import DirectProbe


def test_directprobe_repr_before_and_after_fit():
    dp = DirectProbe(min_cluster_size=1)
    assert repr(dp) == "DirectProbe(min_cluster_size=1, tol=1e-06, jobs=1), not fitted"
    # two labels, each in two far-apart blobs with the other label between: 3 clusters at least
    X = np.array([[0, 0], [0, 1], [10, 0], [10, 1], [20, 0], [20, 1]], dtype=float)
    y = np.array([0, 0, 1, 1, 0, 0])
    dp.fit(X, y)
    assert repr(dp) == f"DirectProbe(min_cluster_size=1, tol=1e-06, jobs=1), fitted: {dp.n_clusters_} clusters for 2 labels, not linear"
    assert dp.n_clusters_ == 3
