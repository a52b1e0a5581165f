"""Finding 3 read scale-free, for DirectProbe fits made before the fits recorded their space's
spread (`space_scale`, from round 2's thirteenth session on; newer studies report it themselves,
under finding 3's `scale_free` evidence).

Raw hull distances grow when a whole space grows. This script divides each label's minimum
distance (from the committed DirectProbe steps) by its space's spread, the rms distance of the
train vectors from their mean, computed from the vectors: the original encoder's are extracted
again where the store lacks them (the same store entry the study made); a fine-tuned model's are
read from the store, or extracted from its weights where `--models` holds them (a folder with one
sub-folder per fine-tuning step, named by the start of its key, holding the final model).

    HF_HUB_OFFLINE=1 python examples/paper-scale/scale_free.py [--config models/config.toml]
        [--task ps-role] [--models /tmp/keep]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ftprobe.compare import label_centroids, min_distance_change, space_scale
from ftprobe.represent import Store, extract, load_encoder
from ftprobe.study import build_plan
from ftprobe.study.cache import StepCache
from ftprobe.study.config import load_config
from ftprobe.study.plan import load_task_from_spec
from ftprobe.study.results import min_vector

HERE = Path(__file__).resolve().parent


class Vectors:
    """The train vectors behind a run's DirectProbe fits: from the store, else extracted again."""

    def __init__(self, plan, cache: StepCache, store: Store, models: Path | None):
        self.plan, self.cache, self.store, self.models = plan, cache, store, models

    def entry(self, extract_sid: str, finetune_sid: str | None):
        step = self.plan.steps[extract_sid]
        if not self.cache.done(step.kind, step.key):
            return None
        wanted = self.cache.load(step.kind, step.key)["entry"]
        if (have := self.store.get(wanted)) is not None:
            return have
        spec = step.spec
        if finetune_sid is None:
            source = spec["model"]["source"]
        else:
            key = self.plan.steps[finetune_sid].key
            found = [p for p in (self.models.iterdir() if self.models else []) if key.startswith(p.name)]
            if not found:
                return None
            source = str(found[0])
        task = load_task_from_spec(spec["task"])
        ext = spec["extract"]
        entry = extract(load_encoder(source, device="cpu"), task, spec["split"], self.store,
                        word_pooling=ext["word_pooling"], sentence_pooling=ext["sentence_pooling"],
                        batch_size=ext["batch_size"], progress=False)
        if finetune_sid is None and entry.id != wanted:
            raise SystemExit(f"{source}: extracted entry {entry.id}, the study's was {wanted}")
        self._check_centroids(entry, self.cache.path(step.kind, step.key) / "centroids.npy", source)
        return entry

    @staticmethod
    def _check_centroids(entry, saved: Path, source: str) -> None:
        """The vectors extracted again are those the fits were made from: the study kept the
        train split's label centroids of every layer."""
        if not saved.is_file():
            return
        kept = np.load(saved, allow_pickle=False)
        y = np.asarray(entry.labels)
        again = np.stack([label_centroids(np.asarray(entry.layer(layer)), y, kept.shape[1])
                          for layer in entry.layers])
        if not np.allclose(again, kept, rtol=1e-4, atol=1e-5, equal_nan=True):
            raise SystemExit(f"{source}: its vectors are not the ones the study fitted "
                             f"(label centroids differ by up to {np.nanmax(np.abs(again - kept)):.3g})")


def scales(entry) -> dict[int, float]:
    return {int(layer): space_scale(np.asarray(entry.layer(layer))) for layer in entry.layers}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", type=Path, default=HERE / "config.toml")
    ap.add_argument("--task", action="append", help="tasks to read (default: every fine-tuned task)")
    ap.add_argument("--models", type=Path, help="fine-tuned models' final folders, one per fine-tuning key")
    args = ap.parse_args()
    cfg = load_config(args.config)
    plan = build_plan(cfg)
    cache = StepCache(cfg.output_dir / "steps")
    vectors = Vectors(plan, cache, Store(cfg.output_dir / "store"), args.models)
    print("| task | fine-tuned | layer | spread before -> after | raw: labels up / down | scale-free: up / down |")
    print("|---|---|---|---|---|---|")
    originals: dict[str, dict[int, float]] = {}
    for run in plan.runs:
        if run.finetune is None or (args.task and run.task not in args.task):
            continue
        labels = plan.tasks[run.task].labels
        if run.task not in originals:
            e0 = vectors.entry(run.extract_original["train"], None)
            originals[run.task] = scales(e0) if e0 is not None else {}
        e1 = vectors.entry(run.extract_finetuned["train"], run.finetune)
        if e1 is None or not originals[run.task]:
            print(f"| {run.task} | {run.model} | - | no vectors (weights not kept) | | |")
            continue
        after_scales = scales(e1)
        for key, sid in sorted(run.dp_original["train"].items(), key=lambda kv: int(kv[0])):
            sid1 = run.dp_finetuned["train"].get(key)
            s0, s1 = plan.steps[sid], plan.steps[sid1] if sid1 else None
            if s1 is None or not (cache.done(s0.kind, s0.key) and cache.done(s1.kind, s1.key)):
                continue
            dp0, dp1 = cache.load(s0.kind, s0.key), cache.load(s1.kind, s1.key)
            layer = dp0["layer"]
            sb, sa = originals[run.task][layer], after_scales[layer]
            b, a = min_vector(dp0, labels), min_vector(dp1, labels)
            raw = min_distance_change(b, a, labels)
            if not (sb > 0 and sa > 0):  # every point the same vector (TREC-50's [CLS] at layer 0)
                print(f"| {run.task} | {run.model} | {layer} | {sb:.2f} -> {sa:.2f} | {raw.up} / {raw.down} | - |")
                continue
            free = min_distance_change(b, a, labels, scales=(sb, sa))
            print(f"| {run.task} | {run.model} | {layer} | {sb:.2f} -> {sa:.2f} ({sa / sb:.2f}x) | "
                  f"{raw.up} / {raw.down} | {free.up} / {free.down} |")


if __name__ == "__main__":
    main()
