"""The numbers the README quotes before the run is finished, read from the committed steps.

The study writes results.json only once every step is done; until then this script reads the
finished DirectProbe, probe and series steps of `config.toml` and prints, per task, the table
(accuracy, train clusters and their floor, train/test Pearson before -> after per fine-tuning
seed), the cross-task minimum-distance changes (finding 6) and the layer dynamics of each
fitted checkpoint series (finding 5). Nothing is computed that the steps did not store.

    HF_HUB_OFFLINE=1 python examples/paper-scale/interim.py [--task pos] [--probe-task ps-fxn]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ftprobe.compare import min_distance_change
from ftprobe.study import build_plan
from ftprobe.study.cache import StepCache
from ftprobe.study.config import load_config
from ftprobe.study.results import min_vector, space_similarity

HERE = Path(__file__).resolve().parent


def _state(variant) -> str:
    """A fine-tuned model's name in the tables: its swept settings ("seed=0"), else the model's."""
    return ", ".join(f"{k}={v}" for k, v in variant.settings) or variant.label


def finished(plan, cache):
    """(directprobe: (task, split, layer, state) -> result, probe: (task, state) -> result,
    series: label -> result) over the steps done so far, found through the plan's runs and
    cross-task pairs (what the study's own results read)."""
    dp, probe, series = {}, {}, {}

    def read(sid: str) -> dict | None:
        step = plan.steps[sid]
        return cache.load(step.kind, step.key) if cache.done(step.kind, step.key) else None

    def add_fits(task: str, state: str, by_split: dict) -> None:
        for split, by_layer in by_split.items():
            for sid in by_layer.values():
                if (r := read(sid)) is not None:
                    dp[(task, split, r["layer"], state)] = r

    for run in plan.runs:
        task = run.task
        add_fits(task, "original", run.dp_original)
        if run.probe_original and (r := read(run.probe_original)) is not None:
            probe[(task, "original")] = r
        if run.finetune is None:
            continue
        state = f"finetuned, {_state(run.variant)}"
        add_fits(task, state, run.dp_finetuned)
        if run.probe_finetuned and (r := read(run.probe_finetuned)) is not None:
            probe[(task, state)] = r
        if run.series and (r := read(run.series)) is not None:
            series[f"{run.model}/{task} checkpoints"] = r
    for cross in plan.cross:
        state = f"tuned on {cross.finetune_task}, {_state(cross.variant)}"
        add_fits(cross.probe_task, state, {"train": cross.dp})
        if (r := read(cross.probe)) is not None:
            probe[(cross.probe_task, state)] = r
    return dp, probe, series


def fmt(v, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


def task_table(task: str, dp: dict, probe: dict) -> None:
    states = sorted({k[3] for k in dp if k[0] == task and not k[3].startswith("tuned on")})
    if not states:
        print(f"{task}: no finished DirectProbe steps")
        return
    print(f"\n## {task}: test accuracy %, train clusters (floor), train/test r (*: a space not linear, where the paper gives no r)")
    for layer in sorted({k[2] for k in dp if k[0] == task}):
        cells = []
        for state in states:
            tr, te = dp.get((task, "train", layer, state)), dp.get((task, "test", layer, state))
            acc = (probe.get((task, state)) or {}).get("layers", {}).get(str(layer), {}).get("mean")
            r = space_similarity(tr, te, None)["r_any"] if tr and te else None
            clusters = f"{tr['n_clusters']} ({tr.get('min_clusters')})" if tr else "-"
            cells.append(f"{state}: {fmt(None if acc is None else 100 * acc, '.1f')} / {clusters} / "
                         f"{fmt(r)}{'' if tr is None or tr['linear'] else '*'}")
        print(f"L{layer} | " + " | ".join(cells))


def cross_task(probe_task: str, labels: list[str], dp: dict) -> None:
    print(f"\n## {probe_task}, each label's minimum distance on the train split against the original encoder: up / down, mean")
    states = sorted({k[3] for k in dp if k[0] == probe_task and k[1] == "train" and k[3] != "original"})
    for state in states:
        cells = []
        for layer in sorted({k[2] for k in dp if k[0] == probe_task}):
            before, after = dp.get((probe_task, "train", layer, "original")), dp.get((probe_task, "train", layer, state))
            if before is None or after is None:
                continue
            ch = min_distance_change(min_vector(before, labels), min_vector(after, labels), labels)
            cells.append(f"L{layer} {ch.up}/{ch.down} {fmt(ch.mean_change, '+.2f')}")
        print(f"{state}: " + " | ".join(cells))


def dynamics(series: dict) -> None:
    print("\n## layer dynamics: Pearson of each layer's label-pair distances, end of fine-tuning vs original (clusters)")
    for label, r in sorted(series.items()):
        if not r["layers"]:
            continue  # points extracted for the measures, not fitted
        first, last = r["per_point"][0], r["per_point"][-1]
        cells = []
        for layer in r["layers"]:
            k = str(layer)
            sim = space_similarity(first[k], last[k], None, require_linear=False)
            cells.append(f"L{layer} {fmt(sim['r'], '.3f')} ({first[k]['n_clusters']}->{last[k]['n_clusters']})")
        print(f"{label} ({len(r['per_point'])} points): " + " | ".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", action="append", help="tasks of the table (default: every task)")
    ap.add_argument("--probe-task", default="ps-fxn", help="the cross-task pairs' probe task")
    args = ap.parse_args()
    plan = build_plan(load_config(HERE / "config.toml"))
    dp, probe, series = finished(plan, StepCache(HERE / "steps"))
    for task in args.task or list(plan.tasks):
        task_table(task, dp, probe)
    cross_task(args.probe_task, plan.tasks[args.probe_task].labels, dp)
    dynamics(series)


if __name__ == "__main__":
    main()
