"""Atomic writes: a reader sees the old file or the whole new one, never a half-written one.

Every write goes to a temporary sibling (``.NAME.XXXX.tmp`` in the same folder, so the rename
stays on one file system), is flushed and synced, then renamed over the real name with
``os.replace``. If anything fails on the way (an exception, Ctrl-C), the temporary file is removed
and the old file is left as it was. Every stage writes its files through these functions.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np

from ftprobe.plain import plain

__all__ = ["replace_folder", "save_npy", "save_npz", "write_bytes", "write_json", "write_text"]


def _write(path: str | Path, fill: Callable[[IO[bytes]], None]) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fill(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path: str | Path, data: bytes) -> None:
    _write(path, lambda fh: fh.write(data))


def write_text(path: str | Path, text: str) -> None:
    """UTF-8 text, written as given (no newline translation)."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    """The one JSON format of ftprobe's files: indented by 2, UTF-8, keys in their given order;
    numpy values, dataclasses and paths converted by :func:`ftprobe.plain.plain`.

    The whole document is encoded before the file is opened, so an unserialisable value fails
    before anything is written.
    """
    text = json.dumps(obj, indent=2, ensure_ascii=False, default=plain) + "\n"
    write_text(path, text)


def save_npy(path: str | Path, array: np.ndarray) -> None:
    """``np.save`` to exactly ``path`` (no ``.npy`` appended), never pickling."""
    _write(path, lambda fh: np.save(fh, np.asarray(array), allow_pickle=False))


def save_npz(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """``np.savez`` (uncompressed) of named arrays to exactly ``path``, never pickling."""
    _write(path, lambda fh: np.savez(fh, allow_pickle=False, **{k: np.asarray(v) for k, v in arrays.items()}))


def replace_folder(target: str | Path, fill: Callable[[Path], None]) -> Path:
    """Run ``fill(tmp)`` on a fresh temporary sibling folder of ``target``, then rename it into place.

    A folder already at ``target`` is replaced whole; on failure the temporary folder is removed
    and ``target`` is left as it was. The temporary name is fixed (``.NAME.tmp``) so that one left
    by a killed process is cleared by the next write.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        fill(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
