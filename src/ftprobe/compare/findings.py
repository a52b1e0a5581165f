"""The paper's six findings as explicit, documented checks on a study's results.

``evaluate_findings(results)`` takes one plain dict (JSON-loadable) summarising a study run.

Schema (every key optional; a finding without the data it needs is "not tested")::

    {
      "cases": [                        # one per (model, task, layer) probed before/after
        {"model": str, "task": str, "layer": int,
         "accuracy_before": float|None, "accuracy_after": float|None,   # percent (0-100);
                                        # if every accuracy is <= 1 they are read as fractions
         "accuracy_before_std": float|None, "accuracy_after_std": float|None,   # optional
         "clusters_before": int|None, "clusters_after": int|None, "n_labels": int|None,
         "min_clusters_before": int|None,  # optional: the fewest clusters the space allows
                                        # (points sharing a vector across labels stay alone)
         "coincident_before": int|None, # optional: how many points share a vector across labels
         "min_dist_before": [K floats or None]|None, "min_dist_after": [K ...]|None,
         "label_names": [K str]|None,                                   # optional
         "train_test_r_before": float|None, "train_test_r_after": float|None}
      ],
      "layer_dynamics": [               # end-of-fine-tuning Pearson of each layer with itself
        {"model": str, "task": str,     # before fine-tuning (distance vectors)
         "pearson_by_layer": {layer (int or str): r}, "n_layers": int,
         "calibrated_by_layer": {layer: {"cka": {"value", "calibrated", "p_value"}, ...}}|None}
      ],                                # optional: the debiased CKA against its permutation null
      "cross_task": [                   # fine-tune on finetune_task, probe probe_task
        {"model": str, "probe_task": str, "finetune_task": str,
         "mean_change": float, "up": int, "down": int,
         "related": bool|None,          # None: inferred (same task or PS-fxn/PS-role: related;
                                        # POS/DEP/TREC vs PS-*: unrelated; otherwise unknown)
         "accuracy_before": float|None, "accuracy_after": float|None}   # optional
      ]
    }

Verdicts are "holds", "fails", "mixed", "not exercised" (the data could not show the effect,
e.g. no cluster count had room to fall) or "not tested". Most checks count cases that agree
with the paper and compare the share with ``Thresholds.holds_share`` (default 0.8) and
``Thresholds.fails_share`` (default 0.5): share >= holds_share -> holds, share < fails_share ->
fails, otherwise mixed; a finding may add its own hard conditions (see each ``_finding_*``).
The numbers behind each verdict go into ``Finding.evidence`` for the report.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ._plain import as_float, plain
from .dynamics import min_distance_change

__all__ = ["Finding", "Thresholds", "FINDING_TITLES", "evaluate_findings", "findings_to_json"]

VERDICTS = ("holds", "fails", "mixed", "not exercised", "not tested")

FINDING_TITLES = {
    1: "Fine-tuning raises probe accuracy in almost every case; exceptions are rare and small",
    2: "After fine-tuning the number of clusters falls toward the number of labels",
    3: "Most labels' minimum distance to other labels grows (labels are pushed apart)",
    4: "Train/test similarity falls after fine-tuning",
    5: "Lower layers hardly move; upper layers move most yet keep much of the pretrained layout",
    6: "Fine-tuning on an unrelated task shrinks the distances a probe task relies on",
}

FINDING5_CHECKS = {  # finding 5's checks, in words
    "lower_stable": "lower layers kept their layout",
    "top_moves_more": "the top layer moved more than the lower ones",
    "top_keeps_much": "the top layer kept much of its layout",
    "lower_beyond_null": "the lower layers' CKA above its permutation null",
    "top_beyond_null": "the top layer's CKA above its permutation null",
}


@dataclass(frozen=True)
class Thresholds:
    """Where "almost every", "hardly move" and "keep much" are drawn; printed with the evidence."""

    holds_share: float = 0.8  # share of agreeing cases for "holds"
    fails_share: float = 0.5  # below this share: "fails"
    max_small_drop: float = 2.0  # F1: an accuracy drop above this (points) is not "small"
    lower_min_r: float = 0.9  # F5: lower third of layers keeps Pearson >= this
    top_min_r: float = 0.5  # F5: top layer keeps Pearson > this
    null_alpha: float = 0.05  # F5: "keeps" needs the debiased CKA above its null at this level


@dataclass(frozen=True)
class Finding:
    """One finding's verdict with the numbers behind it (plain JSON values)."""

    number: int
    title: str
    verdict: str
    evidence: dict = field(default_factory=dict)
    explanation: str = ""

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        object.__setattr__(self, "evidence", plain(dict(self.evidence)))

    def to_json(self) -> dict:
        return {
            "number": int(self.number),
            "title": self.title,
            "verdict": self.verdict,
            "evidence": plain(self.evidence),
            "explanation": self.explanation,
        }


def findings_to_json(findings: Sequence[Finding]) -> list[dict]:
    return [f.to_json() for f in findings]


def _share_verdict(agree: int, total: int, th: Thresholds) -> str:
    share = agree / total
    if share >= th.holds_share:
        return "holds"
    if share < th.fails_share:
        return "fails"
    return "mixed"


def _finite(x) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _case_id(c: Mapping) -> str:
    return f"{c.get('model', '?')}/{c.get('task', '?')}/L{c.get('layer', '?')}"


def _by_layer(per_case: list[dict], agrees: str) -> dict[str, dict[str, int]]:
    """Agreeing cases per layer (from each entry's ``layer`` and its ``agrees`` flag): which
    layers break a finding."""
    out = _tally(per_case, agrees, "layer")
    return {k: out[k] for k in sorted(out, key=_layer_order)}


def _by_task(per_case: list[dict], agrees: str) -> dict[str, dict[str, int]]:
    """Agreeing cases per task, in the order the tasks first come: which tasks break a finding."""
    return _tally(per_case, agrees, "task")


def _tally(per_case: list[dict], agrees: str, key: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for p in per_case:
        cell = out.setdefault(str(p.get(key, "?")), {"n": 0, "n_agree": 0})
        cell["n"] += 1
        cell["n_agree"] += bool(p[agrees])
    return out


def _layer_order(layer) -> tuple:
    """Layers as numbers (2 before 10), anything else after them."""
    key = str(layer)
    return (0, int(key), "") if key.lstrip("-").isdigit() else (1, 0, key)


def _breakdown_text(evidence: dict) -> str:
    """The breakdowns in words, e.g. ' By layer: L3 2/2, L6 0/2. By task: pos 3/4, dep 1/4.'; none over
    a single layer or task (it would say nothing)."""
    text = ""
    if len(evidence["by_layer"]) > 1:
        text += " By layer: " + ", ".join(f"L{k} {v['n_agree']}/{v['n']}" for k, v in evidence["by_layer"].items()) + "."
    if len(evidence["by_task"]) > 1:
        text += " By task: " + ", ".join(f"{k} {v['n_agree']}/{v['n']}" for k, v in evidence["by_task"].items()) + "."
    return text


def _not_tested(n: int, why: str, **evidence) -> Finding:
    return Finding(n, FINDING_TITLES[n], "not tested", evidence, why)


# --- 1: accuracy ------------------------------------------------------------------------


def _unmoved_probe(c: dict) -> bool:
    """Every seed's probe scored the same, before and after fine-tuning, and before equals after.

    That is a probe at 100 % both times or one that predicts a single class both times (a layer
    it could not read, e.g. a nearly constant vector): such a case has no room to show a rise.
    """
    sb, sa = as_float(c.get("accuracy_before_std")), as_float(c.get("accuracy_after_std"))
    if math.isnan(sb) or math.isnan(sa) or sb > 1e-9 or sa > 1e-9:
        return False
    return abs(float(c["accuracy_before"]) - float(c["accuracy_after"])) <= 1e-12


def _finding_accuracy(cases: list, th: Thresholds) -> Finding:
    """Holds if >= holds_share of cases improve and no case drops by more than max_small_drop.

    A case whose probes did not move at all (:func:`_unmoved_probe`) is left out and listed."""
    both = [
        c for c in cases if _finite(c.get("accuracy_before")) and _finite(c.get("accuracy_after"))
    ]
    unmoved = [c for c in both if _unmoved_probe(c)]
    rows = [c for c in both if not _unmoved_probe(c)]
    unmoved_cases = [{"case": _case_id(c), "layer": c.get("layer"), "accuracy": float(c["accuracy_before"])}
                     for c in unmoved]
    if not rows and unmoved:
        return Finding(1, FINDING_TITLES[1], "not exercised", {"n_cases": 0, "unmoved_cases": unmoved_cases},
                       f"In all {len(unmoved)} cases every seed's probe scored the same before and after "
                       "(a single class predicted, or 100 %): none could show a rise.")
    if not rows:
        return _not_tested(1, "No case has probe accuracy both before and after fine-tuning.")
    accs = [float(c[k]) for c in rows for k in ("accuracy_before", "accuracy_after")]
    scale = 100.0 if max(accs) <= 1.0 else 1.0
    per_case = []
    for c in rows:
        b, a = float(c["accuracy_before"]) * scale, float(c["accuracy_after"]) * scale
        sb, sa = (as_float(c.get(k)) * scale for k in ("accuracy_before_std", "accuracy_after_std"))
        noise = (0.0 if math.isnan(sb) else sb) + (0.0 if math.isnan(sa) else sa)
        per_case.append(
            {
                "case": _case_id(c),
                "task": c.get("task"),
                "layer": c.get("layer"),
                "before": b,
                "after": a,
                "change": a - b,
                "improved": a > b,
                "std_before": sb,
                "std_after": sa,
                "beyond_seed_noise": abs(a - b) > noise,
            }
        )
    changes = [p["change"] for p in per_case]
    improved = sum(ch > 0 for ch in changes)
    drops = [p for p in per_case if p["change"] < 0]
    big = [p for p in drops if -p["change"] > th.max_small_drop]
    verdict = _share_verdict(improved, len(rows), th)
    if verdict == "holds" and big:
        verdict = "mixed"
    evidence = {
        "n_cases": len(rows),
        "n_improved": improved,
        "n_dropped": len(drops),
        "share_improved": improved / len(rows),
        "mean_change_points": sum(changes) / len(changes),
        "largest_drop_points": max((-p["change"] for p in drops), default=0.0),
        "n_dropped_beyond_seed_noise": sum(p["beyond_seed_noise"] for p in drops),
        "drops": drops,
        "large_drops": big,
        "accuracy_units": "fraction (scaled to percent)" if scale == 100.0 else "percent",
        "thresholds": {
            "holds_share": th.holds_share,
            "fails_share": th.fails_share,
            "max_small_drop_points": th.max_small_drop,
        },
        "per_case": per_case,
        "by_layer": _by_layer(per_case, "improved"),
        "by_task": _by_task(per_case, "improved"),
        "unmoved_cases": unmoved_cases,
    }
    expl = (
        f"{improved}/{len(rows)} cases improved (holds needs >= {th.holds_share:.0%} and no drop "
        f"> {th.max_small_drop} points); {len(drops)} dropped, {len(big)} by more than "
        f"{th.max_small_drop} points."
    ) + _breakdown_text(evidence)
    if unmoved:
        layers = sorted({c.get("layer") for c in unmoved if c.get("layer") is not None})
        where = f" (layers {', '.join(map(str, layers))})" if layers else ""
        expl += (f" {len(unmoved)} cases left out{where}: every seed's probe scored the same before "
                 "and after (a single class predicted, or 100 %), so they could not show a rise.")
    return Finding(1, FINDING_TITLES[1], verdict, evidence, expl)


# --- 2: clusters ------------------------------------------------------------------------


@dataclass(frozen=True)
class _ClusterCase:
    """One case of finding 2, judged: its counts before and after, and what they say."""

    source: Mapping
    before: int
    after: int
    n_labels: int | None
    floor: int | None  # the fewest clusters its points allow before fine-tuning (see _floor)

    @classmethod
    def of(cls, c: Mapping) -> _ClusterCase:
        k = int(c["n_labels"]) if _finite(c.get("n_labels")) else None
        return cls(c, int(c["clusters_before"]), int(c["clusters_after"]), k, _floor(c, k))

    @property
    def closer(self) -> bool | None:
        """The count after is no farther from #labels than before (None: #labels unknown)."""
        k = self.n_labels
        return None if k is None else abs(self.after - k) <= abs(self.before - k)

    @property
    def has_room(self) -> bool:
        """Above its floor before fine-tuning: the count could fall."""
        return self.before > self.floor if self.floor is not None else self.after != self.before

    @property
    def counted(self) -> bool:
        """Room to fall, or a count that rose or moved away from #labels (against the claim anywhere)."""
        return self.has_room or self.after > self.before or self.closer is False

    @property
    def at_floor(self) -> bool:
        """Above #labels only as far as identical points force it, and so not counted."""
        k = self.n_labels
        return k is not None and k < self.before <= self.floor and not self.counted

    @property
    def agrees(self) -> bool:
        return self.counted and self.after < self.before and self.closer is not False

    def to_json(self) -> dict:
        c = self.source
        return {"case": _case_id(c), "before": self.before, "after": self.after, "n_labels": self.n_labels,
                "min_clusters_before": c.get("min_clusters_before"),
                "coincident_before": c.get("coincident_before"), "closer_to_labels": self.closer,
                "room_to_fall": self.has_room, "counted": self.counted, "agrees": self.agrees}


def _finding_clusters(cases: list, th: Thresholds) -> Finding:
    """The verdict counts only the cases that can show the claim: a space with more clusters than
    it must have before fine-tuning (room to fall; it agrees if its count fell toward #labels),
    and any case whose count rose or moved away from #labels (against the claim wherever it
    happens). A space must have one cluster per label, and more where points with different
    labels share a vector (``min_clusters``: each such point stays a cluster of its own); a space
    already at that floor had no room to fall and is not counted. With no case left the finding
    is "not exercised", never "holds"."""
    judged = [_ClusterCase.of(c) for c in cases
              if _finite(c.get("clusters_before")) and _finite(c.get("clusters_after"))]
    if not judged:
        return _not_tested(2, "No case has DirectProbe cluster counts before and after.")
    exercised = sum(j.counted for j in judged)
    agree = sum(j.agrees for j in judged)
    at_floor = [j.source for j in judged if j.at_floor]
    with_room = [j for j in judged if j.has_room]
    room = {"fell": sum(j.after < j.before for j in with_room), "kept": sum(j.after == j.before for j in with_room),
            "rose": sum(j.after > j.before for j in with_room)}  # the cases with room to fall before
    room_layers = {j.source.get("layer", "?") for j in with_room}
    n_lin_b = sum(j.n_labels is not None and j.before == j.n_labels for j in judged)
    n_lin_a = sum(j.n_labels is not None and j.after == j.n_labels for j in judged)
    evidence = {
        "n_cases": len(judged),
        "n_exercised": exercised,
        "n_agree": agree,
        "share_agree": agree / exercised if exercised else None,
        "n_room_to_fall": len(with_room),
        "n_at_floor": len(at_floor),
        "room_to_fall": room,
        "room_to_fall_layers": sorted(room_layers, key=_layer_order),
        "n_fewer": sum(j.after < j.before for j in judged),
        "n_equal": sum(j.after == j.before for j in judged),
        "n_more": sum(j.after > j.before for j in judged),
        "n_linear_before": n_lin_b,
        "n_linear_after": n_lin_a,
        "thresholds": {"holds_share": th.holds_share, "fails_share": th.fails_share},
        "per_case": [j.to_json() for j in judged],
    }
    n_linear_kept = len(judged) - exercised - len(at_floor)
    floor_note = _at_floor_note(at_floor)
    if not exercised:
        expl = "No case could show a fall:"
        if n_linear_kept:
            expl += f" {n_linear_kept} of {len(judged)} were one cluster per label before and after fine-tuning."
        expl += floor_note + " The fall is not exercised."
        return Finding(2, FINDING_TITLES[2], "not exercised", evidence, expl)
    n_room = len(with_room)
    layers = ", ".join(str(x) for x in evidence["room_to_fall_layers"])
    expl = (
        f"{n_room} of {len(judged)} cases had room to fall before fine-tuning"
        + (f" (layer{'s' * (len(room_layers) > 1)} {layers})" if n_room else "")
        + f": {room['fell']} fell toward #labels, {room['kept']} kept their count, "
        f"{room['rose']} rose."
    )
    if exercised > n_room:
        expl += (
            f" {exercised - n_room} cases without room to fall got more clusters or moved away "
            "from #labels."
        )
    if n_linear_kept:
        expl += (
            f" {n_linear_kept} were one cluster per label before and after (no room to fall; not "
            "counted)."
        )
    expl += floor_note
    expl += f" Agreeing: {agree}/{exercised}; linear spaces {n_lin_b} before -> {n_lin_a} after."
    return Finding(2, FINDING_TITLES[2], _share_verdict(agree, exercised, th), evidence, expl)


def _at_floor_note(at_floor: list[Mapping]) -> str:
    """The sentence on the cases left out at their floor ("" when none)."""
    if not at_floor:
        return ""
    layers = ", ".join(str(x) for x in sorted({c.get("layer", "?") for c in at_floor}, key=_layer_order))
    return (f" {len(at_floor)} case{'s' * (len(at_floor) != 1)} (layer{'s' * (',' in layers)}"
            f" {layers}) {'was' if len(at_floor) == 1 else 'were'} already at the fewest "
            "clusters their points allow: each point whose exact vector also carries another label "
            "(a contextless layer) is a cluster of its own; not counted.")


def _floor(c: Mapping, k: int | None) -> int | None:
    """The fewest clusters a case's space allows before fine-tuning: one per label, or more where
    points of different labels share a vector (``min_clusters_before``, when recorded)."""
    floor = c.get("min_clusters_before")
    if not _finite(floor):
        return k
    return max(int(floor), k or 0)


# --- 3: min distance --------------------------------------------------------------------


@dataclass
class _MinDistanceTally:
    """Finding 3's count over cases: a case agrees if more of its labels' minimum distances
    rose than fell."""

    per_case: list[dict] = field(default_factory=list)
    agree: int = 0
    labels_up: int = 0
    labels_compared: int = 0

    def add(self, c: Mapping, ch, **extra) -> None:
        if ch.n_compared == 0:
            return
        ok = ch.up > ch.down
        self.agree += ok
        self.labels_up += ch.up
        self.labels_compared += ch.n_compared
        self.per_case.append({"case": _case_id(c), "task": c.get("task"), "layer": c.get("layer"),
                              "up": ch.up, "down": ch.down, **extra, "agrees": ok})


def _finding_min_distance(cases: list, th: Thresholds) -> Finding:
    """A case agrees if more of its labels' minimum distances rose than fell."""
    rows = [
        c
        for c in cases
        if c.get("min_dist_before") is not None and c.get("min_dist_after") is not None
    ]
    tally = _MinDistanceTally()
    for c in rows:
        ch = min_distance_change(
            c["min_dist_before"], c["min_dist_after"], c.get("label_names"), top=3
        )
        js = ch.to_json()
        tally.add(c, ch, n_compared=ch.n_compared, mean_change=ch.mean_change,
                  rise_most=js["rise_most"], rise_least=js["rise_least"])
    per_case, agree, up_all, cmp_all = tally.per_case, tally.agree, tally.labels_up, tally.labels_compared
    if not per_case:
        return _not_tested(3, "No case has per-label minimum distances before and after.")
    n = len(per_case)
    verdict = _share_verdict(agree, n, th)
    if verdict == "holds" and up_all / cmp_all <= 0.5:
        verdict = "mixed"
    evidence = {
        "n_cases": n,
        "n_agree": agree,
        "share_agree": agree / n,
        "labels_up": up_all,
        "labels_compared": cmp_all,
        "share_labels_up": up_all / cmp_all,
        "thresholds": {"holds_share": th.holds_share, "fails_share": th.fails_share},
        "per_case": per_case,
        "by_layer": _by_layer(per_case, "agrees"),
        "by_task": _by_task(per_case, "agrees"),
    }
    scale_free = _min_distance_scale_free(rows)
    evidence["scale_free"] = scale_free
    expl = (
        f"In {agree}/{n} cases most labels' minimum distance rose; pooled, "
        f"{up_all}/{cmp_all} labels rose."
    ) + _breakdown_text(evidence) + _scale_free_text(scale_free)
    return Finding(3, FINDING_TITLES[3], verdict, evidence, expl)


def _min_distance_scale_free(rows: list) -> dict | None:
    """Finding 3 again with each space's distances divided by its spread (the cases whose
    DirectProbe fits recorded it): a space that only grew pushes every label apart, and one
    that only shrank pulls them together. The verdict stays the paper's (raw distances); this
    says whether it survives the space's change of size. None where no case has the spreads."""
    tally = _MinDistanceTally()
    for c in rows:
        sb, sa = c.get("space_scale_before"), c.get("space_scale_after")
        if not (_finite(sb) and _finite(sa) and sb > 0 and sa > 0):
            continue
        ch = min_distance_change(c["min_dist_before"], c["min_dist_after"], c.get("label_names"),
                                 top=0, scales=(sb, sa))
        tally.add(c, ch, scale_ratio=sa / sb)
    if not tally.per_case:
        return None
    return {"n_cases": len(tally.per_case), "n_agree": tally.agree, "labels_up": tally.labels_up,
            "labels_compared": tally.labels_compared, "per_case": tally.per_case,
            "by_layer": _by_layer(tally.per_case, "agrees")}


def _scale_free_text(sf: dict | None) -> str:
    if sf is None:
        return ""
    ratios = [c["scale_ratio"] for c in sf["per_case"]]
    return (f" Scale-free (each space's distances over its spread, which changed by a factor "
            f"{min(ratios):.2f}-{max(ratios):.2f}): in {sf['n_agree']}/{sf['n_cases']} cases most labels "
            f"moved apart; pooled, {sf['labels_up']}/{sf['labels_compared']} labels.")


# --- 4: train/test similarity -----------------------------------------------------------


def _finding_train_test(cases: list, th: Thresholds) -> Finding:
    """A case agrees if the train/test Pearson is lower after fine-tuning than before."""
    both = [
        c
        for c in cases
        if _finite(c.get("train_test_r_before")) and _finite(c.get("train_test_r_after"))
    ]
    only_after = sum(
        1
        for c in cases
        if not _finite(c.get("train_test_r_before")) and _finite(c.get("train_test_r_after"))
    )
    if not both:
        return _not_tested(
            4,
            "No case has a train/test similarity both before and after (it needs both spaces "
            "linear).",
            n_only_after=only_after,
        )
    per_case = [
        {
            "case": _case_id(c),
            "task": c.get("task"),
            "layer": c.get("layer"),
            "before": float(c["train_test_r_before"]),
            "after": float(c["train_test_r_after"]),
            "change": float(c["train_test_r_after"]) - float(c["train_test_r_before"]),
            "fell": float(c["train_test_r_after"]) < float(c["train_test_r_before"]),
        }
        for c in both
    ]
    fell = sum(p["change"] < 0 for p in per_case)
    verdict = _share_verdict(fell, len(both), th)
    evidence = {
        "n_cases": len(both),
        "n_fell": fell,
        "share_fell": fell / len(both),
        "mean_change": sum(p["change"] for p in per_case) / len(per_case),
        "n_only_after": only_after,
        "thresholds": {"holds_share": th.holds_share, "fails_share": th.fails_share},
        "per_case": per_case,
        "by_layer": _by_layer(per_case, "fell"),
        "by_task": _by_task(per_case, "fell"),
    }
    expl = f"Train/test similarity fell in {fell}/{len(both)} cases with both values." + _breakdown_text(evidence)
    return Finding(4, FINDING_TITLES[4], verdict, evidence, expl)


# --- 5: layer dynamics ------------------------------------------------------------------


def _finding_layers(entries: list, th: Thresholds) -> Finding:
    """Per model/task: the lower third of layers (layer <= max(1, n_layers // 3), embeddings
    counted as lower) keeps r >= lower_min_r; the top layer keeps r > top_min_r; and the top
    layer's r is below the lower layers' mean (it moved more). With calibrated measures (the
    debiased CKA of each layer with itself before fine-tuning, against its permutation null),
    two more: every lower layer and the top layer keep their layout beyond chance (p <
    null_alpha). An entry agrees if all checks hold.
    """
    per_entry, agree = [], 0
    fail_counts = {"lower_stable": 0, "top_moves_more": 0, "top_keeps_much": 0}
    for e in entries:
        rs = {int(k): float(v) for k, v in (e.get("pearson_by_layer") or {}).items() if _finite(v)}
        if len(rs) < 2:
            continue
        n_layers = int(e.get("n_layers") or max(rs))
        top = max(rs)
        cut = max(1, n_layers // 3)
        lower = [layer for layer in rs if layer <= cut and layer != top]
        if not lower:
            lower = [min(rs)]
        low_vals = [rs[layer] for layer in lower]
        checks = {
            "lower_stable": min(low_vals) >= th.lower_min_r,
            "top_moves_more": rs[top] < sum(low_vals) / len(low_vals),
            "top_keeps_much": rs[top] > th.top_min_r,
        }
        calibrated = _calibrated_cka(e.get("calibrated_by_layer"))
        if calibrated and top in calibrated:
            cal_lower = [calibrated[layer] for layer in lower if layer in calibrated]
            checks["lower_beyond_null"] = all(c["p_value"] < th.null_alpha for c in cal_lower)
            checks["top_beyond_null"] = calibrated[top]["p_value"] < th.null_alpha
        ok = all(checks.values())
        agree += ok
        for k, v in checks.items():
            fail_counts[k] = fail_counts.get(k, 0) + (not v)
        per_entry.append(
            {
                "model": e.get("model"),
                "task": e.get("task"),
                "n_layers": n_layers,
                "lower_layers": sorted(lower),
                "lower_min_r": min(low_vals),
                "top_layer": top,
                "top_r": rs[top],
                "pearson_by_layer": {str(k): rs[k] for k in sorted(rs)},
                "checks": checks,
                "calibrated_cka": {str(k): v for k, v in sorted(calibrated.items())} if calibrated else None,
                "agrees": ok,
            }
        )
    if not per_entry:
        return _not_tested(5, "No layer-dynamics entry with at least two layers.")
    n = len(per_entry)
    verdict = _share_verdict(agree, n, th)
    evidence = {
        "n_entries": n,
        "n_agree": agree,
        "share_agree": agree / n,
        "n_failing_check": fail_counts,
        "thresholds": {
            "holds_share": th.holds_share,
            "fails_share": th.fails_share,
            "lower_min_r": th.lower_min_r,
            "top_min_r": th.top_min_r,
            "null_alpha": th.null_alpha,
        },
        "per_entry": per_entry,
    }
    expl = (
        f"{agree}/{n} model/task runs had lower layers at r >= {th.lower_min_r}, the top layer "
        f"below them and still above {th.top_min_r}"
        + (f", and (calibrated) the debiased CKA of those layers above its permutation null at p < "
           f"{th.null_alpha}" if any(p["calibrated_cka"] for p in per_entry) else "")
        + "."
    )
    failed = [f"{FINDING5_CHECKS.get(k, k.replace('_', ' '))} (in {v} of {n})" for k, v in fail_counts.items() if v]
    if failed:
        expl += " Not met: " + "; ".join(failed) + "."
    return Finding(5, FINDING_TITLES[5], verdict, evidence, expl)


def _calibrated_cka(by_layer) -> dict | None:
    """{layer: {"value", "calibrated", "p_value"}} of the debiased CKA, finite entries only."""
    if not by_layer:
        return None
    out = {}
    for layer, measures in by_layer.items():
        c = (measures or {}).get("cka") or {}
        if _finite(c.get("p_value")):
            out[int(layer)] = {k: as_float(c.get(k)) for k in ("value", "calibrated", "p_value")}
    return out or None


# --- 6: cross-task ----------------------------------------------------------------------


def _norm_task(t) -> str:
    return re.sub(r"[^a-z0-9]", "", str(t).lower())


_PS = {"psfxn", "psrole"}
_OTHER = {"pos", "dep", "trec50", "trec"}


def infer_related(probe_task, finetune_task) -> bool | None:
    """Same task or the two preposition-supersense tasks: related; POS/DEP/TREC vs PS: not."""
    p, f = _norm_task(probe_task), _norm_task(finetune_task)
    if p == f or {p, f} <= _PS:
        return True
    if (p in _PS and f in _OTHER) or (f in _PS and p in _OTHER):
        return False
    return None


def _finding_cross_task(entries: list, th: Thresholds) -> Finding:
    """Holds if fine-tuning on an unrelated task lowered the probe task's mean minimum
    distance (mean_change < 0) in >= holds_share of unrelated pairs; related pairs are reported
    as the contrast (the paper has them rise)."""
    unrelated, related, unknown = [], [], []
    for e in entries:
        if not _finite(e.get("mean_change")):
            continue
        rel = e.get("related")
        rel = (
            infer_related(e.get("probe_task"), e.get("finetune_task")) if rel is None else bool(rel)
        )
        row = {
            "model": e.get("model"),
            "probe_task": e.get("probe_task"),
            "finetune_task": e.get("finetune_task"),
            "mean_change": float(e["mean_change"]),
            "up": e.get("up"),
            "down": e.get("down"),
            "accuracy_before": e.get("accuracy_before"),
            "accuracy_after": e.get("accuracy_after"),
        }
        (unrelated if rel is False else related if rel else unknown).append(row)
    evidence = {"unrelated": unrelated, "related": related, "relation_unknown": unknown}
    if not unrelated:
        return _not_tested(
            6, "The study has no cross-task pair with an unrelated fine-tuning task.", **evidence
        )
    shrank = sum(r["mean_change"] < 0 for r in unrelated)
    verdict = _share_verdict(shrank, len(unrelated), th)
    rel_rose = sum(r["mean_change"] > 0 for r in related)
    evidence.update(
        n_unrelated=len(unrelated),
        n_unrelated_shrank=shrank,
        n_related=len(related),
        n_related_rose=rel_rose,
        thresholds={"holds_share": th.holds_share, "fails_share": th.fails_share},
    )
    expl = (
        f"Fine-tuning on an unrelated task lowered the probe task's mean minimum distance in "
        f"{shrank}/{len(unrelated)} pairs; related fine-tuning raised it in {rel_rose}/"
        f"{len(related)} pairs."
    )
    return Finding(6, FINDING_TITLES[6], verdict, evidence, expl)


def evaluate_findings(results: Mapping, thresholds: Thresholds | None = None) -> list[Finding]:
    """Check the six findings on a study summary (schema in the module docstring).

    Returns six ``Finding``s, numbered 1..6, each "holds", "fails", "mixed", "not exercised" or "not tested".
    """
    th = thresholds or Thresholds()
    cases = list(results.get("cases") or [])
    return [
        _finding_accuracy(cases, th),
        _finding_clusters(cases, th),
        _finding_min_distance(cases, th),
        _finding_train_test(cases, th),
        _finding_layers(list(results.get("layer_dynamics") or []), th),
        _finding_cross_task(list(results.get("cross_task") or []), th),
    ]
