"""Support queries screened in float32 (``Tuning.screen_queries``) against float64 queries, in
one run: the exact hull distances of all cross-label kept cluster pairs (``label_distances``)
and, with ``--fit``, the fit itself.

    python bench/directprobe/screened_queries.py --case dep:6:0 --case pos:6:0 --reps 2
    python bench/directprobe/screened_queries.py --case pos:0:8000 --fit --reps 1

A case is task:layer:words (PUD, the study's seeded 80/10/10 split, MiniLM, train split;
words 0 = all), from ftprobe's own extraction in $FTPROBE_BENCH_STORE (default ../bench-store;
made with ``ftprobe extract`` when absent). One fit per case (this tree, cached in the store's
``fits/`` folder); each measurement is a fresh process, one BLAS thread, the two settings
alternating. The distances must agree within the solver's certified tolerance and the fits'
partitions must be identical, or the script fails. Results: screened_queries.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUT = HERE / "screened_queries.json"
DATA = Path(os.environ.get("FTPROBE_SHARED_DATA", REPO.parent / "shared" / "data"))
STORE = Path(os.environ.get("FTPROBE_BENCH_STORE", REPO.parent / "bench-store"))
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
       "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO / "src")}
RTOL = 1e-8  # the solver certifies 1e-9 of each distance; two certified values differ by less


def train_vectors(task: str, layer: int, words: int):
    import numpy as np

    sys.path.insert(0, str(REPO / "src"))
    from ftprobe.represent.store import Store

    def find():
        return next((e for e in Store(STORE).find(task=task, split="train")
                     if "pud" in json.dumps(e.manifest["data"]["source"]).lower()), None)

    if find() is None:
        subprocess.run([sys.executable, "-m", "ftprobe", "extract", "--task", task, "--data",
                        str(DATA / "ud_english_pud"), "--random-split", "0.8,0.1,0.1",
                        "--split-seed", "0", "--splits", "train", "--store", str(STORE),
                        "--no-progress"], check=True, env=ENV)
    e = find()
    X, y = np.asarray(e.layer(layer), np.float64), np.asarray(e.labels)
    return (X[:words], y[:words], len(e.label_names)) if words else (X, y, len(e.label_names))


def worker(case: str, what: str, screen: bool, out: str) -> None:
    """One measurement in this process: the fit, or the distances of the saved fit."""
    import numpy as np

    from ftprobe.probe.directprobe import DirectProbe, Tuning

    task, layer, words = case.split(":")
    tuning = Tuning(screen_queries=screen)
    c0 = time.process_time()
    if what == "fit":
        X, y, K = train_vectors(task, int(layer), int(words))
        c0 = time.process_time()
        dp = DirectProbe(tuning=tuning).fit(X, y, n_labels=K)
        result = dp.labels_
        extra = {"clusters": int(dp.n_clusters_), "merges": int(dp.stats_.merges),
                 "rejections": int(dp.stats_.rejections)}
    else:
        dp = DirectProbe.load(fit_dir(case))
        dp.tuning = tuning
        result = dp.label_distances()
        extra = {}
    cpu = time.process_time() - c0
    np.save(Path(out) / "result.npy", result)
    (Path(out) / "stats.json").write_text(json.dumps({"cpu_s": cpu, **extra}))


def fit_dir(case: str) -> Path:
    return STORE / "fits" / case.replace(":", "_")


def measure(case: str, what: str, screen: bool, out: Path) -> dict:
    import numpy as np

    out.mkdir(parents=True, exist_ok=True)
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import screened_queries as s; "
            f"s.worker({case!r}, {what!r}, {screen!r}, {str(out)!r})")
    subprocess.run([sys.executable, "-c", code], check=True, env=ENV)
    return {**json.loads((out / "stats.json").read_text()), "result": np.load(out / "result.npy")}


def main() -> None:
    import tempfile

    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", required=True, help="task:layer:words")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--fit", action="store_true", help="time the fits, not the distances")
    a = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: no data at {DATA}")
        return
    records = json.loads(OUT.read_text()) if OUT.exists() else []
    what = "fit" if a.fit else "distances"
    for case in a.case:
        task, layer, words = case.split(":")
        if what == "distances" and not fit_dir(case).exists():
            sys.path.insert(0, str(REPO / "src"))
            from ftprobe.probe.directprobe import DirectProbe

            X, y, K = train_vectors(task, int(layer), int(words))
            DirectProbe().fit(X, y, n_labels=K).save(fit_dir(case))
        runs: dict[str, list[dict]] = {"float64": [], "screened": []}
        with tempfile.TemporaryDirectory() as tmp:
            for rep in range(a.reps):
                for name, screen in (("float64", False), ("screened", True)):
                    r = measure(case, what, screen, Path(tmp) / f"{name}{rep}")
                    runs[name].append(r)
                    print(f"{case} {what} {name} rep {rep}: {r['cpu_s']:.1f} CPU s", flush=True)
        ref = runs["float64"][0]["result"]
        for r in runs["float64"] + runs["screened"]:
            if what == "fit":
                same = np.array_equal(r["result"], ref)
            else:
                same = bool(np.allclose(r["result"], ref, rtol=RTOL, atol=0, equal_nan=True))
            if not same:
                sys.exit(f"{case}: the screened {what} differ from the float64 ones")
        diff = 0.0
        if what == "distances":
            ok = ~np.isnan(ref) & (ref > 0)
            diff = float(np.max(np.abs(runs["screened"][0]["result"][ok] - ref[ok]) / ref[ok]))
        best = {name: min(r["cpu_s"] for r in rs) for name, rs in runs.items()}
        rec = {"case": case, "what": what, "reps": a.reps,
               **{k: v for k, v in runs["screened"][0].items() if k not in ("result", "cpu_s")},
               "cpu_s": {name: [round(r["cpu_s"], 2) for r in rs] for name, rs in runs.items()},
               "speedup_cpu": round(best["float64"] / best["screened"], 2),
               "identical" if what == "fit" else "max_relative_difference":
                   True if what == "fit" else diff,
               "load_average": os.getloadavg()[0],
               "variant": "screened after Tuning.screen_after plain queries (landed)"}
        # a new run replaces the last one of this case; records of variants not landed stay
        records = [r for r in records if (r["case"], r["what"]) != (case, what)
                   or "not landed" in r.get("variant", "")] + [rec]
        OUT.write_text(json.dumps(records, indent=1) + "\n")
        print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
