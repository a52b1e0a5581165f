"""TwoNN intrinsic dimension (Facco et al. 2017).

With r1, r2 each point's distances to its first and second nearest neighbours, mu = r2 / r1
follows a Pareto law with exponent d on a d-dimensional manifold (locally uniform density):
-log(1 - F(mu)) = d log mu. As Facco et al., the empirical F of the sorted mu is fitted by a line
through the origin after leaving out the largest ``discard_fraction`` of mu (points whose two
neighbours are at very different scales: edges, outliers); F is taken over all points, so the
cut does not bias the slope. ``discard_fraction=0`` gives the maximum-likelihood estimate
(N - 1) / sum log mu instead.
"""

from __future__ import annotations

import numpy as np

from ._validate import space
from .knn import nearest_neighbours

__all__ = ["intrinsic_dimension"]


def intrinsic_dimension(X, discard_fraction: float = 0.1, device: str | None = "auto") -> float:
    """TwoNN estimate of the intrinsic dimension of the points X [N, D] (exact neighbours)."""
    if not 0.0 <= discard_fraction < 1.0:
        raise ValueError(f"discard_fraction must be in [0, 1), got {discard_fraction}")
    X = space("X", X, min_rows=3, why="TwoNN needs each point's two nearest neighbours")
    dist, _ = nearest_neighbours(X, 2, device)
    r1, r2 = dist[:, 0], dist[:, 1]
    scale = float(np.median(r2)) if r2.size else 0.0
    if not (r1 > 1e-12 * max(scale, 1e-300)).all():
        n_dup = int((r1 <= 1e-12 * max(scale, 1e-300)).sum())
        raise ValueError(f"X has {n_dup} rows with an exact duplicate; TwoNN needs distinct points "
                         "(drop duplicate rows first)")
    logs = np.log(np.sort(r2 / r1))
    if not logs.sum() > 0:
        raise ValueError("X: every point's two nearest neighbours are equidistant; TwoNN is undefined")
    n = logs.size
    if discard_fraction == 0.0:
        return float((n - 1) / logs.sum())
    keep = max(2, int(np.floor(n * (1.0 - discard_fraction))))
    x = logs[:keep]
    y = -np.log1p(-np.arange(1, keep + 1) / n)
    return float((x @ y) / (x @ x))
