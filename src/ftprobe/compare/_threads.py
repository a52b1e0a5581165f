"""The measures' BLAS and LAPACK calls on one thread: the same bits whatever the executor.

Threaded OpenBLAS splits some sums between its threads and adds the partial sums at the end,
so the answer depends on the thread count: ``eigvalsh`` (the tridiagonal reduction's symmetric
matrix-vector products) and long dot products (``np.linalg.norm`` of a whole matrix, over
10,000 elements) give other last bits at 1 and 2 threads. The effective rank reads the square
roots of the smallest eigenvalues, which turns a 1e-16 difference into 1e-10; a study's
thread count per step is the executor's choice (threads / workers), so the measures would
depend on how the study was run. On one thread they do not (issue 24: Ray against serial).

One thread is also the fast choice here: the SVD of a d x d cross-covariance is too small to
gain from threads, and threaded LAPACK spin-waits when the cores are busy: on the shared 2-core
machine one 384 x 384 SVD took 1.9 s with two OpenBLAS threads and 0.055 s with one
(bench/compare).
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


def on_one_blas_thread(fn):
    """``fn`` with its BLAS/LAPACK calls on one thread (its results do not depend on the
    caller's BLAS thread count)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapper
