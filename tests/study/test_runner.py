"""End to end on a tiny random BERT: artefacts, caching, selective re-runs, resumption."""

from __future__ import annotations

import json
import shutil

import pytest

from ftprobe.errors import UserError
from ftprobe.study import StudyInterrupted, parse_config, run_study
from ftprobe.study.cache import StepCache

from .conftest import micro_config
from .helpers import stable_results, tiny_config


@pytest.fixture(scope="module")
def first_run(tiny_bert, tmp_path_factory):
    out = tmp_path_factory.mktemp("study") / "out"
    cfg = parse_config(tiny_config(tiny_bert, out, report={"figure_files": True}), "test")
    summary = run_study(cfg, progress=False)
    summary.results_text = (out / "results.json").read_text()  # before other tests touch the folder
    return cfg, summary, out


def test_writes_every_artefact(first_run):
    cfg, summary, out = first_run
    assert len(summary.executed) == len(summary.plan.steps) and not summary.cached
    kinds = {summary.plan.steps[s].kind for s in summary.executed}
    assert kinds == {"finetune", "extract", "probe", "directprobe", "similarity", "series", "measures",
                     "label_control"}
    results = json.loads((out / "results.json").read_text())
    assert [f["number"] for f in results["findings"]] == [1, 2, 3, 4, 5, 6]
    assert all(f["verdict"] in ("holds", "fails", "mixed", "not exercised", "not tested") for f in results["findings"])
    # every DirectProbe case counts the points whose identical vectors carry different labels,
    # and the floor they put under the cluster count
    clusters = results["findings"][1]["evidence"]["per_case"]
    assert clusters and all(isinstance(c["coincident_before"], int) for c in clusters)
    assert all(c["n_labels"] <= c["min_clusters_before"] <= c["before"] for c in clusters)
    pos = next(r for r in results["runs"] if r["task"] == "pos")
    for key in ("table", "layer_dynamics", "min_distance_series", "centroid_paths", "shift_pca",
                "centroid_movement", "similarity", "accuracy", "measures"):
        assert pos[key], key
    # Calibrated measures: every checkpoint against the original, each with its null and interval.
    meas = pos["measures"]
    assert meas["points"] == pos["layer_dynamics"]["points"]
    cell = meas["compare"][meas["layers"][-1]][-1]
    for name in ("cka", "procrustes", "mutual_knn"):
        assert 0 < cell[name]["p_value"] <= 1 and len(cell[name]["interval"]) == 2
    assert pos["similarity"]["1"]["compare"]["cka"]["value_all_rows"] == pos["similarity"]["1"]["cka"]
    # the shuffled-label control at every table layer, before and after, on the 40-row subsample
    for row in pos["table"]:
        for side in ("before", "after"):
            ctl = row[f"label_control_{side}"]
            assert ctl["n_rows"] == 40 and ctl["cluster_ratio"] == ctl["n_clusters"] / ctl["n_clusters_shuffled"][0]
    # distances read scale-free: each space's per-label minimum distances over its own spread
    for row in pos["table"]:
        sb, sa = row["space_scale_before"], row["space_scale_after"]
        assert sb > 0 and sa > 0
        expected = {name: a / sa - b / sb for name, b, a in zip(pos["labels"], row["min_dist_before"],
                                                                 row["min_dist_after"], strict=True)
                    if a is not None and b is not None}
        assert row["min_distance_change_scale_free"]["per_label"] == pytest.approx(expected)
    assert results["findings"][2]["evidence"]["scale_free"]["n_cases"] >= len(pos["table"])
    assert pos["layer_dynamics"]["points"][0] == "original"
    assert len(pos["layer_dynamics"]["points"]) >= 3  # original, a checkpoint, final
    assert results["cross_task"] and results["cross_task"][0]["probe_task"] == "ps-fxn"
    # beside the paper: the tiny BERT (2 layers, hidden 32, read from its config) is nearest bert-tiny
    (model_name, model_info), = results["models"].items()
    assert (model_info["n_layers"], model_info["hidden"]) == (2, 32)
    paper = {(c["task"], c["quantity"]): c for c in results["paper"]["side_by_side"]}
    acc = paper[("pos", "accuracy")]
    last = max(pos["table"], key=lambda r: r["layer"])
    assert acc["paper_model"] == "tiny" and acc["n_runs"] == 1 and acc["model"] == model_name
    assert acc["ours_after"] == pytest.approx(100 * last["accuracy_after"])
    assert results["paper"]["dynamics"] and all(d["layer"] > 0 for d in results["paper"]["dynamics"])
    # the cross-task counts beside bert-base's (POS -> PS-fxn: 0 apart, 40 closer), at the pair's last layer
    counts = {(c["finetune"], c["probe"]): c for c in results["paper"]["cross_task_counts"]}
    pos_fxn = counts[("pos", "ps-fxn")]
    last_cross = max((e for e in results["cross_task"] if e["finetune_task"] == "pos"), key=lambda e: e["layer"])
    assert (pos_fxn["paper_apart"], pos_fxn["paper_closer"]) == (0, 40)
    assert (pos_fxn["ours_apart"], pos_fxn["ours_closer"]) == (last_cross["up"], last_cross["down"])
    assert pos_fxn["layer"] == last_cross["layer"] and pos_fxn["n_runs"] == 1
    html = (out / "report" / "index.html").read_text()
    assert html.count("class='chart'") >= 5 and (out / "report" / "figures" / "fig-accuracy.pdf").is_file()
    assert "Calibrated similarity and geometry" in html
    for n in range(1, 7):
        assert f"id='finding-{n}'" in html
    md = (out / "report" / "summary.md").read_text()
    assert "six findings" in md and "| pos |" in md or "| tiny | pos |" in md
    assert (out / "study.json").is_file() and (out / "store").is_dir()
    assert not list((out / "steps").glob("*.partial"))


def test_second_run_recomputes_nothing(first_run):
    cfg, _, out = first_run
    again = run_study(cfg, progress=False)
    assert again.executed == []
    assert len(again.cached) == len(again.plan.steps)


def test_notes_reach_the_report_and_change_no_step(first_run, tiny_bert, tmp_path):
    """[report] notes is read at the end of every run: no step's key depends on it, and the
    report shows the file (results.json keeps it, so a rebuilt report does too)."""
    _, first, out = first_run
    notes = tmp_path / "DIAGNOSES.md"
    notes.write_text("# Finding 4\n\nThe top layer starts low: <b>see</b> the fractions.\n", encoding="utf-8")
    cfg = parse_config(tiny_config(tiny_bert, out, report={"notes": str(notes)}), "test")
    summary = run_study(cfg, progress=False)
    assert summary.executed == [] and set(summary.plan.steps) == set(first.plan.steps)
    results = json.loads((out / "results.json").read_text())
    assert results["notes"] == {"file": "DIAGNOSES.md", "markdown": notes.read_text()}
    html = (out / "report" / "index.html").read_text()
    assert "<h3>Finding 4</h3>" in html and "&lt;b&gt;see&lt;/b&gt;" in html
    assert "## Notes and diagnoses" in (out / "report" / "summary.md").read_text()
    notes.unlink()  # a notes file that went missing stops the run before any work, naming the setting
    with pytest.raises(UserError, match=r"^report\.notes: .*DIAGNOSES\.md: no such file$"):
        run_study(cfg, progress=False)


def test_changed_probe_setting_reruns_only_probes(first_run, tiny_bert):
    _, first, out = first_run
    cfg = parse_config(tiny_config(tiny_bert, out, probe={"probe": "linear", "l2": [1e-2], "seeds": 1,
                                                            "max_iter": 5}), "test")
    summary = run_study(cfg, progress=False)
    kinds = [summary.plan.steps[s].kind for s in summary.executed]
    n_probe = sum(s.kind == "probe" for s in summary.plan.steps.values())
    assert kinds == ["probe"] * n_probe
    # every other step kept its key
    assert set(summary.plan.steps) - set(first.plan.steps) == set(summary.executed)


def test_killed_run_resumes_to_same_results(first_run, tiny_bert, tmp_path):
    _, first, _ = first_run
    out = tmp_path / "killed"
    cfg = parse_config(tiny_config(tiny_bert, out), "test")
    with pytest.raises(StudyInterrupted):
        run_study(cfg, progress=False, stop_after=10)
    done = StepCache(out / "steps").steps()
    assert len(done) == 10
    assert not (out / "results.json").exists()
    # a step killed mid-way leaves only a work folder, never a result
    (out / "steps" / "probe-0000000000000000.partial").mkdir()
    resumed = run_study(cfg, progress=False)
    assert len(resumed.executed) == len(first.plan.steps) - 10
    shutil.rmtree(out / "steps" / "probe-0000000000000000.partial")
    ref = stable_results(json.loads(first.results_text))
    got = stable_results(json.loads((out / "results.json").read_text()))
    assert got == ref


def test_dry_run_prints_plan_and_writes_nothing(tiny_bert, tmp_path, capsys):
    from rich.console import Console

    out = tmp_path / "dry"
    cfg = parse_config(tiny_config(tiny_bert, out), "test")
    console = Console(file=open(tmp_path / "plan.txt", "w"), width=200)
    summary = run_study(cfg, dry_run=True, console=console)
    console.file.close()
    text = (tmp_path / "plan.txt").read_text()
    assert "finetune" in text and "to run" in text and f"{len(summary.plan.steps)} steps" in text
    assert "est. (2 cores)" in text  # each step's projected time, and the totals still to run
    assert "projected on 2 CPU cores" in text and "projected on one H200" in text
    assert not out.exists()


def test_a_stage_setting_error_names_the_config_key(tiny_bert, tmp_path):
    import torch

    from ftprobe.errors import UserError

    if torch.cuda.is_available():
        pytest.skip("fp16 is refused only without a GPU")
    cfg = tiny_config(tiny_bert, tmp_path / "out", cross_task=[])
    cfg["finetune"] = {**cfg["finetune"], "options": {"mixed_precision": "fp16"}}
    with pytest.raises(UserError) as info:
        run_study(parse_config(cfg, "test"), progress=False)
    msg = str(info.value)
    assert msg.startswith("step finetune tiny/pos: finetune.options.mixed_precision: fp16 needs a GPU"), msg


def test_dry_run_lists_what_is_left_and_counts_what_is_cached(tiny_bert, tmp_path):
    from rich.console import Console

    cfg = parse_config(micro_config(tiny_bert, tmp_path / "out"), "t")
    first = run_study(cfg, progress=False)
    console = Console(file=open(tmp_path / "plan.txt", "w"), width=200)
    summary = run_study(cfg, dry_run=True, console=console)
    console.file.close()
    text = (tmp_path / "plan.txt").read_text()
    n = len(summary.plan.steps)
    assert f"{n} steps: 0 to run, {n} cached" in text
    kinds = [first.plan.steps[sid].kind for sid in first.plan.steps]
    counts = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds))
    assert f"cached, not listed: {counts}" in text
    assert not any(label in text for label in (s.label for s in summary.plan.steps.values()))
