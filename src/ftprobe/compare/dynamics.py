"""Before/after comparisons of stored probe results: distances, layers, accuracy, clusters.

Every function takes plain numbers (what the probe stage stored) and returns a frozen record
(``to_json()`` gives plain values for results.json) or a plain number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._plain import as_float, plain
from .similarity import pearson

__all__ = [
    "MinDistanceChange",
    "min_distance_change",
    "layer_dynamics",
    "layer_dynamics_matrix",
    "CrossTaskChange",
    "cross_task_change",
    "AccuracyChange",
    "accuracy_change",
    "ClusterChange",
    "cluster_change",
    "train_test_similarity",
]


@dataclass(frozen=True)
class MinDistanceChange:
    """Per-label minimum distance, before vs after: how many labels moved away / closer.

    ``rise_most`` / ``rise_least`` are (label, after - before) sorted by delta, descending /
    ascending. Labels missing (NaN/None) on either side are not counted (``n_compared``).
    """

    up: int
    down: int
    mean_change: float
    rise_most: list = field(default_factory=list)
    rise_least: list = field(default_factory=list)
    unchanged: int = 0
    n_compared: int = 0
    per_label: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "up": int(self.up),
            "down": int(self.down),
            "unchanged": int(self.unchanged),
            "n_compared": int(self.n_compared),
            "mean_change": plain(self.mean_change),
            "rise_most": [[str(k), plain(v)] for k, v in self.rise_most],
            "rise_least": [[str(k), plain(v)] for k, v in self.rise_least],
            "per_label": plain(self.per_label),
        }


def _vec(v) -> np.ndarray:
    """A list that may hold None as a float array with NaN."""
    return np.array([as_float(x) for x in np.asarray(v, dtype=object).ravel()], dtype=np.float64)


def min_distance_change(
    before, after, label_names: Sequence | None = None, top: int = 5,
    scales: tuple[float, float] | None = None,
) -> MinDistanceChange:
    """Compare per-label minimum distances [K] before and after fine-tuning.

    The paper's claim is that most labels move away from their nearest other label; this
    counts up/down and keeps the extremes for the "rise most / least" table. ``scales``: the
    two spaces' spreads (``space_scale``); each side's distances are divided by its own, so a
    space that only grew or shrank shows no change (the scale-free reading).
    """
    b, a = _vec(before), _vec(after)
    if b.shape != a.shape:
        raise ValueError(f"length mismatch: {b.size} vs {a.size}")
    if scales is not None:
        sb, sa = (float(v) for v in scales)
        if not (np.isfinite(sb) and np.isfinite(sa) and sb > 0 and sa > 0):
            raise ValueError(f"scales must be two positive finite spreads, got {scales!r}")
        b, a = b / sb, a / sa
    names = (
        [str(i) for i in range(b.size)] if label_names is None else [str(n) for n in label_names]
    )
    if len(names) != b.size:
        raise ValueError(f"{len(names)} label names for {b.size} labels")
    delta = a - b
    ok = np.isfinite(delta)
    d = delta[ok]
    kept = [names[i] for i in np.flatnonzero(ok)]
    order = np.argsort(-d, kind="stable")
    pairs = [(kept[i], float(d[i])) for i in order]
    top = max(0, int(top))
    return MinDistanceChange(
        up=int((d > 0).sum()),
        down=int((d < 0).sum()),
        mean_change=float(d.mean()) if d.size else float("nan"),
        rise_most=pairs[:top],
        rise_least=sorted(pairs, key=lambda p: p[1])[:top],
        unchanged=int((d == 0).sum()),
        n_compared=int(d.size),
        per_label={n: float(v) for n, v in zip(kept, d, strict=True)},
    )


def layer_dynamics(distance_vectors: Mapping, reference: Mapping) -> dict:
    """Pearson of each checkpoint's layer with the same layer before fine-tuning.

    ``distance_vectors[checkpoint][layer]`` and ``reference[layer]`` are label-pair distance
    vectors; the result ``[checkpoint][layer] -> r`` keeps the input's checkpoint order. A
    layer absent from the reference gives NaN (nothing to compare with).
    """
    out: dict = {}
    for ckpt, layers in distance_vectors.items():
        row = {}
        for layer in sorted(layers, key=int):
            ref = reference.get(layer, reference.get(int(layer), reference.get(str(layer))))
            row[int(layer)] = (
                float("nan") if ref is None else pearson(_vec(layers[layer]), _vec(ref))
            )
        out[ckpt] = row
    return out


def layer_dynamics_matrix(
    dynamics: Mapping, checkpoints: Sequence | None = None, layers: Sequence[int] | None = None
) -> tuple[np.ndarray, list, list[int]]:
    """The ``layer_dynamics`` result as (matrix [n_ckpt, n_layers], checkpoint order, layer order).

    Checkpoints default to the dict's order (the runner inserts them in training order);
    layers default to all layers seen, ascending. Missing cells are NaN.
    """
    ckpts = list(dynamics) if checkpoints is None else list(checkpoints)
    if layers is None:
        layers = sorted({int(layer) for row in dynamics.values() for layer in row})
    layers = [int(x) for x in layers]
    M = np.full((len(ckpts), len(layers)), np.nan)
    for i, c in enumerate(ckpts):
        row = {int(k): v for k, v in dynamics.get(c, {}).items()}
        for j, layer in enumerate(layers):
            if layer in row:
                M[i, j] = as_float(row[layer])
    return M, ckpts, layers


@dataclass(frozen=True)
class CrossTaskChange:
    """Task B's labels on the original encoder vs one fine-tuned on task A (finding 6): how
    their minimum distances moved, and B's probe accuracy on both (None where not given)."""

    distances: MinDistanceChange
    accuracy_before: float | None
    accuracy_after: float | None

    @property
    def accuracy_change(self) -> float | None:
        if self.accuracy_before is None or self.accuracy_after is None:
            return None
        return self.accuracy_after - self.accuracy_before

    def to_json(self) -> dict:
        return {**self.distances.to_json(), "accuracy_before": self.accuracy_before,
                "accuracy_after": self.accuracy_after, "accuracy_change": self.accuracy_change}


def _optional_float(v) -> float | None:
    """A finite float, or None for None/NaN/inf (what JSON can carry)."""
    return plain(as_float(v))


def cross_task_change(
    min_dist_original,
    min_dist_finetuned_on_A,
    label_names: Sequence | None = None,
    acc_original: float | None = None,
    acc_A: float | None = None,
    top: int = 5,
) -> CrossTaskChange:
    """Probe task B on the original model and on a model fine-tuned on task A.

    Counts labels of B whose minimum distance rose / fell and the mean change, with probe
    accuracy before/after: the paper's evidence that an unrelated task erodes B's geometry.
    """
    return CrossTaskChange(
        distances=min_distance_change(min_dist_original, min_dist_finetuned_on_A, label_names, top=top),
        accuracy_before=_optional_float(acc_original),
        accuracy_after=_optional_float(acc_A),
    )


@dataclass(frozen=True)
class AccuracyChange:
    """Probe accuracy before -> after with each side's spread over probe seeds (None: unknown).

    ``beyond_noise``: |change| exceeds the sum of the two standard deviations, a crude but
    honest flag for "the change is more than seed noise".
    """

    before: float | None
    before_std: float | None
    after: float | None
    after_std: float | None

    @property
    def change(self) -> float | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def improved(self) -> bool | None:
        return None if self.change is None else self.change > 0

    @property
    def beyond_noise(self) -> bool | None:
        if self.change is None:
            return None
        return abs(self.change) > (self.before_std or 0.0) + (self.after_std or 0.0)

    def to_json(self) -> dict:
        return {"before": self.before, "before_std": self.before_std, "after": self.after,
                "after_std": self.after_std, "change": self.change, "improved": self.improved,
                "beyond_noise": self.beyond_noise}


def accuracy_change(before_mean, before_std=None, after_mean=None, after_std=None) -> AccuracyChange:
    """Probe accuracy before -> after with the 5-seed spread (None or NaN: not known)."""
    return AccuracyChange(*(_optional_float(v) for v in (before_mean, before_std, after_mean, after_std)))


@dataclass(frozen=True)
class ClusterChange:
    """DirectProbe cluster counts before -> after against the number of labels (None: unknown).

    A space is linear when #clusters == #labels; ``closer_to_labels``: the count's distance to
    #labels did not grow, i.e. the space got (no less) simple.
    """

    before: int | None
    after: int | None
    n_labels: int | None

    @property
    def linear_before(self) -> bool | None:
        return None if self.before is None or self.n_labels is None else self.before == self.n_labels

    @property
    def linear_after(self) -> bool | None:
        return None if self.after is None or self.n_labels is None else self.after == self.n_labels

    @property
    def excess_before(self) -> int | None:
        return None if self.before is None or self.n_labels is None else self.before - self.n_labels

    @property
    def excess_after(self) -> int | None:
        return None if self.after is None or self.n_labels is None else self.after - self.n_labels

    @property
    def change(self) -> int | None:
        return None if self.before is None or self.after is None else self.after - self.before

    @property
    def fewer_or_equal(self) -> bool | None:
        return None if self.change is None else self.change <= 0

    @property
    def closer_to_labels(self) -> bool | None:
        if self.excess_before is None or self.excess_after is None:
            return None
        return abs(self.excess_after) <= abs(self.excess_before)

    def to_json(self) -> dict:
        keys = ("before", "after", "n_labels", "linear_before", "linear_after", "excess_before",
                "excess_after", "change", "fewer_or_equal", "closer_to_labels")
        return {k: getattr(self, k) for k in keys}


def cluster_change(n_before, n_after, n_labels) -> ClusterChange:
    """DirectProbe cluster counts before -> after relative to the number of labels."""
    return ClusterChange(*(None if v is None else int(v) for v in (n_before, n_after, n_labels)))


def train_test_similarity(dv_train, dv_test) -> float:
    """Pearson of the train-set and test-set label-pair distance vectors; NaN if one is missing.

    High means the training geometry carries over to unseen data; the paper sees it fall
    after fine-tuning.
    """
    if dv_train is None or dv_test is None:
        return float("nan")
    return pearson(_vec(dv_train), _vec(dv_test))
