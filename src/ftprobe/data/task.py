"""The one data model of every probing task.

A task is a set of named splits. Each split holds its sentences as word lists and its targets as
parallel integer arrays, so every later stage (extraction, probes, fine-tuning) works on arrays:

* ``word`` targets point at one word: ``words[i] = (w, -1)``;
* ``pair`` targets point at a (head, dependent) pair: ``words[i] = (head, dependent)``; their vector
  is the concatenation head ++ dependent;
* ``sentence`` targets are whole sentences: ``words[i] = (-1, -1)``.

Labels are strings; ``Task.labels`` is the sorted vocabulary over all splits and ``Split.labels``
indexes into it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ftprobe.errors import UserError

TargetKind = Literal["word", "pair", "sentence"]
TARGET_KINDS: tuple[str, ...] = ("word", "pair", "sentence")
SPLIT_ORDER = ("train", "dev", "test")


@dataclass(eq=False)
class Split:
    """One split of a task: sentences and the targets in them."""

    name: str
    sentences: list[list[str]]
    sent: np.ndarray  # int64 [T]: the sentence of each target
    words: np.ndarray  # int64 [T, 2]: word index (and dependent for pairs), -1 where unused
    labels: np.ndarray  # int64 [T]: index into Task.labels

    def __post_init__(self) -> None:
        self.sent = np.asarray(self.sent, dtype=np.int64).reshape(-1)
        self.words = np.asarray(self.words, dtype=np.int64).reshape(-1, 2)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        if not (len(self.sent) == len(self.words) == len(self.labels)):
            raise ValueError("sent, words and labels must have one row per target")

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:  # short: the default would print the whole corpus
        return f"Split({self.name!r}, {len(self.sentences):,} sentences, {len(self.labels):,} targets)"

    @property
    def n_targets(self) -> int:
        return len(self.labels)

    def target_words(self) -> list[str]:
        """The surface string of each target (the word; "head dep" for pairs; the sentence)."""
        out = []
        for s, (a, b) in zip(self.sent.tolist(), self.words.tolist(), strict=True):
            ws = self.sentences[s]
            if a < 0:
                out.append(" ".join(ws))
            elif b < 0:
                out.append(ws[a])
            else:
                out.append(f"{ws[a]} {ws[b]}")
        return out

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps(self.sentences, ensure_ascii=False).encode())
        for arr in (self.sent, self.words, self.labels):
            h.update(np.ascontiguousarray(arr, dtype="<i8").tobytes())
        return h.hexdigest()

    def subset_sentences(self, n: int) -> Split:
        """The first ``n`` sentences and their targets (for quick runs and excerpts)."""
        keep = self.sent < n
        return Split(self.name, self.sentences[:n], self.sent[keep], self.words[keep], self.labels[keep])

    def sample_sentences(self, fraction: float, seed: int) -> Split:
        """A random ``fraction`` of the sentences (at least one; drawn with ``seed``, kept in
        their order) with their targets. Nested: at one seed, the 25 % sample lies inside the 50 %
        one, so a smaller fraction only takes sentences away."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], not {fraction!r}")
        n = len(self.sentences)
        k = max(1, round(fraction * n))
        if k >= n:
            return self
        rank = np.random.default_rng(seed).permutation(n)  # the first k of one permutation: nested
        keep = np.sort(rank[:k])
        new_id = np.full(n, -1, dtype=np.int64)
        new_id[keep] = np.arange(k)
        rows = new_id[self.sent] >= 0
        return Split(self.name, [self.sentences[i] for i in keep.tolist()], new_id[self.sent[rows]],
                     self.words[rows], self.labels[rows])


@dataclass(eq=False)
class Task:
    """A probing task: its kind, its label vocabulary and its splits."""

    name: str
    kind: TargetKind
    labels: list[str]
    splits: dict[str, Split]
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {self.kind!r}")

    def __repr__(self) -> str:  # short: the default would print the whole corpus
        splits = ", ".join(f"{k} {len(v):,}" for k, v in self.splits.items())
        return f"Task({self.name!r}, {self.kind}, {len(self.labels)} labels, targets: {splits or 'none'})"

    def split(self, name: str) -> Split:
        if name not in self.splits:
            have = ", ".join(self.splits) or "none"
            raise UserError(f"task {self.name!r} has no split {name!r} (it has: {have})")
        return self.splits[name]

    @property
    def n_labels(self) -> int:
        return len(self.labels)

    def label_counts(self, split: str) -> Counter:
        ids, counts = np.unique(self.split(split).labels, return_counts=True)
        return Counter({self.labels[i]: int(c) for i, c in zip(ids, counts, strict=True)})

    def fingerprint(self, split: str | None = None) -> str:
        """Content hash of the task (or of one split): kind, label vocabulary and targets."""
        h = hashlib.sha256()
        h.update(json.dumps([self.kind, self.labels]).encode())
        names = [split] if split is not None else sorted(self.splits)
        for name in names:
            h.update(name.encode())
            h.update(self.split(name).fingerprint().encode())
        return h.hexdigest()

    def default_splits(self) -> tuple[str | None, str | None, str | None]:
        """(train, dev, test) names present in this task, None where absent."""
        return tuple(s if s in self.splits else None for s in SPLIT_ORDER)  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Building a task from reader records


@dataclass
class SplitRecords:
    """What a reader produces for one split: sentences and (sent, a, b, label) tuples."""

    sentences: list[list[str]] = field(default_factory=list)
    targets: list[tuple[int, int, int, str]] = field(default_factory=list)


def build_task(
    name: str, kind: TargetKind, records: dict[str, SplitRecords], source: dict[str, Any]
) -> Task:
    """Assemble a Task from per-split records, with one sorted label vocabulary over all splits."""
    labels = sorted({t[3] for rec in records.values() for t in rec.targets})
    index = {lab: i for i, lab in enumerate(labels)}
    splits = {}
    for split_name, rec in records.items():
        arr = np.array([(s, a, b) for s, a, b, _ in rec.targets], dtype=np.int64).reshape(-1, 3)
        lab = np.array([index[t[3]] for t in rec.targets], dtype=np.int64)
        splits[split_name] = Split(split_name, rec.sentences, arr[:, 0], arr[:, 1:], lab)
    ordered = {k: splits[k] for k in sorted(splits, key=_split_sort_key)}
    return Task(name=name, kind=kind, labels=labels, splits=ordered, source=source)


def _split_sort_key(name: str) -> tuple[int, str]:
    return (SPLIT_ORDER.index(name) if name in SPLIT_ORDER else len(SPLIT_ORDER), name)


def random_sentence_split(
    rec: SplitRecords, ratios: Sequence[float], seed: int, names: Iterable[str] = SPLIT_ORDER
) -> dict[str, SplitRecords]:
    """Split one file's sentences at random into named parts, deterministically by ``seed``.

    Sentences are permuted with ``numpy.random.default_rng(seed)``; part ``k`` takes the next
    ``round(ratio_k * n)`` of them (the last part takes the rest); within each part sentences keep
    their file order. Targets follow their sentence.
    """
    names = list(names)[: len(ratios)]
    if len(names) != len(ratios) or any(r < 0 for r in ratios) or abs(sum(ratios) - 1) > 1e-6:
        raise UserError(f"random split ratios {list(ratios)} must be 2 or 3 non-negative numbers summing to 1")
    n = len(rec.sentences)
    perm = np.random.default_rng(seed).permutation(n)
    bounds = np.round(np.cumsum(ratios) * n).astype(int)
    bounds[-1] = n
    assign = np.empty(n, dtype=np.int64)
    start = 0
    for k, stop in enumerate(bounds):
        assign[perm[start:stop]] = k
        start = stop
    out = {name: SplitRecords() for name in names}
    new_index = np.empty(n, dtype=np.int64)
    for s in range(n):  # per sentence, not per token: keeps file order within each part
        part = out[names[assign[s]]]
        new_index[s] = len(part.sentences)
        part.sentences.append(rec.sentences[s])
    for s, a, b, lab in rec.targets:
        out[names[assign[s]]].targets.append((int(new_index[s]), a, b, lab))
    return out
