"""Orthogonal Procrustes shape distance (Williams et al. 2021, "Generalized shape metrics").

Both spaces are centred and scaled to unit Frobenius norm; the distance is
min over orthogonal Q of |Xn - Yn Q|_F = sqrt(2 - 2 |Xn'Yn|_*), with |.|_* the nuclear norm (the
narrower side is zero-padded, which leaves |Xn'Yn|_* unchanged). It is 0 exactly when the spaces
differ by a rotation/reflection, translation and isotropic scaling, and it is a metric on those
shapes (symmetric, triangle inequality). ``angular=True`` gives arccos |Xn'Yn|_*, the angular
metric. One streaming pass (``moments.py``): memory [D, D], not [N, N].
"""

from __future__ import annotations

import numpy as np

from ._threads import one_blas_thread
from ._validate import BLOCK_ROWS, paired, positive_int
from .moments import CentredMoments, centred_moments

__all__ = ["procrustes_distance", "procrustes_from_moments"]


def procrustes_from_moments(m: CentredMoments, angular: bool = False) -> float:
    tx, ty = float(np.trace(m.xx)), float(np.trace(m.yy))
    if not tx > 0:
        raise ValueError("X has no variance (all rows equal): its shape is undefined")
    if not ty > 0:
        raise ValueError("Y has no variance (all rows equal): its shape is undefined")
    with one_blas_thread():
        nuc = float(np.linalg.svd(m.xy, compute_uv=False).sum()) / np.sqrt(tx * ty)
    nuc = min(max(nuc, 0.0), 1.0)
    if angular:
        return float(np.arccos(nuc))
    return float(np.sqrt(max(2.0 - 2.0 * nuc, 0.0)))


def procrustes_distance(X, Y, angular: bool = False, block_rows: int = BLOCK_ROWS) -> float:
    """Procrustes distance between two representations [N, dx], [N, dy] of the same N points.

    In [0, sqrt(2)] (``angular=True``: [0, pi/2]); 0 for identical shapes. float64 inside.
    """
    block_rows = positive_int("block_rows", block_rows)
    X, Y = paired(X, Y, min_rows=2, why="a shape needs 2 points")
    return procrustes_from_moments(centred_moments(X, Y, block_rows), angular=angular)
