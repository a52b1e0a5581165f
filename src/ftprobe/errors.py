"""User-facing errors: the CLI turns these into one line and exit status 2, no traceback."""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """Bad input from the user (a file, an argument, a config): reported as one clear line."""


class DataFormatError(UserError):
    """A data file that does not parse; the message names the file and the line."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
