"""SettingError: a stage names its setting; the CLI and the study config say it their own way."""

from __future__ import annotations

import pickle

import pytest

from ftprobe.errors import SettingError, UserError
from ftprobe.finetune import FinetuneConfig


def test_stage_names_the_setting_not_a_flag():
    with pytest.raises(SettingError) as info:
        FinetuneConfig(epochs=0).validate()
    assert info.value.setting == "epochs"
    assert str(info.value) == "epochs: must be at least 1, not 0"
    with pytest.raises(SettingError, match=r"^warmup_ratio: must be in \[0, 1\), not 1.5$"):
        FinetuneConfig(warmup_ratio=1.5).validate()


def test_named_and_crossing_a_process_boundary():
    exc = SettingError("word_pooling", "expected mean, first or last, not 'max'")
    again = pickle.loads(pickle.dumps(exc))  # as a study worker sends it back
    assert (again.setting, again.problem) == (exc.setting, exc.problem) and str(again) == str(exc)
    named = exc.named("--word-pooling")
    assert isinstance(named, UserError) and not isinstance(named, SettingError)
    assert str(named) == "--word-pooling: expected mean, first or last, not 'max'"


def test_probe_precision_is_named():
    import torch

    from ftprobe.probe.batched import resolve_precision

    with pytest.raises(SettingError, match=r"^precision: expected auto, fp32 or bf16, not 'fp16'$"):
        resolve_precision("fp16", torch.device("cpu"))
