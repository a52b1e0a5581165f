"""The paper's numbers beside a study's: closest model size, means over runs, directions."""

import json
import math

import pytest

from ftprobe.compare.paper import (
    PAPER_TABLE,
    closest_paper_model,
    cross_task_counts_side_by_side,
    dynamics_side_by_side,
    side_by_side,
)


def test_paper_table_matches_the_paper_counts():
    assert len(PAPER_TABLE) == 15
    base_pos = next(r for r in PAPER_TABLE if r.model == "base" and r.task == "pos")
    assert (base_pos.acc_before, base_pos.acc_after, base_pos.train_test_after) == (93.39, 95.68, 0.70)


def test_closest_model_by_log_size():
    # MiniLM (6 layers, hidden 384): log distances tiny 2.20, mini 0.81, small 0.69, medium 0.58,
    # base 1.39 -> medium; among the sizes that report POS (no medium) -> small
    assert closest_paper_model(6, 384).name == "medium"
    assert closest_paper_model(6, 384, among=["tiny", "mini", "small", "base"]).name == "small"
    assert closest_paper_model(12, 768).name == "base"
    assert closest_paper_model(2, 128).name == "tiny"
    with pytest.raises(ValueError, match="n_layers"):
        closest_paper_model(0, 128)


def _run(task, acc, clusters, tt, seed, dyn=None):
    (ab, aa), (cb, ca), (tb, ta) = acc, clusters, tt
    run = {"model": "m", "task": task, "seed": seed, "probe_layers": [0, 3, 6],
           "table": [{"layer": 1, "accuracy_before": 0.1, "accuracy_after": 0.2},
                     {"layer": 6, "accuracy_before": ab, "accuracy_after": aa, "clusters_before": cb,
                      "clusters_after": ca, "train_test_before": {"r": tb}, "train_test_after": {"r": ta}}]}
    if dyn:
        run["layer_dynamics"] = {"points": [0, 1], "layers": [3, 6],
                                 "pearson": {"3": [1.0, dyn[0]], "6": [1.0, dyn[1]]}}
    return run


def test_side_by_side_means_over_seeds_and_directions():
    results = {"runs": [
        _run("pos", (0.90, 0.95), (17, 17), (0.9, 0.8), 0, dyn=(0.9, 0.6)),
        _run("pos", (0.92, 0.93), (17, 17), (0.9, 0.8), 1, dyn=(0.9, 0.7)),
        _run("ps-fxn", (0.60, 0.65), (40, 38), (0.8, 0.9), 0),
        _run("made-up-task", (0.5, 0.6), (3, 3), (0.5, 0.5), 0),
    ], "cross_task": [
        {"model": "m", "finetune_task": "pos", "probe_task": "ps-fxn", "layer": 6, "mean_change": 1.43,
         "accuracy_before": 0.64, "accuracy_after": 0.68},
        {"model": "m", "finetune_task": "pos", "probe_task": "ps-fxn", "layer": 1, "mean_change": -9.0,
         "accuracy_before": 0.5, "accuracy_after": 0.5},
    ]}
    rows = {(c.task, c.quantity): c for c in side_by_side(results, {"m": (6, 384)})}
    acc = rows[("pos", "accuracy")]
    assert acc.paper_model == "small" and acc.n_runs == 2
    assert acc.ours_before == pytest.approx(91.0) and acc.ours_after == pytest.approx(94.0)
    assert acc.ours_before_sd == pytest.approx(math.sqrt(2.0))  # sd of 90 and 92
    assert (acc.paper_direction, acc.ours_direction, acc.agrees) == ("up", "up", True)
    assert rows[("pos", "clusters")].ours_direction == "same" and rows[("pos", "clusters")].agrees
    assert rows[("pos", "train_test_r")].agrees is True  # 0.96 -> 0.72 and 0.9 -> 0.8
    # PS-fxn: the paper's closest size with PS-fxn is small, whose accuracy fell; ours rose
    fxn = rows[("ps-fxn", "accuracy")]
    assert fxn.paper_model == "small" and fxn.agrees is False
    assert rows[("ps-fxn", "clusters")].ours_direction == "down"
    assert not any(t == "made-up-task" for t, _ in rows)
    # cross-task: last layer only; the paper's POS -> PS-fxn pushed labels together, ours apart
    cross = rows[("pos->ps-fxn", "cross_task_mean_change")]
    assert cross.ours_after == pytest.approx(1.43) and cross.paper_after == -1.68 and cross.agrees is False
    assert rows[("pos->ps-fxn", "cross_task_accuracy")].ours_after == pytest.approx(68.0)


def test_paper_value_missing_gives_no_verdict():
    results = {"runs": [_run("trec-50", (0.3, 0.7), (60, 50), (0.6, 0.8), 0)]}
    rows = {c.quantity: c for c in side_by_side(results, {"m": (2, 128)})}
    assert rows["train_test_r"].paper_before is None and rows["train_test_r"].agrees is None
    assert rows["clusters"].paper_model == "tiny" and rows["clusters"].agrees is True  # 399 -> 51, 60 -> 50


def test_unknown_model_size_is_named():
    with pytest.raises(ValueError, match="'m'"):
        side_by_side({"runs": [_run("pos", (0.9, 0.9), (17, 17), (0.9, 0.9), 0)]}, {})


def test_dynamics_against_bert_base_ranges_by_relative_depth():
    results = {"runs": [_run("pos", (0.9, 0.95), (17, 17), (0.9, 0.8), s, dyn=d)
                        for s, d in enumerate([(0.9, 0.6), (0.9, 0.7)])]}
    rows = {r.layer: r for r in dynamics_side_by_side(results)}
    top = rows[6]  # depth 1 -> bert-base layer 12, 0.52-0.69; ours 0.65 +- 0.07
    assert top.paper_layer == 12 and top.ours_mean == pytest.approx(0.65) and top.within
    mid = rows[3]  # depth 0.5: layers 4 and 8 are equally near; the lower is taken (0.97-1.0)
    assert mid.paper_layer == 4 and mid.ours_mean == pytest.approx(0.9) and not mid.within


def test_seed_variants_are_replicates_and_methods_are_not():
    """A study's runs are labelled by variant ("m seed=0", "m method=lora seed=1"); runs that differ
    only in the seed share a ``replicate`` name and are averaged; methods stay apart."""
    runs = []
    for method, seed, acc_after in (("full", 0, 0.94), ("full", 1, 0.96), ("lora", 0, 0.91), ("lora", 1, 0.93)):
        r = _run("pos", (0.90, acc_after), (17, 17), (0.9, 0.8), seed)
        r.update(model=f"m method={method} seed={seed}", base_model="m", replicate=f"m method={method}")
        runs.append(r)
    rows = {(c.model, c.quantity): c for c in side_by_side({"runs": runs}, {"m": (6, 384)})}
    assert set(rows) == {(f"m method={m}", q) for m in ("full", "lora")
                         for q in ("accuracy", "clusters", "train_test_r")}
    full, lora = rows[("m method=full", "accuracy")], rows[("m method=lora", "accuracy")]
    assert (full.n_runs, lora.n_runs) == (2, 2)
    assert full.ours_after == pytest.approx(95.0) and lora.ours_after == pytest.approx(92.0)
    assert full.ours_after_sd == pytest.approx(math.sqrt(2.0))  # sd of 94 and 96


def test_a_quantity_the_study_did_not_measure_has_no_row():
    run = _run("pos", (0.90, 0.95), (None, None), (None, None), 0)  # e.g. analyses = ["accuracy"]
    rows = {c.quantity for c in side_by_side({"runs": [run]}, {"m": (6, 384)})}
    assert rows == {"accuracy"}


def test_cross_task_counts_beside_the_papers():
    """bert-base probed on PS-fxn: its own fine-tuning 40 apart / 0 closer, PS-role 27 / 13, POS 0 / 40.
    Ours: each pair at its last layer, means and sds over seeds; the own-task pair from the runs."""
    def own(seed, up, down, change):
        run = _run("ps-fxn", (0.6, 0.65), (40, 40), (0.8, 0.7), seed)
        run["table"][-1]["min_distance_change"] = {"up": up, "down": down, "mean_change": change,
                                                   "n_compared": up + down}
        return run

    def cross(a, seed, layer, up, down, change):
        return {"model": f"m seed={seed}", "replicate": "m", "finetune_task": a, "probe_task": "ps-fxn",
                "layer": layer, "up": up, "down": down, "mean_change": change, "n_compared": 36}

    results = {
        "runs": [own(0, 36, 0, 1.8), own(1, 34, 2, 1.6), _run("pos", (0.9, 0.95), (17, 17), (0.9, 0.8), 0)],
        "cross_task": [cross("pos", 0, 6, 4, 32, -0.1), cross("pos", 1, 6, 6, 30, -0.2),
                       cross("pos", 0, 3, 36, 0, 9.9),  # not the last layer: left out
                       cross("ps-role", 0, 6, 18, 18, 0.0),
                       cross("dep", 0, 6, 5, 31, -0.1)],  # no paper number: no row
    }
    for r in results["runs"]:
        r["replicate"] = "m"
    rows = {(c.finetune, c.probe): c for c in cross_task_counts_side_by_side(results)}
    assert set(rows) == {("ps-fxn", "ps-fxn"), ("pos", "ps-fxn"), ("ps-role", "ps-fxn")}
    mine = rows[("ps-fxn", "ps-fxn")]
    assert (mine.paper_apart, mine.paper_closer, mine.paper_mean_change) == (40, 0, 5.29)
    assert mine.ours_apart == pytest.approx(35.0) and mine.ours_apart_sd == pytest.approx(math.sqrt(2.0))
    assert mine.ours_closer == pytest.approx(1.0) and mine.n_runs == 2 and mine.n_labels == 36
    assert (mine.paper_majority, mine.ours_majority, mine.agrees) == ("apart", "apart", True)
    pos = rows[("pos", "ps-fxn")]
    assert pos.layer == 6 and pos.n_runs == 2
    assert (pos.ours_apart, pos.ours_closer) == (pytest.approx(5.0), pytest.approx(31.0))
    assert pos.ours_mean_change == pytest.approx(-0.15)
    assert (pos.paper_majority, pos.ours_majority, pos.agrees) == ("closer", "closer", True)
    role = rows[("ps-role", "ps-fxn")]  # 18 / 18: no majority, where the paper's went apart
    assert (role.ours_majority, role.agrees) == ("even", False) and role.ours_apart_sd is None
    assert json.loads(json.dumps(role.to_json()))["paper_apart"] == 27
