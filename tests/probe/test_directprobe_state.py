"""A DirectProbe fit stopped in its merge phase resumes from its saved state with the answer
of an uninterrupted fit (probe/directprobe/state.py)."""

from __future__ import annotations

import numpy as np
import pytest

import ftprobe.probe.directprobe.clustering as cl
from ftprobe.probe.directprobe import DirectProbe, Tuning
from ftprobe.probe.directprobe.state import SavedState, StateMismatch

from .test_directprobe import (
    _DATA,
    brute_force_clusters,
)


class Stop(Exception):
    pass


def _count_decisions(monkeypatch, stop_after: int | None = None) -> list:
    """Patch the engine to count its decisions (and raise Stop before decision stop_after + 1)."""
    calls = []
    orig = cl.MergeEngine.decide

    def step(self, lab, s, t):
        if stop_after is not None and len(calls) == stop_after:
            raise Stop
        calls.append(1)
        orig(self, lab, s, t)

    monkeypatch.setattr(cl.MergeEngine, "decide", step)
    return calls


# Wolfe capped: every solver check goes through the LPs, which are then kept and continued,
# so a state holds kept LPs (frozen when resumed).
LP_HEAVY = Tuning(wolfe_cap_min=1, wolfe_cap_per_dim=0)


@pytest.mark.parametrize("data", [("gap", 8), ("clumps", 5), ("random", 3)])
def test_a_stopped_fit_resumes_to_the_uninterrupted_answer(monkeypatch, tmp_path, data):
    kind, seed = data
    X, y = _DATA[kind](seed)
    with monkeypatch.context() as m:
        calls = _count_decisions(m)
        full = DirectProbe(tuning=LP_HEAVY).fit(X, y)
    total = len(calls)
    assert total == full.stats_.merges + full.stats_.rejections > 4
    np.testing.assert_array_equal(full.labels_, brute_force_clusters(X, y))
    kept_lps = 0
    for k in sorted({1, total // 2, total - 1}):
        state = tmp_path / f"{kind}-{k}.npz"
        with monkeypatch.context() as m:
            _count_decisions(m, stop_after=k)
            with pytest.raises(Stop):
                DirectProbe(tuning=LP_HEAVY).fit(X, y, state_path=state, save_every=0)
        saved = SavedState(state)
        assert saved.decisions == k  # saved after every decision (save_every=0)
        kept_lps += len(saved.z["lps.k"])
        with monkeypatch.context() as m:
            calls = _count_decisions(m)
            resumed = DirectProbe(tuning=LP_HEAVY).fit(X, y, state_path=state)
        assert len(calls) == total - k  # no decision made twice
        np.testing.assert_array_equal(resumed.labels_, full.labels_)
        assert resumed.stats_.resumed_at == k
        assert (resumed.stats_.merges, resumed.stats_.rejections) == (full.stats_.merges,
                                                                      full.stats_.rejections)
        assert state.exists()  # left for the caller to remove once its results are safe
    assert kept_lps > 0  # the states did carry kept LPs across the stop


def test_a_finished_state_gives_the_result_without_deciding_again(monkeypatch, tmp_path):
    X, y = _DATA["gap"](8)
    state = tmp_path / "s.npz"
    first = DirectProbe().fit(X, y, state_path=state, save_every=0)
    calls = _count_decisions(monkeypatch)
    again = DirectProbe().fit(X, y, state_path=state)
    assert calls == [] and again.stats_.resumed_at == first.stats_.merges + first.stats_.rejections
    np.testing.assert_array_equal(again.labels_, first.labels_)


def test_a_state_of_other_inputs_is_refused(tmp_path):
    X, y = _DATA["gap"](8)
    state = tmp_path / "s.npz"
    DirectProbe().fit(X, y, state_path=state, save_every=0)
    for X2, y2, tol in [(X + 1e-3, y, None), (X, y[::-1].copy(), None), (X, y, 1e-5)]:
        with pytest.raises(StateMismatch, match="other data or settings"):
            DirectProbe(tol=tol).fit(X2, y2, state_path=state)
    bad = tmp_path / "bad.npz"
    bad.write_text("not a state")
    with pytest.raises(StateMismatch, match="not a DirectProbe state file"):
        DirectProbe().fit(X, y, state_path=bad)


def test_a_state_of_an_older_ftprobe_is_refused_with_a_clear_message(tmp_path):
    X, y = _DATA["gap"](8)
    state = tmp_path / "s.npz"
    DirectProbe().fit(X, y, state_path=state, save_every=0)
    arrays = dict(np.load(state, allow_pickle=False))
    for old in ({**arrays, "format": np.int64(1)},
                {k: v for k, v in arrays.items() if k != "format"}):
        np.savez(state, **old)
        with pytest.raises(StateMismatch, match="written by an older ftprobe .*refit"):
            DirectProbe().fit(X, y, state_path=state)


def test_state_files_hold_plain_arrays_only(tmp_path):
    X, y = _DATA["clumps"](5)
    state = tmp_path / "s.npz"
    DirectProbe().fit(X, y, state_path=state, save_every=0)
    z = np.load(state, allow_pickle=False)
    for k in z.files:
        assert z[k].dtype != object, k  # reading every array without pickles succeeds
    assert not list(tmp_path.glob("*.tmp*"))  # written under a temporary name, then renamed


def test_a_linear_set_writes_no_state(tmp_path):
    rng = np.random.default_rng(0)
    X = np.concatenate([rng.normal(size=(20, 3)) + 10, rng.normal(size=(20, 3)) - 10])
    y = np.r_[np.zeros(20, int), np.ones(20, int)]
    dp = DirectProbe().fit(X, y, state_path=tmp_path / "s.npz", save_every=0)
    assert dp.linear_ and not (tmp_path / "s.npz").exists()


def test_study_steps_resume_their_directprobe_fits(monkeypatch, tmp_path):
    """The study's DirectProbe steps keep the state in their work folder (left in place by an
    interrupted run): a rerun resumes the fit, and the state is removed once fitted."""
    from ftprobe.study.dp_fits import fit_directprobe

    X, y = _DATA["gap"](8)
    plain = DirectProbe(tuning=LP_HEAVY).fit(X, y, n_labels=3)
    state = tmp_path / "directprobe-state.npz"
    with monkeypatch.context() as m:
        _count_decisions(m, stop_after=6)
        with pytest.raises(Stop):
            fit_directprobe(X, y, {"tuning": LP_HEAVY}, 3, state, save_every=0)
    assert SavedState(state).decisions == 6
    calls = _count_decisions(monkeypatch)
    dp = fit_directprobe(X, y, {"tuning": LP_HEAVY}, 3, state, save_every=0)
    assert dp.stats_.resumed_at == 6
    assert len(calls) == plain.stats_.merges + plain.stats_.rejections - 6
    np.testing.assert_array_equal(dp.labels_, plain.labels_)
    assert not state.exists()
