"""DirectProbe on a machine whose cores are busy: the caller's BLAS thread setting against the
fit's own (one thread but for its first searches).

A study runs steps side by side; a step whose BLAS is allowed 2 threads on 2 busy cores spins
them against the other workers. This script fits the same space with the caller's BLAS at 1 and
at 2 threads while ``--busy`` processes spin on the cores, for this checkout and, with
``--baseline-src``, for another checkout's ``src`` (run in a subprocess, alternating):

    python bench/directprobe/blas_under_load.py --baseline-src /tmp/base/src --out bench/directprobe/blas_under_load.json

The space: ``--space FILE.npz`` (arrays X and y; e.g. a study's layer-0 vectors, a contextless
layer with thousands of small clusters), else a Gaussian stand-in of ``--n`` points.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _spin(stop):
    while not stop.is_set():
        pass


def _space(n: int, path: str | None = None):
    import numpy as np

    if path:
        with np.load(path) as f:
            return f["X"].astype(np.float64), f["y"]

    rng = np.random.default_rng(0)
    # 40 labels over 600 jittered anchor points (a few dozen clusters: the effect shows on a
    # real contextless layer, pass it with --space)
    anchors = rng.normal(size=(600, 64))
    idx = rng.integers(0, 600, n)
    X = anchors[idx] + 1e-3 * rng.normal(size=(n, 64))
    y = (idx * 7 + rng.integers(0, 2, n)) % 40
    return X, y


def _fit_once(threads: int, n: int, path: str | None = None) -> dict:
    from threadpoolctl import threadpool_limits

    from ftprobe.probe.directprobe import DirectProbe

    X, y = _space(n, path)
    with threadpool_limits(limits=threads, user_api="blas"):
        t = time.perf_counter()
        dp = DirectProbe(jobs=1).fit(X, y)
        return {"seconds": time.perf_counter() - t, "clusters": int(dp.n_clusters_)}


def _child(src: str, threads: int, n: int, path: str | None) -> dict:
    env = {**os.environ, "PYTHONPATH": src}
    code = (f"import json,sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import blas_under_load as b; print(json.dumps(b._fit_once({threads}, {n}, {path!r})))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline-src", help="another checkout's src folder, measured alongside")
    ap.add_argument("--busy", type=int, default=os.cpu_count() or 2, help="spinning processes")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--space", help="an .npz with X and y to fit")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()
    stop = mp.Event()
    spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(a.busy)]
    for p in spinners:
        p.start()
    sides = {"this": str(ROOT / "src")}
    if a.baseline_src:
        sides["baseline"] = a.baseline_src
    rows = []
    try:
        for rep in range(a.repeats):
            for threads in (1, 2):
                for side, src in sides.items():
                    r = _child(src, threads, a.n, a.space)
                    rows.append({"side": side, "caller_blas_threads": threads, "repeat": rep, **r})
                    print(f"{side:8s} caller BLAS {threads}: {r['seconds']:7.1f} s  {r['clusters']} clusters",
                          flush=True)
    finally:
        stop.set()
        for p in spinners:
            p.join(timeout=5)
    out = {"space": a.space or f"gaussian stand-in, n={a.n}", "busy": a.busy, "cpus": os.cpu_count(), "rows": rows}
    if a.out:
        Path(a.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
