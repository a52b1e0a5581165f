"""Each similarity / geometry measure against a plain numpy implementation of its formula.

    OMP_NUM_THREADS=1 python bench/compare/bench_measures.py [--dim 768] [--out bench/compare/results.json]

Two correlated spaces X, Y [N, D] (float32 .npy files, read memory-mapped, as the store keeps
layers) at several N. Every (measure, implementation, N) runs in a fresh process, so its peak
RSS (ru_maxrss, minus the same process's RSS before the call) is its own; RSS also counts the
pages of the memory-mapped inputs it has read (they grow with N but are page cache, not
working memory), so the peak of numpy's own allocations (tracemalloc) is reported beside it. The plain side
implements the textbook formula with numpy and nothing clever: linear CKA through the N x N
Gram matrices, k-NN through the full N x N distance matrix, TwoNN likewise, effective rank and
IsoScore through the SVD of the centred data, Procrustes through scipy's
``orthogonal_procrustes`` on float64 copies. The plain N x N forms run only while they fit a
few GiB (they need 8 N^2 bytes per matrix: 320 GB at N = 200k, so there they cannot run at all).
Values are compared too (the two sides must agree).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- plain numpy, from the formulas -----------------------------------------------------------


def plain_cka(X, Y):
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    X, Y = X - X.mean(0), Y - Y.mean(0)
    n = X.shape[0]

    def hsic(K, L):  # Song et al.'s unbiased estimator on Gram matrices with zeroed diagonals
        Kt, Lt = K - np.diag(np.diag(K)), L - np.diag(np.diag(L))
        one = np.ones(n)
        return (np.sum(Kt * Lt) + (one @ Kt @ one) * (one @ Lt @ one) / ((n - 1) * (n - 2))
                - 2 / (n - 2) * ((Kt @ one) @ (Lt @ one))) / (n * (n - 3))

    K, L = X @ X.T, Y @ Y.T
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def plain_procrustes(X, Y):
    from scipy.linalg import orthogonal_procrustes

    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    X, Y = X - X.mean(0), Y - Y.mean(0)
    X, Y = X / np.linalg.norm(X), Y / np.linalg.norm(Y)
    Q, _ = orthogonal_procrustes(Y, X)
    return float(np.linalg.norm(X - Y @ Q))


def _plain_knn(X, k):
    X = np.asarray(X, dtype=np.float64)
    sq = (X * X).sum(1)
    D = sq[:, None] + sq[None, :] - 2 * X @ X.T
    np.fill_diagonal(D, np.inf)
    idx = np.argpartition(D, k, axis=1)[:, :k]
    return D, idx


def plain_mutual_knn(X, Y, k=10):
    _, ix = _plain_knn(X, k)
    _, iy = _plain_knn(Y, k)
    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(ix.tolist(), iy.tolist(), strict=True)]))


def plain_twonn(X):
    D, _ = _plain_knn(X, 2)
    r = np.sqrt(np.maximum(np.sort(np.partition(D, 2, axis=1)[:, :2], axis=1), 0))
    mu = np.sort(r[:, 1] / r[:, 0])
    n, keep = mu.size, int(np.floor(mu.size * 0.9))
    x, y = np.log(mu[:keep]), -np.log(1 - np.arange(1, keep + 1) / n)
    return float((x @ y) / (x @ x))


def _svals(X):
    X = np.asarray(X, dtype=np.float64)
    return np.linalg.svd(X - X.mean(0), compute_uv=False)


def plain_effective_rank(X):
    s = _svals(X)
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def plain_isotropy(X):
    ev = _svals(X) ** 2
    d = X.shape[1]
    ev = np.pad(ev, (0, d - ev.size))
    v = np.sqrt(d) * ev / np.linalg.norm(ev)
    delta = np.linalg.norm(v - 1) / np.sqrt(2 * (d - np.sqrt(d)))
    phi = (d - delta**2 * (d - np.sqrt(d))) ** 2 / d**2
    return float((d * phi - 1) / (d - 1))


def plain_knn_null(X, Y, k=10, n=20):
    """The null by its definition: the measure recomputed on Y with permuted rows."""
    rng = np.random.default_rng(0)
    return [plain_mutual_knn(X, Y[rng.permutation(X.shape[0])], k) for _ in range(n)]


def _ours():
    from ftprobe import compare as c

    return {
        "cka": lambda X, Y: c.linear_cka(X, Y),
        "procrustes": lambda X, Y: c.procrustes_distance(X, Y),
        "mutual_knn": lambda X, Y: c.mutual_knn(X, Y, k=10, device="cpu"),
        "twonn": lambda X, Y: c.intrinsic_dimension(X, device="cpu"),
        "effective_rank": lambda X, Y: c.effective_rank(X),
        "isotropy": lambda X, Y: c.isotropy(X),
        "knn_null20": lambda X, Y: c.permutation_null(
            functools.partial(c.mutual_knn, k=10, device="cpu"), X, Y, n=20).null_mean,
        "cka_null100": lambda X, Y: c.permutation_null(c.linear_cka, X, Y, n=100).null_mean,
    }


PLAIN = {
    "cka": plain_cka, "procrustes": plain_procrustes, "mutual_knn": plain_mutual_knn,
    "twonn": lambda X, Y: plain_twonn(X), "effective_rank": lambda X, Y: plain_effective_rank(X),
    "isotropy": lambda X, Y: plain_isotropy(X),
    "knn_null20": lambda X, Y: float(np.mean(plain_knn_null(X, Y))),
    "cka_null100": None,
}


def worker(measure: str, impl: str, folder: str) -> None:
    X = np.load(Path(folder) / "x.npy", mmap_mode="r")
    Y = np.load(Path(folder) / "y.npy", mmap_mode="r")
    fn = _ours()[measure] if impl == "ftprobe" else PLAIN[measure]
    if impl == "ftprobe":
        import torch  # imported before the baseline RSS is read, as the plain side has numpy

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    before = _rss_mib()
    tracemalloc.start()  # numpy's allocations (not torch's, not memory-mapped pages)
    t0 = time.perf_counter()
    value = fn(X, Y)
    seconds = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"value": float(value), "seconds": seconds, "peak_extra_mib": peak - before,
                      "peak_numpy_mib": traced}))


def make_data(folder: Path, n: int, d: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    X = np.lib.format.open_memmap(folder / "x.npy", mode="w+", dtype=np.float32, shape=(n, d))
    Y = np.lib.format.open_memmap(folder / "y.npy", mode="w+", dtype=np.float32, shape=(n, d))
    mix = rng.normal(size=(d, d)).astype(np.float32) / np.sqrt(d)
    scale = np.linspace(0.2, 3, d).astype(np.float32)
    base_map = rng.normal(size=(32, d)).astype(np.float32)
    for s in range(0, n, 8192):
        m = min(8192, n - s)
        # A low-dimensional signal plus noise, shared by both spaces (a "layer before / after").
        base = rng.normal(size=(m, 32)).astype(np.float32) @ base_map
        X[s : s + m] = (base + rng.normal(size=(m, d)).astype(np.float32)) * scale + 3.0
        Y[s : s + m] = (base + 0.7 * rng.normal(size=(m, d)).astype(np.float32)) @ mix - 1.0
    X.flush()
    Y.flush()


def run(measure, impl, folder) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO / "src") + os.pathsep + env.get("PYTHONPATH", "")
    p = subprocess.run([sys.executable, __file__, "--worker", measure, impl, str(folder)],
                       capture_output=True, text=True, env=env, check=False)
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"rc {p.returncode}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", nargs=3)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--sizes", default="2500,5000,10000,20000")
    ap.add_argument("--plain-max", type=int, default=10000, help="largest N for the N x N plain forms")
    ap.add_argument("--knn-max", type=int, default=10000, help="largest N for k-NN measures (O(N^2 D))")
    ap.add_argument("--null-max", type=int, default=10000, help="largest N for the nulls")
    ap.add_argument("--measures", default="", help="comma-separated subset (default: all)")
    ap.add_argument("--out", default=str(REPO / "bench" / "compare" / "results.json"))
    a = ap.parse_args()
    if a.worker:
        worker(*a.worker)
        return
    sizes = [int(s) for s in a.sizes.split(",")]
    quadratic = {"cka", "mutual_knn", "twonn", "knn_null20"}
    knn = {"mutual_knn", "twonn", "knn_null20"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            folder = Path(tmp) / str(n)
            folder.mkdir()
            make_data(folder, n, a.dim)
            for measure in _ours():
                if a.measures and measure not in a.measures.split(","):
                    continue
                if (measure in knn and n > a.knn_max) or ("null" in measure and n > a.null_max):
                    continue
                row = {"measure": measure, "n": n, "dim": a.dim, "ftprobe": run(measure, "ftprobe", folder)}
                plain_ok = PLAIN[measure] is not None and (measure not in quadratic or n <= a.plain_max)
                if measure == "knn_null20" and n > 2500:
                    plain_ok = False  # 20 full recomputations: minutes already at 2.5k
                if plain_ok:
                    row["plain"] = run(measure, "plain", folder)
                f, p = row["ftprobe"], row.get("plain")
                if p and "seconds" in p and "seconds" in f:
                    row["speedup"] = p["seconds"] / f["seconds"]
                    row["abs_diff"] = abs(p["value"] - f["value"])
                rows.append(row)
                print(json.dumps(row), flush=True)
    meta = {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "omp_threads": os.environ.get("OMP_NUM_THREADS"), "python": sys.version.split()[0],
            "numpy": np.__version__, "note": "shared 2-core machine (other engineers' jobs running)"}
    Path(a.out).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
