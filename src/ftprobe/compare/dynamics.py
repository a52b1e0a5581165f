"""Before/after comparisons of stored probe results: distances, layers, accuracy, clusters.

Every function takes plain numbers (what the probe stage stored) and returns plain values,
so the study runner can store and print them without numpy.
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
    "cross_task_change",
    "accuracy_change",
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
    before, after, label_names: Sequence | None = None, top: int = 5
) -> MinDistanceChange:
    """Compare per-label minimum distances [K] before and after fine-tuning.

    The paper's claim is that most labels move away from their nearest other label; this
    counts up/down and keeps the extremes for the "rise most / least" table.
    """
    b, a = _vec(before), _vec(after)
    if b.shape != a.shape:
        raise ValueError(f"length mismatch: {b.size} vs {a.size}")
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


def cross_task_change(
    min_dist_original,
    min_dist_finetuned_on_A,
    label_names: Sequence | None = None,
    acc_original: float | None = None,
    acc_A: float | None = None,
    top: int = 5,
) -> dict:
    """Probe task B on the original model and on a model fine-tuned on task A.

    Counts labels of B whose minimum distance rose / fell and the mean change, with probe
    accuracy before/after: the paper's evidence that an unrelated task erodes B's geometry.
    """
    ch = min_distance_change(min_dist_original, min_dist_finetuned_on_A, label_names, top=top)
    acc_b, acc_a = as_float(acc_original), as_float(acc_A)
    out = ch.to_json()
    out.update(
        accuracy_before=plain(acc_b),
        accuracy_after=plain(acc_a),
        accuracy_change=plain(acc_a - acc_b),
    )
    return out


def accuracy_change(before_mean, before_std=None, after_mean=None, after_std=None) -> dict:
    """Probe accuracy before -> after with the 5-seed spread.

    ``beyond_noise`` says whether |change| exceeds the sum of the two standard deviations, a
    crude but honest flag for "the change is more than seed noise".
    """
    bm, bs, am, as_ = (as_float(x) for x in (before_mean, before_std, after_mean, after_std))
    change = am - bm
    noise = (0.0 if np.isnan(bs) else bs) + (0.0 if np.isnan(as_) else as_)
    return {
        "before": plain(bm),
        "before_std": plain(bs),
        "after": plain(am),
        "after_std": plain(as_),
        "change": plain(change),
        "improved": bool(change > 0) if np.isfinite(change) else None,
        "beyond_noise": bool(abs(change) > noise) if np.isfinite(change) else None,
    }


def cluster_change(n_before, n_after, n_labels) -> dict:
    """DirectProbe cluster counts before -> after relative to the number of labels.

    A space is linear when #clusters == #labels; "closer" means the excess over #labels did
    not grow, i.e. the space got (no less) simple.
    """
    nb, na, k = (None if v is None else int(v) for v in (n_before, n_after, n_labels))
    out = {"before": nb, "after": na, "n_labels": k}
    if k is not None:
        out["linear_before"] = None if nb is None else nb == k
        out["linear_after"] = None if na is None else na == k
        out["excess_before"] = None if nb is None else nb - k
        out["excess_after"] = None if na is None else na - k
    if nb is not None and na is not None:
        out["change"] = na - nb
        out["fewer_or_equal"] = na <= nb
        if k is not None:
            out["closer_to_labels"] = abs(na - k) <= abs(nb - k)
    return out


def train_test_similarity(dv_train, dv_test) -> float:
    """Pearson of the train-set and test-set label-pair distance vectors; NaN if one is missing.

    High means the training geometry carries over to unseen data; the paper sees it fall
    after fine-tuning.
    """
    if dv_train is None or dv_test is None:
        return float("nan")
    return pearson(_vec(dv_train), _vec(dv_test))
