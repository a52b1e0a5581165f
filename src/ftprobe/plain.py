"""The one numpy-to-JSON conversion: results as plain Python values (``json.dumps`` takes them
as they are). Every stage that writes JSON uses it, through ``atomic.write_json`` or directly."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import numpy as np


def plain(obj: Any) -> Any:
    """Recursively turn numpy scalars/arrays, tuples and dataclasses into JSON-ready values.

    Non-finite floats become ``None``: strict JSON has no NaN, and a missing number is what
    NaN means everywhere in this package.
    """
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "to_json"):
            return obj.to_json()
        return {f.name: plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {(k if isinstance(k, str) else str(plain(k))): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [plain(v) for v in obj]
    raise TypeError(f"cannot make {type(obj).__name__} JSON-plain")


def as_float(x: Any) -> float:
    """A number or ``None`` as a float; ``None`` (missing) becomes NaN."""
    return float("nan") if x is None else float(x)
