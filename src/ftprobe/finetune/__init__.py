"""Stage 2: fine-tune an encoder with a linear head on a task, keeping checkpoints on the way.

    from ftprobe.finetune import FinetuneConfig, finetune, list_checkpoints
    result = finetune("bert-base-uncased", task, "runs/pos", FinetuneConfig(checkpoint_every_steps=500))
    for ckpt in list_checkpoints("runs/pos"): load_encoder(str(ckpt))  # like any hub model

Methods (``FinetuneConfig(method="lora" | "bitfit" | "freeze:K" | "head")``) decide what learns;
``record_every_steps`` records a probe split into the store during training (``ProbeRecorder``).
"""

from ftprobe.finetune.checkpoints import list_checkpoints
from ftprobe.finetune.config import FinetuneConfig
from ftprobe.finetune.methods import LoraSettings, Method, TrainableCount
from ftprobe.finetune.model import FinetuneModel, read_head
from ftprobe.finetune.recorder import ProbeRecorder
from ftprobe.finetune.train import FinetuneResult, evaluate, finetune

__all__ = ["FinetuneConfig", "FinetuneModel", "FinetuneResult", "LoraSettings", "Method", "ProbeRecorder",
           "TrainableCount", "evaluate", "finetune", "list_checkpoints", "read_head"]
