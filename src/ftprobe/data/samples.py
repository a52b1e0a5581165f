"""Paths of the corpus excerpts shipped with ftprobe (see resources/samples/SOURCE.md)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

SAMPLES = {
    "ewt": "ud_english_ewt",
    "pud": "ud_english_pud",
    "streusle": "streusle",
    "trec": "trec",
}


def sample_path(name: str) -> Path:
    """Folder of a shipped excerpt: ``ewt``, ``pud``, ``streusle`` or ``trec``."""
    root = Path(str(resources.files("ftprobe") / "resources" / "samples"))
    return root / SAMPLES[name]
