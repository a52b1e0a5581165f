"""ftprobe.atomic: whole new file or the old one, never a half-written file or a stray temp name."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ftprobe.atomic import replace_folder, save_npy, write_bytes, write_json, write_text


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def test_writes_round_trip(tmp_path):
    write_bytes(tmp_path / "b.bin", b"\x00\x01")
    write_text(tmp_path / "t.txt", "é\nx\r\n")
    A = np.arange(6, dtype=np.float32).reshape(2, 3)
    save_npy(tmp_path / "a", A)  # exactly this name, no ".npy" appended
    write_json(tmp_path / "j.json", {"z": np.int64(3), "a": np.float32(0.5), "v": np.arange(2),
                                     "ok": np.bool_(True), "p": Path("x/y"), "s": "é"})
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert (tmp_path / "t.txt").read_bytes() == "é\nx\r\n".encode()
    np.testing.assert_array_equal(np.load(tmp_path / "a", allow_pickle=False), A)
    text = (tmp_path / "j.json").read_text(encoding="utf-8")
    assert json.loads(text) == {"z": 3, "a": 0.5, "v": [0, 1], "ok": True, "p": "x/y", "s": "é"}
    assert list(json.loads(text)) == ["z", "a", "v", "ok", "p", "s"]  # keys in their given order
    assert '"s": "é"' in text and text.endswith("}\n") and '\n  "z": 3' in text
    assert _names(tmp_path) == {"b.bin", "t.txt", "a", "j.json"}


def test_failure_mid_write_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "x.npy"
    save_npy(target, np.arange(3))
    before = target.read_bytes()
    # numpy writes the .npy header, then refuses the object payload: a failure half-way through.
    with pytest.raises(ValueError, match="allow_pickle"):
        save_npy(target, np.array([{"a": 1}, None], dtype=object))
    assert target.read_bytes() == before
    assert _names(tmp_path) == {"x.npy"}


def test_unserialisable_json_keeps_old_file(tmp_path):
    target = tmp_path / "r.json"
    write_json(target, {"v": 1})
    before = target.read_bytes()

    class NotJson:
        pass

    with pytest.raises(TypeError, match="NotJson"):
        write_json(target, {"v": 2, "bad": NotJson()})
    assert target.read_bytes() == before
    assert _names(tmp_path) == {"r.json"}


def test_replace_folder(tmp_path):
    target = tmp_path / "ck"

    def fill(v):
        def f(tmp: Path) -> None:
            (tmp / "a.txt").write_text(v)
        return f

    replace_folder(target, fill("1"))
    replace_folder(target, fill("2"))  # replaced whole
    assert (target / "a.txt").read_text() == "2" and _names(tmp_path) == {"ck"}

    def crash(tmp: Path) -> None:
        (tmp / "a.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        replace_folder(target, crash)
    assert (target / "a.txt").read_text() == "2" and _names(tmp_path) == {"ck"}
    # a temporary folder left by a killed process is cleared by the next write
    (tmp_path / ".ck.tmp").mkdir()
    (tmp_path / ".ck.tmp" / "stale").write_text("x")
    replace_folder(target, fill("3"))
    assert _names(target) == {"a.txt"} and _names(tmp_path) == {"ck"}


def test_save_npz_round_trip_and_failure_half_way(tmp_path):
    from ftprobe.atomic import save_npz

    target = tmp_path / "state.npz"  # exactly this name (np.savez would not add .npz to a handle)
    save_npz(target, {"a": np.arange(3), "b": np.eye(2)})
    with np.load(target, allow_pickle=False) as z:
        assert sorted(z.files) == ["a", "b"] and z["a"].tolist() == [0, 1, 2]
    before = target.read_bytes()
    with pytest.raises(ValueError, match="allow_pickle"):  # "a" written, then an object array refused
        save_npz(target, {"a": np.arange(5), "bad": np.array([{}], dtype=object)})
    assert target.read_bytes() == before
    assert _names(tmp_path) == {"state.npz"}
