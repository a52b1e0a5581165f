"""DirectProbe benchmarks on MiniLM vectors of real tasks (EWT POS, STREUSLE PS-fxn).

    python bench/directprobe/bench.py scale   --cases ewt_pos:0 ewt_pos:6 psfxn:6 \
        --sizes 1000 5000 20000 50000 full [--timeout 1800]
    python bench/directprobe/bench.py compare --cases ewt_pos:6 --sizes 500 5000 \
        [--naive-budget 1800]

Every measurement runs in a fresh subprocess (peak RSS is per run) with at most 2 threads.
Results are merged into bench/directprobe/results.json (one record per case/size/kind).
Vectors come from /work/bench-vectors/<task>_<split>_layer<L>.npy when present; otherwise they
are regenerated with ftprobe's own extraction (``ftprobe extract``) from ../shared/data into a
bench store; without ../shared/data the benchmark is skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
RESULTS = HERE / "results.json"
VECTORS = Path(os.environ.get("FTPROBE_BENCH_VECTORS", "/work/bench-vectors"))
DATA = Path(os.environ.get("FTPROBE_SHARED_DATA", REPO.parent / "shared" / "data"))
STORE = Path(os.environ.get("FTPROBE_BENCH_STORE", REPO.parent / "bench-store"))
TASKS = {  # case name -> (ftprobe task, data folder)
    "ewt_pos": ("pos", "ud_english_ewt"),
    "psfxn": ("ps-fxn", "streusle"),
}
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def load(case: str, split: str, layer: int):
    """(X float32 [n, D], y int64 [n]) of a task split, regenerated when absent."""
    import numpy as np

    f = VECTORS / f"{case}_{split}_layer{layer}.npy"
    fl = VECTORS / f"{case}_{split}_labels.npy"
    if f.exists() and fl.exists():
        return np.load(f, mmap_mode="r"), np.load(fl)
    from ftprobe.represent.store import Store

    task, folder = TASKS[case]
    store = Store(STORE)
    hits = store.find(task=task, split=split)
    if not hits:
        if not (DATA / folder).exists():
            return None
        subprocess.run([sys.executable, "-m", "ftprobe", "extract", "--task", task, "--data",
                        str(DATA / folder), "--store", str(STORE), "--splits", split],
                       check=True, env={**os.environ, **THREADS})
        hits = store.find(task=task, split=split)
    e = hits[0]
    return e.layer(layer), np.asarray(e.labels)


def _subset(X, y, n):
    import numpy as np

    if n != "full" and int(n) < len(y):
        X, y = X[: int(n)], y[: int(n)]
    X = np.ascontiguousarray(X, dtype=np.float64)
    _, y = np.unique(np.asarray(y), return_inverse=True)
    return X, y


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children (label-pair workers)."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def one_scale(case: str, layer: int, n: str, jobs: int = 1) -> dict:
    from ftprobe.probe.directprobe import DirectProbe

    data = load(case, "train", layer)
    if data is None:
        return {"skipped": "no data"}
    X, y = _subset(*data, n)
    base = _peak_mib()
    w0, c0 = time.perf_counter(), _cpu_s()
    dp = DirectProbe(progress=True, jobs=jobs).fit(X, y)
    wall, cpu = time.perf_counter() - w0, _cpu_s() - c0
    return {"n": int(len(y)), "dim": int(X.shape[1]), "n_labels": int(y.max()) + 1,
            "n_clusters": dp.n_clusters_, "linear": dp.linear_, "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2), "jobs": jobs, "peak_rss_mib": round(_peak_mib(), 1),
            "rss_before_fit_mib": round(base, 1), "stats": dp.summary()["stats"],
            "phase_s": {k: round(v, 2) for k, v in dp.stats_.seconds.items()}}


def one_compare(case: str, layer: int, n: str, budget: float) -> dict:
    import numpy as np

    from ftprobe.probe.directprobe import DirectProbe
    from ftprobe.probe.directprobe.definition import reference_partition

    data = load(case, "train", layer)
    if data is None:
        return {"skipped": "no data"}
    X, y = _subset(*data, n)
    w0, c0 = time.perf_counter(), time.process_time()
    dp = DirectProbe().fit(X, y)
    fw, fc = time.perf_counter() - w0, time.process_time() - c0
    w0, c0 = time.perf_counter(), time.process_time()
    # the definition's procedure (the tests' reference too): one LP per check, no shortcut
    ref = reference_partition(X, y, deadline=w0 + budget)
    labels, finished, checks = ref.labels, ref.finished, ref.checks
    nw, nc = time.perf_counter() - w0, time.process_time() - c0
    out = {"n": int(len(y)), "n_clusters": dp.n_clusters_, "linear": dp.linear_,
           "ftprobe_wall_s": round(fw, 3), "ftprobe_cpu_s": round(fc, 3),
           "naive_finished": finished, "naive_wall_s": round(nw, 2), "naive_cpu_s": round(nc, 2),
           "naive_lp_checks": checks}
    if finished:
        out["identical_clusters"] = bool(np.array_equal(labels, dp.labels_))
        out["naive_n_clusters"] = int(labels.max()) + 1
        out["speedup_cpu"] = round(nc / max(fc, 1e-9), 1)
    else:
        out["speedup_cpu_at_least"] = round(nc / max(fc, 1e-9), 1)
    return out


def _spawn(args: list[str], timeout: float) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **THREADS})
    except subprocess.TimeoutExpired:
        return {"timeout_s": timeout, "wall_s": round(time.perf_counter() - t0, 1)}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        return {"error": (p.stderr or p.stdout)[-2000:]}
    return json.loads(lines[-1])


def _save(key: str, rec: dict) -> None:
    res = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rec["recorded"] = time.strftime("%Y-%m-%d %H:%M:%S")
    try:
        rec["commit"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                       capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    res[key] = rec
    tmp = RESULTS.with_suffix(".tmp")
    tmp.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, RESULTS)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["scale", "compare", "_one_scale", "_one_compare"])
    ap.add_argument("--cases", nargs="+", default=["ewt_pos:0", "ewt_pos:6", "psfxn:6"])
    ap.add_argument("--sizes", nargs="+", default=["1000", "5000", "20000", "50000", "full"])
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--naive-budget", type=float, default=1800)
    ap.add_argument("--case")
    ap.add_argument("--n")
    ap.add_argument("--jobs", type=int, default=1,
                    help="processes for DirectProbe's label-pair phase (scale mode)")
    a = ap.parse_args()
    if a.mode == "_one_scale":
        name, layer = a.case.split(":")
        print(json.dumps(one_scale(name, int(layer), a.n, a.jobs)))
        return 0
    if a.mode == "_one_compare":
        name, layer = a.case.split(":")
        print(json.dumps(one_compare(name, int(layer), a.n, a.naive_budget)))
        return 0
    if not VECTORS.exists() and not DATA.exists():
        print(f"skipped: neither {VECTORS} nor {DATA} exists")
        return 0
    for case in a.cases:
        for n in a.sizes:
            if a.mode == "scale":
                rec = _spawn(["_one_scale", "--case", case, "--n", n, "--jobs", str(a.jobs)],
                             a.timeout)
                key = f"scale/{case}/{n}"
            else:
                rec = _spawn(["_one_compare", "--case", case, "--n", n, "--naive-budget",
                              str(a.naive_budget)], a.timeout + a.naive_budget)
                key = f"compare/{case}/{n}"
            print(key, json.dumps(rec), flush=True)
            _save(key, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
