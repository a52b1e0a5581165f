"""Training and evaluation batches of a task's targets, built with the extraction's BatchBuilder.

A batch is a group of sentences (only those holding targets) with all their targets, so
``batch_size`` counts sentences, as a token-classification batch does. The training order of
epoch ``e`` is a permutation drawn from a generator keyed by ``(seed, e)``: any epoch's order can
be rebuilt without replaying the ones before it, which is what makes resumption exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ftprobe.data.task import Split
from ftprobe.represent.align import (
    BatchBuilder,
    ModelBatch,
    SentenceTokens,
    plan_batches,
    tokenize_sentences,
)


@dataclass
class LabelledBatch:
    batch: ModelBatch
    labels: torch.Tensor  # [T] label index of each target, in the batch's target order
    n_sentences: int

    def to(self, device) -> LabelledBatch:
        return LabelledBatch(self.batch.to(device), self.labels.to(device), self.n_sentences)


class SplitBatches:
    """One split, tokenized once, from which batches of any sentence group are built."""

    def __init__(self, split: Split, kind: str, tokenizer, builder: BatchBuilder):
        self.split = split
        self.kind = kind
        self.builder = builder
        self.sentences = np.unique(split.sent)  # sentences that hold targets
        toks = tokenize_sentences(tokenizer, [split.sentences[s] for s in self.sentences])
        self.tokens = [SentenceTokens(np.zeros(0, np.int64), np.zeros(0, np.int64), len(s))
                       for s in split.sentences]
        for s, t in zip(self.sentences.tolist(), toks, strict=True):
            self.tokens[s] = t
        self.lengths = np.array([len(t.ids) for t in self.tokens], dtype=np.int64)
        self._order = np.argsort(split.sent, kind="stable")
        self._sent_sorted = split.sent[self._order]
        # targets per sentence, to weigh micro-batches exactly like the whole batch
        self.targets_per_sentence = np.bincount(split.sent, minlength=len(split.sentences))

    def __len__(self) -> int:
        return len(self.sentences)

    def build(self, sentence_ids: np.ndarray) -> LabelledBatch:
        lo = np.searchsorted(self._sent_sorted, sentence_ids.min())
        sel = self._order[lo:][np.isin(self._sent_sorted[lo:], sentence_ids)]
        sp = self.split
        batch = self.builder.build(self.tokens, sentence_ids, sp.sent[sel], sp.words[sel], sel, self.kind)
        return LabelledBatch(batch, torch.as_tensor(sp.labels[sel]), len(sentence_ids))

    def epoch_order(self, seed: int, epoch: int, batch_size: int) -> list[np.ndarray]:
        """The training batches (sentence ids) of ``epoch``, shuffled by ``(seed, epoch)``."""
        perm = np.random.default_rng([seed, epoch]).permutation(len(self.sentences))
        order = self.sentences[perm]
        return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]

    def eval_order(self, batch_size: int) -> list[np.ndarray]:
        """Evaluation batches: sentences grouped by length, so padding is small."""
        return plan_batches(self.lengths, self.sentences, batch_size)

    def n_targets(self, sentence_ids: np.ndarray) -> int:
        return int(self.targets_per_sentence[sentence_ids].sum())
