"""The step functions. Each is top-level and takes plain JSON, so any executor can run it.

``run_step(payload)`` is what an executor calls: it runs one step in its work folder under
``OUT/steps`` and commits the result there (see ``cache.py``); the return value is the result.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe.atomic import save_npy, write_json
from ftprobe.errors import UserError
from ftprobe.plain import plain
from ftprobe.probe.directprobe.coincident import coincident_labels
from ftprobe.study.cache import StepCache
from ftprobe.study.cost import CpuClock, ran_on
from ftprobe.study.dp_fits import (
    SeriesFit,
    SeriesFits,
    directprobe_options,
    directprobe_summary,
    finite,
    fit_directprobe,
    run_series_fits,
)
from ftprobe.study.progress import ProgressFile

log = logging.getLogger(__name__)


class Context:
    def __init__(self, payload: dict):
        self.out = Path(payload["out"])
        self.cache = StepCache(self.out / "steps")
        self.store_root = self.out / "store"
        self.deps: dict[str, dict] = payload["deps"]  # name -> {"kind", "key"}
        self.threads = int(payload.get("threads") or 1)
        self.progress: ProgressFile | None = None  # set by run_step, in the step's work folder

    def report(self, phase: str, done: int | None = None, total: int | None = None, detail: str = "") -> None:
        if self.progress is not None:
            self.progress.update(phase, done, total, detail)

    def dep_result(self, name: str) -> dict:
        d = self.deps[name]
        return self.cache.load(d["kind"], d["key"])

    def dep_path(self, name: str) -> Path:
        d = self.deps[name]
        return self.cache.path(d["kind"], d["key"])

    def entry(self, name: str):
        from ftprobe.represent import Store

        return Store(self.store_root).open(self.dep_result(name)["entry"])


def set_threads(n: int) -> None:
    import torch

    n = max(1, int(n))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def run_step(payload: dict) -> dict:
    """Run one step (unless it is already done) and return its result."""
    kind, key = payload["kind"], payload["key"]
    ctx = Context(payload)
    if ctx.cache.done(kind, key):
        return ctx.cache.load(kind, key)
    set_threads(ctx.threads)
    work = ctx.cache.begin(kind, key)
    ctx.progress = ProgressFile(work)
    ctx.progress.started()
    fn = STEP_FUNCTIONS[kind]
    t0, cpu = time.monotonic(), CpuClock()
    result = fn(payload["spec"], ctx, work)
    result["_seconds"] = round(time.monotonic() - t0, 3)
    result["_cpu_seconds"] = cpu.seconds()
    result["_ran_on"] = ran_on()
    write_json(work / "spec.json", {"kind": kind, "key": key, "spec": payload["spec"],
                                           "deps": payload["deps"]})
    ctx.cache.commit(kind, key, result)
    return result


# ---------------------------------------------------------------------------------------------
# helpers


def _resolve_layer(layer: int, available: list[int]) -> int:
    from ftprobe.represent.extract import resolve_layer

    return resolve_layer(layer, max(available), available)


def _resolve_layers(spec_layers, available: list[int]) -> list[int]:
    from ftprobe.represent.extract import resolve_layers

    return resolve_layers(spec_layers, max(available), available)


def checkpoint_layers(choice, available: list[int]) -> list[int]:
    """``every-other``: layers 2, 4, ... and the last (the paper shows every other layer)."""
    if choice == "all":
        return [x for x in available if x > 0]
    if choice == "every-other":
        n = max(available)
        picked = {x for x in available if x > 0 and x % 2 == 0} | {n}
        return sorted(picked)
    return _resolve_layers(choice, available)


# A worker runs many steps on the same models and tasks: keep the last few loaded (reading a task
# and loading an encoder take seconds; the steps themselves often less).
_TASKS: dict[str, Any] = {}
_ENCODERS: dict[tuple, Any] = {}
_KEEP = 2


def _remember(cache: dict, key, value):
    cache[key] = value
    while len(cache) > _KEEP:
        cache.pop(next(iter(cache)))
    return value


def _load_task(spec: dict, split: str, fingerprint: str | None):
    from ftprobe.study.plan import load_task_from_spec

    key = json.dumps(spec, sort_keys=True)
    task = _TASKS.get(key) or _remember(_TASKS, key, load_task_from_spec(spec))
    if fingerprint is not None and task.fingerprint(split) != fingerprint:
        raise UserError(f"task {task.name!r}: the data of split {split!r} changed since the plan was made; "
                        "run the study again")
    return task


def _load_encoder(source: str, device: str, revision: str | None = None):
    from ftprobe.represent import load_encoder

    key = (source, device, revision)
    if key in _ENCODERS:
        return _ENCODERS[key]
    return _remember(_ENCODERS, key, load_encoder(source, device=device, revision=revision))


def _encoder(model_ref: dict, ctx: Context, device: str):
    if "finetune" in model_ref:
        ft = ctx.dep_result("model")
        path = ctx.dep_path("model") / ft[model_ref.get("which", "final")]
        return _load_encoder(str(path), device)
    return _load_encoder(model_ref["source"], device, model_ref.get("revision"))


def _extract(enc, task, split: str, ctx: Context, layers, ext: dict):
    from ftprobe.represent import Store, extract

    return extract(enc, task, split, Store(ctx.store_root), layers=None if layers == "all" else layers,
                   word_pooling=ext["word_pooling"],
                   sentence_pooling=None if ext["sentence_pooling"] == "auto" else ext["sentence_pooling"],
                   batch_size=ext["batch_size"], progress=False)


def _centroids(entry, n_labels: int) -> np.ndarray:
    from ftprobe.compare.geometry import label_centroids

    y = np.asarray(entry.labels)
    return np.stack([label_centroids(np.asarray(entry.layer(layer)), y, n_labels) for layer in entry.layers])


# ---------------------------------------------------------------------------------------------
# steps


def step_finetune(spec: dict, ctx: Context, work: Path) -> dict:
    from ftprobe.finetune import FinetuneConfig, finetune

    s = dict(spec["finetune"])
    options = s.pop("options", {}) or {}
    task = _load_task(spec["task"], "train", None)
    config = FinetuneConfig(**s, **options)
    run_dir = work / "run"
    schedule: dict[str, int] = {}

    def report(step: int, _net) -> None:
        if not schedule:  # written by finetune before its first step
            resolved = json.loads((run_dir / "run.json").read_text()).get("resolved", {})
            schedule.update(total=int(resolved.get("total_steps", 0)),
                            per_epoch=max(1, int(resolved.get("steps_per_epoch", 1))))
        epoch = (step - 1) // schedule["per_epoch"] + 1
        ctx.report("fine-tuning", step, schedule["total"], f"(epoch {epoch})")

    res = finetune(spec["model"]["source"], task, run_dir, config=config, resume=True, progress=False,
                   callback=report, record_store=ctx.store_root)  # recorded steps: store entries
    rel = lambda p: str(Path(p).resolve().relative_to(work.resolve()))  # noqa: E731
    metrics = res.metrics if isinstance(res.metrics, dict) else {"metrics": res.metrics}
    return {"final": rel(res.final_dir), "checkpoints": [rel(c) for c in res.checkpoints],
            "metrics": json.loads(json.dumps(metrics, default=plain)),
            "method": config.method, "lr": config.lr, "train_fraction": config.train_fraction,
            "train_sentences": res.extra["resolved"].get("train_sentences"),
            "trainable_parameters": res.extra["resolved"].get("trainable_parameters")}


def step_extract(spec: dict, ctx: Context, work: Path) -> dict:
    ctx.report("extracting")
    task = _load_task(spec["task"], spec["split"], spec.get("data_fingerprint"))
    enc = _encoder(spec["model"], ctx, spec["extract"]["device"])
    entry = _extract(enc, task, spec["split"], ctx, spec["layers"], spec["extract"])
    if spec["split"] == "train":  # the centroid analyses read the train split's (results.py)
        np.save(work / "centroids.npy", _centroids(entry, task.n_labels))
    counts = np.bincount(np.asarray(entry.labels), minlength=task.n_labels)
    return {"entry": entry.id, "layers": list(entry.layers), "n_targets": int(entry.n_targets),
            "dim": int(entry.dim), "label_names": list(task.labels), "label_counts": counts.tolist(),
            "model": enc.describe(), "split": spec["split"], "task": task.name}


def step_probe(spec: dict, ctx: Context, work: Path) -> dict:
    import torch

    from ftprobe.probe.protocol import ProbeProtocol, run_protocol

    s = dict(spec["probe"])
    options = s.pop("options", {}) or {}
    layers_choice = s.pop("layers")
    train = ctx.entry("train")
    test = ctx.entry("test")
    dev = ctx.entry("dev") if "dev" in ctx.deps else None
    layers = _resolve_layers(layers_choice, list(train.layers))
    get = lambda e: {layer: np.asarray(e.layer(layer), dtype=np.float32) for layer in layers}  # noqa: E731
    # Small batched networks take many tiny steps: on CPU one thread is faster, and with more,
    # OpenMP barriers stall whenever another process holds a core (measured: 215 s with 2
    # threads against 18 s with 1 for the same probe on a busy 2-core machine).
    proto = ProbeProtocol(probe=s["probe"], hidden_sizes=tuple(s["hidden_sizes"]), l2=tuple(s["l2"]),
                          seeds=s["seeds"], max_iter=s["max_iter"], patience=s["patience"],
                          batch_size=s["batch_size"], search=s["search"],
                          **{"device": "cpu", "threads": 1, **options})
    threads_before = torch.get_num_threads()
    try:
        res = run_protocol(get(train), np.asarray(train.labels), get(test), np.asarray(test.labels),
                           dev_layers=get(dev) if dev is not None else None,
                           y_dev=np.asarray(dev.labels) if dev is not None else None,
                           protocol=proto, n_labels=spec["n_labels"], progress=False,
                           report=lambda phase, done, total: ctx.report(phase, done, total, "(probes)"),
                           resume_dir=work / "grid")  # a step stopped midway resumes its grid
    finally:
        torch.set_num_threads(threads_before)
    shutil.rmtree(work / "grid", ignore_errors=True)  # only for resuming: the result holds the numbers
    summary = {str(layer): {"mean": float(r.accuracy_mean), "std": float(r.accuracy_std),
                            "best_hidden": list(r.best_hidden)}
               for layer, r in res.layers.items()}
    full = json.loads(json.dumps(res.to_json(), default=plain))
    write_json(work / "protocol.json", full)
    return {"layers": summary, "last_layer": str(max(res.layers)), "n_train": res.n_train,
            "n_test": res.n_test, "n_labels": res.n_labels}


def step_directprobe(spec: dict, ctx: Context, work: Path) -> dict:
    entry = ctx.entry("entry")
    layer = _resolve_layer(int(spec["layer"]), list(entry.layers))
    names = list(entry.label_names)
    ctx.report("DirectProbe", detail=f"layer {layer}, {entry.n_targets} points")
    X = entry.layer(layer)
    dp = fit_directprobe(X, entry.labels, directprobe_options(spec["directprobe"], ctx.threads), len(names),
                          work / "directprobe-state.npz")
    try:
        dp.save(work / "directprobe")
    except Exception as exc:  # the summary is what the analyses read; keep going
        log.warning("DirectProbe.save failed: %s", exc)
    out = directprobe_summary(dp, names, X, entry.labels)
    out["layer"] = layer
    out["n_points"] = int(entry.n_targets)
    # points whose exact vector also carries another label: no space of this layer is linear,
    # and the count cannot fall below min_clusters
    coincidence = coincident_labels(X, entry.labels)
    out["n_coincident_conflicts"] = coincidence.n_conflicting
    out["min_clusters"] = coincidence.min_clusters
    return out


def step_similarity(spec: dict, ctx: Context, work: Path) -> dict:
    from ftprobe.compare import rsa
    from ftprobe.study.measure_steps import layer_measures, settings_from

    before, after = ctx.entry("before"), ctx.entry("after")
    out = {}
    for layer in before.layers:
        if layer not in after.layers:
            continue
        Xb, Xa = np.asarray(before.layer(layer)), np.asarray(after.layer(layer))
        out[str(layer)] = {"rsa": finite(rsa(Xb, Xa, n_points=spec["rsa_points"], seed=spec["bootstrap"]["seed"])),
                           **layer_measures(Xb, Xa, settings_from(spec))}
    return {"layers": out}


def step_series(spec: dict, ctx: Context, work: Path) -> dict:
    """The original model, every checkpoint and the final model: DirectProbe and label centroids
    of the train split at the dynamics layers. The checkpoints' vectors are extracted first, then
    every (point, layer) is fitted (side by side with the step's threads); each point and each
    fit is saved as it finishes (resumable)."""
    ft = ctx.dep_result("finetune")
    ft_dir = ctx.dep_path("finetune")
    task = _load_task(spec["task"], spec["split"], spec.get("data_fingerprint"))
    original = ctx.entry("original")
    available = list(original.layers)
    layers = sorted(set(checkpoint_layers(spec["checkpoint_layers"], available))
                    | {_resolve_layer(int(x), available) for x in spec["first_last"]})
    points: list[tuple[str, Any]] = [("original", lambda: original)]
    for c in ft["checkpoints"]:
        points.append((Path(c).name, lambda c=c: _extract(_load_encoder(str(ft_dir / c), spec["extract"]["device"]),
                                                          task, spec["split"], ctx, spec["layers"], spec["extract"])))
    final = ctx.entry("final")
    if not any(Path(c) == Path(ft["final"]) for c in ft["checkpoints"]):
        points.append(("final", lambda: final))
    from ftprobe.represent import Store

    # the centroid paths are drawn at the first and last layer of the series (results.py)
    fits = SeriesFits(str(ctx.store_root), str(work), directprobe_options(spec["directprobe"], ctx.threads),
                      tuple(task.labels), centroid_layers=(min(layers), max(layers)) if layers else ())
    store = Store(ctx.store_root)
    fingerprints: list[str] = []
    names: list[str] = []
    for n_point, (name, get_entry) in enumerate(points):
        i = len(names)
        ctx.report("checkpoints", n_point, len(points), f"({name}: vectors)")
        point_file = work / f"point-{i:03d}.json"
        if point_file.is_file():
            saved = json.loads(point_file.read_text())
            for layer, summary in saved.get("layers", {}).items():  # a point saved whole by an older run
                write_json(work / f"fit-{i:03d}-L{layer}.json", summary)
            left = [layer for layer in layers if not fits.done(SeriesFit(i, layer, saved["entry"]))]
            if left and store.get(saved["entry"]) is None:
                # its fits were saved on another machine (the work folder travelled, the store did
                # not): extract again; the model was fine-tuned again, so check it is the same one
                again = get_entry()
                if again.id != saved["entry"]:
                    raise RuntimeError(
                        f"series {work.name}: {name} gave vectors {again.id} where its saved fits read "
                        f"{saved['entry']}: the fine-tuning did not repeat exactly; delete {work} to refit")
            fingerprints.append(saved["entry"])
            names.append(name)
            continue
        entry = get_entry()
        if fingerprints and entry.id == fingerprints[-1]:
            continue  # the final model is the last checkpoint: one point, not two
        write_json(point_file, {"name": name, "entry": entry.id})
        fingerprints.append(entry.id)
        names.append(name)
    todo = [SeriesFit(i, layer, fingerprints[i]) for i in range(len(names)) for layer in layers]
    run_series_fits(fits, todo, fits.options["jobs"],
                    lambda done, total: ctx.report("DirectProbe fits", done, total, "(checkpoints x layers)"))
    per_point = fits.summaries(todo)
    for layer in fits.centroid_layers:
        save_npy(work / f"centroids-L{layer}.npy",
                 np.stack([np.load(fits.centroid_path(SeriesFit(i, layer, e)), allow_pickle=False)
                           for i, e in enumerate(fingerprints)]))
    fits.remove(todo)
    for i in range(len(names)):
        (work / f"point-{i:03d}.json").unlink()
    return {"points": names, "entries": fingerprints, "layers": layers, "label_names": list(task.labels),
            "per_point": per_point}


def step_measures(spec: dict, ctx: Context, work: Path) -> dict:
    from ftprobe.study.measure_steps import step_measures as run

    return run(spec, ctx, work)


def step_recorded(spec: dict, ctx: Context, work: Path) -> dict:
    from ftprobe.study.recorded_steps import step_recorded as run

    return run(spec, ctx, work)


def step_label_control(spec: dict, ctx: Context, work: Path) -> dict:
    from ftprobe.study.measure_steps import step_label_control as run

    entry = ctx.entry("entry")
    layer = _resolve_layer(int(spec["layer"]), list(entry.layers))
    ctx.report("shuffled-label control", detail=f"layer {layer}")
    return run({**spec, "directprobe": directprobe_options(spec["directprobe"], ctx.threads)}, entry, layer)


STEP_FUNCTIONS = {
    "finetune": step_finetune,
    "extract": step_extract,
    "probe": step_probe,
    "directprobe": step_directprobe,
    "similarity": step_similarity,
    "series": step_series,
    "recorded": step_recorded,
    "measures": step_measures,
    "label_control": step_label_control,
}
