"""DirectProbe inside a study: one fit as the study records it, and the many fits of a series.

A series (every checkpoint of a fine-tuning run, or every recorded step) fits the same task at
each point and layer. The fits are independent, so with several processes they run side by
side, the slowest first (the embedding layer, then the rest in order). With one process they
run in order, point after point, and each layer's fit hands its proofs to the next point's fit
of that layer (``SeriesPrior``, which never changes an answer). Either way each fit writes its
summary (and, when asked, its label centroids) as it finishes, so a stopped step resumes with
the fits it had not finished.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ftprobe.atomic import save_npy, write_json

SAVE_EVERY_S = 600.0  # seconds between saves of a DirectProbe fit's progress


def directprobe_options(settings: dict, threads: int) -> dict:
    """A step's DirectProbe settings; unless the config gives ``jobs``, as many processes as the
    step has threads (the partition and the distances do not depend on it; keys leave it out)."""
    return {"jobs": max(1, int(threads)), **settings}


def fit_directprobe(X, y, options: dict, n_labels: int, state: Path, prior=None, keep_prior: bool = False,
                    save_every: float = SAVE_EVERY_S):
    """Fit, saving the merge phase's progress to ``state`` in the step's work folder (kept by
    an interrupted run), so that a rerun resumes a long fit; removed once fitted. ``prior``:
    the previous state's proofs in a series (the partition does not depend on it)."""
    from ftprobe.probe.directprobe import DirectProbe
    from ftprobe.probe.directprobe.state import StateMismatch

    def fit():
        return DirectProbe(**options).fit(np.asarray(X, dtype=np.float64), np.asarray(y), n_labels=n_labels,
                                          state_path=state, save_every=save_every, prior=prior,
                                          keep_prior=keep_prior)

    try:
        dp = fit()
    except StateMismatch as exc:
        # The state is only this step's own saved progress: one another ftprobe version wrote
        # (or a damaged one) costs the progress, never the run.
        print(f"{exc}; starting this fit over", file=sys.stderr, flush=True)
        state.unlink(missing_ok=True)
        dp = fit()
    state.unlink(missing_ok=True)
    return dp


def directprobe_summary(dp, label_names: list[str], X, y) -> dict:
    """A fitted DirectProbe (fitted on ``X``, ``y`` with ``n_labels`` = the task's labels) as
    JSON; every label-indexed quantity is over the task's labels, absent ones None. With the
    space's spread (``space_scale``), so distances can be read scale-free."""
    from ftprobe.compare.geometry import space_scale

    K = len(label_names)
    present = [int(k) for k in np.unique(np.asarray(y))]
    mind = np.asarray(dp.min_distances(), dtype=np.float64)
    ld = np.asarray(dp.label_distances(), dtype=np.float64)
    if ld.shape != (K, K) or mind.shape != (K,):
        raise RuntimeError(f"DirectProbe returned label distances of shape {ld.shape} for {K} labels")
    return {
        "n_clusters": int(dp.n_clusters_), "n_labels": len(present), "n_labels_task": K,
        "linear": bool(dp.linear_),
        "min_distances": {label_names[k]: finite(mind[k]) for k in present if finite(mind[k]) is not None},
        "label_distances": [[finite(v) for v in row] for row in ld],
        "distance_vector": [finite(v) for v in np.asarray(dp.distance_vector(), dtype=np.float64).ravel()],
        "present_labels": present,
        "space_scale": space_scale(X),
    }


def finite(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


@dataclass(frozen=True)
class SeriesFit:
    """One fit of a series: the stored vectors of point ``point`` at ``layer``."""

    point: int
    layer: int
    entry: str  # the store entry holding the point's vectors


@dataclass(frozen=True)
class SeriesFits:
    """What every fit of one series shares, and where its results go."""

    store: str  # the study's store folder
    work: str  # the step's work folder: fit-PPP-LK.json (and centroids-PPP-LK.npy) per fit
    options: dict[str, Any]  # DirectProbe's settings
    label_names: tuple[str, ...]
    centroid_layers: tuple[int, ...] = ()  # also save the label centroids of the fits at these layers

    def result_path(self, fit: SeriesFit) -> Path:
        return Path(self.work) / f"fit-{fit.point:03d}-L{fit.layer}.json"

    def centroid_path(self, fit: SeriesFit) -> Path:
        return Path(self.work) / f"centroids-{fit.point:03d}-L{fit.layer}.npy"

    def with_centroids(self, fit: SeriesFit) -> bool:
        return fit.layer in self.centroid_layers

    def done(self, fit: SeriesFit) -> bool:
        return self.result_path(fit).is_file() and (not self.with_centroids(fit) or self.centroid_path(fit).is_file())

    def summaries(self, fits: list[SeriesFit]) -> list[dict[str, dict]]:
        """The finished fits' summaries, one dict per point (by layer, as text), in point order."""
        out: dict[int, dict[str, dict]] = {}
        for fit in sorted(fits, key=lambda f: (f.point, f.layer)):
            out.setdefault(fit.point, {})[str(fit.layer)] = json.loads(self.result_path(fit).read_text())
        return [out[p] for p in sorted(out)]

    def remove(self, fits: list[SeriesFit]) -> None:
        """Delete the fits' files once the step has read them into its result."""
        for fit in fits:
            self.result_path(fit).unlink()
            if self.with_centroids(fit):
                self.centroid_path(fit).unlink()


def fit_one(fits: SeriesFits, fit: SeriesFit, prior=None, keep_prior: bool = False):
    """Fit one point and layer and write its summary; returns the fit's proofs when asked."""
    from ftprobe.compare.geometry import label_centroids
    from ftprobe.represent import Store

    entry = Store(fits.store).open(fit.entry)
    X, y = entry.layer(fit.layer), np.asarray(entry.labels)
    K = len(fits.label_names)
    dp = fit_directprobe(X, y, fits.options, K, Path(fits.work) / f"directprobe-state-{fit.point:03d}-L{fit.layer}.npz",
                         prior=prior, keep_prior=keep_prior)
    if fits.with_centroids(fit):
        save_npy(fits.centroid_path(fit), label_centroids(np.asarray(X), y, K))
    write_json(fits.result_path(fit), directprobe_summary(dp, list(fits.label_names), X, y))
    return dp.prior_ if keep_prior else None


def _slowest_first(fit: SeriesFit) -> tuple[int, int, int]:
    return (0 if fit.layer == 0 else 1, fit.point, fit.layer)  # the embedding layer is the slowest


def run_series_fits(fits: SeriesFits, todo: list[SeriesFit], processes: int,
                    report: Callable[[int, int], None] | None = None) -> None:
    """Every fit of ``todo`` not done yet; ``processes`` > 1: that many spawned processes of one
    thread each (DirectProbe's own ``jobs`` 1 there), else in order here with series priors."""
    left = [f for f in todo if not fits.done(f)]
    total, finished = len(todo), len(todo) - len(left)
    if report is not None:
        report(finished, total)
    if processes <= 1 or len(left) <= 1:
        priors: dict[int, Any] = {}
        for fit in sorted(left, key=lambda f: (f.point, f.layer)):
            priors[fit.layer] = fit_one(fits, fit, priors.get(fit.layer), keep_prior=True)
            finished += 1
            if report is not None:
                report(finished, total)
        return
    import multiprocessing

    from ftprobe.study.executor import init_worker

    one = replace(fits, options={**fits.options, "jobs": 1})
    ctx = multiprocessing.get_context("spawn")  # not forked: the step's process holds torch's threads
    # leaving the block terminates the workers, so a failed fit or Ctrl-C stops the others too
    with ctx.Pool(min(processes, len(left)), initializer=init_worker, initargs=(1, os.getpid())) as pool:
        for _ in pool.imap_unordered(_fit_task, [(one, fit) for fit in sorted(left, key=_slowest_first)]):
            finished += 1
            if report is not None:
                report(finished, total)


def _fit_task(args: tuple[SeriesFits, SeriesFit]) -> None:
    fit_one(*args)
