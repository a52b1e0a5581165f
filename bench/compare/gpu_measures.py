"""The measures at the study's full size on the GPU machine: 200k x 768 against 200k x 768.

    python bench/compare/gpu_measures.py [--n 200000] [--out bench/compare/results-gpu.json]

For the integrator (one H200, 16 cores; a few minutes). From a fresh checkout with torch
preinstalled: ``pip install -c constraints.txt -e .`` first, or run with PYTHONPATH=src.
It times every measure at N rows (k-NN measures and the CKA / Procrustes nulls' permuted
products on the GPU in float64, the streaming values on the CPU), checks the GPU's neighbour sets against the CPU's on a 20k subset (they must be the same
sets: both are exact float64), times the plain numpy formula where it fits (k-NN's full distance
matrix at 20k), and extrapolates to a 13-layer x 12-checkpoint study: 13 x 13 spaces (original +
12 checkpoints) need 169 neighbour searches and 156 comparisons.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench" / "compare"))


def timed(fn, *args, **kw):
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    value = fn(*args, **kw)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return value, time.perf_counter() - t0


def main() -> None:
    import torch
    from bench_measures import plain_mutual_knn

    from ftprobe import compare as c
    from ftprobe.compare.knn import nearest_neighbours

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--out", default=str(REPO / "bench" / "compare" / "results-gpu.json"))
    ap.add_argument("--device", default="cuda", help="cpu: a smoke run of this script (small --n)")
    a = ap.parse_args()
    dev = a.device
    if dev == "cuda" and not torch.cuda.is_available():
        sys.exit("gpu_measures.py: no CUDA device is visible")
    cuda = dev == "cuda"
    rng = np.random.default_rng(0)
    base = rng.normal(size=(a.n, 32)).astype(np.float32) @ rng.normal(size=(32, a.dim)).astype(np.float32)
    X = base + rng.normal(size=(a.n, a.dim)).astype(np.float32)
    Y = (base + 0.7 * rng.normal(size=(a.n, a.dim)).astype(np.float32)) @ (
        rng.normal(size=(a.dim, a.dim)).astype(np.float32) / np.sqrt(a.dim))
    del base
    rows = {}

    def record(name, fn, *args, **kw):
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        value, sec = timed(fn, *args, **kw)
        rows[name] = {"seconds": sec,
                      "gpu_peak_mib": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
                      "value": value if isinstance(value, float) else None}
        print(json.dumps({name: rows[name]}), flush=True)
        return value

    record("cka_debiased", c.linear_cka, X, Y)
    record("cka_biased", c.linear_cka, X, Y, debiased=False)
    record("procrustes", c.procrustes_distance, X, Y)
    record("effective_rank", c.effective_rank, X)
    record("isotropy", c.isotropy, X)
    def knn_one_space():
        nearest_neighbours(X, 10, dev, distances=False)

    record("knn_X_gpu", knn_one_space)
    record("mutual_knn_gpu", c.mutual_knn, X, Y, k=10, device=dev)
    record("twonn_gpu", c.intrinsic_dimension, X, device=dev)
    knn = functools.partial(c.mutual_knn, k=10, device=dev)
    record("mutual_knn_null100_gpu", lambda: c.permutation_null(knn, X, Y, n=100).p_value)
    record("cka_null20", lambda: c.permutation_null(c.linear_cka, X, Y, n=20, device=dev).p_value)
    record("procrustes_null20", lambda: c.permutation_null(c.procrustes_distance, X, Y, n=20,
                                                           device=dev).p_value)

    # Exactness: GPU and CPU neighbour sets on a 20k subset, and the plain formula's time there.
    sub = np.sort(rng.choice(a.n, size=min(20_000, a.n), replace=False))
    Xs, Ys = X[sub], Y[sub]
    _, ig = nearest_neighbours(Xs, 10, dev, distances=False)
    (_, ic), cpu_sec = timed(nearest_neighbours, Xs, 10, "cpu", distances=False)
    same = float(np.mean(np.sort(ig, 1) == np.sort(ic, 1)))
    m_gpu, gpu_sec = timed(c.mutual_knn, Xs, Ys, k=10, device=dev)
    m_plain, plain_sec = timed(plain_mutual_knn, Xs, Ys, 10)
    rows["check_20k"] = {"neighbour_sets_equal_share": same, "knn_cpu_seconds_one_space": cpu_sec,
                         "mutual_knn_gpu": m_gpu, "mutual_knn_plain_numpy": m_plain,
                         "gpu_seconds": gpu_sec, "plain_numpy_seconds": plain_sec}
    print(json.dumps({"check_20k": rows["check_20k"]}), flush=True)

    # A 13-layer x 12-checkpoint study at N rows: 169 spaces (geometry each), 156 comparisons
    # (each: CKA, Procrustes, mutual k-NN with its 100-permutation null = two neighbour searches,
    # and CKA / Procrustes nulls of 100 permutations, extrapolated from 20).
    per_cmp = (rows["cka_debiased"]["seconds"] + rows["procrustes"]["seconds"]
               + rows["mutual_knn_null100_gpu"]["seconds"])
    nulls = 5 * (rows["cka_null20"]["seconds"] + rows["procrustes_null20"]["seconds"])
    geometry = rows["effective_rank"]["seconds"] + rows["isotropy"]["seconds"] + rows["twonn_gpu"]["seconds"]
    study = {"comparisons_without_cka_procrustes_nulls": 156 * per_cmp,
             "cka_procrustes_nulls_100": 156 * nulls, "geometry": 169 * geometry}
    study["total_minutes"] = sum(study.values()) / 60
    study["total_minutes_without_cka_procrustes_nulls"] = (study["total_minutes"]
                                                           - study["cka_procrustes_nulls_100"] / 60)
    rows["study_13x12_extrapolated_seconds"] = study
    meta = {"n": a.n, "dim": a.dim, "gpu": torch.cuda.get_device_name() if cuda else None, "cpus": os.cpu_count(),
            "torch": torch.__version__, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    Path(a.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(json.dumps({"study_13x12_extrapolated_seconds": study, "meta": meta}, indent=1))


if __name__ == "__main__":
    main()
