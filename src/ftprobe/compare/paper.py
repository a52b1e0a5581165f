"""The paper's own numbers, and a study's results side by side with them.

Zhou & Srikumar (2022) report, for five BERT sizes, probe accuracy, DirectProbe cluster counts and
train/test similarity before and after fine-tuning (their table), cross-task counts for bert-base
probed on PS-fxn, and the end-of-training layer dynamics of bert-base. ``PAPER_TABLE``,
``PAPER_CROSS_TASK`` and ``PAPER_LAYER_DYNAMICS`` hold them as typed rows (values read from the
paper's tables; ``~`` values read off its plots are given as ranges). ``side_by_side`` puts a
study's ``results.json`` beside them: for each comparable number, the paper's value for the
closest model size that reports it, ftprobe's value (mean and spread over the runs of that model
and task, e.g. fine-tuning seeds), and whether the direction of the change agrees;
``cross_task_counts_side_by_side`` the labels each cross-task pair moved apart and closer, and
``dynamics_side_by_side`` the layer dynamics against the paper's ranges.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

from ftprobe.compare.spread import mean_sd


@dataclass(frozen=True)
class PaperModel:
    name: str
    n_layers: int
    hidden: int


PAPER_MODELS = (
    PaperModel("tiny", 2, 128),
    PaperModel("mini", 4, 256),
    PaperModel("small", 4, 512),
    PaperModel("medium", 8, 512),
    PaperModel("base", 12, 768),
)
_MODEL = {m.name: m for m in PAPER_MODELS}


@dataclass(frozen=True)
class PaperRow:
    """One row of the paper's table (accuracies in percent; None where the paper gives '-')."""

    model: str
    task: str
    acc_before: float
    acc_after: float
    clusters_before: int
    clusters_after: int
    train_test_before: float | None
    train_test_after: float | None


PAPER_TABLE = (
    PaperRow("tiny", "pos", 90.76, 91.67, 3936, 20, None, None),
    PaperRow("tiny", "dep", 86.74, 89.04, 653, 46, None, 0.88),
    PaperRow("tiny", "ps-fxn", 74.14, 74.40, 402, 40, None, 0.72),
    PaperRow("tiny", "ps-role", 58.38, 60.31, 46, 46, 0.76, 0.70),
    PaperRow("tiny", "trec-50", 68.12, 84.04, 399, 51, None, None),
    PaperRow("mini", "pos", 93.81, 94.91, 2429, 17, None, 0.70),
    PaperRow("mini", "trec-50", 74.12, 88.36, 127, 52, None, None),
    PaperRow("small", "pos", 94.26, 95.43, 17, 17, 0.96, 0.72),
    PaperRow("small", "ps-fxn", 86.26, 85.08, 40, 40, 0.82, 0.44),
    PaperRow("medium", "dep", 92.54, 94.76, 46, 46, 0.94, 0.79),
    PaperRow("base", "pos", 93.39, 95.68, 17, 17, 0.97, 0.70),
    PaperRow("base", "dep", 89.39, 94.76, 46, 46, 0.92, 0.76),
    PaperRow("base", "ps-fxn", 87.75, 89.58, 40, 40, 0.84, 0.57),
    PaperRow("base", "ps-role", 74.49, 81.14, 46, 46, 0.82, 0.52),
    PaperRow("base", "trec-50", 85.24, 90.36, 162, 51, None, None),
)


@dataclass(frozen=True)
class PaperCrossTask:
    """bert-base fine-tuned on ``finetune``, probed on ``probe``: labels whose minimum distance
    rose / fell, the mean change, and the probe accuracy (percent)."""

    finetune: str
    probe: str
    up: int
    down: int
    mean_change: float
    accuracy: float


PAPER_CROSS_TASK = (
    PaperCrossTask("ps-fxn", "ps-fxn", 40, 0, 5.29, 89.58),
    PaperCrossTask("ps-role", "ps-fxn", 27, 13, 1.02, 88.53),
    PaperCrossTask("pos", "ps-fxn", 0, 40, -1.68, 83.24),
)
PAPER_CROSS_TASK_NONE_ACCURACY = 87.75  # PS-fxn probed on bert-base before any fine-tuning


@dataclass(frozen=True)
class PaperDynamics:
    """bert-base at the end of fine-tuning: Pearson of layer ``layer`` (of 12) with itself before,
    as a range read off the paper's plot."""

    layer: int
    low: float
    high: float

    @property
    def depth(self) -> float:
        return self.layer / 12


PAPER_LAYER_DYNAMICS = (
    PaperDynamics(2, 0.97, 1.0),
    PaperDynamics(4, 0.97, 1.0),
    PaperDynamics(8, 0.79, 0.90),
    PaperDynamics(10, 0.64, 0.80),
    PaperDynamics(12, 0.52, 0.69),
)


def closest_paper_model(n_layers: int, hidden: int, among: Iterable[str] | None = None) -> PaperModel:
    """The paper's model size nearest to (n_layers, hidden) on log scales (ties: the smaller)."""
    if n_layers < 1 or hidden < 1:
        raise ValueError(f"n_layers and hidden must be positive, got {n_layers} and {hidden}")
    names = list(among) if among is not None else [m.name for m in PAPER_MODELS]
    if not names:
        raise ValueError("among: no paper model to choose from")
    cands = [_MODEL[n] for n in names]

    def dist(m: PaperModel) -> float:
        return abs(math.log(n_layers / m.n_layers)) + abs(math.log(hidden / m.hidden))

    return min(cands, key=lambda m: (round(dist(m), 12), m.n_layers, m.hidden))


@dataclass(frozen=True)
class Comparison:
    """One number side by side: the paper's (before, after) and ours (means over runs, with the
    standard deviation over runs when there are several) and whether the change goes the same
    way. ``agrees`` is None where either side has no value or no direction (a change within
    ``tie``)."""

    model: str
    task: str
    quantity: str  # "accuracy" | "clusters" | "train_test_r" | "cross_task_mean_change" | ...
    paper_model: str
    paper_before: float | None
    paper_after: float | None
    ours_before: float | None
    ours_after: float | None
    ours_before_sd: float | None
    ours_after_sd: float | None
    n_runs: int
    paper_direction: str | None  # "up" | "down" | "same"
    ours_direction: str | None
    agrees: bool | None

    def to_json(self) -> dict:
        return asdict(self)


def replicate_of(entry: Mapping) -> str:
    """The name a run (or cross-task entry) shares with the runs that differ from it only in the
    fine-tuning seed; a study without a seed sweep: its model name."""
    return str(entry.get("replicate") or entry["model"])


def _direction(before: float | None, after: float | None, tie: float) -> str | None:
    if before is None or after is None:
        return None
    d = after - before
    if abs(d) <= tie:
        return "same"
    return "up" if d > 0 else "down"


def _compare(model, task, quantity, paper_model, pb, pa, ours_b, ours_a, tie_paper, tie_ours) -> Comparison:
    mb, sb = mean_sd(ours_b)
    ma, sa = mean_sd(ours_a)
    dp, do = _direction(pb, pa, tie_paper), _direction(mb, ma, tie_ours)
    return Comparison(model, task, quantity, paper_model, pb, pa, mb, ma, sb, sa,
                      max(len(ours_b), len(ours_a)), dp, do, None if dp is None or do is None else dp == do)


def _last_row(run: Mapping) -> Mapping | None:
    rows = run.get("table") or []
    return max(rows, key=lambda r: r["layer"]) if rows else None


def _pct(x):
    return None if x is None else 100.0 * float(x)


def _r(tt: Mapping | None):
    return None if not tt else tt.get("r")


def side_by_side(results: Mapping, model_sizes: Mapping[str, tuple[int, int]]) -> list[Comparison]:
    """A study's ``results.json`` beside the paper.

    ``model_sizes`` maps each study model name to its (number of layers, hidden size), which picks
    the paper's closest model for every task it reports. Runs of the same model and task (e.g.
    fine-tuning seeds) are replicates: ours is their mean and standard deviation. Accuracy, cluster
    counts and train/test Pearson are read at each run's last DirectProbe layer (the paper's
    table); cross-task rows compare with bert-base's (the only size the paper gives); the layer
    dynamics are compared apart (``dynamics_side_by_side``): their paper values are ranges.
    """
    groups: dict[tuple[str, str], list[Mapping]] = {}
    for run in results.get("runs", []):
        if run.get("table"):
            groups.setdefault((replicate_of(run), run["task"]), []).append(run)
    out: list[Comparison] = []
    for (model, task), runs in groups.items():
        base = runs[0].get("base_model", model)
        if base not in model_sizes:
            raise ValueError(f"model_sizes: no size for study model {base!r}")
        reported = [r.model for r in PAPER_TABLE if r.task == task]
        if not reported:
            continue
        pm = closest_paper_model(*model_sizes[base], among=reported)
        row = next(r for r in PAPER_TABLE if r.model == pm.name and r.task == task)
        last = [_last_row(r) for r in runs]
        last = [r for r in last if r is not None and "accuracy_after" in r]
        if not last:
            continue
        for quantity, paper_b, paper_a, ours_b, ours_a in (
                ("accuracy", row.acc_before, row.acc_after, [_pct(r.get("accuracy_before")) for r in last],
                 [_pct(r.get("accuracy_after")) for r in last]),
                ("clusters", row.clusters_before, row.clusters_after, [r.get("clusters_before") for r in last],
                 [r.get("clusters_after") for r in last]),
                ("train_test_r", row.train_test_before, row.train_test_after,
                 [_r(r.get("train_test_before")) for r in last], [_r(r.get("train_test_after")) for r in last])):
            if all(v is None for v in ours_b + ours_a):
                continue  # not measured in this study (its analyses left it out, or no space allowed it)
            out.append(_compare(model, task, quantity, pm.name, paper_b, paper_a, ours_b, ours_a, 0.0, 0.0))
    out.extend(_cross_task_side_by_side(results))
    return out


def _cross_task_side_by_side(results: Mapping) -> list[Comparison]:
    by_pair: dict[tuple[str, str, str], list[Mapping]] = {}
    for model, a, b, _, e in _cross_task_changes(results):
        by_pair.setdefault((model, a, b), []).append(e)
    out = []
    for (model, a, b), entries in by_pair.items():
        paper = next((p for p in PAPER_CROSS_TASK if p.finetune == a and p.probe == b), None)
        if paper is None:
            continue
        # the change is a "direction" from 0: before = 0, after = the mean change
        out.append(_compare(model, f"{a}->{b}", "cross_task_mean_change", "base", 0.0, paper.mean_change,
                            [0.0] * len(entries), [e.get("mean_change") for e in entries], 0.0, 0.0))
        out.append(_compare(model, f"{a}->{b}", "cross_task_accuracy", "base",
                            PAPER_CROSS_TASK_NONE_ACCURACY, paper.accuracy,
                            [_pct(e.get("accuracy_before")) for e in entries],
                            [_pct(e.get("accuracy_after")) for e in entries], 0.0, 0.0))
    return out


@dataclass(frozen=True)
class DynamicsComparison:
    """A layer's end-of-training Pearson with itself before fine-tuning (mean and sd over runs),
    beside bert-base's range at the nearest relative depth; ``within`` allows 0.05 either side."""

    model: str
    task: str
    layer: int
    depth: float  # layer / number of layers
    paper_layer: int  # of 12
    paper_low: float
    paper_high: float
    ours_mean: float
    ours_sd: float | None
    n_runs: int
    within: bool

    def to_json(self) -> dict:
        return asdict(self)


def dynamics_side_by_side(results: Mapping) -> list[DynamicsComparison]:
    """The layer-dynamics pattern beside bert-base's: every layer above the embeddings of every
    (model, task) with a fine-tuning series."""
    groups: dict[tuple[str, str], list[Mapping]] = {}
    for run in results.get("runs", []):
        groups.setdefault((replicate_of(run), run["task"]), []).append(run)
    out = []
    for (model, task), runs in groups.items():
        per_layer: dict[int, list[float]] = {}
        n_layers = 0
        for run in runs:
            dyn = run.get("layer_dynamics") or {}
            if not dyn.get("points"):
                continue
            n_layers = max(n_layers, max(run.get("probe_layers") or [0]))
            for layer in dyn.get("layers", []):
                series = dyn["pearson"].get(str(layer)) or []
                if series and series[-1] is not None:
                    per_layer.setdefault(int(layer), []).append(float(series[-1]))
        for layer, vals in sorted(per_layer.items()):
            if layer == 0 or not n_layers:
                continue
            depth = layer / n_layers
            ref = min(PAPER_LAYER_DYNAMICS, key=lambda d: (round(abs(d.depth - depth), 9), d.layer))
            mean, sd = mean_sd(vals)
            out.append(DynamicsComparison(model, task, layer, depth, ref.layer, ref.low, ref.high, mean, sd,
                                          len(vals), ref.low - 0.05 <= mean <= ref.high + 0.05))
    return out


@dataclass(frozen=True)
class CrossTaskCounts:
    """A model fine-tuned on ``finetune`` and probed on ``probe`` (the same task: its own
    fine-tuning), at the last DirectProbe layer: how many of the probe task's labels moved apart
    (minimum distance to the other labels up) and closer, bert-base's counts beside this study's
    (mean and sd over runs, e.g. fine-tuning seeds). ``agrees``: both majorities point the same
    way ("apart", "closer" or "even")."""

    model: str
    finetune: str
    probe: str
    layer: int
    paper_apart: int
    paper_closer: int
    paper_mean_change: float
    ours_apart: float
    ours_apart_sd: float | None
    ours_closer: float
    ours_closer_sd: float | None
    ours_mean_change: float | None
    ours_mean_change_sd: float | None
    n_labels: int  # the probe task's labels compared (the most over runs)
    n_runs: int
    paper_majority: str
    ours_majority: str
    agrees: bool

    def to_json(self) -> dict:
        return asdict(self)


def _majority(apart: float, closer: float) -> str:
    return "apart" if apart > closer else "closer" if closer > apart else "even"


def _own_task_changes(results: Mapping) -> list[tuple[str, str, str, int, Mapping]]:
    """(model, task, task, layer, min-distance change) of each run's last table layer: a task's
    own fine-tuning seen as the pair (task -> task)."""
    out = []
    for run in results.get("runs", []):
        last = _last_row(run)
        change = None if last is None else last.get("min_distance_change")
        if change and change.get("n_compared"):
            out.append((replicate_of(run), run["task"], run["task"], int(last["layer"]), change))
    return out


def _cross_task_changes(results: Mapping) -> list[tuple[str, str, str, int, Mapping]]:
    """(model, A, B, layer, entry) of each cross-task entry at its pair's last layer."""
    last: dict[tuple[str, str, str], int] = {}
    for e in results.get("cross_task", []):
        key = (replicate_of(e), e["finetune_task"], e["probe_task"])
        last[key] = max(last.get(key, e["layer"]), e["layer"])
    return [(replicate_of(e), e["finetune_task"], e["probe_task"], int(e["layer"]), e)
            for e in results.get("cross_task", [])
            if e["layer"] == last[(replicate_of(e), e["finetune_task"], e["probe_task"])]]


def cross_task_counts_side_by_side(results: Mapping) -> list[CrossTaskCounts]:
    """The paper's cross-task counts (bert-base, probed on PS-fxn: fine-tuned on PS-fxn itself, on
    PS-role, on POS) beside a study's ``results.json``: for each pair the study has, at its last
    DirectProbe layer, the labels moved apart and closer (mean and sd over runs)."""
    groups: dict[tuple[str, str, str], list[tuple[int, Mapping]]] = {}
    for model, a, b, layer, change in _own_task_changes(results) + _cross_task_changes(results):
        groups.setdefault((model, a, b), []).append((layer, change))
    out = []
    for (model, a, b), entries in groups.items():
        paper = next((p for p in PAPER_CROSS_TASK if p.finetune == a and p.probe == b), None)
        if paper is None:
            continue
        apart, apart_sd = mean_sd(e.get("up") for _, e in entries)
        closer, closer_sd = mean_sd(e.get("down") for _, e in entries)
        change, change_sd = mean_sd(e.get("mean_change") for _, e in entries)
        if apart is None or closer is None:
            continue
        paper_majority, ours_majority = _majority(paper.up, paper.down), _majority(apart, closer)
        out.append(CrossTaskCounts(
            model, a, b, max(layer for layer, _ in entries), paper.up, paper.down, paper.mean_change,
            apart, apart_sd, closer, closer_sd, change, change_sd,
            max(int(e.get("n_compared") or 0) for _, e in entries), len(entries),
            paper_majority, ours_majority, paper_majority == ours_majority))
    return out
