"""Verdicts in words: the thresholds the study used, rounded numbers, no internal names."""

from ftprobe.compare import Thresholds, evaluate_findings, findings_to_json
from ftprobe.report.results_model import FindingResult
from ftprobe.report.verdicts import plain_summary, verdict_text


def _findings(inputs, th=None):
    return {f["number"]: FindingResult(f["number"], f["title"], f["verdict"], f["explanation"], f["evidence"])
            for f in findings_to_json(evaluate_findings(inputs, th))}


def test_rules_state_the_thresholds_the_study_used():
    cases = [{"model": "m", "task": "pos", "layer": 6, "accuracy_before": 80.0, "accuracy_after": 83.456789}]
    f1 = _findings({"cases": cases}, Thresholds(holds_share=0.9, max_small_drop=1.5))[1]
    vt = verdict_text(f1)
    assert "at least 90% of cases" in vt.rule and "more than 1.5 points" in vt.rule
    assert vt.cases == ("m / pos / L6: 80.0 % -> 83.5 % (+3.5 points)",)


def test_layer_dynamics_in_words_rounded_down_and_without_check_names():
    dyn = [{"model": "m", "task": "trec", "n_layers": 6, "pearson_by_layer": {"1": 0.99993, "6": 0.14}}]
    f5 = _findings({"layer_dynamics": dyn})[5]
    vt = verdict_text(f5)
    assert vt.cases == ("m / trec: lower layers r >= 0.999, top layer 6 r = 0.14 - not met: the top layer kept much of "
                        "its layout",)
    assert "top_keeps_much" not in plain_summary(f5) and "top_keeps_much" not in vt.rule
