"""The DirectProbe output folder (probe.directprobe.output.write_results): one format for
DirectProbe.save and the CLI, checked against hand-computed hull distances and read back by load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftprobe.probe.directprobe import DirectProbe
from ftprobe.probe.directprobe.output import write_results

SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
# Three unit squares on a line: hull gaps 2 (A-B), 6 (B-C), 9 (A-C).
X = np.concatenate([SQUARE, SQUARE + [3.0, 0.0], SQUARE + [10.0, 0.0]])
Y = np.repeat([0, 1, 2], 4)
NAMES = ["A", "B", "C"]


@pytest.fixture(scope="module")
def fitted():
    return DirectProbe(min_cluster_size=0).fit(X, Y)


def _table(path):
    return [line.split("\t") for line in path.read_text().splitlines()]


def test_the_folder_holds_the_hand_computed_answer(fitted, tmp_path):
    pred = fitted.predict(np.array([[0.5, 0.5], [12.0, 0.5]]))
    summary = write_results(fitted, tmp_path / "out", label_names=NAMES, predictions=pred,
                           extra={"fit_seconds": 1.5})
    out = tmp_path / "out"
    assert np.loadtxt(out / "clusters.txt", dtype=int).tolist() == fitted.labels_.tolist()
    rows = _table(out / "cluster_labels.txt")
    assert sorted((name, int(n)) for _, name, n in rows) == [("A", 4), ("B", 4), ("C", 4)]
    tsv = _table(out / "label_distances.tsv")
    assert tsv[0] == ["", "A", "B", "C"]
    L = np.array([[float(v) for v in row[1:]] for row in tsv[1:]])
    assert L[0, 1] == pytest.approx(2) and L[1, 2] == pytest.approx(6) and L[0, 2] == pytest.approx(9)
    np.testing.assert_allclose(np.load(out / "label_distances.npy"), L, rtol=1e-8)
    assert np.loadtxt(out / "distance_vector.txt") == pytest.approx([2, 9, 6])
    assert {k: float(v) for k, v in _table(out / "min_distances.tsv")} == pytest.approx({"A": 2, "B": 2, "C": 6})
    assert (out / "predictions.txt").read_text() == "A\nC\n"
    # spread: mean distance of a unit square's corners to its centre
    assert np.loadtxt(out / "spread.txt") == pytest.approx([np.sqrt(0.5)] * 3)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == summary
    assert on_disk["labels"] == NAMES and on_disk["fit_seconds"] == 1.5
    assert on_disk["n_clusters"] == 3 and on_disk["linear"] is True


def test_model_arrays_round_trip_and_are_optional(fitted, tmp_path):
    write_results(fitted, tmp_path / "model", distances=False)
    back = DirectProbe.load(tmp_path / "model")
    Xt = np.array([[0.2, 0.3], [3.5, 0.5], [9.0, 2.0], [6.0, 0.0]])
    assert back.predict(Xt).tolist() == fitted.predict(Xt).tolist()
    assert back.labels_.tolist() == fitted.labels_.tolist()
    assert not (tmp_path / "model" / "label_distances.tsv").exists()
    assert _table(tmp_path / "model" / "cluster_labels.txt")[0][1] in {"0", "1", "2"}  # numbers by default

    write_results(fitted, tmp_path / "plain", label_names=NAMES, model=False, distances=False)
    assert not (tmp_path / "plain" / "points.npy").exists()


def test_save_is_the_same_writer(fitted, tmp_path):
    fitted.save(tmp_path / "saved")
    write_results(fitted, tmp_path / "direct", distances=False)
    for name in ("clusters.txt", "cluster_labels.txt", "spread.txt"):
        assert (tmp_path / "saved" / name).read_bytes() == (tmp_path / "direct" / name).read_bytes()
    np.testing.assert_array_equal(np.load(tmp_path / "saved" / "points.npy"), X)


def test_summary_is_written_last_and_a_failure_leaves_none(fitted, tmp_path):
    """summary.json present means the folder is complete: an unwritable summary leaves none."""
    with pytest.raises(TypeError):
        write_results(fitted, tmp_path / "out", label_names=NAMES, extra={"bad": object()})
    assert (tmp_path / "out" / "clusters.txt").is_file()
    assert not (tmp_path / "out" / "summary.json").exists()
    assert not [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_wrong_number_of_names_is_refused(fitted, tmp_path):
    with pytest.raises(ValueError, match="label_names: 2 names for 3 labels"):
        write_results(fitted, tmp_path / "out", label_names=["A", "B"])
