"""The one DirectProbe output-folder writer: arrays and texts first, summary.json last."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftprobe.probe.directprobe.output import write_output_folder


def test_summary_is_written_last(tmp_path):
    out = write_output_folder(tmp_path / "dp", {"n": np.int64(2)}, {"a.npy": np.arange(3)}, {"t.txt": "x\n"})
    assert sorted(p.name for p in out.iterdir()) == ["a.npy", "summary.json", "t.txt"]
    assert json.loads((out / "summary.json").read_text()) == {"n": 2}
    with pytest.raises(ValueError):  # an array that fails half-way: no summary, no stray file
        write_output_folder(tmp_path / "bad", {"n": 1}, {"a.npy": np.array([{}], dtype=object)})
    assert [p.name for p in (tmp_path / "bad").iterdir()] == []
