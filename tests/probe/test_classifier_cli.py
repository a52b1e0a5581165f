"""`ftprobe probe` on plain files and on a store: results.json, the table, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftprobe.cli.main import main

LABELS = ["ADJ", "NOUN", "VERB"]
FAST = ["--hidden-sizes", "8", "--l2", "1e-4", "--seeds", "2", "--batch-size", "32",
        "--max-iter", "60", "--patience", "3", "--threads", "1", "--no-progress"]


def write_split(tmp, name, n, seed, layers=2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    good = (np.eye(3, 6)[y] * 3 + rng.normal(0, 0.4, (n, 6))).astype(np.float32)
    X = np.stack([good] + [rng.normal(size=good.shape).astype(np.float32)] * (layers - 1))
    np.save(tmp / f"{name}.npy", X)
    (tmp / f"{name}.txt").write_text("\n".join(LABELS[v] for v in y) + "\n")
    (tmp / f"{name}.types").write_text("\n".join(f"w{v}" for v in rng.integers(0, 20, n)))
    return y


def files_args(tmp, test="test"):
    return ["probe", "--vectors", str(tmp / "train.npy"), "--labels", str(tmp / "train.txt"),
            "--test-vectors", str(tmp / f"{test}.npy"), "--test-labels", str(tmp / f"{test}.txt")]


def test_plain_files_end_to_end(tmp_path, capsys):
    write_split(tmp_path, "train", 400, 0)
    write_split(tmp_path, "test", 200, 1)
    out = tmp_path / "out"
    rc = main(files_args(tmp_path) + ["--types", str(tmp_path / "train.types"), "--test-types",
                                      str(tmp_path / "test.types"), "--control", "--probe",
                                      "mlp", "--out", str(out)] + FAST)
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    assert set(res["layers"]) == {"0", "1"}
    good, noise = res["layers"]["0"], res["layers"]["1"]
    assert good["accuracy"] > 0.95 and noise["accuracy"] < 0.5
    assert good["selectivity"] == pytest.approx(good["accuracy"] - good["control_accuracy_mean"])
    assert len(good["accuracies"]) == 2 and good["best_hidden"] == [8, 8]
    assert res["labels"] == LABELS and res["n_unseen_test"] == 0
    printed = capsys.readouterr().out
    assert "selectivity" in printed and "results.json" in printed


def test_standardize_flag_scales_the_features(tmp_path):
    write_split(tmp_path, "train", 400, 0)
    write_split(tmp_path, "test", 200, 1)
    for name in ("train", "test"):  # the labels' signal shrunk onto a large constant offset
        np.save(tmp_path / f"{name}.npy", (10.0 + 1e-3 * np.load(tmp_path / f"{name}.npy")).astype(np.float32))
    acc = {}
    for flag in ([], ["--standardize"]):
        out = tmp_path / f"out{len(flag)}"
        assert main(files_args(tmp_path) + ["--layers", "0", "--out", str(out)] + flag + FAST) == 0
        res = json.loads((out / "results.json").read_text())
        assert res["protocol"]["standardize"] is bool(flag)
        acc[bool(flag)] = res["layers"]["0"]["accuracy"]
    assert acc[True] > 0.9 and acc[False] < 0.6


def test_linear_mdl_single_layer_and_layer_choice(tmp_path):
    write_split(tmp_path, "train", 300, 0)
    write_split(tmp_path, "test", 100, 1)
    out = tmp_path / "o"
    rc = main(files_args(tmp_path) + ["--probe", "linear", "--mdl", "--layers", "0",
                                      "--out", str(out)] + FAST)
    assert rc == 0
    lay = json.loads((out / "results.json").read_text())["layers"]
    assert list(lay) == ["0"] and lay["0"]["compression"] > 1 and lay["0"]["best_hidden"] == []


def test_unseen_test_label_is_reported_and_counted_wrong(tmp_path):
    write_split(tmp_path, "train", 300, 0)
    write_split(tmp_path, "test", 100, 1)
    lines = (tmp_path / "test.txt").read_text().splitlines()
    lines[:10] = ["INTJ"] * 10
    (tmp_path / "test.txt").write_text("\n".join(lines))
    out = tmp_path / "o"
    assert main(files_args(tmp_path) + ["--probe", "linear", "--out", str(out)] + FAST) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["unseen_test_labels"] == {"INTJ": 10}
    assert res["layers"]["0"]["accuracy"] <= 0.9 + 1e-9


def bad_case(tmp, case):
    write_split(tmp, "train", 100, 0)
    write_split(tmp, "test", 50, 1)
    if case == "length":
        (tmp / "train.txt").write_text("\n".join(["NOUN"] * 99))
        return "99 labels"
    if case == "nan":
        X = np.load(tmp / "train.npy")
        X[0, 5, 2] = np.nan
        np.save(tmp / "train.npy", X)
        return "NaN or infinite"
    if case == "inf":
        X = np.load(tmp / "test.npy")
        X[1, 0, 0] = np.inf
        np.save(tmp / "test.npy", X)
        return "NaN or infinite"
    if case == "empty":
        np.save(tmp / "test.npy", np.zeros((2, 0, 6), np.float32))
        (tmp / "test.txt").write_text("")
        return "test.txt: no labels"
    if case == "missing":
        (tmp / "test.npy").unlink()
        return "no such file"
    if case == "blank line":  # a label left out mid-file would shift every label after it
        lines = (tmp / "train.txt").read_text().splitlines()
        (tmp / "train.txt").write_text("\n".join(lines[:3] + [" "] + lines[4:]) + "\n\n")
        return "train.txt:4: empty label"
    if case == "not utf-8":
        (tmp / "test.txt").write_bytes(b"NOUN\n\xff\n")
        return "test.txt: not valid utf-8 text"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["length", "nan", "inf", "empty", "missing", "blank line", "not utf-8"])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, case):
    message = bad_case(tmp_path, case)
    rc = main(files_args(tmp_path) + FAST)
    err = capsys.readouterr().err
    assert rc == 2
    assert message in err and "Traceback" not in err
    assert err.strip().count("\n") == 0


def test_no_input_is_an_error(capsys):
    assert main(["probe"]) == 2
    assert "--vectors" in capsys.readouterr().err


def test_from_a_store(tiny_bert, tmp_path, capsys):
    """A real (tiny) extraction into a store, then the probe on its train/dev/test entries."""
    from ftprobe.data import load_task
    from ftprobe.data.samples import sample_path
    from ftprobe.represent import Store, extract, load_encoder

    task = load_task("pos", sample_path("ewt"), max_sentences=30)
    enc = load_encoder(str(tiny_bert), device="cpu")
    store = Store(tmp_path / "store")
    for split in task.splits:
        extract(enc, task, split, store, batch_size=8, progress=False)
    out = tmp_path / "o"
    rc = main(["probe", "--store", str(tmp_path / "store"), "--task", "pos", "--layers", "0",
               "-1", "--control", "--out", str(out)] + FAST)
    assert rc == 0
    res = json.loads((out / "results.json").read_text())
    n_layers = len(store.entries()[0].layers)
    assert set(res["layers"]) == {"0", str(n_layers - 1)}
    assert res["dev_source"] == ("dev" if "dev" in task.splits else res["dev_source"])
    assert res["n_test"] == len(task.split("test"))
    assert res["labels"] == task.labels
    assert all(v["selectivity"] is not None for v in res["layers"].values())
    # a task that is not in the store: one clear line, exit 2
    assert main(["probe", "--store", str(tmp_path / "store"), "--task", "dep"] + FAST) == 2
    assert "no entry for task 'dep'" in capsys.readouterr().err


@pytest.mark.parametrize("choice, message", [
    ("x", "--layers: expected 'all' or layer numbers"),
    ("3", "--layers: layer 3 out of range 0..2"),
])
def test_layer_choice_is_read_by_the_shared_resolver(tmp_path, capsys, choice, message):
    """--layers goes through represent.resolve_layers: negatives count back from the last layer
    the inputs hold, a bad choice is one line naming the option (exit 2)."""
    write_split(tmp_path, "train", 120, 0, layers=3)
    write_split(tmp_path, "test", 60, 1, layers=3)
    out = tmp_path / "o"
    assert main(files_args(tmp_path) + ["--probe", "linear", "--layers", "0", "-1", "--out", str(out)] + FAST) == 0
    assert list(json.loads((out / "results.json").read_text())["layers"]) == ["0", "2"]
    capsys.readouterr()
    assert main(files_args(tmp_path) + ["--probe", "linear", "--layers", choice, "--out", str(out)] + FAST) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_grid_resume_folder_is_used_then_removed(tmp_path, capsys):
    """--out keeps the grid's finished chunks in OUT/grid.partial while the run is under way (a
    run stopped there resumes from it: tests/probe/test_grid_resume.py) and removes it at the
    end; a folder left by a run on other data is refused, naming it."""
    write_split(tmp_path, "train", 200, 0)
    write_split(tmp_path, "test", 100, 1)
    out = tmp_path / "out"
    stale = out / "grid.partial"
    stale.mkdir(parents=True)
    (stale / "fingerprint.json").write_text('{"format": 1, "fingerprint": "another run"}')
    assert main(files_args(tmp_path) + ["--out", str(out)] + FAST) == 2
    err = capsys.readouterr().err
    assert "grid.partial" in err and "other data or settings" in err and "Traceback" not in err
    assert not (out / "results.json").exists()
    (stale / "fingerprint.json").unlink()
    assert main(files_args(tmp_path) + ["--out", str(out)] + FAST) == 0
    assert (out / "results.json").is_file() and not stale.exists()
