"""From words to subwords and back: tokenizing, windows for long sentences, pooling.

Every vector ftprobe reads is a weighted sum of token vectors, so all pooling is one sparse
matrix product ``P @ H`` (differentiable, so fine-tuning uses the very same code):

* a word is the mean (default), the first or the last of its subwords;
* a pair target is its head's vector followed by its dependent's;
* a sentence is the first token ([CLS]), the last token (decoder-only models, whose last token
  is the only one that has seen the whole sentence) or the mean of its subwords; the default
  follows the model (``Encoder.default_sentence_pooling``).

Words are mapped to subwords in one of two ways, chosen per tokenizer by :func:`alignment_mode`:
through the fast tokenizer's word ids on pre-split words, when that gives the very tokens the
joined sentence gives (WordPiece, SentencePiece, byte-level BPE with a prefix space); otherwise
(byte-level BPE that marks a word's leading space, as GPT-2's ``Ġcat``, without a prefix-space
option: Llama 3, Qwen) by tokenizing the sentence joined with spaces and assigning each token to
the word its characters fall in, so ``Ġcat`` is the word ``cat`` with its leading space.
Batches are always padded on the right whatever the tokenizer's ``padding_side``: with causal
attention a real token never sees a right pad, and positions count from 0 in every row.

Policies for the awkward cases:

* **Words the tokenizer turns into nothing** (a lone zero-width or control character) are fed to
  the model as the tokenizer's unknown token, so every word has a vector and its neighbours keep
  their context. Without an unknown token this is an error naming the sentence.
* **Sentences longer than the model's limit** are cut into overlapping windows of the largest
  size the model takes, with a stride of half a window; each subword takes its vector from the
  window in which it sits most centrally, so every subword sees at least a quarter window of
  context on both sides where the sentence has it. A sentence target pooled by [CLS] uses the
  first window's [CLS]. Nothing is silently truncated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from ftprobe.errors import SettingError, UserError

WordPooling = Literal["mean", "first", "last"]
SentencePooling = Literal["cls", "mean", "last"]
AlignmentMode = Literal["word_ids", "offsets"]
# A probe sentence for alignment_mode: plain words, one with trailing punctuation.
_PROBE_WORDS = ["Hello", "world", "again,", "friends"]


@dataclass
class SentenceTokens:
    """A sentence's content subwords (no special tokens) and the word each belongs to."""

    ids: np.ndarray  # int64 [n]
    word: np.ndarray  # int64 [n]
    n_words: int


def alignment_mode(tokenizer, name: str = "") -> AlignmentMode:
    """How this tokenizer's subwords are mapped to words (see the module docstring).

    Raises a UserError naming the model when neither way works.
    """
    text = " ".join(_PROBE_WORDS)
    try:
        split = tokenizer([_PROBE_WORDS], is_split_into_words=True, add_special_tokens=False)["input_ids"][0]
        if any(tokenizer(t, add_special_tokens=False)["input_ids"] == split for t in (text, " " + text)):
            return "word_ids"
    except (TypeError, ValueError, NotImplementedError):
        pass
    try:
        offsets = np.asarray(tokenizer(text, add_special_tokens=False,
                                       return_offsets_mapping=True)["offset_mapping"]).reshape(-1, 2)
    except (TypeError, ValueError, NotImplementedError, KeyError):
        offsets = np.zeros((0, 2), dtype=np.int64)
    if len(offsets) and offsets[:, 1].max() == len(text) and (offsets[:, 1] > offsets[:, 0]).any():
        return "offsets"
    raise UserError(f"model {name or type(tokenizer).__name__!r}: its tokenizer cannot align words to "
                    "subwords (pre-split words give other tokens than the sentence, and it has no "
                    "character offsets)")


def tokenize_sentences(tokenizer, sentences: Sequence[Sequence[str]]) -> list[SentenceTokens]:
    """Tokenize pre-split sentences with the fast tokenizer, keeping the subword->word map."""
    if not sentences:
        return []
    if alignment_mode(tokenizer) == "word_ids":
        enc = tokenizer(list(map(list, sentences)), is_split_into_words=True, add_special_tokens=False)
        words_of = lambda i: np.array([-1 if w is None else w for w in enc.word_ids(i)],  # noqa: E731
                                      dtype=np.int64)
    else:
        texts, starts, ends = _joined(sentences)
        enc = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
        words_of = lambda i: _words_of_offsets(enc["offset_mapping"][i], starts[i], ends[i])  # noqa: E731
    out: list[SentenceTokens] = []
    retry: list[int] = []
    for i, words in enumerate(sentences):
        word_ids = words_of(i)
        ids = np.asarray(enc["input_ids"][i], dtype=np.int64)
        keep = word_ids >= 0
        tok = SentenceTokens(ids[keep], word_ids[keep], len(words))
        if len(np.unique(tok.word)) != len(words):
            retry.append(i)
        out.append(tok)
    if retry:
        unk = tokenizer.unk_token
        fixed = []
        for i in retry:
            present = set(out[i].word.tolist())
            missing = [w for w in range(len(sentences[i])) if w not in present]
            if unk is None:
                raise UserError(
                    f"sentence {i}: words {missing} give no subwords and the tokenizer has no unknown token"
                )
            fixed.append([unk if w in missing else word for w, word in enumerate(sentences[i])])
        for i, tok in zip(retry, tokenize_sentences(tokenizer, fixed), strict=True):
            out[i] = tok
    return out


def _joined(sentences: Sequence[Sequence[str]]) -> tuple[list[str], list[np.ndarray], list[np.ndarray]]:
    """Each sentence as one string (words joined by a space) and each word's character span."""
    texts, starts, ends = [], [], []
    for words in sentences:
        lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
        start = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
        texts.append(" ".join(words))
        starts.append(start)
        ends.append(start + lengths)
    return texts, starts, ends


def _words_of_offsets(offsets, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The word of each token from its character span: the word its last character lies in; a
    token of the spaces between words (or of no characters) belongs to the word after it."""
    offs = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    if not len(offs) or not len(starts):
        return np.full(len(offs), -1, dtype=np.int64)
    last = np.where(offs[:, 1] > offs[:, 0], offs[:, 1] - 1, offs[:, 0])
    word = np.maximum(np.searchsorted(starts, last, side="right") - 1, 0)
    word = np.where(last >= ends[word], word + 1, word)
    return np.minimum(word, len(starts) - 1)


def special_tokens(tokenizer) -> tuple[list[int], list[int]]:
    """The ids a single-sequence input starts and ends with ([CLS] / [SEP], <s> / </s>, ...)."""
    enc = tokenizer([["a"]], is_split_into_words=True, add_special_tokens=True)
    ids, word_ids = enc["input_ids"][0], enc.word_ids(0)
    content = [i for i, w in enumerate(word_ids) if w is not None]
    return list(ids[: content[0]]), list(ids[content[-1] + 1:])


def windows(n: int, capacity: int) -> tuple[np.ndarray, np.ndarray]:
    """Window starts for ``n`` subwords and, for each subword, the window it takes its vector from.

    With ``n <= capacity`` there is one window. Otherwise windows of ``capacity`` subwords start
    every ``capacity // 2``; each subword goes to the window where its distance to the nearer
    edge is largest (ties to the earlier window).
    """
    if n <= capacity:
        return np.zeros(1, dtype=np.int64), np.zeros(n, dtype=np.int64)
    stride = max(1, capacity // 2)
    starts = np.arange(0, n - capacity + stride, stride, dtype=np.int64)
    starts = np.minimum(starts, n - capacity)
    starts = np.unique(starts)
    t = np.arange(n, dtype=np.int64)[:, None]
    inside = (t >= starts) & (t < starts + capacity)
    margin = np.minimum(t - starts, starts + capacity - 1 - t)
    margin = np.where(inside, margin, -1)
    return starts, margin.argmax(axis=1)


@dataclass
class ModelBatch:
    """Model inputs for a group of sentences, and how to pool targets from the outputs."""

    input_ids: torch.Tensor  # [R, L] rows (windows) of token ids
    attention_mask: torch.Tensor  # [R, L]
    pool: torch.Tensor  # sparse [T*c, R*L]: one row per target slot (word; head, dependent; sentence)
    target_units: torch.Tensor  # [T, 1] or [T, 2]: units whose vectors make each target
    target_index: np.ndarray  # [T]: index of each target in its split

    def to(self, device) -> ModelBatch:
        return ModelBatch(self.input_ids.to(device), self.attention_mask.to(device),
                          self.pool.to(device), self.target_units.to(device), self.target_index)


class BatchBuilder:
    """Builds :class:`ModelBatch` es for one tokenizer, model limit and pooling choice."""

    def __init__(self, tokenizer, max_length: int, word_pooling: WordPooling = "mean",
                 sentence_pooling: SentencePooling = "cls"):
        if word_pooling not in ("mean", "first", "last"):
            raise SettingError("word_pooling", f"expected mean, first or last, not {word_pooling!r}")
        if sentence_pooling not in ("cls", "mean", "last"):
            raise SettingError("sentence_pooling", f"expected cls, mean or last, not {sentence_pooling!r}")
        self.prefix, self.suffix = special_tokens(tokenizer)
        self.capacity = max_length - len(self.prefix) - len(self.suffix)
        if self.capacity < 2:
            raise UserError(f"model limit {max_length} leaves no room for words")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.word_pooling = word_pooling
        self.sentence_pooling = sentence_pooling

    def build(self, tokens: Sequence[SentenceTokens], sentence_ids: np.ndarray,
              target_sent: np.ndarray, target_words: np.ndarray, target_index: np.ndarray,
              kind: str) -> ModelBatch:
        """A batch of the sentences ``sentence_ids`` and their targets.

        ``target_sent``/``target_words``/``target_index`` are the targets that lie in these
        sentences (``target_sent`` in split numbering).
        """
        n_pre = len(self.prefix)
        rows: list[np.ndarray] = []
        tok_sent, tok_word, tok_row, tok_pos = [], [], [], []
        first_row = np.empty(len(sentence_ids), dtype=np.int64)
        last_row = np.empty(len(sentence_ids), dtype=np.int64)
        for b, s in enumerate(sentence_ids):  # per sentence: assemble its windows
            st = tokens[s]
            starts, assign = windows(len(st.ids), self.capacity)
            first_row[b] = len(rows)
            for start in starts:
                rows.append(np.concatenate([self.prefix, st.ids[start:start + self.capacity], self.suffix]))
            last_row[b] = len(rows) - 1
            local = np.arange(len(st.ids)) - starts[assign]
            tok_sent.append(np.full(len(st.ids), b))
            tok_word.append(st.word)
            tok_row.append(first_row[b] + assign)
            tok_pos.append(local + n_pre)
        width = max(len(r) for r in rows)
        input_ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, ids in enumerate(rows):
            input_ids[r, : len(ids)] = ids
            mask[r, : len(ids)] = 1
        tok_sent_a = np.concatenate(tok_sent)
        tok_word_a = np.concatenate(tok_word)
        tok_flat = np.concatenate(tok_row) * width + np.concatenate(tok_pos)

        sorter = np.argsort(sentence_ids)
        local_sent = sorter[np.searchsorted(sentence_ids, target_sent, sorter=sorter)]
        if kind == "sentence":
            if self.sentence_pooling == "cls":
                unit_rows = np.arange(len(sentence_ids))
                unit_cols = first_row * width
                unit_w = np.ones(len(sentence_ids))
            elif self.sentence_pooling == "last":  # the last token of the last window (pads on the right)
                unit_rows = np.arange(len(sentence_ids))
                unit_cols = last_row * width + np.array([len(rows[r]) for r in last_row]) - 1
                unit_w = np.ones(len(sentence_ids))
            else:
                counts = np.bincount(tok_sent_a, minlength=len(sentence_ids))
                unit_rows, unit_cols, unit_w = tok_sent_a, tok_flat, 1.0 / counts[tok_sent_a]
            n_units = len(sentence_ids)
            target_units = local_sent[:, None]
        else:
            n_words = np.array([tokens[s].n_words for s in sentence_ids], dtype=np.int64)
            word_offset = np.concatenate([[0], np.cumsum(n_words)[:-1]])
            unit_of_tok = word_offset[tok_sent_a] + tok_word_a
            n_units = int(n_words.sum())
            if self.word_pooling == "mean":
                counts = np.bincount(unit_of_tok, minlength=n_units)
                unit_rows, unit_cols, unit_w = unit_of_tok, tok_flat, 1.0 / counts[unit_of_tok]
            else:
                # tokens are in order within a sentence: the first/last occurrence of each unit
                order = np.arange(len(unit_of_tok))
                pick = np.full(n_units, -1 if self.word_pooling == "last" else len(order))
                (np.maximum if self.word_pooling == "last" else np.minimum).at(pick, unit_of_tok, order)
                unit_rows, unit_cols, unit_w = np.arange(n_units), tok_flat[pick], np.ones(n_units)
            cols = 1 if kind == "word" else 2
            target_units = word_offset[local_sent][:, None] + target_words[:, :cols]
        target_units = np.asarray(target_units, dtype=np.int64)
        pool = _target_pooling(np.asarray(unit_rows), np.asarray(unit_cols), np.asarray(unit_w, dtype=np.float32),
                               n_units, target_units.reshape(-1), len(rows) * width)
        return ModelBatch(torch.as_tensor(input_ids), torch.as_tensor(mask), pool,
                          torch.as_tensor(np.asarray(target_units, dtype=np.int64)), target_index)


def _target_pooling(unit_rows: np.ndarray, unit_cols: np.ndarray, unit_w: np.ndarray, n_units: int,
                    slots: np.ndarray, n_tokens: int) -> torch.Tensor:
    """The pooling matrix with one row per target slot (a target's word, or head then dependent).

    Units (words, sentences) are weighted sums of tokens; a target slot copies its unit's row,
    so ``P @ H`` gives the target vectors directly, with no gather afterwards.
    """
    order = np.argsort(unit_rows, kind="stable")
    unit_rows, unit_cols, unit_w = unit_rows[order], unit_cols[order], unit_w[order]
    counts = np.bincount(unit_rows, minlength=n_units)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_slot = counts[slots]
    slot_of_entry = np.repeat(np.arange(len(slots)), per_slot)
    first = np.concatenate([[0], np.cumsum(per_slot)[:-1]])
    entry = np.repeat(starts[slots], per_slot) + np.arange(per_slot.sum()) - np.repeat(first, per_slot)
    return torch.sparse_coo_tensor(
        torch.as_tensor(np.stack([slot_of_entry, unit_cols[entry]])),
        torch.as_tensor(unit_w[entry]),
        size=(len(slots), n_tokens), check_invariants=False,
    ).coalesce()


def pool_targets(hidden: torch.Tensor, batch: ModelBatch) -> torch.Tensor:
    """Target vectors from one layer's (or several stacked layers') token vectors.

    ``hidden`` is [R, L, D] (or [R, L, k*D] for k layers side by side); the result is [T, D]
    for word and sentence targets and [T, 2*D] for pairs (head then dependent).
    """
    flat = hidden.reshape(-1, hidden.shape[-1])
    pool = batch.pool.to(dtype=flat.dtype) if flat.dtype != batch.pool.dtype else batch.pool
    # A sparse COO product: measured faster on CPU than CSR, a dense P, or gather + index_add.
    slots = torch.sparse.mm(pool, flat)  # [T * c, D]
    return slots.reshape(batch.target_units.shape[0], -1)


def plan_batches(lengths: np.ndarray, sentence_ids: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Sentences grouped by length (longest first, so memory peaks at once), ``batch_size`` each."""
    order = sentence_ids[np.argsort(-lengths[sentence_ids], kind="stable")]
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
