"""Helpers for the study tests: a tiny config, and a stand-in DirectProbe (one cluster per label)
used until / unless the real one is importable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def tiny_config(model: Path, out: Path, **over) -> dict:
    cfg = {
        "output": str(out),
        "models": [{"name": "tiny", "path": str(model)}],
        "tasks": [
            {"name": "pos", "data": "sample:ewt", "max_sentences": 12},
            {"name": "ps-fxn", "data": "sample:streusle", "max_sentences": 30, "finetune": False},
        ],
        "finetune": {"epochs": 1, "batch_size": 4, "lr": 1e-3, "checkpoint_every_steps": 2,
                     "checkpoint_every_epoch": False},
        "probe": {"probe": "linear", "l2": [1e-3], "seeds": 1, "max_iter": 5},
        "directprobe": {"layers": [1, -1], "checkpoint_layers": "all", "min_cluster_size": 0},
        "cross_task": [{"finetune": "pos", "probe": "ps-fxn"}],
        "bootstrap": {"n": 20},
        "threads": 1,
    }
    for k, v in over.items():
        cfg[k] = v
    return cfg


class FakeDirectProbe:
    """One cluster per label; label distance = distance between label centroids."""

    def __init__(self, **kw):
        self.kw = kw

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        y = np.asarray(y)
        self.labels_ = np.unique(y)
        C = np.stack([X[y == k].mean(0) for k in self.labels_])
        D = np.linalg.norm(C[:, None] - C[None], axis=-1)
        self._D = D
        self.n_clusters_ = len(self.labels_)
        self.n_labels_ = len(self.labels_)
        self.linear_ = True
        return self

    def label_distances(self):
        return self._D

    def distance_vector(self):
        return self._D[np.triu_indices(len(self._D), 1)]

    def min_distances(self):
        D = self._D + np.diag(np.full(len(self._D), np.inf))
        return D.min(1)

    def save(self, path):
        Path(path).mkdir(parents=True, exist_ok=True)
        (Path(path) / "fake.json").write_text(json.dumps({"n": int(self.n_clusters_)}))


def fake_fit(X, y, options):
    return FakeDirectProbe(**options).fit(X, y)
