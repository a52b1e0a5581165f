"""Shuffled-label control for DirectProbe: how much simpler and wider apart the real labels'
clusters are than those of the same points with labels permuted within the split.

Random labels keep the label counts but carry no structure, so DirectProbe needs many clusters
and finds them close together. The control ratios say how far the real labels are from that:
``cluster_ratio`` = real clusters / shuffled clusters (well below 1 for a structured space) and
``distance_ratio`` = real mean minimum label distance / shuffled (well above 1). Uses the public
DirectProbe API only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import positive_int, space

__all__ = ["LabelControl", "directprobe_label_control"]


@dataclass(frozen=True)
class LabelControl:
    """Real vs shuffled-label DirectProbe fits of one space (``n_shuffles`` permutations)."""

    n_clusters: int
    n_clusters_shuffled: tuple[int, ...]
    mean_min_distance: float | None
    mean_min_distance_shuffled: float | None
    cluster_ratio: float
    distance_ratio: float | None

    def to_json(self) -> dict:
        return {"n_clusters": self.n_clusters, "n_clusters_shuffled": list(self.n_clusters_shuffled),
                "mean_min_distance": self.mean_min_distance,
                "mean_min_distance_shuffled": self.mean_min_distance_shuffled,
                "cluster_ratio": self.cluster_ratio, "distance_ratio": self.distance_ratio}


def _mean_min_distance(dp) -> float | None:
    md = np.asarray(dp.min_distances(), dtype=np.float64)
    md = md[np.isfinite(md)]
    return float(md.mean()) if md.size else None


def directprobe_label_control(X, y, n_labels: int | None = None, n_shuffles: int = 1,
                              seed: int = 0, **directprobe_options) -> LabelControl:
    """Fit DirectProbe on (X, y) and on (X, permuted y) ``n_shuffles`` times (seeded)."""
    from ftprobe.probe.directprobe import DirectProbe

    n_shuffles = positive_int("n_shuffles", n_shuffles)
    X = space("X", X, min_rows=2)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one label per row of X ({X.shape[0]}), got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError("y must hold integer label ids")
    real = DirectProbe(**directprobe_options).fit(X, y, n_labels=n_labels)
    rng = np.random.default_rng(seed)
    counts, dists = [], []
    for _ in range(n_shuffles):
        sh = DirectProbe(**directprobe_options).fit(X, rng.permutation(y), n_labels=n_labels)
        counts.append(int(sh.n_clusters_))
        d = _mean_min_distance(sh)
        if d is not None:
            dists.append(d)
    d_real = _mean_min_distance(real)
    d_sh = float(np.mean(dists)) if dists else None
    return LabelControl(
        n_clusters=int(real.n_clusters_),
        n_clusters_shuffled=tuple(counts),
        mean_min_distance=d_real,
        mean_min_distance_shuffled=d_sh,
        cluster_ratio=float(real.n_clusters_ / np.mean(counts)),
        distance_ratio=None if d_real is None or not d_sh else float(d_real / d_sh),
    )
