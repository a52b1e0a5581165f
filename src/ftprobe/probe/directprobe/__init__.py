"""DirectProbe (Zhou & Srikumar, NAACL 2021), exact and fast; defined in docs/directprobe.md.

>>> dp = DirectProbe().fit(X, y)
>>> dp.n_clusters_, dp.linear_, dp.label_distances(), dp.score(X_test, y_test)

Clustering semantics and tie-breaking are documented in :mod:`.clustering`; hull distances are
exact nearest-point computations with certified bounds (:mod:`.hull`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from ftprobe.probe.directprobe.clustering import ClusterStats, directprobe_clusters
from ftprobe.probe.directprobe.coincident import vector_ids
from ftprobe.probe.directprobe.measures import (
    label_distance_matrix,
    pair_distance,
    pair_distances,
    spread,
    upper_triangle,
)
from ftprobe.probe.directprobe.nearest import NearestHullSettings, nearest_hull_batched
from ftprobe.probe.directprobe.output import write_results
from ftprobe.probe.directprobe.prior import PriorRecorder, SeriesPrior
from ftprobe.probe.directprobe.progress import bar
from ftprobe.probe.directprobe.tuning import DEFAULT_TUNING, Tuning

__all__ = ["DirectProbe", "SeriesPrior", "Tuning", "pearson_similarity"]

DEFAULT_TOL = 1e-6


class DirectProbe:
    """Cluster a labelled space as DirectProbe does and measure it.

    Parameters
    ----------
    min_cluster_size: clusters with at most this many points are left out of the distance
        analysis (label distances, min distances), as the reference does with 5.
    tol: hulls closer than ``tol`` (in units of the data's RMS norm after centring) count as
        meeting; default 1e-6.
    progress: show progress bars on long runs (fit, distances, prediction; on stderr).
    jobs: processes for the label-pair phase (forked; 1 = in this process), and BLAS threads
        for the merge phase's initial nearest-partner searches (large matrix products). The
        merge phase is one global sequence and stays in this process; the answer is the same
        for any value.
    tuning: the engine's caps, thresholds and switches (:class:`Tuning`); none changes the
        answer, only how each decision is reached.
    device: where nearest-hull prediction computes its bounds ("auto": a CUDA GPU when one
        is present); the predictions do not depend on it.
    """

    def __init__(self, min_cluster_size: int = 5, tol: float | None = None,
                 progress: bool = False, jobs: int = 1, tuning: Tuning = DEFAULT_TUNING,
                 device: str = "auto"):
        self.min_cluster_size = int(min_cluster_size)
        self.tol = DEFAULT_TOL if tol is None else float(tol)
        self.progress = progress
        self.tuning = tuning
        self.jobs = int(jobs)  # cores to use where work splits (same answer for any value)
        self.device = device

    def __repr__(self) -> str:
        head = f"DirectProbe(min_cluster_size={self.min_cluster_size}, tol={self.tol:g}, jobs={self.jobs})"
        if not hasattr(self, "n_clusters_"):
            return head + ", not fitted"
        return (f"{head}, fitted: {self.n_clusters_} clusters for {len(set(np.asarray(self.cluster_label_).tolist()))}"
                f" labels, {'linear' if self.linear_ else 'not linear'}")

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X, y, n_labels: int | None = None, *, prior: SeriesPrior | None = None,
            keep_prior: bool = False, state_path=None, save_every: float = 600.0) -> DirectProbe:
        """Cluster (X, y). ``state_path``: save the merge phase's progress there every
        ``save_every`` seconds and resume from it if it exists (same result as one
        uninterrupted fit; a state of other inputs raises ValueError); remove it when done.

        A series (the same rows and labels at the next checkpoint or layer): ``keep_prior``
        keeps what this fit proved as ``prior_`` (a :class:`SeriesPrior`), and ``prior`` offers
        an earlier fit's to this one: its planes and overlaps are tried first in every check
        and verified on this fit's points, so the partition is the one a fit without it gives.
        """
        X = np.ascontiguousarray(X, dtype=np.float64)
        y = np.asarray(y)
        _validate(X, y)
        y = y.astype(np.int64)
        if n_labels is None:
            n_labels = int(y.max()) + 1
        recorder = PriorRecorder() if keep_prior else None
        self.labels_, self.cluster_label_, linear, stats = directprobe_clusters(
            X, y, n_labels=n_labels, tol=self.tol, progress=self.progress, jobs=self.jobs,
            state_path=state_path, save_every=save_every, tuning=self.tuning, prior=prior,
            recorder=recorder,
        )
        self.prior_ = recorder.finish(y) if recorder is not None else None
        self.stats_: ClusterStats = stats
        self.n_labels_ = int(n_labels)
        self.n_clusters_ = int(len(self.cluster_label_))
        # Linear: one cluster per label, i.e. every label pair separable (labels absent from y
        # do not count).
        present = np.unique(y)
        self.linear_ = bool(self.n_clusters_ == len(present))
        self._linear_pairs = linear
        self._X = X
        self._dist_cache: dict[tuple[int, int], float] = {}
        self._cdist = None
        self._setup_groups()
        return self

    def fit_series(self, spaces, y, n_labels: int | None = None) -> list[DirectProbe]:
        """One fit per space of ``spaces`` (the same rows and labels ``y`` in each: the states of
        a fine-tuning run, or neighbouring layers), each offered the one before's proofs
        (``fit(prior=...)``): every fit's partition is the one it would have alone. Returns
        a fitted copy of this probe's settings per space; this one is left unfitted."""
        out, prior = [], None
        for X in spaces:
            dp = DirectProbe(self.min_cluster_size, self.tol, self.progress, self.jobs, self.tuning,
                             self.device)
            dp.fit(X, y, n_labels, prior=prior, keep_prior=True)
            prior = dp.prior_
            out.append(dp)
        return out

    def _setup_groups(self):
        order = np.argsort(self.labels_, kind="stable")
        bounds = np.searchsorted(self.labels_[order], np.arange(self.n_clusters_ + 1))
        self.cluster_sizes_ = np.diff(bounds)
        # A hull is that of its distinct points: the distances and the prediction read each
        # vector of a cluster once (a contextless layer repeats many), at its first row. Only
        # these are kept: a second copy of every cluster's rows would be the fit's memory again.
        vec = vector_ids(self._X)
        first = np.zeros(len(vec), bool)
        first[np.unique(self.labels_ * (int(vec.max()) + 1) + vec, return_index=True)[1]] = True
        self._hulls = [self._X[rows[first[rows]]] for rows in np.split(order, bounds[1:-1])]

    def _check_fitted(self):
        if not hasattr(self, "labels_"):
            raise RuntimeError("DirectProbe is not fitted; call fit(X, y) first")

    # -- distances ---------------------------------------------------------------------------
    def cluster_distance(self, i: int, j: int) -> float:
        """Exact hull distance between clusters i and j (original units)."""
        self._check_fitted()
        if i == j:
            return 0.0
        key = (min(i, j), max(i, j))
        d = self._dist_cache.get(key)
        if d is None:
            d = self._dist_cache[key] = pair_distance(
                self._hulls[key[0]], self._hulls[key[1]], self._scale(), self.tuning)
        return d

    def _scale(self) -> float:
        return float(np.sqrt((self._X.std(0) ** 2).sum())) or 1.0

    def _fill_distances(self, pairs: list[tuple[int, int]]) -> None:
        """Solve the pairs not cached yet, all at once (``jobs`` processes, progress bar)."""
        todo = sorted({(min(i, j), max(i, j)) for i, j in pairs if i != j} - set(self._dist_cache))
        pbar = bar(self.progress, len(todo), "hull distances", "pair")
        d = pair_distances(self._hulls, todo, self._scale(), jobs=self.jobs,
                           progress=pbar.update if pbar else None, tuning=self.tuning)
        if pbar:
            pbar.close()
        self._dist_cache.update(zip(todo, d.tolist(), strict=True))

    @property
    def cluster_distances_(self) -> np.ndarray:
        """[C, C] exact hull distances, 0 on the diagonal (computed on first access)."""
        self._check_fitted()
        if self._cdist is None:
            C = self.n_clusters_
            M = np.zeros((C, C))
            self._fill_distances([(i, j) for i in range(C) for j in range(i + 1, C)])
            for i in range(C):
                for j in range(i + 1, C):
                    M[i, j] = M[j, i] = self.cluster_distance(i, j)
            self._cdist = M
        return self._cdist

    def _kept(self) -> np.ndarray:
        return self.cluster_sizes_ > self.min_cluster_size

    def label_distances(self) -> np.ndarray:
        """[K, K] mean hull distance over the two labels' cluster pairs (small clusters left out).

        Only cross-label pairs of kept clusters are computed. NaN where a label has no kept
        cluster.
        """
        self._check_fitted()
        keep = self._kept()
        C = self.n_clusters_
        M = np.zeros((C, C))
        idx = np.flatnonzero(keep)
        self._fill_distances([(int(a), int(b)) for a in idx for b in idx
                              if a < b and self.cluster_label_[a] != self.cluster_label_[b]])
        for a in idx:
            for b in idx:
                if a < b and self.cluster_label_[a] != self.cluster_label_[b]:
                    M[a, b] = M[b, a] = self.cluster_distance(int(a), int(b))
        return label_distance_matrix(M, self.cluster_label_, keep, self.n_labels_)

    def distance_vector(self) -> np.ndarray:
        """The K(K-1)/2 label-pair distances, upper triangle in row-major order (i < j)."""
        return upper_triangle(self.label_distances())

    def min_distances(self) -> np.ndarray:
        """[K] each label's smallest label-pair distance to any other label (NaN-aware)."""
        L = self.label_distances().copy()
        np.fill_diagonal(L, np.nan)
        with np.errstate(all="ignore"):
            out = np.full(len(L), np.nan)
            for k in range(len(L)):
                row = L[k][~np.isnan(L[k])]
                if len(row):
                    out[k] = row.min()
        return out

    def spread(self) -> np.ndarray:
        """[C] mean Euclidean distance of each cluster's points to its centroid."""
        self._check_fitted()
        return spread(self._X, self.labels_, self.n_clusters_)

    # -- prediction --------------------------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """Label of the cluster whose hull is nearest to each row (exact distances)."""
        return self.cluster_label_[self.predict_cluster(X)]

    def predict_cluster(self, X) -> np.ndarray:
        self._check_fitted()
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self._X.shape[1]:
            raise ValueError(f"expected vectors of dimension {self._X.shape[1]}")
        if not np.isfinite(X).all():
            raise ValueError("test vectors contain NaN or inf")
        pbar = bar(self.progress, len(X), "nearest hull", "pt")
        res = nearest_hull_batched(X, self._hulls,
                                   NearestHullSettings(device=self.device),
                                   progress=pbar.update if pbar else None)
        if pbar:
            pbar.close()
        self.predict_stats_ = res
        return res.cluster

    def score(self, X, y) -> float:
        """DirectProbe accuracy: fraction of rows whose nearest hull has their label."""
        y = np.asarray(y)
        return float(np.mean(self.predict(X) == y)) if len(y) else float("nan")

    # -- persistence (plain files, no pickle) ------------------------------------------------
    def summary(self) -> dict:
        self._check_fitted()
        s = self.stats_
        return {
            "n_points": int(len(self.labels_)),
            "dim": int(self._X.shape[1]),
            "n_labels": self.n_labels_,
            "n_clusters": self.n_clusters_,
            "linear": self.linear_,
            "tol": self.tol,
            "min_cluster_size": self.min_cluster_size,
            "n_kept_clusters": int(self._kept().sum()),
            "stats": {k: v for k, v in vars(s).items() if k != "seconds"},
            "seconds": s.seconds,
        }

    def save(self, directory) -> None:
        """Write the output folder (:func:`.output.write_results`) without label distances:
        clusters.txt, cluster_labels.txt, spread.txt, the arrays :meth:`load` reads, summary.json."""
        self._check_fitted()
        write_results(self, directory, distances=False)

    @classmethod
    def load(cls, directory) -> DirectProbe:
        directory = Path(directory)
        summary = json.loads((directory / "summary.json").read_text())
        dp = cls(min_cluster_size=summary["min_cluster_size"], tol=summary["tol"])
        dp.labels_ = np.loadtxt(directory / "clusters.txt", dtype=np.int64, ndmin=1)
        dp.cluster_label_ = np.load(directory / "cluster_label.npy", allow_pickle=False)
        dp._X = np.load(directory / "points.npy", allow_pickle=False)
        dp.n_labels_ = int(summary["n_labels"])
        dp.n_clusters_ = int(summary["n_clusters"])
        dp.linear_ = bool(summary["linear"])
        # counters only inform: those of another ftprobe version are left out, missing ones are 0
        known = {f.name for f in dataclasses.fields(ClusterStats)} - {"seconds"}
        dp.stats_ = ClusterStats(**{k: v for k, v in summary["stats"].items() if k in known},
                                 seconds=summary["seconds"])
        dp._dist_cache = {}
        dp._cdist = None
        if (directory / "cluster_distances.npy").exists():
            dp._cdist = np.load(directory / "cluster_distances.npy", allow_pickle=False)
        dp._setup_groups()
        return dp


def pearson_similarity(a: DirectProbe, b: DirectProbe) -> float:
    """Pearson correlation of two spaces' label-pair distance vectors (NaN entries dropped)."""
    va, vb = a.distance_vector(), b.distance_vector()
    if va.shape != vb.shape:
        raise ValueError("the two probes have different label sets")
    ok = ~(np.isnan(va) | np.isnan(vb))
    if ok.sum() < 2:
        return float("nan")
    return float(np.corrcoef(va[ok], vb[ok])[0, 1])


def _validate(X: np.ndarray, y: np.ndarray) -> None:
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got shape {X.shape}")
    if len(X) == 0:
        raise ValueError("X is empty")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"y must have one label per row of X ({len(X)}), got shape {y.shape}")
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or inf")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError("y must hold integer labels 0..K-1")
    if y.min() < 0:
        raise ValueError("labels must be non-negative integers")
