"""A user's own task as JSON lines, one sentence a line, of any of the three target kinds.

    {"words": ["The", "cat", "sat"], "targets": [{"word": 1, "label": "NOUN"}]}       word targets
    {"words": ["The", "cat", "sat"], "targets": [{"head": 2, "dep": 1, "label": "nsubj"}]}  pairs
    {"words": ["Is", "it", "raining", "?"], "label": "yes-no"}                         a sentence

Word indices are 0-based. A line may hold any number of targets (zero too). All lines of a task
must have the same kind.
"""

from __future__ import annotations

import json
from pathlib import Path

from ftprobe.data.files import read_lines
from ftprobe.data.task import SplitRecords, TargetKind
from ftprobe.errors import DataFormatError


def jsonl_records(path: Path) -> tuple[TargetKind, SplitRecords]:
    rec = SplitRecords()
    kind: TargetKind | None = None
    for number, line in read_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(path, number, f"invalid JSON ({exc.msg})") from None
        words = obj.get("words") if isinstance(obj, dict) else None
        if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
            raise DataFormatError(path, number, "'words' must be a non-empty list of non-empty strings")
        s = len(rec.sentences)
        rec.sentences.append(words)
        if "label" in obj:
            line_kind: TargetKind = "sentence"
            rec.targets.append((s, -1, -1, _label(path, number, obj["label"])))
        elif isinstance(obj.get("targets"), list):
            pairs = {("head" in t) for t in obj["targets"] if isinstance(t, dict)}
            if len(pairs) > 1:
                raise DataFormatError(path, number, "mixes word and pair targets")
            line_kind = "pair" if pairs == {True} else "word"
            for t in obj["targets"]:
                if not isinstance(t, dict):
                    raise DataFormatError(path, number, "each target must be an object")
                keys = ("head", "dep") if line_kind == "pair" else ("word",)
                idx = []
                for key in keys:
                    v = t.get(key)
                    if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < len(words):
                        raise DataFormatError(path, number, f"target {key!r} must be a word index in 0..{len(words) - 1}")
                    idx.append(v)
                a, b = (idx[0], idx[1]) if line_kind == "pair" else (idx[0], -1)
                rec.targets.append((s, a, b, _label(path, number, t.get("label"))))
            if not obj["targets"]:
                continue
        else:
            raise DataFormatError(path, number, "needs 'label' (sentence) or 'targets' (words or pairs)")
        if kind is None:
            kind = line_kind
        elif kind != line_kind:
            raise DataFormatError(path, number, f"{line_kind} targets in a file of {kind} targets")
    if not rec.sentences:
        raise DataFormatError(path, None, "empty file")
    return kind or "word", rec


def _label(path: Path, number: int, value) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
        raise DataFormatError(path, number, "'label' must be a non-empty string")
    return str(value)
