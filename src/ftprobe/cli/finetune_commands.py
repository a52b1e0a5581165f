"""`ftprobe finetune`: fine-tune an encoder on a task, keeping checkpoints on the way."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftprobe.cli.data_commands import TaskArgs
from ftprobe.cli.framework import command, opt


@command("finetune")
@dataclass(kw_only=True)  # --out is required but follows TaskArgs' defaults
class Finetune(TaskArgs):
    """Fine-tune MODEL with a linear head on TASK's train split (the paper's recipe by default:
    AdamW, batch 32, linear schedule with 10% warm-up, 10 epochs or 3 for 12+ layers).

    DIR/final holds the finished model; DIR/checkpoints/step-N the ones on the way, each a folder
    that AutoModel.from_pretrained and `ftprobe extract --model` read like a hub model."""

    model: str | None = opt(None, help="hub name or local folder (default: the offline MiniLM)")
    out: Path = opt(help="run folder (new, or this run's own with --resume)", setting="out_dir")
    epochs: int | None = opt(None, help="epochs (default: 10, or 3 for models of 12+ layers)")
    lr: float = opt(5e-5, help="peak learning rate")
    batch_size: int = opt(32, help="sentences per optimizer step")
    warmup_ratio: float = opt(0.1, help="share of the steps spent warming up")
    weight_decay: float = opt(0.0, help="AdamW weight decay (0 = Adam)")
    max_grad_norm: float = opt(1.0, help="gradient clipping norm (0 = none)")
    seed: int = opt(0, help="seed of the head, dropout and data order")
    train_fraction: float = opt(1.0, help="fine-tune on this share of the train sentences (a sample drawn "
                                "with --seed)")
    checkpoint_every_steps: int | None = opt(None, help="also save a checkpoint every K optimizer steps")
    checkpoint_every_epoch: bool = opt(True, help="save a checkpoint at the end of each epoch")
    checkpoint_at_start: bool = opt(False, help="save a checkpoint before the first step")
    eval_split: str | None = opt(None, help="split evaluated after each epoch (default: dev, else test)")
    eval_batch_size: int = opt(64, help="sentences per evaluation batch")
    grad_accum: int = opt(1, help="micro-batches per optimizer step (same result, less memory)")
    mixed_precision: str = opt("auto", help="auto (bf16/fp16 on a GPU, none on CPU); bf16 also runs on CPU",
                               choices=["auto", "no", "fp16", "bf16"])
    device: str = opt("auto", help="auto, cpu or cuda")
    max_length: int | None = opt(None, help="longest input in subwords (default: the model's)")
    method: str = opt("full", help="what learns: full, lora, bitfit (biases), freeze:K (all but the embeddings "
                      "and the lowest K layers), head (the encoder frozen)")
    lora_rank: int = opt(8, help="LoRA rank r")
    lora_alpha: float = opt(16.0, help="LoRA alpha (the update is scaled by alpha / r)")
    lora_dropout: float = opt(0.1, help="dropout on LoRA's input")
    lora_target_modules: list[str] = opt([], help="modules LoRA adapts (default: PEFT's for the "
                                         "architecture, e.g. query value for BERT)")
    record_every_steps: int | None = opt(None, help="record the probe split's vectors into --record-store "
                                         "every K optimizer steps (and at step 0)")
    record_split: str | None = opt(None, help="split recorded (default: the evaluation split)")
    record_layers: list[str] = opt(["all"], help="layers recorded: all, or indices (0 = embeddings)")
    record_store: Path | None = opt(None, help="store the recorded vectors go to (default: OUT/records)")
    word_pooling: str = opt("mean", help="subwords -> word for the head (as `ftprobe extract`)",
                            choices=["mean", "first", "last"])
    sentence_pooling: str = opt("auto", help="sentence targets for the head (auto: [CLS] for encoders, the last token for decoders)",
                                 choices=["auto", "cls", "mean", "last"])
    resume: bool = opt(False, help="continue the run in --out from its last checkpoint")
    progress: bool = opt(True, help="show a progress bar")

    def run(self) -> int:
        from ftprobe.finetune import FinetuneConfig, finetune
        from ftprobe.represent import default_model

        config = FinetuneConfig(
            epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, warmup_ratio=self.warmup_ratio,
            weight_decay=self.weight_decay, max_grad_norm=self.max_grad_norm or None, seed=self.seed,
            train_fraction=self.train_fraction,
            checkpoint_every_steps=self.checkpoint_every_steps,
            checkpoint_every_epoch=self.checkpoint_every_epoch,
            checkpoint_at_start=self.checkpoint_at_start, eval_split=self.eval_split,
            eval_batch_size=self.eval_batch_size, grad_accum=self.grad_accum,
            mixed_precision=self.mixed_precision, device=self.device, max_length=self.max_length,
            method=self.method, lora_rank=self.lora_rank, lora_alpha=self.lora_alpha,
            lora_dropout=self.lora_dropout, lora_target_modules=self.lora_target_modules or None,
            record_every_steps=self.record_every_steps, record_split=self.record_split,
            record_layers=_layers(self.record_layers),
            word_pooling=self.word_pooling, sentence_pooling=self.sentence_pooling,
        ).validate()  # a bad schedule or method fails before any data is read
        task = self.load()
        result = finetune(self.model or default_model(), task, self.out, config, resume=self.resume,
                          progress=self.progress, record_store=self.record_store)
        evals = [m for m in result.metrics if m.get("event") == "eval" and "accuracy" in m]
        if evals:
            last = evals[-1]
            print(f"{last['split']} accuracy after epoch {last['epoch']}: {last['accuracy']:.4f} "
                  f"(loss {last['loss']:.4f})")
        records = [m for m in result.metrics if m.get("event") == "record"]
        if records:
            print(f"{len(records)} recorded steps -> {self.record_store or self.out / 'records'}")
        trainable = result.extra.get("resolved", {}).get("trainable_parameters")
        if trainable is not None:
            print(f"method {self.method}: {trainable:,} trainable parameters")
        print(f"{len(result.checkpoints)} checkpoints; final model -> {result.final_dir}")
        return 0


def _layers(values: list[str]) -> str | list[int]:
    if values in (["all"], []):
        return "all"
    try:
        return [int(v) for v in values]
    except ValueError:
        from ftprobe.errors import UserError

        raise UserError(f"--record-layers {' '.join(values)}: expected all, or layer indices") from None
