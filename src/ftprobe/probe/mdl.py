"""MDL probing with the online code (Voita & Titov 2020).

Accuracy says whether a probe *can* find the labels; the description length says how much effort
it takes. The training data (in a seeded random order) is sent in blocks: the first block with a
uniform code (``n1 * log2 K`` bits), every later block with a probe trained on all the blocks
before it, costing ``-sum log2 p(y | x)`` bits. The total is the *codelength*; ``compression`` is
the uniform codelength of all the data divided by it (> 1: the representation helps).

Block boundaries are the usual fractions of the training set: 0.1, 0.2, 0.4, 0.8, 1.6, 3.2,
6.25, 12.5, 25, 50 and 100 %. Each block's probe is trained with the same trainer (Adam), but
early-stopped on validation *cross-entropy* rather than accuracy (the codelength is a
cross-entropy, and accuracy on a tiny validation slice is too coarse to stop on); validation
data is the dev split when given, else a seeded 10 % slice of the transmitted part. All layers of one store entry are trained together, one block at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from ftprobe.probe.batched import BatchedTrainer, ModelSpec, predict_logits, resolve_device

__all__ = ["MDL_PORTIONS", "MDLResult", "mdl_codelength", "mdl_online", "block_bounds"]

MDL_PORTIONS: tuple[float, ...] = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.25, 12.5, 25.0, 50.0, 100.0)


@dataclass
class MDLResult:
    """Online codelength of one layer, in bits."""

    codelength: float
    uniform_codelength: float
    compression: float
    n: int
    n_labels: int
    blocks: list[dict] = field(default_factory=list)  # start, end, bits per block

    def to_json(self) -> dict:
        return asdict(self)


def block_bounds(n: int, portions: Sequence[float] = MDL_PORTIONS) -> list[int]:
    """Cumulative block ends for ``n`` points (percentages -> counts, strictly increasing)."""
    ends: list[int] = []
    for p in sorted(portions):
        t = min(n, max(1, int(round(p / 100.0 * n))))
        if not ends or t > ends[-1]:
            ends.append(t)
    if ends[-1] != n:
        ends.append(n)
    return ends


def mdl_online(
    X: torch.Tensor,
    y: np.ndarray,
    n_labels: int,
    specs: Sequence[ModelSpec],
    *,
    X_dev: torch.Tensor | None = None,
    y_dev: np.ndarray | None = None,
    portions: Sequence[float] = MDL_PORTIONS,
    seed: int = 0,
    val_fraction: float = 0.1,
    trainer_kw: Mapping | None = None,
) -> list[MDLResult]:
    """Online codelength of each spec (one per input layer of ``X`` [L, n, D]), batched per block."""
    trainer_kw = dict(trainer_kw or {})
    y = np.asarray(y, dtype=np.int64)
    n = len(y)
    if n == 0:
        raise ValueError("MDL needs training data")
    order = np.random.default_rng([seed, 3]).permutation(n)
    Xo = X[:, torch.from_numpy(order).to(X.device)]
    yo = y[order]
    ends = block_bounds(n, portions)
    log2k = math.log2(n_labels)
    results = [MDLResult(0.0, n * log2k, 0.0, n, n_labels) for _ in specs]
    first = ends[0]
    for r in results:
        r.blocks.append({"start": 0, "end": first, "bits": first * log2k})
    for start, end in zip(ends[:-1], ends[1:], strict=True):
        if X_dev is not None and y_dev is not None:
            Xtr, ytr, Xv, yv = Xo[:, :start], yo[:start], X_dev, np.asarray(y_dev)
        else:
            n_val = max(1, int(round(val_fraction * start))) if start > 1 else 0
            vrng = np.random.default_rng([seed, 4, start])
            perm = vrng.permutation(start)
            vi, ti = np.sort(perm[:n_val]), np.sort(perm[n_val:])
            if n_val == 0:
                vi = ti  # a single point: validate on it (early stopping is moot)
            Xtr, ytr = Xo[:, torch.from_numpy(ti).to(X.device)], yo[ti]
            Xv, yv = Xo[:, torch.from_numpy(vi).to(X.device)], yo[vi]
        trainer = BatchedTrainer(specs, n_labels, **{"stop_on": "loss", **trainer_kw})
        models = trainer.fit(Xtr, torch.from_numpy(ytr), Xv, torch.from_numpy(yv))
        logits = predict_logits(models, Xo[:, start:end])
        target = torch.from_numpy(yo[start:end])
        for r, lg in zip(results, logits, strict=True):
            nats = torch.nn.functional.cross_entropy(lg.double(), target, reduction="sum").item()
            r.blocks.append({"start": start, "end": end, "bits": nats / math.log(2)})
    for r in results:
        r.codelength = float(sum(b["bits"] for b in r.blocks))
        r.compression = r.uniform_codelength / r.codelength if r.codelength > 0 else float("inf")
    return results


def mdl_codelength(
    X: np.ndarray | Mapping[int, np.ndarray],
    y: np.ndarray,
    n_labels: int | None = None,
    *,
    probe: str = "mlp",
    hidden: Sequence[int] = (256, 256),
    alpha: float = 1e-4,
    portions: Sequence[float] = MDL_PORTIONS,
    seed: int = 0,
    X_dev: np.ndarray | Mapping[int, np.ndarray] | None = None,
    y_dev: np.ndarray | None = None,
    device: str = "auto",
    **trainer_kw,
) -> MDLResult | dict[int, MDLResult]:
    """Online codelength of a probe (``"mlp"`` with ``hidden`` or ``"linear"``) on ``X``.

    ``X`` is one array (returns one :class:`MDLResult`) or a mapping layer -> array (all layers
    are coded together; returns a mapping).
    """
    single = not isinstance(X, Mapping)
    layers = {0: X} if single else dict(X)
    keys = list(layers)
    dev = resolve_device(device)
    Xs = torch.from_numpy(np.stack([np.asarray(layers[k], np.float32) for k in keys])).to(dev)
    y = np.asarray(y, dtype=np.int64)
    k = int(n_labels) if n_labels is not None else int(y.max()) + 1
    Xd = None
    if X_dev is not None:
        dl = {0: X_dev} if single else dict(X_dev)
        Xd = torch.from_numpy(np.stack([np.asarray(dl[kk], np.float32) for kk in keys])).to(dev)
    hid = tuple(hidden) if probe == "mlp" else ()
    specs = [ModelSpec(i, hid, float(alpha), seed, tag=kk) for i, kk in enumerate(keys)]
    res = mdl_online(Xs, y, k, specs, X_dev=Xd, y_dev=y_dev, portions=portions, seed=seed,
                     trainer_kw={"device": dev, **trainer_kw})
    return res[0] if single else dict(zip(keys, res, strict=True))
