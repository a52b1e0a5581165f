"""DirectProbe clustering: centroid-linkage merges with hull-disjointness checks
(docs/directprobe.md; its plain form is :mod:`.definition`).

Semantics (the brute-force definition, reproduced exactly):
- start with one cluster per point; candidates are same-label pairs ordered by the Euclidean
  distance of their means, one global order across labels;
- ties in that distance are broken by the pair's representatives (the smallest row index in each
  cluster): the pair (a, b), a < b, with the smaller a first, then the smaller b;
- the closest candidate is merged if the union's hull is disjoint from the hull of every current
  cluster of another label, otherwise the pair is dropped for good; stop when no candidate is left.

"Disjoint" means hull distance > ``tol`` on the internally scaled data (in units of the RMS norm of the centred data);
hulls closer than that count as meeting. This is the only tolerance in the procedure.

What makes it fast without changing the answer:
- a label whose points are disjoint from every other label's points never has a merge rejected
  and never causes a rejection, so it ends as one cluster without simulation; if every label is
  like that the space is "linear" and no merge is replayed at all;
- a pair of labels that is disjoint needs no check between their clusters;
- a rejected pair (A, B) also rejects every later pair (A' ⊇ A, B' ⊇ B), because the overlapping
  cluster of the other label only grows; rejections are inherited by merged clusters instead of
  being re-tested;
- identical points with different labels overlap from the start, so no union containing one of
  them can ever pass: such points stay singletons ("frozen") and are not candidates;
- the nearest partner of every cluster is kept exactly (exact distances, same tie rule), but
  found without a pass over the whole label where possible: each cluster caches its K nearest
  partners from its last search, so a cluster whose partner merged looks only at its cache and
  at the clusters changed since; full searches and the union's own search are pruned by lower
  bounds (projected distances, then the norm expansion) and share one pass with the screen
  for the clusters the union is now nearest to (see ``merge_order.NearestPartners``);
- checks use certificates before any optimisation, each of which proves hull distance > tol:
  slabs (exact min/max of every cluster's projections on PCA axes and on one Fisher direction
  per conflicting label pair, merged by min/max), bounding spheres in a 1-Lipschitz projection
  and in full space, separating hyperplanes cached per cluster pair and re-verified on the new
  points only; then the exact nearest-point solver (hull.py), which returns either a verified
  separating hyperplane or an explicit pair of points closer than tol. Its iterations are
  capped: pairs it leaves undecided (hulls nearly touching in many dimensions, where Wolfe
  crawls) go to a max-margin LP (a dense dual simplex) with constraint generation
  (margin_lp.decide_distance), which answers only with the same two kinds of verified
  certificates; if it cannot, the uncapped solver runs from the LP's working set (retried once
  from scratch if it stalls numerically, then NNLS on working sets, overlap.nnls_decide,
  with the same certificates), with the soft-margin LP (separability.separate) as the last
  fallback, reached only when no certificate holds, i.e. the distance is within float noise
  of tol. A pair that needed the LP is decided again, when either cluster grows,
  by continuing the LP (if the tuning asks, first by turning its optimal plane to take in
  the new points, planes.pivoted_plane), from its vertex, new rows only, pruned to
  the rows nearest its plane; the solvers run on the clusters that met a union of either part
  before first, so that a merge headed for rejection meets its cluster early; a rejected merge
  gives the LPs its check continued back as they were, and one the LP rejected after Wolfe's
  cap leaves the points of its common pair as the surviving pairs' support (their next check
  starts from the LP, with the union's small piece in its first working set); an LP built in a rejected merge's check
  is kept for its bigger part, the piece's rows deleted. Kept LPs beyond a live budget are
  frozen (rows and basis inverse given back, the basis kept) and rebuilt when continued;
- the next pair is the smallest of the candidates' pairs with their nearest partners, found
  again after each decision only in the label it changed (one pass of numpy, no heap); a
  slot whose partner merged keeps a lower bound and is looked up only when it might be next.

The parts (each owns its state and saves its own arrays): the merge order
(``merge_order.NearestPartners``: slots, nearest-partner caches, rejections, the next pair), cluster
membership (``membership.Membership``), what checks leave for later
(``certificates.Certificates``), the decision cascade (``cascade.Cascade``, with
``cascade.hulls_disjoint``), the label-pair phase (``label_pairs``); :class:`MergeEngine`
composes them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ftprobe.probe.directprobe import state as saved_state
from ftprobe.probe.directprobe.cascade import Cascade
from ftprobe.probe.directprobe.certificates import Certificates
from ftprobe.probe.directprobe.coincident import vector_ids
from ftprobe.probe.directprobe.counters import ClusterStats
from ftprobe.probe.directprobe.identical import FoldedPoints, fold_identical
from ftprobe.probe.directprobe.label_pairs import certificate_directions, label_conflicts
from ftprobe.probe.directprobe.membership import Membership
from ftprobe.probe.directprobe.merge_order import NearestPartners
from ftprobe.probe.directprobe.prior import PriorIndex, PriorRecorder, SeriesPrior
from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning

log = logging.getLogger(__name__)

__all__ = ["ClusterStats", "MergeEngine", "directprobe_clusters", "find_frozen",
           "label_conflicts", "scale_data"]


def scale_data(X: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale by a power of two near 1/RMS norm of the centred data; return (Xs, unit).

    A power of two is exact in float64, so centroid distances keep their exact order and ties
    (the merge order is the same as on the raw data); ``unit`` is the RMS norm of the centred,
    scaled data, the length that ``tol`` is relative to.
    """
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(0)
    sq = np.empty(len(X))
    step = max(1, (1 << 16) // max(X.shape[1], 1))  # centred a block of rows at a time, not a copy
    for r in range(0, len(X), step):
        c = X[r : r + step] - mean
        sq[r : r + step] = np.einsum("ij,ij->i", c, c)
    rms = float(np.sqrt(np.mean(sq))) if len(X) else 0.0
    if not np.isfinite(rms) or rms == 0.0:
        return X.copy(), 1.0
    f = 2.0 ** -round(np.log2(rms))
    return X * f, rms * f


def find_frozen(Xs: np.ndarray, y: np.ndarray, vec: np.ndarray | None = None) -> np.ndarray:
    """Rows whose exact vector also occurs with another label (they overlap from the start);
    ``vec``: ``vector_ids(Xs)`` if already computed."""
    inv = vector_ids(Xs) if vec is None else vec
    order = np.lexsort((y, inv))
    g, lab = inv[order], y[order]
    first = np.r_[True, g[1:] != g[:-1]]
    start = np.flatnonzero(first)
    # A group is mixed if its first and last labels differ (labels sorted within the group).
    end = np.r_[start[1:], len(g)] - 1
    mixed_groups = g[start][lab[start] != lab[end]]
    return np.isin(inv, mixed_groups)


class MergeEngine:
    """The checked centroid-linkage process over the labels that have conflicts.

    May assume: ``Xs`` is scaled (``scale_data``) and ``tol`` is in its units; ``conflict``
    holds exactly the label pairs whose hulls meet; ``frozen`` rows share their point with
    another label. Guarantees: the decisions of the definition (docs/directprobe.md), in its
    order, every one certified (a verified plane or two hull points within tol); none depends
    on ``tuning`` or ``jobs``. It composes the parts: the merge order (``order``: slots,
    nearest partners, rejections, the next pair), cluster membership (``members``), what checks leave
    for later (``certs``) and the decision cascade (``cascade``). Its public steps (``start``,
    ``loop``, ``decide``) are where tests watch it."""

    def __init__(self, Xs: np.ndarray, y: np.ndarray, rows_by_label: dict[int, np.ndarray],
                 conflict: np.ndarray, frozen: np.ndarray, tol: float, stats: ClusterStats,
                 progress: Callable[[int], None] | None, jobs: int = 1,
                 tuning: Tuning = DEFAULT_TUNING, prior: PriorIndex | None = None,
                 recorder: PriorRecorder | None = None, weight: np.ndarray | None = None):
        self.X = Xs
        self.y = y
        self.tuning = tuning
        self.jobs = max(1, int(jobs))  # BLAS threads for the initial searches' products
        self.stats = stats
        self.progress = progress
        self.labels = sorted(rows_by_label)
        eng_rows = np.concatenate([rows_by_label[k] for k in self.labels])
        proj, slab_dirs, first_dir = certificate_directions(Xs, y, eng_rows, rows_by_label,
                                                            conflict, tuning.proj_dims)
        self.proj = proj
        self.order = NearestPartners(Xs, rows_by_label, self.labels, frozen, proj, slab_dirs,
                                     tuning, stats, weight)
        self.members = Membership(Xs)
        self.certs = Certificates(Xs.shape[1], tuning, stats)
        self.certs.recorder = recorder  # overlaps found, for the next fit of a series
        self.cascade = Cascade(Xs, tol, self.labels, conflict, self.order.slots, self.members,
                               self.certs, proj, first_dir, tuning, stats, prior, recorder)

    def run(self) -> None:
        self.start()
        self.loop()

    def start(self) -> None:
        """Every candidate's first nearest-partner search (before the first decision)."""
        # The initial searches are large matrix products, the one part of the merge phase that
        # spreads over threads; the sequence of merges itself is one process.
        with _blas_threads(self.jobs):
            for lab in self.labels:
                cand = np.flatnonzero(self.order.slots[lab].cand)
                if len(cand) >= 2:
                    t0 = time.perf_counter()
                    self.order.search_batch(lab, cand)
                    self._tick("neighbours_start", t0)

    def loop(self) -> None:
        """The merge decisions, in the global order, until no candidate pair is left."""
        order = self.order
        while (nxt := order.next_pair.next(order.slots)) is not None:
            lab, s = nxt
            D = order.slots[lab]
            t = int(D.nn[s])  # next_pair gives only slots with a partner
            a, b = int(D.rows[s]), int(D.rows[t])
            if b in order.rej.pairs.get(a, ()):  # cannot happen (NN skips rejected); keep it safe
                order.renn(lab, [s])
                continue
            self.decide(lab, s, t)
            if self.progress is not None:
                self.progress(1)

    def decide(self, lab: int, s: int, t: int) -> None:
        """Decide the candidate pair (slots s, t of label lab): merge it if the union passes
        the cascade's ``check_union``, else reject it for good; then update the merge order."""
        order = self.order
        D = order.slots[lab]
        a, b = int(D.rows[s]), int(D.rows[t])
        u = D.union_shape(s, t, self.proj)
        ok, planes = self.cascade.check_union(lab, s, t, u)
        if not ok:
            self.stats.rejections += 1
            order.rej.add(a, b)
            t0 = time.perf_counter()
            order.renn(lab, (s, t))
            self._tick("neighbours", t0)
            return
        self.stats.merges += 1
        keep_s, drop_s = (s, t) if a < b else (t, s)
        keep_id = min(a, b)
        # What the caches of s and t tell about the union (read before the merge changes them):
        # (slot, distance its centroid moves to the union's, its last change time).
        moved = [(s, u.moves[0], int(D.chg[s])), (t, u.moves[1], int(D.chg[t]))]
        self.members.merge(a, b, keep_id)
        D.merge(keep_s, drop_s, u)
        # Planes: the old ones of a and b are stale; the verified new ones replace them.
        self.certs.merged(a, b, keep_id, planes)
        self.stats.inherited_rejections += order.rej.inherit(a, b, keep_id)
        t0 = time.perf_counter()
        order.after_merge(lab, s, t, keep_s, moved)
        self._tick("neighbours", t0)
        order.maybe_compact(lab)

    def _tick(self, key: str, t0: float) -> None:
        sec = self.stats.seconds
        sec[key] = sec.get(key, 0.0) + (time.perf_counter() - t0)

    def clusters(self) -> dict[int, np.ndarray]:
        """Rows of every current cluster, by its id (representative row)."""
        out = {}
        for lab in self.labels:
            D = self.order.slots[lab]
            for s in np.flatnonzero(D.alive):
                cid = int(D.rows[s])
                out[cid] = self.members.rows(cid)
        return out

    # -- saved state: each part's own arrays (the file itself: .state) ------------------------
    def state_arrays(self) -> dict[str, np.ndarray]:
        """The whole merge state between two decisions, as plain arrays."""
        return {"stats": np.array(json.dumps(vars(self.stats))), **self.order.state_arrays(),
                **self.members.state_arrays(), **self.certs.arrays()}

    def load_state(self, z) -> None:
        """Put back what :meth:`state_arrays` saved (an engine built for the same inputs)."""
        self.stats.__dict__.update(json.loads(str(z["stats"])))
        self.order.load_state(z)
        self.members.load_state(z)
        self.certs.load(z)


def directprobe_clusters(X: np.ndarray, y: np.ndarray, n_labels: int | None = None,
                         tol: float = 1e-6, progress: bool = False, jobs: int = 1,
                         state_path=None, save_every: float = 600.0,
                         tuning: Tuning = DEFAULT_TUNING, prior: SeriesPrior | None = None,
                         recorder: PriorRecorder | None = None):
    """Run the clustering; returns (cluster id per row, cluster label, linear flag, stats).

    Cluster ids are 0..C-1 in the order of each cluster's smallest row index. ``jobs``:
    processes for the label-pair phase and BLAS threads for the initial nearest-partner
    searches (the merge phase is sequential by definition). ``tuning``: the engine's caps and
    switches (:class:`.tuning.Tuning`; the answer does not depend on them).

    ``state_path``: a file where the merge phase's progress is saved (after its first searches,
    then every ``save_every`` seconds of work, between two decisions; see :mod:`.state`). If
    it exists, the fit resumes from it, skipping the label pairs and every decision already
    made, with the same result as an uninterrupted fit; a state written for other inputs is
    refused (state.StateMismatch, a ValueError). The file is left in place: the caller
    removes it once the results are safe.

    ``prior``: what the previous fit of a series proved (:mod:`.prior`), tried first in every
    check and verified there (the result is the same without it); ``recorder``: collects what
    this fit proves, for the next.
    """
    # One BLAS thread but where the work is large products (the first searches, ``jobs``
    # threads): the rest is many small products, which extra threads only slow down, and on a
    # machine whose cores are busy a spinning BLAS thread made a fit 18x slower (bench/directprobe).
    with _blas_threads(1):
        return _directprobe_clusters(X, y, n_labels, tol, progress, jobs, state_path, save_every,
                                     tuning, prior, recorder)


@dataclass
class _Rows:
    """The rows the engine fits: the scaled data, with each label's identical points folded
    into one weighted row (identical.py) unless ``tuning.fold_identical`` is off."""

    Xs: np.ndarray
    y: np.ndarray
    frozen: np.ndarray  # rows whose exact vector also carries another label: singletons
    tol: float  # in the scaled data's units
    weight: np.ndarray | None = None  # copies per kept row (folded)
    folded: FoldedPoints | None = None
    prior: PriorIndex | None = None
    recorder: PriorRecorder | None = None  # records the fitted rows (folded: translated at the end)

    @classmethod
    def of(cls, X, y: np.ndarray, tol: float, tuning: Tuning, prior: SeriesPrior | None,
           recorder: PriorRecorder | None, stats: ClusterStats) -> _Rows:
        Xs, unit = scale_data(X)
        tol = tol * unit
        vec = vector_ids(Xs)
        frozen = find_frozen(Xs, y, vec)
        stats.frozen_points = int(frozen.sum())
        # Identical points of one label merge first by the definition: fold them into one weighted
        # point, fit the kept rows, and give every copy its kept row's cluster.
        folded = fold_identical(Xs, y, frozen, tol, vec) if tuning.fold_identical else None
        rows = cls(Xs, y, frozen, tol, recorder=recorder)
        if folded is not None:
            stats.identical_folded = folded.n_folded
            if prior is not None:
                prior.check_fits(y)
                prior = folded.prior(prior, y[folded.kept])
            rows = cls(Xs[folded.kept], y[folded.kept], frozen[folded.kept], tol, folded.weight, folded,
                       recorder=PriorRecorder() if recorder is not None else None)
        if prior is not None:
            prior.check_fits(rows.y)
            rows.prior = PriorIndex(prior, tol, tuning.probe_points, stats)
        return rows


class _Saver:
    """Saves the merge phase's state between two decisions, every ``every`` seconds of work."""

    def __init__(self, path, every: float, conflict: np.ndarray, fingerprint: str):
        self.path, self.every, self.conflict, self.fingerprint = path, every, conflict, fingerprint
        self.decisions = 0
        self.saved_at = time.perf_counter()

    def save(self, eng: MergeEngine) -> None:
        saved_state.save_state(eng, self.path, self.decisions, self.conflict, self.fingerprint)
        self.saved_at = time.perf_counter()

    def due(self) -> bool:
        return time.perf_counter() - self.saved_at >= self.every


# A fit of at least this many values (rows x dims) gives its memory back when it ends.
GIVE_BACK_MIN_VALUES = 1 << 20


def give_back_memory() -> None:
    """Collect the merge phase's reference cycles (the engine's parts point at each other, and
    hold its LPs and caches) and hand the freed heap back to the OS (glibc's ``malloc_trim``;
    elsewhere only the collection), so that what runs next (distances, prediction, the next
    fit of a study) starts from the memory the fit keeps, not from its peak: PUD POS layer 6
    (16,857 x 384) holds 751 MiB after its fit, 428 MiB after this. A full collection costs
    tens of milliseconds, hence only after big fits."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _directprobe_clusters(X, y, n_labels, tol, progress, jobs, state_path, save_every, tuning,
                          prior, recorder):
    t0 = time.perf_counter()
    y_full = np.asarray(y, dtype=np.int64)
    if n_labels is None:
        n_labels = int(y_full.max()) + 1 if len(y_full) else 0
    stats = ClusterStats()
    rows = _Rows.of(X, y_full, tol, tuning, prior, recorder, stats)
    fp, saved = None, None
    if state_path is not None:
        fp = saved_state.fingerprint(X, y_full, rows.tol, n_labels,
                                     folded=rows.folded is not None)
        if Path(state_path).exists():
            saved = saved_state.SavedState(state_path)
            if saved.fingerprint != fp or saved.conflict is None:
                raise saved_state.StateMismatch(
                    f"{state_path}: saved by a fit of other data or settings; remove it to start over")
    stats.seconds["prepare"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    if saved is not None:
        conflict = saved.conflict
    else:
        bar = _bar(progress, n_labels * (n_labels - 1) // 2, "label pairs")
        conflict = label_conflicts(rows.Xs, rows.y, n_labels, rows.tol, stats, bar.update if bar else None, jobs,
                                   tuning, rows.prior, rows.recorder)
        if bar:
            bar.close()
        stats.seconds["label_pairs"] = time.perf_counter() - t1
    involved = np.flatnonzero(conflict.any(1))
    rep = np.full(len(rows.y), -1, np.int64)  # representative row per row
    for k in sorted(set(range(n_labels)) - set(involved.tolist())):  # a label that meets none: one cluster
        label_rows = np.flatnonzero(rows.y == k)
        if len(label_rows):
            rep[label_rows] = label_rows.min()
    t2 = time.perf_counter()
    if len(involved):
        saver = _Saver(state_path, save_every, conflict, fp) if state_path is not None else None
        for cid, members in _merge_phase(rows, involved, conflict, stats, progress, jobs, tuning, saver,
                                         saved).items():
            rep[members] = cid
    stats.seconds["merge"] = time.perf_counter() - t2  # this process's (a resumed fit's: since)
    if rows.Xs.size >= GIVE_BACK_MIN_VALUES:
        give_back_memory()
    folded = rows.folded
    if folded is not None:  # every copy takes its kept row's cluster, named by full-set rows
        rep = folded.expand(folded.kept[rep])
        # each folded copy of a label the merge phase ran for is one merge of the definition
        stats.merges += int(np.isin(y_full, involved).sum() - np.isin(rows.y, involved).sum())
        if recorder is not None:
            folded.record_into(rows.recorder, recorder)
    reps, labels_ = np.unique(rep, return_inverse=True)
    if recorder is not None:
        recorder.cluster_of = labels_.astype(np.int64)
    stats.seconds["total"] = time.perf_counter() - t0
    return labels_.astype(np.int64), y_full[reps], not conflict.any(), stats


def _merge_phase(rows: _Rows, involved: np.ndarray, conflict: np.ndarray, stats: ClusterStats, progress,
                 jobs: int, tuning: Tuning, saver: _Saver | None,
                 saved: saved_state.SavedState | None) -> dict[int, np.ndarray]:
    """The merge procedure on the labels whose hulls meet another label's (``involved``), from
    the start or from a saved state; cluster id (its smallest row) -> its rows."""
    rows_by_label = {int(k): np.flatnonzero(rows.y == k) for k in involved}
    n_eng = sum(int((~rows.frozen[r]).sum()) for r in rows_by_label.values())
    # merges out of the most there can be (rejections, which do not count, can outnumber
    # the merges late in a big set, so decisions would run past any fixed total)
    bar = _bar(progress, max(n_eng - 1, 0), "merges")

    def step(k: int) -> None:
        if bar:
            bar.update(stats.merges - bar.n)
        if saver is not None:
            saver.decisions += k
            if saver.due():
                saver.save(eng)

    eng = MergeEngine(rows.Xs, rows.y, rows_by_label, conflict, rows.frozen, rows.tol, stats, step, jobs=jobs,
                      tuning=tuning, prior=rows.prior, recorder=rows.recorder, weight=rows.weight)
    if saved is not None:
        decisions = stats.resumed_at = saved_state.restore_engine(eng, saved)
        if saver is not None:
            saver.decisions = decisions
        if bar:
            bar.update(stats.merges)
    else:
        eng.start()
        if saver is not None:
            saver.save(eng)
    eng.loop()
    if bar:
        bar.close()
    return eng.clusters()


def _blas_threads(n: int):
    """Let BLAS use ``n`` threads inside the block (no change without threadpoolctl); the
    caller's setting is restored after it."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def _bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="", leave=False, mininterval=1.0)
