"""Shuffled-label control for DirectProbe: how much simpler and wider apart the real labels'
clusters are than those of the same points with labels permuted within the split.

Random labels keep the label counts but carry no structure, so DirectProbe needs many clusters
and finds clusters of different labels touching. The control ratios say how far the real
labels are from that: ``cluster_ratio`` = real clusters / shuffled clusters (well below 1 for a
structured space) and ``distance_ratio`` = real label margin / shuffled (well above 1), where a
label's margin is the exact hull distance from its clusters to the nearest cluster of another
label (``DirectProbe.cluster_distances_``), averaged over labels. Uses the public DirectProbe API
only; it computes all cluster-pair distances, so it is meant for sets of up to a few thousand
points (random labels give many clusters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validate import positive_int, space

__all__ = ["LabelControl", "LabelControlSettings", "directprobe_label_control", "sampled_label_control"]


@dataclass(frozen=True)
class LabelControlSettings:
    """The study's shuffled-label control (a study config's ``[label_control]`` builds it): at each
    DirectProbe layer of the table, real vs shuffled labels on a seeded subsample of the train split."""

    n_shuffles: int = 1  # label permutations per layer; 0: no control
    max_rows: int = 500  # rows of the subsample (random labels make many clusters: cost grows fast)
    seed: int = 0

    def __post_init__(self):
        positive_int("n_shuffles", self.n_shuffles, low=0)
        positive_int("max_rows", self.max_rows, low=16)


@dataclass(frozen=True)
class LabelControl:
    """Real vs shuffled-label DirectProbe fits of one space (``n_shuffles`` permutations)."""

    n_clusters: int
    n_clusters_shuffled: tuple[int, ...]
    margin: float
    margin_shuffled: float
    cluster_ratio: float
    distance_ratio: float | None
    n_rows: int | None = None  # rows fitted (a subsample: ``sampled_label_control``)

    def to_json(self) -> dict:
        return {"n_clusters": self.n_clusters, "n_clusters_shuffled": list(self.n_clusters_shuffled),
                "margin": self.margin, "margin_shuffled": self.margin_shuffled,
                "cluster_ratio": self.cluster_ratio, "distance_ratio": self.distance_ratio,
                "n_rows": self.n_rows}


def _label_margin(dp) -> float:
    """Mean over labels of the hull distance from the label's clusters to another label's."""
    D = np.asarray(dp.cluster_distances_, dtype=np.float64)
    lab = np.asarray(dp.cluster_label_)
    other = lab[:, None] != lab[None, :]
    per_cluster = np.where(other, D, np.inf).min(axis=1)
    labels = np.unique(lab)
    per_label = np.array([per_cluster[lab == k].min() for k in labels])
    return float(per_label[np.isfinite(per_label)].mean()) if np.isfinite(per_label).any() else 0.0


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
    counts, margins = [], []
    for _ in range(n_shuffles):
        sh = DirectProbe(**directprobe_options).fit(X, rng.permutation(y), n_labels=n_labels)
        counts.append(int(sh.n_clusters_))
        margins.append(_label_margin(sh))
    m_real, m_sh = _label_margin(real), float(np.mean(margins))
    return LabelControl(
        n_clusters=int(real.n_clusters_),
        n_clusters_shuffled=tuple(counts),
        margin=m_real,
        margin_shuffled=m_sh,
        cluster_ratio=float(real.n_clusters_ / np.mean(counts)),
        distance_ratio=float(m_real / m_sh) if m_sh > 0 else None,
        n_rows=int(X.shape[0]),
    )


def sampled_label_control(X, y, settings: LabelControlSettings, n_labels: int | None = None,
                          **directprobe_options) -> LabelControl:
    """``directprobe_label_control`` on a seeded subsample of at most ``settings.max_rows`` rows
    (all rows when there are fewer), real and shuffled labels on the same rows."""
    if settings.n_shuffles < 1:
        raise ValueError("n_shuffles is 0: the label control is switched off")
    X = space("X", X, min_rows=2)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one label per row of X ({X.shape[0]}), got shape {y.shape}")
    rows = np.arange(X.shape[0])
    if X.shape[0] > settings.max_rows:
        rows = np.sort(np.random.default_rng(settings.seed).choice(X.shape[0], settings.max_rows, replace=False))
    return directprobe_label_control(np.asarray(X[rows], dtype=np.float64), y[rows],
                                     n_labels=n_labels, n_shuffles=settings.n_shuffles, seed=settings.seed,
                                     **directprobe_options)
