"""The findings' verdicts in plain words: the rule and its thresholds, then each case with rounded
numbers. Reads compare's evidence (plain JSON); a finding this module does not know gets its
thresholds and a rounded list of its cases."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ftprobe.compare.findings import FINDING5_CHECKS
from ftprobe.report.results_model import FindingResult

BADGES = {  # verdict -> (background, what the badge means)
    "holds": ("#1b7837", "the run agrees with the paper"),
    "fails": ("#b2182b", "the run goes the other way"),
    "mixed": ("#b35806", "some cases agree, some do not"),
    "not exercised": ("#5e6b8a", "the data could not show the effect"),
    "not tested": ("#777777", "the study did not produce the numbers"),
}

CHECK_WORDS = FINDING5_CHECKS  # finding 5's checks, in words


@dataclass(frozen=True)
class VerdictText:
    summary: str  # one or two sentences
    rule: str  # how the verdict is decided, thresholds included
    cases: tuple[str, ...]  # one plain line per case


def _r(v, digits: int = 2) -> str:
    try:
        return f"{float(v):.{digits}f}"
    except (TypeError, ValueError):
        return "-"


def _floor3(v) -> str:
    """Rounded down, so that 'r >= x' stays true (0.99993 -> 0.999, not 1.000)."""
    try:
        return f"{math.floor(float(v) * 1000) / 1000:.3f}"
    except (TypeError, ValueError):
        return "-"


def _pts(v) -> str:
    try:
        return f"{float(v):+.1f}"
    except (TypeError, ValueError):
        return "-"


def _share(th: Mapping) -> str:
    return (f"holds when at least {round(100 * th.get('holds_share', 0.8))}% of cases agree, fails below "
            f"{round(100 * th.get('fails_share', 0.5))}%, mixed in between")


def _case(name: str) -> str:
    return str(name).replace("/", " / ")


def _f1(e: Mapping) -> tuple[str, tuple[str, ...]]:
    th = e.get("thresholds") or {}
    rule = (f"A case agrees when probe accuracy rose; {_share(th)}, and a drop of more than "
            f"{_r(th.get('max_small_drop_points', 2.0), 1)} points anywhere makes 'holds' 'mixed'.")
    cases = tuple(f"{_case(c['case'])}: {_r(c.get('before'), 1)} % -> {_r(c.get('after'), 1)} % "
                  f"({_pts(c.get('change'))} points"
                  + ("" if c.get("beyond_seed_noise", True) else ", within the seeds' spread") + ")"
                  for c in e.get("per_case") or ())
    return rule, cases


def _f2(e: Mapping) -> tuple[str, tuple[str, ...]]:
    rule = ("A case agrees when the cluster count did not rise and did not move away from the number of "
            f"labels; {_share(e.get('thresholds') or {})}. When every space already had one cluster per label "
            "before fine-tuning, nothing can fall: 'not exercised'.")
    cases = tuple(f"{_case(c['case'])}: {c.get('before')} -> {c.get('after')} clusters for {c.get('n_labels')} labels"
                  + (" (already one per label)" if c.get("before") == c.get("n_labels") else "")
                  for c in e.get("per_case") or ())
    return rule, cases


def _f3(e: Mapping) -> tuple[str, tuple[str, ...]]:
    rule = (f"A case agrees when more labels' minimum distance rose than fell; {_share(e.get('thresholds') or {})};"
            " 'holds' also needs more than half of all labels, pooled, to rise.")
    lines = []
    for c in e.get("per_case") or ():
        line = (f"{_case(c['case'])}: {c.get('up')} of {c.get('n_compared')} labels rose, {c.get('down')} fell "
                f"(mean change {_pts(c.get('mean_change'))})")
        rose = [f"{n} ({float(v):+.2f})" for n, v in c.get("rise_most") or () if v is not None and float(v) > 0]
        fell = [f"{n} ({float(v):+.2f})" for n, v in c.get("rise_least") or () if v is not None and float(v) < 0]
        if rose:
            line += "; rose most: " + ", ".join(rose)
        if fell:
            line += "; fell: " + ", ".join(fell)
        lines.append(line)
    return rule, tuple(lines)


def _f4(e: Mapping) -> tuple[str, tuple[str, ...]]:
    rule = ("A case agrees when the train/test Pearson r (defined where both spaces are linear) fell; "
            f"{_share(e.get('thresholds') or {})}.")
    cases = tuple(f"{_case(c['case'])}: r {_r(c.get('before'))} -> {_r(c.get('after'))} "
                  f"({'fell' if (c.get('change') or 0) < 0 else 'rose'})"
                  for c in e.get("per_case") or ())
    return rule, cases


def _f5(e: Mapping) -> tuple[str, tuple[str, ...]]:
    th = e.get("thresholds") or {}
    rule = (f"A run agrees when its lower third of layers keeps Pearson r >= {_r(th.get('lower_min_r', 0.9), 1)} "
            "with itself before fine-tuning, its top layer's r is below the lower layers' mean (it moved more) "
            f"and stays above {_r(th.get('top_min_r', 0.5), 1)}; {_share(th)}.")
    lines = []
    for c in e.get("per_entry") or ():
        failed = [CHECK_WORDS.get(k, k.replace("_", " ")) for k, ok in (c.get("checks") or {}).items() if not ok]
        lines.append(f"{c.get('model')} / {c.get('task')}: lower layers r >= {_floor3(c.get('lower_min_r'))}, "
                     f"top layer {c.get('top_layer')} r = {_r(c.get('top_r'))}"
                     + ("" if not failed else " - not met: " + "; ".join(failed)))
    return rule, tuple(lines)


def _f6(e: Mapping) -> tuple[str, tuple[str, ...]]:
    rule = ("A pair with an unrelated fine-tuning task agrees when it lowered the probe task's mean minimum "
            f"distance; {_share(e.get('thresholds') or {})}. Pairs with a related task are listed, not counted.")
    lines = []
    for kind in ("unrelated", "related", "relation_unknown"):
        for c in e.get(kind) or ():
            lines.append(f"{c.get('model')}: fine-tuned on {c.get('finetune_task')}, probed {c.get('probe_task')} "
                         f"({kind.replace('_', ' ')}): mean change {_pts(c.get('mean_change'))}, "
                         f"{c.get('up')} labels up, {c.get('down')} down")
    return rule, tuple(lines)


def _generic(e: Mapping) -> tuple[str, tuple[str, ...]]:
    th = e.get("thresholds") or {}
    rule = "Thresholds: " + ", ".join(f"{k.replace('_', ' ')} {_r(v)}" for k, v in th.items()) if th else ""
    lines = []
    for c in e.get("per_case") or e.get("per_entry") or ():
        if isinstance(c, Mapping):
            parts = [f"{k.replace('_', ' ')} {_r(v) if isinstance(v, float) else v}" for k, v in c.items()
                     if isinstance(v, str | int | float | bool) and k != "case"]
            lines.append(f"{_case(c.get('case', ''))}: " + ", ".join(parts))
    return rule, tuple(lines)


RULES: dict[int, Callable[[Mapping], tuple[str, tuple[str, ...]]]] = {1: _f1, 2: _f2, 3: _f3, 4: _f4, 5: _f5, 6: _f6}


def plain_summary(f: FindingResult) -> str:
    """The finding's explanation with internal check names in words."""
    text = f.explanation
    if "Failing checks:" in text:
        head, _, tail = text.partition("Failing checks:")
        counts = (f.evidence.get("n_failing_check") or {})
        total = f.evidence.get("n_entries", "?")
        failed = [f"{CHECK_WORDS.get(k, k.replace('_', ' '))} (not met in {n} of {total})"
                  for k, n in counts.items() if n]
        text = head.strip() + (" Not met: " + "; ".join(failed) + "." if failed else "")
        del tail
    return text


def verdict_text(f: FindingResult) -> VerdictText:
    rule, cases = RULES.get(f.number, _generic)(f.evidence)
    return VerdictText(plain_summary(f), rule, cases)
