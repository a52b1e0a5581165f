"""Probing during training in the study: the ``recorded`` step reads the probe recorder's store
entries of a fine-tuning run (``[finetune] record_every_steps``) and fits DirectProbe at the
checkpoint layers on each recorded step, as the ``series`` step does on checkpoints.

The recorder stores the probe split (the dev split, or ``record_split``) at step 0, before any
update, and every k steps; step 0 is the original model's view of that split, the reference of
the recorded dynamics (``results.py``: Pearson of every step's label-pair distances with step
0's, and the cluster counts). No model folder is read: the vectors are in the store already.
"""

from __future__ import annotations

import json
from pathlib import Path

from ftprobe.atomic import write_json


def recorded_events(finetune_result: dict) -> list[dict]:
    """The fine-tuning run's ``record`` events, one per step (the last, where a resumed run
    recorded a step twice), in step order."""
    metrics = finetune_result.get("metrics") or []
    if isinstance(metrics, dict):
        metrics = metrics.get("metrics") or []
    by_step = {int(m["step"]): m for m in metrics if isinstance(m, dict) and m.get("event") == "record"}
    return [by_step[s] for s in sorted(by_step)]


def step_recorded(spec: dict, ctx, work: Path) -> dict:
    """DirectProbe at the checkpoint layers on every recorded step of the run, the fits side by
    side with the step's threads; each fit is saved as it finishes (resumable). No record
    events: an empty series."""
    from ftprobe.represent import Store
    from ftprobe.study.dp_fits import SeriesFit, SeriesFits, directprobe_options, run_series_fits
    from ftprobe.study.steps import _resolve_layer, checkpoint_layers

    events = recorded_events(ctx.dep_result("finetune"))
    if not events:
        return {"points": [], "steps": [], "entries": [], "layers": [], "split": None, "per_point": []}
    store = Store(ctx.store_root)
    entries = [store.open(e["entry"]) for e in events]
    first = entries[0]
    available = list(first.layers)
    layers = sorted(set(checkpoint_layers(spec["checkpoint_layers"], available))
                    | {_resolve_layer(int(x), available) for x in spec["first_last"]})
    labels = list(first.label_names)
    for i in range(len(events)):  # points saved whole by an older run
        if (old := work / f"point-{i:03d}.json").is_file():
            for layer, summary in json.loads(old.read_text()).items():
                write_json(work / f"fit-{i:03d}-L{layer}.json", summary)
            old.unlink()
    fits = SeriesFits(str(ctx.store_root), str(work), directprobe_options(spec["directprobe"], ctx.threads),
                      tuple(labels))
    todo = [SeriesFit(i, layer, entry.id) for i, entry in enumerate(entries) for layer in layers]
    run_series_fits(fits, todo, fits.options["jobs"],
                    lambda done, total: ctx.report("recorded steps", done, total, "(DirectProbe fits)"))
    per_point = fits.summaries(todo)
    fits.remove(todo)
    return {"points": [f"step-{e['step']}" for e in events], "steps": [int(e["step"]) for e in events],
            "entries": [e.id for e in entries], "layers": layers, "split": events[0].get("split"),
            "label_names": labels, "per_point": per_point}
