"""DirectProbe clustering: the nearest-partner bookkeeping of centroid linkage (per-slot caches
of the K nearest partners, projected lower bounds, compaction) gives exactly the merge order of
the definition, ties included.

The merge checks are replaced by a deterministic stub (a function of the pair and its size),
so that long merge sequences on data full of ties and duplicates can be compared step by step
with a naive implementation of the order: the globally closest valid same-label pair by the
exact squared distance of the centroids, ties by (smaller representative, larger
representative); rejected pairs inherited by unions; centroids updated as the engine does.
"""

from __future__ import annotations

import numpy as np
import pytest

import ftprobe.probe.directprobe.clustering as cl
from ftprobe.probe.directprobe import DirectProbe, Tuning
from ftprobe.probe.directprobe.cascade import Cascade
from ftprobe.probe.directprobe.merge_order import BAND, NearestPartners, NextPair
from ftprobe.probe.directprobe.slots import LabelSlots

from .test_directprobe import brute_force_clusters


def _decide(a: int, b: int, size: float, every: int) -> bool:
    """Stub check: reject about one pair in ``every``, decided by the pair and its size."""
    h = (a * 1_000_003 + b * 10_007 + int(size) * 101) * 2_654_435_761 % 2**32
    return h % every != 0


def _naive_sequence(X, y, frozen, every):
    """[(label, a, b, accepted)] of the definition's merge order under the stub check."""
    cent = {r: X[r].copy() for r in range(len(X)) if not frozen[r]}
    count = {r: 1.0 for r in cent}
    rej: dict[int, set[int]] = {}
    seq = []
    while True:
        best = None
        for lab in np.unique(y):
            reps = sorted(r for r in cent if y[r] == lab)
            if len(reps) < 2:
                continue
            C = np.stack([cent[r] for r in reps])
            R = np.array(reps)
            for i in range(len(reps) - 1):
                diff = C[i + 1 :] - C[i]
                e = np.einsum("ij,ij->i", diff, diff)
                rj = rej.get(reps[i], set())
                for j in np.lexsort((R[i + 1 :], e)):
                    if int(R[i + 1 + j]) in rj:
                        continue
                    key = (float(e[j]), reps[i], int(R[i + 1 + j]))
                    if best is None or key < best[0]:
                        best = (key, int(lab))
                    break
        if best is None:
            return seq
        (_, a, b), lab = best
        ok = _decide(a, b, count[a] + count[b], every)
        seq.append((lab, a, b, ok))
        if not ok:
            rej.setdefault(a, set()).add(b)
            rej.setdefault(b, set()).add(a)
            continue
        na, nb = count.pop(a), count.pop(b)
        cU = (na * cent.pop(a) + nb * cent.pop(b)) / (na + nb)
        cent[a], count[a] = cU, na + nb
        ru = (rej.pop(a, set()) | rej.pop(b, set())) - {a, b}
        for r in ru:
            rej[r] -= {a, b}
            rej[r].add(a)
        if ru:
            rej[a] = ru


def _engine_sequence(X, y, every, monkeypatch, k, compact, lb=True, **tuning):
    seq = []

    def check(self, lab, sa, sb, u):
        D = self.slots[lab]
        a, b = int(D.rows[sa]), int(D.rows[sb])
        ok = _decide(a, b, D.count[sa] + D.count[sb], every)
        seq.append((lab, a, b, ok))
        return ok, {}

    monkeypatch.setattr(Cascade, "check_union", check)
    Xs = np.asarray(X, np.float64)
    frozen = cl.find_frozen(Xs, y)
    labels = np.unique(y)
    conflict = np.ones((labels.max() + 1,) * 2, bool)
    rows = {int(k_): np.flatnonzero(y == k_) for k_ in labels}
    eng = cl.MergeEngine(Xs, y, rows, conflict, frozen, 1e-9, cl.ClusterStats(), None,
                     tuning=Tuning(nn_cache=k, compact_min=compact, **tuning))
    if not lb:
        eng.order.dist.lb_ok = False
    eng.run()
    return seq, frozen


def _tied_data(seed, n=240, d=6, n_labels=3):
    """Small-integer points: many equal distances, duplicates within and across labels."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 3, size=(n, d)).astype(np.float64)
    y = rng.integers(0, n_labels, n)
    src = rng.integers(0, n // 2, n - n // 2)
    X[n // 2 :] = X[src]  # half the rows repeat earlier ones, most with the same label
    y[n // 2 :] = np.where(rng.random(len(src)) < 0.9, y[src], y[n // 2 :])
    return X, y


@pytest.mark.parametrize(("seed", "k", "compact", "every", "lb"), [
    (0, 1, 4, 7, True),
    (1, 2, 8, 5, True),
    (2, 3, 4, 3, False),
    (3, 16, 2048, 11, True),
    (4, 1, 2048, 2, True),
])
def test_engine_order_equals_naive_order_with_ties(seed, k, compact, every, lb, monkeypatch):
    X, y = _tied_data(seed)
    seq, frozen = _engine_sequence(X, y, every, monkeypatch, k, compact, lb)
    assert frozen.any() and len(seq) > 100
    assert seq == _naive_sequence(X, y, frozen, every)


def _clumped_data(seed, n=400, d=40, n_labels=2):
    """Gaussian clumps in more dimensions than the projection, with some duplicates."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, d)) * 3
    X = centres[rng.integers(0, 8, n)] + rng.normal(size=(n, d))
    X[::17] = X[1::17][: len(X[::17])]
    return X, rng.integers(0, n_labels, n)


@pytest.mark.parametrize(("k", "every", "compact"), [(4, 6, 2048), (8, 3, 2048), (16, 9, 2048),
                                                     (16, 6, 16), (8, 6, 4)])
def test_union_partners_from_caches_give_the_naive_order(k, every, compact, monkeypatch):
    """Unions whose partners come from the merged slots' caches (triangle-inequality bounds
    instead of a pass over the label): still the definition's order, rejections included, also
    through repeated compactions (which renumber the caches' K-th entries, dead ones and the
    below-every-slot bound included)."""
    X, y = _clumped_data(k, n=360, d=24)
    stats = []
    orig = cl.MergeEngine.run

    def run(self):
        orig(self)
        stats.append(self.stats)

    monkeypatch.setattr(cl.MergeEngine, "run", run)
    seq, frozen = _engine_sequence(X, y, every, monkeypatch, k, compact)
    assert stats[0].nn_union_cached > 30
    assert seq == _naive_sequence(X, y, frozen, every)


def test_engine_order_equals_naive_order_continuous(monkeypatch):
    """Continuous data in more dimensions than the projection (the lower bounds prune)."""
    rng = np.random.default_rng(5)
    centres = rng.normal(size=(8, 40)) * 3
    X = centres[rng.integers(0, 8, 400)] + rng.normal(size=(400, 40))
    X[::17] = X[1::17][: len(X[::17])]  # some duplicates
    y = rng.integers(0, 2, 400)
    seq, frozen = _engine_sequence(X, y, 6, monkeypatch, 2, 16)
    assert seq == _naive_sequence(X, y, frozen, 6)


def _random_slots(rng, rows, n_dims=3):
    """A label's slots with random partners: small-integer distances (many ties), some slots
    without a partner (nn -1, a leftover distance that must be ignored), some non-candidates."""
    D = LabelSlots.singletons(np.zeros((rows.max() + 1, n_dims)), rows,
                              np.zeros(rows.max() + 1, bool), np.eye(n_dims), np.eye(n_dims), 2)
    _scramble(rng, D)
    return D


def _scramble(rng, D, truth=None):
    """Random partners (``truth``: where given, a third of the slots are shown lazy: a lower
    bound of their distance, any partner, and the real ones kept in ``truth``)."""
    n = len(D.rows)
    D.nn[:] = (np.arange(n) + rng.integers(1, max(n, 2), n)) % n
    D.nnd[:] = rng.integers(1, 4, n).astype(np.float64)
    D.nn[rng.random(n) < 0.2] = -1
    D.nnd[D.nn < 0] = np.inf
    D.cand[:] = rng.random(n) < 0.8
    D.lazy[:] = False
    if truth is not None:
        truth[:] = D.nn, D.nnd.copy()
        D.lazy[:] = (rng.random(n) < 0.3) & (D.nn >= 0)
        lz = np.flatnonzero(D.lazy)
        D.nnd[lz] -= rng.integers(0, 2, len(lz))  # a lower bound, sometimes the distance itself
        D.nn[lz] = rng.integers(-1, n, len(lz))  # a lazy slot's partner means nothing


@pytest.mark.parametrize("seed", range(5))
def test_next_pair_is_the_smallest_pair_of_the_current_partners(seed):
    """NextPair against the definition's order written out: the smallest (distance, smaller
    representative, larger one, label, slot) over candidate slots with a partner, while each
    step changes only the label it returned (a decision changes only its own label). Lazy
    slots show only a lower bound; NextPair must look up (``resolve``) every one that might
    come first, and may leave the others."""
    rng = np.random.default_rng(seed)
    perm = rng.permutation(60)
    slots = {lab: _random_slots(rng, np.sort(perm[lab::3])) for lab in range(3)}
    truth = {lab: [D.nn.copy(), D.nnd.copy()] for lab, D in slots.items()}
    for lab, D in slots.items():
        _scramble(rng, D, truth[lab])
    resolved = []

    def resolve(lab, S):
        D = slots[lab]
        assert D.lazy[S].all()
        D.nn[S], D.nnd[S], D.lazy[S] = truth[lab][0][S], truth[lab][1][S], False
        resolved.append(len(S))

    nxt = NextPair(list(slots), resolve)
    for _ in range(40):
        keys = [(float(nnd[s]), *sorted((int(D.rows[s]), int(D.rows[nn[s]]))), lab, s)
                for lab, D in slots.items() for nn, nnd in [truth[lab]]
                for s in range(len(D.rows)) if D.cand[s] and nn[s] >= 0]
        got = nxt.next(slots)
        assert got == (min(keys)[3:] if keys else None)
        if got is None:
            break
        _scramble(rng, slots[got[0]], truth[got[0]])
    assert sum(resolved) > 10  # lazy slots were looked up ...
    assert any(D.lazy[D.cand].any() for D in slots.values())  # ... and some never needed it


def test_next_pair_ties_by_representatives_then_slot():
    """By hand: equal distances go to the pair of the smaller representatives, then the
    smaller slot (the pair of mutual nearest partners is met from its first slot)."""
    D0 = _random_slots(np.random.default_rng(0), np.array([0, 3, 5, 8]))
    D1 = _random_slots(np.random.default_rng(1), np.array([1, 2, 4]))
    D0.cand[:] = D1.cand[:] = True
    D0.nn[:], D0.nnd[:] = [2, 3, 0, 1], 1.0  # pairs (0, 5) from slots 0 and 2, (3, 8) from 1, 3
    D1.nn[:], D1.nnd[:] = [1, 0, -1], [1.0, 1.0, 0.5]  # (1, 2); slot 2's 0.5 has no partner
    D0.lazy[:] = D1.lazy[:] = False
    slots = {0: D0, 1: D1}

    def resolve(lab, S):
        raise AssertionError("no lazy slot here")

    assert NextPair([0, 1], resolve).next(slots) == (0, 0)
    D0.cand[0] = False
    D0.nn[2] = 1  # (3, 5) now; (1, 2) of label 1 is smaller
    assert NextPair([0, 1], resolve).next(slots) == (1, 0)
    D1.nn[2] = 0  # (0.5, 1, 4): the distance comes first
    assert NextPair([0, 1], resolve).next(slots) == (1, 2)
    D0.cand[:] = D1.cand[:] = False
    assert NextPair([0, 1], resolve).next(slots) is None


def test_a_union_takes_lazy_slots_only_when_strictly_nearer():
    """By hand, after slots 1 and 3 merged into slot 1: an exact slot takes the union on a tie
    when the union's slot is smaller than its partner's, and keeps a smaller partner; a lazy
    slot (its distance only a lower bound) takes the union only when strictly nearer, since on
    a tie another partner at the same distance may come first; a slot that pointed at the dead
    slot 3 becomes lazy, its old distance kept as the bound."""
    rng = np.random.default_rng(0)
    X = rng.integers(0, 5, size=(9, 3)).astype(np.float64)
    eye = np.eye(3)
    order = NearestPartners(X, {0: np.arange(9)}, [0], np.zeros(9, bool), eye, eye,
                            Tuning(nn_cache=2), cl.ClusterStats())
    D = order.slots[0]
    D.alive[3] = D.cand[3] = False  # slot 3 merged into slot 1 (its centroid as it is)
    found = order.search(0, 1)  # the union's partners, as after_merge finds them
    e_u = {c: float(order.dist.exact(D.cent, np.array([c]), D.cent[1])[0]) for c in range(9)}
    D.nn[:], D.nnd[:], D.lazy[:] = 0, 50.0, False
    D.nn[4], D.nnd[4], D.lazy[4] = 2, e_u[4], True  # lazy (partner stale), bound = e to the union
    D.nn[5], D.nnd[5], D.lazy[5] = 0, e_u[5] + 1.0, True  # lazy, the union strictly nearer
    D.nn[6], D.nnd[6] = 2, e_u[6]  # exact, tied with the union, partner slot 2 > 1
    D.nn[7], D.nnd[7] = 0, e_u[7]  # exact, tied with the union, partner slot 0 < 1
    D.nn[8], D.nnd[8] = 3, 0.5 * e_u[8]  # pointed at the dead slot, the union farther
    order.update_neighbours(0, 1, 3, 1, found)
    assert (D.lazy[4], D.nnd[4]) == (True, e_u[4])
    assert (D.lazy[5], D.nn[5], D.nnd[5]) == (False, 1, e_u[5])
    assert (D.lazy[6], D.nn[6], D.nnd[6]) == (False, 1, e_u[6])
    assert (D.lazy[7], D.nn[7]) == (False, 0)
    assert (D.lazy[8], D.nnd[8]) == (True, 0.5 * e_u[8])
    assert all(e_u[c] > 0 for c in (4, 5, 6, 7, 8))  # no coincident points: the cases are real


@pytest.mark.parametrize(("k", "data"), [(2, "tied"), (8, "tied"), (6, "continuous"), (2, "offset")])
def test_cache_lookup_agrees_with_full_search(k, data, monkeypatch):
    """Mid-run, every candidate's cached answer equals a fresh full search from scratch, and
    a lazy candidate's bound is at most that search's distance (with K = 8 most unions take their partners from the merged slots' caches; with K = 2
    lookups screen many changed slots in float32, also where float32 cannot resolve the
    distances: a large common offset)."""
    if data == "continuous":
        X, y = _clumped_data(3, n=300, d=24, n_labels=3)
    else:
        X, y = _tied_data(9, n=200)
        if data == "offset":
            X = X * 1e-3 + 50.0
    Xs = X.astype(np.float64)
    frozen = cl.find_frozen(Xs, y)
    rows = {int(k): np.flatnonzero(y == k) for k in np.unique(y)}
    eng = cl.MergeEngine(Xs, y, rows, np.ones((3, 3), bool), frozen, 1e-9, cl.ClusterStats(), None,
                     tuning=Tuning(nn_cache=k))
    monkeypatch.setattr(Cascade, "check_union",
                        lambda self, lab, sa, sb, u: ((int(sa) + int(sb)) % 5 != 0, {}))
    calls = {"n": 0, "lazy": 0}
    orig = cl.MergeEngine.decide

    def step(self, lab, s, t):
        orig(self, lab, s, t)
        calls["n"] += 1
        if calls["n"] % 10:
            return
        order = self.order
        for lab_ in self.labels:
            D = order.slots[lab_]
            slots = np.flatnonzero(D.cand)
            got = (D.nn[slots].copy(), D.nnd[slots].copy())
            for s_ in slots.tolist():  # brute force: all valid partners, exact, tie -> slot
                ok = order.valid_partners(D, s_)
                idx = np.flatnonzero(ok)
                i = int(np.flatnonzero(slots == s_)[0])
                if len(idx) == 0:
                    assert D.lazy[s_] or D.nn[s_] == -1
                    continue
                e = order.dist.exact(D.cent, idx, D.cent[s_])
                j = np.lexsort((idx, e))[0]
                if D.lazy[s_]:
                    assert got[1][i] <= e[j]
                    calls["lazy"] += 1
                else:
                    assert (got[0][i], got[1][i]) == (idx[j], e[j])

    monkeypatch.setattr(cl.MergeEngine, "decide", step)
    # The union's bounds, however derived, never exceed the exact distance (up to the band).
    orig_union = NearestPartners.union_from_caches

    def union(self, lab, u, moved):
        found = orig_union(self, lab, u, moved)
        if found is not None:
            idx, bnd, band, e = found
            D = self.slots[lab]
            exact = self.dist.exact(D.cent, idx, D.cent[u])
            assert (bnd <= exact + band).all()
            done = ~np.isnan(e)
            np.testing.assert_array_equal(e[done], exact[done])
        return found

    monkeypatch.setattr(NearestPartners, "union_from_caches", union)
    eng.run()
    assert calls["n"] > 50 and calls["lazy"] > 20
    if k >= 6:
        assert eng.stats.nn_union_cached > 20  # the path under test was taken
    else:
        assert eng.stats.nn_screened > 20  # lookups that screened many changed slots


@pytest.mark.parametrize("seed", range(3))
def test_equals_brute_force_duplicates_small_cache(seed):
    """Real checks on data with many duplicates and ties, one cached partner per slot."""
    rng = np.random.default_rng(30 + seed)
    X = rng.integers(0, 4, size=(26, 3)).astype(np.float64)
    X[18:] = X[rng.integers(0, 18, 8)]
    y = rng.integers(0, 3, 26)
    dp = DirectProbe(tuning=Tuning(nn_cache=1, compact_min=4)).fit(X, y)
    np.testing.assert_array_equal(dp.labels_, brute_force_clusters(X, y))


def test_float32_screen_is_a_lower_bound():
    """The float32 norm expansion minus its rounding bound never exceeds the exact squared
    distance (up to the float64 band), even where float32 cannot resolve the distances (a large
    common offset, near-duplicates), and it stays within a few rounding bounds of it."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, 384)) * rng.uniform(0.01, 3, size=(300, 1)) + 40.0
    X[150:] = X[:150] + rng.normal(scale=1e-4, size=(150, 384))  # near-duplicates
    y = np.zeros(300, np.int64)
    eng = cl.MergeEngine(X, y, {0: np.arange(300)}, np.ones((1, 1), bool), np.zeros(300, bool),
                     1e-9, cl.ClusterStats(), None)
    dist, D = eng.order.dist, eng.order.slots[0]
    sq = D.sq
    for s in range(0, 300, 7):
        lb = dist.norm_bound(D, s)
        e = dist.exact(D.cent, np.arange(300), D.cent[s])
        band = BAND * (sq + sq[s])
        assert (lb <= e + band).all()
        assert (e - lb <= 3 * dist.f32_rel * (sq + sq[s]) + band).all()
        some = np.arange(s % 5, 300, 5)  # the bound for a subset (cache lookups screen so)
        assert (dist.norm_bound(D, s, some) <= e[some] + band[some]).all()
        np.testing.assert_allclose(dist.norm_bound(D, s, some), lb[some], rtol=0, atol=1e-9 * sq.max())


def test_engine_order_equals_naive_order_with_a_large_offset(monkeypatch):
    """Distances far below float32's resolution of the norms: the screens let through many
    candidates, the exact distances still decide (same order as the definition)."""
    X, y = _tied_data(6, n=200, d=6)
    X = X * 1e-3 + 50.0
    seq, frozen = _engine_sequence(X, y, 5, monkeypatch, 2, 8, lb=False)
    assert len(seq) > 100
    assert seq == _naive_sequence(X, y, frozen, 5)


def test_slots_saved_before_lazy_partners_load_exact_and_other_fields_stay_required():
    """A state written before lazy partners has no ``lazy`` array: its slots load with every
    partner exact; any other missing field is an error, not a default."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(6, 4))
    D = LabelSlots.singletons(X, np.arange(6), np.zeros(6, bool), np.eye(4)[:, :2], np.eye(4)[:, :2], 3)
    D.lazy[[1, 4]] = True
    saved = D.arrays("L0.")
    again = LabelSlots.from_arrays(saved, "L0.")
    assert again.lazy.tolist() == D.lazy.tolist()
    old = {k: v for k, v in saved.items() if k != "L0.lazy"}
    assert not LabelSlots.from_arrays(old, "L0.").lazy.any()
    with pytest.raises(KeyError):
        LabelSlots.from_arrays({k: v for k, v in saved.items() if k != "L0.nnd"}, "L0.")
