"""Opening data files (plain or gzip) and finding a task's split files."""

from __future__ import annotations

import gzip
import re
from collections.abc import Iterator
from pathlib import Path

from ftprobe.errors import DataFormatError, SettingError, UserError

_SPLIT_PATTERNS = {
    "train": re.compile(r"(^|[^a-z])train", re.I),
    "dev": re.compile(r"(^|[^a-z])(dev|valid|validation)([^a-z]|$)", re.I),
    "test": re.compile(r"(^|[^a-z])test([^a-z]|$)", re.I),
}


def read_lines(path: Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, line without newline); .gz files are decompressed."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a file")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding=encoding, newline="") as fh:
            for number, line in enumerate(fh, start=1):
                yield number, line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise DataFormatError(path, None, f"not valid {encoding} text ({exc.reason})") from None
    except (OSError, EOFError) as exc:
        raise DataFormatError(path, None, f"cannot be read: {exc}") from None


def split_of(path: Path) -> str | None:
    """The split named in a file name (train, dev or test), if any."""
    stem = path.name
    if stem.startswith("TREC_10"):  # the TREC test set is named by its size
        return "test"
    hits = [name for name, pat in _SPLIT_PATTERNS.items() if pat.search(stem)]
    return hits[0] if len(hits) == 1 else None


def resolve_split_files(data: str | Path | dict, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """Map split names to files.

    ``data`` may be a mapping ``{"train": path, ...}``, a string ``"train=a,test=b"``, a directory
    (files whose names end in one of ``suffixes`` and name their split: ``*train*``, ``*dev*``,
    ``*test*``), or a single file (one split, named by its file name or else ``train``).
    """
    if isinstance(data, dict):
        mapping = {str(k): Path(v) for k, v in data.items()}
    elif isinstance(data, str) and "=" in data:
        mapping = {}
        for part in data.split(","):
            name, sep, value = part.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise SettingError("data", f"expected split=path[,split=path...], not {data!r}")
            mapping[name.strip()] = Path(value.strip())
    else:
        path = Path(data)
        if not path.exists():
            raise UserError(f"{path}: no such file or directory")
        if path.is_dir():
            mapping = {}
            for child in sorted(path.iterdir()):
                if child.is_file() and child.name.endswith(suffixes):
                    split = split_of(child)
                    if split is None:
                        continue
                    if split in mapping:
                        raise UserError(f"{path}: two files for split {split!r}: {mapping[split].name}, {child.name}")
                    mapping[split] = child
            if not mapping:
                wanted = " or ".join(suffixes)
                raise UserError(f"{path}: no {wanted} files named after a split (train/dev/test)")
        else:
            mapping = {split_of(path) or "train": path}
    for name, p in mapping.items():
        if not p.is_file():
            raise UserError(f"{p}: no such file (split {name!r})")
    return mapping
