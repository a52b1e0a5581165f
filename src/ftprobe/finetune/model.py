"""An encoder with a linear head over the very vectors the probes read.

The head's input is ``pool_targets`` of the last layer, the same sparse pooling that extraction
uses: mean of subwords for words, head ++ dependent for pairs, [CLS] for sentences. So what the
model is tuned on is exactly what is probed afterwards.

On disk a fine-tuned model is the encoder's own folder (``save_pretrained``: config.json and
model.safetensors, plus the tokenizer), which ``AutoModel.from_pretrained`` and
``ftprobe.represent.load_encoder`` read like any hub model, with the head beside it in
``head.safetensors`` and ``head.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ftprobe.errors import UserError
from ftprobe.represent.align import ModelBatch, pool_targets

HEAD_WEIGHTS = "head.safetensors"
HEAD_META = "head.json"


class FinetuneModel(nn.Module):
    """``encoder`` (an ``AutoModel``) plus dropout and one linear layer over pooled targets."""

    def __init__(self, encoder: nn.Module, kind: str, n_labels: int, dropout: float,
                 container: nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        # what a checkpoint writes: the whole model when ``encoder`` is part of one (the encoder
        # of T5 or BART), so AutoModel reads the folder back; not a submodule (no double params)
        self._container = [container if container is not None else encoder]
        self.kind = kind
        hidden = int(encoder.config.hidden_size)
        self.in_dim = hidden * (2 if kind == "pair" else 1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.in_dim, n_labels)
        # As BERT's own heads are initialised: N(0, initializer_range), zero bias.
        std = float(getattr(encoder.config, "initializer_range", 0.02))
        nn.init.normal_(self.head.weight, std=std)
        nn.init.zeros_(self.head.bias)

    def forward(self, batch: ModelBatch) -> torch.Tensor:
        """Logits [T, n_labels] for the batch's targets."""
        out = self.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        hidden = out.last_hidden_state
        # pool in fp32 outside autocast: sparse kernels lack half types on some builds, and
        # extraction pools in fp32 too
        with torch.autocast(device_type=hidden.device.type, enabled=False):
            vectors = pool_targets(hidden.float(), batch)
        return self.head(self.dropout(vectors))

    def save(self, path: Path, tokenizer, meta: dict[str, Any]) -> None:
        """Write the encoder folder (safetensors), the tokenizer and the head into ``path``."""
        import transformers
        from safetensors.torch import save_file

        transformers.utils.logging.disable_progress_bar()  # a bar per checkpoint is noise
        from ftprobe.finetune.methods import has_adapters, merged_state_dict, save_adapters

        path.mkdir(parents=True, exist_ok=True)
        container = self._container[0]
        if has_adapters(self.encoder):
            # LoRA: a plain model folder with the adapters merged in, and the adapters beside it
            container.save_pretrained(path, state_dict=merged_state_dict(container))
            save_adapters(self.encoder, path)
        else:
            container.save_pretrained(path)
        tokenizer.save_pretrained(path)
        save_file({k: v.detach().float().cpu().contiguous() for k, v in self.head.state_dict().items()},
                  str(path / HEAD_WEIGHTS))
        info = {"kind": self.kind, "in_dim": self.in_dim, "n_labels": self.head.out_features,
                "dropout": self.dropout.p, **meta}
        (path / HEAD_META).write_text(json.dumps(info, indent=1, ensure_ascii=False))

    def load_head(self, path: Path) -> None:
        from safetensors.torch import load_file

        state = load_file(str(path / HEAD_WEIGHTS))
        self.head.load_state_dict({k: v.to(self.head.weight.device) for k, v in state.items()})


def read_head(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The head of a checkpoint folder: its description (labels, kind, ...) and its weights."""
    from safetensors.torch import load_file

    path = Path(path)
    if not (path / HEAD_META).is_file():
        raise UserError(f"{path}: no {HEAD_META}; not an ftprobe fine-tuning checkpoint")
    return json.loads((path / HEAD_META).read_text()), load_file(str(path / HEAD_WEIGHTS))
