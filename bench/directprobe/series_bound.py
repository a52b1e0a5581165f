"""What a series' prior can save at most, and what a neighbouring layer's prior saves.

    python bench/directprobe/series_bound.py --layer 6 --neighbour 5

PUD POS train (80/10/10 seeded sentence split, seed 0, as the study makes it; all words), MiniLM
vectors from ftprobe's extraction in $FTPROBE_BENCH_STORE (default ../bench-store). In one
process, one BLAS thread:
1. a fresh fit of ``--layer`` (its prior kept);
2. the same space again with that prior: every candidate the prior offers holds, so this is the
   most any prior (a checkpoint that moved nothing) can save, and what is left is the fit's own
   bookkeeping (merge order, cheap certificates);
3. a fresh fit of ``--neighbour`` (its prior kept), then ``--layer`` with that prior: the series
   over neighbouring layers that a study makes.
Each prior-driven fit must give the fresh fit's partition and counters (the script fails
otherwise). Results: bench/directprobe/series_bound.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from end_to_end import vectors  # noqa: E402
from study_scale import DATA  # noqa: E402

OUT = HERE / "series_bound.json"
SAME = ("merges", "rejections", "inherited_rejections")  # counters a prior cannot change


def fit(X, y, K, prior=None):
    from ftprobe.probe.directprobe import DirectProbe

    c0 = time.process_time()
    dp = DirectProbe().fit(X, y, n_labels=K, prior=prior, keep_prior=True)
    st = dp.stats_
    return dp, {"cpu_s": round(time.process_time() - c0, 1), "clusters": dp.n_clusters_,
                **{k: getattr(st, k) for k in SAME},
                "prior_plane": st.prior_plane, "prior_overlap": st.prior_overlap,
                "prior_rejected": st.prior_rejected, "lp_decisions": st.lp_sep + st.lp_overlap,
                "seconds": {k: round(v, 1) for k, v in st.seconds.items()}}


def main() -> None:
    import tempfile

    import numpy as np

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--neighbour", type=int, default=5)
    a = ap.parse_args()
    if not DATA.exists():
        print(f"skipped: no data at {DATA}")
        return
    spaces = {}
    with tempfile.TemporaryDirectory() as tmpname:
        tmp = Path(tmpname)
        for layer in (a.layer, a.neighbour):
            _, _, K = vectors("pos", layer, tmp)
            spaces[layer] = np.load(tmp / "X.npy")
        y = np.load(tmp / "y.npy")
    fresh, rec_fresh = fit(spaces[a.layer], y, K)
    print("fresh", rec_fresh, flush=True)
    again, rec_again = fit(spaces[a.layer], y, K, fresh.prior_)
    print("same space with its own prior", rec_again, flush=True)
    near, rec_near = fit(spaces[a.neighbour], y, K)
    print(f"layer {a.neighbour} fresh", rec_near, flush=True)
    series, rec_series = fit(spaces[a.layer], y, K, near.prior_)
    print(f"layer {a.layer} with layer {a.neighbour}'s prior", rec_series, flush=True)
    same = all(np.array_equal(dp.labels_, fresh.labels_)
               and all(r[k] == rec_fresh[k] for k in SAME)
               for dp, r in ((again, rec_again), (series, rec_series)))
    rec = {"case": f"pud_pos:{a.layer}", "neighbour": a.neighbour, "train_words": int(len(y)),
           "fresh": rec_fresh, "own_prior": rec_again, "neighbour_fresh": rec_near,
           "neighbour_prior": rec_series,
           "bound_ratio": round(rec_fresh["cpu_s"] / rec_again["cpu_s"], 2),
           "neighbour_ratio": round(rec_fresh["cpu_s"] / rec_series["cpu_s"], 2),
           "identical_partitions": bool(same), "load_average": os.getloadavg()[0],
           "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    results = json.loads(OUT.read_text()) if OUT.exists() else []
    results = [r for r in results if (r["case"], r["neighbour"]) != (rec["case"], a.neighbour)] + [rec]
    tmp_out = OUT.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(results, indent=1) + "\n")
    os.replace(tmp_out, OUT)
    print(json.dumps({k: rec[k] for k in ("bound_ratio", "neighbour_ratio", "identical_partitions")}))
    if not same:
        sys.exit("a fit with a prior gave another partition")


if __name__ == "__main__":
    main()
