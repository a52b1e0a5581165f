"""A series' DirectProbe fits: the same summaries in order (with priors) or side by side in
spawned processes, each equal to a plain fit, and a rerun fits only what is missing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ftprobe.data import load_task
from ftprobe.data.samples import sample_path
from ftprobe.probe.directprobe import DirectProbe
from ftprobe.represent import Store, extract, load_encoder
from ftprobe.study.dp_fits import SeriesFit, SeriesFits, run_series_fits


@pytest.fixture(scope="module")
def stored(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    enc = load_encoder(str(tiny_bert), device="cpu")
    # 16 sentences: small enough for quick fits, enough for spaces that are not linear (merges
    # are rejected, so the in-order run's priors have something to carry)
    task = load_task("pos", sample_path("ewt"), max_sentences=16)
    # two points of one series: the same rows and labels, other vectors (as two checkpoints give)
    entries = [extract(enc, task, "dev", Store(root), batch_size=16, progress=False, word_pooling=pooling)
               for pooling in ("mean", "first")]
    assert entries[0].id != entries[1].id
    return root, entries, tuple(task.labels)


def _run(stored, work, processes, done=None):
    root, entries, labels = stored
    work.mkdir(exist_ok=True)
    fits = SeriesFits(str(root), str(work), {"min_cluster_size": 1}, labels, centroid_layers=(2,))
    todo = [SeriesFit(i, layer, e.id) for i, e in enumerate(entries) for layer in (1, 2)]
    reports = []
    run_series_fits(fits, todo, processes, lambda d, t: reports.append((d, t)))
    return fits, todo, reports


def test_in_order_and_side_by_side_give_the_plain_fits(stored, tmp_path):
    root, entries, labels = stored
    a, todo, reports = _run(stored, tmp_path / "a", 1)
    b, _, _ = _run(stored, tmp_path / "b", 2)
    assert reports[0] == (0, 4) and reports[-1] == (4, 4)
    not_linear = 0
    for fit in todo:
        sa = json.loads(a.result_path(fit).read_text())
        assert sa == json.loads(b.result_path(fit).read_text())
        if fit.layer == 2:  # centroids only where asked
            np.testing.assert_array_equal(np.load(a.centroid_path(fit)), np.load(b.centroid_path(fit)))
        else:
            assert not a.centroid_path(fit).exists() and not b.centroid_path(fit).exists()
        entry = entries[fit.point]
        plain = DirectProbe(min_cluster_size=1).fit(np.asarray(entry.layer(fit.layer), np.float64),
                                                    entry.labels, n_labels=len(labels))
        assert sa["n_clusters"] == plain.n_clusters_
        not_linear += plain.n_clusters_ > len(np.unique(entry.labels))
        got = np.array([[np.nan if v is None else v for v in row] for row in sa["label_distances"]])
        np.testing.assert_allclose(got, plain.label_distances(), rtol=1e-9, equal_nan=True)
    assert not_linear == len(todo)


def test_a_rerun_fits_only_what_is_missing(stored, tmp_path):
    fits, todo, _ = _run(stored, tmp_path / "w", 2)
    stamps = {f: fits.result_path(f).stat().st_mtime_ns for f in todo}
    gone = todo[1]
    fits.result_path(gone).unlink()
    _, _, reports = _run(stored, tmp_path / "w", 2)
    assert reports[0] == (3, 4) and reports[-1] == (4, 4)
    assert fits.result_path(gone).is_file()
    assert all(fits.result_path(f).stat().st_mtime_ns == stamps[f] for f in todo if f != gone)


@pytest.mark.parametrize("stale", ["damaged", "other data"])
def test_a_stale_saved_state_costs_the_progress_not_the_fit(tmp_path, capsys, stale):
    from ftprobe.study.dp_fits import fit_directprobe

    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(0, 1, (30, 3)), rng.normal(0.5, 1, (30, 3))]
    y = np.repeat([0, 1], 30)
    state = tmp_path / "directprobe-state-000-L0.npz"
    if stale == "damaged":
        state.write_bytes(b"not a state")
    else:  # progress saved by a fit of other points (left in place by DirectProbe.fit)
        DirectProbe().fit(X[::-1].copy(), y, n_labels=2, state_path=state, save_every=0.0)
    assert state.exists()
    dp = fit_directprobe(X, y, {}, 2, state)
    fresh = DirectProbe().fit(X, y, n_labels=2)
    assert np.array_equal(dp.labels_, fresh.labels_) and dp.n_clusters_ == fresh.n_clusters_
    assert not state.exists()
    assert "starting this fit over" in capsys.readouterr().err
