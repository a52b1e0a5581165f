"""The study's step graph: every step with its content key, settings and inputs.

A step's key hashes its kind, its settings and the keys of the steps it reads; a model's key is a
hash of its weight files (or its hub name and revision), a task's the hash of its targets. So a
re-run finds every step done, and a changed setting changes the keys of exactly the steps that
depend on it. Specs are plain JSON, so any executor (a process pool, later a cluster) can run them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftprobe.errors import UserError
from ftprobe.study.cache import StepCache, content_key
from ftprobe.study.config import StudyConfig, model_source, resolve_data, validate_config
from ftprobe.study.sweep import variants

STEP_VERSION = 1
ORIGINAL = "original"
FINETUNED = "finetuned"
STEP_KINDS = ("finetune", "extract", "probe", "directprobe", "label_control", "series", "recorded",
              "similarity", "measures")

# DirectProbe options that decide how a fit runs, not what it finds (its processes): never in a key
DP_NOT_IN_KEY = ("jobs",)


@dataclass
class Step:
    kind: str  # finetune, extract, probe, directprobe, series, recorded, similarity, measures, label_control
    key: str
    spec: dict  # everything the step function needs (JSON)
    deps: dict[str, str] = field(default_factory=dict)  # input name -> step id
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.key}"


@dataclass
class TaskInfo:
    name: str
    reader: str
    spec: dict  # how a worker loads it
    fingerprints: dict[str, str]  # split -> fingerprint
    splits: list[str]
    labels: list[str]
    kind: str
    n_targets: dict[str, int]
    n_sentences: dict[str, int] = field(default_factory=dict)


@dataclass
class ModelInfo:
    name: str
    source: str
    revision: str | None
    fingerprint: str


@dataclass(frozen=True)
class Needs:
    """Which steps the config's ``analyses`` read: a study that asks for less runs less (the
    steps it does plan keep their keys, so adding an analysis later only adds steps)."""

    probes: bool  # the probe grid: accuracy (and the cross-task probe's)
    dp_train: bool  # DirectProbe on the train split: clusters, minimum distances, the label control
    dp_test: bool  # ... and on the test split: train/test similarity
    series_fits: bool  # DirectProbe at every checkpoint: layer dynamics, centroid paths, min distances
    similarity: bool  # before/after CKA and RSA
    measures: bool  # the calibrated measures at every checkpoint
    cross_task: bool

    @classmethod
    def of(cls, analyses) -> Needs:
        a = set(analyses)
        return cls(probes=bool(a & {"accuracy", "cross_task"}),
                   dp_train=bool(a & {"clusters", "train_test", "min_distance", "cross_task"}),
                   dp_test="train_test" in a,
                   series_fits=bool(a & {"layer_dynamics", "centroid_paths", "min_distance"}),
                   similarity="cka_rsa" in a, measures="cka_rsa" in a, cross_task="cross_task" in a)

    @property
    def series(self) -> bool:
        """The checkpoint series: its fits, or only its points' vectors for the measures."""
        return self.series_fits or self.measures


@dataclass
class Plan:
    config: StudyConfig
    steps: dict[str, Step]  # id -> step, in a valid order (inputs first)
    models: dict[str, ModelInfo]
    tasks: dict[str, TaskInfo]
    # (model, task, stage) -> ids of the steps the analyses read
    index: dict[str, Any]

    def add(self, step: Step) -> str:
        self.steps.setdefault(step.id, step)
        return step.id

    def pending(self, cache: StepCache) -> list[Step]:
        return [s for s in self.steps.values() if not cache.done(s.kind, s.key)]

    def with_inputs(self, kinds) -> set[str]:
        """The ids of the steps of these kinds and of every step they read, directly or not: what
        ``ftprobe study --only`` runs (fine-tuning on a GPU machine first, the rest later)."""
        wanted = {sid for sid, s in self.steps.items() if s.kind in kinds}
        for sid in reversed(list(self.steps)):  # inputs come first, so one backward pass closes it
            if sid in wanted:
                wanted.update(self.steps[sid].deps.values())
        return wanted

    def tasks_of(self) -> dict[str, frozenset[str]]:
        """Step id -> the tasks whose data it reads or whose fine-tuning it reads (its own and its
        inputs'): a cross-task step involves both of its tasks."""
        out: dict[str, frozenset[str]] = {}
        for sid, s in self.steps.items():  # inputs come first
            own = s.spec.get("task")
            names = {own["name"]} if isinstance(own, dict) and "name" in own else set()
            for dep in s.deps.values():
                names |= out[dep]
            out[sid] = frozenset(names)
        return out

    def of_tasks(self, names) -> set[str]:
        """The ids of the steps that involve only these tasks (and so every step they read): what
        ``ftprobe study --tasks`` runs, e.g. a long study one task at a time. A cross-task step
        runs once both of its tasks are named."""
        named = set(names)
        return {sid for sid, tasks in self.tasks_of().items() if tasks and tasks <= named}

    def dependents(self) -> dict[str, list[str]]:
        """Step id -> the ids of the steps that read it."""
        out: dict[str, list[str]] = {sid: [] for sid in self.steps}
        for sid, s in self.steps.items():
            for dep in s.deps.values():
                out[dep].append(sid)
        return out


# ---------------------------------------------------------------------------------------------
# Fingerprints


def file_fingerprint(folder: Path) -> str:
    h = hashlib.sha256()
    names = ["config.json", "model.safetensors", "pytorch_model.bin"]
    files = [folder / n for n in names if (folder / n).is_file()]
    files += sorted(folder.glob("model-*.safetensors")) + sorted(folder.glob("pytorch_model-*.bin"))
    if not files:
        raise UserError(f"model folder {folder}: no config.json or weight files")
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 24):
                h.update(chunk)
    return h.hexdigest()[:32]


def model_info(cfg: StudyConfig, i: int) -> ModelInfo:
    m = cfg.models[i]
    try:
        source = model_source(m, cfg)
    except UserError as exc:
        raise UserError(f"models[{i}].path: {exc}") from None
    p = Path(source)
    fp = file_fingerprint(p) if p.is_dir() else f"hub:{source}@{m.revision or 'main'}"
    return ModelInfo(m.name, source, m.revision, fp)


def task_spec(cfg: StudyConfig, i: int) -> dict:
    t = cfg.tasks[i]
    data = resolve_data(cfg, t.data)
    data = {k: str(v) for k, v in data.items()} if isinstance(data, dict) else str(data)
    options = {"tagset": t.tagset, "dep_labels": t.dep_labels, "split_seed": t.split_seed,
               "max_sentences": t.max_sentences,
               "random_split": tuple(t.random_split) if t.random_split else None}
    return {"name": t.name, "reader": t.reader, "data": data, "options": options}


def load_task_from_spec(spec: dict):
    from ftprobe.data import TaskOptions, load_task

    opts = dict(spec["options"])
    if opts.get("random_split") is not None:
        opts["random_split"] = tuple(opts["random_split"])
    task = load_task(spec["reader"], spec["data"], TaskOptions(**opts))
    task.name = spec["name"]
    return task


def task_info(cfg: StudyConfig, i: int) -> TaskInfo:
    spec = task_spec(cfg, i)
    try:
        task = load_task_from_spec(spec)
    except UserError as exc:
        raise UserError(f"tasks[{i}].data: {exc}") from None
    for need in ("train", "test"):
        if need not in task.splits:
            raise UserError(f"tasks[{i}]: task {task.name!r} has no {need} split (it has: "
                            f"{', '.join(task.splits)}); give split files or random_split = [0.8, 0.1, 0.1]")
    fps = {s: task.fingerprint(s) for s in task.splits}
    return TaskInfo(task.name, spec["reader"], spec, fps, list(task.splits), list(task.labels), task.kind,
                    {s: len(task.splits[s]) for s in task.splits},
                    {s: len(task.splits[s].sentences) for s in task.splits})


# ---------------------------------------------------------------------------------------------
# The graph


def build_plan(cfg: StudyConfig) -> Plan:
    """Validate the config against the file system, load the tasks, and lay out every step."""
    validate_config(cfg)
    tasks = {cfg.tasks[i].name: task_info(cfg, i) for i in range(len(cfg.tasks))}
    models = {cfg.models[i].name: model_info(cfg, i) for i in range(len(cfg.models))}
    plan = Plan(cfg, {}, models, tasks, {"runs": [], "cross": []})

    ext_settings = cfg.extract.model_dump()
    probe_settings = cfg.probe.model_dump()
    dp_settings = cfg.directprobe.model_dump()
    dp_core = {"min_cluster_size": dp_settings["min_cluster_size"], **dp_settings["options"]}
    # DirectProbe's answers do not depend on its processes (``jobs``): keys leave them out
    dp_key = {k: v for k, v in dp_core.items() if k not in DP_NOT_IN_KEY}
    measure_settings = dataclasses.asdict(cfg.measures)
    control_settings = dataclasses.asdict(cfg.label_control)
    needs = Needs.of(cfg.analyses)

    def model_ref(mi: ModelInfo, ft_id: str | None) -> dict:
        if ft_id is None:
            return {"source": mi.source, "revision": mi.revision}
        return {"finetune": ft_id, "which": "final"}

    def extract(mi: ModelInfo, ti: TaskInfo, split: str, ft_id: str | None, stage: str) -> str:
        deps = {"model": ft_id} if ft_id else {}
        settings = {"model": mi.fingerprint if ft_id is None else None, "data": ti.fingerprints[split],
                    "split": split, "layers": cfg.layers, **ext_settings}
        key = content_key("extract", settings, deps, STEP_VERSION)
        spec = {"model": model_ref(mi, ft_id), "task": ti.spec, "split": split, "layers": cfg.layers,
                "extract": ext_settings, "data_fingerprint": ti.fingerprints[split]}
        return plan.add(Step("extract", key, spec, deps, f"{mi.name}/{ti.name}/{split} ({stage})"))

    def extracts(mi, ti, ft_id, stage) -> dict[str, str]:
        return {s: extract(mi, ti, s, ft_id, stage) for s in ("train", "dev", "test") if s in ti.splits}

    def probe(mi, ti, ex: dict[str, str], stage: str) -> str:
        deps = dict(ex)
        key = content_key("probe", probe_settings, deps, STEP_VERSION)
        return plan.add(Step("probe", key, {"probe": probe_settings, "n_labels": len(ti.labels)}, deps,
                             f"{mi.name}/{ti.name} ({stage})"))

    def directprobe(mi, ti, ex_id: str, layer: int, split: str, stage: str) -> str:
        deps = {"entry": ex_id}
        # summary 3: the result counts the points that coincide under different labels, and
        # the fewest clusters they allow
        settings = {"layer": layer, **dp_key, "summary": 3}
        key = content_key("directprobe", settings, deps, STEP_VERSION)
        return plan.add(Step("directprobe", key, {"layer": layer, "directprobe": dp_core}, deps,
                             f"{mi.name}/{ti.name}/{split} L{layer} ({stage})"))

    def dp_steps(mi, ti, ex: dict[str, str], stage: str) -> dict[str, dict[str, str]]:
        """DirectProbe on train and test at every configured layer (the paper's table); only the
        splits the analyses read."""
        splits = [s for s, wanted in (("train", needs.dp_train), ("test", needs.dp_test)) if wanted]
        return {split: {str(layer): directprobe(mi, ti, ex[split], layer, split, stage)
                        for layer in cfg.directprobe.layers}
                for split in splits}

    def label_controls(mi, ti, ex_train: str, stage: str) -> dict[str, str]:
        """The shuffled-label control of the train split at every DirectProbe layer of the table
        (none when ``label_control.n_shuffles`` is 0)."""
        if not control_settings["n_shuffles"] or not needs.dp_train:
            return {}
        out = {}
        for layer in cfg.directprobe.layers:
            deps = {"entry": ex_train}
            spec = {"layer": layer, "directprobe": dp_core, "control": control_settings}
            key = content_key("label_control", {**spec, "directprobe": dp_key}, deps, STEP_VERSION)
            out[str(layer)] = plan.add(Step("label_control", key, spec, deps,
                                            f"{mi.name}/{ti.name}/train L{layer} shuffled labels ({stage})"))
        return out

    for m, variant in ((model, v) for model in cfg.models for v in variants(cfg, model)):
        mi = models[m.name]
        # the head reads what the probes read: fine-tune with the extraction's pooling
        ft_settings = variant.finetune_settings({**cfg.finetune.model_dump(), "word_pooling": cfg.extract.word_pooling,
                                                 "sentence_pooling": cfg.extract.sentence_pooling})
        tuned = FINETUNED + (f", {variant.suffix}" if variant.suffix else "")
        for t in cfg.tasks_of(m):
            ti = tasks[t.name]
            run: dict[str, Any] = {"model": variant.label, "task": t.name, "variant": variant.to_json(),
                                   "base_model": m.name, "replicate": variant.replicate_label}
            orig = extracts(mi, ti, None, ORIGINAL)
            run["extract_original"] = orig
            if needs.probes:
                run["probe_original"] = probe(mi, ti, orig, ORIGINAL)
            run["dp_original"] = dp_steps(mi, ti, orig, ORIGINAL)
            run["control_original"] = label_controls(mi, ti, orig["train"], ORIGINAL)
            if t.finetune:
                ft_deps: dict[str, str] = {}
                ft_key = content_key("finetune", {"model": mi.fingerprint, "data": ti.fingerprints,
                                                  **ft_settings}, ft_deps, STEP_VERSION)
                ft_spec = {"model": {"source": mi.source, "revision": mi.revision}, "task": ti.spec,
                           "finetune": ft_settings}
                ft_id = plan.add(Step("finetune", ft_key, ft_spec, ft_deps, f"{variant.label}/{ti.name}"))
                run["finetune"] = ft_id
                ft = extracts(mi, ti, ft_id, tuned)
                run["extract_finetuned"] = ft
                if needs.probes:
                    run["probe_finetuned"] = probe(mi, ti, ft, tuned)
                run["dp_finetuned"] = dp_steps(mi, ti, ft, tuned)
                run["control_finetuned"] = label_controls(mi, ti, ft["train"], tuned)
                if needs.similarity:
                    sim_deps = {"before": orig["train"], "after": ft["train"]}
                    sim_settings = {"bootstrap": cfg.bootstrap.model_dump(), "rsa_points": 2000,
                                    "measures": measure_settings}
                    run["similarity"] = plan.add(Step(
                        "similarity", content_key("similarity", sim_settings, sim_deps, STEP_VERSION),
                        sim_settings, sim_deps, f"{variant.label}/{ti.name}"))
                if needs.series:
                    series_deps = {"finetune": ft_id, "original": orig["train"], "final": ft["train"]}
                    seed = dict(variant.settings).get("seed", cfg.finetune.seed)
                    series_seeds = cfg.directprobe.series_seeds
                    # else: the points extracted, not fitted (the measures read them)
                    fitted = needs.series_fits and (series_seeds is None or seed in series_seeds)
                    cp_layers = cfg.directprobe.checkpoint_layers if fitted else []
                    first_last = cfg.directprobe.layers if fitted else []
                    series_settings = {"impl": 2, "layers": cp_layers, "first_last": first_last, **dp_key,
                                       "layers_extract": cfg.layers, **ext_settings}
                    spec = {"task": ti.spec, "split": "train", "directprobe": dp_core,
                            "checkpoint_layers": cp_layers, "first_last": first_last, "layers": cfg.layers,
                            "extract": ext_settings, "data_fingerprint": ti.fingerprints["train"]}
                    run["series"] = plan.add(Step(
                        "series", content_key("series", series_settings, series_deps, STEP_VERSION),
                        spec, series_deps, f"{variant.label}/{ti.name} checkpoints"))
                if cfg.finetune.record_every_steps:  # probing during training: the recorded steps
                    rec_settings = {"impl": 1, "layers": cfg.directprobe.checkpoint_layers,
                                    "first_last": cfg.directprobe.layers, **dp_key}
                    run["recorded"] = plan.add(Step(
                        "recorded", content_key("recorded", rec_settings, {"finetune": ft_id}, STEP_VERSION),
                        {"directprobe": dp_core, "checkpoint_layers": cfg.directprobe.checkpoint_layers,
                         "first_last": cfg.directprobe.layers}, {"finetune": ft_id},
                        f"{variant.label}/{ti.name} recorded steps"))
                if needs.measures:
                    meas_deps = {"series": run["series"]}
                    meas_settings = {"measures": measure_settings}
                    run["measures"] = plan.add(Step(
                        "measures", content_key("measures", meas_settings, meas_deps, STEP_VERSION),
                        meas_settings, meas_deps, f"{variant.label}/{ti.name} calibrated measures"))
            plan.index["runs"].append(run)

        for pair in cfg.cross_task if needs.cross_task else ():
            names = {t.name for t in cfg.tasks_of(m)}
            if not {pair.finetune, pair.probe} <= names:
                continue
            run_a = next(r for r in plan.index["runs"]
                         if r["model"] == variant.label and r["task"] == pair.finetune)
            ti_b = tasks[pair.probe]
            stage = f"tuned on {pair.finetune}" + (f", {variant.suffix}" if variant.suffix else "")
            ex = extracts(mi, ti_b, run_a["finetune"], stage)
            cross = {"model": variant.label, "finetune": pair.finetune, "probe": pair.probe, "extract": ex,
                     "probe_step": probe(mi, ti_b, ex, stage),
                     "dp": {str(layer): directprobe(mi, ti_b, ex["train"], layer, "train", stage)
                            for layer in cfg.directprobe.layers}}
            plan.index["cross"].append(cross)
    return plan
