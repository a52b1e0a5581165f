"""One pass over two spaces, in row blocks: every moment that linear CKA (biased and debiased)
and the Procrustes distance need, in float64, with memory independent of the number of rows.

Rows are shifted by the first block's mean before they are accumulated (a pilot shift), so the
final centring corrects only a small offset and the raw sums do not cancel catastrophically.
The per-row squared norms of the centred rows (the diagonal of the centred Gram matrix, which the
unbiased HSIC removes) are recovered exactly from sums of the shifted rows weighted by their
squared norms; see ``CentredMoments`` for the algebra.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._threads import on_one_blas_thread
from ._validate import BLOCK_ROWS


@dataclass(frozen=True)
class CentredMoments:
    """Moments of two centred spaces Xc [n, dx], Yc [n, dy] over the same rows.

    ``a_i = |xc_i|^2`` and ``b_i = |yc_i|^2`` are the diagonals of the centred Gram matrices.
    """

    n: int
    xx: np.ndarray  # Xc'Xc [dx, dx]
    yy: np.ndarray  # Yc'Yc [dy, dy]
    xy: np.ndarray  # Xc'Yc [dx, dy]
    sum_a: float
    sum_b: float
    sum_aa: float
    sum_bb: float
    sum_ab: float


class MomentAccumulator:
    """Feed row blocks of X and Y with ``add``; ``moments()`` gives the centred moments.

    Sums kept over shifted rows z (X side) and w (Y side), with p = |z|^2 and q = |w|^2:
    n, Z'Z, W'W, Z'W, sum z, sum w, sum p, sum q, sum p^2, sum q^2, sum pq, Z'p, Z'q, W'p, W'q.
    """

    def __init__(self, dx: int, dy: int):
        self.n = 0
        self.shift_x: np.ndarray | None = None
        self.shift_y: np.ndarray | None = None
        self.zz = np.zeros((dx, dx))
        self.ww = np.zeros((dy, dy))
        self.zw = np.zeros((dx, dy))
        self.sz = np.zeros(dx)
        self.sw = np.zeros(dy)
        self.sp = self.sq = self.spp = self.sqq = self.spq = 0.0
        self.zp = np.zeros(dx)
        self.zq = np.zeros(dx)
        self.wp = np.zeros(dy)
        self.wq = np.zeros(dy)

    def add(self, xb, yb) -> None:
        z = np.asarray(xb, dtype=np.float64)
        w = np.asarray(yb, dtype=np.float64)
        if self.shift_x is None:
            self.shift_x, self.shift_y = z.mean(axis=0), w.mean(axis=0)
        z = z - self.shift_x
        w = w - self.shift_y
        p = np.einsum("ij,ij->i", z, z)
        q = np.einsum("ij,ij->i", w, w)
        self.n += z.shape[0]
        self.zz += z.T @ z
        self.ww += w.T @ w
        self.zw += z.T @ w
        self.sz += z.sum(axis=0)
        self.sw += w.sum(axis=0)
        self.sp += p.sum()
        self.sq += q.sum()
        self.spp += p @ p
        self.sqq += q @ q
        self.spq += p @ q
        self.zp += z.T @ p
        self.zq += z.T @ q
        self.wp += w.T @ p
        self.wq += w.T @ q

    def moments(self) -> CentredMoments:
        """Centre at the true mean: xc = z - m, a = p - 2 z.m + |m|^2 (likewise w, mw, b)."""
        n = self.n
        m, mw = self.sz / n, self.sw / n
        A, B = m @ m, mw @ mw
        zm, wm = self.zp @ m, self.wq @ mw  # sum p (z.m), sum q (w.mw)
        # sum a = sum p - 2 m.sz + n A = sum p - n A (since m.sz = n A); likewise sum b.
        sum_a = self.sp - n * A
        sum_b = self.sq - n * B
        # sum a^2 = sum (p - 2u + A)^2 with u = z.m; sum u^2 = m' Z'Z m, sum u = n A.
        sum_aa = (self.spp - 4 * zm + 2 * A * self.sp + 4 * (m @ self.zz @ m)
                  - 4 * A * n * A + n * A * A)
        sum_bb = (self.sqq - 4 * wm + 2 * B * self.sq + 4 * (mw @ self.ww @ mw)
                  - 4 * B * n * B + n * B * B)
        # sum a b = sum (p - 2u + A)(q - 2v + B), v = w.mw.
        sum_ab = (self.spq - 2 * (self.wp @ mw) + B * self.sp - 2 * (self.zq @ m)
                  + 4 * (m @ self.zw @ mw) - 2 * B * n * A + A * self.sq - 2 * A * n * B
                  + n * A * B)
        return CentredMoments(
            n=n,
            xx=self.zz - n * np.outer(m, m),
            yy=self.ww - n * np.outer(mw, mw),
            xy=self.zw - n * np.outer(m, mw),
            sum_a=float(sum_a),
            sum_b=float(sum_b),
            sum_aa=float(sum_aa),
            sum_bb=float(sum_bb),
            sum_ab=float(sum_ab),
        )


@on_one_blas_thread
def centred_moments(X, Y, block_rows: int = BLOCK_ROWS) -> CentredMoments:
    """Centred moments of two (already validated) spaces, reading ``block_rows`` rows at a time
    (on one BLAS thread: the same bits at any thread count, see ``_threads.py``)."""
    acc = MomentAccumulator(X.shape[1], Y.shape[1])
    for s in range(0, X.shape[0], block_rows):
        acc.add(X[s : s + block_rows], Y[s : s + block_rows])
    return acc.moments()
