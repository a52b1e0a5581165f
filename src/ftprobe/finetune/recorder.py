"""Probing during training: a fixed probe set's vectors, every k optimizer steps, into the store.

A checkpoint folder holds the whole model (hundreds of MB for a base-size encoder); a recorded
step holds only the probe set's vectors at the chosen layers (a few MB), so a run's dynamics can
have hundreds of points. Each recorded step is an ordinary store entry (``Entry``: memory-mapped
layers, labels, sentences), whose model fingerprint is derived from the run's identity and the
step, so a resumed run finds the steps it recorded before and does not recompute them.

Recording reads the model in eval mode under ``inference_mode`` and restores its mode: it takes
no random numbers and changes no weight, so a run trains exactly as it would without it.

In your own loop, or with ``transformers.Trainer`` (see the README)::

    recorder = ProbeRecorder(task, "dev", Store("ftprobe-store"), tokenizer, every_steps=50, run="my-run")
    trainer = Trainer(model=model, args=args, train_dataset=ds, callbacks=[recorder.callback()])
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ftprobe.data.task import Task
from ftprobe.errors import SettingError
from ftprobe.represent.encoder import Encoder
from ftprobe.represent.extract import extract
from ftprobe.represent.store import Entry, Store


@dataclass(frozen=True)
class RecordedStep:
    step: int
    entry: str  # the store entry id


class ProbeRecorder:
    """Extracts ``task``'s ``split`` from the model under training every ``every_steps`` steps.

    ``model`` (given at each step) is anything whose forward takes ``input_ids``,
    ``attention_mask`` and ``output_hidden_states=True`` and returns ``hidden_states``: an
    ``AutoModel``, a task model such as ``AutoModelForTokenClassification``, or a PEFT model.
    ``run`` names the training run: the same run and step give the same store entry.
    """

    def __init__(self, task: Task, split: str, store: Store | str | Path, tokenizer, *, every_steps: int,
                 run: str, layers: Sequence[int] | str | None = "all", word_pooling: str = "mean",
                 sentence_pooling: str | None = None, batch_size: int = 32):
        if isinstance(every_steps, bool) or not isinstance(every_steps, int) or every_steps < 1:
            raise SettingError("record_every_steps", f"must be a positive integer, not {every_steps!r}")
        if not len(task.split(split)):  # a one-line error naming the split when it is absent
            raise SettingError("record_split", f"{split}: task {task.name!r} has no targets there")
        self.task, self.split, self.tokenizer = task, split, tokenizer
        self.store = store if isinstance(store, Store) else Store(store)
        self.every_steps, self.run = every_steps, run
        self.layers, self.batch_size = layers, batch_size
        self.word_pooling, self.sentence_pooling = word_pooling, sentence_pooling
        self.recorded: list[RecordedStep] = []

    def due(self, step: int) -> bool:
        return step % self.every_steps == 0

    def fingerprint(self, step: int) -> str:
        return recorded_fingerprint(self.run, step)

    def record(self, step: int, model) -> Entry:
        """The probe set's vectors from ``model`` as it is now, as the store entry of ``step``."""
        encoder = Encoder(model, self.tokenizer, name=f"{self.run}@step-{step}", fingerprint=self.fingerprint(step))
        was_training = model.training
        model.eval()
        try:
            entry = extract(encoder, self.task, self.split, self.store, layers=self.layers,
                            word_pooling=self.word_pooling, sentence_pooling=self.sentence_pooling,
                            batch_size=self.batch_size, progress=False)
        finally:
            model.train(was_training)
        self.recorded.append(RecordedStep(step, entry.id))
        return entry

    def maybe_record(self, step: int, model) -> Entry | None:
        return self.record(step, model) if self.due(step) else None

    def callback(self):
        """This recorder as a ``transformers.TrainerCallback`` (records after every k-th step)."""
        from transformers import TrainerCallback

        recorder = self

        class ProbeRecorderCallback(TrainerCallback):
            def on_step_end(self, args, state, control, model=None, **kwargs):
                if model is not None and recorder.due(state.global_step):
                    recorder.record(state.global_step, model)
                return control

        return ProbeRecorderCallback()


def recorded_fingerprint(run: str, step: int) -> str:
    """The model fingerprint of ``run`` at ``step`` in the store (not a hash of the weights:
    hashing every weight each k steps would cost more than the extraction)."""
    return hashlib.sha256(json.dumps(["recorded", run, step]).encode()).hexdigest()
