"""DirectProbe on a contextless layer with identical points of one label folded, against the
same engine without folding (``Tuning(fold_identical=False)``), alternating in one run.

A space is an ``.npz`` with arrays X and y (a study's layer-0 vectors, e.g. saved from its
store), or a store entry folder (``layer_LL.npy`` + ``targets.npz``) with ``--layer``;
``--rows N`` keeps the first N rows. Each fit runs in a fresh process on one BLAS thread;
the script fails unless both give the same partition, merges and rejections.

    python bench/directprobe/fold_identical.py --space STORE/ENTRY --layer 0 \
        --space /tmp/psrole-L0.npz --repeat 1 --out bench/directprobe/fold_identical.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _space(path: str, layer: int, rows: int):
    import numpy as np

    p = Path(path)
    if p.is_dir():
        X = np.load(p / f"layer_{layer:02d}.npy")
        with np.load(p / "targets.npz") as f:
            y = f["labels"]
    else:
        with np.load(p) as f:
            X, y = f["X"], f["y"]
    if rows:
        X, y = X[:rows], y[:rows]
    return np.asarray(X, np.float64), np.asarray(y, np.int64)


def _fit_once(path: str, layer: int, rows: int, fold: bool) -> dict:
    import resource

    from threadpoolctl import threadpool_limits

    from ftprobe.probe.directprobe import DirectProbe, Tuning

    X, y = _space(path, layer, rows)
    with threadpool_limits(limits=1, user_api="blas"):
        wall, cpu = time.perf_counter(), time.process_time()
        dp = DirectProbe(jobs=1, tuning=Tuning(fold_identical=fold)).fit(X, y)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    s = dp.stats_
    return {"fold": fold, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "rows": len(y),
            "clusters": int(dp.n_clusters_), "merges": s.merges, "rejections": s.rejections,
            "frozen": s.frozen_points, "folded": s.identical_folded,
            "digest": hashlib.sha256(dp.labels_.astype("int64").tobytes()).hexdigest()[:16],
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--space", action="append", required=True)
    ap.add_argument("--layer", type=int, default=0)
    ap.add_argument("--rows", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", default=None)
    ap.add_argument("--_child", nargs=4, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._child:
        path, layer, rows, fold = a._child
        print(json.dumps(_fit_once(path, int(layer), int(rows), fold == "1")))
        return
    runs = []
    for path in a.space:
        for r in range(a.repeat):
            for fold in (False, True):
                out = subprocess.run([sys.executable, __file__, "--space", path, "--_child", path,
                                      str(a.layer), str(a.rows), "1" if fold else "0"],
                                     capture_output=True, text=True, check=True)
                row = {"space": path, "repeat": r, **json.loads(out.stdout.strip().splitlines()[-1])}
                print(json.dumps(row), flush=True)
                runs.append(row)
    ok = True
    for path in a.space:
        rows = [r for r in runs if r["space"] == path]
        keys = {(r["digest"], r["clusters"], r["merges"], r["rejections"]) for r in rows}
        if len(keys) != 1:
            ok = False
            print(f"DIFFERENT PARTITIONS on {path}: {keys}", file=sys.stderr)
        plain = min(r["cpu_s"] for r in rows if not r["fold"])
        folded = min(r["cpu_s"] for r in rows if r["fold"])
        print(f"{path}: {rows[0]['rows']} rows, {rows[-1]['folded']} folded; CPU s plain {plain} / "
              f"folded {folded}: {plain / folded:.2f}x")
    if a.out:
        Path(a.out).write_text(json.dumps({"runs": runs, "load": _load()}, indent=1) + "\n")
    sys.exit(0 if ok else 1)


def _load() -> list[float]:
    import os

    return [round(x, 2) for x in os.getloadavg()]


if __name__ == "__main__":
    main()
