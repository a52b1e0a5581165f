"""DirectProbe end to end, as a study makes each fit: the fit, then exact hull distances between
all cross-label kept clusters (``label_distances``), then nearest-hull prediction of the test
split; ftprobe against the baseline (this package at commit 0429317), alternating in one run.

    python bench/directprobe/end_to_end.py --case pos:6 --case pos:1 --case pos:0 --case ps-fxn:6

``--against COMMIT`` measures against another commit instead (like-for-like pairs for one
change: ``--against HEAD~1``); its records are kept apart from the baseline's.

A case is TASK:LAYER: ``pos`` is UD English PUD (80/10/10 seeded sentence split, seed 0, as the
study makes it), ``ps-fxn`` STREUSLE's own train and test; MiniLM vectors from ftprobe's own
extraction (into $FTPROBE_BENCH_STORE, default ../bench-store), all train and all test words.
Each measurement is a fresh process (one BLAS/OpenMP thread, jobs=1) that fits, measures the
distances and predicts; the baseline runs from a git worktree of 0429317 (made when absent).
The script fails unless both give the same partition and predictions and distances within the
solver's certified tolerance. Results: bench/directprobe/end_to_end.json (one record per case
and commit measured against).
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
sys.path.insert(0, str(HERE))
from study_scale import BASELINE, DATA, REPO, STORE, _env, baseline_src, distances_agree, run_worker  # noqa: E402

OUT = HERE / "end_to_end.json"
PHASES = ("fit", "distances", "prediction")
SOURCES = {"pos": ("ud_english_pud", ["--random-split", "0.8,0.1,0.1", "--split-seed", "0"], "pud"),
           "ps-fxn": ("streusle", [], "streusle")}


def vectors(task: str, layer: int, tmp: Path):
    """Train and test vectors of ``task`` at ``layer`` saved under ``tmp`` (extracted once into
    the bench store); returns (train words, test words, labels)."""
    import numpy as np

    sys.path.insert(0, str(REPO / "src"))
    from ftprobe.represent.store import Store

    folder, split_args, marker = SOURCES[task]

    def find(split):
        hits = [e for e in Store(STORE).find(task=task, split=split)
                if marker in json.dumps(e.manifest["data"]["source"]).lower()
                and layer in e.manifest["layers"]]
        return hits[0] if hits else None

    if find("train") is None or find("test") is None:
        subprocess.run([sys.executable, "-m", "ftprobe", "extract", "--task", task, "--data",
                        str(DATA / folder), *split_args, "--splits", "train", "test",
                        "--layers", str(layer), "--store", str(STORE), "--no-progress"],
                       check=True, env=_env(REPO / "src"))
    tr, te = find("train"), find("test")
    np.save(tmp / "X.npy", np.asarray(tr.layer(layer), np.float64))
    np.save(tmp / "y.npy", np.asarray(tr.labels, np.int64))
    np.save(tmp / "Xt.npy", np.asarray(te.layer(layer), np.float64))
    return len(tr.labels), len(te.labels), len(tr.label_names)


def worker(tmp: str, n_labels: int, out: str) -> None:
    """Runs under either package (only APIs both have): fit, distances, prediction, timed."""
    import resource

    import numpy as np

    from ftprobe.probe.directprobe import DirectProbe

    X, y, Xt = (np.load(Path(tmp) / f) for f in ("X.npy", "y.npy", "Xt.npy"))
    marks = [(time.perf_counter(), time.process_time())]
    dp = DirectProbe().fit(X, y, n_labels=n_labels)
    marks.append((time.perf_counter(), time.process_time()))
    L = dp.label_distances()
    marks.append((time.perf_counter(), time.process_time()))
    pred = dp.predict(Xt)
    marks.append((time.perf_counter(), time.process_time()))
    np.save(Path(out) / "labels.npy", dp.labels_)
    np.save(Path(out) / "L.npy", L)
    np.save(Path(out) / "pred.npy", pred)
    stats = {"clusters": int(dp.n_clusters_),
             "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    for i, phase in enumerate(PHASES):
        stats[f"{phase}_s"] = marks[i + 1][0] - marks[i][0]
        stats[f"{phase}_cpu_s"] = marks[i + 1][1] - marks[i][1]
    (Path(out) / "stats.json").write_text(json.dumps(stats))


def measure(src: Path, tmp: Path, n_labels: int, tag: str) -> dict:
    out = tmp / tag
    return run_worker(src, out, "end_to_end", f"worker({str(tmp)!r}, {n_labels}, {str(out)!r})",
                      ("labels", "L", "pred"))


def same_partition(a, b) -> bool:
    """The same grouping of rows, whatever the clusters' numbering."""
    import numpy as np

    pairs = np.unique(np.stack([a, b], 1), axis=0)
    return len(pairs) == len(np.unique(a)) == len(np.unique(b))


def run_case(case: str, base: Path, reps: int, commit: str = BASELINE) -> dict:
    import numpy as np

    task, layer = case.split(":")
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        n_train, n_test, K = vectors(task, int(layer), tmp)
        X = np.load(tmp / "X.npy")
        runs = {"baseline": [], "ftprobe": []}
        for rep in range(reps):
            for name, src in (("baseline", base), ("ftprobe", REPO / "src")):
                r = measure(src, tmp, K, f"{name}{rep}")
                runs[name].append(r)
                print(f"{case} {name} rep {rep}: " + ", ".join(
                    f"{p} {r[p + '_cpu_s']:.1f} CPU s" for p in PHASES)
                    + f", {r['clusters']} clusters, peak {r['peak_rss_mib']:.0f} MiB", flush=True)
    ref, new = runs["baseline"][0], runs["ftprobe"][0]
    every = [r for rs in runs.values() for r in rs]
    same_part = all(same_partition(r["labels"], ref["labels"]) for r in every)
    same_pred = all(np.array_equal(r["pred"], ref["pred"]) for r in every)
    same_L, max_dL = distances_agree(new["L"], ref["L"], X)

    def best(name, key):
        return min(r[key] for r in runs[name])

    def total(r, unit):
        return sum(r[f"{p}{unit}"] for p in PHASES)

    return {
        "case": case, "train_words": n_train, "test_words": n_test, "clusters": new["clusters"],
        "reps": reps, "baseline_commit": commit,
        **{name: {f"{p}{u}": [round(r[f'{p}{u}'], 2) for r in runs[name]]
                  for p in PHASES for u in ("_cpu_s", "_s")}
           | {"peak_rss_mib": [round(r["peak_rss_mib"]) for r in runs[name]]} for name in runs},
        # ratios of the best run of each: CPU seconds (comparable on a shared machine) and wall
        **{f"speedup_{p}_cpu": round(best("baseline", f"{p}_cpu_s") / best("ftprobe", f"{p}_cpu_s"), 2)
           for p in PHASES},
        "speedup_end_to_end_cpu": round(min(total(r, "_cpu_s") for r in runs["baseline"])
                                        / min(total(r, "_cpu_s") for r in runs["ftprobe"]), 2),
        "speedup_end_to_end_wall": round(min(total(r, "_s") for r in runs["baseline"])
                                         / min(total(r, "_s") for r in runs["ftprobe"]), 2),
        "identical_partitions": bool(same_part),
        "identical_predictions": bool(same_pred),
        "distances_within_tolerance": same_L,
        "max_abs_distance_difference": max_dL,
        "load_average": os.getloadavg()[0],
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--case", action="append", default=[], help="TASK:LAYER, e.g. pos:6, ps-fxn:6")
    ap.add_argument("--reps", type=int, default=1, help="alternating runs of each")
    ap.add_argument("--against", default=BASELINE, help="the commit to measure against")
    ap.add_argument("--baseline", type=Path, default=None,
                    help="its worktree (default /tmp/base0429317 for the baseline, else "
                    "/tmp/ftprobe-COMMIT; made when absent)")
    a = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: no data at {DATA}")
        return
    commit = a.against
    if commit != BASELINE:  # a name like HEAD~1 is recorded as the commit it names
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", commit],
                                check=True, capture_output=True, text=True).stdout.strip()
    path = a.baseline or Path("/tmp/base0429317" if commit == BASELINE else f"/tmp/ftprobe-{commit}")
    base = baseline_src(path, commit)
    failed = []
    for case in a.case or ["pos:6"]:
        rec = run_case(case, base, a.reps, commit)
        results = json.loads(OUT.read_text()) if OUT.exists() else []
        results = [r for r in results
                   if (r["case"], r.get("baseline_commit", BASELINE)) != (case, commit)] + [rec]
        tmp_out = OUT.with_suffix(".json.tmp")
        tmp_out.write_text(json.dumps(results, indent=1) + "\n")
        os.replace(tmp_out, OUT)
        print(json.dumps({k: v for k, v in rec.items() if k not in ("baseline", "ftprobe")}), flush=True)
        if not (rec["identical_partitions"] and rec["identical_predictions"]
                and rec["distances_within_tolerance"]):
            failed.append(case)
    if failed:
        sys.exit(f"answers differ from {commit}'s: {', '.join(failed)}")


if __name__ == "__main__":
    main()
