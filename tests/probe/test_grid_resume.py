"""An interrupted probe protocol resumes from its finished grid chunks and ends with the numbers
of an uninterrupted run (``run_protocol(..., resume_dir=...)``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ftprobe.errors import UserError
from ftprobe.probe import ProbeProtocol, run_protocol

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _layers(seed: int, n: int = 400):
    """Layer 0 carries the labels (close classes, so the settings differ), layer 1 is noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    X = (np.eye(4, 8)[y] * 1.0 + rng.uniform(-0.5, 0.5, size=(n, 8))).astype(np.float32)
    noise = np.random.default_rng(seed + 10).normal(size=X.shape).astype(np.float32)
    return {0: X, 1: noise}, y


# 4 hidden shapes x 2 L2 weights x 2 layers: 8 chunks of 2 probes on a CPU
SMALL = ProbeProtocol(hidden_sizes=(16, 32), l2=(1e-4, 1e-1), seeds=3, max_iter=60, patience=5,
                      batch_size=32, device="cpu", schedule="chunks")


class Stop(Exception):
    pass


def _run(protocol, resume_dir=None, stop_at=None, seen=None, data_seed=0):
    tr, ytr = _layers(data_seed)
    te, yte = _layers(data_seed + 1)

    def report(phase, done, total):
        if seen is not None:
            seen.append((phase, done))
        if stop_at is not None and phase == "probe grid" and done >= stop_at:
            raise Stop

    return run_protocol(tr, ytr, te, yte, protocol=protocol, n_labels=4, progress=False, report=report,
                        resume_dir=resume_dir)


def _numbers(res):
    return {k: (r.grid, r.best_hidden, r.best_l2, r.dev_accuracy, r.accuracies, r.n_iter)
            for k, r in res.layers.items()}


@pytest.mark.parametrize("search", ["grid", "halving"])
def test_a_resumed_protocol_ends_with_the_uninterrupted_numbers(tmp_path, search):
    protocol = dataclasses.replace(SMALL, search=search, halving_r0=2, halving_eta=2)
    whole = _run(protocol)
    folder = tmp_path / "grid"
    # stopped once layer 0's chunks are done (its best model saved) and part of layer 1's: the
    # halving search trains a layer as one chunk, so it stops after layer 0
    stop_at = 8 if search == "halving" else 10
    with pytest.raises(Stop):
        _run(protocol, folder, stop_at=stop_at)
    assert (folder / "best-0.safetensors").is_file()
    seen = []
    resumed = _run(protocol, folder, seen=seen)
    grid_reports = [done for phase, done in seen if phase == "probe grid"]
    assert grid_reports[0] == stop_at  # the finished chunks were restored, not trained again
    assert _numbers(resumed) == _numbers(whole)
    # the settings really differ, so restoring the wrong model or score could not go unseen
    assert len({row["dev_accuracy"] for row in whole.layers[0].grid}) > 1


def test_a_grid_folder_of_other_data_is_refused(tmp_path):
    folder = tmp_path / "grid"
    with pytest.raises(Stop):
        _run(SMALL, folder, stop_at=2)
    with pytest.raises(UserError, match="other data or settings"):
        _run(SMALL, folder, data_seed=5)
    with pytest.raises(UserError, match="other data or settings"):
        _run(dataclasses.replace(SMALL, seeds=2), folder)
