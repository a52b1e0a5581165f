"""Control tasks (Hewitt & Liang 2019): labels that only a memorising probe can predict.

Each word *type* gets one random label, drawn from the empirical label distribution of the
training split. A probe that scores well on the control task can memorise types, so the gap
``selectivity = task accuracy - control accuracy`` says how much of the task accuracy comes from
the representation rather than from the probe's capacity.

The control label is a pure function of (type, seed, training label distribution): the type
string is hashed (SHA-256, with the seed) to a number in [0, 1) that is mapped through the
cumulative label distribution. Types never seen in training therefore still get a fixed label,
the same one wherever they occur. Types are lowercased by default (the study's encoders are
uncased, so "The" and "the" are one type to them).

What the "type" is, by target kind (``Split.target_words()`` gives exactly these strings):

* word targets: the word form;
* pair targets (DEP): the string ``"head dependent"``, so the control label is a function of the
  (head type, dependent type) pair;
* sentence targets (TREC): the whole sentence. Test sentences almost never occur in training, so
  their control labels are unlearnable and control accuracy on test sits near chance
  (``sum_k p_k^2``); selectivity for sentence tasks is then roughly task accuracy minus chance.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

__all__ = ["control_labels", "type_uniform"]


def type_uniform(word_type: str, seed: int = 0) -> float:
    """A number in [0, 1) that depends only on the type string and the seed."""
    digest = hashlib.sha256(f"{seed}\x00{word_type}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def control_labels(
    types: Sequence[str],
    y_train: np.ndarray,
    n_labels: int | None = None,
    seed: int = 0,
    lowercase: bool = True,
) -> np.ndarray:
    """Control label of each entry of ``types``, drawn from the label distribution of ``y_train``.

    Call it once per split with the *training* labels each time: the same type gets the same
    control label in train, dev and test.
    """
    y_train = np.asarray(y_train, dtype=np.int64)
    if y_train.size == 0:
        raise ValueError("control labels need a non-empty training label array")
    k = int(n_labels) if n_labels is not None else int(y_train.max()) + 1
    counts = np.bincount(y_train[y_train >= 0], minlength=k).astype(np.float64)
    cdf = np.cumsum(counts) / counts.sum()
    cdf[-1] = 1.0
    cache: dict[str, int] = {}
    out = np.empty(len(types), dtype=np.int64)
    for i, t in enumerate(types):
        key = t.lower() if lowercase else t
        lab = cache.get(key)
        if lab is None:
            lab = int(np.searchsorted(cdf, type_uniform(key, seed), side="right"))
            cache[key] = lab = min(lab, k - 1)
        out[i] = lab
    return out
