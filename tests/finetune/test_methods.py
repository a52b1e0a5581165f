"""Fine-tuning methods: what each one may change, what it counts as trainable, and that it learns.

Every expectation is checked on the saved folders against the base model's own file, so it holds
for what extraction and ``AutoModel.from_pretrained`` read, not only for the live module.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from ftprobe.errors import UserError
from ftprobe.finetune import FinetuneConfig, finetune, list_checkpoints

from .ft_toy import toy_task

RANK = 2  # hidden 32: a full-rank update of a 32x32 matrix would have rank 32


def _cfg(method: str, **kw) -> FinetuneConfig:
    base = dict(lr=5e-3, batch_size=8, epochs=3, seed=0, method=method, checkpoint_every_epoch=False,
                lora_rank=RANK, lora_alpha=4.0, lora_dropout=0.0)
    return FinetuneConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def runs(tiny_bert, tmp_path_factory):
    """One finished run per method on the same word task: {method: (result, run.json)}."""
    root = tmp_path_factory.mktemp("methods")
    task = toy_task("word")
    out = {}
    for method in ("full", "lora", "bitfit", "freeze:1", "head"):
        lr = 2e-2 if method in ("lora", "head", "bitfit") else 5e-3
        res = finetune(str(tiny_bert), task, root / method.replace(":", "-"), _cfg(method, lr=lr), progress=False)
        out[method] = (res, json.loads((root / method.replace(":", "-") / "run.json").read_text()))
    return out


def _changed(tiny_bert, final_dir) -> tuple[dict, dict, set[str]]:
    base, tuned = load_file(str(tiny_bert / "model.safetensors")), load_file(str(final_dir / "model.safetensors"))
    assert base.keys() == tuned.keys()  # a plain model folder: no base_layer, no lora_ entries
    return base, tuned, {k for k in base if not torch.equal(base[k], tuned[k])}


@pytest.mark.parametrize("method", ["full", "lora", "bitfit", "freeze:1", "head"])
def test_loss_falls(runs, method):
    res, _ = runs[method]
    evals = [m for m in res.metrics if m["event"] == "eval"]
    assert evals[-1]["train_loss"] < 0.8 * evals[0]["train_loss"], [m["train_loss"] for m in evals]


def test_lora_changes_only_adapted_matrices_by_low_rank(runs, tiny_bert):
    res, run = runs["lora"]
    base, tuned, changed = _changed(tiny_bert, res.final_dir)
    adapted = {k for k in base if k.endswith(("query.weight", "value.weight"))}  # PEFT's BERT default
    assert changed == adapted and len(adapted) == 4
    for k in adapted:
        delta = (tuned[k] - base[k]).double()
        assert 0 < torch.linalg.matrix_rank(delta, atol=1e-6) <= RANK, k
    # the merged folder computes what the base model plus PEFT's own adapters computes
    from peft import LoraConfig, inject_adapter_in_model
    from transformers import AutoModel

    merged = AutoModel.from_pretrained(res.final_dir).eval()
    live = inject_adapter_in_model(LoraConfig(r=RANK, lora_alpha=4.0, target_modules=["query", "value"]),
                                   AutoModel.from_pretrained(tiny_bert)).eval()
    live.load_state_dict(load_file(str(res.final_dir / "lora_adapter.safetensors")), strict=False)
    ids = torch.tensor([[2, 10, 11, 12, 3], [2, 13, 14, 3, 0]])
    with torch.no_grad():
        a = merged(input_ids=ids, attention_mask=(ids != 0).long()).last_hidden_state
        b = live(input_ids=ids, attention_mask=(ids != 0).long()).last_hidden_state
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # trainable: A (r x 32) and B (32 x r) on query and value of 2 layers, and the head
    n_labels = 3
    assert run["resolved"]["encoder_trainable_parameters"] == 2 * 2 * (RANK * 32 + 32 * RANK)
    assert run["resolved"]["trainable_parameters"] == 2 * 2 * 64 * RANK + 32 * n_labels + n_labels
    assert run["settings"]["method"] == "lora" and run["settings"]["lora_rank"] == RANK


def test_bitfit_changes_only_biases(runs, tiny_bert):
    res, run = runs["bitfit"]
    base, _, changed = _changed(tiny_bert, res.final_dir)
    assert changed and all(k.endswith("bias") for k in changed)
    # every bias that reaches the last layer learns (the pooler is not on the path to the head)
    assert {k for k in base if k.endswith("bias") and not k.startswith("pooler")} == changed
    assert run["resolved"]["encoder_trainable_parameters"] == sum(
        v.numel() for k, v in base.items() if k.endswith("bias"))


def test_freeze_keeps_embeddings_and_lowest_layers_bit_identical(runs, tiny_bert):
    res, run = runs["freeze:1"]
    base, _, changed = _changed(tiny_bert, res.final_dir)
    frozen = {k for k in base if k.startswith(("embeddings.", "encoder.layer.0."))}
    assert not changed & frozen
    assert {k for k in changed if k.startswith("encoder.layer.1.")} == {
        k for k in base if k.startswith("encoder.layer.1.")}
    assert run["resolved"]["encoder_trainable_parameters"] == sum(
        v.numel() for k, v in base.items() if k not in frozen)


def test_head_leaves_the_encoder_bit_identical(runs, tiny_bert):
    res, run = runs["head"]
    _, _, changed = _changed(tiny_bert, res.final_dir)
    assert changed == set()
    assert run["resolved"]["encoder_trainable_parameters"] == 0
    assert run["resolved"]["trainable_parameters"] == 32 * 3 + 3
    full = runs["full"][1]["resolved"]
    assert full["encoder_trainable_parameters"] == full["encoder_parameters"]


def test_interrupted_lora_run_resumes_exactly(tiny_bert, tmp_path):
    """A LoRA checkpoint holds merged weights; resuming goes on from the base model and the saved
    adapters, so the resumed run ends where the uninterrupted one does, bit for bit."""
    task = toy_task("word", n_train=32, n_dev=8)
    cfg = _cfg("lora", epochs=2, checkpoint_every_steps=3, lora_dropout=0.1, lr=2e-2)
    full = finetune(str(tiny_bert), task, tmp_path / "full", cfg, progress=False)

    class Stop(Exception):
        pass

    def interrupt(step, net):
        if step == 5:
            raise Stop

    with pytest.raises(Stop):
        finetune(str(tiny_bert), task, tmp_path / "cut", cfg, progress=False, callback=interrupt)
    assert [p.name for p in list_checkpoints(tmp_path / "cut")] == ["step-000003"]
    resumed = finetune(str(tiny_bert), task, tmp_path / "cut", cfg, resume=True, progress=False)
    for name in ("model.safetensors", "lora_adapter.safetensors", "head.safetensors"):
        a, b = load_file(str(full.final_dir / name)), load_file(str(resumed.final_dir / name))
        assert a.keys() == b.keys()
        for k in a:
            assert torch.equal(a[k], b[k]), (name, k)


@pytest.mark.parametrize("changes, setting", [
    ({"method": "lora-ish"}, "method:"),
    ({"method": "freeze:x"}, "method:"),
    ({"method": "lora", "lora_rank": "8"}, "lora_rank:"),
    ({"method": "lora", "lora_alpha": [1]}, "lora_alpha:"),
    ({"method": "lora", "lora_dropout": 1.5}, "lora_dropout:"),
    ({"method": "lora", "lora_target_modules": "query"}, "lora_target_modules:"),
    ({"record_every_steps": 0}, "record_every_steps:"),
])
def test_bad_settings_fail_in_validate(changes, setting):
    with pytest.raises(UserError, match=f"^{setting} "):
        FinetuneConfig(**changes).validate()


@pytest.mark.parametrize("changes, message", [
    ({"method": "lora", "lora_target_modules": ["q_proj"]}, "lora_target_modules: q_proj not in model type 'bert'"),
    ({"method": "freeze:3"}, "method: freeze:3: the model has only 2 layers"),
])
def test_methods_that_do_not_fit_the_model_fail_before_writing(tiny_bert, tmp_path, changes, message):
    with pytest.raises(UserError, match=message):
        finetune(str(tiny_bert), toy_task("word", n_train=8, n_dev=4), tmp_path / "run",
                 FinetuneConfig(**changes), progress=False)
    assert not (tmp_path / "run").exists()


def test_old_full_runs_keep_their_identity():
    """Run folders written before methods existed hold no method key: a full run still matches."""
    ident = FinetuneConfig().identity()
    assert "method" not in ident and not any(k.startswith("lora_") for k in ident)
    assert FinetuneConfig(method="lora").identity()["lora_rank"] == 8
    assert "lora_rank" not in FinetuneConfig(method="bitfit").identity()
