"""The findings on each variant alone and with each threshold moved, on hand-built cases whose
verdicts are worked out by hand from finding 1's rule (>= 80 % of cases improve and no drop
above 2 points: holds; under 50 %: fails; otherwise mixed)."""

from __future__ import annotations

import pytest

from ftprobe.compare import evaluate_findings
from ftprobe.compare.findings import Thresholds
from ftprobe.compare.robustness import THRESHOLD_GRID, verdicts_by_threshold, verdicts_by_variant


def _cases(group: str, seed: int | None, changes: list[float]) -> list[dict]:
    return [{"model": f"{group} seed={seed}", "replicate": group, "seed": seed, "task": "pos", "layer": i,
             "accuracy_before": 80.0, "accuracy_after": 80.0 + ch} for i, ch in enumerate(changes)]


FULL0 = _cases("m method=full", 0, [1, 1, 1, 1, 1])  # all improve: holds
FULL1 = _cases("m method=full", 1, [1, 1, 1, 1, -3])  # 80 % improve, one drop of 3 points: mixed
LORA0 = _cases("m method=lora", 0, [-1, -1, -1, -1, -1])  # none improves: fails


def test_each_variant_and_each_seed_alone():
    got = verdicts_by_variant({"cases": FULL0 + FULL1 + LORA0})
    assert [(v.group, v.seed, v.verdicts[0], v.n_cases) for v in got] == [
        ("m method=full", 0, "holds", 5),
        ("m method=full", 1, "mixed", 5),
        ("m method=full", None, "mixed", 10),  # 9 of 10 improve, but the drop of 3 points
        ("m method=lora", 0, "fails", 5),  # one seed: no pooled row
    ]
    assert all(v.verdicts[1:] == ("not tested",) * 5 for v in got)  # no data for findings 2-6


def test_the_rows_are_the_findings_on_the_subsets():
    findings_input = {"cases": FULL0 + FULL1 + LORA0}
    for v in verdicts_by_variant(findings_input):
        subset = [c for c in findings_input["cases"]
                  if c["replicate"] == v.group and (v.seed is None or c["seed"] == v.seed)]
        assert v.verdicts == tuple(f.verdict for f in evaluate_findings({"cases": subset}))


def test_one_variant_has_no_rows():
    assert verdicts_by_variant({"cases": FULL0}) == []
    assert verdicts_by_variant({}) == []


def test_a_threshold_that_flips_a_verdict():
    rows = verdicts_by_threshold({"cases": FULL1})
    by = {(t.threshold, t.value): t.verdicts[0] for t in rows}
    assert by[("max_small_drop", 2.0)] == "mixed"  # the default: the 3-point drop is not small
    assert by[("max_small_drop", 4.0)] == "holds"  # now it is
    assert by[("max_small_drop", 1.0)] == "mixed"
    assert by[("holds_share", 0.9)] == "mixed"  # 80 % < 90 %
    assert by[("fails_share", 0.6)] == "mixed"
    # one row per grid value, and the default rows give the study's own verdicts
    assert len(rows) == sum(len(v) for v in THRESHOLD_GRID.values())
    own = tuple(f.verdict for f in evaluate_findings({"cases": FULL1}))
    defaults = [t for t in rows if t.default]
    assert {t.threshold for t in defaults} == set(THRESHOLD_GRID)
    assert all(t.verdicts == own and getattr(Thresholds(), t.threshold) == t.value for t in defaults)


def test_an_unknown_threshold_is_named():
    with pytest.raises(ValueError, match="'holds' is not a threshold"):
        verdicts_by_threshold({"cases": FULL1}, {"holds": (0.5,)})
