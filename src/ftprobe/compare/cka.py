"""Linear CKA (Kornblith et al. 2019), debiased (unbiased HSIC, Song et al. 2012) by default.

Plain CKA reads well above 0 on independent data when rows are few relative to features; the
debiased form removes that bias (its expectation is ~0 for independent spaces) and may be
slightly negative. Both come from one streaming pass (``moments.py``): memory is [D, D], not
[N, N], so a 200k-row layer is fine, and the answer equals the N x N Gram-matrix formula.
"""

from __future__ import annotations

import numpy as np

from ._validate import BLOCK_ROWS, paired, positive_int
from .moments import CentredMoments, centred_moments

__all__ = ["linear_cka", "cka_from_moments"]


def _hsic_unbiased(n: int, trace_kl: float, sum_k: float, sum_l: float, sum_kl_rows: float) -> float:
    """Song et al.'s unbiased HSIC, with K~, L~ the Gram matrices with zeroed diagonals.

    ``trace_kl`` = tr(K~ L~), ``sum_k`` = 1'K~1, ``sum_l`` = 1'L~1, ``sum_kl_rows`` = 1'K~L~1.
    """
    return (trace_kl + sum_k * sum_l / ((n - 1) * (n - 2)) - 2.0 * sum_kl_rows / (n - 2)) / (
        n * (n - 3)
    )


def cka_from_moments(m: CentredMoments, debiased: bool = True) -> float:
    """Linear CKA from centred moments; ValueError (naming the side) if a side has no variance.

    On centred data K1 = 0, so (K~1)_i = -a_i: 1'K~1 = -sum a, 1'K~L~1 = sum a b, and
    tr(K~L~) = |Xc'Yc|_F^2 - sum a b.
    """
    if not m.sum_a > 0:
        raise ValueError("X has no variance (all rows equal): CKA is undefined")
    if not m.sum_b > 0:
        raise ValueError("Y has no variance (all rows equal): CKA is undefined")
    xy2 = float(np.sum(m.xy * m.xy))
    xx2 = float(np.sum(m.xx * m.xx))
    yy2 = float(np.sum(m.yy * m.yy))
    if not debiased:
        return float(np.clip(xy2 / np.sqrt(xx2 * yy2), 0.0, 1.0))
    n = m.n
    kl = _hsic_unbiased(n, xy2 - m.sum_ab, -m.sum_a, -m.sum_b, m.sum_ab)
    kk = _hsic_unbiased(n, xx2 - m.sum_aa, -m.sum_a, -m.sum_a, m.sum_aa)
    ll = _hsic_unbiased(n, yy2 - m.sum_bb, -m.sum_b, -m.sum_b, m.sum_bb)
    if not kk > 0:
        raise ValueError(f"X: its unbiased HSIC with itself is {kk:.3g} <= 0 (too few distinct rows "
                         "for the debiased CKA); use debiased=False")
    if not ll > 0:
        raise ValueError(f"Y: its unbiased HSIC with itself is {ll:.3g} <= 0 (too few distinct rows "
                         "for the debiased CKA); use debiased=False")
    return float(kl / np.sqrt(kk * ll))


def linear_cka(X, Y, debiased: bool = True, block_rows: int = BLOCK_ROWS) -> float:
    """Linear CKA between two representations [N, dx], [N, dy] of the same N points.

    ``debiased=True`` (default): the unbiased-HSIC estimator (needs N >= 4), ~0 for independent
    spaces; ``debiased=False``: the plain (biased) one, in [0, 1]. Invariant to orthogonal
    transforms, isotropic scaling and translation of either side. Reads ``block_rows`` rows at a
    time (memory-mapped layers are never copied whole); float64 inside.
    """
    block_rows = positive_int("block_rows", block_rows)
    need = 4 if debiased else 2
    X, Y = paired(X, Y, min_rows=need,
                  why="the debiased CKA needs n >= 4" if debiased else "CKA needs 2 rows")
    return cka_from_moments(centred_moments(X, Y, block_rows), debiased=debiased)
