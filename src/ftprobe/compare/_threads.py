"""The small dense factorisations of the measures on one BLAS thread.

The SVD of a d x d cross-covariance (Procrustes: once per permutation of a null and per
half-sample of an interval) is too small to gain from threads, and threaded LAPACK spin-waits
when the cores are busy: on the shared 2-core machine one 384 x 384 SVD took 1.9 s with two
OpenBLAS threads and 0.055 s with one (bench/compare). Same LAPACK routine, same answer.
"""

from __future__ import annotations

import functools


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()  # inspects the loaded BLAS libraries once


def one_blas_thread():
    """A context manager: BLAS/LAPACK calls inside it run on one thread."""
    return _controller().limit(limits=1, user_api="blas")
