"""DirectProbe along a fine-tuning run: each state fitted alone against ``fit_series`` (each
fit offered the previous state's proofs), same process, alternating state by state.

    python bench/directprobe/series.py --run RUN --layers 0 1 6 --words 5000

RUN is an ``ftprobe finetune`` folder (its checkpoints/ and final/), e.g. MiniLM on PUD POS:

    ftprobe finetune --task pos --data ../shared/data/ud_english_pud --random-split 0.8,0.1,0.1 \\
        --split-seed 0 --out ../series-ft --epochs 10 --checkpoint-every-epoch

The states are the original model and every checkpoint; each one's PUD POS train vectors are
extracted once into $FTPROBE_BENCH_STORE (default ../bench-store). For every layer and state:
one fresh fit, then the series' fit of the same space with the previous state's prior; the
partitions must be identical (the script fails otherwise). One BLAS thread. Results:
bench/directprobe/series.json (one record per layer and state) and a table on stdout.
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
OUT = HERE / "series.json"
DATA = Path(os.environ.get("FTPROBE_SHARED_DATA", REPO.parent / "shared" / "data"))
STORE = Path(os.environ.get("FTPROBE_BENCH_STORE", REPO.parent / "bench-store"))
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
os.environ["HF_HUB_OFFLINE"] = "1"


def states(run: Path) -> list[tuple[str, str]]:
    """(name, model) of the original model and every checkpoint of an ``ftprobe finetune`` run."""
    info = json.loads((run / "run.json").read_text())
    cks = sorted((run / "checkpoints").glob("step-*"))
    return [("original", info["model"])] + [(c.name, str(c)) for c in cks]


def vectors(model: str, layer: int):
    """PUD POS train vectors of ``model`` at ``layer`` (extracted once into the bench store)."""
    import numpy as np

    from ftprobe.represent.store import Store

    def find():
        for e in Store(STORE).find(task="pos", split="train"):
            m = e.manifest
            if "pud" in json.dumps(m["data"]["source"]).lower() and m["model"]["name"] == model:
                return e
        return None

    if find() is None:
        subprocess.run([sys.executable, "-m", "ftprobe", "extract", "--task", "pos", "--data",
                        str(DATA / "ud_english_pud"), "--random-split", "0.8,0.1,0.1", "--split-seed", "0",
                        "--splits", "train", "--model", model, "--store", str(STORE), "--no-progress"],
                       check=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    e = find()
    return np.asarray(e.layer(layer), np.float64), np.asarray(e.labels)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", type=Path, required=True, help="an ftprobe finetune folder")
    ap.add_argument("--layers", type=int, nargs="+", default=[0, 1, 6])
    ap.add_argument("--words", type=int, default=5000, help="first N training words (0: all)")
    ap.add_argument("--states", type=int, default=0, help="the original and the first N-1 checkpoints (0: all)")
    a = ap.parse_args()
    import numpy as np

    sys.path.insert(0, str(REPO / "src"))
    from ftprobe.probe.directprobe import DirectProbe

    if not DATA.exists():
        print(f"skipped: no data at {DATA}")
        return
    records = []
    for layer in a.layers:
        prior = None
        for name, model in states(a.run)[: a.states or None]:
            X, y = vectors(model, layer)
            if a.words:
                X, y = X[: a.words], y[: a.words]
            t0, c0 = time.perf_counter(), time.process_time()
            fresh = DirectProbe().fit(X, y)
            t1, c1 = time.perf_counter(), time.process_time()
            series = DirectProbe().fit(X, y, prior=prior, keep_prior=True)
            t2, c2 = time.perf_counter(), time.process_time()
            if not np.array_equal(fresh.labels_, series.labels_):
                raise SystemExit(f"layer {layer}, {name}: the series' partition differs from a fresh fit's")
            prior = series.prior_
            s = series.stats_
            rec = {"layer": layer, "state": name, "words": len(y), "clusters": fresh.n_clusters_,
                   "fresh_s": t1 - t0, "fresh_cpu_s": c1 - c0, "series_s": t2 - t1, "series_cpu_s": c2 - c1,
                   "prior_plane": s.prior_plane, "prior_overlap": s.prior_overlap,
                   "prior_rejected": s.prior_rejected, "identical": True}
            records.append(rec)
            print(f"L{layer} {name:>12} {rec['clusters']:5d} clusters  fresh {rec['fresh_s']:7.1f} s  "
                  f"series {rec['series_s']:7.1f} s  ({rec['fresh_s'] / max(rec['series_s'], 1e-9):.1f}x; "
                  f"{s.prior_plane} planes, {s.prior_overlap} overlaps held, {s.prior_rejected} failed)",
                  flush=True)
    OUT.write_text(json.dumps({"run": str(a.run), "words": a.words, "load_average": os.getloadavg(),
                               "records": records}, indent=2) + "\n")
    for layer in a.layers:
        rs = [r for r in records if r["layer"] == layer]
        f, s = sum(r["fresh_cpu_s"] for r in rs), sum(r["series_cpu_s"] for r in rs)
        f1, s1 = sum(r["fresh_cpu_s"] for r in rs[1:]), sum(r["series_cpu_s"] for r in rs[1:])
        print(f"layer {layer}: {len(rs)} states, CPU {f:.0f} s alone, {s:.0f} s as a series ({f / s:.2f}x; "
              f"states after the first {f1 / max(s1, 1e-9):.2f}x)")


if __name__ == "__main__":
    main()
