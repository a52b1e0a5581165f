"""PS-role and PS-fxn from STREUSLE ``.conllulex`` files (19 columns).

A target is a single-token lexical expression (column SMWE empty: not part of a strong multiword
expression) whose lexical category is an adposition or possessive (``P``, ``PRON.POSS``, ``POSS``,
``INF.P``) and whose scene role (``ss``, column 14) and function (``ss2``, column 15) are both
preposition supersenses (``p.``). PS-role labels it with ``ss``, PS-fxn with ``ss2``.
"""

from __future__ import annotations

from pathlib import Path

from ftprobe.data.conllu_tasks import read_sentences
from ftprobe.data.task import SplitRecords
from ftprobe.errors import DataFormatError

N_COLUMNS = 19
SMWE, LEXCAT, SS, SS2 = 0, 1, 3, 4  # indices into the columns after the 10 CoNLL-U ones
ADPOSITION_LEXCATS = frozenset({"P", "PRON.POSS", "POSS", "INF.P"})


def supersense_records(path: Path, column: str) -> SplitRecords:
    """Targets of PS-role (``column="ss"``) or PS-fxn (``column="ss2"``)."""
    rec = SplitRecords()
    for sent in read_sentences(path, n_columns=N_COLUMNS):
        s = len(rec.sentences)
        rec.sentences.append([w.form for w in sent])
        for i, w in enumerate(sent):
            smwe, lexcat, ss, ss2 = w.extra[SMWE], w.extra[LEXCAT], w.extra[SS], w.extra[SS2]
            if lexcat == "_" and smwe == "_":
                raise DataFormatError(path, w.line, "token with neither LEXCAT nor SMWE (column 11/12)")
            if smwe != "_" or lexcat not in ADPOSITION_LEXCATS:
                continue
            if ss.startswith("p.") and ss2.startswith("p."):
                rec.targets.append((s, i, -1, ss if column == "ss" else ss2))
    return rec
