"""DirectProbe's measures after a fit, at study scale: exact hull distances between all
cross-label kept clusters (``label_distances``) and nearest-hull prediction of the test split,
ftprobe against the baseline (this package at commit 0429317), alternating in one run.

    python bench/directprobe/study_scale.py --layer 6 --words 5000 --reps 2

PUD POS (UD English PUD, 80/10/10 seeded sentence split as the study makes it, seed 0),
MiniLM vectors from ftprobe's own extraction (into $FTPROBE_BENCH_STORE, default
../bench-store). One fit (this tree's code) on the first ``--words`` training words, saved;
each measurement is a fresh process (one BLAS/OpenMP thread, jobs=1 for both) that loads the
saved fit and times ``label_distances()`` and ``predict(test)``. The baseline runs from a git
worktree of 0429317 (made with ``git worktree add`` when absent). Predictions must be identical
and distances equal within the solver's certified tolerance; the script fails otherwise.
Results: bench/directprobe/study_scale.json (one record per layer/words).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = HERE / "study_scale.json"
DATA = Path(os.environ.get("FTPROBE_SHARED_DATA", REPO.parent / "shared" / "data"))
STORE = Path(os.environ.get("FTPROBE_BENCH_STORE", REPO.parent / "bench-store"))
BASELINE = "0429317"
THREADS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "HF_HUB_OFFLINE": "1"}
KEYS = ("distances_s", "distances_cpu_s", "prediction_s", "prediction_cpu_s", "peak_rss_mib")
DIST_RTOL = 1e-6  # the widest bracket the exact distance accepts (relative to distance or scale)


def distances_agree(new, ref, X) -> tuple[bool, float]:
    """Do two label-distance matrices agree within the solver's certified tolerance (NaN where
    the other has NaN)? And their largest difference."""
    import numpy as np

    scale = float(np.sqrt((X.std(0) ** 2).sum()))
    ok = ~np.isnan(ref)
    dL = np.abs(new[ok] - ref[ok])
    same = bool((np.isnan(new) == np.isnan(ref)).all()
                and (dL <= DIST_RTOL * np.maximum(np.abs(ref[ok]), scale)).all())
    return same, float(dL.max()) if dL.size else 0.0


def _env(src: Path) -> dict:
    return {**os.environ, **THREADS, "PYTHONPATH": str(src)}


def baseline_src(path: Path, commit: str = BASELINE) -> Path:
    if not (path / "src" / "ftprobe").is_dir():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), commit],
                       check=True)
    return path / "src"


def vectors(layer: int):
    """PUD POS train/test vectors at ``layer`` (extracted once into the bench store)."""
    import numpy as np

    sys.path.insert(0, str(REPO / "src"))
    from ftprobe.represent.store import Store

    store = Store(STORE)

    def find(split):
        hits = [e for e in store.find(task="pos", split=split)
                if "pud" in json.dumps(e.manifest["data"]["source"]).lower()]
        return hits[0] if hits else None

    if find("train") is None or find("test") is None:
        subprocess.run([sys.executable, "-m", "ftprobe", "extract", "--task", "pos", "--data",
                        str(DATA / "ud_english_pud"), "--random-split", "0.8,0.1,0.1",
                        "--split-seed", "0", "--splits", "train", "test", "--store", str(STORE),
                        "--no-progress"], check=True, env=_env(REPO / "src"))
    tr, te = find("train"), find("test")
    return (np.asarray(tr.layer(layer), np.float64), np.asarray(tr.labels),
            np.asarray(te.layer(layer), np.float64), np.asarray(te.labels), len(tr.label_names))


def worker(dp_dir: str, test: str, out: str) -> None:
    """Runs under either package (only APIs both have): time distances and prediction."""
    import dataclasses
    import resource
    import shutil

    import numpy as np

    import ftprobe.probe.directprobe as package
    from ftprobe.probe.directprobe import DirectProbe

    # a fit saved by a newer tree may count what an older one does not know: keep the counters
    # this package's ClusterStats has (they are not measured here)
    known = {f.name for f in dataclasses.fields(package.ClusterStats)}
    copy = Path(out) / "fit"
    shutil.copytree(dp_dir, copy, dirs_exist_ok=True)
    summary = json.loads((copy / "summary.json").read_text())
    summary["stats"] = {k: v for k, v in summary["stats"].items() if k in known}
    (copy / "summary.json").write_text(json.dumps(summary))
    dp = DirectProbe.load(copy)
    Xt = np.load(test)
    t0 = time.perf_counter()
    c0 = time.process_time()
    L = dp.label_distances()
    t1 = time.perf_counter()
    c1 = time.process_time()
    pred = dp.predict(Xt)
    t2 = time.perf_counter()
    c2 = time.process_time()
    np.save(Path(out) / "L.npy", L)
    np.save(Path(out) / "pred.npy", pred)
    stats = {"distances_s": t1 - t0, "prediction_s": t2 - t1, "distances_cpu_s": c1 - c0,
             "prediction_cpu_s": c2 - c1,
             "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    ps = getattr(dp, "predict_stats_", None)
    if ps is not None:
        stats["prediction_detail"] = {k: int(getattr(ps, k)) for k in (
            "pairs", "open_after_bounds", "open_after_refinement", "exact_points", "exact_solves")}
    (Path(out) / "stats.json").write_text(json.dumps(stats))


def run_worker(src: Path, out: Path, module: str, call: str, arrays: tuple[str, ...]) -> dict:
    """``module.call`` (a worker of a bench script here, writing stats.json and ARRAY.npy files
    into ``out``) in a fresh process under the package at ``src``; its stats and arrays."""
    import numpy as np

    out.mkdir()
    code = f"import sys; sys.path.insert(0, {str(HERE)!r}); import {module}; {module}.{call}"
    subprocess.run([sys.executable, "-c", code], check=True, env=_env(src))
    stats = json.loads((out / "stats.json").read_text())
    return {**stats, **{k: np.load(out / f"{k}.npy") for k in arrays}}


def measure(src: Path, dp_dir: Path, test: Path, tmp: Path, tag: str) -> dict:
    out = tmp / tag
    return run_worker(src, out, "study_scale", f"worker({str(dp_dir)!r}, {str(test)!r}, {str(out)!r})",
                      ("L", "pred"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--words", type=int, default=5000, help="first N training words (0: all)")
    ap.add_argument("--reps", type=int, default=2, help="alternating runs of each")
    ap.add_argument("--baseline", type=Path, default=Path("/tmp/base0429317"))
    ap.add_argument("--fitted", type=Path, help="a saved DirectProbe of these words (DirectProbe."
                    "save) to measure instead of fitting again; checked against the vectors")
    a = ap.parse_args()
    import numpy as np

    if not DATA.exists():
        print(f"skipped: no data at {DATA}")
        return
    base = baseline_src(a.baseline)
    X, y, Xt, yt, K = vectors(a.layer)
    if a.words:
        X, y = X[: a.words], y[: a.words]
    from ftprobe.probe.directprobe import DirectProbe

    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        t0 = time.perf_counter()
        if a.fitted is not None:
            dp = DirectProbe.load(a.fitted)
            if not np.array_equal(np.load(a.fitted / "points.npy"), X):
                sys.exit(f"{a.fitted}: fitted on other vectors")
            fit_s = None
        else:
            dp = DirectProbe().fit(X, y, n_labels=K)
            fit_s = time.perf_counter() - t0
        dp.save(tmp / "dp")
        np.save(tmp / "test.npy", Xt)
        runs = {"baseline": [], "ftprobe": []}
        for rep in range(a.reps):
            for name, src in (("baseline", base), ("ftprobe", REPO / "src")):
                r = measure(src, tmp / "dp", tmp / "test.npy", tmp, f"{name}{rep}")
                runs[name].append(r)
                print(f"{name} rep {rep}: distances {r['distances_s']:.1f}s "
                      f"({r['distances_cpu_s']:.1f} CPU s), prediction {r['prediction_s']:.1f}s "
                      f"({r['prediction_cpu_s']:.1f} CPU s)", flush=True)
    ref, new = runs["baseline"][0], runs["ftprobe"][0]
    same_pred = all(np.array_equal(r["pred"], ref["pred"]) for rs in runs.values() for r in rs)
    same_L, max_dL = distances_agree(new["L"], ref["L"], X)

    def best(name, key):
        return min(r[key] for r in runs[name])

    rec = {
        "case": f"pud_pos:{a.layer}", "train_words": int(len(y)), "test_words": int(len(yt)),
        "clusters": int(dp.n_clusters_), "linear": bool(dp.linear_), "fit_s": None if fit_s is None else round(fit_s, 2),
        "reps": a.reps, "baseline_commit": BASELINE,
        **{name: {k: [round(r[k], 2) for r in runs[name]] for k in KEYS} for name in runs},
        "prediction_detail": new.get("prediction_detail"),
        # ratios of the best run of each, in CPU seconds (the comparable figure on a shared
        # machine) and in wall seconds
        **{f"speedup_{what}{unit}": round(best("baseline", f"{what}{unit}")
                                          / best("ftprobe", f"{what}{unit}"), 2)
           for what in ("distances", "prediction") for unit in ("_cpu_s", "_s")},
        "speedup_measures_cpu": round(
            min(r["distances_cpu_s"] + r["prediction_cpu_s"] for r in runs["baseline"])
            / min(r["distances_cpu_s"] + r["prediction_cpu_s"] for r in runs["ftprobe"]), 2),
        "speedup_measures_wall": round(
            min(r["distances_s"] + r["prediction_s"] for r in runs["baseline"])
            / min(r["distances_s"] + r["prediction_s"] for r in runs["ftprobe"]), 2),
        "identical_predictions": bool(same_pred),
        "distances_within_tolerance": same_L,
        "max_abs_distance_difference": max_dL,
        "accuracy": float(np.mean(ref["pred"] == yt)),
        "load_average": os.getloadavg()[0],
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    results = json.loads(OUT.read_text()) if OUT.exists() else []
    results = [r for r in results
               if (r["case"], r["train_words"]) != (rec["case"], rec["train_words"])] + [rec]
    tmp_out = OUT.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp_out, OUT)
    print(json.dumps(rec, indent=1))
    if not (same_pred and same_L):
        sys.exit("predictions or distances differ from the baseline")


if __name__ == "__main__":
    main()
