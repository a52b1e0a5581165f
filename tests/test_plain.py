"""ftprobe.plain: the one numpy-to-JSON conversion."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ftprobe.plain import plain


@dataclass(frozen=True)
class _Row:
    name: str
    value: np.float32


def test_plain_values():
    obj = {"i": np.int32(3), "f": np.float64(0.25), "nan": float("nan"), "b": np.bool_(False),
           "a": np.array([[1, 2]]), "t": (1, np.float32(np.inf)), "p": Path("a/b"), 7: _Row("x", np.float32(1.5))}
    out = plain(obj)
    assert out == {"i": 3, "f": 0.25, "nan": None, "b": False, "a": [[1, 2]], "t": [1, None], "p": "a/b",
                   "7": {"name": "x", "value": 1.5}}
    assert json.loads(json.dumps(out, allow_nan=False)) == out  # strict JSON
    with pytest.raises(TypeError, match="object"):
        plain(object())
