"""The report's own typed view of ``results.json``.

The report reads a finished study only through these classes, built from the JSON file (or the
same dict in memory), so it needs nothing from the study stage and ``ftprobe report OUT`` can
rebuild the pages from ``OUT/results.json`` alone. Keys a study did not write are None / empty.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ftprobe.compare.paper import Comparison, CrossTaskCounts, DynamicsComparison
from ftprobe.compare.robustness import ThresholdVerdicts, VariantVerdicts
from ftprobe.errors import UserError
from ftprobe.report.notes import StudyNotes


def _f(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _i(v: Any) -> int | None:
    return None if v is None else int(v)


def _floats(v: Any) -> tuple[float | None, ...]:
    return tuple(_f(x) for x in (v or ()))


def _by_layer(d: Mapping | None) -> dict[int, Any]:
    return {int(k): v for k, v in sorted((d or {}).items(), key=lambda kv: int(kv[0]))}


@dataclass(frozen=True)
class Accuracy:
    """Probe accuracy (fraction) over the probe's seeds."""

    mean: float | None
    std: float | None = None


@dataclass(frozen=True)
class SpaceSimilarity:
    """Pearson of two spaces' label-pair distances; ``r`` only where both spaces are linear."""

    r: float | None
    ci: tuple[float | None, float | None] | None
    linear: bool
    r_any: float | None

    @classmethod
    def read(cls, d: Mapping | None) -> SpaceSimilarity | None:
        if not d:
            return None
        ci = d.get("ci")
        return cls(_f(d.get("r")), (_f(ci[0]), _f(ci[1])) if ci else None, bool(d.get("linear")),
                   _f(d.get("r_any")))


@dataclass(frozen=True)
class MinDistanceChange:
    up: int
    down: int
    mean_change: float | None
    per_label: dict[str, float]  # label -> after - before, labels present in both

    @classmethod
    def read(cls, d: Mapping | None) -> MinDistanceChange | None:
        if not d:
            return None
        per = {str(k): v for k, v in ((k, _f(v)) for k, v in (d.get("per_label") or {}).items()) if v is not None}
        if not per:  # older results: only the extremes were kept
            per = {str(k): _f(v) for k, v in [*(d.get("rise_most") or []), *(d.get("rise_least") or [])]
                   if _f(v) is not None}
        return cls(int(d.get("up", 0)), int(d.get("down", 0)), _f(d.get("mean_change")), per)

    def rose(self) -> list[tuple[str, float]]:
        """Labels whose minimum distance rose, largest rise first."""
        return sorted(((k, v) for k, v in self.per_label.items() if v > 0), key=lambda kv: -kv[1])

    def fell(self) -> list[tuple[str, float]]:
        """Labels whose minimum distance fell, largest fall first."""
        return sorted(((k, v) for k, v in self.per_label.items() if v < 0), key=lambda kv: kv[1])


@dataclass(frozen=True)
class TableRow:
    """One DirectProbe layer of a model/task run, before and (if fine-tuned) after."""

    layer: int
    n_labels: int  # labels present in the train split (DirectProbe's labels)
    accuracy_before: Accuracy
    accuracy_after: Accuracy | None
    clusters_before: int | None
    clusters_after: int | None
    train_test_before: SpaceSimilarity | None
    train_test_after: SpaceSimilarity | None
    min_dist_before: tuple[float | None, ...]
    min_dist_after: tuple[float | None, ...]
    min_distance_change: MinDistanceChange | None
    before_after: SpaceSimilarity | None
    # each space's distances over its spread (fits that recorded it): growth alone is no change
    min_distance_change_scale_free: MinDistanceChange | None = None
    space_scale_before: float | None = None
    space_scale_after: float | None = None

    @classmethod
    def read(cls, d: Mapping) -> TableRow:
        after = None
        if "accuracy_after" in d:
            after = Accuracy(_f(d.get("accuracy_after")), _f(d.get("accuracy_after_std")))
        return cls(int(d["layer"]), int(d["n_labels"]),
                   Accuracy(_f(d.get("accuracy_before")), _f(d.get("accuracy_before_std"))), after,
                   _i(d.get("clusters_before")), _i(d.get("clusters_after")),
                   SpaceSimilarity.read(d.get("train_test_before")), SpaceSimilarity.read(d.get("train_test_after")),
                   _floats(d.get("min_dist_before")), _floats(d.get("min_dist_after")),
                   MinDistanceChange.read(d.get("min_distance_change")),
                   SpaceSimilarity.read(d.get("before_after_similarity")),
                   MinDistanceChange.read(d.get("min_distance_change_scale_free")),
                   _f(d.get("space_scale_before")), _f(d.get("space_scale_after")))


@dataclass(frozen=True)
class LayerDynamics:
    """Along the checkpoints (``points``: original, ..., final): each checkpoint layer's Pearson
    with its original space, its 95% interval and its DirectProbe cluster count."""

    points: tuple[str, ...]
    pearson: dict[int, tuple[float | None, ...]]
    ci: dict[int, tuple[tuple[float | None, float | None] | None, ...]]
    clusters: dict[int, tuple[int | None, ...]]

    @classmethod
    def read(cls, d: Mapping | None) -> LayerDynamics | None:
        if not d or not d.get("points"):
            return None
        ci = {k: tuple((_f(c[0]), _f(c[1])) if c else None for c in v) for k, v in _by_layer(d.get("ci")).items()}
        return cls(tuple(d["points"]), {k: _floats(v) for k, v in _by_layer(d.get("pearson")).items()}, ci,
                   {k: tuple(_i(c) for c in v) for k, v in _by_layer(d.get("clusters")).items()})


@dataclass(frozen=True)
class MinDistanceSeries:
    """Per checkpoint layer, per checkpoint, each label's minimum distance (None: absent)."""

    points: tuple[str, ...]
    by_layer: dict[int, tuple[tuple[float | None, ...], ...]]

    @classmethod
    def read(cls, d: Mapping | None) -> MinDistanceSeries | None:
        if not d or not d.get("points"):
            return None
        return cls(tuple(d["points"]), {k: tuple(_floats(p) for p in v) for k, v in _by_layer(d["by_layer"]).items()})


@dataclass(frozen=True)
class PcaView:
    """2-D PCA coordinates; ``coords`` is [label][2] (shifts) or [checkpoint][label][2] (paths)."""

    labels: tuple[str, ...]
    coords: tuple
    explained: tuple[float, ...]


@dataclass(frozen=True)
class LayerChange:
    """Before vs after fine-tuning at one layer."""

    cka: float | None
    rsa: float | None
    movement: float | None  # mean distance a label's centroid moved


@dataclass(frozen=True)
class Run:
    """One model on one task: probed before and, if fine-tuned, after."""

    model: str
    task: str
    labels: tuple[str, ...]
    n_targets: dict[str, int]
    label_counts: dict[str, tuple[int, ...]]  # split -> targets per label (empty: not recorded)
    accuracy_before: dict[int, Accuracy]
    accuracy_after: dict[int, Accuracy]
    table: tuple[TableRow, ...]
    dynamics: LayerDynamics | None
    min_distance_series: MinDistanceSeries | None
    centroid_paths: dict[int, PcaView]
    shift_pca: dict[int, PcaView]
    layer_change: dict[int, LayerChange]
    anchor: str = ""  # unique in the study (several runs of one model on a task get -2, -3, ...)
    recorded: LayerDynamics | None = None  # probing during training: the recorder's steps (step 0 first)
    recorded_split: str | None = None  # the split the recorder read
    # the model with the swept fine-tuning settings other than the seed (runs of a group on a task
    # differ only by seed: the report shows their mean and spread); the model name when not swept
    group: str = ""
    seed: int | None = None  # the fine-tuning seed, when seeds were swept
    base_model: str = ""  # the model without any swept setting (methods are compared within it)

    @property
    def name(self) -> str:
        return f"{self.model} / {self.task}"


    @property
    def finetuned(self) -> bool:
        return bool(self.accuracy_after) or any(r.accuracy_after is not None for r in self.table)

    def majority_rate(self, split: str = "test") -> float | None:
        """Accuracy of always answering the split's most frequent label (None: counts not recorded)."""
        counts = self.label_counts.get(split)
        if not counts or sum(counts) == 0:
            return None
        return max(counts) / sum(counts)

    def labels_in(self, split: str) -> int | None:
        counts = self.label_counts.get(split)
        return None if not counts else sum(c > 0 for c in counts)

    @classmethod
    def read(cls, d: Mapping) -> Run:
        acc = d.get("accuracy") or {}
        read_acc = lambda m: {k: Accuracy(_f(v.get("mean")), _f(v.get("std"))) for k, v in _by_layer(m).items()}  # noqa: E731
        labels = tuple(d.get("labels") or ())
        paths = {k: PcaView(tuple(v["labels"]), tuple(v["coords"]), _floats(v.get("evr")))
                 for k, v in _by_layer(d.get("centroid_paths")).items()}
        shifts = {k: PcaView(labels, tuple(v["coords"]), _floats(v.get("evr")))
                  for k, v in _by_layer(d.get("shift_pca")).items()}
        sim, mv = _by_layer(d.get("similarity")), _by_layer(d.get("centroid_movement"))
        change = {k: LayerChange(_f((sim.get(k) or {}).get("cka")), _f((sim.get(k) or {}).get("rsa")),
                                 _f((mv.get(k) or {}).get("mean")))
                  for k in sorted(set(sim) | set(mv))}
        counts = {s: tuple(int(c) for c in v) for s, v in (d.get("label_counts") or {}).items() if v}
        return cls(str(d["model"]), str(d["task"]), labels, dict(d.get("n_targets") or {}), counts,
                   read_acc(acc.get("original")), read_acc(acc.get("finetuned")),
                   tuple(TableRow.read(r) for r in d.get("table") or ()),
                   LayerDynamics.read(d.get("layer_dynamics")), MinDistanceSeries.read(d.get("min_distance_series")),
                   paths, shifts, change, _slug(f"run-{d['model']}-{d['task']}"),
                   LayerDynamics.read(d.get("recorded_dynamics")), (d.get("recorded_dynamics") or {}).get("split"), *_group(d),
                   _base_model(d))


def _group(d: Mapping) -> tuple[str, int | None]:
    """A run's group (its model and swept settings but the seed: the ``replicate`` the study
    records) and its seed, from the variant (older results: the model name, no seed)."""
    v = d.get("variant") or {}
    seed = (v.get("settings") or {}).get("seed") if "seed" in (v.get("swept") or ()) else None
    return str(d.get("replicate") or d["model"]), seed


def _base_model(d: Mapping) -> str:
    """The model a run's variant was made from; older results without it: the run's label less
    its sweep point (``minilm method=lora seed=1`` -> ``minilm``)."""
    if d.get("base_model"):
        return str(d["base_model"])
    label = str(d["model"])
    return " ".join(p for p in label.split(" ") if "=" not in p) or label


@dataclass(frozen=True)
class CrossTask:
    """Fine-tuned on ``finetune_task``, probed on ``probe_task``."""

    model: str
    finetune_task: str
    probe_task: str
    layer: int
    up: int
    down: int
    mean_change: float | None
    per_label: dict[str, float]
    accuracy_before: float | None
    accuracy_after: float | None

    @classmethod
    def read(cls, d: Mapping) -> CrossTask:
        per = {str(k): _f(v) for k, v in (d.get("per_label") or {}).items() if _f(v) is not None}
        return cls(str(d["model"]), str(d["finetune_task"]), str(d["probe_task"]), int(d["layer"]),
                   int(d.get("up", 0)), int(d.get("down", 0)), _f(d.get("mean_change")), per,
                   _f(d.get("accuracy_before")), _f(d.get("accuracy_after")))


@dataclass(frozen=True)
class FindingResult:
    """One of the paper's findings checked on the study; ``evidence`` is compare's plain JSON."""

    number: int
    title: str
    verdict: str
    explanation: str
    evidence: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class TaskSummary:
    name: str
    kind: str
    n_labels: int  # labels the task defines (all splits)
    n_targets: dict[str, int]


@dataclass(frozen=True)
class StageCost:
    stage: str
    steps: int
    wall_seconds: float
    cpu_seconds: float
    steps_without_cpu: int

    @classmethod
    def read(cls, d: Mapping) -> StageCost:
        return cls(str(d["stage"]), int(d["steps"]), float(d["wall_seconds"]), float(d["cpu_seconds"]),
                   int(d.get("steps_without_cpu", 0)))


@dataclass(frozen=True)
class Machine:
    host: str | None
    cpus: int | None
    gpu: str | None
    steps: int
    stages: tuple[tuple[str, int], ...]  # step kind -> steps of it that ran here


@dataclass(frozen=True)
class StudyCost:
    """Wall and CPU seconds by stage, the whole, and where the steps ran (results.json's cost)."""

    stages: tuple[StageCost, ...]
    total: StageCost
    machines: tuple[Machine, ...]

    @classmethod
    def read(cls, d: Mapping | None) -> StudyCost | None:
        if not d:
            return None
        return cls(tuple(StageCost.read(s) for s in d.get("by_stage") or ()), StageCost.read(d["total"]),
                   tuple(Machine(m.get("host"), m.get("cpus"), m.get("gpu"), int(m["steps"]),
                                 tuple((str(k), int(n)) for k, n in (m.get("stages") or {}).items()))
                         for m in d.get("machines") or ()))


@dataclass(frozen=True)
class StudyResults:
    """A finished study's results, as the report reads them."""

    version: str
    n_steps: int
    models: dict[str, str]  # name -> where it came from, as the user gave it (no machine paths)
    tasks: dict[str, TaskSummary]
    runs: tuple[Run, ...]
    cross_task: tuple[CrossTask, ...]
    findings: tuple[FindingResult, ...]
    raw_runs: tuple[Mapping, ...] = ()  # the runs as results.json holds them (sections that read more)
    paper: tuple[Comparison, ...] = ()  # the paper's numbers beside this study's
    paper_dynamics: tuple[DynamicsComparison, ...] = ()
    paper_cross_task: tuple[CrossTaskCounts, ...] = ()  # labels moved apart / closer, beside bert-base's
    by_variant: tuple[VariantVerdicts, ...] = ()  # the findings on each fine-tuned variant alone
    by_threshold: tuple[ThresholdVerdicts, ...] = ()  # the findings with each threshold moved
    left_out: tuple[str, ...] = ()  # runs the findings leave out (a frozen encoder: method head)
    cost: StudyCost | None = None  # what the study cost, by stage and machine
    notes: StudyNotes | None = None  # the authors' notes and diagnoses ([report] notes), as Markdown

    @classmethod
    def from_json(cls, d: Mapping) -> StudyResults:
        try:
            cfg_models = {m.get("name"): m for m in (d.get("config") or {}).get("models") or ()}
            models = {name: _model_origin(name, cfg_models.get(name) or {}, info or {})
                      for name, info in (d.get("models") or {}).items()}
            tasks = {k: TaskSummary(k, str(v.get("kind", "")), int(v.get("n_labels", 0)), dict(v.get("n_targets") or {}))
                     for k, v in (d.get("tasks") or {}).items()}
            return cls(str(d.get("ftprobe_version", "")), int(d.get("n_steps", 0)), models, tasks,
                       _unique_anchors(tuple(Run.read(r) for r in d.get("runs") or ())),
                       tuple(CrossTask.read(r) for r in d.get("cross_task") or ()),
                       tuple(FindingResult(int(f["number"]), str(f["title"]), str(f["verdict"]),
                                           str(f.get("explanation", "")), f.get("evidence") or {})
                             for f in d.get("findings") or ()),
                       raw_runs=tuple(d.get("runs") or ()),
                       paper=tuple(Comparison(**c) for c in (d.get("paper") or {}).get("side_by_side") or ()),
                       paper_dynamics=tuple(DynamicsComparison(**c)
                                            for c in (d.get("paper") or {}).get("dynamics") or ()),
                       paper_cross_task=tuple(CrossTaskCounts(**c)
                                              for c in (d.get("paper") or {}).get("cross_task_counts") or ()),
                       by_variant=tuple(VariantVerdicts(str(v["group"]), v.get("seed"), tuple(v["verdicts"]),
                                                        int(v["n_cases"]))
                                        for v in (d.get("robustness") or {}).get("by_variant") or ()),
                       by_threshold=tuple(ThresholdVerdicts(str(t["threshold"]), float(t["value"]),
                                                            bool(t["default"]), tuple(t["verdicts"]))
                                          for t in (d.get("robustness") or {}).get("by_threshold") or ()),
                       left_out=tuple(((d.get("findings_input") or {}).get("left_out") or {}).get("runs") or ()),
                       cost=StudyCost.read(d.get("cost")),
                       notes=StudyNotes.read(d.get("notes")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"results.json is not a finished study's results ({type(exc).__name__}: {exc})") from exc

    @classmethod
    def load(cls, path: str | Path) -> StudyResults:
        path = Path(path)
        if path.is_dir():
            path = path / "results.json"
        if not path.is_file():
            raise UserError(f"{path}: no such file (a finished study's folder holds results.json)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from exc
        return cls.from_json(data)

    def __repr__(self) -> str:
        verdicts = ", ".join(f"{f.number}:{f.verdict}" for f in self.findings)
        return (f"StudyResults({len(self.models)} models, {len(self.tasks)} tasks, {len(self.runs)} runs, "
                f"findings {verdicts or 'none'})")

    def _repr_html_(self) -> str:
        from ftprobe.report.notebook import results_html

        return results_html(self)


def _unique_anchors(runs: tuple[Run, ...]) -> tuple[Run, ...]:
    seen: dict[str, int] = {}
    out = []
    for r in runs:
        seen[r.anchor] = seen.get(r.anchor, 0) + 1
        out.append(r if seen[r.anchor] == 1 else replace(r, anchor=f"{r.anchor}-{seen[r.anchor]}"))
    return tuple(out)


def _model_origin(name: str, cfg: Mapping, info: Mapping) -> str:
    """Where a model came from, as the user wrote it: the config's path or hub name, never the
    folder it resolved to on the machine that ran the study."""
    given = cfg.get("path")
    if given:
        return str(given)
    source = str(info.get("source") or "")
    if not source or source.startswith("/") or ":\\" in source:
        return "bundled all-MiniLM-L6-v2" if name == "minilm" or "minilm" in source.lower() else name
    return source


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower())
    while "--" in out:
        out = out.replace("--", "-")
    return out.strip("-")
