"""From stored step results to ``results.json``: every analysis of the paper, plus the findings.

Each analysis is a function of ``ftprobe.compare`` applied to the numbers the steps stored; this
module only gathers those numbers per model/task and calls them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe import __version__
from ftprobe.compare import (
    CentroidMovement,
    bootstrap_ci,
    centroid_paths_pca,
    cross_task_change,
    evaluate_findings,
    findings_to_json,
    mantel_null,
    min_distance_change,
    pearson,
    plain,
    shift_pca,
)
from ftprobe.compare.paper import (
    cross_task_counts_side_by_side,
    dynamics_side_by_side,
    side_by_side,
)
from ftprobe.compare.robustness import verdicts_by_threshold, verdicts_by_variant
from ftprobe.report.notes import StudyNotes
from ftprobe.study.cache import StepCache
from ftprobe.study.config import read_notes
from ftprobe.study.cost import study_cost
from ftprobe.study.estimate import encoder_size
from ftprobe.study.plan import CrossSteps, Plan, RunSteps
from ftprobe.study.sweep import Variant

# the analysis (config ``analyses``) whose numbers each of the paper's findings reads
FINDING_ANALYSIS = {1: "accuracy", 2: "clusters", 3: "min_distance", 4: "train_test", 5: "layer_dynamics",
                    6: "cross_task"}
N_PATH_LABELS = 4  # labels shown in the centroid-path PCA: the closest ones before fine-tuning


def _f(v) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


class _Reader:
    def __init__(self, plan: Plan, cache: StepCache):
        self.plan, self.cache = plan, cache

    def result(self, sid: str) -> dict:
        s = self.plan.steps[sid]
        return self.cache.load(s.kind, s.key)

    def path(self, sid: str):
        s = self.plan.steps[sid]
        return self.cache.path(s.kind, s.key)

    def array(self, sid: str, name: str) -> np.ndarray:
        return np.load(self.path(sid) / name, allow_pickle=False)


def min_vector(dp: dict, labels: list[str]) -> list[float | None]:
    """A DirectProbe summary's per-label minimum distances over the task's labels (None: absent)."""
    md = dp.get("min_distances") or {}
    return [_f(md.get(name)) for name in labels]


def aligned_pair_vectors(dp_a: dict, dp_b: dict) -> tuple[np.ndarray, np.ndarray]:
    """Label-pair distances of two DirectProbe fits over the pairs of labels both hold."""
    A = np.array([[np.nan if v is None else v for v in row] for row in dp_a["label_distances"]], dtype=float)
    B = np.array([[np.nan if v is None else v for v in row] for row in dp_b["label_distances"]], dtype=float)
    iu = np.triu_indices(A.shape[0], k=1)
    a, b = A[iu], B[iu]
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def space_similarity(dp_a: dict, dp_b: dict, boot: dict | None, require_linear: bool = True) -> dict:
    """Pearson of two spaces' label-pair distance vectors, with a bootstrap CI (paper: only when
    both spaces are linear, i.e. #clusters == #labels) and its Mantel null (labels permuted)."""
    linear = bool(dp_a.get("linear")) and bool(dp_b.get("linear"))
    a, b = aligned_pair_vectors(dp_a, dp_b)
    out: dict[str, Any] = {"linear": linear, "n_pairs": int(a.size), "r": None, "ci": None, "r_any": None,
                           "null": None}
    if a.size >= 3:
        r = _f(pearson(a, b))
        out["r_any"] = r
        if linear or not require_linear:
            out["r"] = r
            if boot is not None:  # None: the study's analyses leave out the intervals
                lo, hi = bootstrap_ci(a, b, n_boot=boot["n"], level=boot["level"], seed=boot["seed"])
                out["ci"] = [_f(lo), _f(hi)]
                out["null"] = _mantel(dp_a, dp_b, boot)
    return out


def _mantel(dp_a: dict, dp_b: dict, boot: dict) -> dict | None:
    """The Pearson's Mantel null; None where it is undefined (too few labels, constant side)."""
    mat = lambda dp: np.array([[np.nan if v is None else v for v in row]  # noqa: E731
                               for row in dp["label_distances"]], dtype=float)
    try:
        return mantel_null(mat(dp_a), mat(dp_b), n=boot["n"], seed=boot["seed"]).to_json()
    except ValueError:
        return None


def _accuracy(probe: dict, layer: int) -> tuple[float | None, float | None]:
    r = probe["layers"].get(str(layer))
    return (None, None) if r is None else (_f(r["mean"]), _f(r["std"]))


def _table_row(key: str, dp0: dict, dp1: dict | None, p0: dict | None, p1: dict | None,
               labels: list[str], wanted: set[str], boot: dict | None) -> dict[str, Any]:
    """One layer of the paper's table, before (and after, with ``dp1``) fine-tuning: each column
    from the steps the study's analyses ran (None where it ran none)."""
    tuned = dp1 is not None
    b_tr, b_te = dp0.get("train", {}).get(key), dp0.get("test", {}).get(key)
    a_tr, a_te = ((dp1 or {}).get("train", {}).get(key), (dp1 or {}).get("test", {}).get(key))
    layer = b_tr["layer"] if b_tr else int(key)
    row: dict[str, Any] = {"layer": layer, "n_labels": b_tr["n_labels"] if b_tr else len(labels)}
    row["accuracy_before"], row["accuracy_before_std"] = _accuracy(p0, layer) if p0 else (None, None)
    clusters = "clusters" in wanted and b_tr is not None
    row["clusters_before"] = b_tr["n_clusters"] if clusters else None
    row["linear_before"] = b_tr["linear"] if b_tr else None
    train_test = "train_test" in wanted and b_tr is not None and b_te is not None
    row["train_test_before"] = space_similarity(b_tr, b_te, boot) if train_test else None
    min_dist = "min_distance" in wanted and b_tr is not None
    row["min_dist_before"] = min_vector(b_tr, labels) if min_dist else None
    row["space_scale_before"] = _f(b_tr.get("space_scale")) if min_dist else None  # absent: older steps
    if not tuned:
        return row
    row["accuracy_after"], row["accuracy_after_std"] = _accuracy(p1, layer) if p1 else (None, None)
    row["clusters_after"] = a_tr["n_clusters"] if clusters and a_tr else None
    row["linear_after"] = a_tr["linear"] if a_tr else None
    row["train_test_after"] = space_similarity(a_tr, a_te, boot) if train_test and a_tr and a_te else None
    row["min_dist_after"] = min_vector(a_tr, labels) if min_dist and a_tr else None
    row["space_scale_after"] = _f(a_tr.get("space_scale")) if min_dist and a_tr else None
    if row["min_dist_before"] is not None and row["min_dist_after"] is not None:
        ch = min_distance_change(row["min_dist_before"], row["min_dist_after"], labels, top=5)
        row["min_distance_change"] = ch.to_json()
        if row["space_scale_before"] and row["space_scale_after"]:
            ch = min_distance_change(row["min_dist_before"], row["min_dist_after"], labels, top=5,
                                     scales=(row["space_scale_before"], row["space_scale_after"]))
            row["min_distance_change_scale_free"] = ch.to_json()
    if b_tr and a_tr:
        row["before_after_similarity"] = space_similarity(b_tr, a_tr, boot, require_linear=False)
    return row


@dataclass
class _Gathered:
    """What the runs and cross-task pairs contribute, in plan order, before the findings."""

    runs: list[dict] = field(default_factory=list)  # one results entry per run
    cases: list[dict] = field(default_factory=list)  # finding 1-4 cases: (fine-tuned run, layer)
    dynamics: list[dict] = field(default_factory=list)  # finding 5: per fine-tuned run with a series
    cross: list[dict] = field(default_factory=list)  # finding 6: per (pair, layer)
    dp_original: dict[tuple[str, str], dict] = field(default_factory=dict)  # (model, task) -> train DP by layer
    probe_original: dict[tuple[str, str], dict | None] = field(default_factory=dict)  # (model, task) -> probe
    replicate: dict[str, str] = field(default_factory=dict)  # run label -> what its seed replicates share
    seed_of: dict[str, int | None] = field(default_factory=dict)  # run label -> fine-tuning seed, when swept
    frozen: list[str] = field(default_factory=list)  # runs whose encoder did not learn (method head)

    def learned(self, rows: list[dict]) -> list[dict]:
        """The rows of runs whose encoder learned: the findings and the paper's view read only
        those (a frozen encoder is a control)."""
        return [r for r in rows if r["model"] not in self.frozen]


def collect_results(plan: Plan, cache: StepCache) -> dict:
    rd = _Reader(plan, cache)
    cfg = plan.config
    wanted = set(cfg.analyses)  # an analysis left out has no numbers here, and its finding is not tested
    boot = cfg.bootstrap.model_dump() if "bootstrap" in wanted else None
    got = _Gathered()
    for run in plan.runs:
        _gather_run(rd, run, got, wanted, boot)
    for cross in plan.cross:
        _gather_cross(rd, cross, got)
    last_layer_cross = _last_layer_only(got.learned(got.cross))
    findings_input = {"cases": got.cases, "layer_dynamics": got.dynamics, "cross_task": last_layer_cross}
    findings = findings_to_json(evaluate_findings(findings_input))
    for f in findings:
        if FINDING_ANALYSIS[f["number"]] not in wanted:
            f.update(verdict="not tested", evidence={},
                     explanation=f"The study's analyses leave out {FINDING_ANALYSIS[f['number']]!r}.")
    # how firm each verdict is: on each variant (method, seed) alone, and with each threshold moved
    robustness = {"by_variant": [v.to_json() for v in verdicts_by_variant(findings_input)],
                  "by_threshold": [t.to_json() for t in verdicts_by_threshold(findings_input)]}
    sizes = {k: encoder_size(v.source) for k, v in plan.models.items()}
    paper_view = {"runs": got.learned(got.runs),  # the paper fine-tuned its encoders
                  "cross_task": got.learned(got.cross)}
    return plain({
        "ftprobe_version": __version__,
        "config": cfg.to_json(),
        "models": {k: {"source": v.source, "fingerprint": v.fingerprint, "n_layers": sizes[k][0],
                       "hidden": sizes[k][1]} for k, v in plan.models.items()},
        "tasks": {k: {"reader": v.reader, "kind": v.kind, "n_labels": len(v.labels), "n_targets": v.n_targets}
                  for k, v in plan.tasks.items()},
        "n_steps": len(plan.steps),
        # wall and CPU seconds by stage and the machines the steps ran on, read off the steps
        "cost": study_cost([(s.kind, rd.result(sid)) for sid, s in plan.steps.items()]),
        "runs": got.runs,
        "cross_task": got.cross,
        "findings": findings,
        "robustness": robustness,
        # the authors' reading of the numbers ([report] notes), kept here so the report rebuilds from this file
        "notes": _notes(cfg),
        # the paper's numbers beside this study's (compare.paper; seeds averaged, with their spread)
        "paper": {"side_by_side": [c.to_json() for c in side_by_side(paper_view, sizes)],
                  "cross_task_counts": [c.to_json() for c in cross_task_counts_side_by_side(paper_view)],
                  "dynamics": [d.to_json() for d in dynamics_side_by_side(paper_view)]},
        "findings_input": {"n_cases": len(got.cases), "n_layer_dynamics": len(got.dynamics),
                           "left_out": {"runs": got.frozen, "why": "method head: the encoder is frozen, so its "
                                                                   "representations cannot change"}
                           if got.frozen else None,
                           "n_cross_task": len(last_layer_cross)},
    })


def _notes(cfg) -> dict | None:
    text = read_notes(cfg)
    return None if text is None else StudyNotes(Path(cfg.report.notes).name, text).to_json()


def _gather_run(rd: _Reader, run: RunSteps, got: _Gathered, wanted: set[str], boot: dict | None) -> None:
    """One model x task: its results entry (the table, the series, the similarity, the centroid
    analyses, ...) and, fine-tuned, its cases for findings 1-5."""
    model, task = run.model, run.task
    ti = rd.plan.tasks[task]
    labels = ti.labels
    out: dict[str, Any] = {"model": model, "task": task, "base_model": run.variant.model,
                           "replicate": run.variant.replicate_label, "n_labels": len(labels),
                           "labels": labels, "n_targets": ti.n_targets, "variant": run.variant.to_json()}
    got.replicate[model] = out["replicate"]
    got.seed_of[model] = _swept_seed(run.variant)
    variant = {"replicate": out["replicate"], "seed": got.seed_of[model]}  # for the verdicts by variant
    ex0 = rd.result(run.extract_original["train"])
    # per split, targets of each label: the report's majority-class rate and label counts
    out["label_counts"] = {split: rd.result(sid).get("label_counts") for split, sid in run.extract_original.items()}
    p0 = rd.result(run.probe_original) if run.probe_original else None
    out["probe_layers"] = sorted(int(k) for k in p0["layers"]) if p0 else []
    out["accuracy"] = {"original": p0["layers"]} if p0 and "accuracy" in wanted else {}
    dp0 = {split: {k: rd.result(sid) for k, sid in by.items()} for split, by in run.dp_original.items()}
    got.dp_original[(model, task)] = {d["layer"]: d for d in dp0.get("train", {}).values()}
    got.probe_original[(model, task)] = p0
    tuned = run.finetune is not None
    p1, dp1 = None, {}
    if tuned:
        p1 = rd.result(run.probe_finetuned) if run.probe_finetuned else None
        if p1 and "accuracy" in wanted:
            out["accuracy"]["finetuned"] = p1["layers"]
        dp1 = {split: {k: rd.result(sid) for k, sid in by.items()} for split, by in run.dp_finetuned.items()}
        ft = rd.result(run.finetune)
        if ft.get("method") == "head" and model not in got.frozen:  # the encoder frozen: a control
            got.frozen.append(model)
        out["finetune"] = {"checkpoints": ft["checkpoints"], "metrics": ft["metrics"],
                           "method": ft.get("method", "full"), "lr": ft.get("lr"),
                           "train_fraction": ft.get("train_fraction", 1.0),
                           "train_sentences": ft.get("train_sentences"),
                           "trainable_parameters": ft.get("trainable_parameters")}
    learned = tuned and model not in got.frozen
    # the table: per DirectProbe layer (per probed layer in a study that fits no DirectProbe)
    table = []
    keys = list(run.dp_original.get("train") or ()) or [str(x) for x in out["probe_layers"]]
    for key in keys:
        row = _table_row(key, dp0, dp1 if tuned else None, p0 if "accuracy" in wanted else None,
                         p1 if "accuracy" in wanted else None, labels, wanted, boot)
        row["label_control_before"] = _control(rd, run.control_original, key)
        if tuned:
            row["label_control_after"] = _control(rd, run.control_finetuned, key)
        if learned:
            got.cases.append(_case(row, dp0.get("train", {}).get(key) or {}, model, task, variant, labels))
        table.append(row)
    out["table"] = table
    if tuned:
        if run.series:
            out.update(_series_analyses(rd, run, labels, boot, wanted))
        if run.recorded:  # probing during training: the recorder's steps
            out["recorded_dynamics"] = recorded_dynamics(rd.result(run.recorded), boot)
        if run.similarity:
            out["similarity"] = rd.result(run.similarity)["layers"]
        out.update(_centroid_analyses(rd, run, labels, wanted))
        if run.measures:
            out["measures"] = rd.result(run.measures)
        dyn = out.get("layer_dynamics")
        if dyn and dyn["points"] and learned:
            last = {str(layer): dyn["pearson"][str(layer)][-1] for layer in dyn["layers"]}
            got.dynamics.append({"model": model, **variant, "task": task, "pearson_by_layer": last,
                                 "n_layers": max(out["probe_layers"] or [int(x) for x in ex0["layers"]]),
                                 "calibrated_by_layer": _calibrated_last(out.get("measures"))})
    got.runs.append(out)


def _case(row: dict, before_train: dict, model: str, task: str, variant: dict, labels: list[str]) -> dict:
    """One (fine-tuned run, layer) case of findings 1-4, from its table row."""
    keep = ("layer", "accuracy_before", "accuracy_after", "accuracy_before_std", "accuracy_after_std",
            "clusters_before", "clusters_after", "n_labels")
    return {"model": model, **variant, "task": task, **{k: row[k] for k in keep},
            "coincident_before": before_train.get("n_coincident_conflicts"),
            "min_clusters_before": before_train.get("min_clusters"),
            "min_dist_before": row["min_dist_before"], "min_dist_after": row["min_dist_after"],
            "space_scale_before": row["space_scale_before"], "space_scale_after": row["space_scale_after"],
            "label_names": labels,
            "train_test_r_before": (row["train_test_before"] or {}).get("r"),
            "train_test_r_after": (row["train_test_after"] or {}).get("r")}


def _gather_cross(rd: _Reader, cross: CrossSteps, got: _Gathered) -> None:
    """One cross-task pair (fine-tuned on A, probed on B): per DirectProbe layer, B's label
    distances against the original encoder's (finding 6)."""
    model, a, b = cross.model, cross.finetune_task, cross.probe_task
    labels = rd.plan.tasks[b].labels
    p = rd.result(cross.probe)
    for sid in cross.dp.values():
        dp_a = rd.result(sid)
        layer = dp_a["layer"]
        before = got.dp_original.get((model, b), {}).get(layer)
        if before is None:
            continue
        acc_b = _accuracy(got.probe_original[(model, b)], layer)[0]
        acc_a = _accuracy(p, layer)[0]
        ch = cross_task_change(min_vector(before, labels), min_vector(dp_a, labels), labels,
                               acc_original=acc_b, acc_A=acc_a)
        got.cross.append({"model": model, "replicate": got.replicate.get(model, model),
                          "seed": got.seed_of.get(model), "finetune_task": a, "probe_task": b, "layer": layer,
                          "clusters": dp_a["n_clusters"], **ch.to_json()})


def _swept_seed(variant: Variant) -> int | None:
    """The fine-tuning seed of a variant whose seeds are swept (None otherwise)."""
    if "seed" not in variant.swept:
        return None
    return int(dict(variant.settings)["seed"])


def _control(rd: _Reader, steps: dict | None, key: str) -> dict | None:
    """The shuffled-label control of a table layer (None: not configured)."""
    sid = (steps or {}).get(key)
    return None if sid is None else rd.result(sid)


def _calibrated_last(measures: dict | None) -> dict | None:
    """The end of fine-tuning against the original, per layer: each measure's value, calibrated
    score and p-value (finding 5 reads them)."""
    if not measures or len(measures["points"]) < 2:
        return None
    out = {}
    for layer in measures["layers"]:
        last = measures["compare"][layer][-1] or {}
        if "cka" in last:  # absent where the comparison could not run (its reason is stored)
            out[layer] = {name: {k: last[name][k] for k in ("value", "calibrated", "p_value")}
                          for name in ("cka", "procrustes", "mutual_knn")}
    return out or None


def _last_layer_only(rows: list[dict]) -> list[dict]:
    """Finding 6 reads one row per (model, A, B): the last DirectProbe layer."""
    best: dict[tuple, dict] = {}
    for r in rows:
        k = (r["model"], r["finetune_task"], r["probe_task"])
        if k not in best or r["layer"] > best[k]["layer"]:
            best[k] = r
    return list(best.values())


def _series_analyses(rd: _Reader, run: RunSteps, labels: list[str], boot: dict | None, wanted: set[str]) -> dict:
    s = rd.result(run.series)
    layers = [int(x) for x in s["layers"]]
    per_point = s["per_point"]
    points = s["points"]
    min_dist = {}
    pearson_rows: dict[str, list] = {}
    ci_rows: dict[str, list] = {}
    clusters: dict[str, list] = {}
    for layer in layers:
        key = str(layer)
        ref = per_point[0][key]
        min_dist[key] = [min_vector(pp[key], labels) for pp in per_point]
        clusters[key] = [pp[key]["n_clusters"] for pp in per_point]
        if "layer_dynamics" not in wanted:
            continue  # its Pearsons (and their intervals) would be computed only to be dropped
        sims = [space_similarity(ref, pp[key], boot, require_linear=False) for pp in per_point]
        pearson_rows[key] = [sim["r"] for sim in sims]
        ci_rows[key] = [sim["ci"] for sim in sims]
    # centroid paths of the closest labels (smallest minimum distance before fine-tuning)
    paths = {}
    first_last = sorted({min(layers), max(layers)}) if layers and "centroid_paths" in wanted else []
    for layer in first_last:
        key = str(layer)
        before = np.array([np.inf if v is None else v for v in min_dist[key][0]])
        chosen = [int(i) for i in np.argsort(before, kind="stable")[:N_PATH_LABELS] if np.isfinite(before[i])]
        if len(chosen) < 2:
            continue
        C = rd.array(run.series, f"centroids-L{layer}.npy")
        coords, evr = centroid_paths_pca(C, chosen, return_evr=True)
        paths[key] = {"labels": [labels[i] for i in chosen], "coords": coords.tolist(), "evr": evr.tolist()}
    out = {"layer_dynamics": {"points": points, "layers": [str(x) for x in layers], "pearson": pearson_rows,
                              "ci": ci_rows, "clusters": clusters},
           "min_distance_series": {"points": points, "by_layer": min_dist},
           "centroid_paths": paths}
    analysis = {"layer_dynamics": "layer_dynamics", "min_distance_series": "min_distance",
                "centroid_paths": "centroid_paths"}
    return {k: v for k, v in out.items() if analysis[k] in wanted}


def recorded_dynamics(rec: dict, boot: dict | None) -> dict:
    """The recorded steps as layer dynamics: per layer, each step's Pearson (and 95 % interval)
    of the label-pair distances with step 0's (the model before any update), and DirectProbe's
    cluster count; ``split`` names the probe split they were recorded on."""
    pearson: dict[str, list] = {}
    ci: dict[str, list] = {}
    clusters: dict[str, list] = {}
    for layer in rec["layers"]:
        key = str(layer)
        ref = rec["per_point"][0][key]
        sims = [space_similarity(ref, pp[key], boot, require_linear=False) for pp in rec["per_point"]]
        pearson[key] = [x["r"] for x in sims]
        ci[key] = [x["ci"] for x in sims]
        clusters[key] = [pp[key]["n_clusters"] for pp in rec["per_point"]]
    return {"points": rec["points"], "steps": rec["steps"], "split": rec["split"],
            "layers": [str(x) for x in rec["layers"]], "pearson": pearson, "ci": ci, "clusters": clusters}


def _centroid_analyses(rd: _Reader, run: RunSteps, labels: list[str], wanted: set[str]) -> dict:
    """How far each label's train centroid moved (``centroid_movement``) and the PCA of those
    shifts (``centroid_shift``), per layer both models have; only the ones the study asks for."""
    want_movement, want_shift = "centroid_movement" in wanted, "centroid_shift" in wanted
    if not (want_movement or want_shift):
        return {}
    ex0 = rd.result(run.extract_original["train"])
    ex1 = rd.result(run.extract_finetuned["train"])
    C0 = rd.array(run.extract_original["train"], "centroids.npy")
    C1 = rd.array(run.extract_finetuned["train"], "centroids.npy")
    layers = [x for x in ex0["layers"] if x in ex1["layers"]]
    movement, shifts = {}, {}
    for layer in layers:
        shift = C1[ex1["layers"].index(layer)] - C0[ex0["layers"].index(layer)]
        if want_movement:
            moved = CentroidMovement.of_shifts(shift)
            movement[str(layer)] = {"mean": moved.mean, "per_label": list(moved.per_label)}
        if want_shift:
            coords, evr = shift_pca(shift)
            shifts[str(layer)] = {"coords": coords.tolist(), "evr": evr.tolist()}
    out = {}
    if want_movement:
        out["centroid_movement"] = movement
    if want_shift:
        out["shift_pca"] = shifts
    return out
