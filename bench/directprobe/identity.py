"""Same decisions, same speed: a DirectProbe fit by two code trees side by side, in one run.

    git worktree add /tmp/base0429317 0429317
    python bench/directprobe/identity.py --base /tmp/base0429317/src --vectors DIR 0:5000 6:3000

Each case ``LAYER:N`` fits the first N words of ``DIR/ewt_train_layer{LAYER}.npy`` (labels in
``DIR/ewt_train_labels.npy``; bench.load's files, or any X/y pair named so) with
``DirectProbe().fit`` in a fresh process per fit and per tree (one BLAS thread), the two trees
alternated ``--repeat`` times. Printed per case: each tree's partition digest (a hash of the
cluster of every row and of every counter of what decided each check: equal digests mean the
same decisions reached the same way), its median CPU seconds, and the ratio new / base. On a
shared machine read the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_FIT = r"""
import hashlib, json, sys, time
import numpy as np
from ftprobe.probe.directprobe import DirectProbe
X = np.load(sys.argv[1], mmap_mode="r")[: int(sys.argv[3])]
y = np.load(sys.argv[2])[: int(sys.argv[3])]
X = np.ascontiguousarray(X, dtype=np.float64)
_, y = np.unique(y, return_inverse=True)
c0 = time.process_time()
dp = DirectProbe().fit(X, y)
cpu = time.process_time() - c0
# counters of a series' prior (zero in a plain fit) are not in older trees: left out
stats = {k: v for k, v in vars(dp.stats_).items() if k != "seconds" and not k.startswith("prior_")}
h = hashlib.sha256(np.asarray(dp.labels_, np.int64).tobytes())
h.update(json.dumps(stats, sort_keys=True).encode())
print(json.dumps({"digest": h.hexdigest()[:16], "cpu": cpu, "clusters": dp.n_clusters_,
                  "merges": stats["merges"], "rejections": stats["rejections"]}))
"""


def fit(src: str, vectors: Path, layer: int, n: int) -> dict:
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", _FIT, str(vectors / f"ewt_train_layer{layer}.npy"),
                          str(vectors / "ewt_train_labels.npy"), str(n)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="+", help="LAYER:N, e.g. 0:5000 6:3000")
    ap.add_argument("--base", required=True, help="src folder of the reference tree")
    ap.add_argument("--new", default=str(REPO / "src"), help="src folder of the tree under test")
    ap.add_argument("--vectors", type=Path, required=True)
    ap.add_argument("--repeat", type=int, default=2)
    a = ap.parse_args()
    same = True
    for case in a.cases:
        layer, n = (int(v) for v in case.split(":"))
        runs = {"base": [], "new": []}
        for _ in range(a.repeat):
            for name, src in (("base", a.base), ("new", a.new)):
                runs[name].append(fit(src, a.vectors, layer, n))
        digests = {name: {r["digest"] for r in rs} for name, rs in runs.items()}
        cpu = {name: sorted(r["cpu"] for r in rs)[len(rs) // 2] for name, rs in runs.items()}
        ok = digests["base"] == digests["new"] and len(digests["new"]) == 1
        same &= ok
        r = runs["new"][0]
        print(f"layer {layer} N {n}: {'identical' if ok else 'DIFFERENT'} "
              f"(base {sorted(digests['base'])}, new {sorted(digests['new'])}); "
              f"{r['clusters']} clusters, {r['merges']} merges, {r['rejections']} rejections; "
              f"CPU s base {cpu['base']:.1f}, new {cpu['new']:.1f}, "
              f"ratio {cpu['new'] / cpu['base']:.3f}", flush=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
