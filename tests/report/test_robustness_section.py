"""The report's "How firm the verdicts are": the variant and threshold tables, the line under
each finding and summary.md, from a results.json built with compare.robustness on known cases."""

from __future__ import annotations

import csv
import io

from ftprobe.compare import evaluate_findings, findings_to_json
from ftprobe.compare.robustness import verdicts_by_threshold, verdicts_by_variant
from ftprobe.report import StudyResults, write_report
from ftprobe.report.robustness_section import firmness, threshold_table, variant_table

from .test_report import _results


def _case(group: str, seed: int, layer: int, change: float) -> dict:
    return {"model": f"{group} seed={seed}", "replicate": group, "seed": seed, "task": "pos", "layer": layer,
            "accuracy_before": 80.0, "accuracy_after": 80.0 + change}


def _study() -> dict:
    # full: seed 0 all four cases improve, seed 1 three improve and one drops 3 points
    cases = [_case("m method=full", 0, k, 1.0) for k in range(4)]
    cases += [_case("m method=full", 1, k, 1.0 if k else -3.0) for k in range(4)]
    findings_input = {"cases": cases}
    results = _results()
    results["findings"] = findings_to_json(evaluate_findings(findings_input))
    results["robustness"] = {"by_variant": [v.to_json() for v in verdicts_by_variant(findings_input)],
                             "by_threshold": [t.to_json() for t in verdicts_by_threshold(findings_input)]}
    return results


def test_tables_show_each_variant_and_star_the_changed_verdicts():
    results = StudyResults.from_json(_study())
    assert results.findings[0].verdict == "mixed"  # 7 of 8 improve, but one drop of 3 points
    rows = variant_table(results).rows
    assert [r[:4] for r in rows] == [("m method=full", "0", "4", "holds"), ("m method=full", "1", "4", "mixed"),
                                     ("m method=full", "all seeds", "8", "mixed")]
    by = {(r[0], r[1]): r[2] for r in threshold_table(results).rows}
    assert by[("max_small_drop", "4")] == "holds *"
    assert by[("max_small_drop", "2 (default)")] == "mixed"
    assert by[("holds_share", "0.7")] == "mixed"  # still the drop: unchanged, no star


def test_each_finding_says_how_firm_it_is():
    results = StudyResults.from_json(_study())
    assert firmness(results, 1) == ("on each of 2 fine-tuned variants alone: holds 1, mixed 1; "
                                    "changes with max_small_drop 4 -> holds")
    assert firmness(results, 2).endswith("the same verdict at every threshold tried")


def test_page_tables_and_summary(tmp_path):
    results = StudyResults.from_json(_study())
    files = write_report(results, tmp_path)
    page = files.html.read_text()
    assert "id='robustness'" in page and "id='table-verdicts-by-variant'" in page
    assert "changes with max_small_drop 4 -&gt; holds" in page  # under finding 1
    rows = list(csv.reader(io.StringIO((files.tables / "table-verdicts-by-threshold.csv").read_text())))
    assert rows[0] == ["threshold", "value", "1", "2", "3", "4", "5", "6"]
    md = (tmp_path / "report" / "summary.md").read_text()
    assert "## The findings with each threshold moved" in md and "| max_small_drop | 4 | holds * |" in md


def test_no_section_without_the_checks():
    results = StudyResults.from_json(_results())  # results written before robustness existed
    assert variant_table(results) is None and threshold_table(results) is None
    assert firmness(results, 1) is None


def test_runs_left_out_of_the_findings_are_named(tmp_path):
    raw = _study()
    raw["findings_input"] = {"n_cases": 8, "left_out": {"runs": ["m method=head"], "why": "frozen"}}
    results = StudyResults.from_json(raw)
    assert results.left_out == ("m method=head",)
    files = write_report(results, tmp_path)
    for text in (files.html.read_text(), (tmp_path / "report" / "summary.md").read_text()):
        assert "Left out of the findings: m method=head (method head: the encoder is frozen" in text
