"""evaluate_findings on constructed study summaries: the paper's own numbers must make each
finding hold, reversed numbers must make it fail, and missing data must say "not tested"."""

import copy
import json

import pytest

from ftprobe.compare import Finding, Thresholds, evaluate_findings, findings_to_json

# PAPER.md's table: (model, task, acc before, after, clusters before, after, n_labels, r before, after)
PAPER_TABLE = [
    ("tiny", "POS", 90.76, 91.67, 3936, 20, 17, None, None),
    ("tiny", "DEP", 86.74, 89.04, 653, 46, 46, None, 0.88),
    ("tiny", "PS-fxn", 74.14, 74.40, 402, 40, 40, None, 0.72),
    ("tiny", "PS-role", 58.38, 60.31, 46, 46, 46, 0.76, 0.70),
    ("tiny", "TREC-50", 68.12, 84.04, 399, 51, 50, None, None),
    ("mini", "POS", 93.81, 94.91, 2429, 17, 17, None, 0.70),
    ("mini", "TREC-50", 74.12, 88.36, 127, 52, 50, None, None),
    ("small", "POS", 94.26, 95.43, 17, 17, 17, 0.96, 0.72),
    ("small", "PS-fxn", 86.26, 85.08, 40, 40, 40, 0.82, 0.44),
    ("medium", "DEP", 92.54, 94.76, 46, 46, 46, 0.94, 0.79),
    ("base", "POS", 93.39, 95.68, 17, 17, 17, 0.97, 0.70),
    ("base", "DEP", 89.39, 94.76, 46, 46, 46, 0.92, 0.76),
    ("base", "PS-fxn", 87.75, 89.58, 40, 40, 40, 0.84, 0.57),
    ("base", "PS-role", 74.49, 81.14, 46, 46, 46, 0.82, 0.52),
    ("base", "TREC-50", 85.24, 90.36, 162, 51, 50, None, None),
]


def paper_results():
    cases = []
    for m, t, ab, aa, cb, ca, k, rb, ra in PAPER_TABLE:
        # Min distances: most labels rise (one label of each case falls a little).
        before = [0.3 + 0.01 * j for j in range(4)]
        after = [b + 1.0 for b in before[:3]] + [before[3] - 0.05]
        cases.append(
            {
                "model": m,
                "task": t,
                "layer": 12,
                "accuracy_before": ab,
                "accuracy_after": aa,
                "clusters_before": cb,
                "clusters_after": ca,
                "n_labels": k,
                "min_dist_before": before,
                "min_dist_after": after,
                "train_test_r_before": rb,
                "train_test_r_after": ra,
            }
        )
    base_layers = {"2": 1.0, "4": 0.99, "6": 0.95, "8": 0.85, "10": 0.72, "12": 0.6}
    dynamics = [
        {"model": "base", "task": t, "n_layers": 12, "pearson_by_layer": {**base_layers, "12": top}}
        for t, top in (("POS", 0.69), ("DEP", 0.52), ("PS-fxn", 0.6))
    ]
    cross = [
        {
            "model": "base",
            "probe_task": "PS-fxn",
            "finetune_task": "PS-fxn",
            "mean_change": 5.29,
            "up": 40,
            "down": 0,
        },
        {
            "model": "base",
            "probe_task": "PS-fxn",
            "finetune_task": "PS-role",
            "mean_change": 1.02,
            "up": 27,
            "down": 13,
        },
        {
            "model": "base",
            "probe_task": "PS-fxn",
            "finetune_task": "POS",
            "mean_change": -1.68,
            "up": 0,
            "down": 40,
            "related": None,
            "accuracy_before": 87.75,
            "accuracy_after": 83.24,
        },
    ]
    return {"cases": cases, "layer_dynamics": dynamics, "cross_task": cross}


def verdicts(results, **kw):
    fs = evaluate_findings(results, **kw)
    assert [f.number for f in fs] == [1, 2, 3, 4, 5, 6]
    return {f.number: f.verdict for f in fs}, {f.number: f for f in fs}


def test_paper_numbers_make_every_finding_hold_and_evidence_is_plain_json():
    res = paper_results()
    v, fs = verdicts(res)
    assert v == {i: "holds" for i in range(1, 7)}
    js = findings_to_json(fs.values())
    assert json.loads(json.dumps(js, allow_nan=False)) == js
    e1 = fs[1].evidence
    assert (e1["n_cases"], e1["n_improved"], e1["n_dropped"]) == (15, 14, 1)
    assert e1["largest_drop_points"] == pytest.approx(1.18)
    assert fs[2].evidence["n_more"] == 0 and fs[2].evidence["n_linear_after"] == 11
    # Only the 7 spaces with more clusters than labels before can show the fall; all 7 fell.
    assert (fs[2].evidence["n_exercised"], fs[2].evidence["n_agree"]) == (7, 7)
    assert fs[2].evidence["room_to_fall"] == {"fell": 7, "kept": 0, "rose": 0}
    assert fs[3].evidence["share_labels_up"] == pytest.approx(0.75)
    assert fs[4].evidence["n_cases"] == 8 and fs[4].evidence["n_only_after"] == 3
    assert fs[5].evidence["per_entry"][0]["lower_layers"] == [2, 4]
    assert fs[6].evidence["n_unrelated"] == 1 and fs[6].evidence["n_related_rose"] == 2


def test_empty_results_are_not_tested():
    v, fs = verdicts({})
    assert set(v.values()) == {"not tested"}
    assert all(f.explanation for f in fs.values())


def test_reversed_numbers_make_findings_fail():
    res = paper_results()
    for c in res["cases"]:
        c["accuracy_before"], c["accuracy_after"] = c["accuracy_after"], c["accuracy_before"]
        c["clusters_before"], c["clusters_after"] = c["clusters_after"], c["clusters_before"]
        c["min_dist_before"], c["min_dist_after"] = c["min_dist_after"], c["min_dist_before"]
        c["train_test_r_before"], c["train_test_r_after"] = (
            c["train_test_r_after"],
            c["train_test_r_before"],
        )
    for e in res["layer_dynamics"]:
        e["pearson_by_layer"] = {
            "2": 0.5,
            "4": 0.6,
            "8": 0.9,
            "12": 1.0,
        }  # lower moved, top did not
    res["cross_task"][2]["mean_change"] = 0.8
    v, fs = verdicts(res)
    assert v == {1: "fails", 2: "fails", 3: "fails", 4: "fails", 5: "fails", 6: "fails"}
    # Clusters: 7 counts grew, and the 8 that were one per label before and after are not
    # counted (no room to fall), so the verdict is 0/7.
    assert fs[2].evidence["n_more"] == 7 and fs[2].evidence["n_equal"] == 8
    assert (fs[2].evidence["n_exercised"], fs[2].evidence["n_agree"]) == (7, 0)
    assert fs[5].evidence["n_failing_check"]["lower_stable"] == 3
    # the explanation names the failed checks in words, with their counts, and no passed one
    assert "Not met: lower layers kept their layout (in 3 of 3)" in fs[5].explanation
    assert "_" not in fs[5].explanation.split("Not met:")[1]
    assert "Not met" not in verdicts(paper_results())[1][5].explanation  # nothing failed
    grow = {
        "cases": [
            {"clusters_before": 17, "clusters_after": 40 + i, "n_labels": 17} for i in range(5)
        ]
    }
    assert verdicts(grow)[0][2] == "fails"


def test_train_test_similarity_fails_when_it_rises():
    res = {
        "cases": [{"train_test_r_before": 0.5, "train_test_r_after": 0.9}] * 3
        + [{"train_test_r_before": 0.9, "train_test_r_after": 0.5}]
    }
    v, fs = verdicts(res)
    assert v[4] == "fails" and fs[4].evidence["n_fell"] == 1


def test_accuracy_mixed_on_a_large_drop_and_fraction_units():
    res = paper_results()
    res["cases"][0]["accuracy_after"] = res["cases"][0]["accuracy_before"] - 3.0
    v, fs = verdicts(res)
    assert v[1] == "mixed"  # 13/15 improved, but one drop is 3 points > 2
    assert len(fs[1].evidence["large_drops"]) == 1
    # The same numbers as fractions are read in percent, so the 3-point drop is still seen.
    frac = {
        "cases": [
            {k: (c[k] / 100 if k.startswith("accuracy") else c[k]) for k in c} for c in res["cases"]
        ]
    }
    v2, fs2 = verdicts(frac)
    assert v2[1] == "mixed"
    assert fs2[1].evidence["largest_drop_points"] == pytest.approx(3.0)
    # A looser threshold accepts it.
    assert verdicts(res, thresholds=Thresholds(max_small_drop=5.0))[0][1] == "holds"


def test_share_between_thresholds_is_mixed():
    cases = [{"clusters_before": 50, "clusters_after": 40, "n_labels": 40}] * 6 + [
        {"clusters_before": 40, "clusters_after": 45, "n_labels": 40}
    ] * 4
    assert verdicts({"cases": cases})[0][2] == "mixed"


def test_clusters_moving_away_from_labels_do_not_count():
    # Fewer clusters but farther from #labels (|10-17| > |16-17|): the rule, not realistic data.
    v, fs = verdicts({"cases": [{"clusters_before": 16, "clusters_after": 10, "n_labels": 17}]})
    assert v[2] == "fails" and fs[2].evidence["per_case"][0]["closer_to_labels"] is False


def test_layer_dynamics_top_below_half_or_lower_unstable():
    base = {"model": "base", "task": "DEP", "n_layers": 12}
    low_top = {**base, "pearson_by_layer": {2: 1.0, 4: 0.98, 12: 0.3}}
    v, fs = verdicts({"layer_dynamics": [low_top]})
    assert v[5] == "fails"
    assert fs[5].evidence["per_entry"][0]["checks"] == {
        "lower_stable": True,
        "top_moves_more": True,
        "top_keeps_much": False,
    }
    tiny = {"model": "tiny", "task": "POS", "n_layers": 2, "pearson_by_layer": {1: 0.95, 2: 0.8}}
    v, fs = verdicts({"layer_dynamics": [tiny]})
    assert v[5] == "holds" and fs[5].evidence["per_entry"][0]["lower_layers"] == [1]
    assert verdicts({"layer_dynamics": [{"pearson_by_layer": {12: 0.7}}]})[0][5] == "not tested"


def test_cross_task_not_tested_without_unrelated_pair_and_explicit_flag_wins():
    res = paper_results()
    only_related = {"cross_task": res["cross_task"][:2]}
    v, fs = verdicts(only_related)
    assert v[6] == "not tested" and len(fs[6].evidence["related"]) == 2
    # An explicit related=False marks an otherwise unknown pair as unrelated.
    custom = {
        "cross_task": [
            {"probe_task": "NER", "finetune_task": "SST-2", "mean_change": -0.2, "related": False}
        ]
    }
    assert verdicts(custom)[0][6] == "holds"
    unknown = {"cross_task": [{"probe_task": "NER", "finetune_task": "SST-2", "mean_change": -0.2}]}
    v, fs = verdicts(unknown)
    assert v[6] == "not tested" and len(fs[6].evidence["relation_unknown"]) == 1
    # Task names are matched loosely (case, punctuation).
    loose = copy.deepcopy(res)
    loose["cross_task"][2].update(probe_task="ps_fxn", finetune_task="pos")
    assert verdicts(loose)[0][6] == "holds"


def test_finding_validates_verdict_and_plainifies_evidence():
    import numpy as np

    f = Finding(
        1, "t", "holds", {"x": np.float64(0.5), "y": np.array([1, 2]), "z": float("nan")}, "e"
    )
    assert f.to_json()["evidence"] == {"x": 0.5, "y": [1, 2], "z": None}
    with pytest.raises(ValueError):
        Finding(1, "t", "maybe")


def test_accuracy_evidence_flags_drops_within_seed_noise():
    cases = [
        {
            "accuracy_before": 80.0,
            "accuracy_after": 85.0,
            "accuracy_before_std": 0.5,
            "accuracy_after_std": 0.5,
        },
        {
            "accuracy_before": 86.26,
            "accuracy_after": 85.08,
            "accuracy_before_std": 0.8,
            "accuracy_after_std": 0.7,
        },
        {
            "accuracy_before": 70.0,
            "accuracy_after": 68.0,
            "accuracy_before_std": 0.1,
            "accuracy_after_std": 0.1,
        },
    ]
    v, fs = verdicts({"cases": cases})
    ev = fs[1].evidence
    assert ev["n_dropped"] == 2 and ev["n_dropped_beyond_seed_noise"] == 1
    assert [p["beyond_seed_noise"] for p in ev["per_case"]] == [True, False, True]
    assert v[1] == "fails"  # 1/3 improved is below fails_share


def test_layer_dynamics_uses_calibrated_cka_when_present():
    # Pearson alone says "holds"; the top layer's debiased CKA is within its null (p = 0.3):
    # the layout it "keeps" is not beyond chance, so the calibrated check fails the entry.
    def cal(p_top):
        return {str(layer): {"cka": {"value": 0.8, "calibrated": 9.0, "p_value": 0.01}}
                for layer in (2, 4)} | {"12": {"cka": {"value": 0.05, "calibrated": 0.4,
                                                       "p_value": p_top}}}

    base = {"model": "base", "task": "DEP", "n_layers": 12,
            "pearson_by_layer": {2: 0.99, 4: 0.97, 12: 0.7}}
    v, fs = verdicts({"layer_dynamics": [{**base, "calibrated_by_layer": cal(0.3)}]})
    entry = fs[5].evidence["per_entry"][0]
    assert v[5] == "fails"
    assert entry["checks"] == {"lower_stable": True, "top_moves_more": True, "top_keeps_much": True,
                               "lower_beyond_null": True, "top_beyond_null": False}
    assert entry["calibrated_cka"]["12"]["p_value"] == 0.3
    assert "permutation null" in fs[5].explanation
    v, _ = verdicts({"layer_dynamics": [{**base, "calibrated_by_layer": cal(0.02)}]})
    assert v[5] == "holds"
    # Without calibrated values the three Pearson checks decide, as before.
    assert verdicts({"layer_dynamics": [base]})[0][5] == "holds"


def test_clusters_already_one_per_label_are_not_exercised():
    # Every space already linear before fine-tuning: the count had no room to fall.
    linear = [{"clusters_before": 17, "clusters_after": 17, "n_labels": 17}] * 3
    v, fs = verdicts({"cases": linear})
    assert v[2] == "not exercised" and "not exercised" in fs[2].explanation
    assert fs[2].evidence["n_exercised"] == 0 and fs[2].evidence["share_agree"] is None


def test_clusters_that_could_fall_and_did_not_fail_the_finding():
    # The paper-scale pattern: the upper layers linear throughout, layer 0 far above #labels and
    # unchanged. Only the layer-0 cases can show the fall, and none shows it.
    linear = [
        {"layer": layer, "clusters_before": 46, "clusters_after": 46, "n_labels": 46}
        for layer in range(1, 7)
    ]
    stuck = {"layer": 0, "clusters_before": 3564, "clusters_after": 3564, "n_labels": 46}
    v, fs = verdicts({"cases": linear + [stuck]})
    assert v[2] == "fails"
    ev = fs[2].evidence
    assert (ev["n_cases"], ev["n_exercised"], ev["n_agree"]) == (7, 1, 0)
    assert ev["room_to_fall"] == {"fell": 0, "kept": 1, "rose": 0}
    assert ev["room_to_fall_layers"] == [0]
    assert "1 of 7 cases had room to fall before fine-tuning (layer 0)" in (
        fs[2].explanation
    )
    assert "6 were one cluster per label" in fs[2].explanation
    # One of two such cases falling is half: "mixed" at the default thresholds.
    fell = {**stuck, "clusters_after": 46}
    assert verdicts({"cases": linear + [stuck, fell]})[0][2] == "mixed"
    # Identical vectors under different labels (a contextless layer 0): each such point is a
    # cluster of its own, so the space cannot go below 3,522 + 42 clusters; at that floor it has
    # no room to fall, is set aside and named, and with nothing else left: not exercised.
    contextless = {**stuck, "coincident_before": 3522, "min_clusters_before": 3564}
    v, fs = verdicts({"cases": linear + [contextless]})
    assert v[2] == "not exercised"
    assert fs[2].evidence["n_at_floor"] == 1 and fs[2].evidence["n_exercised"] == 0
    assert "1 case (layer 0) was already at the fewest clusters their points allow" in (
        fs[2].explanation
    )
    # ... and beside a space that fell, the verdict is that space's alone.
    v, fs = verdicts({"cases": linear + [contextless, fell]})
    assert v[2] == "holds" and fs[2].evidence["n_exercised"] == 1
    # TREC-50: two duplicated questions with different labels make 52 the floor for 50 labels,
    # the paper's own after-counts (51, 52); a space above its floor keeps its room to fall.
    trec = {"layer": 6, "n_labels": 50, "min_clusters_before": 52}
    assert verdicts({"cases": [{**trec, "clusters_before": 52, "clusters_after": 52}]})[0][2] == (
        "not exercised"
    )
    above = {**trec, "clusters_before": 162, "clusters_after": 52}
    assert verdicts({"cases": [above]})[0][2] == "holds"
    assert verdicts({"cases": [{**above, "clusters_after": 162}]})[0][2] == "fails"
    # a floor that is not recorded (older results) is #labels
    no_floor = {**stuck, "coincident_before": 3522}
    assert verdicts({"cases": linear + [no_floor]})[0][2] == "fails"
    # A linear space that gains clusters counts against the finding even without room to fall.
    rose = [{"clusters_before": 17, "clusters_after": 30, "n_labels": 17}]
    assert verdicts({"cases": linear + rose})[0][2] == "fails"


def test_case_findings_break_down_by_layer():
    # The PS pattern at paper scale: train/test similarity falls in the middle layers and rises
    # at the top one. The breakdown says where, in the evidence and in words.
    def case(layer, before, after):
        return {"layer": layer, "train_test_r_before": before, "train_test_r_after": after,
                "accuracy_before": 50.0, "accuracy_after": 50.0 + layer}

    cases = [case(layer, 0.8, 0.7) for layer in (3, 4, 5)] * 2 + [case(6, 0.5, 0.6)] * 2
    cases += [case(12, 0.9, 0.95)]  # layers sort as numbers, not as text
    v, fs = verdicts({"cases": cases})
    assert fs[4].evidence["by_layer"] == {
        "3": {"n": 2, "n_agree": 2}, "4": {"n": 2, "n_agree": 2}, "5": {"n": 2, "n_agree": 2},
        "6": {"n": 2, "n_agree": 0}, "12": {"n": 1, "n_agree": 0},
    }
    assert fs[4].explanation.endswith("By layer: L3 2/2, L4 2/2, L5 2/2, L6 0/2, L12 0/1.")
    assert v[4] == "mixed"  # 6/9
    assert all(c["n_agree"] == c["n"] for c in fs[1].evidence["by_layer"].values())
    # one layer only: no breakdown in words
    assert "By layer" not in verdicts({"cases": cases[:1]})[1][4].explanation
    assert "By task" not in fs[4].explanation  # no task named: one task, "?"


def test_case_findings_break_down_by_task():
    # Which task breaks a finding: POS's similarity falls everywhere, PS-role's only below the top.
    def case(task, layer, before, after):
        return {"model": "m", "task": task, "layer": layer, "train_test_r_before": before,
                "train_test_r_after": after, "min_dist_before": [1.0, 1.0], "min_dist_after": [2.0, 0.5]}

    cases = [case("pos", layer, 0.9, 0.8) for layer in (1, 2, 3)]
    cases += [case("ps-role", 1, 0.9, 0.8), case("ps-role", 2, 0.9, 0.8), case("ps-role", 3, 0.5, 0.6)]
    _, fs = verdicts({"cases": cases})
    assert fs[4].evidence["by_task"] == {"pos": {"n": 3, "n_agree": 3}, "ps-role": {"n": 3, "n_agree": 2}}
    assert fs[4].explanation.endswith("By layer: L1 2/2, L2 2/2, L3 1/2. By task: pos 3/3, ps-role 2/3.")
    assert [p["task"] for p in fs[4].evidence["per_case"]] == ["pos"] * 3 + ["ps-role"] * 3
    # finding 3 (one label up, one down: no case agrees) breaks down the same way
    assert fs[3].evidence["by_task"] == {"pos": {"n": 3, "n_agree": 0}, "ps-role": {"n": 3, "n_agree": 0}}


def _acc(before, after, sb, sa, layer):
    return {"accuracy_before": before, "accuracy_after": after, "accuracy_before_std": sb,
            "accuracy_after_std": sa, "layer": layer}


def test_accuracy_leaves_out_probes_that_never_moved():
    # TREC-50 on MiniLM's nearly constant [CLS] (layers 0-3): every seed predicts the majority
    # class before and after, so those cases cannot show a rise; the others decide.
    stuck = [_acc(0.11, 0.11, 0.0, 0.0, layer) for layer in range(4)]
    moved = [_acc(0.60, 0.85, 0.01, 0.01, layer) for layer in range(4, 7)]
    v, fs = verdicts({"cases": stuck + moved})
    ev = fs[1].evidence
    assert v[1] == "holds" and ev["n_cases"] == 3 and ev["n_improved"] == 3
    assert [c["layer"] for c in ev["unmoved_cases"]] == [0, 1, 2, 3]
    assert "4 cases left out (layers 0, 1, 2, 3)" in fs[1].explanation
    # counted, the four ties would have made it fail (3/7 improved)
    assert verdicts({"cases": [dict(c, accuracy_after_std=0.001) for c in stuck] + moved})[0][1] == "fails"


def test_accuracy_is_not_exercised_when_no_probe_moved():
    v, fs = verdicts({"cases": [_acc(1.0, 1.0, 0.0, 0.0, 6), _acc(0.2, 0.2, 0.0, 0.0, 0)]})
    assert v[1] == "not exercised" and len(fs[1].evidence["unmoved_cases"]) == 2


def test_accuracy_counts_a_constant_probe_that_fine_tuning_moved():
    # same score in every seed before (a single class), a real probe after: a rise, counted
    v, fs = verdicts({"cases": [_acc(0.11, 0.84, 0.0, 0.01, 4), _acc(0.11, 0.11, 0.0, float("nan"), 1)]})
    ev = fs[1].evidence
    assert ev["n_cases"] == 2 and ev["n_improved"] == 1 and ev["unmoved_cases"] == []


def test_min_distance_scale_free_reading():
    """A space that only grew: every label's distance rises (the paper's check holds), and the
    scale-free reading, each side over its own spread, finds no label moved apart."""
    res = paper_results()
    _, fs = verdicts(res)
    assert fs[3].evidence["scale_free"] is None and "Scale-free" not in fs[3].explanation
    for c in res["cases"]:
        c["min_dist_after"] = [2 * b for b in c["min_dist_before"]]
        c["space_scale_before"], c["space_scale_after"] = 4.0, 8.0
    v, fs = verdicts(res)
    assert v[3] == "holds"
    sf = fs[3].evidence["scale_free"]
    n = len(res["cases"])
    assert (sf["n_cases"], sf["n_agree"], sf["labels_up"], sf["labels_compared"]) == (n, 0, 0, 4 * n)
    assert all(c["scale_ratio"] == 2.0 for c in sf["per_case"])
    assert f"in 0/{n} cases most labels moved apart" in fs[3].explanation
    # the space grew less than the distances: the scale-free reading agrees
    for c in res["cases"]:
        c["space_scale_after"] = 5.0
    sf = verdicts(res)[1][3].evidence["scale_free"]
    assert sf["n_agree"] == n and sf["labels_up"] == 4 * n
