"""The fine-tuning loop.

Why our own loop and not ``transformers.Trainer`` or ``accelerate``: our batches are not tensors
of examples but sentence groups with a sparse pooling matrix (so the head reads exactly what the
probes read), which Trainer's dataset/collator/``compute_loss`` path can only carry through
custom subclasses of all three; Trainer's checkpoints are ``checkpoint-N`` folders whose RNG
state is pickled, and its resume skips batches of a sampler whose order depends on the epochs
before. On one device ``accelerate`` would give us ``autocast`` and a gradient scaler, which
are a few lines of torch. The loop below (``finetune`` and its ``_Run``) resumes bit-exactly (data order keyed
by ``(seed, epoch)``, RNG/optimizer/scheduler restored) and ran at the same speed as Trainer
on the same data, within the noise of the one shared CPU it was measured on
(bench/finetune/RESULTS.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from ftprobe import __version__
from ftprobe.atomic import replace_folder, write_json
from ftprobe.data.task import Task
from ftprobe.errors import SettingError, UserError
from ftprobe.finetune import checkpoints as ck
from ftprobe.finetune.config import FinetuneConfig
from ftprobe.finetune.data import SplitBatches
from ftprobe.finetune.methods import apply_method, count_trainable, load_adapters
from ftprobe.finetune.model import FinetuneModel

log = logging.getLogger(__name__)


@dataclass
class FinetuneResult:
    final_dir: Path
    checkpoints: list[Path]
    metrics: list[dict[str, Any]]
    train_seconds: float = 0.0
    sentences_per_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def resolve_eval_split(task: Task, config: FinetuneConfig) -> str | None:
    if config.eval_split is not None:
        task.split(config.eval_split)  # one-line error when absent
        return config.eval_split
    for name in ("dev", "test"):
        if name in task.splits and len(task.splits[name]):
            return name
    return None


def _mixed_precision(config: FinetuneConfig, device: torch.device) -> str:
    mp = config.mixed_precision
    if device.type != "cuda":
        # bf16 autocast also runs on CPUs (fast where they have AMX); fp16 needs CUDA's loss
        # scaling. "auto" keeps CPU runs in fp32, the recipe's own numerics.
        if mp == "fp16":
            raise SettingError("mixed_precision", f"fp16 needs a GPU; this run is on {device.type}")
        return "bf16" if mp == "bf16" else "no"
    if mp == "auto":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return mp


def finetune(
    model: str,
    task: Task,
    out_dir: str | Path,
    config: FinetuneConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    callback: Callable[[int, FinetuneModel], None] | None = None,
    record_store: str | Path | None = None,
) -> FinetuneResult:
    """Fine-tune ``model`` (hub name or folder) on ``task``'s train split into ``out_dir``.

    ``callback(step, model)`` runs after every optimizer step (and after that step's
    checkpoint); tests use it to look at the model or to interrupt the run. Returns the final folder, the checkpoints and the metrics.
    With ``config.record_every_steps`` the probe split's vectors are recorded into the store
    ``record_store`` (default ``out_dir/records``) at step 0 and every k steps (a ``record``
    event in the metrics names each entry).
    """
    from ftprobe.device import resolve_device
    from ftprobe.represent.align import BatchBuilder
    from ftprobe.represent.encoder import load_encoder

    config = (config or FinetuneConfig()).validate()
    out_dir = Path(out_dir)
    train_split = task.split("train")
    if config.train_fraction < 1:
        train_split = train_split.sample_sentences(config.train_fraction, config.seed)
    if not len(train_split):
        raise UserError(f"task {task.name!r}: the train split has no targets")
    eval_name = resolve_eval_split(task, config)
    device = resolve_device(config.device)
    precision = _mixed_precision(config, device)
    run_info = {
        "format": 1,
        "model": model,
        "task": {"name": task.name, "kind": task.kind, "labels": task.labels,
                 "fingerprint": task.fingerprint(), "source": task.source},
        "settings": config.identity(),
    }
    resuming = ck.check_out_dir(out_dir, run_info, resume)
    final_dir = out_dir / ck.FINAL
    if resuming and (final_dir / ck.TRAINER_STATE).is_file():
        state = ck.read_trainer_state(final_dir)
        log.info("%s: already finished", out_dir)
        return FinetuneResult(final_dir, ck.list_checkpoints(out_dir), state.get("metrics", []),
                              extra={"resolved": state.get("resolved", {})})
    start = ck.last_resumable(out_dir) if resuming else None

    torch.manual_seed(config.seed)
    method = config.parsed_method()
    # a LoRA checkpoint holds merged weights: resume from the base model and the saved adapters
    encoder = load_encoder(str(start) if start and method.name != "lora" else model, device="cpu")
    apply_method(method, encoder.model, config.lora())  # a method that does not fit fails here
    max_length = min(config.max_length or encoder.max_length, encoder.max_length)
    # the head reads what the probes read: the study's word pooling, and its sentence pooling or
    # the model's own default ([CLS], or the last token of a decoder)
    sentence_pooling = (encoder.default_sentence_pooling if config.sentence_pooling == "auto"
                        else config.sentence_pooling)
    builder = BatchBuilder(encoder.tokenizer, max_length, config.word_pooling, sentence_pooling)
    train = SplitBatches(train_split, task.kind, encoder.tokenizer, builder)
    evaluation = (SplitBatches(task.split(eval_name), task.kind, encoder.tokenizer, builder)
                  if eval_name else None)

    recorder = _recorder(config, task, eval_name, encoder, sentence_pooling, run_info,
                         Path(record_store) if record_store is not None else out_dir / "records")
    dropout = config.head_dropout
    if dropout is None:
        cfg = encoder.model.config
        dropout = next((float(v) for k in ("classifier_dropout", "hidden_dropout_prob", "dropout")
                        if isinstance(v := getattr(cfg, k, None), int | float)), 0.1)
    net = FinetuneModel(encoder.model, task.kind, task.n_labels, dropout, container=encoder.container)
    if start:
        net.load_head(start)
        if method.name == "lora":
            load_adapters(net.encoder, start)
    trainable = count_trainable(method, net.encoder, net.head)
    net.to(device)

    schedule = _Schedule.of(config, encoder.n_layers, len(train))
    optimizer = _optimizer(net, config)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, schedule.warmup_steps, schedule.total_steps)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)) \
        if precision != "no" else nullcontext

    resolved = {**schedule.to_json(), "eval_split": eval_name, "max_length": max_length,
                "head_dropout": dropout, "device": str(device), "mixed_precision": precision,
                "train_sentences": len(train), "train_targets": len(train_split), **trainable.to_dict()}
    head_meta = {"labels": task.labels, "task": task.name, "base_model": model,
                 "pooling": {"sentence": sentence_pooling} if task.kind == "sentence"
                 else {"word": config.word_pooling},
                 "layer": "last"}
    run = _Run(out_dir, config, net, encoder.tokenizer, optimizer, scheduler, scaler, schedule, resolved,
               head_meta, recorder)
    if start:
        run.resume_from(start)
    else:
        run_info.update(resolved=resolved, ftprobe_version=__version__,
                        created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
        ck.write_run_info(out_dir, run_info)
        ck.write_metrics(out_dir, [])
    # also on a resume from the start checkpoint: its state was saved before step 0's record
    if run.step == 0 and config.checkpoint_at_start and not ck.list_checkpoints(out_dir):
        run.checkpoint()
    if run.step == 0 and recorder is not None:
        run.record_probe_set()

    bar = _progress(schedule.total_steps, run.step, f"finetune {task.name}", progress)
    try:
        run.train(train, evaluation, eval_name, device, autocast, bar, callback)
    finally:
        bar.close()
    return run.finish(final_dir)


@dataclass(frozen=True)
class _Schedule:
    """How many optimizer steps the run takes, and how many of them warm the learning rate up."""

    epochs: int
    steps_per_epoch: int
    total_steps: int
    warmup_steps: int

    @classmethod
    def of(cls, config: FinetuneConfig, n_layers: int, n_sentences: int) -> _Schedule:
        epochs = config.resolved_epochs(n_layers)
        per_epoch = math.ceil(n_sentences / config.batch_size)
        total = per_epoch * epochs
        return cls(epochs, per_epoch, total, math.ceil(config.warmup_ratio * total))

    def to_json(self) -> dict[str, int]:
        return dataclasses.asdict(self)


@dataclass
class _Totals:
    """What the epoch in progress trained on so far. Saved with every checkpoint (as
    ``running``), so a run resumed mid-epoch reports the epoch as one."""

    loss_sum: float = 0.0
    targets: int = 0
    sentences: int = 0
    seconds: float = 0.0

    def add(self, loss_sum: float, targets: int, sentences: int, seconds: float) -> None:
        self.loss_sum += loss_sum
        self.targets += targets
        self.sentences += sentences
        self.seconds += seconds

    @property
    def sentences_per_s(self) -> float:
        return self.sentences / max(self.seconds, 1e-9)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> _Totals:
        return cls(float(d["loss_sum"]), int(d["targets"]), int(d["sentences"]), float(d["seconds"]))


@dataclass
class _Run:
    """A fine-tuning run under way: the step it is at, its metrics, and what it writes into
    ``out_dir`` (checkpoints, the final model, the metrics log, recorded probe sets)."""

    out_dir: Path
    config: FinetuneConfig
    net: FinetuneModel
    tokenizer: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: torch.amp.GradScaler
    schedule: _Schedule
    resolved: dict[str, Any]
    head_meta: dict[str, Any]
    recorder: Any  # ProbeRecorder | None
    step: int = 0
    metrics: list[dict[str, Any]] = field(default_factory=list)
    totals: _Totals = field(default_factory=_Totals)

    def resume_from(self, checkpoint: Path) -> None:
        state = ck.read_trainer_state(checkpoint)
        if (state.get("steps_per_epoch") != self.schedule.steps_per_epoch
                or state.get("total_steps") != self.schedule.total_steps):
            raise UserError(f"{checkpoint}: saved with another schedule; cannot resume")
        self.step, self.metrics = int(state["step"]), list(state["metrics"])
        self.totals = _Totals.from_json(state["running"])
        ck.unpack_training_state(ck.load_training_state(checkpoint), state["training"], self.optimizer,
                                 self.scheduler, self.scaler)
        ck.write_metrics(self.out_dir, self.metrics)
        log.info("resuming %s at step %d", self.out_dir, self.step)

    def _log(self, event: dict[str, Any]) -> None:
        self.metrics.append(event)
        ck.append_metrics(self.out_dir, event)

    def save(self, target: Path, with_training_state: bool) -> Path:
        def fill(tmp: Path) -> None:
            self.net.save(tmp, self.tokenizer, self.head_meta)
            tensors, plain = ck.pack_training_state(self.optimizer, self.scheduler, self.scaler)
            state = {"format": 1, "step": self.step, "epoch": self.step / self.schedule.steps_per_epoch,
                     "steps_per_epoch": self.schedule.steps_per_epoch, "total_steps": self.schedule.total_steps,
                     "settings": self.config.to_dict(), "resolved": self.resolved, "metrics": self.metrics,
                     "running": self.totals.to_json(), "training": plain if with_training_state else None}
            write_json(tmp / ck.TRAINER_STATE, state)
            if with_training_state:
                ck.save_training_state(tmp, tensors)

        event = {"event": "checkpoint", "step": self.step, "path": target.relative_to(self.out_dir).as_posix()}
        self.metrics.append(event)  # before writing, so the checkpoint's own metrics name it
        path = replace_folder(target, fill)
        ck.drop_training_state(self.out_dir, keep=path if with_training_state else None)
        ck.append_metrics(self.out_dir, event)
        return path

    def checkpoint(self) -> None:
        self.save(self.out_dir / ck.CHECKPOINTS / ck.checkpoint_name(self.step), True)

    def record_probe_set(self) -> None:
        t0 = time.perf_counter()
        entry = self.recorder.record(self.step, self.net.encoder)
        # outside the training timer: the recorder's own cost
        self._log({"event": "record", "step": self.step, "entry": entry.id, "split": self.recorder.split,
                   "seconds": time.perf_counter() - t0})

    def end_epoch(self, epoch: int, scores: dict[str, Any] | None) -> None:
        """The epoch's ``eval`` event (its training totals, and the held-out ``scores``); the
        totals start over."""
        t = self.totals
        record = {"event": "eval", "epoch": epoch + 1, "step": self.step,
                  "train_loss": t.loss_sum / max(t.targets, 1), "train_sentences": t.sentences,
                  "train_seconds": t.seconds, "lr": self.scheduler.get_last_lr()[0],
                  "train_sentences_per_s": t.sentences_per_s}
        self._log({**record, **(scores or {})})
        self.totals = _Totals()

    def train(self, train: SplitBatches, evaluation: SplitBatches | None, eval_name: str | None, device,
              autocast, bar, callback: Callable[[int, FinetuneModel], None] | None) -> None:
        """The epochs left from ``self.step``: per optimizer step the totals and the progress bar;
        at an epoch's end its ``eval`` event; recorded probe sets and checkpoints when due."""
        config, schedule, net = self.config, self.schedule, self.net
        for epoch in range(self.step // schedule.steps_per_epoch, schedule.epochs):
            batches = train.epoch_order(config.seed, epoch, config.batch_size)
            net.train()
            tick = time.perf_counter()
            for i in range(self.step - epoch * schedule.steps_per_epoch, len(batches)):
                loss_sum, n_targets = _train_step(net, train, batches[i], config, device, autocast,
                                                  self.scaler, self.optimizer, self.scheduler)
                self.step += 1
                now = time.perf_counter()
                self.totals.add(loss_sum, n_targets, len(batches[i]), now - tick)
                tick = now
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / max(n_targets, 1):.4f}",
                                sent_s=f"{self.totals.sentences_per_s:.1f}")
                last = i == len(batches) - 1
                if last:
                    scores = None
                    if evaluation is not None:
                        scores = {"split": eval_name, **evaluate(net, evaluation, config, device, autocast)}
                        net.train()
                    self.end_epoch(epoch, scores)
                    tick = time.perf_counter()
                if self.recorder is not None and self.recorder.due(self.step):  # before the checkpoint, which lists it
                    self.record_probe_set()
                    tick = time.perf_counter()
                every = config.checkpoint_every_steps
                if (every and self.step % every == 0) or (last and config.checkpoint_every_epoch):
                    self.checkpoint()
                    tick = time.perf_counter()
                if callback is not None:
                    callback(self.step, net)

    def finish(self, final_dir: Path) -> FinetuneResult:
        """The final model (its weight files shared with the last checkpoint when that holds the
        same step), and the run's result."""
        self.net.eval()
        self.save(final_dir, with_training_state=False)
        saved = ck.list_checkpoints(self.out_dir)
        if saved and ck.read_trainer_state(saved[-1]).get("step") == self.step:  # the same weights: store once
            ck.share_identical_files(final_dir, saved[-1])
        seconds = sum(m.get("train_seconds", 0.0) for m in self.metrics)
        rate = sum(m.get("train_sentences", 0) for m in self.metrics) / max(seconds, 1e-9)
        return FinetuneResult(final_dir, ck.list_checkpoints(self.out_dir), self.metrics, seconds, rate,
                              extra={"resolved": self.resolved})


def _recorder(config: FinetuneConfig, task: Task, eval_name: str | None, encoder, sentence_pooling: str,
              run_info: dict[str, Any], store: Path):
    """The probe recorder of this run (None without ``record_every_steps``)."""
    if config.record_every_steps is None:
        return None
    from ftprobe.finetune.recorder import ProbeRecorder

    split = config.record_split or eval_name
    if split is None:
        raise SettingError("record_split", f"task {task.name!r} has no dev or test split; name the split to record")
    identity = {k: run_info[k] for k in ("model", "settings")} | {"task": run_info["task"]["fingerprint"]}
    run = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    return ProbeRecorder(task, split, store, encoder.tokenizer, every_steps=config.record_every_steps, run=run,
                         layers=config.record_layers, sentence_pooling=sentence_pooling,
                         batch_size=config.eval_batch_size)


def _optimizer(net: FinetuneModel, config: FinetuneConfig) -> torch.optim.Optimizer:
    """AdamW; with weight decay, biases and LayerNorm weights are not decayed (as in BERT)."""
    decay, no_decay = [], []
    for name, p in net.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim < 2 or "LayerNorm" in name or "layer_norm" in name else decay).append(p)
    groups = [{"params": decay, "weight_decay": config.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    # fused kernels (CPU and CUDA in torch >= 2.4) are Trainer's default too; same maths, fewer passes
    try:
        return torch.optim.AdamW(groups, lr=config.lr, eps=config.adam_eps, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=config.lr, eps=config.adam_eps, foreach=True)


def _train_step(net, data: SplitBatches, sentences: np.ndarray, config: FinetuneConfig, device,
                autocast, scaler, optimizer, scheduler) -> tuple[float, int]:
    """One optimizer step over ``sentences``, split into ``grad_accum`` micro-batches.

    Each micro-batch's summed loss is divided by the whole batch's target count, so the
    accumulated gradient equals that of the mean loss over the batch."""
    total = data.n_targets(sentences)
    loss_sum = 0.0
    for part in np.array_split(sentences, min(config.grad_accum, len(sentences))):
        lb = data.build(part).to(device)
        with autocast():
            logits = net(lb.batch)
        loss = F.cross_entropy(logits.float(), lb.labels, reduction="sum")
        scaler.scale(loss / total).backward()
        loss_sum += float(loss.detach())
    if config.max_grad_norm is not None:
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(net.parameters(), config.max_grad_norm)
    scaler.step(optimizer)
    scaler.update()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss_sum, total


@torch.no_grad()
def evaluate(net: FinetuneModel, data: SplitBatches, config: FinetuneConfig, device,
             autocast=nullcontext) -> dict[str, Any]:
    """Loss and accuracy of ``net`` on every target of ``data``."""
    net.eval()
    loss_sum, correct, n = 0.0, 0, 0
    for sents in data.eval_order(config.eval_batch_size):
        lb = data.build(sents).to(device)
        with autocast():
            logits = net(lb.batch).float()
        loss_sum += float(F.cross_entropy(logits, lb.labels, reduction="sum"))
        correct += int((logits.argmax(-1) == lb.labels).sum())
        n += len(lb.labels)
    return {"loss": loss_sum / max(n, 1), "accuracy": correct / max(n, 1), "n": n}


def _progress(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit="step", disable=not enabled,
                dynamic_ncols=True)
