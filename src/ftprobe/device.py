"""Where torch work runs: the one reading of a ``device`` setting, shared by every stage."""

from __future__ import annotations

import torch

from ftprobe.errors import SettingError


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"``: CUDA when there is a GPU, else the CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` as
    given (CUDA asked for on a machine without it is refused here, not deep in a first kernel)."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SettingError("device", f"{device}: CUDA is not available on this machine")
    try:
        return torch.device(device)
    except RuntimeError:
        raise SettingError("device", f"expected auto, cpu or cuda, not {device!r}") from None
