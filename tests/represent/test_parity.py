"""Pooled vectors equal a hand computation from Hugging Face's own ``hidden_states``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftprobe.data import SplitRecords, build_task
from ftprobe.represent import Store, extract, load_encoder
from ftprobe.represent.align import tokenize_sentences, windows

SENTENCES = [
    ["the", "cat", "sat", "on", "the", "mat"],  # one subword each
    ["the", "dogs", "runs", "quickly"],  # dogs = 1, runs = run ##s (2), quickly = quick ##ly (2)
    ["unbelievable", "readers", "play"],  # un ##believ ##able (3), read ##ers (2)
]


def _task(kind: str):
    rec = SplitRecords(sentences=[list(s) for s in SENTENCES])
    for s, words in enumerate(SENTENCES):
        if kind == "word":
            rec.targets += [(s, i, -1, f"L{i % 3}") for i in range(len(words))]
        elif kind == "pair":
            rec.targets += [(s, 0, i, f"R{i % 2}") for i in range(1, len(words))]
        else:
            rec.targets.append((s, -1, -1, f"S{s % 2}"))
    return build_task(f"toy-{kind}", kind, {"test": rec}, {})


def _hand(enc, words):
    """Hidden states of one sentence, fed alone with special tokens, and its word ids."""
    batch = enc.tokenizer([words], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        out = enc.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                        output_hidden_states=True)
    return [h[0].numpy() for h in out.hidden_states], np.array(
        [-1 if w is None else w for w in batch.word_ids(0)])


def _word_vec(hs, word_ids, w, pooling):
    pos = np.flatnonzero(word_ids == w)
    pick = {"mean": pos, "first": pos[:1], "last": pos[-1:]}[pooling]
    return hs[pick].mean(axis=0)


@pytest.fixture(scope="module", params=["tiny_bert", "tiny_distilbert", "tiny_roberta"])
def encoder(request):
    return load_encoder(str(request.getfixturevalue(request.param)), device="cpu")


def test_subword_counts_cover_one_two_three(tiny_bert):
    enc = load_encoder(str(tiny_bert), device="cpu")
    toks = tokenize_sentences(enc.tokenizer, SENTENCES)
    counts = {len(np.flatnonzero(toks[2].word == w)) for w in range(3)}
    assert counts == {3, 2, 1}


@pytest.mark.parametrize("pooling", ["mean", "first", "last"])
def test_word_targets(encoder, tmp_path, pooling):
    task = _task("word")
    entry = extract(encoder, task, "test", Store(tmp_path), word_pooling=pooling, batch_size=2, progress=False)
    assert entry.layers == list(range(encoder.n_layers + 1))
    sp = task.split("test")
    hands = [_hand(encoder, words) for words in SENTENCES]
    for layer in entry.layers:
        got = entry.layer(layer)
        for t in range(len(sp)):
            hs, wid = hands[sp.sent[t]]
            want = _word_vec(hs[layer], wid, sp.words[t, 0], pooling)
            np.testing.assert_allclose(got[t], want, rtol=1e-4, atol=1e-5)


def test_pair_targets_concatenate_head_then_dependent(encoder, tmp_path):
    task = _task("pair")
    entry = extract(encoder, task, "test", Store(tmp_path), batch_size=3, progress=False)
    sp = task.split("test")
    assert entry.dim == 2 * encoder.hidden_size
    last = entry.layer(-1)
    hands = [_hand(encoder, words) for words in SENTENCES]
    for t in range(len(sp)):
        hs, wid = hands[sp.sent[t]]
        head, dep = sp.words[t]
        want = np.concatenate([_word_vec(hs[-1], wid, head, "mean"), _word_vec(hs[-1], wid, dep, "mean")])
        np.testing.assert_allclose(last[t], want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_sentence_targets(encoder, tmp_path, pooling):
    task = _task("sentence")
    entry = extract(encoder, task, "test", Store(tmp_path), sentence_pooling=pooling, progress=False)
    for t, words in enumerate(SENTENCES):
        hs, wid = _hand(encoder, words)
        for layer in (0, encoder.n_layers):
            want = hs[layer][0] if pooling == "cls" else hs[layer][wid >= 0].mean(axis=0)
            np.testing.assert_allclose(entry.layer(layer)[t], want, rtol=1e-4, atol=1e-5)


def test_batching_does_not_change_vectors(tiny_bert, tmp_path):
    enc = load_encoder(str(tiny_bert), device="cpu")
    task = _task("word")
    a = extract(enc, task, "test", Store(tmp_path / "a"), batch_size=1, progress=False)
    b = extract(enc, task, "test", Store(tmp_path / "b"), batch_size=3, progress=False)
    np.testing.assert_allclose(a.layer(2), b.layer(2), rtol=1e-5, atol=1e-6)


# --- subword edge cases --------------------------------------------------------------------------


def test_unknown_and_dropped_words(tiny_bert, tmp_path):
    """A word outside the vocabulary is [UNK]; a word that tokenizes to nothing is fed as [UNK]."""
    enc = load_encoder(str(tiny_bert), device="cpu")
    words = ["the", "zebra", "\u200b", "sat", "\x00"]
    rec = SplitRecords([words], [(0, i, -1, "X") for i in range(len(words))])
    task = build_task("edge", "word", {"test": rec}, {})
    entry = extract(enc, task, "test", Store(tmp_path), progress=False)
    hs, wid = _hand(enc, ["the", "zebra", "[UNK]", "sat", "[UNK]"])
    got = entry.layer(2)
    assert entry.n_targets == 5
    for w in range(5):
        np.testing.assert_allclose(got[w], _word_vec(hs[2], wid, w, "mean"), rtol=1e-4, atol=1e-5)


def test_windows_cover_every_subword_centrally():
    starts, assign = windows(10, 16)
    assert starts.tolist() == [0] and (assign == 0).all()
    n, cap = 100, 30
    starts, assign = windows(n, cap)
    assert starts[0] == 0 and starts[-1] + cap == n
    t = np.arange(n)
    s = starts[assign]
    assert ((t >= s) & (t < s + cap)).all()  # each subword lies in its window
    margin = np.minimum(t - s, s + cap - 1 - t)
    inner = (t >= cap // 4) & (t < n - cap // 4)
    assert (margin[inner] >= cap // 4 - 1).all()  # context on both sides away from the ends


def test_over_long_sentence_uses_windows_not_truncation(tiny_bert, tmp_path):
    enc = load_encoder(str(tiny_bert), device="cpu")
    assert enc.max_length == 64
    words = (["the", "quick", "brown", "fox", "unbelievable"] * 20)[:90]  # 90 words, 126 subwords
    rec = SplitRecords([words], [(0, i, -1, "X") for i in range(len(words))])
    task = build_task("long", "word", {"test": rec}, {})
    entry = extract(enc, task, "test", Store(tmp_path), progress=False)
    assert entry.manifest["windowed_rows"] > 0
    got = entry.layer(2)
    assert got.shape == (90, 32) and np.isfinite(got).all()
    # Hand computation: run each window alone as [CLS] chunk [SEP]; take each subword's vector
    # from the window that owns it.
    tok = tokenize_sentences(enc.tokenizer, [words])[0]
    cap = enc.max_length - 2
    starts, assign = windows(len(tok.ids), cap)
    assert len(starts) >= 3
    per_token = np.zeros((len(tok.ids), 32))
    for k, start in enumerate(starts):
        ids = torch.tensor([[2, *tok.ids[start:start + cap].tolist(), 3]])
        with torch.no_grad():
            hs = enc.model(input_ids=ids, output_hidden_states=True).hidden_states[2][0, 1:-1].numpy()
        own = np.flatnonzero(assign == k)
        per_token[own] = hs[own - start]
    for w in range(90):
        np.testing.assert_allclose(got[w], per_token[tok.word == w].mean(axis=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", ["word", "pair", "sentence"])
def test_stacked_pooling_path_equals_per_layer(encoder, tmp_path, monkeypatch, kind):
    """The GPU's path (all layers pooled in one product, copies collected a batch late) writes
    the same vectors as the CPU's layer-by-layer path; here both run on the CPU."""
    task = _task(kind)
    got = {}
    for stacked in (False, True):
        entry = extract(encoder, task, "test", Store(tmp_path / str(stacked)), batch_size=2,
                        progress=False, stacked=stacked)
        got[stacked] = [np.asarray(entry.layer(i)) for i in entry.layers]
    assert len(got[True]) == encoder.n_layers + 1
    for a, b in zip(got[False], got[True], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
        assert not np.allclose(b, 0)
