"""Fine-tuning beyond BERT-style encoders: decoder-only models and the encoder of an
encoder-decoder learn through the same head, and their checkpoints read back like any model."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from ftprobe.finetune import FinetuneConfig, finetune
from tests.tiny_families import save_tiny_family

from .ft_toy import toy_task


def _evals(metrics):
    return [m for m in metrics if m["event"] == "eval"]


@pytest.mark.parametrize("family, kind, method", [("gpt2", "word", "lora"), ("qwen2", "sentence", "full"),
                                                  ("t5", "word", "full")])
def test_loss_falls_and_the_checkpoint_reads_back(family, kind, method, tmp_path):
    from transformers import AutoModel

    path = save_tiny_family(family, tmp_path / family)
    task = toy_task(kind, n_train=32, n_dev=8)
    probe = torch.tensor([[5, 6, 7, 8, 9]])
    seen = {}

    def grab(step, net):  # the live model's last layer after the last step (adapters unmerged)
        was = net.training
        net.eval()
        with torch.no_grad():
            seen["live"] = net.encoder(input_ids=probe).last_hidden_state.clone()
        net.train(was)

    cfg = FinetuneConfig(lr=2e-2 if method == "lora" else 5e-3, batch_size=8, epochs=4, method=method,
                         checkpoint_every_epoch=False, lora_rank=4)
    result = finetune(str(path), task, tmp_path / "run", cfg, progress=False, callback=grab)
    ev = _evals(result.metrics)
    assert ev[-1]["train_loss"] < 0.8 * ev[0]["train_loss"], [m["train_loss"] for m in ev]
    # the saved folder is a plain model of the family, and computes what the live model did
    model = AutoModel.from_pretrained(result.final_dir).eval()
    assert type(model) is type(AutoModel.from_pretrained(path))
    encoder = model.get_encoder() if model.config.is_encoder_decoder else model
    with torch.no_grad():
        torch.testing.assert_close(encoder(input_ids=probe).last_hidden_state, seen["live"], rtol=1e-5, atol=1e-5)
    base, tuned = load_file(str(path / "model.safetensors")), load_file(str(result.final_dir / "model.safetensors"))
    changed = {k for k in base if not torch.equal(base[k], tuned[k])}
    assert changed
    if family == "t5":  # only the encoder learns; the decoder is saved as it was
        assert all(k.startswith("encoder.") or k == "shared.weight" for k in changed), sorted(changed)
    if method == "lora":  # GPT-2's fused attention matrix is a Conv1D (W stored transposed)
        assert {k.rsplit(".", 2)[-2] for k in changed} == {"c_attn"}


@pytest.mark.parametrize("family, embeddings, layer0", [
    ("gpt2", {"wte.weight", "wpe.weight"}, "h.0."),
    ("llama", {"embed_tokens.weight"}, "layers.0."),
    ("mistral", {"embed_tokens.weight"}, "layers.0."),
    ("t5", {"embed_tokens.weight"}, "block.0."),
    ("bart", {"embed_tokens.weight", "embed_positions.weight", "layernorm_embedding.weight",
              "layernorm_embedding.bias"}, "layers.0."),
])
def test_freeze_finds_each_familys_embeddings_and_lowest_layer(family, embeddings, layer0, tmp_path):
    from ftprobe.finetune.methods import Method, apply_method
    from ftprobe.represent import load_encoder

    encoder = load_encoder(str(save_tiny_family(family, tmp_path / family)), device="cpu").model
    apply_method(Method.parse("freeze:1"), encoder)
    frozen = {name for name, p in encoder.named_parameters() if not p.requires_grad}
    assert frozen == embeddings | {name for name, _ in encoder.named_parameters() if name.startswith(layer0)}
