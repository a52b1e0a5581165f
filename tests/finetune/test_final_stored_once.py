"""The final model is not stored twice: saved at the step of the last checkpoint, its identical
files are hard links to the checkpoint's; saved later, it is its own file."""

from __future__ import annotations

import os

import torch

from ftprobe.finetune import FinetuneConfig, finetune, list_checkpoints

from .ft_toy import toy_task


def test_final_shares_the_last_checkpoints_weights(tiny_bert, tmp_path):
    from transformers import AutoModel

    task = toy_task("word", n_train=24, n_dev=8)  # 3 steps of 8
    cfg = FinetuneConfig(lr=5e-3, batch_size=8, epochs=1, checkpoint_every_steps=2, seed=0)
    res = finetune(str(tiny_bert), task, tmp_path / "run", cfg, progress=False)
    last = list_checkpoints(tmp_path / "run")[-1]
    assert last.name == "step-000003"  # the epoch's end
    for name in ("model.safetensors", "head.safetensors"):
        if (last / name).is_file():
            assert os.path.samefile(last / name, res.final_dir / name), name
    assert not os.path.samefile(list_checkpoints(tmp_path / "run")[0] / "model.safetensors",
                                res.final_dir / "model.safetensors")
    # the shared file is the final model: it loads and equals the last step's weights
    a = AutoModel.from_pretrained(res.final_dir).state_dict()
    b = AutoModel.from_pretrained(last).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_final_after_the_last_checkpoint_is_its_own_file(tiny_bert, tmp_path):
    task = toy_task("word", n_train=24, n_dev=8)
    cfg = FinetuneConfig(lr=5e-3, batch_size=8, epochs=1, checkpoint_every_steps=2,
                         checkpoint_every_epoch=False, seed=0)
    res = finetune(str(tiny_bert), task, tmp_path / "run", cfg, progress=False)
    (only,) = list_checkpoints(tmp_path / "run")
    assert only.name == "step-000002"
    assert not os.path.samefile(only / "model.safetensors", res.final_dir / "model.safetensors")
    assert (res.final_dir / "model.safetensors").stat().st_nlink == 1
