"""TREC question classification (Li & Roth 2002): ``COARSE:fine question words`` per line, Latin-1."""

from __future__ import annotations

import re
from pathlib import Path

from ftprobe.data.files import read_lines
from ftprobe.data.task import SplitRecords
from ftprobe.errors import DataFormatError

_LINE = re.compile(r"^([A-Z]+):(\S+) (.*\S.*)$")


def trec_records(path: Path, granularity: str = "fine") -> SplitRecords:
    """One sentence target per question; label ``COARSE:fine`` (trec-50) or ``COARSE`` (trec-6)."""
    rec = SplitRecords()
    for number, line in read_lines(path, encoding="latin-1"):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise DataFormatError(path, number, "expected 'COARSE:fine question ...'")
        coarse, fine, text = m.groups()
        s = len(rec.sentences)
        rec.sentences.append(text.split())
        rec.targets.append((s, -1, -1, f"{coarse}:{fine}" if granularity == "fine" else coarse))
    if not rec.sentences:
        raise DataFormatError(path, None, "empty file")
    return rec
