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


def test_lps_still_solve_after_the_qp_in_a_fresh_process():
    """HiGHS sets up its thread pool once per process: an instance asking for another number
    of threads afterwards fails every run. The QP of the distance measures ran first in a
    study worker, after which every separability LP failed (kNotset). A fresh process, since
    the pool is process-wide."""
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from ftprobe.probe.directprobe.measures import qp_hull_distance\n"
        "from ftprobe.probe.directprobe.margin_lp import decide_distance\n"
        "from ftprobe.probe.directprobe.separability import separate\n"
        "rng = np.random.default_rng(0)\n"
        "P = rng.normal(size=(30, 4)) + 3\n"
        "Q = rng.normal(size=(30, 4)) - 3\n"
        "assert qp_hull_distance(P, Q) > 0\n"
        "assert separate(P, Q).separable\n"
        "assert decide_distance(P, Q, 1e-6).disjoint is True\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]


def test_a_qp_past_its_time_limit_gives_none_not_a_hang():
    rng = np.random.default_rng(0)
    P, Q = rng.normal(size=(400, 64)), rng.normal(size=(400, 64)) + 0.05
    assert qp_hull_distance(P, Q, time_limit=1e-9) is None
    # the same instance solves with time to do it (the limit is per solve, not per process)
    assert qp_hull_distance(P[:40, :4] + 5, Q[:40, :4]) > 0
