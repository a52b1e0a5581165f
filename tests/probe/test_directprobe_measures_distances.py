"""Exact hull distances between clusters, all pairs at once: closed forms, an independent QP,
process-count invariance and progress."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.probe.directprobe import DirectProbe
from ftprobe.probe.directprobe.measures import pair_distances, qp_hull_distance


def test_closed_forms_segments_simplices_boxes():
    seg_a = np.array([[0.0, 0, 0], [0, 2, 0]])
    seg_b = np.array([[3.0, 1, 0], [3, 5, 4]])  # nearest: (0, 1, 0)-(3, 1, 0): 3
    tri = np.array([[0.0, 0, 5], [4, 0, 5], [0, 4, 5]])  # plane z = 5 over seg_a: 5
    box = np.array([[a, b, c] for a in (-3.0, -2) for b in (0.0, 1) for c in (0.0, 1)])  # 2
    groups = [seg_a, seg_b, tri, box]
    pairs = [(0, 1), (0, 2), (0, 3), (1, 3)]
    want = [3.0, 5.0, 2.0, 5.0]  # box to seg_b: (-2, 1, 0)-(3, 1, 0)
    got = pair_distances(groups, pairs, scale=1.7)
    assert got == pytest.approx(want, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_all_pairs_match_an_independent_qp_and_do_not_depend_on_jobs(seed):
    rng = np.random.default_rng(seed)
    groups = [rng.normal(size=(int(rng.integers(2, 30)), 12)) + rng.normal(size=12) * 4
              for _ in range(7)]
    pairs = [(i, j) for i in range(7) for j in range(i + 1, 7)]
    one = pair_distances(groups, pairs, scale=3.0, jobs=1)
    two = pair_distances(groups, pairs, scale=3.0, jobs=2)
    assert np.array_equal(one, two)
    qp = np.array([qp_hull_distance(groups[i], groups[j]) for i, j in pairs])
    assert one == pytest.approx(qp, rel=1e-6, abs=1e-6)


def test_label_distances_show_progress_and_match_pair_by_pair(capsys):
    rng = np.random.default_rng(4)
    X = np.concatenate([rng.normal(size=(30, 5)) + 5 * k for k in range(4)])
    y = np.repeat(np.arange(4), 30)
    loud = DirectProbe(progress=True, jobs=2).fit(X, y)
    capsys.readouterr()
    L = loud.label_distances()
    assert "hull distances" in capsys.readouterr().err
    quiet = DirectProbe().fit(X, y)
    for a in range(4):
        for b in range(a + 1, 4):
            assert L[a, b] == quiet.cluster_distance(a, b)  # one cluster per label here
    assert capsys.readouterr().err == ""
