"""The probe grid's finished parts kept on disk, so that an interrupted protocol resumes.

A paper-sized grid (128 settings x every layer, 5 seeds) on a large task takes hours on a CPU,
longer than a machine may be held. :func:`~ftprobe.probe.protocol.run_protocol` trains the grid
in chunks (one per layer and hidden shape on a CPU); with a ``resume_dir`` each finished chunk
leaves its models' scores here, and each layer's best model so far its weights (the protocol
retrains that setting with its other seeds and reuses this one as the first). A resumed run
restores the finished chunks instead of training them again and ends with the same numbers as
an uninterrupted one: models do not depend on what else trains beside them, the weights are the
saved float32 tensors, and the scores round-trip exactly through JSON.

The folder is tied to its inputs: a fingerprint of the training data and the protocol's
settings is written first, and a folder holding another fingerprint is refused.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ftprobe.atomic import write_bytes, write_json
from ftprobe.errors import UserError
from ftprobe.probe.batched import ModelSpec, TrainedModel

FORMAT = 1


def grid_fingerprint(settings: dict, arrays: Sequence) -> str:
    """Hash of the protocol's settings and of every array the grid reads (vectors, labels)."""
    h = hashlib.sha256(json.dumps({"format": FORMAT, **settings}, sort_keys=True, default=str).encode())
    for a in arrays:
        a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(np.ascontiguousarray(a).data)  # the buffer itself: no copy of a large layer stack
    return h.hexdigest()[:32]


def _spec_json(s: ModelSpec) -> list:
    return [s.layer, list(s.hidden), s.alpha, s.seed]


class GridStore:
    """A folder with the grid's finished chunks (``chunk-<i>.json``) and, per layer index, the
    best model among them (``best-<layer>.safetensors``)."""

    def __init__(self, folder: str | Path, fingerprint: str):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        marker = self.folder / "fingerprint.json"
        if marker.is_file():
            held = json.loads(marker.read_text()).get("fingerprint")
            if held != fingerprint:
                raise UserError(f"{self.folder}: holds the probe grid of other data or settings; "
                                "remove it to start over")
        else:
            write_json(marker, {"format": FORMAT, "fingerprint": fingerprint})
        self._best: dict[int, tuple[float, int, TrainedModel]] = {}  # layer -> (score, spec index, model)

    # -- chunks ------------------------------------------------------------------------------

    def restore(self, chunk: int, specs: list[ModelSpec], order: list[int]) -> list[TrainedModel] | None:
        """The models of a finished chunk, without weights (None: not finished here, or written
        for other specs). ``order``: the specs' positions in the whole grid (for the tie rule)."""
        path = self.folder / f"chunk-{chunk}.json"
        if not path.is_file():
            return None
        rec = json.loads(path.read_text())
        if rec.get("specs") != [_spec_json(s) for s in specs]:
            return None
        models = [TrainedModel(s, [], [], float(m["best_score"]), int(m["n_iter"]), int(m["best_iter"]),
                               bool(m["pruned"]), [float(x) for x in m["curve"]])
                  for s, m in zip(specs, rec["models"], strict=True)]
        for i, m in zip(order, models, strict=True):
            self._consider(m, i, saved=True)
        return models

    def record(self, chunk: int, models: list[TrainedModel], order: list[int]) -> None:
        """Keep a chunk just trained: the best model of its layer first (if it is one of
        these), then the chunk's scores, so a chunk on disk always has its best saved."""
        for i, m in zip(order, models, strict=True):
            self._consider(m, i, saved=False)
        write_json(self.folder / f"chunk-{chunk}.json", {
            "specs": [_spec_json(m.spec) for m in models],
            "models": [{"best_score": m.best_score, "n_iter": m.n_iter, "best_iter": m.best_iter,
                        "pruned": m.pruned, "curve": list(m.curve)} for m in models]})

    # -- each layer's best model --------------------------------------------------------------

    def _consider(self, m: TrainedModel, index: int, saved: bool) -> None:
        """The protocol's choice among the models seen so far: the highest score, ties to the
        earliest in grid order; pruned models never."""
        if m.pruned:
            return
        layer = m.spec.layer
        held = self._best.get(layer)
        if held is not None and (held[0], -held[1]) >= (m.best_score, -index):
            return
        self._best[layer] = (m.best_score, index, m)
        if not saved:
            self._save_weights(m)

    def _save_weights(self, m: TrainedModel) -> None:
        from safetensors.torch import save

        tensors = {f"w{i}": w.contiguous() for i, w in enumerate(m.weights)}
        tensors.update({f"b{i}": b.contiguous() for i, b in enumerate(m.biases)})
        write_bytes(self.folder / f"best-{m.spec.layer}.safetensors",
                    save(tensors, metadata={"spec": json.dumps(_spec_json(m.spec))}))

    def weights_of(self, m: TrainedModel) -> TrainedModel:
        """A restored model with its weights, read back (it must be its layer's saved best)."""
        if m.weights:
            return m
        from safetensors import safe_open

        path = self.folder / f"best-{m.spec.layer}.safetensors"
        with safe_open(str(path), framework="pt") as f:
            if json.loads(f.metadata()["spec"]) != _spec_json(m.spec):
                raise UserError(f"{path}: holds another setting's model; remove {self.folder} to start over")
            n = sum(1 for k in f.keys() if k.startswith("w"))
            weights = [f.get_tensor(f"w{i}") for i in range(n)]
            biases = [f.get_tensor(f"b{i}") for i in range(n)]
        return TrainedModel(m.spec, weights, biases, m.best_score, m.n_iter, m.best_iter, m.pruned, m.curve)
