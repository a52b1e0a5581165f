"""A study's projected cost, step by step, before any work (``ftprobe study --dry-run``).

Each step's seconds come from its sizes (sentences, targets, layers, epochs, checkpoints, the
encoder's depth and width) times a measured rate. The rates are this package's own benchmark
numbers (bench/finetune, bench/extract, bench/probes, bench/gpu, and the DirectProbe timings of
PUD POS at 16,857 words): an estimate to plan a run by, within a factor of about two, not a
promise. DirectProbe's time depends on how far from linear a space is, which no size tells;
the embedding layer (layer 0) is the slowest in every measured case and gets its own factor.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ftprobe.study.plan import Plan, Step

REF_LAYERS, REF_HIDDEN = 6, 384  # all-MiniLM-L6-v2, the encoder the rates were measured on
REF_DP_TARGETS = 16_857  # PUD POS train, 80/10/10 split
REF_MEASURE_ROWS, REF_MEASURE_DRAWS = 500, 33  # MeasureSettings' defaults: 500 rows, 25 + 8 draws
WORDS_PER_SENTENCE = {"word": 18.0, "pair": 17.0, "sentence": 1.0}  # targets per sentence (PUD, STREUSLE, TREC)


@dataclass(frozen=True)
class Rates:
    """Measured throughputs of one machine kind (seconds are wall seconds of one step)."""

    name: str
    finetune_sentences_per_s: float  # training sentences per second, reference encoder
    extract_sentences_per_s: float  # forward passes with every layer written to the store
    probe_s_per_target_layer: float  # full grid (128 settings) + 5 seeds, per train target and layer
    directprobe_s_at_ref: float  # fit + distances + prediction, REF_DP_TARGETS targets, d = 384
    # time ~ targets ** exponent: PUD POS at 16.9k words ~200 s (layer 6: 165 s), STREUSLE PS-role
    # at 4.3k targets 2-7 s a layer (the paper-scale run); PUD POS layer 0: 59 s at 5k, 740 s at 16.9k
    directprobe_exponent: float = 2.4
    directprobe_layer0_factor: float = 2.5  # layer 0: 740 s against ~300 s for upper layers at 16.9k
    directprobe_s_floor: float = 0.5  # a small fit's fixed cost (PS-role test, 457 targets: 0.4-0.9 s)
    # one calibrated comparison (compare.compare_spaces: debiased CKA, Procrustes, mutual k-NN,
    # each with its null and half-sample interval) on REF_MEASURE_ROWS rows x 384 with
    # REF_MEASURE_DRAWS permutations + half-samples; ~ d ** 1.7 (the Procrustes SVDs)
    compare_s_at_ref: float = 4.0
    geometry_s_at_ref: float = 0.2  # a space's geometry (ranks, isotropy, TwoNN) on the same rows
    cka_s_per_target: float = 3e-5  # the full-row debiased CKA of one layer pair, d = 384
    label_control_s_at_500: float = 4.0  # real + one shuffled DirectProbe fit of 500 rows, d = 384 (3.1 s measured)


# 2 CPU cores: fine-tuning 41 sentences/s (bench/finetune), extraction ~350 sentences/s
# (bench/extract: EWT dev, 2,001 sentences in 5.8 s), the probe grid ~125 s for 2,000 targets x 7
# layers (bench/probes; 350-385 s for 4,285 x 7 beside another step in the paper-scale run),
# DirectProbe ~200 s per fit with measures at 16.9k targets (issue 22's tables),
# one calibrated comparison 4 s at 500 x 384 (8 s at load 2, 27 s at 768; bench/compare).
CPU_2_CORES = Rates("2 CPU cores", 41.0, 350.0, 0.011, 200.0)
# one H200 (bench/gpu): fine-tuning 1,379 sentences/s, extraction ~10x the CPU's, the probe grid
# 128 s for 20,000 targets x 7 layers; DirectProbe runs on the CPU cores beside it.
H200 = Rates("one H200 GPU (DirectProbe on its CPU cores)", 1379.0, 3500.0, 0.00091, 200.0,
             compare_s_at_ref=1.0, geometry_s_at_ref=0.1, cka_s_per_target=3e-6)


@dataclass(frozen=True)
class StepEstimate:
    step_id: str
    kind: str
    label: str
    seconds: float
    task: str | None = None


@dataclass(frozen=True)
class PlanEstimate:
    rates: Rates
    steps: tuple[StepEstimate, ...]
    by_kind: dict[str, float] = field(default_factory=dict)

    @property
    def total_seconds(self) -> float:
        return sum(s.seconds for s in self.steps)

    def only(self, step_ids) -> PlanEstimate:
        """The estimate of these steps alone (e.g. the ones still to run)."""
        keep = set(step_ids)
        return _estimate(self.rates, [s for s in self.steps if s.step_id in keep])

    def wall_seconds(self, workers: int) -> float:
        """Wall time with ``workers`` steps at once: no better than the longest step, nor than
        the total spread evenly."""
        if not self.steps:
            return 0.0
        return max(max(s.seconds for s in self.steps), self.total_seconds / max(1, workers))

    def summary(self, workers: int = 1) -> str:
        if not self.steps:
            return f"projected on {self.rates.name}: nothing left to run"
        parts = ", ".join(f"{k} {format_seconds(v)}" for k, v in sorted(self.by_kind.items(), key=lambda kv: -kv[1]))
        return (f"projected on {self.rates.name}: {format_seconds(self.total_seconds)} of step time "
                f"({parts}); wall with {workers} worker(s) ~{format_seconds(self.wall_seconds(workers))}")


def format_seconds(s: float) -> str:
    """Seconds as a person reads them: "40 s", "12 min", "3.5 h"."""
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def encoder_size(source: str) -> tuple[int, int]:
    """(layers, hidden) from the model's config.json: a local folder's, or a hub name's in the
    local cache; the reference size otherwise (a hub name not yet downloaded)."""
    cfg = Path(source) / "config.json"
    if cfg.is_file():
        c = json.loads(cfg.read_text(encoding="utf-8"))
    else:
        try:
            from transformers import AutoConfig

            c = AutoConfig.from_pretrained(source, local_files_only=True).to_dict()
        except (OSError, ValueError):
            return REF_LAYERS, REF_HIDDEN
    layers = c.get("num_hidden_layers") or c.get("n_layer") or c.get("num_layers") or REF_LAYERS
    hidden = c.get("hidden_size") or c.get("n_embd") or c.get("d_model") or REF_HIDDEN
    return int(layers), int(hidden)


class _Sizes:
    """What the plan knows of each step's inputs: its task, split sizes, the encoder's size."""

    def __init__(self, plan: Plan):
        self.plan = plan
        self.model_size = {n: encoder_size(m.source) for n, m in plan.models.items()}

    def task_of(self, step: Step):
        spec_task = step.spec.get("task")
        if isinstance(spec_task, dict) and spec_task.get("name") in self.plan.tasks:
            return self.plan.tasks[spec_task["name"]]
        for dep in step.deps.values():  # probe and directprobe steps: through their inputs
            t = self.task_of(self.plan.steps[dep])
            if t is not None:
                return t
        return None

    def split_of(self, step: Step) -> str:
        if "split" in step.spec:
            return step.spec["split"]
        for dep in step.deps.values():
            return self.split_of(self.plan.steps[dep])
        return "train"

    def size_factor(self, step: Step) -> float:
        """Forward/backward cost relative to the reference encoder (~ layers x hidden^2)."""
        layers, hidden = self._model_size(step)
        return (layers * hidden * hidden) / (REF_LAYERS * REF_HIDDEN * REF_HIDDEN)

    def _model_size(self, step: Step) -> tuple[int, int]:
        if len(self.model_size) == 1:
            return next(iter(self.model_size.values()))
        model = step.label.split("/", 1)[0]  # labels start with the study's model name
        return self.model_size.get(model, (REF_LAYERS, REF_HIDDEN))

    def n_layers(self, step: Step) -> int:
        return self._model_size(step)[0] + 1  # + embeddings

    def hidden(self, step: Step) -> int:
        return self._model_size(step)[1]


def _sentences(task, split: str) -> float:
    if split in task.n_sentences:  # read off the data (STREUSLE has ~1.6 targets a sentence, PUD ~18)
        return task.n_sentences[split]
    return task.n_targets.get(split, 0) / WORDS_PER_SENTENCE.get(task.kind, 1.0)


def _directprobe_seconds(r: Rates, n: int, dim: int, layer: int) -> float:
    t = r.directprobe_s_at_ref * (max(n, 1) / REF_DP_TARGETS) ** r.directprobe_exponent
    t *= math.sqrt(dim / REF_HIDDEN)
    return r.directprobe_s_floor + t * (r.directprobe_layer0_factor if layer == 0 else 1.0)


def _series_layers(series_spec: dict, n_layers: int) -> list[int]:
    """The layers a series step fits at every checkpoint (``checkpoint_layers``)."""
    layers = series_spec["checkpoint_layers"]
    if layers == "all":
        return list(range(n_layers))
    if layers == "every-other":
        return list(range(0, n_layers, 2))
    return [int(x) % n_layers for x in layers]


def _measure_factor(plan: Plan, dim: int) -> float:
    """A calibrated comparison's cost relative to the reference (rows, draws and width)."""
    m = plan.config.measures
    return (m.max_rows / REF_MEASURE_ROWS) * ((m.n_null + m.n_interval) / REF_MEASURE_DRAWS) \
        * (dim / REF_HIDDEN) ** 1.7


def _epochs(plan: Plan, step: Step, n_layers: int) -> int:
    ft = step.spec.get("finetune") or plan.config.finetune.model_dump()
    return int(ft.get("epochs") or (3 if n_layers - 1 >= 12 else 10))


def _n_checkpoints(plan: Plan, task, epochs: int) -> int:
    ft = plan.config.finetune
    n = epochs if ft.checkpoint_every_epoch else 0
    if ft.checkpoint_every_steps:
        steps = math.ceil(_sentences(task, "train") / ft.batch_size) * epochs
        n += steps // ft.checkpoint_every_steps
    return max(n, 1)


def estimate_plan(plan: Plan, rates: Rates = CPU_2_CORES) -> PlanEstimate:
    """Seconds for every step of ``plan`` on a machine with ``rates``."""
    sz = _Sizes(plan)
    out: list[StepEstimate] = []
    for sid, step in plan.steps.items():
        task = sz.task_of(step)
        secs = 0.0
        if task is not None:
            n_layers = sz.n_layers(step)
            dim = sz.hidden(step) * (2 if task.kind == "pair" else 1)
            if step.kind == "finetune":
                epochs = _epochs(plan, step, n_layers)
                share = float(step.spec["finetune"].get("train_fraction", 1.0))  # a seeded share
                secs = (_sentences(task, "train") * share * epochs / rates.finetune_sentences_per_s
                        * sz.size_factor(step))
            elif step.kind == "extract":
                secs = _sentences(task, sz.split_of(step)) / rates.extract_sentences_per_s * sz.size_factor(step)
            elif step.kind == "probe":
                p = step.spec["probe"]
                grid = len(p["hidden_sizes"]) ** 2 * len(p["l2"]) / 128
                layers = n_layers if p["layers"] == "all" else len(p["layers"])
                secs = (task.n_targets.get("train", 0) * layers * rates.probe_s_per_target_layer
                        * grid * (1 + p["seeds"]) / 6 * math.sqrt(dim / REF_HIDDEN))
            elif step.kind == "directprobe":
                n = task.n_targets.get(sz.split_of(step), 0)
                secs = _directprobe_seconds(rates, n, dim, int(step.spec["layer"]))
            elif step.kind == "series":
                epochs = _epochs(plan, step, n_layers)
                ck = _n_checkpoints(plan, task, epochs)
                chosen = _series_layers(step.spec, n_layers)
                n = task.n_targets.get("train", 0)
                per_ck = sum(_directprobe_seconds(rates, n, dim, x) for x in chosen)
                per_ck += _sentences(task, "train") / rates.extract_sentences_per_s * sz.size_factor(step)
                secs = (ck + 1) * per_ck  # the original model and every checkpoint
            elif step.kind == "recorded":  # DirectProbe on the probe split at every recorded step
                epochs = _epochs(plan, step, n_layers)
                total = math.ceil(_sentences(task, "train") / plan.config.finetune.batch_size) * epochs
                n_records = 1 + total // max(1, plan.config.finetune.record_every_steps or total)
                n = task.n_targets.get("dev", task.n_targets.get("test", 0))
                secs = n_records * sum(_directprobe_seconds(rates, n, dim, x) for x in _series_layers(step.spec, n_layers))
            elif step.kind == "similarity":
                # every layer before vs after: the full-row CKA, one comparison, two geometries
                f = _measure_factor(plan, dim)
                per_layer = (task.n_targets.get("train", 0) * rates.cka_s_per_target * (dim / REF_HIDDEN) ** 2
                             + f * (rates.compare_s_at_ref + 2 * rates.geometry_s_at_ref))
                secs = n_layers * per_layer
            elif step.kind == "measures":
                # every checkpoint and the final model vs the original, at each layer of the series
                epochs = _epochs(plan, step, n_layers)
                points = _n_checkpoints(plan, task, epochs) + 1
                n_chosen = len(_series_layers(plan.steps[step.deps["series"]].spec, n_layers))
                f = _measure_factor(plan, dim)
                secs = n_chosen * f * ((points - 1) * rates.compare_s_at_ref + points * rates.geometry_s_at_ref)
            elif step.kind == "label_control":
                c = step.spec["control"]
                rows = min(c["max_rows"], task.n_targets.get("train", 0))
                secs = rates.label_control_s_at_500 * (rows / 500) ** 2 * (1 + c["n_shuffles"]) / 2
        out.append(StepEstimate(sid, step.kind, step.label, secs, None if task is None else task.name))
    return _estimate(rates, out)


@dataclass(frozen=True)
class Calibration:
    """What a study's finished steps took against their projection, as factors per step kind.

    ``factors[(kind, task)]``: measured / projected seconds over the finished steps of that kind
    and task; ``factors[(kind, None)]``: over every task's, for a task with none finished yet.
    Measured seconds are each step's wall time as it ran (beside other steps when the study ran
    several workers), so the calibrated projection says how the rest would go run the same way.
    """

    factors: dict[tuple[str, str | None], float]
    counts: dict[tuple[str, str | None], int]

    def factor(self, kind: str, task: str | None) -> float:
        return self.factors.get((kind, task), self.factors.get((kind, None), 1.0))

    def apply(self, est: PlanEstimate) -> PlanEstimate:
        return _estimate(est.rates, [replace(s, seconds=s.seconds * self.factor(s.kind, s.task))
                                     for s in est.steps])

    def describe(self) -> str:
        kinds = sorted({k for k, t in self.factors if t is None})
        return ", ".join(f"{k} x{self.factors[(k, None)]:.2g} ({self.counts[(k, None)]} steps)" for k in kinds)


def calibrate(est: PlanEstimate, measured: Mapping[str, float], min_steps: int = 2,
              min_projected_s: float = 30.0) -> Calibration:
    """Factors from the steps of ``est`` with a measured time (step id -> seconds).

    A kind (or a kind within one task) is calibrated once it has ``min_steps`` finished steps
    whose projections add up to ``min_projected_s`` at least: fewer, or only tiny steps (whose
    time is start-up, not work), say nothing about the rest.
    """
    sums: dict[tuple[str, str | None], list[float]] = {}
    for s in est.steps:
        if s.step_id not in measured or s.seconds <= 0:
            continue
        for group in ((s.kind, s.task), (s.kind, None)):
            acc = sums.setdefault(group, [0.0, 0.0, 0])
            acc[0] += float(measured[s.step_id])
            acc[1] += s.seconds
            acc[2] += 1
    factors, counts = {}, {}
    for group, (real, projected, n) in sums.items():
        if n >= min_steps and projected >= min_projected_s:
            factors[group], counts[group] = real / projected, int(n)
    return Calibration(factors, counts)


def _estimate(rates: Rates, steps: list[StepEstimate]) -> PlanEstimate:
    by_kind: dict[str, float] = {}
    for s in steps:
        by_kind[s.kind] = by_kind.get(s.kind, 0.0) + s.seconds
    return PlanEstimate(rates, tuple(steps), by_kind)
