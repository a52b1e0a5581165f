"""GPU check of nearest-hull prediction: CUDA and CPU give the same clusters; timing of both.

    python bench/directprobe/gpu_measures.py [--vectors X.npy --labels y.npy --test T.npy]

Without files it builds a clustered set in code (20 clusters x 800 points x 384 dims, 3,000
test points, seed 0), so it runs from a fresh checkout with torch installed. The clusters are
the DirectProbe fit's when files are given; otherwise each synthetic group is one cluster.
The batched search runs on CUDA and on the CPU (same settings); the predicted clusters must be
identical, and the first ``--check`` test points are also compared with the point-by-point
exact procedure. Writes bench/directprobe/gpu_measures.json. A few minutes on an H200.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "src"))


def synthetic(seed: int = 0, C: int = 20, n: int = 800, D: int = 384):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(C, D)) * 0.12  # overlapping enough that bounds alone do not decide
    groups = [c + rng.normal(size=(n, D)) * 0.1 for c in centres]
    T = 3000 if n >= 800 else 200
    pick = rng.integers(0, C, size=T)
    test = centres[pick] + rng.normal(size=(T, D)) * 0.1
    return groups, test


def main() -> None:
    import numpy as np
    import torch

    from ftprobe.probe.directprobe.nearest import NearestHullSettings, nearest_hull_batched
    from ftprobe.probe.directprobe.predict import nearest_hull

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vectors", type=Path)
    ap.add_argument("--labels", type=Path)
    ap.add_argument("--test", type=Path)
    ap.add_argument("--check", type=int, default=200, help="test points checked point by point")
    ap.add_argument("--dry-run-on-cpu", action="store_true",
                    help="check the script itself without a GPU (small set, 'cuda' runs on cpu)")
    a = ap.parse_args()
    gpu = "cpu" if a.dry_run_on_cpu else "cuda"
    if not a.dry_run_on_cpu and not torch.cuda.is_available():
        sys.exit("no CUDA device: nothing to check")
    if a.vectors is not None:
        from ftprobe.probe.directprobe import DirectProbe

        X = np.load(a.vectors).astype(np.float64)
        dp = DirectProbe().fit(X, np.load(a.labels))
        groups = [X[dp.labels_ == c] for c in range(dp.n_clusters_)]
        test = np.load(a.test).astype(np.float64)
    else:
        groups, test = synthetic(n=60, D=32) if a.dry_run_on_cpu else synthetic()
    out = {"clusters": len(groups), "train_points": int(sum(len(g) for g in groups)),
           "test_points": len(test), "dim": int(test.shape[1]),
           "gpu": torch.cuda.get_device_name(0) if gpu == "cuda" else "none (dry run)",
           "cpu_threads": torch.get_num_threads()}
    res = {}
    for name, device in (("cuda", gpu), ("cuda", gpu), ("cpu", "cpu")):  # 1st: warm-up
        t0 = time.perf_counter()
        r = nearest_hull_batched(test, groups, NearestHullSettings(device=device))
        if device == "cuda":
            torch.cuda.synchronize()
        res[name] = (r, time.perf_counter() - t0)
        print(f"{name} ({device}): {res[name][1]:.2f}s, exact points {r.exact_points}", flush=True)
    (rg, tg), (rc, tc) = res["cuda"], res["cpu"]
    k = min(a.check, len(test))
    cent = np.stack([g.mean(0) for g in groups])
    rad = np.array([np.sqrt(((g - c) ** 2).sum(1).max()) for g, c in zip(groups, cent, strict=True)])
    t0 = time.perf_counter()
    ref = nearest_hull(test[:k], groups, cent, rad)[0]
    tref = time.perf_counter() - t0
    out.update({
        "cuda_s": round(tg, 3), "cpu_s": round(tc, 3), "cpu_over_cuda": round(tc / tg, 2),
        "point_by_point_s_first_k": round(tref, 3), "k": k,
        "identical_cuda_cpu": bool(np.array_equal(rg.cluster, rc.cluster)),
        "identical_to_point_by_point_first_k": bool(np.array_equal(rg.cluster[:k], ref)),
        "cuda_detail": {f: int(getattr(rg, f)) for f in (
            "pairs", "open_after_bounds", "open_after_refinement", "exact_points", "exact_solves")},
        "cpu_detail": {f: int(getattr(rc, f)) for f in (
            "pairs", "open_after_bounds", "open_after_refinement", "exact_points", "exact_solves")},
    })
    path = HERE / ("gpu_measures_dry_run.json" if a.dry_run_on_cpu else "gpu_measures.json")
    path.with_suffix(".json.tmp").write_text(json.dumps(out, indent=1) + "\n")
    os.replace(path.with_suffix(".json.tmp"), path)
    print(json.dumps(out, indent=1))
    if not (out["identical_cuda_cpu"] and out["identical_to_point_by_point_first_k"]):
        sys.exit("CUDA and CPU (or the point-by-point procedure) disagree")


if __name__ == "__main__":
    main()
