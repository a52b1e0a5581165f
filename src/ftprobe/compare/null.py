"""Calibration against a null: what a measure reads when the two spaces share nothing.

``permutation_null`` permutes the rows of Y (breaking the point-to-point pairing while keeping
each space's own geometry) and reports the measure's value, the null distribution, a calibrated
score (value - null mean) / null sd and a permutation p-value. For the measures of this package
the permuted values are computed without redoing the work that does not depend on the pairing
(Y's neighbour sets are relabelled, centred arrays are reused); any other measure is called as
``measure(X, Y[perm])``. ``mantel_null`` does the same for two label-distance matrices
(labels permuted in one, rows and columns together), and ``half_sample_interval`` gives an
interval for any paired measure from subsamples of half the rows.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._threads import on_one_blas_thread, one_blas_thread
from ._validate import paired, positive_int
from .cka import _hsic_unbiased, linear_cka
from .knn import mutual_knn, nearest_neighbours, overlap_of, resolve_device
from .procrustes import procrustes_distance
from .similarity import pearson

__all__ = ["NullResult", "permutation_null", "mantel_null", "half_sample_interval"]

ALTERNATIVES = ("greater", "less")


@dataclass(frozen=True)
class NullResult:
    """A measure's value against its permutation null.

    ``alternative="greater"``: larger values mean more agreement (CKA, mutual k-NN, Pearson),
    p = (1 + #{null >= value}) / (n + 1); ``"less"``: smaller values do (Procrustes distance).
    ``calibrated`` is (value - null_mean) / null_sd, signed so that agreement is positive.
    """

    value: float
    null: np.ndarray
    null_mean: float
    null_sd: float
    calibrated: float
    p_value: float
    alternative: str

    @property
    def n(self) -> int:
        return int(self.null.size)

    def to_json(self) -> dict:
        return {"value": self.value, "null_mean": self.null_mean, "null_sd": self.null_sd,
                "calibrated": self.calibrated, "p_value": self.p_value, "n_null": self.n,
                "alternative": self.alternative}


def _result(value: float, null: np.ndarray, alternative: str) -> NullResult:
    null = np.asarray(null, dtype=np.float64)
    if not np.isfinite(null).all() or not np.isfinite(value):
        raise ValueError("measure returned a non-finite value; it cannot be calibrated")
    mean, sd = float(null.mean()), float(null.std(ddof=1)) if null.size > 1 else 0.0
    if not sd > 0:
        raise ValueError("the measure's null distribution has zero spread (it does not depend on "
                         "the pairing of rows); a calibrated score is undefined")
    sign = 1.0 if alternative == "greater" else -1.0
    hits = (null >= value).sum() if alternative == "greater" else (null <= value).sum()
    return NullResult(float(value), null, mean, sd, sign * (value - mean) / sd,
                      float((1 + hits) / (null.size + 1)), alternative)


def _centred(A) -> np.ndarray:
    A = np.asarray(A, dtype=np.float64)
    return A - A.mean(axis=0)


def _permuted_cross(Xc: np.ndarray, Yc: np.ndarray, device: str | None):
    """perm -> Xc' Yc[perm]: a float64 torch tensor on the GPU when there is one (the N x dx x dy
    product per permutation is the whole cost of these nulls), else a numpy array. On the CPU
    numpy runs on the caller's one BLAS thread; torch's own CPU threads stall beside other work
    (a 30 x 4 product took 13 ms on busy cores) and gain nothing at a null's subsample sizes."""
    dev = resolve_device(device)
    if dev == "cpu":
        return lambda perm: Xc.T @ Yc[perm]
    import torch

    Xt = torch.as_tensor(Xc, device=dev)
    Yt = torch.as_tensor(Yc, device=dev)

    def cross(perm: np.ndarray):
        return Xt.T @ Yt[torch.as_tensor(perm, device=dev)]

    return cross


def _cka_evaluator(X, Y, debiased: bool = True, device: str | None = "auto") -> Callable[[np.ndarray], float]:
    """Linear CKA of (X, Y[perm]) from centred arrays: only X'Y[perm] and sum a b[perm] change."""
    Xc, Yc = _centred(X), _centred(Y)
    n = Xc.shape[0]
    a, b = np.einsum("ij,ij->i", Xc, Xc), np.einsum("ij,ij->i", Yc, Yc)
    xx2, yy2 = float(np.sum((Xc.T @ Xc) ** 2)), float(np.sum((Yc.T @ Yc) ** 2))
    if debiased:
        kk = _hsic_unbiased(n, xx2 - a @ a, -a.sum(), -a.sum(), a @ a)
        ll = _hsic_unbiased(n, yy2 - b @ b, -b.sum(), -b.sum(), b @ b)
    cross = _permuted_cross(Xc, Yc, device)

    def value(perm: np.ndarray) -> float:
        xy2 = float((cross(perm) ** 2).sum())
        if not debiased:
            return float(np.clip(xy2 / np.sqrt(xx2 * yy2), 0.0, 1.0))
        ab = float(a @ b[perm])
        return float(_hsic_unbiased(n, xy2 - ab, -a.sum(), -b.sum(), ab) / np.sqrt(kk * ll))

    return value


def _procrustes_evaluator(X, Y, angular: bool = False,
                          device: str | None = "auto") -> Callable[[np.ndarray], float]:
    Xc, Yc = _centred(X), _centred(Y)
    cross = _permuted_cross(Xc / np.linalg.norm(Xc), Yc / np.linalg.norm(Yc), device)
    on_cpu = resolve_device(device) == "cpu"

    def nuclear(M) -> float:
        # LAPACK through numpy is faster than torch's CPU svdvals here (measured ~2x).
        if on_cpu:
            with one_blas_thread():  # d x d: one thread is fastest, and never stalls on busy cores
                return float(np.linalg.svd(M, compute_uv=False).sum())
        import torch

        return float(torch.linalg.svdvals(M).sum())

    def value(perm: np.ndarray) -> float:
        nuc = min(max(nuclear(cross(perm)), 0.0), 1.0)
        return float(np.arccos(nuc)) if angular else float(np.sqrt(max(2.0 - 2.0 * nuc, 0.0)))

    return value


def _knn_evaluator(X, Y, k: int = 10, device: str | None = "auto") -> Callable[[np.ndarray], float]:
    """Y[perm]'s neighbours of row i are Y's neighbours of row perm[i], renamed by perm^-1."""
    _, ix = nearest_neighbours(X, k, device, name="X", distances=False)
    _, iy = nearest_neighbours(Y, k, device, name="Y", distances=False)

    def value(perm: np.ndarray) -> float:
        inv = np.empty_like(perm)
        inv[perm] = np.arange(perm.size)
        return float(overlap_of(ix, inv[iy[perm]]).mean())

    return value


_FAST = {linear_cka: _cka_evaluator, procrustes_distance: _procrustes_evaluator,
         mutual_knn: _knn_evaluator}


def _evaluator(measure: Callable, X, Y, device: str | None) -> Callable[[np.ndarray], float]:
    func, kwargs = measure, {}
    if isinstance(measure, functools.partial) and not measure.args:
        func, kwargs = measure.func, dict(measure.keywords)
    fast = _FAST.get(func)
    if fast is not None:
        return fast(X, Y, **{"device": device, **kwargs})
    return lambda perm: float(measure(X, Y[perm]))


@on_one_blas_thread
def permutation_null(measure: Callable, X, Y, n: int = 100, seed: int = 0,
                     alternative: str | None = None, device: str | None = "auto") -> NullResult:
    """``measure(X, Y)`` against its values with Y's rows permuted ``n`` times (seeded).

    The permuted products of CKA and Procrustes (and mutual k-NN's neighbour searches, unless
    its own ``device`` is given) run on ``device``: the GPU when present. ``alternative`` defaults to "less" for ``procrustes_distance`` (a distance) and "greater"
    otherwise. Both spaces are checked (same rows, finite) before anything is computed.
    """
    n = positive_int("n", n, low=2)
    base = measure.func if isinstance(measure, functools.partial) else measure
    if alternative is None:
        alternative = "less" if base is procrustes_distance else "greater"
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    X, Y = paired(X, Y, min_rows=4, why="a permutation null needs a few rows")
    evaluate = _evaluator(measure, X, Y, device)
    # The identity permutation is the measure itself (the fast evaluators reuse their setup).
    value = evaluate(np.arange(X.shape[0]))
    rng = np.random.default_rng(seed)
    null = np.array([evaluate(rng.permutation(X.shape[0])) for _ in range(n)])
    return _result(value, null, alternative)


def _square(name: str, D) -> np.ndarray:
    D = np.asarray(D, dtype=np.float64)
    if D.ndim != 2 or D.shape[0] != D.shape[1]:
        raise ValueError(f"{name} must be a square label-distance matrix, got shape {D.shape}")
    return D


def mantel_null(A, B, n: int = 1000, seed: int = 0) -> NullResult:
    """Pearson of the upper triangles of two label-distance matrices against the Mantel null:
    the labels of B permuted (rows and columns together). Pairs missing (NaN) on either side
    are left out of each correlation."""
    n = positive_int("n", n, low=2)
    A, B = _square("A", A), _square("B", B)
    if A.shape != B.shape:
        raise ValueError(f"A and B must cover the same labels: shapes {A.shape} and {B.shape}")
    iu = np.triu_indices(A.shape[0], k=1)
    a = A[iu]
    ok = np.isfinite(a) & np.isfinite(B[iu])
    if ok.sum() < 3:
        raise ValueError(f"A and B share {int(ok.sum())} finite label pairs; the Mantel null needs 3")
    value = pearson(a, B[iu])
    if not np.isfinite(value):
        raise ValueError("A or B has constant distances over the shared pairs: Pearson is undefined")
    rng = np.random.default_rng(seed)
    null = []
    for _ in range(n):
        p = rng.permutation(A.shape[0])
        r = pearson(a, B[np.ix_(p, p)][iu])
        null.append(r if np.isfinite(r) else 0.0)
    return _result(value, np.array(null), "greater")


@on_one_blas_thread
def half_sample_interval(measure: Callable, X, Y, n: int = 100, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float]:
    """Interval for ``measure(X, Y)`` from ``n`` seeded subsamples of half the rows (no repeats).

    Half-sampling without replacement keeps every subsample a set of distinct points (a
    bootstrap's repeated rows would look like zero-distance neighbours and inflate the
    debiased CKA), and the spread of a half-sample estimate around its mean is that of the
    full-sample estimate (the delete-d jackknife with d = N/2). The interval is the full value
    plus the percentiles of the centred half-sample values.
    """
    n = positive_int("n", n, low=2)
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    X, Y = paired(X, Y, min_rows=8, why="a half-sample interval needs 8 rows")
    value = float(measure(X, Y))
    rng = np.random.default_rng(seed)
    m = X.shape[0] // 2
    vals = []
    for _ in range(n):
        rows = np.sort(rng.choice(X.shape[0], size=m, replace=False))
        vals.append(float(measure(X[rows], Y[rows])))
    dev = np.asarray(vals) - np.mean(vals)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(dev, [alpha, 1.0 - alpha])
    return (value + float(lo), value + float(hi))
