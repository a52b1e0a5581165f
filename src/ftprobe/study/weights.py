"""Disk-light studies: a fine-tuning step's weights go once every step that reads them is done.

With ``[finetune] keep_checkpoints = false`` (the default) the weight files of every checkpoint
and of the final model (``*.safetensors``) are deleted as soon as all the steps that read that
fine-tuning step (the extractions of the final model, the series over checkpoints) are
committed: their vectors are in the store by then. The configs, tokenizers, trainer states and
metrics stay. The step's ``result.json`` records it (``weights_removed``). A later run that needs
the weights again (a new setting, a new cross-task pair) fine-tunes again: the step is planned
anew, and fine-tuning is deterministic.
"""

from __future__ import annotations

import os
from pathlib import Path

from ftprobe.atomic import write_json
from ftprobe.study.cache import RESULT, StepCache

WEIGHTS_REMOVED = "weights_removed"


def weight_files(step_folder: Path) -> list[Path]:
    run = step_folder / "run"
    return sorted(p for d in ("checkpoints", "final") for p in (run / d).rglob("*.safetensors")
                  if p.is_file())


def weights_removed(cache: StepCache, key: str) -> bool:
    """Whether a committed fine-tuning step no longer holds its weights: removed by this module,
    or never brought along (a step folder that travelled without its ``run/`` folder, as a
    repository keeps a long study's results)."""
    if cache.load("finetune", key).get(WEIGHTS_REMOVED):
        return True
    return not weight_files(cache.path("finetune", key))


def remove_weights(cache: StepCache, key: str) -> int:
    """Delete a committed fine-tuning step's weight files; record it; return the bytes freed.

    The record is written first: a run killed in between finds it and never reads the weights.
    """
    folder = cache.path("finetune", key)
    result = cache.load("finetune", key)
    files = weight_files(folder)
    freed = sum(p.stat().st_size for p in files)
    if not result.get(WEIGHTS_REMOVED):
        result[WEIGHTS_REMOVED] = {"files": len(files), "bytes": freed}
        write_json(folder / RESULT, result)
    for p in files:
        os.unlink(p)
    return freed


def forget_step(cache: StepCache, kind: str, key: str) -> None:
    """Take a committed step out of the cache (renamed first, so it never reads as half there)."""
    import shutil

    folder = cache.path(kind, key)
    trash = folder.with_name(folder.name + ".deleting")
    if trash.exists():
        shutil.rmtree(trash)
    os.replace(folder, trash)
    shutil.rmtree(trash)
