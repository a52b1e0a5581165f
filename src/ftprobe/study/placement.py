"""What each step asks of a machine: CPUs (its threads, DirectProbe's ``jobs``) and a GPU share
when the study runs that step on CUDA. A cluster executor places steps by these."""

from __future__ import annotations

from ftprobe.errors import UserError
from ftprobe.study.config import StudyConfig
from ftprobe.study.executor import StepResources
from ftprobe.study.plan import Step

# step kind -> the config key whose device it runs on
_DEVICE_KEYS = {"finetune": "finetune.options.device", "extract": "extract.device",
                "series": "extract.device", "probe": "probe.options.device"}


def step_device(cfg: StudyConfig, kind: str) -> str:
    """The device setting a step of ``kind`` runs with (``cpu`` for the CPU-only steps)."""
    if kind == "finetune":
        return str(cfg.finetune.options.get("device", "auto"))
    if kind in ("extract", "series"):
        return cfg.extract.device
    if kind == "probe":
        return str(cfg.probe.options.get("device", "cpu"))  # step_probe's default
    return "cpu"


def check_gpus(cfg: StudyConfig, has_gpus: bool) -> None:
    """A study that names a CUDA device needs a cluster with GPUs: say so before any work."""
    if has_gpus:
        return
    for kind, key in _DEVICE_KEYS.items():
        device = step_device(cfg, kind)
        if device.startswith("cuda"):
            raise UserError(f"{key} = {device!r}, but the Ray cluster has no GPU; "
                            "use \"auto\" or \"cpu\", or join a cluster with GPUs")


def step_resources(step: Step, cfg: StudyConfig, threads: int, has_gpus: bool,
                   gpu_share: float) -> StepResources:
    """CPUs: the step's threads (DirectProbe: at least its ``jobs``); GPU: ``gpu_share`` for a
    GPU-capable step whose device is CUDA, or ``auto`` on a cluster with GPUs."""
    cpus = max(1, threads)
    if step.kind in ("directprobe", "series", "recorded"):
        cpus = max(cpus, int(cfg.directprobe.options.get("jobs", 1) or 1))
    device = step_device(cfg, step.kind)
    on_gpu = device.startswith("cuda") or (device == "auto" and has_gpus)
    return StepResources(cpus=float(cpus), gpus=gpu_share if on_gpu and gpu_share > 0 else 0.0)
