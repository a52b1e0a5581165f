"""A series of fits (fit_series, fit(prior=...)): each state's partition is a fresh fit's.

The prior of one fit offers the next its planes and overlaps as candidates; a candidate must
be verified on the new points or be ignored. The series below moves from a space to a slightly
moved copy (most candidates hold), to a rotated copy and to another layer (most fail), and every
state must give exactly the partition of a fit without a prior: the digests of
test_directprobe_digests for the real layers, a fresh fit for the others.
"""

from __future__ import annotations

import numpy as np
import pytest

from ftprobe.probe.directprobe import DirectProbe, SeriesPrior

from .test_directprobe_digests import DIGESTS, LP_PATHS, _digest, _vectors


@pytest.fixture(scope="module")
def series():
    X6, y = _vectors(6, 16)
    X0, y0 = _vectors(0, 16)
    assert np.array_equal(y, y0)
    rng = np.random.default_rng(0)
    moved = X6 + 1e-3 * X6.std() * rng.standard_normal(X6.shape)
    rotation, _ = np.linalg.qr(rng.standard_normal((16, 16)))
    spaces = [X6, moved, moved @ rotation, X0]
    return spaces, y, DirectProbe().fit_series(spaces, y)


def test_every_state_is_a_fresh_fit(series):
    spaces, y, fits = series
    assert _digest(fits[0].labels_) == DIGESTS[(6, 16)][0]
    assert _digest(fits[3].labels_) == DIGESTS[(0, 16)][0]
    for X, dp in zip(spaces, fits, strict=True):
        fresh = DirectProbe().fit(X, y)
        assert np.array_equal(dp.labels_, fresh.labels_)
        assert np.array_equal(dp.cluster_label_, fresh.cluster_label_)
        assert (dp.stats_.merges, dp.stats_.rejections) == (fresh.stats_.merges, fresh.stats_.rejections)


def test_candidates_are_used_where_they_hold_and_rejected_where_not(series):
    _, _, fits = series
    first, moved, rotated, other_layer = (f.stats_ for f in fits)
    assert first.prior_plane == first.prior_overlap == first.prior_rejected == 0  # no prior
    # a slightly moved copy: the first fit's planes prove most of the solvers' separations, and
    # where its hulls met (the solvers' common pairs and corrals) most of the overlaps
    assert moved.prior_plane + moved.prior_overlap > moved.prior_rejected
    assert moved.lp_sep + moved.solver_sep < (first.lp_sep + first.solver_sep) / 2
    assert moved.lp_overlap + moved.solver_overlap < (first.lp_overlap + first.solver_overlap) / 2
    # rotated: the moved copy's planes point elsewhere; they were tried and failed
    assert rotated.prior_rejected > rotated.prior_plane
    assert other_layer.prior_rejected > 0


def test_a_prior_of_other_rows_or_labels_is_refused():
    X, y = _vectors(6, 16)
    prior = DirectProbe().fit(X[:300], y[:300], keep_prior=True).prior_
    assert isinstance(prior, SeriesPrior) and "300 rows" in repr(prior)
    with pytest.raises(ValueError, match="other rows or labels"):
        DirectProbe().fit(X[:301], y[:301], prior=prior)
    y2 = y[:300].copy()
    y2[[0, 1]] = y2[[1, 0]] if y2[0] != y2[1] else (y2[0], (y2[1] + 1) % (y.max() + 1))
    with pytest.raises(ValueError, match="other rows or labels"):
        DirectProbe().fit(X[:300], y2, prior=prior)


def test_without_keep_prior_nothing_is_kept():
    X, y = _vectors(6, 16)
    assert DirectProbe().fit(X[:200], y[:200]).prior_ is None


def test_overlaps_where_the_previous_fit_met_prove_rejections():
    """With every solver check through the LPs (whose overlaps carry their common pair), the
    moved copy's rejections are proved where the first fit's hulls met: no LP needed."""
    X, y = _vectors(6, 16)
    moved = X + 1e-3 * X.std() * np.random.default_rng(0).standard_normal(X.shape)
    first, second = DirectProbe(tuning=LP_PATHS).fit_series([X, moved], y)
    assert second.stats_.prior_overlap > 0
    assert second.stats_.lp_overlap < first.stats_.lp_overlap / 2
    assert np.array_equal(second.labels_, DirectProbe().fit(moved, y).labels_)
