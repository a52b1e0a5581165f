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

from ftprobe.errors import UserError
from ftprobe.study.cache import StepCache, content_key
from ftprobe.study.config import StudyConfig, model_source, resolve_data, validate_config
from ftprobe.study.sweep import Variant, variants

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
class RunSteps:
    """The ids of one model variant x task's steps that the analyses read (None or empty: a step
    the study does not plan: a task probed but not fine-tuned, an analysis left out)."""

    variant: Variant
    task: str
    extract_original: dict[str, str]  # split -> extraction of the original model
    dp_original: dict[str, dict[str, str]]  # split -> layer -> DirectProbe (the splits the analyses read)
    control_original: dict[str, str]  # layer -> shuffled-label control
    probe_original: str | None = None
    finetune: str | None = None
    extract_finetuned: dict[str, str] = field(default_factory=dict)
    dp_finetuned: dict[str, dict[str, str]] = field(default_factory=dict)
    control_finetuned: dict[str, str] = field(default_factory=dict)
    probe_finetuned: str | None = None
    similarity: str | None = None
    series: str | None = None  # the checkpoint series (fitted, or only extracted for the measures)
    recorded: str | None = None  # probing during training
    measures: str | None = None

    @property
    def model(self) -> str:
        """The variant's name in tables (``minilm seed=1``)."""
        return self.variant.label


@dataclass
class CrossSteps:
    """One cross-task pair of a model variant: fine-tuned on one task, probed on another."""

    variant: Variant
    finetune_task: str
    probe_task: str
    extract: dict[str, str]  # split -> the probe task's vectors from the fine-tuned encoder
    probe: str
    dp: dict[str, str]  # layer -> DirectProbe on the train split

    @property
    def model(self) -> str:
        return self.variant.label


@dataclass
class Plan:
    config: StudyConfig
    steps: dict[str, Step]  # id -> step, in a valid order (inputs first)
    models: dict[str, ModelInfo]
    tasks: dict[str, TaskInfo]
    runs: list[RunSteps] = field(default_factory=list)
    cross: list[CrossSteps] = field(default_factory=list)

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
    layout = _Layout(Plan(cfg, {}, models, tasks))
    for m in cfg.models:
        for variant in variants(cfg, m):
            layout.variant(m, variant)
    return layout.plan


class _Layout:
    """Adds the steps of each model variant to a plan: one method per kind of step, each hashing
    exactly the settings its answers depend on into the step's key."""

    def __init__(self, plan: Plan):
        self.plan = plan
        cfg = self.cfg = plan.config
        self.needs = Needs.of(cfg.analyses)
        self.ext_settings = cfg.extract.model_dump()
        self.probe_settings = cfg.probe.model_dump()
        dp_settings = cfg.directprobe.model_dump()
        self.dp_core = {"min_cluster_size": dp_settings["min_cluster_size"], **dp_settings["options"]}
        # DirectProbe's answers do not depend on its processes (``jobs``): keys leave them out
        self.dp_key = {k: v for k, v in self.dp_core.items() if k not in DP_NOT_IN_KEY}
        self.measure_settings = dataclasses.asdict(cfg.measures)
        self.control_settings = dataclasses.asdict(cfg.label_control)

    def _add(self, kind: str, settings: dict, spec: dict, deps: dict[str, str], label: str) -> str:
        key = content_key(kind, settings, deps, STEP_VERSION)
        return self.plan.add(Step(kind, key, spec, deps, label))

    # -- the model variant's runs and cross-task pairs

    def variant(self, m, variant: Variant) -> None:
        mi = self.plan.models[m.name]
        runs = {t.name: self.run(mi, self.plan.tasks[t.name], variant, t.finetune) for t in self.cfg.tasks_of(m)}
        self.plan.runs.extend(runs.values())
        for pair in self.cfg.cross_task if self.needs.cross_task else ():
            if pair.finetune in runs and pair.probe in runs:
                self.plan.cross.append(self.cross(mi, variant, runs[pair.finetune], pair.probe))

    def run(self, mi: ModelInfo, ti: TaskInfo, variant: Variant, finetune: bool) -> RunSteps:
        needs = self.needs
        orig = self.extracts(mi, ti, None, ORIGINAL)
        probe = self.probe(mi, ti, orig, ORIGINAL) if needs.probes else None  # steps in the order they run
        run = RunSteps(variant, ti.name, orig, self.dp_steps(mi, ti, orig, ORIGINAL),
                       self.label_controls(mi, ti, orig["train"], ORIGINAL), probe_original=probe)
        if not finetune:
            return run
        tuned = FINETUNED + (f", {variant.suffix}" if variant.suffix else "")
        run.finetune = self.finetune(mi, ti, variant)
        ft = run.extract_finetuned = self.extracts(mi, ti, run.finetune, tuned)
        if needs.probes:
            run.probe_finetuned = self.probe(mi, ti, ft, tuned)
        run.dp_finetuned = self.dp_steps(mi, ti, ft, tuned)
        run.control_finetuned = self.label_controls(mi, ti, ft["train"], tuned)
        if needs.similarity:
            run.similarity = self.similarity(orig["train"], ft["train"], f"{variant.label}/{ti.name}")
        if needs.series:
            run.series = self.series(ti, variant, run.finetune, orig["train"], ft["train"])
        if self.cfg.finetune.record_every_steps:  # probing during training: the recorded steps
            run.recorded = self.recorded(run.finetune, f"{variant.label}/{ti.name} recorded steps")
        if needs.measures:
            run.measures = self.measures(run.series, f"{variant.label}/{ti.name} calibrated measures")
        return run

    def cross(self, mi: ModelInfo, variant: Variant, run_a: RunSteps, task_b: str) -> CrossSteps:
        task_a = run_a.task
        ti_b = self.plan.tasks[task_b]
        stage = f"tuned on {task_a}" + (f", {variant.suffix}" if variant.suffix else "")
        ex = self.extracts(mi, ti_b, run_a.finetune, stage)
        return CrossSteps(variant, task_a, task_b, ex, self.probe(mi, ti_b, ex, stage),
                          {str(layer): self.directprobe(mi, ti_b, ex["train"], layer, "train", stage)
                           for layer in self.cfg.directprobe.layers})

    # -- one method per kind of step

    def finetune(self, mi: ModelInfo, ti: TaskInfo, variant: Variant) -> str:
        cfg = self.cfg
        # the head reads what the probes read: fine-tune with the extraction's pooling
        settings = variant.finetune_settings({**cfg.finetune.model_dump(), "word_pooling": cfg.extract.word_pooling,
                                              "sentence_pooling": cfg.extract.sentence_pooling})
        spec = {"model": {"source": mi.source, "revision": mi.revision}, "task": ti.spec, "finetune": settings}
        return self._add("finetune", {"model": mi.fingerprint, "data": ti.fingerprints, **settings}, spec, {},
                         f"{variant.label}/{ti.name}")

    def extracts(self, mi: ModelInfo, ti: TaskInfo, ft_id: str | None, stage: str) -> dict[str, str]:
        return {s: self.extract(mi, ti, s, ft_id, stage) for s in ("train", "dev", "test") if s in ti.splits}

    def extract(self, mi: ModelInfo, ti: TaskInfo, split: str, ft_id: str | None, stage: str) -> str:
        layers = self.cfg.layers
        deps = {"model": ft_id} if ft_id else {}
        settings = {"model": mi.fingerprint if ft_id is None else None, "data": ti.fingerprints[split],
                    "split": split, "layers": layers, **self.ext_settings}
        model = {"source": mi.source, "revision": mi.revision} if ft_id is None else {"finetune": ft_id,
                                                                                        "which": "final"}
        spec = {"model": model, "task": ti.spec, "split": split, "layers": layers, "extract": self.ext_settings,
                "data_fingerprint": ti.fingerprints[split]}
        return self._add("extract", settings, spec, deps, f"{mi.name}/{ti.name}/{split} ({stage})")

    def probe(self, mi: ModelInfo, ti: TaskInfo, ex: dict[str, str], stage: str) -> str:
        return self._add("probe", self.probe_settings, {"probe": self.probe_settings, "n_labels": len(ti.labels)},
                         dict(ex), f"{mi.name}/{ti.name} ({stage})")

    def directprobe(self, mi: ModelInfo, ti: TaskInfo, ex_id: str, layer: int, split: str, stage: str) -> str:
        # summary 3: the result counts the points that coincide under different labels, and
        # the fewest clusters they allow
        return self._add("directprobe", {"layer": layer, **self.dp_key, "summary": 3},
                         {"layer": layer, "directprobe": self.dp_core}, {"entry": ex_id},
                         f"{mi.name}/{ti.name}/{split} L{layer} ({stage})")

    def dp_steps(self, mi: ModelInfo, ti: TaskInfo, ex: dict[str, str], stage: str) -> dict[str, dict[str, str]]:
        """DirectProbe on train and test at every configured layer (the paper's table); only the
        splits the analyses read."""
        splits = [s for s, wanted in (("train", self.needs.dp_train), ("test", self.needs.dp_test)) if wanted]
        return {split: {str(layer): self.directprobe(mi, ti, ex[split], layer, split, stage)
                        for layer in self.cfg.directprobe.layers}
                for split in splits}

    def label_controls(self, mi: ModelInfo, ti: TaskInfo, ex_train: str, stage: str) -> dict[str, str]:
        """The shuffled-label control of the train split at every DirectProbe layer of the table
        (none when ``label_control.n_shuffles`` is 0)."""
        if not self.control_settings["n_shuffles"] or not self.needs.dp_train:
            return {}
        out = {}
        for layer in self.cfg.directprobe.layers:
            spec = {"layer": layer, "directprobe": self.dp_core, "control": self.control_settings}
            out[str(layer)] = self._add("label_control", {**spec, "directprobe": self.dp_key}, spec,
                                        {"entry": ex_train},
                                        f"{mi.name}/{ti.name}/train L{layer} shuffled labels ({stage})")
        return out

    def similarity(self, before: str, after: str, label: str) -> str:
        settings = {"bootstrap": self.cfg.bootstrap.model_dump(), "rsa_points": 2000,
                    "measures": self.measure_settings}
        return self._add("similarity", settings, settings, {"before": before, "after": after}, label)

    def series(self, ti: TaskInfo, variant: Variant, ft_id: str, original: str, final: str) -> str:
        cfg, dp = self.cfg, self.cfg.directprobe
        seed = dict(variant.settings).get("seed", cfg.finetune.seed)
        # else: the points extracted, not fitted (the measures read them)
        fitted = self.needs.series_fits and (dp.series_seeds is None or seed in dp.series_seeds)
        cp_layers = dp.checkpoint_layers if fitted else []
        first_last = dp.layers if fitted else []
        settings = {"impl": 2, "layers": cp_layers, "first_last": first_last, **self.dp_key,
                    "layers_extract": cfg.layers, **self.ext_settings}
        spec = {"task": ti.spec, "split": "train", "directprobe": self.dp_core, "checkpoint_layers": cp_layers,
                "first_last": first_last, "layers": cfg.layers, "extract": self.ext_settings,
                "data_fingerprint": ti.fingerprints["train"]}
        deps = {"finetune": ft_id, "original": original, "final": final}
        return self._add("series", settings, spec, deps, f"{variant.label}/{ti.name} checkpoints")

    def recorded(self, ft_id: str, label: str) -> str:
        dp = self.cfg.directprobe
        settings = {"impl": 1, "layers": dp.checkpoint_layers, "first_last": dp.layers, **self.dp_key}
        spec = {"directprobe": self.dp_core, "checkpoint_layers": dp.checkpoint_layers, "first_last": dp.layers}
        return self._add("recorded", settings, spec, {"finetune": ft_id}, label)

    def measures(self, series: str, label: str) -> str:
        settings = {"measures": self.measure_settings}
        return self._add("measures", settings, settings, {"series": series}, label)
