"""compare's name for :mod:`ftprobe.plain` (the one numpy-to-JSON conversion)."""

from ftprobe.plain import as_float, plain

__all__ = ["as_float", "plain"]
