"""Identical points of one label folded into one weighted point: the partition of the definition.

Folding is exact only where the definition merges the copies first and keeps them together:
these tests build sets with many repeated vectors (as a contextless layer has), vectors shared
by two labels (never folded) and copies within tol of another label's point (never folded), and
compare with the brute-force definition and with the engine run without folding.
"""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.probe.directprobe import DirectProbe, Tuning
from ftprobe.probe.directprobe.clustering import find_frozen, scale_data
from ftprobe.probe.directprobe.definition import reference_partition
from ftprobe.probe.directprobe.identical import fold_identical

from .test_directprobe_digests import _vectors

NO_FOLD = Tuning(fold_identical=False)


def _repeated(seed: int, n_vectors: int = 20, dim: int = 3, n_labels: int = 3, n_rows: int = 60):
    """Rows drawn from a few distinct vectors, each occurrence with a label: many copies of one
    label, some vectors under two labels (like a word with two tags at a contextless layer)."""
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((n_vectors, dim))
    usual = rng.integers(0, n_labels, n_vectors)  # the label a vector mostly carries
    pick = rng.integers(0, n_vectors, n_rows)
    y = usual[pick].copy()
    other = rng.random(n_rows) < 0.05
    y[other] = rng.integers(0, n_labels, other.sum())
    return V[pick].copy(), y


@pytest.mark.parametrize("seed", range(6))
def test_folded_fit_is_the_definitions_partition(seed):
    X, y = _repeated(seed)
    dp = DirectProbe().fit(X, y)
    assert dp.stats_.identical_folded > 0  # the set has copies to fold
    assert np.array_equal(dp.labels_, reference_partition(X, y).labels)
    plain = DirectProbe(tuning=NO_FOLD).fit(X, y)
    assert plain.stats_.identical_folded == 0
    assert np.array_equal(dp.labels_, plain.labels_)
    assert (dp.stats_.merges, dp.stats_.rejections) == (plain.stats_.merges, plain.stats_.rejections)


def test_copies_of_a_vector_under_two_labels_stay_singletons():
    X = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [3.0, 0.0], [3.0, 1.0], [0.0, 3.0]])
    y = np.array([0, 0, 1, 0, 0, 1])
    dp = DirectProbe().fit(X, y)
    # the three copies at the origin carry two labels: each is a cluster of its own
    assert len(set(dp.labels_[:3].tolist())) == 3
    assert np.array_equal(dp.labels_, reference_partition(X, y).labels)
    Xs, unit = scale_data(X)
    folded = fold_identical(Xs, y, find_frozen(Xs, y), 1e-6 * unit)
    assert folded is None  # nothing else repeats


def test_copies_within_tol_of_another_label_are_not_folded():
    """Two copies of label 0 a hair (below tol) from a point of label 1: their union meets it,
    so by the definition they stay apart; folding them would merge them."""
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1e-9, 0.0], [2.0, 2.0], [2.0, -2.0], [-2.0, 2.0]])
    y = np.array([0, 0, 1, 0, 1, 1])
    ref = reference_partition(X, y).labels
    assert ref[0] != ref[1]  # the definition keeps the copies apart
    dp = DirectProbe().fit(X, y)
    assert np.array_equal(dp.labels_, ref)
    assert dp.stats_.identical_folded == 0


def test_folding_keeps_each_copy_in_its_groups_cluster_and_counts_weights():
    X, y = _repeated(3)
    Xs, unit = scale_data(X)
    folded = fold_identical(Xs, y, find_frozen(Xs, y), 1e-6 * unit)
    assert folded is not None
    # kept rows ascend, and each row's kept row has its vector and label
    assert np.all(np.diff(folded.kept) > 0)
    assert np.array_equal(X[folded.kept][folded.index], X)
    assert np.array_equal(y[folded.kept][folded.index], y)
    assert folded.weight.sum() == len(X) and folded.n_folded == len(X) - len(folded.kept)
    # a kept row is the first of its group (the representative order is the full set's)
    assert np.all(folded.kept[folded.index] <= np.arange(len(X)))


def test_a_real_contextless_layer_folds_with_the_same_partition():
    """MiniLM's layer 0 on EWT words: repeated words at the same position share a vector."""
    X, y = _vectors(0, 32)
    dp = DirectProbe().fit(X, y)
    plain = DirectProbe(tuning=NO_FOLD).fit(X, y)
    assert dp.stats_.identical_folded > 50
    assert np.array_equal(dp.labels_, plain.labels_)


def test_a_series_over_folded_states_is_fresh_fits_and_uses_its_prior():
    """Consecutive states of a contextless layer fold the same copies: the prior (full-set rows)
    is translated to the folded rows and back, and every state is a fresh fit."""
    X0, y = _vectors(0, 16)
    rng = np.random.default_rng(1)
    turn = np.eye(16) + 1e-3 * rng.standard_normal((16, 16))  # a linear map keeps copies identical
    spaces = [X0, X0 @ turn, X0 @ turn @ turn]
    fits = DirectProbe().fit_series(spaces, y)
    for X, dp in zip(spaces, fits, strict=True):
        assert dp.stats_.identical_folded > 0
        plain = DirectProbe(tuning=NO_FOLD).fit(X, y)
        assert np.array_equal(dp.labels_, plain.labels_)
    later = fits[1].stats_
    assert later.prior_plane + later.prior_overlap > 0
    # the prior handed on names rows of the full set
    prior = fits[1].prior_
    assert prior.n_rows == len(y) and len(prior.cluster_of) == len(y)
    assert all(int(r) < len(y) for u, c in prior.cluster_witness.get(next(iter(prior.cluster_witness), (0, 0)), [])
               for r in np.concatenate([u, c]))


def test_distances_and_predictions_read_each_hull_once():
    """Repeating rows changes no hull: on a linear space (one cluster per label whatever the
    weights) the fit with every row repeated gives the distances and predictions of the fit
    without repeats."""
    rng = np.random.default_rng(5)
    centres = 6.0 * rng.standard_normal((4, 8))
    y = np.repeat(np.arange(4), 30)
    X = centres[y] + rng.standard_normal((120, 8))
    again = rng.integers(0, 120, 200)  # 200 more copies of random rows
    Xr, yr = np.vstack([X, X[again]]), np.concatenate([y, y[again]])
    test = centres[rng.integers(0, 4, 50)] + 1.5 * rng.standard_normal((50, 8))
    once, twice = DirectProbe().fit(X, y), DirectProbe().fit(Xr, yr)
    assert once.n_clusters_ == twice.n_clusters_ == 4
    np.testing.assert_allclose(twice.cluster_distances_, once.cluster_distances_, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(twice.predict(test), once.predict(test))
