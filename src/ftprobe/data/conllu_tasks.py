"""POS and DEP from CoNLL-U treebanks (and the CoNLL-U part of STREUSLE's .conllulex).

Words are the treebank's syntactic words (integer IDs). Multiword-token ranges (``3-4``) are not
words: their parts are. Empty nodes (``5.1``) belong to enhanced graphs and are skipped. Each line
is checked here, so an error names its file and line; the conllu library then parses the fields.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import conllu
import conllu.parser

from ftprobe.data.files import read_lines
from ftprobe.data.task import SplitRecords
from ftprobe.errors import DataFormatError

_INT = re.compile(r"^[1-9][0-9]*$")
_RANGE = re.compile(r"^[1-9][0-9]*-[1-9][0-9]*$")
_EMPTY = re.compile(r"^[0-9]+\.[1-9][0-9]*$")


@dataclass
class Word:
    """One syntactic word of a sentence, with its 1-based line in the file."""

    form: str
    upos: str
    xpos: str
    head: int  # 0 for the root; 1-based index of the head otherwise
    deprel: str
    line: int
    extra: list[str]  # columns after the 10th (STREUSLE's lexical columns)


def read_sentences(path: Path, n_columns: int = 10) -> Iterator[list[Word]]:
    """Yield sentences as lists of words, validating every line."""
    block: list[tuple[int, str]] = []
    any_line = False
    for number, line in read_lines(path):
        any_line = any_line or bool(line.strip())
        if not line.strip():
            if block:
                yield _sentence(path, block, n_columns)
                block = []
            continue
        block.append((number, line))
    if block:
        yield _sentence(path, block, n_columns)
    if not any_line:
        raise DataFormatError(path, None, "empty file")


def _sentence(path: Path, block: list[tuple[int, str]], n_columns: int) -> list[Word]:
    rows: list[tuple[int, list[str]]] = []
    for number, line in block:
        if line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) != n_columns:
            raise DataFormatError(path, number, f"expected {n_columns} tab-separated columns, found {len(cols)}")
        if _INT.match(cols[0]):
            rows.append((number, cols))
        elif not (_RANGE.match(cols[0]) or _EMPTY.match(cols[0])):
            raise DataFormatError(path, number, f"invalid ID {cols[0]!r}")
    if not rows:
        raise DataFormatError(path, block[0][0], "sentence without words")
    n = len(rows)
    words = []
    for k, (number, cols) in enumerate(rows, start=1):
        if int(cols[0]) != k:
            raise DataFormatError(path, number, f"word ID {cols[0]} out of sequence (expected {k})")
        head = cols[6]
        if not head.isdigit():
            raise DataFormatError(path, number, f"HEAD {head!r} is not an integer")
        if int(head) > n or int(head) == k:
            raise DataFormatError(path, number, f"HEAD {head} out of range for a sentence of {n} words")
        # The conllu library parses the 10 standard fields (feats, misc, ...); we keep what we use.
        try:
            token = conllu.parser.parse_line("\t".join(cols[:10]), fields=conllu.parser.DEFAULT_FIELDS)
        except conllu.parser.ParseException as exc:
            raise DataFormatError(path, number, str(exc)) from None
        words.append(Word(token["form"], token["upos"] or "_", token["xpos"] or "_", int(head),
                          token["deprel"] or "_", number, cols[10:]))
    return words


def pos_records(path: Path, tagset: str = "upos") -> SplitRecords:
    """Every word is a target; its label is its UPOS (or XPOS) tag."""
    rec = SplitRecords()
    for sent in read_sentences(path):
        s = len(rec.sentences)
        rec.sentences.append([w.form for w in sent])
        for i, w in enumerate(sent):
            tag = w.upos if tagset == "upos" else w.xpos
            if tag == "_":
                raise DataFormatError(path, w.line, f"word without a {tagset.upper()} tag")
            rec.targets.append((s, i, -1, tag))
    return rec


def dep_records(path: Path, labels: str = "full") -> SplitRecords:
    """Every non-root (head, dependent) pair is a target labelled with its relation."""
    rec = SplitRecords()
    for sent in read_sentences(path):
        s = len(rec.sentences)
        rec.sentences.append([w.form for w in sent])
        for i, w in enumerate(sent):
            if w.head == 0:
                continue
            if w.deprel == "_":
                raise DataFormatError(path, w.line, "word without a DEPREL")
            rel = w.deprel if labels == "full" else w.deprel.split(":")[0]
            rec.targets.append((s, w.head - 1, i, rel))
    return rec
