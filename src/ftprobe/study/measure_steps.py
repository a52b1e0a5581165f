"""The calibrated measures in the study: before vs after every layer (inside the similarity step),
every checkpoint vs the original at the series' layers (the ``measures`` step), and DirectProbe's
shuffled-label control at the table's layers (the ``label_control`` step).

Both read train-split vectors from the store and call ``ftprobe.compare.compare_spaces`` /
``space_geometry``; the results are plain JSON for ``results.py`` and the report.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ftprobe.compare.control import LabelControlSettings, sampled_label_control
from ftprobe.compare.spaces import MeasureSettings, compare_spaces, space_geometry


def settings_from(spec: dict) -> MeasureSettings:
    """The config's ``[measures]`` (``StudyConfig.measures``) as the compare stage's settings."""
    return MeasureSettings(**spec["measures"])


def _or_reason(fn, *args):
    """A measure's JSON, or None with the reason where the inputs cannot carry it (a split with
    too few rows, a layer without variance): one odd layer must not stop a study."""
    try:
        return fn(*args), None
    except ValueError as exc:
        return None, str(exc)


def _comparison(X, Y, s: MeasureSettings) -> dict | None:
    out, why = _or_reason(lambda: compare_spaces(X, Y, s).to_json())
    return out if why is None else {"error": why}


def _geometry(X, s: MeasureSettings) -> dict:
    out, why = _or_reason(lambda: space_geometry(X, s).to_json())
    return out if why is None else {"error": why}


def layer_measures(Xb, Xa, settings: MeasureSettings) -> dict:
    """One before/after pair of a layer: the debiased CKA on every row (None where undefined:
    a layer without variance, e.g. [CLS] at the embeddings), the calibrated comparison and both
    geometries."""
    from ftprobe.compare import linear_cka

    cka, _ = _or_reason(linear_cka, Xb, Xa)
    return {"cka": cka, "compare": _comparison(Xb, Xa, settings),
            "geometry_before": _geometry(Xb, settings), "geometry_after": _geometry(Xa, settings)}


def step_measures(spec: dict, ctx, work: Path) -> dict:
    """Every series point (checkpoints and final) against the original model at each layer of the
    series: [layer][point] -> comparison, and the geometry of every (point, layer)."""
    from ftprobe.represent import Store

    s = settings_from(spec)
    series = ctx.dep_result("series")
    store = Store(ctx.store_root)
    entries = [store.open(e) for e in series["entries"]]
    layers = [int(x) for x in series["layers"]]
    compare: dict[str, list] = {}
    geometry: dict[str, list] = {}
    for layer in layers:
        ref = entries[0].layer(layer)
        compare[str(layer)] = [None] + [_comparison(ref, e.layer(layer), s) for e in entries[1:]]
        geometry[str(layer)] = [_geometry(np.asarray(e.layer(layer)), s) for e in entries]
    return {"points": series["points"], "layers": [str(x) for x in layers], "compare": compare,
            "geometry": geometry, "settings": spec["measures"]}


def step_label_control(spec: dict, entry, layer: int) -> dict:
    """Real vs shuffled labels of one stored split at one layer (``compare.sampled_label_control``),
    or the reason it could not run (a split with one label, too few rows)."""
    names = list(entry.label_names)
    out, why = _or_reason(lambda: sampled_label_control(
        entry.layer(layer), entry.labels, LabelControlSettings(**spec["control"]), n_labels=len(names),
        **spec["directprobe"]).to_json())
    return {"layer": layer, **(out if why is None else {"error": why})}
