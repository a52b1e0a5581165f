"""The projected cost of a plan: each step's seconds from its sizes and the measured rates."""

import dataclasses

import pytest

from ftprobe.study.config import StudyConfig
from ftprobe.study.estimate import (
    CPU_2_CORES,
    REF_DP_TARGETS,
    Rates,
    encoder_size,
    estimate_plan,
)
from ftprobe.study.plan import build_plan

from .helpers import tiny_config

RATES = Rates("test", finetune_sentences_per_s=10.0, extract_sentences_per_s=100.0,
              probe_s_per_target_layer=0.01, directprobe_s_at_ref=100.0, directprobe_exponent=1.0,
              directprobe_layer0_factor=3.0, directprobe_s_floor=0.25, compare_s_at_ref=2.0,
              geometry_s_at_ref=0.5, cka_s_per_target=0.001)


@pytest.fixture()
def plan(tiny_bert, tmp_path):
    cfg = tiny_config(tiny_bert, tmp_path / "out")
    cfg["directprobe"] = {"layers": [0, -1], "checkpoint_layers": [1], "min_cluster_size": 0}
    return build_plan(StudyConfig.model_validate(cfg))


def test_encoder_size_reads_the_model_config(tiny_bert, tmp_path):
    assert encoder_size(str(tiny_bert)) == (2, 32)
    assert encoder_size(str(tmp_path / "not-downloaded")) == (6, 384)  # the reference size


def test_each_step_from_its_sizes(plan):
    est = estimate_plan(plan, RATES)
    by_id = {s.step_id: s for s in est.steps}
    pos = plan.tasks["pos"]
    size = (2 * 32 * 32) / (6 * 384 * 384)  # tiny BERT against the reference encoder
    sentences = pos.n_sentences["train"]  # read off the data, not guessed from the targets
    assert sentences == 12 and pos.n_targets["train"] > sentences
    ft = next(s for s in plan.steps.values() if s.kind == "finetune")
    assert by_id[ft.id].seconds == pytest.approx(sentences * 1 / 10.0 * size)  # 1 epoch
    dp = [s for s in plan.steps.values() if s.kind == "directprobe" and "pos/train" in s.label
          and "original" in s.label]
    by_layer = {s.spec["layer"]: by_id[s.id].seconds for s in dp}
    linear = 100.0 * pos.n_targets["train"] / REF_DP_TARGETS * (32 / 384) ** 0.5
    assert by_layer[-1] == pytest.approx(0.25 + linear)  # a fit's fixed cost, then its size
    assert by_layer[0] == pytest.approx(0.25 + 3.0 * linear)  # the embedding layer's factor
    assert est.by_kind["finetune"] == pytest.approx(by_id[ft.id].seconds)
    assert est.total_seconds == pytest.approx(sum(est.by_kind.values()))


def test_series_counts_checkpoints_and_layers(plan):
    est = estimate_plan(plan, RATES)
    series = next(s for s in plan.steps.values() if s.kind == "series")
    pos = plan.tasks["pos"]
    # checkpoint_every_steps = 2 with batch 4 over one epoch
    n_sent = pos.n_sentences["train"]
    n_ck = int(-(-n_sent // 4)) // 2
    dp_l1 = 0.25 + 100.0 * pos.n_targets["train"] / REF_DP_TARGETS * (32 / 384) ** 0.5
    extract = n_sent / 100.0 * (2 * 32 * 32) / (6 * 384 * 384)
    got = next(s.seconds for s in est.steps if s.step_id == series.id)
    assert got == pytest.approx((max(n_ck, 1) + 1) * (dp_l1 + extract))  # the original and each checkpoint


def test_wall_time_bounds_and_summary(plan):
    est = estimate_plan(plan, CPU_2_CORES)
    longest = max(s.seconds for s in est.steps)
    assert est.wall_seconds(1) == pytest.approx(est.total_seconds)
    assert est.wall_seconds(10_000) == pytest.approx(longest)
    assert "projected on 2 CPU cores" in est.summary(2)
    assert est.only([]).total_seconds == 0 and est.only([s.step_id for s in est.steps]).total_seconds == est.total_seconds
    assert est.only([]).summary(2) == "projected on 2 CPU cores: nothing left to run"


def test_measures_scale_with_layers_points_and_draws(plan):
    est = estimate_plan(plan, RATES)
    by_id = {s.step_id: s.seconds for s in est.steps}
    pos = plan.tasks["pos"]
    m = plan.config.measures
    # one comparison's cost against the reference: rows, permutations + half-samples, width^1.7
    f = (m.max_rows / 500) * ((m.n_null + m.n_interval) / 33) * (32 / 384) ** 1.7
    sim = next(s for s in plan.steps.values() if s.kind == "similarity")
    per_layer = pos.n_targets["train"] * 0.001 * (32 / 384) ** 2 + f * (2.0 + 2 * 0.5)
    assert by_id[sim.id] == pytest.approx(3 * per_layer)  # tiny BERT: embeddings + 2 layers
    meas = next(s for s in plan.steps.values() if s.kind == "measures")
    n_sent = pos.n_sentences["train"]
    points = max(int(-(-n_sent // 4)) // 2, 1) + 1  # the checkpoints and the final model
    # one series layer: every later point against the original, and every point's geometry
    assert by_id[meas.id] == pytest.approx(f * ((points - 1) * 2.0 + points * 0.5))
    # twice the draws, twice the time
    doubled = build_plan(plan.config.model_copy(update={"measures": dataclasses.replace(
        m, n_null=2 * m.n_null, n_interval=2 * m.n_interval)}))
    est2 = estimate_plan(doubled, RATES)
    assert est2.by_kind["measures"] == pytest.approx(2 * est.by_kind["measures"])


def test_a_train_fraction_fine_tunes_on_its_share(tiny_bert, tmp_path):
    cfg = tiny_config(tiny_bert, tmp_path / "out")
    cfg["finetune"] = {**cfg.get("finetune", {}), "train_fractions": [0.25, 1.0]}
    plan = build_plan(StudyConfig.model_validate(cfg))
    est = {s.step_id: s.seconds for s in estimate_plan(plan, RATES).steps}
    ft = {s.spec["finetune"].get("train_fraction", 1.0): est[s.id]
          for s in plan.steps.values() if s.kind == "finetune"}
    assert set(ft) == {0.25, 1.0} and ft[0.25] == pytest.approx(0.25 * ft[1.0])


def test_calibration_from_finished_steps_by_kind_and_task():
    from ftprobe.study.estimate import PlanEstimate, StepEstimate, _estimate, calibrate

    steps = [StepEstimate("p1", "probe", "a", 100.0, "pos"), StepEstimate("p2", "probe", "b", 100.0, "pos"),
             StepEstimate("p3", "probe", "c", 50.0, "trec"), StepEstimate("p4", "probe", "d", 50.0, "trec"),
             StepEstimate("p5", "probe", "e", 80.0, "dep"),  # not finished: no task factor
             StepEstimate("d1", "directprobe", "f", 10.0, "pos"), StepEstimate("d2", "directprobe", "g", 10.0, "pos"),
             StepEstimate("x1", "extract", "h", 100.0, "pos")]  # one finished step: not calibrated
    est: PlanEstimate = _estimate(RATES, steps)
    measured = {"p1": 300.0, "p2": 100.0, "p3": 500.0, "p4": 500.0, "d1": 1.0, "d2": 1.0, "x1": 50.0}
    cal = calibrate(est, measured)
    assert cal.factor("probe", "pos") == pytest.approx(2.0)  # 400 / 200
    assert cal.factor("probe", "trec") == pytest.approx(10.0)
    assert cal.factor("probe", "dep") == pytest.approx(1400 / 300)  # every task's finished probes
    assert cal.counts[("probe", None)] == 4
    # 20 s projected in all: start-up, not work; one extract step says nothing either
    assert cal.factor("directprobe", "pos") == 1.0 and cal.factor("extract", "pos") == 1.0
    left = cal.apply(est).only({"p5", "x1"})
    assert left.total_seconds == pytest.approx(80.0 * 1400 / 300 + 100.0)
    assert "probe x4.7 (4 steps)" in cal.describe()


def test_finished_steps_calibrate_the_projection_of_the_rest(tiny_bert, tmp_path):
    import io

    from rich.console import Console

    from ftprobe.study.cache import StepCache
    from ftprobe.study.estimate import calibrate
    from ftprobe.study.runner import StudyInterrupted, finished_seconds, run_study

    cfg = StudyConfig.model_validate(tiny_config(tiny_bert, tmp_path / "out"))
    with pytest.raises(StudyInterrupted):
        run_study(cfg, stop_after=6, progress=False, console=Console(file=io.StringIO()))
    plan = build_plan(cfg)
    cache = StepCache(cfg.output_dir / "steps")
    done = {sid for sid, st in plan.steps.items() if cache.done(st.kind, st.key)}
    seconds = finished_seconds(plan, cache, {"extract", "probe", "finetune"})
    assert set(seconds) == {sid for sid in done if plan.steps[sid].kind in ("extract", "probe", "finetune")}
    assert len(seconds) >= 2 and all(v > 0 for v in seconds.values())
    est = estimate_plan(plan, RATES)
    cal = calibrate(est, seconds, min_projected_s=0.0)
    extracts = [s for s in est.steps if s.step_id in seconds and s.kind == "extract"]
    assert len(extracts) >= 2
    assert cal.factor("extract", None) == pytest.approx(sum(seconds[s.step_id] for s in extracts)
                                                      / sum(s.seconds for s in extracts))
    out = io.StringIO()
    run_study(cfg, dry_run=True, console=Console(file=out, width=300))
    assert "to run" in out.getvalue()
