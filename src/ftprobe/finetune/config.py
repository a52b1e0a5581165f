"""The fine-tuning recipe (Zhou & Srikumar 2022, section 3) as one validated dataclass.

The paper fixes Adam, batch 32, a linear schedule with 10% warm-up and 10 epochs (3 for
bert-base). It does not give a learning rate; 5e-5 is our default because it is the usual
BERT fine-tuning rate (Devlin et al. search 2e-5..5e-5) and the small BERTs the paper also
tunes need the upper end of that range to move within 10 epochs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ftprobe.errors import SettingError

MIXED_PRECISION = ("auto", "no", "fp16", "bf16")
WORD_POOLING = ("mean", "first", "last")
SENTENCE_POOLING = ("auto", "cls", "mean", "last")
#: Settings that change the result; a run folder holding other values is another run.
#: (device, mixed precision and accumulation only change how the same recipe is computed.)
#: (recording probe vectors during training reads the model without changing it.)
RUNTIME_ONLY = ("device", "mixed_precision", "grad_accum", "eval_batch_size",
                "record_every_steps", "record_layers", "record_split")
#: Settings of one method only; they define a run of that method alone.
LORA_SETTINGS = ("lora_rank", "lora_alpha", "lora_dropout", "lora_target_modules")


@dataclass
class FinetuneConfig:
    """Every setting of a fine-tuning run. ``epochs=None`` is the paper's: 10, or 3 for models
    of 12 layers or more. ``batch_size`` counts sentences (that hold targets) per optimizer step;
    ``grad_accum`` splits that batch into micro-batches, so the recipe stays batch 32 whatever
    the memory."""

    epochs: int | None = None
    lr: float = 5e-5
    batch_size: int = 32
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    adam_eps: float = 1e-8
    max_grad_norm: float | None = 1.0
    seed: int = 0
    checkpoint_every_steps: int | None = None
    checkpoint_every_epoch: bool = True
    checkpoint_at_start: bool = False
    eval_split: str | None = None  # None: dev if the task has one, else test
    eval_batch_size: int = 64
    grad_accum: int = 1
    mixed_precision: str = "auto"
    device: str = "auto"
    max_length: int | None = None  # None: the model's own limit (longer sentences are windowed)
    head_dropout: float | None = None  # None: the encoder's hidden dropout (as HF heads do)
    method: str = "full"  # full, lora, bitfit, freeze:K, head (ftprobe.finetune.methods)
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.1
    lora_target_modules: list[str] | None = None  # None: PEFT's default for the architecture
    record_every_steps: int | None = None  # extract the probe set into the store every K steps
    # fine-tune on this share of the train split's sentences, drawn with ``seed`` (how much
    # fine-tuning a change needs: the same task at 25, 50 and 100 %)
    train_fraction: float = 1.0
    record_layers: list[int] | str = "all"
    record_split: str | None = None  # None: the evaluation split
    # The head reads the vectors the probes read: pool as the extraction of the study does.
    word_pooling: str = "mean"  # subwords -> word: mean, first or last
    sentence_pooling: str = "auto"  # sentence targets: auto (the model's default), cls, mean or last

    def validate(self) -> FinetuneConfig:
        """Raise a SettingError (naming the field) for settings no run can use."""

        def bad(setting: str, problem: str):
            raise SettingError(setting, problem)

        if self.epochs is not None and self.epochs < 1:
            bad("epochs", f"must be at least 1, not {self.epochs}")
        if not self.lr > 0:
            bad("lr", f"must be positive, not {self.lr}")
        if self.batch_size < 1:
            bad("batch_size", f"must be at least 1, not {self.batch_size}")
        if not 0 <= self.warmup_ratio < 1:
            bad("warmup_ratio", f"must be in [0, 1), not {self.warmup_ratio}")
        if self.weight_decay < 0:
            bad("weight_decay", f"must be at least 0, not {self.weight_decay}")
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            bad("max_grad_norm", f"must be positive, not {self.max_grad_norm}")
        if self.checkpoint_every_steps is not None and self.checkpoint_every_steps < 1:
            bad("checkpoint_every_steps", f"must be at least 1, not {self.checkpoint_every_steps}")
        if self.grad_accum < 1 or self.grad_accum > self.batch_size:
            bad("grad_accum", f"must be between 1 and the batch size ({self.batch_size}), not {self.grad_accum}")
        if self.eval_batch_size < 1:
            bad("eval_batch_size", f"must be at least 1, not {self.eval_batch_size}")
        if self.mixed_precision not in MIXED_PRECISION:
            bad("mixed_precision", f"expected one of {', '.join(MIXED_PRECISION)}, not {self.mixed_precision!r}")
        if self.max_length is not None and self.max_length < 4:
            bad("max_length", f"must be at least 4, not {self.max_length}")
        if self.head_dropout is not None and not 0 <= self.head_dropout < 1:
            bad("head_dropout", f"must be in [0, 1), not {self.head_dropout}")
        if self.word_pooling not in WORD_POOLING:
            bad("word_pooling", f"expected one of {', '.join(WORD_POOLING)}, not {self.word_pooling!r}")
        if self.sentence_pooling not in SENTENCE_POOLING:
            bad("sentence_pooling", f"expected one of {', '.join(SENTENCE_POOLING)}, not {self.sentence_pooling!r}")
        if self.record_every_steps is not None and (isinstance(self.record_every_steps, bool) or not isinstance(
                self.record_every_steps, int) or self.record_every_steps < 1):
            bad("record_every_steps", f"must be a positive integer, not {self.record_every_steps!r}")
        if isinstance(self.train_fraction, bool) or not isinstance(self.train_fraction, int | float) \
                or not 0 < self.train_fraction <= 1:
            bad("train_fraction", f"must be a number in (0, 1], not {self.train_fraction!r}")
        self.parsed_method()
        self.lora()
        return self

    def parsed_method(self):
        from ftprobe.finetune.methods import Method

        return Method.parse(self.method)

    def lora(self):
        """The LoRA settings, validated (a wrong type is an error naming the setting)."""
        from ftprobe.finetune.methods import lora_settings

        return lora_settings(self.lora_rank, self.lora_alpha, self.lora_dropout, self.lora_target_modules)

    def resolved_epochs(self, n_layers: int) -> int:
        return self.epochs if self.epochs is not None else (3 if n_layers >= 12 else 10)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FinetuneConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def identity(self) -> dict[str, Any]:
        """The settings that define the run (what a resumed run must share)."""
        out = {k: v for k, v in asdict(self).items() if k not in RUNTIME_ONLY}
        # a full run's identity is what it was before methods existed (old run folders resume)
        if self.method == "full":
            del out["method"]
        if self.train_fraction == 1:
            del out["train_fraction"]
        if self.method != "lora":
            for key in LORA_SETTINGS:
                del out[key]
        return out
