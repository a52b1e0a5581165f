"""resolve_device: one reading of the device setting for every stage."""

from __future__ import annotations

import pytest
import torch

from ftprobe.device import resolve_device
from ftprobe.errors import SettingError


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(SettingError, match=r"^device: expected auto, cpu or cuda, not 'tpu0'$"):
        resolve_device("tpu0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_a_gpu_is_refused_by_name():
    with pytest.raises(SettingError, match=r"^device: cuda:1: CUDA is not available"):
        resolve_device("cuda:1")
