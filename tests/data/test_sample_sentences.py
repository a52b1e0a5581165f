"""Split.sample_sentences: a seeded share of the sentences with exactly their targets, nested
across fractions at one seed."""

from __future__ import annotations

import pytest

from tests.finetune.ft_toy import toy_task


def _targets(split) -> list[tuple[tuple[str, ...], str]]:
    """Each target as (its sentence, its word): comparable across splits whatever the ids."""
    return [(tuple(split.sentences[s]), w) for s, w in zip(split.sent.tolist(), split.target_words(), strict=True)]


@pytest.mark.parametrize("kind", ["word", "pair", "sentence"])
def test_a_sample_keeps_its_sentences_targets(kind):
    train = toy_task(kind, n_train=40).split("train")
    half = train.sample_sentences(0.5, seed=3)
    assert len(half.sentences) == 20
    kept = {tuple(s) for s in half.sentences}
    # exactly the targets of the kept sentences, labels with them, in the original order
    want = [(t, lab) for t, lab in zip(_targets(train), train.labels.tolist(), strict=True) if t[0] in kept]
    assert list(zip(_targets(half), half.labels.tolist(), strict=True)) == want
    order = [train.sentences.index(s) for s in half.sentences]
    assert order == sorted(order)


def test_fractions_nest_and_seeds_differ():
    train = toy_task("word", n_train=40).split("train")
    quarter, half = (set(map(tuple, train.sample_sentences(f, seed=1).sentences)) for f in (0.25, 0.5))
    assert len(quarter) == 10 and quarter < half
    other = set(map(tuple, train.sample_sentences(0.5, seed=2).sentences))
    assert other != half
    assert train.sample_sentences(1.0, seed=1) is train
    assert len(train.sample_sentences(0.001, seed=1).sentences) == 1  # never empty
    with pytest.raises(ValueError, match="fraction must be in"):
        train.sample_sentences(0.0, seed=1)
