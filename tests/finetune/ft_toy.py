"""Small learnable tasks of each target kind, built in memory (no files, no downloads)."""

from __future__ import annotations

import random

from ftprobe.data import SplitRecords, build_task

NOUNS = "cat dog house tree book fox".split()
VERBS = "sat ran runs jump read play".split()
DETS = "the a an".split()
WH = "what who where when how why".split()


def word_class(w: str) -> str:
    return "N" if w in NOUNS else "V" if w in VERBS else "D"


def _sentence(rng: random.Random) -> list[str]:
    return [rng.choice(DETS), rng.choice(NOUNS), rng.choice(VERBS), rng.choice(DETS), rng.choice(NOUNS)]


def _records(kind: str, n: int, rng: random.Random) -> SplitRecords:
    rec = SplitRecords()
    for s in range(n):
        if kind == "sentence":
            question = rng.random() < 0.5
            words = [rng.choice(WH), *_sentence(rng)[:3], "?"] if question else [*_sentence(rng), "."]
            rec.sentences.append(words)
            rec.targets.append((s, -1, -1, "Q" if question else "S"))
            continue
        words = _sentence(rng)
        rec.sentences.append(words)
        if kind == "word":
            rec.targets.extend((s, i, -1, word_class(w)) for i, w in enumerate(words))
        else:  # pair: determiner -> noun and noun -> verb arcs, labelled by both classes
            for head, dep in ((1, 0), (2, 1), (4, 3), (2, 4)):
                rec.targets.append((s, head, dep, f"{word_class(words[head])}>{word_class(words[dep])}"))
    return rec


def ragged_word_task(n_train: int = 32, seed: int = 0):
    """Word targets in sentences of 1 to 9 words: batches hold unequal numbers of targets."""
    rng = random.Random(seed)
    vocab = NOUNS + VERBS + DETS
    rec = SplitRecords()
    for s in range(n_train):
        words = [rng.choice(vocab) for _ in range(rng.randint(1, 9))]
        rec.sentences.append(words)
        rec.targets.extend((s, i, -1, word_class(w)) for i, w in enumerate(words))
    return build_task("ragged", "word", {"train": rec}, {"toy": True})


def toy_task(kind: str, n_train: int = 48, n_dev: int = 16, seed: int = 0):
    rng = random.Random(seed)
    return build_task(f"toy-{kind}", kind, {"train": _records(kind, n_train, rng),
                                             "dev": _records(kind, n_dev, rng)}, {"toy": True})


def jsonl_lines(n: int, seed: int = 0) -> str:
    """The word task as the JSON lines a user would write."""
    import json

    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        words = _sentence(rng)
        lines.append(json.dumps({"words": words, "targets": [{"word": i, "label": word_class(w)}
                                                               for i, w in enumerate(words)]}))
    return "\n".join(lines) + "\n"
