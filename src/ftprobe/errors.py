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


class SettingError(UserError):
    """A stage setting no run can use, named as the stage knows it (``epochs``, ``word_pooling``).

    Stages know no command line and no config file: the CLI says ``--epochs``, the study config
    ``finetune.epochs``, each through :meth:`named`."""

    def __init__(self, setting: str, problem: str):
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")

    def __reduce__(self):  # rebuilt from its fields when it crosses a process boundary
        return type(self), (self.setting, self.problem)

    def named(self, name: str) -> UserError:
        """The same error, the setting called ``name`` (a flag, a config key)."""
        return UserError(f"{name}: {self.problem}")
