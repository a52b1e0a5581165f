"""Decoder-only models and the encoders of encoder-decoders: pooled vectors equal a hand computation
from Hugging Face's own ``hidden_states``, byte-level pieces align to their words, padding does not
matter, and extraction -> store -> DirectProbe runs. Tiny random models, tokenizers trained in code.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ftprobe.data import SplitRecords, build_task
from ftprobe.errors import UserError
from ftprobe.represent import Store, extract, load_encoder
from tests.tiny_families import FAMILIES, save_tiny_family

SENTENCES = [
    ["The", "cat", "sat", "on", "the", "mat", "."],
    ["unbelievable", "readers", "play"],
    ["Who", "ran", "?"],
    ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "."],
]


@pytest.fixture(scope="module", params=FAMILIES)
def family(request, tmp_path_factory):
    path = save_tiny_family(request.param, tmp_path_factory.mktemp(request.param))
    return request.param, path, load_encoder(str(path), device="cpu")


def _task(kind: str):
    rec = SplitRecords(sentences=[list(s) for s in SENTENCES])
    for s, words in enumerate(SENTENCES):
        if kind == "word":
            rec.targets += [(s, i, -1, f"L{len(w) % 3}") for i, w in enumerate(words)]
        else:
            rec.targets.append((s, -1, -1, f"S{s % 2}"))
    return build_task(f"fam-{kind}", kind, {"test": rec}, {})


def _hand(path, family: str, words: list[str]):
    """Every layer's hidden states of the sentence fed alone (no padding) as the tokenizer encodes
    the text, and each token's word, found from the characters it covers (-1: special token)."""
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, **({"add_prefix_space": True} if family == "gpt2" else {}))
    text = " ".join(words)
    enc = tok(text, return_offsets_mapping=True, return_special_tokens_mask=True, return_tensors="pt")
    char_word = []
    for i, w in enumerate(words):
        char_word += [i] * len(w) + [-1]
    token_word = []
    for (s, e), special in zip(enc["offset_mapping"][0].tolist(), enc["special_tokens_mask"][0].tolist(),
                               strict=True):
        inside = [char_word[c] for c in range(s, e) if char_word[c] >= 0]
        after = [w for w in char_word[e:] if w >= 0]
        token_word.append(-1 if special else inside[-1] if inside else after[0] if after else len(words) - 1)
    model = AutoModel.from_pretrained(path).eval()
    kwargs = dict(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_hidden_states=True)
    with torch.no_grad():
        if model.config.is_encoder_decoder:
            out = model(**kwargs, decoder_input_ids=torch.zeros((1, 1), dtype=torch.long))
            hidden = out.encoder_hidden_states
        else:
            hidden = model(**kwargs).hidden_states
    return [h[0].numpy() for h in hidden], np.array(token_word), tok.convert_ids_to_tokens(enc["input_ids"][0])


def test_word_vectors_equal_hand_computation(family, tmp_path):
    name, path, enc = family
    task = _task("word")
    entry = extract(enc, task, "test", Store(tmp_path), batch_size=3, progress=False)  # padded batches
    assert entry.layers == list(range(3)) and entry.manifest["model"]["family"] == (
        "encoder-decoder" if name in ("t5", "bart") else "decoder")
    sp = task.split("test")
    hands = [_hand(path, name, words) for words in SENTENCES]
    for layer in entry.layers:
        got = entry.layer(layer)
        for t in range(len(sp)):
            hs, token_word, _ = hands[sp.sent[t]]
            want = hs[layer][token_word == sp.words[t, 0]].mean(axis=0)
            np.testing.assert_allclose(got[t], want, rtol=1e-4, atol=1e-5)


def test_byte_level_pieces_carry_their_leading_space(family):
    """GPT-2-style byte-level BPE: every word after the first starts with a Ġ piece (its space),
    as in the running text, never as a bare word glued to the one before."""
    name, path, _ = family
    if name not in ("gpt2", "llama", "qwen2", "bart"):
        pytest.skip("not byte-level BPE")
    _, token_word, pieces = _hand(path, name, SENTENCES[0])
    for w in range(1, len(SENTENCES[0])):
        first = int(np.flatnonzero(token_word == w)[0])
        assert pieces[first].startswith("Ġ"), (w, pieces)


def test_sentence_vectors_follow_the_model(family, tmp_path):
    name, path, enc = family
    task = _task("sentence")
    default = extract(enc, task, "test", Store(tmp_path / "d"), batch_size=4, progress=False)
    mean = extract(enc, task, "test", Store(tmp_path / "m"), sentence_pooling="mean", batch_size=4,
                   progress=False)
    decoder = name not in ("t5", "bart")
    assert default.manifest["pooling"] == {"sentence": "last" if decoder else "mean"}
    for t, words in enumerate(SENTENCES):
        hs, token_word, _ = _hand(path, name, words)
        for layer in (0, 2):
            want = hs[layer][-1] if decoder else hs[layer][token_word >= 0].mean(axis=0)
            np.testing.assert_allclose(default.layer(layer)[t], want, rtol=1e-4, atol=1e-5)
            np.testing.assert_allclose(mean.layer(layer)[t], hs[layer][token_word >= 0].mean(axis=0),
                                       rtol=1e-4, atol=1e-5)
    if name != "bart":  # BART starts with <s>, which an encoder may use as a summary token
        with pytest.raises(UserError, match="sentence pooling 'cls'"):
            extract(enc, task, "test", Store(tmp_path / "c"), sentence_pooling="cls", progress=False)


def test_extraction_store_directprobe(family, tmp_path):
    from ftprobe.probe.directprobe import DirectProbe

    _, _, enc = family
    task = _task("word")
    entry = extract(enc, task, "test", Store(tmp_path), layers=[-1], progress=False)
    X, y = np.asarray(entry.layer(-1), dtype=np.float64), np.asarray(entry.labels)
    dp = DirectProbe(min_cluster_size=0).fit(X, y)
    assert dp.n_clusters_ >= len(np.unique(y))
    assert dp.score(X, y) == pytest.approx(1.0)  # every training point falls in its own cluster


def test_a_tokenizer_that_cannot_align_words_is_refused(tmp_path, capsys):
    """ByT5's tokenizer has no fast version: no word ids, no offsets."""
    from transformers import ByT5Tokenizer, T5Config, T5Model

    from ftprobe.cli.main import main

    ByT5Tokenizer().save_pretrained(tmp_path)
    T5Model(T5Config(vocab_size=384, d_model=16, d_kv=4, d_ff=32, num_layers=1, num_heads=2)).save_pretrained(tmp_path)
    with pytest.raises(UserError, match="cannot align words"):
        load_encoder(str(tmp_path), device="cpu")
    data = tmp_path / "t.jsonl"
    data.write_text('{"words": ["a", "b"], "targets": [{"word": 0, "label": "x"}]}\n')
    assert main(["extract", "--model", str(tmp_path), "--task", "jsonl", "--data", f"test={data}",
                 "--store", str(tmp_path / "store"), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot align words" in err[0]
    assert not (tmp_path / "store").exists()
