"""`ftprobe directprobe` on plain files: outputs, user errors (exit 2, one line)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftprobe.cli.main import main


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(30, 3)) + c for c in (0, 6, 12)])
    y = np.repeat(["NOUN", "VERB", "ADJ"], 30)
    np.save(tmp_path / "X.npy", X)
    (tmp_path / "y.txt").write_text("\n".join(y) + "\n")
    np.save(tmp_path / "Xt.npy", X[::5] + 0.05)
    (tmp_path / "yt.txt").write_text("\n".join(y[::5]) + "\n")
    return tmp_path


def test_cli_plain_files(files, capsys):
    out = files / "out"
    rc = main(["directprobe", "--vectors", str(files / "X.npy"), "--labels", str(files / "y.txt"),
               "--test-vectors", str(files / "Xt.npy"), "--test-labels", str(files / "yt.txt"),
               "--out", str(out), "--no-progress"])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n_clusters"] == 3 and s["n_labels"] == 3 and s["linear"] is True
    assert s["accuracy"] == 1.0
    clusters = np.loadtxt(out / "clusters.txt", dtype=int)
    assert clusters.shape == (90,) and len(np.unique(clusters)) == 3
    assert (out / "predictions.txt").read_text().split() == \
        (files / "yt.txt").read_text().split()
    assert len((out / "distance_vector.txt").read_text().split()) == 3
    assert not list(files.glob(".out.*"))  # no temporary folder left behind
    assert "3 clusters for 3 labels" in capsys.readouterr().out


@pytest.mark.parametrize("problem, message", [
    ("short_labels", "labels for 90 rows"),
    ("nan", "NaN or inf"),
    ("missing", "no such file"),
    ("empty_label", "empty label"),
])
def test_cli_user_errors(files, capsys, problem, message):
    X, labels = files / "X.npy", files / "y.txt"
    if problem == "short_labels":
        labels.write_text("A\nB\n")
    elif problem == "nan":
        A = np.load(X)
        A[4, 1] = np.nan
        np.save(X, A)
    elif problem == "missing":
        X = files / "nope.npy"
    elif problem == "empty_label":
        labels.write_text("A\n\nB\n")
    rc = main(["directprobe", "--vectors", str(X), "--labels", str(labels),
               "--out", str(files / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert not (files / "o").exists()


def _fake_entry(root, eid, X, labels, names):
    """A minimal store entry in the layout of ftprobe.represent.store."""
    d = root / eid
    d.mkdir(parents=True)
    (d / "manifest.json").write_text(json.dumps({"layers": [0, 1], "model": {"name": "fake"}}))
    np.save(d / "layer_00.npy", X * 0)
    np.save(d / "layer_01.npy", X)
    np.savez(d / "targets.npz", labels=np.asarray(labels, np.int64))
    (d / "labels.json").write_text(json.dumps(names))


def test_cli_store_entry(files, tmp_path):
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(20, 3)) + c for c in (0, 8)])
    lab = np.repeat([0, 1], 20)
    _fake_entry(tmp_path / "store", "abc123", X, lab, ["DET", "NOUN"])
    _fake_entry(tmp_path / "store", "def456", X[::4], lab[::4], ["DET", "NOUN"])
    out = tmp_path / "o"
    rc = main(["directprobe", "--store", str(tmp_path / "store"), "--entry", "abc",
               "--test-entry", "def", "--layer", "1", "--out", str(out), "--no-progress"])
    assert rc == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["n_clusters"] == 2 and s["linear"] and s["accuracy"] == 1.0
    assert s["labels"] == ["DET", "NOUN"]


def test_cli_resumes_a_stopped_fit_and_removes_its_state(tmp_path, monkeypatch, capsys):
    """A fit stopped in its merge phase leaves OUT/directprobe-state.npz; the same command run
    again resumes there (no decision made twice), writes what an uninterrupted run writes and
    removes the state. A state of other data is refused with one line (exit 2)."""

    import ftprobe.probe.directprobe.clustering as cl
    from ftprobe.cli.directprobe_commands import STATE_FILE
    from ftprobe.probe.directprobe import DirectProbe

    from .test_directprobe import _gap_data

    X, y = _gap_data(8)
    names = np.array(["A", "B", "C"])[y]  # sorted names: the CLI's label ids are y's
    np.save(tmp_path / "X.npy", X)
    (tmp_path / "y.txt").write_text("\n".join(names) + "\n")
    args = ["directprobe", "--vectors", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "y.txt"),
            "--no-progress"]
    assert main([*args, "--out", str(tmp_path / "whole")]) == 0

    class Stop(Exception):
        pass

    orig, calls = cl.MergeEngine.decide, []

    def step(self, lab, s, t):
        if len(calls) == 5:
            raise Stop
        calls.append(1)
        orig(self, lab, s, t)

    out = tmp_path / "resumed"
    out.mkdir()
    with monkeypatch.context() as m:
        m.setattr(cl.MergeEngine, "decide", step)
        with pytest.raises(Stop):
            DirectProbe().fit(X, y, n_labels=3, state_path=out / STATE_FILE, save_every=0)
    calls.clear()
    monkeypatch.setattr(cl.MergeEngine, "decide", lambda self, *a: (calls.append(1), orig(self, *a)))
    assert main([*args, "--out", str(out), "--progress"]) == 0
    assert "resuming from" in capsys.readouterr().err
    whole = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert len(calls) == whole["stats"]["merges"] + whole["stats"]["rejections"] - 5
    for name in ("clusters.txt", "cluster_labels.txt", "distance_vector.txt"):
        assert (out / name).read_text() == (tmp_path / "whole" / name).read_text()
    assert not (out / STATE_FILE).exists()

    other = tmp_path / "other"
    other.mkdir()
    DirectProbe().fit(X + 1.0, y, n_labels=3, state_path=other / STATE_FILE, save_every=0)
    assert main([*args, "--out", str(other)]) == 2
    err = capsys.readouterr().err
    assert "other data or settings" in err and "Traceback" not in err
