"""The one writer of a DirectProbe output folder (``DirectProbe.save`` and ``ftprobe directprobe``).

Arrays first, then text files, ``summary.json`` last: a folder with a summary is complete. Each
file is written atomically (``ftprobe.atomic``), so a reader never sees half a file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe.atomic import save_npy, write_json, write_text

SUMMARY = "summary.json"


def write_output_folder(directory: str | Path, summary: Mapping[str, Any],
                        arrays: Mapping[str, np.ndarray] | None = None,
                        texts: Mapping[str, str] | None = None) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in (arrays or {}).items():
        save_npy(directory / name, array)
    for name, text in (texts or {}).items():
        write_text(directory / name, text)
    write_json(directory / SUMMARY, dict(summary))
    return directory


def write_results(dp, directory: str | Path, *, label_names: Sequence[str] | None = None,
                  distances: bool = True, model: bool = True, predictions: np.ndarray | None = None,
                  extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The folder of a fitted DirectProbe ``dp``, in one format for every caller; returns its summary.

    Always: ``clusters.txt`` (a cluster id per input row), ``cluster_labels.txt`` (cluster, label
    name, size), ``spread.txt``. With ``distances``: ``label_distances.tsv``/``.npy``,
    ``distance_vector.txt``, ``min_distances.tsv`` (exact hull distances). With ``predictions``
    (label ids of test rows): ``predictions.txt``. With ``model``: the arrays ``DirectProbe.load``
    reads. ``summary.json``: ``dp.summary()``, the label names (default: their numbers), ``extra``.
    """
    names = [str(k) for k in range(dp.n_labels_)] if label_names is None else list(label_names)
    if len(names) != dp.n_labels_:
        raise ValueError(f"label_names: {len(names)} names for {dp.n_labels_} labels")
    texts = {
        "clusters.txt": "".join(f"{c}\n" for c in dp.labels_.tolist()),
        "cluster_labels.txt": "".join(
            f"{c}\t{names[lab]}\t{n}\n"
            for c, (lab, n) in enumerate(zip(dp.cluster_label_.tolist(), dp.cluster_sizes_.tolist(), strict=True))),
        "spread.txt": "".join(f"{v:.9g}\n" for v in dp.spread()),
    }
    arrays: dict[str, np.ndarray] = {}
    if distances:
        L = dp.label_distances()
        arrays["label_distances.npy"] = L
        texts["label_distances.tsv"] = "\t" + "\t".join(names) + "\n" + "".join(
            names[i] + "\t" + "\t".join(f"{v:.9g}" for v in L[i]) + "\n" for i in range(len(names)))
        texts["distance_vector.txt"] = "".join(f"{v:.9g}\n" for v in dp.distance_vector())
        md = dp.min_distances()
        texts["min_distances.tsv"] = "".join(f"{names[i]}\t{md[i]:.9g}\n" for i in range(len(names)))
    if predictions is not None:
        texts["predictions.txt"] = "".join(f"{names[p]}\n" for p in np.asarray(predictions).tolist())
    if model:  # what DirectProbe.load reads back (friend access: this module is the probe's writer)
        arrays.update({"cluster_label.npy": dp.cluster_label_, "points.npy": dp._X,
                       "labels.npy": dp.cluster_label_[dp.labels_]})
        if dp._cdist is not None:
            arrays["cluster_distances.npy"] = dp._cdist
    summary = {**dp.summary(), "labels": names, **(extra or {})}
    write_output_folder(directory, summary, arrays, texts)
    return summary
