"""The calibrated measures give the same bits at any BLAS thread count (issue 24).

A study's threads per step are the executor's choice (serial: all of them; a pool or Ray with
two workers: half each), and threaded OpenBLAS splits some sums between its threads
(``eigvalsh``, long dot products): before the measures ran on one BLAS thread, the effective
rank of the data below differed in the 12th digit and the Procrustes distance in the 14th
between 1 and 2 threads, so a study's results depended on how it was run."""

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from ftprobe.compare import effective_rank, linear_cka, procrustes_distance
from ftprobe.compare.spaces import MeasureSettings, compare_spaces, space_geometry


def _spaces():
    """A layer-like pair: 384 features, most variance in 40 directions, float32 (as stored)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1200, 40)) @ rng.standard_normal((40, 384)) + 0.01 * rng.standard_normal((1200, 384))
    Y = 0.1 * X @ rng.standard_normal((384, 384)) + rng.standard_normal((1200, 384))
    return X.astype(np.float32), Y.astype(np.float32)


def _at_threads(n: int, fn):
    with threadpool_limits(limits=n, user_api="blas"):
        if n > 1 and not any(i["user_api"] == "blas" and i["num_threads"] >= n for i in threadpool_info()):
            pytest.skip(f"numpy's BLAS cannot run {n} threads here")
        return fn()


def test_measures_do_not_depend_on_the_blas_thread_count():
    X, Y = _spaces()
    s = MeasureSettings(max_rows=300, n_null=5, n_interval=4, device="cpu")

    def everything():
        return {"compare": compare_spaces(X, Y, s).to_json(), "geometry": space_geometry(X, s).to_json(),
                "effective_rank": effective_rank(X), "cka": linear_cka(X, Y),
                "procrustes": procrustes_distance(X, Y)}

    one, two = _at_threads(1, everything), _at_threads(2, everything)
    assert one == two  # exact: every float to the last bit
    # and the caller's setting is left as it was
    with threadpool_limits(limits=2, user_api="blas"):
        before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        space_geometry(X, s)
        assert [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"] == before
