"""The classifier-probe protocol of the study, run for all layers of one representation at once.

Paper protocol (Zhou & Srikumar 2022): an MLP with two hidden ReLU layers; a grid of hidden sizes
{32,64,128,256}^2 and L2 weights 1e-7 .. 1; Adam; at most 1000 iterations; the best setting
retrained with 5 initialisations; mean and std of accuracy reported. Here:

1. *grid*: every (hidden sizes, L2) setting for every layer is trained in one batched run
   (:class:`~ftprobe.probe.batched.BatchedTrainer`), early-stopped on validation accuracy
   (the dev split when given, else a seeded slice of train); the best setting of each layer is
   the one with the highest validation accuracy (ties: earliest in grid order).
   ``search="halving"`` prunes the grid by successive halving: at epochs ``r0 * eta^k`` only the
   best ``1/eta`` of each layer's remaining settings keep training. It changes which settings
   are *tried to the end*, not the protocol after it, and is much cheaper.
2. *seeds*: the best setting of every layer is retrained with ``seeds`` seeds, again all
   together; test accuracy mean, sample std (ddof=1) and a 95 % t-interval over the seeds.
3. *control* (optional): the same best setting and seeds trained on control labels
   (:mod:`ftprobe.probe.control`); selectivity = accuracy - control accuracy.
4. *mdl* (optional): online codelength of the best setting (:mod:`ftprobe.probe.mdl`).

Test points whose label never occurs in training are counted as errors and reported.

``standardize=True`` (not the paper's protocol) scales every feature of a layer to mean 0 and
standard deviation 1 over the rows the probes train on, before any probe sees them. It matters
where a layer's variation is tiny against its offset: all-MiniLM-L6-v2's ``[CLS]`` vectors lie
within 0.02 of their mean at layers 1-3 (norm 8-10), and the unscaled probe stops at the
majority class while the same probe on standardized vectors reads 67-79 % of TREC-50.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ftprobe.errors import UserError
from ftprobe.probe.batched import BatchedTrainer, ModelSpec, predict_logits, resolve_device
from ftprobe.probe.control import control_labels
from ftprobe.probe.grid_store import GridStore, grid_fingerprint
from ftprobe.probe.mdl import MDL_PORTIONS, mdl_online

__all__ = ["ProbeProtocol", "LayerResult", "ProtocolResult", "run_protocol", "check_inputs",
           "feature_scales", "t_interval"]

DEFAULT_L2: tuple[float, ...] = tuple(10.0**e for e in range(-7, 1))


@dataclass
class ProbeProtocol:
    """Every knob of the protocol; the defaults are the paper's."""

    probe: Literal["mlp", "linear"] = "mlp"
    hidden_sizes: tuple[int, ...] = (32, 64, 128, 256)
    l2: tuple[float, ...] = DEFAULT_L2
    seeds: int = 5
    seed: int = 0
    max_iter: int = 1000
    patience: int = 10
    tol: float = 1e-4
    batch_size: int = 200
    lr: float = 1e-3
    val_fraction: float = 0.1  # slice of train used for early stopping when there is no dev split
    search: Literal["grid", "halving"] = "grid"
    halving_r0: int = 3
    halving_eta: int = 3
    mdl_portions: tuple[float, ...] = MDL_PORTIONS
    control_lowercase: bool = True
    device: str = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "fp32"  # bf16: matmuls in bf16 (AMX, GPUs)
    # How the grid is scheduled (the results are the same: models are independent of their
    # batch). "together": every probe in one lock-step run (best on a GPU); "chunks": one run
    # per (layer, shape) for the exhaustive grid, per layer for halving, so that the models'
    # parameters and Adam state stay in cache (on a 2-core CPU: 1.2-1.4x at a fixed number of
    # epochs, 4-8 % on the paper's grid with early stopping); "auto": chunks on CPU.
    schedule: Literal["auto", "together", "chunks"] = "auto"
    threads: int | None = None  # torch CPU threads (None: leave torch's setting)
    standardize: bool = False  # z-score each feature over the training rows (see the module doc)

    def configs(self) -> list[tuple[tuple[int, ...], float]]:
        """Grid settings in order: (hidden sizes, L2 weight)."""
        hidden = ([tuple(h) for h in itertools.product(self.hidden_sizes, repeat=2)]
                  if self.probe == "mlp" else [()])
        return [(h, float(a)) for h in hidden for a in self.l2]

    def trainer_kw(self) -> dict:
        return {"lr": self.lr, "batch_size": self.batch_size, "max_iter": self.max_iter,
                "patience": self.patience, "tol": self.tol, "device": self.device,
                "precision": self.precision}


@dataclass
class LayerResult:
    layer: int
    accuracy_mean: float
    accuracy_std: float
    accuracy_ci95: tuple[float, float]
    accuracies: list[float]
    best_hidden: tuple[int, ...]
    best_l2: float
    dev_accuracy: float
    n_iter: list[int]
    grid: list[dict] = field(default_factory=list)
    control_accuracy_mean: float | None = None
    control_accuracy_std: float | None = None
    control_accuracies: list[float] | None = None
    selectivity: float | None = None
    codelength: float | None = None
    uniform_codelength: float | None = None
    compression: float | None = None
    mdl_blocks: list[dict] | None = None

    @property
    def accuracy(self) -> float:
        return self.accuracy_mean

    def to_json(self) -> dict:
        d = asdict(self)
        d["accuracy"] = self.accuracy_mean
        d["accuracy_ci95"] = list(self.accuracy_ci95)
        d["best_hidden"] = list(self.best_hidden)
        return d


@dataclass
class ProtocolResult:
    layers: dict[int, LayerResult]
    protocol: ProbeProtocol
    n_train: int
    n_dev: int
    n_test: int
    n_labels: int
    dev_source: str
    unseen_test_labels: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_json(self) -> dict:
        proto = asdict(self.protocol)
        return {
            "protocol": proto,
            "n_train": self.n_train, "n_dev": self.n_dev, "n_test": self.n_test,
            "n_labels": self.n_labels, "dev_source": self.dev_source,
            "unseen_test_labels": {str(k): v for k, v in self.unseen_test_labels.items()},
            "n_unseen_test": int(sum(self.unseen_test_labels.values())),
            "seconds": self.seconds,
            "layers": {str(k): v.to_json() for k, v in self.layers.items()},
        }


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, sample std, low, high): Student-t interval over seeds (degenerate for one value)."""
    from scipy import stats

    a = np.asarray(values, dtype=np.float64)
    mean = float(a.mean())
    if len(a) < 2:
        return mean, 0.0, mean, mean
    std = float(a.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, len(a) - 1)) * std / math.sqrt(len(a))
    return mean, std, mean - half, mean + half


def check_inputs(name: str, layers: Mapping[int, np.ndarray], y: np.ndarray) -> None:
    """One clear error for mismatched lengths, non-finite values or an empty split."""
    if not layers:
        raise UserError(f"{name}: no layers given")
    y = np.asarray(y)
    if len(y) == 0:
        raise UserError(f"{name}: the split is empty (0 targets)")
    dims = set()
    for k, X in layers.items():
        if X.ndim != 2:
            raise UserError(f"{name} layer {k}: vectors must be a 2-D array, got shape {X.shape}")
        if len(X) != len(y):
            raise UserError(f"{name} layer {k}: {len(X)} vectors but {len(y)} labels")
        if not np.isfinite(np.asarray(X, dtype=np.float32)).all():
            raise UserError(f"{name} layer {k}: vectors contain NaN or infinite values")
        dims.add(X.shape[1])
    if len(dims) > 1:
        raise UserError(f"{name}: layers have different vector sizes {sorted(dims)}")


def _log(progress: bool, msg: str) -> None:
    if progress:
        print(f"[probe] {msg}", file=sys.stderr, flush=True)


def run_protocol(
    train_layers: Mapping[int, np.ndarray],
    y_train: np.ndarray,
    test_layers: Mapping[int, np.ndarray],
    y_test: np.ndarray,
    dev_layers: Mapping[int, np.ndarray] | None = None,
    y_dev: np.ndarray | None = None,
    protocol: ProbeProtocol | None = None,
    n_labels: int | None = None,
    control: bool = False,
    train_types: Sequence[str] | None = None,
    test_types: Sequence[str] | None = None,
    dev_types: Sequence[str] | None = None,
    mdl: bool = False,
    progress: bool = True,
    report: Callable[[str, int, int], None] | None = None,
    resume_dir: str | Path | None = None,
) -> ProtocolResult:
    """Grid search, seed retraining and (optionally) control task and MDL for every layer.

    ``report(phase, done, total)``: called as the work advances (probes of the grid trained,
    then the seeds' retraining), e.g. to show a long study step's progress.

    Labels are integers in ``[0, n_labels)``; a test label ``< 0`` or absent from training is an
    unseen label (counted wrong). ``*_types`` are the surface strings of the targets (needed
    for ``control``; ``dev_types`` when a dev split is given).

    ``resume_dir``: a folder where the grid's finished chunks are kept (:mod:`.grid_store`); a
    run interrupted during the grid and started again with the same folder and inputs restores
    them and ends with the same numbers. The caller removes the folder once the result is safe.
    """
    proto = protocol or ProbeProtocol()
    t0 = time.perf_counter()
    if proto.threads:
        torch.set_num_threads(int(proto.threads))
    keys = list(train_layers)
    K = _checked(keys, train_layers, y_train, test_layers, y_test, dev_layers, y_dev, n_labels, control,
                 train_types, test_types)
    y_test = np.asarray(y_test, dtype=np.int64)
    data = _ProbeData.lay_out(keys, proto, train_layers, y_train, test_layers, dev_layers, y_dev,
                              train_types, dev_types, control)
    unseen_mask, unseen = _unseen_test_labels(data.y_train, y_test, K)
    if unseen:
        _log(progress, f"{int(unseen_mask.sum())} test targets have labels never seen in "
                       f"training; counted as errors")
    kw = proto.trainer_kw()
    yt = torch.from_numpy(data.y_train)
    yd = torch.from_numpy(np.where((data.y_dev >= 0) & (data.y_dev < K), data.y_dev, -1))
    X_tr, X_dv, X_te = data.X_train, data.X_dev, data.X_test

    # 1. grid
    configs = proto.configs()
    specs = [ModelSpec(li, h, a, proto.seed, tag=k)
             for li, k in enumerate(keys) for h, a in configs]
    _log(progress, f"grid: {len(configs)} settings x {len(keys)} layers = {len(specs)} probes, "
                   f"{len(data.y_train)} train / {len(data.y_dev)} dev targets, device {data.device}")
    store = None
    if resume_dir is not None:
        settings = {**asdict(proto), "keys": [str(k) for k in keys], "n_labels": K}
        store = GridStore(resume_dir, grid_fingerprint(settings, [X_tr, yt, X_dv, yd]))
    grid = _fit_grid(specs, proto, K, kw, data.device, X_tr, yt, X_dv, yd, report, store)
    best, best_model, grid_rows = _best_of_grid(grid, len(keys))
    if store is not None:  # a best setting restored from disk: its weights, read back
        best_model = {li: store.weights_of(m) for li, m in best_model.items()}
    _log(progress, f"grid done in {time.perf_counter() - t0:.1f}s")

    # 2. seeds
    seed_list = [proto.seed + i for i in range(proto.seeds)]
    final_specs = [ModelSpec(li, best[li][0], best[li][1], s, tag=keys[li])
                   for li in range(len(keys)) for s in seed_list]
    # The grid already trained each best setting with the first seed, exactly as a retrain
    # would (models are independent of their batch), so that model is reused.
    reuse = {(li, proto.seed): m for li, m in best_model.items()}
    if report is not None:
        report("probe seeds", 0, len(final_specs))
    acc = _train_and_test(final_specs, K, kw, X_tr, yt, X_dv, yd, X_te, y_test, unseen_mask,
                          reuse=reuse)
    _log(progress, f"seeds done in {time.perf_counter() - t0:.1f}s")
    if report is not None:
        report("probe seeds", len(final_specs), len(final_specs))

    # 3. control
    ctrl_acc = None
    if control:
        c_tr = control_labels(data.types_train, data.y_train, K, proto.seed, proto.control_lowercase)
        c_dv = control_labels(data.types_dev, data.y_train, K, proto.seed, proto.control_lowercase)
        c_te = control_labels(list(test_types), data.y_train, K, proto.seed, proto.control_lowercase)
        ctrl_acc = _train_and_test(final_specs, K, kw, X_tr, torch.from_numpy(c_tr), X_dv,
                                   torch.from_numpy(c_dv), X_te, c_te,
                                   np.zeros(len(c_te), dtype=bool))
        _log(progress, f"control done in {time.perf_counter() - t0:.1f}s")

    # 4. MDL
    mdl_res = None
    if mdl:
        mdl_specs = [ModelSpec(li, best[li][0], best[li][1], proto.seed, tag=keys[li])
                     for li in range(len(keys))]
        mdl_res = mdl_online(X_tr, data.y_train, K, mdl_specs, X_dev=X_dv, y_dev=yd.numpy(),
                             portions=proto.mdl_portions, seed=proto.seed, trainer_kw=kw)
        _log(progress, f"mdl done in {time.perf_counter() - t0:.1f}s")

    layers = {k: _layer_result(k, [acc[(li, s)] for s in seed_list], best[li], grid_rows[li],
                               None if ctrl_acc is None else [ctrl_acc[(li, s)][0] for s in seed_list],
                               None if mdl_res is None else mdl_res[li])
              for li, k in enumerate(keys)}
    return ProtocolResult(layers=layers, protocol=proto, n_train=len(data.y_train), n_dev=len(data.y_dev),
                          n_test=len(y_test), n_labels=K, dev_source=data.dev_source,
                          unseen_test_labels=unseen, seconds=time.perf_counter() - t0)


def _checked(keys, train_layers, y_train, test_layers, y_test, dev_layers, y_dev, n_labels, control,
             train_types, test_types) -> int:
    """The inputs' checks, one message each; returns the number of labels."""
    if set(test_layers) != set(keys) or (dev_layers is not None and set(dev_layers) != set(keys)):
        raise UserError("train, dev and test must hold the same layers")
    check_inputs("train", train_layers, y_train)
    check_inputs("test", test_layers, y_test)
    if dev_layers is not None:
        if y_dev is None:
            raise UserError("dev vectors given without dev labels")
        check_inputs("dev", dev_layers, y_dev)
    y_train = np.asarray(y_train, dtype=np.int64)
    y_test = np.asarray(y_test, dtype=np.int64)
    if (y_train < 0).any():
        raise UserError("train: labels must be non-negative integers")
    K = int(n_labels) if n_labels is not None else int(max(y_train.max(), y_test.max())) + 1
    if y_train.max() >= K:
        raise UserError(f"train: label {int(y_train.max())} out of range for {K} labels")
    if K < 2:
        raise UserError("a probe needs at least 2 labels")
    if control and (train_types is None or test_types is None):
        raise UserError("control task needs the target word types of train and test")
    dims = {train_layers[k].shape[1] for k in keys} | {test_layers[k].shape[1] for k in keys}
    if len(dims) > 1:
        raise UserError(f"train and test vectors differ in size: {sorted(dims)}")
    return K


@dataclass
class _ProbeData:
    """The vectors the probes read, stacked by layer on their device: train, the split that
    selects the setting (dev, or a seeded slice held out of train) and test, with the labels and,
    for the control task, the word types of the first two."""

    device: torch.device
    X_train: torch.Tensor
    y_train: np.ndarray
    X_dev: torch.Tensor
    y_dev: np.ndarray
    X_test: torch.Tensor
    types_train: list[str] | None
    types_dev: list[str] | None
    dev_source: str

    @classmethod
    def lay_out(cls, keys, proto: ProbeProtocol, train_layers, y_train, test_layers, dev_layers, y_dev,
                train_types, dev_types, control: bool) -> _ProbeData:
        dev = resolve_device(proto.device)
        y_train = np.asarray(y_train, dtype=np.int64)
        if dev_layers is None:
            n = len(y_train)
            n_val = max(1, int(round(proto.val_fraction * n)))
            if n - n_val < 1:
                raise UserError("train: too few targets to hold out a validation slice")
            perm = np.random.default_rng([proto.seed, 5]).permutation(n)
            vi, ti = np.sort(perm[:n_val]), np.sort(perm[n_val:])
        scales = None
        if proto.standardize:  # measured on the rows the probes train on, never on dev or test
            scales = feature_scales(train_layers, ti if dev_layers is None else None)
        to_t = _stacker(keys, dev, scales)
        X_tr, X_te = to_t(train_layers), to_t(test_layers)
        types_tr = list(train_types) if train_types is not None else None
        if dev_layers is not None:
            X_dv, y_dv, dev_source = to_t(dev_layers), np.asarray(y_dev, dtype=np.int64), "dev"
            types_dv = list(dev_types) if dev_types is not None else None
            if control and types_dv is None:
                raise UserError("control task needs the target word types of the dev split")
        else:
            X_dv, y_dv = X_tr[:, torch.from_numpy(vi).to(dev)], y_train[vi]
            X_tr, y_train = X_tr[:, torch.from_numpy(ti).to(dev)], y_train[ti]
            types_dv = [types_tr[i] for i in vi] if types_tr is not None else None
            types_tr = [types_tr[i] for i in ti] if types_tr is not None else None
            dev_source = f"train slice ({proto.val_fraction:g}, seed {proto.seed})"
        return cls(dev, X_tr, y_train, X_dv, y_dv, X_te, types_tr, types_dv, dev_source)


def _unseen_test_labels(y_train: np.ndarray, y_test: np.ndarray, K: int) -> tuple[np.ndarray, dict[int, int]]:
    """The test targets whose label training never saw (counted wrong), and their counts."""
    seen = np.zeros(K + 1, dtype=bool)
    seen[y_train] = True
    y_te_safe = np.where((y_test >= 0) & (y_test < K), y_test, K)
    unseen_mask = ~seen[y_te_safe]
    unseen = {int(k): int(c) for k, c in zip(*np.unique(y_test[unseen_mask], return_counts=True),
                                               strict=True)}
    return unseen_mask, unseen


def _best_of_grid(grid, n_layers: int):
    """Per layer: the best setting on dev (hidden, l2, dev accuracy), its model, and every
    setting's row for the report."""
    best: dict[int, tuple[tuple[int, ...], float, float]] = {}
    best_model = {}
    grid_rows: dict[int, list[dict]] = {li: [] for li in range(n_layers)}
    for m in grid:
        s = m.spec
        grid_rows[s.layer].append({"hidden": list(s.hidden), "l2": s.alpha,
                                   "dev_accuracy": m.best_score, "n_iter": m.n_iter,
                                   "pruned": m.pruned})
        if not m.pruned and (s.layer not in best or m.best_score > best[s.layer][2]):
            best[s.layer] = (s.hidden, s.alpha, m.best_score)
            best_model[s.layer] = m
    return best, best_model, grid_rows


def _layer_result(layer, seeds: list[tuple[float, int]], best, grid_rows: list[dict],
                  control: list[float] | None, mdl) -> LayerResult:
    """One layer's result: the seeds' test accuracies (and epochs), the chosen setting, the
    grid, and the control task's and MDL's numbers when they ran."""
    accs = [a for a, _ in seeds]
    mean, std, lo, hi = t_interval(accs)
    lr = LayerResult(
        layer=layer, accuracy_mean=mean, accuracy_std=std, accuracy_ci95=(lo, hi),
        accuracies=accs, best_hidden=tuple(best[0]), best_l2=best[1],
        dev_accuracy=best[2], n_iter=[n for _, n in seeds], grid=grid_rows,
    )
    if control is not None:
        cm, cs, _, _ = t_interval(control)
        lr.control_accuracies, lr.control_accuracy_mean, lr.control_accuracy_std = control, cm, cs
        lr.selectivity = mean - cm
    if mdl is not None:
        lr.codelength, lr.uniform_codelength = mdl.codelength, mdl.uniform_codelength
        lr.compression, lr.mdl_blocks = mdl.compression, mdl.blocks
    return lr


def feature_scales(layers: Mapping[int, np.ndarray], rows: np.ndarray | None = None
                   ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Per layer, each feature's mean and standard deviation over ``rows`` (all rows if None).

    Float64, so that a tiny variation on a large offset survives the subtraction. A constant
    feature gets scale 1 (it becomes 0 on the rows it was measured on); so does one whose spread
    is only the rounding of its mean (below 1e-12 of its size), which would otherwise blow the
    rounding up to unit size.
    """
    out = {}
    for k, X in layers.items():
        A = np.asarray(X if rows is None else np.asarray(X)[rows], dtype=np.float64)
        mu, sd = A.mean(0), A.std(0)
        constant = sd <= 1e-12 * np.maximum(np.abs(mu), 1.0)
        out[k] = (mu, np.where(constant, 1.0, sd))
    return out


def _stacker(keys: list[int], dev: torch.device,
             scales: dict[int, tuple[np.ndarray, np.ndarray]] | None = None):
    def one(layers: Mapping[int, np.ndarray], k: int) -> np.ndarray:
        if scales is None:
            return np.asarray(layers[k], np.float32)
        mu, sd = scales[k]
        return ((np.asarray(layers[k], np.float64) - mu) / sd).astype(np.float32)

    def stack(layers: Mapping[int, np.ndarray]) -> torch.Tensor:
        return torch.from_numpy(np.stack([one(layers, k) for k in keys])).to(dev)
    return stack


def _train_and_test(specs, K, kw, X_tr, y_tr, X_dv, y_dv, X_te, y_te, wrong_mask, reuse=None):
    """Train ``specs`` together; {(layer index, seed): (test accuracy, epochs)}.

    ``reuse`` maps (layer index, seed) to an already trained model of that very spec."""
    reuse = reuse or {}
    todo = [s for s in specs if (s.layer, s.seed) not in reuse]
    trained = BatchedTrainer(todo, K, **kw).fit(X_tr, y_tr, X_dv, y_dv) if todo else []
    done = {(m.spec.layer, m.spec.seed): m for m in trained}
    models = [reuse.get((s.layer, s.seed)) or done[(s.layer, s.seed)] for s in specs]
    logits = predict_logits(models, X_te)
    y_te = np.asarray(y_te)
    out = {}
    for m, lg in zip(models, logits, strict=True):
        correct = (lg.argmax(1).numpy() == y_te) & ~wrong_mask
        out[(m.spec.layer, m.spec.seed)] = (float(correct.mean()), m.n_iter)
    return out


def _fit_grid(specs, proto, K, kw, dev, X_tr, yt, X_dv, yd, report=None, store: GridStore | None = None):
    """Train the grid's probes, in one lock-step run or in chunks (see ``schedule``); with a
    ``store``, chunks finished by an earlier run are restored instead of trained."""
    schedule = proto.schedule
    if schedule not in ("auto", "together", "chunks"):
        raise UserError(f"schedule must be auto, together or chunks, not {schedule!r}")
    if schedule == "auto":
        schedule = "chunks" if dev.type == "cpu" else "together"
    if schedule == "together":
        chunks = [list(range(len(specs)))]
    else:
        # Halving compares the settings of a layer at each rung: a layer stays in lock-step.
        by = (lambda s: s.layer) if proto.search == "halving" else (lambda s: (s.layer, s.hidden))
        groups: dict = {}
        for i, sp in enumerate(specs):
            groups.setdefault(by(sp), []).append(i)
        chunks = list(groups.values())
    out: list = [None] * len(specs)
    done = 0
    for c, idx in enumerate(chunks):
        part = [specs[i] for i in idx]
        models = store.restore(c, part, idx) if store is not None else None
        if models is None:
            if report is not None:
                report("probe grid", done, len(specs))
            prune = _halving(part, proto) if proto.search == "halving" else None
            models = BatchedTrainer(part, K, **kw).fit(X_tr, yt, X_dv, yd, prune=prune)
            if store is not None:
                store.record(c, models, idx)
        for i, m in zip(idx, models, strict=True):
            out[i] = m
        done += len(idx)
    if report is not None:
        report("probe grid", done, len(specs))
    return out


def _halving(specs: list[ModelSpec], proto: ProbeProtocol):
    """Successive-halving rule: at epochs r0, r0*eta, ... keep each layer's best 1/eta."""
    layer_of = np.array([s.layer for s in specs])
    rungs = set()
    r = max(1, proto.halving_r0)
    while r <= proto.max_iter:
        rungs.add(r)
        r *= max(2, proto.halving_eta)

    def prune(epoch: int, scores: np.ndarray, alive: np.ndarray) -> np.ndarray:
        if epoch not in rungs:
            return alive
        new = alive.copy()
        for li in np.unique(layer_of):
            idx = np.flatnonzero((layer_of == li) & alive)
            keep = max(1, math.ceil(len(idx) / proto.halving_eta))
            if keep >= len(idx):
                continue
            order = idx[np.argsort(-scores[idx], kind="stable")]
            new[order[keep:]] = False
        return new

    return prune
