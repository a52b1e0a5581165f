"""The store's row writer: scattered batches land in the right rows of an ordinary .npy."""

import numpy as np
import pytest

from ftprobe.represent.writer import BackgroundWorker, LayerWriter, RowRuns


def test_row_runs_split_unsorted_rows_into_consecutive_runs():
    runs = RowRuns(np.array([7, 8, 9, 2, 3, 11, 10]))
    # in batch order: 7 8 9 | 2 3 | 11 | 10
    assert runs.first.tolist() == [7, 2, 11, 10]
    assert (runs.stop - runs.start).tolist() == [3, 2, 1, 1]
    assert RowRuns(np.zeros(0, np.int64)).first.tolist() == []
    with pytest.raises(ValueError, match="twice"):
        RowRuns(np.array([1, 2, 1]))


def test_scattered_batches_equal_a_dense_assignment(tmp_path):
    rng = np.random.default_rng(0)
    n, d = 257, 5
    expected = np.zeros((n, d), np.float32)
    w = LayerWriter(tmp_path / "layer.npy", (n, d), "float32", create=True)
    perm = rng.permutation(n)
    for start in range(0, n, 40):  # batches of scattered rows, partly consecutive
        rows = np.sort(perm[start:start + 40])[::-1] if start % 80 else perm[start:start + 40]
        vals = rng.normal(size=(len(rows), d)).astype(np.float32)
        w.write(RowRuns(rows), vals)
        expected[rows] = vals
    w.sync()
    w.close()
    got = np.load(tmp_path / "layer.npy", mmap_mode="r")
    np.testing.assert_array_equal(got, expected)
    # reopening for a resume keeps what is there and checks the header
    w2 = LayerWriter(tmp_path / "layer.npy", (n, d), "float32", create=False)
    w2.write(RowRuns(np.array([0])), np.full((1, d), 9, np.float32))
    w2.close()
    assert np.load(tmp_path / "layer.npy")[0].tolist() == [9.0] * d
    with pytest.raises(ValueError, match="expected"):
        LayerWriter(tmp_path / "layer.npy", (n, d + 1), "float32", create=False)


def test_writer_converts_dtype_and_checks_shape(tmp_path):
    w = LayerWriter(tmp_path / "h.npy", (4, 2), "float16", create=True)
    w.write(RowRuns(np.array([3, 1])), np.array([[1.5, 2.5], [3.5, 4.5]]))
    with pytest.raises(ValueError, match="shape"):
        w.write(RowRuns(np.array([0])), np.zeros((2, 2)))
    w.close()
    got = np.load(tmp_path / "h.npy")
    assert got.dtype == np.float16
    assert got[3].tolist() == [1.5, 2.5] and got[1].tolist() == [3.5, 4.5]
    assert got[0].tolist() == [0.0, 0.0]


def test_background_worker_runs_in_order_and_reraises():
    seen = []
    worker = BackgroundWorker(depth=1)
    for i in range(5):
        worker.submit(seen.append, i)
    worker.drain()
    assert seen == [0, 1, 2, 3, 4]

    def boom():
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):  # at the next submit or at the drain
        worker.submit(boom)
        worker.submit(seen.append, 99)  # skipped: an earlier job failed
        worker.drain()
    worker.close()
    assert 99 not in seen
