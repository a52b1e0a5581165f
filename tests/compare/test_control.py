import numpy as np
import pytest

from ftprobe.compare import directprobe_label_control
from ftprobe.probe.directprobe import DirectProbe


def _blobs(rng, n_per=30):
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    X = np.vstack([c + rng.normal(size=(n_per, 2)) for c in centres])
    y = np.repeat(np.arange(3), n_per)
    return X, y


def test_structured_labels_beat_shuffled_ones():
    rng = np.random.default_rng(0)
    X, y = _blobs(rng)
    ctl = directprobe_label_control(X, y, n_shuffles=2, seed=1, min_cluster_size=2)
    assert ctl.n_clusters == 3
    # Shuffled labels need many clusters, packed close together.
    assert min(ctl.n_clusters_shuffled) > 6
    assert ctl.cluster_ratio == pytest.approx(3 / np.mean(ctl.n_clusters_shuffled))
    assert ctl.cluster_ratio < 0.5
    assert ctl.distance_ratio is not None and ctl.distance_ratio > 2
    # The real margin by hand: the smallest hull distance between blobs of different labels.
    real = DirectProbe(min_cluster_size=2).fit(X, y)
    D = real.cluster_distances_
    assert ctl.margin == pytest.approx(np.mean([min(D[k, j] for j in range(3) if j != k) for k in range(3)]))
    # The shuffles are the seeded permutations of y, fitted through the public API.
    shuffle = np.random.default_rng(1)
    expect = [DirectProbe(min_cluster_size=2).fit(X, shuffle.permutation(y), n_labels=None).n_clusters_
              for _ in range(2)]
    assert list(ctl.n_clusters_shuffled) == expect
    assert ctl.to_json()["n_clusters_shuffled"] == expect


def test_bad_input():
    rng = np.random.default_rng(1)
    X, y = _blobs(rng, 5)
    with pytest.raises(ValueError, match="y must be 1-D with one label per row"):
        directprobe_label_control(X, y[:-1])
    with pytest.raises(ValueError, match="integer label ids"):
        directprobe_label_control(X, y.astype(float))
    with pytest.raises(ValueError, match="n_shuffles"):
        directprobe_label_control(X, y, n_shuffles=0)


def test_sampled_control_fits_the_seeded_subsample():
    from ftprobe.compare.control import LabelControlSettings, sampled_label_control

    rng = np.random.default_rng(3)
    X, y = _blobs(rng, 40)  # 120 rows
    s = LabelControlSettings(n_shuffles=1, max_rows=50, seed=4)
    ctl = sampled_label_control(X, y, s, min_cluster_size=2)
    rows = np.sort(np.random.default_rng(4).choice(120, 50, replace=False))
    assert ctl == directprobe_label_control(X[rows], y[rows], n_shuffles=1, seed=4, min_cluster_size=2)
    assert ctl.n_rows == 50 and ctl.to_json()["n_rows"] == 50
    # fewer rows than max_rows: every row
    assert sampled_label_control(X, y, LabelControlSettings(max_rows=500), min_cluster_size=2).n_rows == 120
    with pytest.raises(ValueError, match="n_shuffles is 0"):
        sampled_label_control(X, y, LabelControlSettings(n_shuffles=0))
    with pytest.raises(ValueError, match="y must be 1-D"):
        sampled_label_control(X, y[:-1], s)
    with pytest.raises(ValueError, match="max_rows must be >= 16"):
        LabelControlSettings(max_rows=3)
