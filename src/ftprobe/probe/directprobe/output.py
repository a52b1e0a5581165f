"""The one writer of a DirectProbe output folder (``DirectProbe.save`` and ``ftprobe directprobe``).

Arrays first, then text files, ``summary.json`` last: a folder with a summary is complete. Each
file is written atomically (``ftprobe.atomic``), so a reader never sees half a file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe.atomic import save_npy, write_json, write_text

SUMMARY = "summary.json"


def write_output_folder(directory: str | Path, summary: Mapping[str, Any],
                        arrays: Mapping[str, np.ndarray] | None = None,
                        texts: Mapping[str, str] | None = None) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, array in (arrays or {}).items():
        save_npy(directory / name, array)
    for name, text in (texts or {}).items():
        write_text(directory / name, text)
    write_json(directory / SUMMARY, dict(summary))
    return directory
