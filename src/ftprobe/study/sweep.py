"""Sweeps: the fine-tuned models a study makes, one ``Variant`` per point of the cross product.

A variant is a model with values for the swept fine-tuning settings (``[finetune] methods``,
``train_fractions`` and ``seeds``; any further list-valued setting is one more ``SweepDimension``).
Steps that do not depend on a swept setting (the original model's vectors and probes) have the
same content key in every variant, so the plan holds them, and the study runs them, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from typing import Any

from ftprobe.study.config import ModelConfig, StudyConfig

# Settings that decide how a study runs, not what a fine-tuned model is: never in a step's key.
NOT_IN_KEY = ("seeds", "methods", "train_fractions", "keep_checkpoints", "lr_by_method")


@dataclass(frozen=True)
class SweepDimension:
    """One swept fine-tuning setting: ``setting`` (a ``[finetune]`` key) takes each of ``values``."""

    setting: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Variant:
    """A model fine-tuned with one value of every swept setting."""

    model: str
    settings: tuple[tuple[str, Any], ...] = ()  # (setting, value) per dimension, in order
    swept: tuple[str, ...] = ()  # the settings with more than one value (they name the variant)

    @property
    def suffix(self) -> str:
        """The values of the swept settings (``seed=1``); empty when nothing is swept."""
        return " ".join(f"{k}={v}" for k, v in self.settings if k in self.swept)

    @property
    def label(self) -> str:
        """The name in tables: the model, plus the settings that vary (``minilm seed=1``)."""
        return f"{self.model} {self.suffix}" if self.suffix else self.model

    def to_json(self) -> dict[str, Any]:
        """What results.json records of the variant: the report pools runs that differ only by seed."""
        return {"model": self.model, "settings": dict(self.settings), "swept": list(self.swept)}

    @property
    def replicate_label(self) -> str:
        """The label without the fine-tuning seed: variants that share it are replicates of one
        setting (their numbers are averaged, with their spread, where compared with the paper)."""
        rest = " ".join(f"{k}={v}" for k, v in self.settings if k in self.swept and k != "seed")
        return f"{self.model} {rest}" if rest else self.model

    def finetune_settings(self, base: dict[str, Any]) -> dict[str, Any]:
        """The ``[finetune]`` settings of this variant's fine-tuning step (what its key hashes)."""
        out = {k: v for k, v in base.items() if k not in NOT_IN_KEY}
        out.update(dict(self.settings))
        method = out.get("method") or (base.get("options") or {}).get("method", "full")
        if method in (base.get("lr_by_method") or {}):
            out["lr"] = float(base["lr_by_method"][method])
        # unset new settings and the full method stay out, so a study without them keeps its keys
        if out.get("record_every_steps") is None:
            out.pop("record_every_steps", None)
        if out.get("method") in (None, "full"):
            out.pop("method", None)
        if out.get("train_fraction") == 1:
            out.pop("train_fraction")
        return out


def sweep_dimensions(cfg: StudyConfig) -> list[SweepDimension]:
    """The swept settings of a study (none when every setting has one value)."""
    dims = []
    if cfg.finetune.methods is not None:
        dims.append(SweepDimension("method", tuple(cfg.finetune.methods)))
    if cfg.finetune.train_fractions is not None:
        dims.append(SweepDimension("train_fraction", tuple(float(f) for f in cfg.finetune.train_fractions)))
    if cfg.finetune.seeds is not None:
        dims.append(SweepDimension("seed", tuple(cfg.finetune.seeds)))
    return dims


def variants(cfg: StudyConfig, model: ModelConfig) -> list[Variant]:
    """Every variant of ``model``: the cross product of the swept settings, in config order."""
    dims = sweep_dimensions(cfg)
    swept = tuple(d.setting for d in dims if len(d.values) > 1)
    combos = product(*(d.values for d in dims)) if dims else [()]
    return [Variant(model.name, tuple(zip([d.setting for d in dims], combo, strict=True)), swept)
            for combo in combos]
