"""`ftprobe directprobe`: DirectProbe clustering and measures on a store entry or plain files."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ftprobe.cli.framework import command, opt
from ftprobe.cli.inputs import checked_matrix, load_npy, read_lines
from ftprobe.errors import UserError

STATE_FILE = "directprobe-state.npz"  # the fit's progress, removed once the results are written


@command("directprobe")
@dataclass
class DirectProbeCommand:
    """Cluster a labelled space with DirectProbe; write clusters, distances and predictions.

    From a store:   ftprobe directprobe --store DIR --entry ID --layer L --out DIR
                    [--test-entry ID]
    From files:     ftprobe directprobe --vectors X.npy --labels y.txt --out DIR
                    [--test-vectors Xt.npy --test-labels yt.txt]
    Labels: one per line, aligned with the rows. DIR gets clusters.txt (one cluster id per input
    row), cluster_labels.txt, label_distances.tsv/.npy, distance_vector.txt, min_distances.tsv,
    spread.txt, predictions.txt (with test data) and summary.json. A long fit saves its
    progress in DIR every --save-every seconds; the same command run again resumes there.
    """

    store: Path | None = opt(None, help="representation store folder")
    entry: str | None = opt(None, help="store entry id (or unambiguous prefix) to cluster")
    layer: int = opt(-1, help="layer of the store entry (-1: the last)")
    test_entry: str | None = opt(None, help="store entry id scored by nearest-hull prediction")
    vectors: Path | None = opt(None, help="vectors .npy [n, D]")
    labels: Path | None = opt(None, help="labels, one per line, aligned with the rows")
    test_vectors: Path | None = opt(None, help="test vectors .npy [m, D]")
    test_labels: Path | None = opt(None, help="test labels, one per line")
    out: Path | None = opt(None, help="output folder (required; written atomically)")
    min_cluster_size: int = opt(5, help="clusters of at most this many points are left out of "
                                "the distance analysis")
    tol: float | None = opt(None, help="hulls closer than this (relative to the data's RMS norm) "
                            "count as meeting (default 1e-6)")
    distances: bool = opt(True, help="compute the label-pair distances")
    progress: bool = opt(True, help="progress bars on stderr")
    jobs: int = opt(1, help="cores to use: label-pair processes, threads of the initial "
                            "searches (same answer for any value)")
    save_every: float = opt(600.0, help="seconds between saves of the merge phase's progress "
                            f"to OUT/{STATE_FILE}; the same command run again resumes there")

    def run(self) -> int:
        import numpy as np

        from ftprobe.probe.directprobe import DirectProbe
        from ftprobe.probe.directprobe.state import StateMismatch

        if self.out is None:
            raise UserError("--out DIR is required")
        X, names, test = self._inputs()
        vocab = sorted(set(names))
        index = {n: i for i, n in enumerate(vocab)}
        y = np.array([index[n] for n in names], dtype=np.int64)
        t0 = time.perf_counter()
        if self.jobs < 1:
            raise UserError("--jobs must be at least 1")
        if self.save_every < 0:
            raise UserError("--save-every must be at least 0")
        dp = DirectProbe(min_cluster_size=self.min_cluster_size, tol=self.tol,
                         progress=self.progress, jobs=self.jobs)
        state = self._state_path()
        if state.exists():
            self._say(f"resuming from {state}")
        try:
            dp.fit(X, y, n_labels=len(vocab), state_path=state, save_every=self.save_every)
        except StateMismatch as exc:
            raise UserError(str(exc)) from None
        fit_s = time.perf_counter() - t0
        extra = {"fit_seconds": round(fit_s, 3)}
        pred = None
        if test is not None:
            Xt, tnames = test
            self._say(f"predicting {len(tnames)} test points by nearest hull")
            pred = dp.predict(Xt)
            yt = np.array([index.get(n, -1) for n in tnames])
            extra.update(test_points=int(len(yt)), test_unseen_labels=int((yt < 0).sum()),
                         accuracy=float(np.mean(pred == yt)) if len(yt) else float("nan"))
        if self.distances:
            self._say("computing exact hull distances between kept clusters")
        from ftprobe.probe.directprobe.output import write_results

        summary = write_results(dp, self.out, label_names=vocab, distances=self.distances,
                                model=False, predictions=pred, extra=extra)
        state.unlink(missing_ok=True)
        print(f"{dp.n_clusters_} clusters for {len(vocab)} labels "
              f"({'linear' if dp.linear_ else 'not linear'}) in {fit_s:.1f}s"
              + (f"; DirectProbe accuracy {summary['accuracy']:.4f}" if test is not None else "")
              + f"; wrote {self.out}")
        return 0

    def _state_path(self) -> Path:
        """OUT/directprobe-state.npz, OUT made if need be (the results land there later)."""
        out = Path(self.out)
        if out.exists() and not out.is_dir():
            raise UserError(f"{out}: exists and is not a folder")
        out.mkdir(parents=True, exist_ok=True)
        return out / STATE_FILE

    def _say(self, msg: str) -> None:
        if self.progress:
            print(msg, file=sys.stderr)

    def _inputs(self):
        if self.store is not None:
            if self.vectors is not None or self.labels is not None:
                raise UserError("give either --store/--entry or --vectors/--labels, not both")
            if self.entry is None:
                raise UserError("--store needs --entry (see: ftprobe store ls)")
            from ftprobe.represent.store import Store

            st = Store(self.store)
            e = st.open(self.entry)
            X = checked_matrix(e.layer(self.layer), f"store entry {e.id} layer {self.layer}")
            lab_names = e.label_names
            names = [lab_names[i] for i in e.labels]
            if len(names) != len(X):
                raise UserError(f"store entry {e.id}: {len(X)} vectors but {len(names)} labels")
            test = None
            if self.test_entry is not None:
                te = st.open(self.test_entry)
                Xt = checked_matrix(te.layer(self.layer), f"store entry {te.id}")
                tn = te.label_names
                test = (Xt, [tn[i] for i in te.labels])
            elif self.test_vectors is not None:
                test = self._plain_test()
            self._check_test(X, test)
            return X, names, test
        if self.vectors is None or self.labels is None:
            raise UserError("give --vectors X.npy and --labels y.txt (or --store and --entry)")
        X = checked_matrix(load_npy(self.vectors), str(self.vectors))
        names = read_lines(self.labels)
        if len(names) != len(X):
            raise UserError(f"{self.labels}: {len(names)} labels for {len(X)} rows of {self.vectors}")
        test = self._plain_test() if self.test_vectors is not None or self.test_labels else None
        self._check_test(X, test)
        return X, names, test

    def _plain_test(self):
        if self.test_vectors is None or self.test_labels is None:
            raise UserError("--test-vectors and --test-labels go together")
        Xt = checked_matrix(load_npy(self.test_vectors), str(self.test_vectors))
        tn = read_lines(self.test_labels)
        if len(tn) != len(Xt):
            raise UserError(f"{self.test_labels}: {len(tn)} labels for {len(Xt)} rows of "
                            f"{self.test_vectors}")
        return Xt, tn

    @staticmethod
    def _check_test(X, test):
        if test is not None and test[0].shape[1] != X.shape[1]:
            raise UserError(f"test vectors have dimension {test[0].shape[1]}, "
                            f"training vectors {X.shape[1]}")

