"""The HiGHS QP behind the nearest-point iteration gives the same exact hull distances."""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.probe.directprobe.measures import qp_hull_distance


def test_segments_closed_form():
    P = np.array([[0.0, 0.0], [0.0, 1.0]])
    Q = np.array([[2.0, 0.0], [3.0, 1.0]])
    assert qp_hull_distance(P, Q) == pytest.approx(2.0, abs=1e-7)


def test_point_to_triangle_interior_projection():
    tri = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    x = np.array([[0.2, 0.2, 0.7]])
    assert qp_hull_distance(x, tri) == pytest.approx(0.7, abs=1e-7)


def test_overlapping_hulls_are_at_zero():
    P = np.array([[0.0, 0.0], [2.0, 2.0]])
    Q = np.array([[0.0, 2.0], [2.0, 0.0]])
    assert qp_hull_distance(P, Q) == pytest.approx(0.0, abs=1e-7)
