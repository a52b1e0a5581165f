"""How firm the six verdicts are: the findings checked again on each fine-tuned variant alone (a
method, a train fraction, one fine-tuning seed), and again with each threshold moved.

A verdict that holds over all runs pooled but fails for one seed, or flips when "hardly moves"
is drawn at 0.8 instead of 0.9, is a weaker claim than one that survives both; the paper gives
one verdict per finding and no such check. Both functions take the ``findings_input`` that
``evaluate_findings`` reads, whose entries name their ``replicate`` (the variant less its seed)
and ``seed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace

from .findings import Thresholds, evaluate_findings

__all__ = ["THRESHOLD_GRID", "ThresholdVerdicts", "VariantVerdicts", "verdicts_by_threshold",
           "verdicts_by_variant"]

# Each threshold of ``Thresholds`` at a stricter and a looser value around its default.
THRESHOLD_GRID: dict[str, tuple[float, ...]] = {
    "holds_share": (0.7, 0.8, 0.9),
    "fails_share": (0.4, 0.5, 0.6),
    "max_small_drop": (1.0, 2.0, 4.0),
    "lower_min_r": (0.8, 0.9, 0.95),
    "top_min_r": (0.3, 0.5, 0.7),
    "null_alpha": (0.01, 0.05, 0.1),
}
_PARTS = ("cases", "layer_dynamics", "cross_task")


@dataclass(frozen=True)
class VariantVerdicts:
    """The six verdicts on one fine-tuned variant's runs alone."""

    group: str  # the variant less its fine-tuning seed ("minilm method=lora"); its replicates share it
    seed: int | None  # None: the group's seeds pooled (or no seed was swept)
    verdicts: tuple[str, ...]  # findings 1..6
    n_cases: int  # (model, task, layer) cases of this variant

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ThresholdVerdicts:
    """The six verdicts on every run with one threshold moved from its default."""

    threshold: str  # a field of ``Thresholds``
    value: float
    default: bool  # the value the study's verdicts use
    verdicts: tuple[str, ...]

    def to_json(self) -> dict:
        return asdict(self)


def _verdicts(findings_input: Mapping, th: Thresholds | None = None) -> tuple[str, ...]:
    return tuple(f.verdict for f in evaluate_findings(findings_input, th))


def _variant(entry: Mapping) -> tuple[str, int | None]:
    seed = entry.get("seed")
    return str(entry.get("replicate") or entry.get("model", "?")), (None if seed is None else int(seed))


def verdicts_by_variant(findings_input: Mapping) -> list[VariantVerdicts]:
    """The findings on each (group, seed) alone and on each group's seeds pooled, in the order
    the groups first appear; empty when the study has one fine-tuned variant."""
    keys: list[tuple[str, int | None]] = []
    for part in _PARTS:
        for e in findings_input.get(part) or ():
            if _variant(e) not in keys:
                keys.append(_variant(e))
    if len(keys) < 2:
        return []
    groups = list(dict.fromkeys(g for g, _ in keys))
    out = []
    for group in groups:
        seeds = [s for g, s in keys if g == group]
        wanted = [(group, s) for s in seeds] + ([(group, None)] if len(seeds) > 1 else [])
        for g, seed in wanted:
            keep = lambda e, g=g, seed=seed: _variant(e)[0] == g and (seed is None or _variant(e)[1] == seed)  # noqa: E731
            subset = {part: [e for e in findings_input.get(part) or () if keep(e)] for part in _PARTS}
            out.append(VariantVerdicts(g, seed, _verdicts(subset), len(subset["cases"])))
    return out


def verdicts_by_threshold(findings_input: Mapping, grid: Mapping[str, tuple[float, ...]] | None = None,
                          base: Thresholds | None = None) -> list[ThresholdVerdicts]:
    """The findings on every run with each threshold set to each value of ``grid`` in turn (the
    others at ``base``, the defaults)."""
    base = base or Thresholds()
    known = {f.name for f in fields(Thresholds)}
    out = []
    for name, values in (THRESHOLD_GRID if grid is None else grid).items():
        if name not in known:
            raise ValueError(f"grid: {name!r} is not a threshold; the thresholds are {', '.join(sorted(known))}")
        for value in values:
            th = replace(base, **{name: float(value)})
            out.append(ThresholdVerdicts(name, float(value), float(value) == getattr(base, name),
                                         _verdicts(findings_input, th)))
    return out
