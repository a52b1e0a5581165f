"""Run folders, checkpoint folders and the training state needed to resume exactly.

Layout of a run folder::

    DIR/run.json                 model, task fingerprint and settings (what makes it this run)
    DIR/metrics.jsonl            one JSON object per evaluation / checkpoint
    DIR/checkpoints/step-000123/ encoder (config.json, model.safetensors), tokenizer, head,
                                 trainer_state.json and, in the latest one, training_state.safetensors
    DIR/final/                   the finished model, same layout

Every folder is written under a temporary name and renamed into place, so a folder that exists
is complete. The optimizer, scheduler and RNG states are stored as safetensors tensors plus JSON,
never as pickles, so loading a checkpoint cannot run code. Only the newest checkpoint keeps the
optimizer state (twice the model's size): resuming needs no other.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch

from ftprobe.atomic import write_json, write_text
from ftprobe.errors import SettingError, UserError
from ftprobe.finetune.config import FinetuneConfig

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
FINAL = "final"
TRAINER_STATE = "trainer_state.json"
TRAINING_STATE = "training_state.safetensors"
_STEP_DIR = re.compile(r"^step-(\d+)$")


def checkpoint_name(step: int) -> str:
    return f"step-{step:06d}"


def list_checkpoints(out_dir: str | Path) -> list[Path]:
    """A run's checkpoint folders in training order (complete ones only)."""
    root = Path(out_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return [p for _, p in sorted(found)]


def read_trainer_state(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / TRAINER_STATE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: unreadable {TRAINER_STATE} ({exc})") from None


def last_resumable(out_dir: Path) -> Path | None:
    """The newest checkpoint that holds the training state, if any."""
    for path in reversed(list_checkpoints(out_dir)):
        if (path / TRAINING_STATE).is_file() and (path / TRAINER_STATE).is_file():
            return path
    return None


def share_identical_files(folder: Path, source: Path) -> int:
    """Hard-link each file of ``folder`` that is byte-identical to ``source``'s file of the same
    name (the final model saved at the step of the last checkpoint), so its weights are stored
    once. Returns the bytes saved; a file system without hard links keeps the copies."""
    import filecmp

    saved = 0
    for f in sorted(folder.iterdir()):
        twin = source / f.name
        if not (f.is_file() and twin.is_file()) or f.stat().st_size != twin.stat().st_size:
            continue
        if os.path.samefile(f, twin) or not filecmp.cmp(f, twin, shallow=False):
            continue
        tmp = f.with_name(f".link-{f.name}")
        try:
            os.link(twin, tmp)
        except OSError:
            continue
        os.replace(tmp, f)
        saved += f.stat().st_size
    return saved


# ---------------------------------------------------------------------------------------------
# Optimizer / scheduler / RNG state <-> (tensors, JSON)


def pack_training_state(optimizer, scheduler, scaler) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split the training state into a flat tensor dict (safetensors) and JSON-able values."""
    tensors: dict[str, torch.Tensor] = {}
    plain: dict[str, Any] = {"optimizer_state": {}}
    opt = optimizer.state_dict()
    for pid, state in opt["state"].items():
        for key, value in state.items():
            if torch.is_tensor(value):
                tensors[f"optimizer.{pid}.{key}"] = value.detach().cpu().contiguous()
            else:
                plain["optimizer_state"].setdefault(str(pid), {})[key] = value
    plain["optimizer_param_groups"] = [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in opt["param_groups"]
    ]
    plain["scheduler"] = scheduler.state_dict()
    plain["scaler"] = scaler.state_dict() if scaler is not None and scaler.is_enabled() else None
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    return tensors, plain


def unpack_training_state(tensors: dict[str, torch.Tensor], plain: dict[str, Any],
                          optimizer, scheduler, scaler) -> None:
    """Restore what :func:`pack_training_state` saved (RNG last, just before training goes on)."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for pid, values in plain.get("optimizer_state", {}).items():
        state.setdefault(int(pid), {}).update(values)
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in plain["optimizer_param_groups"]]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    scheduler.load_state_dict(plain["scheduler"])
    if scaler is not None and plain.get("scaler"):
        scaler.load_state_dict(plain["scaler"])
    torch.set_rng_state(tensors["rng.torch"])
    cuda = sorted((int(k.rsplit(".", 1)[1]), v) for k, v in tensors.items() if k.startswith("rng.cuda."))
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([v for _, v in cuda])


def save_training_state(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    from safetensors.torch import save_file

    save_file(tensors, str(path / TRAINING_STATE))


def load_training_state(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / TRAINING_STATE))


def drop_training_state(out_dir: Path, keep: Path | None) -> None:
    """Remove the optimizer state from every checkpoint but ``keep`` (from all when None)."""
    for path in list_checkpoints(out_dir):
        if path != keep:
            (path / TRAINING_STATE).unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# The run folder


def check_out_dir(out_dir: Path, run_info: dict[str, Any], resume: bool) -> bool:
    """Decide whether ``out_dir`` may take this run; True when an earlier one is to be resumed.

    Raises a UserError, before anything is written, for a folder holding something else, another
    run, or this run without ``resume``.
    """
    if not out_dir.exists():
        return False
    if not out_dir.is_dir():
        raise SettingError("out_dir", f"{out_dir} exists and is not a folder")
    run_file = out_dir / RUN_FILE
    if not run_file.is_file():
        if any(out_dir.iterdir()):
            raise SettingError("out_dir", f"{out_dir} is not empty and holds no ftprobe run; choose a new folder")
        return False
    try:
        previous = json.loads(run_file.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SettingError("out_dir", f"{out_dir} has an unreadable {RUN_FILE} ({exc}); choose a new folder") from None
    diff = _first_difference(previous, run_info)
    if diff:
        raise SettingError("out_dir", f"{out_dir} holds another run ({diff}); choose a new folder")
    if not resume:
        raise SettingError("resume", f"not set, but {out_dir} already holds this run (set it to continue the run)")
    return True


def _first_difference(previous: dict[str, Any], current: dict[str, Any]) -> str | None:
    if previous.get("model") != current["model"]:
        return f"model {previous.get('model')!r}, not {current['model']!r}"
    if previous.get("task", {}).get("fingerprint") != current["task"]["fingerprint"]:
        return f"task {previous.get('task', {}).get('name')!r} on other data"
    # a setting added since the run was written (word_pooling, ...) had its default then
    old = {**FinetuneConfig().identity(), **previous.get("settings", {})}
    new = current["settings"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            return f"{key} {old.get(key)!r}, not {new.get(key)!r}"
    return None


def write_run_info(out_dir: Path, run_info: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / RUN_FILE, run_info)


def write_metrics(out_dir: Path, records: list[dict[str, Any]]) -> None:
    """Rewrite metrics.jsonl atomically (on resume: exactly the records the checkpoint knew)."""
    write_text(out_dir / METRICS_FILE, "".join(json.dumps(r) + "\n" for r in records))


def append_metrics(out_dir: Path, record: dict[str, Any]) -> None:
    with open(out_dir / METRICS_FILE, "a") as fh:
        fh.write(json.dumps(record) + "\n")
        fh.flush()
