"""How much of the encoder a fine-tuning run trains: full, LoRA, BitFit, freeze:K, head only.

A method only decides which parameters learn (and, for LoRA, adds the low-rank adapters through
PEFT); the loop, the head and the checkpoints are the same for all. What is written is always a
plain encoder folder: LoRA's adapters are merged into the weights they adapt (``W + s B A``) in
the saved copy only, so ``AutoModel.from_pretrained`` and extraction read it like any model, while
training goes on with the unmerged adapters (merging and unmerging in place would round the base
weights and break exact resumption). The adapters alone are saved beside it to resume from.

    full       every encoder parameter
    lora       rank-r adapters on ``target_modules`` (PEFT's default for the architecture)
    bitfit     every bias term of the encoder (Ben Zaken et al. 2022), LayerNorm's included
    freeze:K   everything but the embeddings and the lowest K layers
    head       nothing of the encoder: the linear-probe baseline
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ftprobe.errors import SettingError, UserError

METHODS = ("full", "lora", "bitfit", "freeze:K", "head")
ADAPTER_WEIGHTS = "lora_adapter.safetensors"
_ADAPTER = "default"
_FREEZE = re.compile(r"^freeze:(\d+)$")


@dataclass(frozen=True)
class Method:
    """A parsed ``--method``: its name and, for ``freeze:K``, K."""

    name: str
    frozen_layers: int = 0

    @classmethod
    def parse(cls, text: str) -> Method:
        if not isinstance(text, str):
            raise SettingError("method", f"{text!r}: expected a string, one of {', '.join(METHODS)}")
        if text in ("full", "lora", "bitfit", "head"):
            return cls(text)
        match = _FREEZE.match(text)
        if match:
            return cls("freeze", int(match.group(1)))
        raise SettingError("method", f"{text!r}: unknown method; expected one of {', '.join(METHODS)}")

    def __str__(self) -> str:
        return f"freeze:{self.frozen_layers}" if self.name == "freeze" else self.name


@dataclass(frozen=True)
class LoraSettings:
    """PEFT's LoRA settings. ``target_modules=None`` takes PEFT's default for the architecture
    (BERT: query, value; GPT-2: c_attn; Llama: q_proj, v_proj; ...)."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    target_modules: tuple[str, ...] | None = None

    def validate(self) -> LoraSettings:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise SettingError("lora_rank", f"{self.rank!r}: must be a positive integer")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, int | float) or not self.alpha > 0:
            raise SettingError("lora_alpha", f"{self.alpha!r}: must be a positive number")
        if (isinstance(self.dropout, bool) or not isinstance(self.dropout, int | float)
                or not 0 <= self.dropout < 1):
            raise SettingError("lora_dropout", f"{self.dropout!r}: must be a number in [0, 1)")
        if self.target_modules is not None and (
                isinstance(self.target_modules, str) or not all(isinstance(m, str) and m
                                                                for m in self.target_modules)
                or not self.target_modules):
            raise SettingError("lora_target_modules", f"{self.target_modules!r}: expected a list of "
                            "module names (e.g. query value)")
        return self


@dataclass(frozen=True)
class TrainableCount:
    """What a method leaves trainable: encoder parameters (adapters included) and the head's."""

    method: str
    encoder_trainable: int
    encoder_total: int  # the encoder's own parameters, adapters excluded
    head: int

    @property
    def trainable(self) -> int:
        return self.encoder_trainable + self.head

    def to_dict(self) -> dict[str, int | str | float]:
        return {"method": self.method, "trainable_parameters": self.trainable,
                "encoder_trainable_parameters": self.encoder_trainable,
                "encoder_parameters": self.encoder_total, "head_parameters": self.head,
                "encoder_trainable_share": self.encoder_trainable / max(self.encoder_total, 1)}


def apply_method(method: Method, encoder: nn.Module, lora: LoraSettings | None = None) -> nn.Module:
    """Set which of ``encoder``'s parameters learn (LoRA: inject the adapters); returns it.

    Raises a one-line UserError naming the setting when the method does not fit the model
    (LoRA target modules absent, BitFit on a model without biases, K above the layer count).
    """
    if method.name == "lora":
        return _inject_lora(encoder, (lora or LoraSettings()).validate())
    for p in encoder.parameters():
        p.requires_grad_(method.name == "full")
    if method.name == "bitfit":
        biases = [p for name, p in encoder.named_parameters() if name.endswith("bias")]
        if not biases:
            raise SettingError("method", f"bitfit: model type {_model_type(encoder)!r} has no bias terms")
        for p in biases:
            p.requires_grad_(True)
    elif method.name == "freeze":
        layers = layer_list(encoder)
        if method.frozen_layers > len(layers):
            raise SettingError("method", f"freeze:{method.frozen_layers}: the model has only {len(layers)} layers")
        for p in encoder.parameters():
            p.requires_grad_(True)
        for p in embedding_parameters(encoder):
            p.requires_grad_(False)
        for layer in layers[:method.frozen_layers]:
            for p in layer.parameters():
                p.requires_grad_(False)
    return encoder


def count_trainable(method: Method, encoder: nn.Module, head: nn.Module) -> TrainableCount:
    own = sum(p.numel() for name, p in encoder.named_parameters() if ".lora_" not in name)
    trainable = sum(p.numel() for p in encoder.parameters() if p.requires_grad)
    return TrainableCount(str(method), trainable, own, sum(p.numel() for p in head.parameters()))


def layer_list(encoder: nn.Module) -> nn.ModuleList:
    """The encoder's stack of transformer layers: the first ModuleList of ``num_hidden_layers``."""
    n = int(encoder.config.num_hidden_layers)
    for _, module in encoder.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == n:
            return module
    raise SettingError("method", f"freeze:K: cannot find the {n} layers of model type {_model_type(encoder)!r}")


def embedding_parameters(encoder: nn.Module) -> list[nn.Parameter]:
    """Parameters of the embedding stage: embedding tables outside the layer stack and every
    top-level part that holds the input embeddings or is named for them (BERT's embeddings
    LayerNorm, BART's layernorm_embedding)."""
    stack = {id(p) for p in layer_list(encoder).parameters()}
    inputs = encoder.get_input_embeddings()
    found: dict[int, nn.Parameter] = {}
    for name, child in encoder.named_children():
        holds_inputs = any(m is inputs for m in child.modules())
        if name in ("wte", "wpe") or "embed" in name or (holds_inputs and not any(
                id(p) in stack for p in child.parameters())):
            found.update((id(p), p) for p in child.parameters())
    for module in encoder.modules():
        if isinstance(module, nn.Embedding):
            found.update((id(p), p) for p in module.parameters() if id(p) not in stack)
    return list(found.values())


def _model_type(encoder: nn.Module) -> str:
    return str(getattr(getattr(encoder, "config", None), "model_type", type(encoder).__name__))


def _inject_lora(encoder: nn.Module, settings: LoraSettings) -> nn.Module:
    import warnings

    try:
        from peft import LoraConfig, inject_adapter_in_model
    except ImportError:
        raise SettingError("method", "lora needs PEFT: pip install -c constraints.txt 'ftprobe[peft]'") from None

    targets = lora_targets(encoder, settings)
    config = LoraConfig(r=settings.rank, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=targets, bias="none",
                        fan_in_fan_out=_model_type(encoder) == "gpt2")  # GPT-2's Conv1D stores W^T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            model = inject_adapter_in_model(config, encoder, adapter_name=_ADAPTER)
        except ValueError as exc:
            raise SettingError("lora_target_modules", f"{str(exc).splitlines()[0]}") from None
    for name, p in model.named_parameters():
        p.requires_grad_(".lora_" in name)
    return model


def lora_targets(encoder: nn.Module, settings: LoraSettings) -> list[str]:
    """The module names LoRA adapts in ``encoder``; a one-line UserError when one is absent."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as DEFAULTS

    targets = list(settings.target_modules) if settings.target_modules else DEFAULTS.get(_model_type(encoder))
    if not targets:
        raise SettingError("lora_target_modules", f"PEFT has no default for model type {_model_type(encoder)!r}; "
                        "name the modules to adapt (e.g. q_lin v_lin)")
    names = {name.rsplit(".", 1)[-1] for name, _ in encoder.named_modules()}
    absent = [t for t in targets if t not in names]
    if absent:
        raise SettingError("lora_target_modules", f"{', '.join(absent)} not in model type "
                        f"{_model_type(encoder)!r} (its linear modules: {', '.join(_linear_names(encoder))})")
    return targets


def check_lora_fits(model_folder: str, settings: LoraSettings) -> None:
    """Before any work: LoRA's target modules exist in the model of ``model_folder`` (the model is
    built on the meta device from its config: no weight is read)."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(model_folder)
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    lora_targets(model.get_encoder() if getattr(config, "is_encoder_decoder", False) else model, settings)


def _linear_names(encoder: nn.Module) -> list[str]:
    names = {name.rsplit(".", 1)[-1] for name, m in encoder.named_modules()
             if isinstance(m, nn.Linear) or type(m).__name__ == "Conv1D"}
    return sorted(names)


def has_adapters(model: nn.Module) -> bool:
    return any(".lora_" in name for name, _ in model.named_parameters())


def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict with every LoRA adapter merged into the weight it adapts, under the
    names of the plain model (no ``base_layer``, no ``lora_`` entries); ``model`` is untouched."""
    from peft.tuners.lora import LoraLayer

    out: dict[str, torch.Tensor] = {}
    for key, value in model.state_dict().items():
        if ".lora_" not in key:
            out[key.replace(".base_layer.", ".")] = value
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, LoraLayer) and _ADAPTER in module.lora_A:
                key = f"{name}.weight"
                out[key] = (out[key].float() + module.get_delta_weight(_ADAPTER).float()).to(out[key].dtype)
    return out


def save_adapters(model: nn.Module, path: Path) -> None:
    """The adapter weights alone (what resuming a LoRA run needs besides the base model)."""
    from safetensors.torch import save_file

    save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items() if ".lora_" in k},
              str(path / ADAPTER_WEIGHTS))


def load_adapters(model: nn.Module, path: Path) -> None:
    from safetensors.torch import load_file

    state = load_file(str(path / ADAPTER_WEIGHTS))
    missing = model.load_state_dict(state, strict=False)
    if missing.unexpected_keys:
        raise UserError(f"{path}: adapter weights do not fit the model ({missing.unexpected_keys[0]})")


def lora_settings(rank: int, alpha: float, dropout: float, target_modules: Sequence[str] | None) -> LoraSettings:
    modules = tuple(target_modules) if isinstance(target_modules, list | tuple) else target_modules
    return LoraSettings(rank, alpha, dropout, modules).validate()
