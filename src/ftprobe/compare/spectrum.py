"""Per-layer geometry from the covariance spectrum: effective rank and isotropy (IsoScore).

The covariance is accumulated in row blocks (float64, pilot-shifted like ``moments.py``), so a
memory-mapped 200k-row layer costs one [D, D] matrix. Its eigenvalues are the squared singular
values of the centred data, up to the factor N.
"""

from __future__ import annotations

import numpy as np

from ._threads import on_one_blas_thread
from ._validate import BLOCK_ROWS, space

__all__ = ["covariance_spectrum", "effective_rank", "isotropy", "effective_rank_from_spectrum",
           "isotropy_from_spectrum"]


@on_one_blas_thread
def covariance_spectrum(X, block_rows: int = BLOCK_ROWS, name: str = "X") -> np.ndarray:
    """Eigenvalues of the centred scatter matrix Xc'Xc (= squared singular values), descending.

    On one BLAS thread: threaded ``eigvalsh`` gives other last bits, which the effective rank's
    square roots of the near-zero eigenvalues magnify (see ``_threads.py``)."""
    X = space(name, X, min_rows=2, why="a spectrum needs 2 points")
    d = X.shape[1]
    shift = np.asarray(X[:block_rows], dtype=np.float64).mean(axis=0)
    zz, sz, n = np.zeros((d, d)), np.zeros(d), 0
    for s in range(0, X.shape[0], block_rows):
        z = np.asarray(X[s : s + block_rows], dtype=np.float64) - shift
        zz += z.T @ z
        sz += z.sum(axis=0)
        n += z.shape[0]
    m = sz / n
    ev = np.linalg.eigvalsh(zz - n * np.outer(m, m))[::-1]
    ev = np.clip(ev, 0.0, None)
    if not ev.sum() > 0:
        raise ValueError(f"{name} has no variance (all rows equal)")
    return ev


def effective_rank(X, block_rows: int = BLOCK_ROWS) -> float:
    """Roy & Vetterli's effective rank: exp of the entropy of the normalised singular values of
    the centred data. d for an isotropic Gaussian in d dimensions (as N grows), k for data
    spread evenly over a k-dimensional subspace; 1 for data on a line."""
    return effective_rank_from_spectrum(covariance_spectrum(X, block_rows))


def effective_rank_from_spectrum(ev: np.ndarray) -> float:
    """``effective_rank`` from the covariance eigenvalues (shares one pass with ``isotropy``)."""
    s = np.sqrt(ev)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))


def isotropy(X, block_rows: int = BLOCK_ROWS) -> float:
    """IsoScore (Rudman et al. 2022): how evenly the variance spreads over all D dimensions.

    1 for an isotropic space, (k - 1) / (D - 1) for isotropic data on a k-dimensional subspace,
    0 for data on a line. Rotation, translation and scale invariant (it reads the covariance
    eigenvalues only).
    """
    return isotropy_from_spectrum(covariance_spectrum(X, block_rows))


def isotropy_from_spectrum(ev: np.ndarray) -> float:
    """``isotropy`` from the covariance eigenvalues (all D of them, zeros included)."""
    d = ev.size
    if d == 1:
        return 1.0
    var = ev * (np.sqrt(d) / np.linalg.norm(ev))
    delta = np.linalg.norm(var - 1.0) / np.sqrt(2.0 * (d - np.sqrt(d)))
    phi = (d - delta**2 * (d - np.sqrt(d))) ** 2 / d**2
    return float(np.clip((d * phi - 1.0) / (d - 1.0), 0.0, 1.0))
