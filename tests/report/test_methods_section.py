"""The method comparison on constructed results: which runs it groups, the numbers of its table and
figures against hand computation, and its place on the page and in summary.md."""

from __future__ import annotations

import copy
import math
import statistics

import pytest

from ftprobe.report import StudyResults, write_report
from ftprobe.report.methods_section import method_groups, methods_section

from .test_report import _results


def _tuned(run: dict, label: str, method: str, trainable: int, dev_acc: float, after6: float, cka6: float,
           clusters6: int) -> dict:
    r = copy.deepcopy(run)
    r["model"] = label
    r["table"][0]["accuracy_after"] = after6
    r["table"][0]["clusters_after"] = clusters6
    r["accuracy"]["finetuned"]["6"]["mean"] = after6
    r["similarity"]["6"]["cka"] = cka6
    r["finetune"] = {"method": method, "trainable_parameters": trainable, "checkpoints": [],
                     "metrics": {"metrics": [{"event": "eval", "split": "dev", "accuracy": 0.5, "step": 1},
                                             {"event": "checkpoint", "step": 1},
                                             {"event": "eval", "split": "dev", "accuracy": dev_acc, "step": 2}]}}
    return r


def _study() -> dict:
    """m fine-tuned with full (one seed) and lora (two seeds) on pos."""
    results = _results()
    run = results["runs"][0]
    results["runs"] = [
        _tuned(run, "m method=full", "full", 1_000_000, 0.95, 0.93, 0.70, 3),
        _tuned(run, "m method=lora seed=0", "lora", 10_000, 0.80, 0.91, 0.98, 20),
        _tuned(run, "m method=lora seed=1", "lora", 10_000, 0.84, 0.89, 0.96, 24),
    ]
    return results


def test_methods_are_grouped_by_the_recorded_base_model():
    results = _study()
    for run in results["runs"]:
        run["base_model"] = "MiniLM-L6"  # what the study records wins over the run's label
    (group,) = method_groups(StudyResults.from_json(results))
    assert group.model == "MiniLM-L6" and group.methods == ("full", "lora")
    # results written before runs recorded it: the label less its sweep point
    older = _study()
    older["runs"][0]["model"] = "bert-base method=freeze:4"
    assert [r.base_model for r in StudyResults.from_json(older).runs] == ["bert-base", "m", "m"]


def test_no_section_without_two_methods():
    assert methods_section(StudyResults.from_json(_results())) is None  # no finetune.method at all
    one = _study()
    one["runs"] = one["runs"][1:]  # lora only, two seeds: a seed spread, not a comparison
    assert method_groups(StudyResults.from_json(one)) == ()


def test_each_method_names_its_learning_rate_when_recorded():
    from ftprobe.report.methods_section import methods_table

    results = _study()
    for run in results["runs"][1:]:
        run["finetune"]["lr"] = 1e-3
    (group,) = method_groups(StudyResults.from_json(results))
    full, lora = methods_table(group).rows
    assert (full[0], lora[0]) == ("full", "lora (lr 0.001, 2 seeds)")  # full: written before rates were recorded


def test_table_numbers_by_hand():
    (group,) = method_groups(StudyResults.from_json(_study()))
    assert (group.model, group.task, group.methods) == ("m", "pos", ("full", "lora"))
    assert [len(group.runs[m]) for m in group.methods] == [1, 2]
    from ftprobe.report.methods_section import methods_table

    t = methods_table(group)
    full, lora = t.rows
    assert full[:4] == ("full", "1,000,000", "100.00 %", "95.0 %")
    # lora: 1 % of full's parameters; the last evaluation of each seed, mean ± std
    sd = 100 * statistics.stdev([0.80, 0.84])
    assert lora[:4] == ("lora (2 seeds)", "10,000", "1.00 %", f"82.0 ± {sd:.1f} %")
    assert lora[4] == f"90.0 → 90.0 ± {100 * statistics.stdev([0.91, 0.89]):.1f} %"  # before: the one original
    assert lora[5] == f"40 → 22 ± {statistics.stdev([20, 24]):.0f}"
    assert lora[6] == f"0.970 ± {statistics.stdev([0.98, 0.96]):.3f}" and full[6] == "0.700"
    assert "L6" in t.header[4] and "(dev)" in t.header[3]


def test_layer_figure_one_line_per_method_and_the_original():
    (group,) = method_groups(StudyResults.from_json(_study()))
    from ftprobe.report.methods_section import dynamics_chart, layers_chart, parameters_chart

    acc, cka, move = layers_chart(group).panels
    assert [t.name for t in acc.traces] == ["original", "full", "lora"]
    assert acc.traces[0].dash and acc.traces[0].y == (pytest.approx(50.0), pytest.approx(90.0))
    lora = acc.traces[2]
    assert lora.x == (1, 6) and lora.y[1] == pytest.approx(90.0)
    assert lora.error[1] == pytest.approx(100 * statistics.stdev([0.91, 0.89]))
    assert cka.traces[1].y[6] == pytest.approx(0.97) and cka.traces[0].y[6] == pytest.approx(0.70)
    assert move.traces[0].y[3] == pytest.approx(0.3)  # the constructed movement 0.1 x layer
    # all of one method's series share its colour; hover names method and layer
    assert len({t.color for t in (acc.traces[2], cka.traces[1], move.traces[1])}) == 1
    assert lora.hover[1].startswith("lora, layer 6")
    dyn = dynamics_chart(group)
    assert dyn.panels[0].traces[0].x == ("original", "ck1", "final") and dyn.panels[0].traces[0].y[2] == 0.6
    par = parameters_chart(group)
    fine = par.panels[0].traces
    assert [t.x for t in fine] == [(pytest.approx(6.0),), (pytest.approx(4.0),)]
    assert fine[1].y == (pytest.approx(82.0),) and fine[1].error == (pytest.approx(100 * statistics.stdev([0.80, 0.84])),)
    assert all(math.isfinite(t.y[0]) for t in par.panels[1].traces)


def test_on_the_page_and_in_the_summary(tmp_path):
    files = write_report(_study(), tmp_path, figure_files=False)
    page = files.html.read_text(encoding="utf-8")
    assert "id='methods'" in page or 'id="methods"' in page
    assert "href='#methods'" in page or 'href="#methods"' in page
    for fig in ("fig-methods-m-pos", "fig-methods-m-pos-dynamics", "fig-methods-m-pos-parameters"):
        assert fig in page
    md = files.md.read_text(encoding="utf-8")
    assert "## Fine-tuning methods compared: m / pos" in md
    assert "| lora (2 seeds) | 10,000 | 1.00 % |" in md


def _with_recorded(results: dict) -> dict:
    """Each run with recorded dynamics at steps 0, 5, 10 on the dev split (lora moves less)."""
    for r in results["runs"]:
        end = 0.9 if r["finetune"]["method"] == "lora" else 0.5
        r["recorded_dynamics"] = {"points": ["step-0", "step-5", "step-10"], "steps": [0, 5, 10], "split": "dev",
                                  "layers": ["6"], "pearson": {"6": [1.0, (1 + end) / 2, end]},
                                  "ci": {"6": [[1, 1], None, None]}, "clusters": {"6": [40, 20, 5]}}
    return results


def test_dynamics_at_the_recorded_steps_where_every_run_has_them():
    from ftprobe.report.figures import recorded_dynamics
    from ftprobe.report.methods_section import dynamics_chart

    results = StudyResults.from_json(_with_recorded(_study()))
    (group,) = method_groups(results)
    pear, clus = dynamics_chart(group).panels
    assert [t.name for t in pear.traces] == ["full", "lora"]
    assert pear.traces[0].x == (0, 5, 10) and not pear.x_categorical  # x: the step, to scale
    assert pear.traces[0].y == (1.0, 0.75, 0.5) and pear.traces[1].y == (1.0, 0.95, 0.9)
    assert "dev split" in dynamics_chart(group).caption
    # per run: the recorded dynamics beside the checkpoints' ones
    chart = recorded_dynamics(results.runs[0])
    assert chart.id.endswith("-recorded") and chart.panels[0].traces[0].x == ("step-0", "step-5", "step-10")
    # one run without recordings: the checkpoints for all (one x axis for every method)
    partial = _with_recorded(_study())
    del partial["runs"][2]["recorded_dynamics"]
    (group,) = method_groups(StudyResults.from_json(partial))
    assert dynamics_chart(group).panels[0].traces[0].x == ("original", "ck1", "final")
    assert recorded_dynamics(StudyResults.from_json(partial).runs[2]) is None
