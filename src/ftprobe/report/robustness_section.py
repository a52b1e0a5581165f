"""How firm the verdicts are: the six findings on each fine-tuned variant alone (a method, each
fine-tuning seed) and with each threshold moved (compare.robustness), as two tables, a line under
each finding, and summary.md's lines."""

from __future__ import annotations

from collections import Counter

from ftprobe.report.results_model import StudyResults
from ftprobe.report.tables import Table

FINDINGS = tuple(str(n) for n in range(1, 7))


def variant_table(results: StudyResults) -> Table | None:
    """One row per variant (and per seed of it), one column per finding."""
    if not results.by_variant:
        return None
    rows = tuple((v.group, "all seeds" if v.seed is None else str(v.seed), str(v.n_cases), *v.verdicts)
                 for v in results.by_variant)
    return Table("table-verdicts-by-variant", "The findings on each fine-tuned variant",
                 "Each finding checked on one variant's runs alone: a fine-tuning method or setting (group), "
                 "each of its fine-tuning seeds, and its seeds pooled ('all seeds'); cases: (task, layer) "
                 "cases before and after fine-tuning.",
                 ("variant", "seed", "cases", *FINDINGS), rows)


def threshold_table(results: StudyResults) -> Table | None:
    """One row per threshold value; a verdict that differs from the study's own is starred."""
    if not results.by_threshold:
        return None
    own = tuple(f.verdict for f in results.findings)
    rows = tuple((t.threshold, f"{t.value:g}" + (" (default)" if t.default else ""),
                  *(v if i >= len(own) or v == own[i] else f"{v} *" for i, v in enumerate(t.verdicts)))
                 for t in results.by_threshold)
    return Table("table-verdicts-by-threshold", "The findings with each threshold moved",
                 "Each threshold of the checks set stricter and looser in turn, the others at their defaults "
                 "(holds_share / fails_share: the share of agreeing cases for holds / below which it fails; "
                 "max_small_drop: finding 1's largest small drop, points; lower_min_r / top_min_r: finding 5's "
                 "Pearson floors; null_alpha: finding 5's level against the permutation null). "
                 "*: not the study's verdict.",
                 ("threshold", "value", *FINDINGS), rows)


def firmness(results: StudyResults, number: int) -> str | None:
    """A finding's verdict on the variants alone and the thresholds that change it, in words."""
    i = number - 1
    parts = []
    single = [v for v in results.by_variant if v.seed is not None or
              not any(w.group == v.group and w.seed is not None for w in results.by_variant)]
    if single:
        counts = Counter(v.verdicts[i] for v in single if i < len(v.verdicts))
        parts.append(f"on each of {len(single)} fine-tuned variants alone: "
                     + ", ".join(f"{k} {n}" for k, n in counts.most_common()))
    if results.by_threshold and i < len(results.findings):
        own = results.findings[i].verdict
        moved = [f"{t.threshold} {t.value:g} -> {t.verdicts[i]}" for t in results.by_threshold
                 if i < len(t.verdicts) and t.verdicts[i] != own]
        parts.append("the same verdict at every threshold tried" if not moved else "changes with " + "; ".join(moved))
    return "; ".join(parts) or None


def robustness_section(results: StudyResults):
    """The section "How firm the verdicts are" (None when the study recorded neither check)."""
    from ftprobe.report.sections import Section, _p

    tables = [t for t in (variant_table(results), threshold_table(results)) if t is not None]
    if not tables:
        return None
    intro = _p("The verdicts above pool every run and use one threshold per check. Here each finding is "
               "checked again on each fine-tuned variant alone, and with each threshold moved: a verdict "
               "that survives both is a firmer claim than one that changes.")
    return Section("robustness", "How firm the verdicts are", (intro, *tables))


def robustness_markdown(results: StudyResults, md_table) -> list[str]:
    lines: list[str] = []
    for t in (variant_table(results), threshold_table(results)):
        if t is not None:
            lines += ["", f"## {t.title}", "", t.caption, ""] + md_table(t)
    return lines
