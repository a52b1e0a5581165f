"""The probe grid with subnormal floats flushed to zero, against a tree that does not flush.

Each case trains one layer's grid (the given hidden sizes x the paper's 8 L2 weights, the
protocol's early stopping, one seed) on vectors of a study's store, in a fresh process per run,
one thread, alternating baseline and new; it reports CPU seconds, the epochs trained and the
test accuracy of both trees (they train the same models: the epochs and accuracies agree).

    python bench/probes/denormals.py --baseline-src /tmp/base/src \
        --case trec-50-L4 STORE/TRAIN_ENTRY STORE/TEST_ENTRY 4 \
        --case ps-role-L4 STORE/TRAIN_ENTRY STORE/TEST_ENTRY 4 \
        --hidden 256 --out bench/probes/denormals.json

``--baseline-src``: the ``src`` folder of an ftprobe checkout from before the flush (e.g. a
worktree at 6f45a0a). Prints ``skipped`` and exits 0 when an entry is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

WORKER = r"""
import json, sys, time
import numpy as np, torch
from ftprobe.represent.store import Entry
from ftprobe.probe.protocol import ProbeProtocol, run_protocol
torch.set_num_threads(1)
train, test, layer, hidden = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
a, b = Entry(train), Entry(test)
proto = ProbeProtocol(seeds=1, threads=1, device="cpu", hidden_sizes=tuple(hidden))
t = time.process_time()
r = run_protocol({layer: a.layer(layer)}, a.labels, {layer: b.layer(layer)}, b.labels,
                 protocol=proto, n_labels=len(a.label_names), progress=False)
cpu = time.process_time() - t
l = r.layers[layer]
print(json.dumps({"cpu_s": cpu, "epochs": sum(g["n_iter"] for g in l.grid),
                  "accuracy": l.accuracy_mean, "n_train": len(a.labels)}))
"""


def run(src: str, case: list[str], hidden: list[int]) -> dict:
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", WORKER, case[1], case[2], case[3], json.dumps(hidden)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--baseline-src", required=True)
    ap.add_argument("--new-src", default=str(Path(__file__).resolve().parents[2] / "src"))
    ap.add_argument("--case", nargs=4, action="append", required=True,
                    metavar=("NAME", "TRAIN_ENTRY", "TEST_ENTRY", "LAYER"))
    ap.add_argument("--hidden", type=int, nargs="+", default=[256])
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    for case in args.case:
        for p in case[1:3]:
            if not (Path(p) / "manifest.json").exists():
                print(f"skipped: no store entry at {p}")
                return 0
    rows = []
    for case in args.case:
        for rep in range(args.repeat):
            for tree, src in (("baseline", args.baseline_src), ("new", args.new_src)):
                r = run(src, case, args.hidden)
                rows.append({"case": case[0], "layer": int(case[3]), "tree": tree, "repeat": rep, **r})
                print(f"{case[0]:>12} {tree:>8} cpu {r['cpu_s']:7.1f} s  epochs {r['epochs']:5d}  "
                      f"accuracy {r['accuracy']:.4f}", flush=True)
    summary = {}
    for case in args.case:
        base = [r for r in rows if r["case"] == case[0] and r["tree"] == "baseline"]
        new = [r for r in rows if r["case"] == case[0] and r["tree"] == "new"]
        summary[case[0]] = {
            "baseline_cpu_s": min(r["cpu_s"] for r in base), "new_cpu_s": min(r["cpu_s"] for r in new),
            "ratio": min(r["cpu_s"] for r in base) / min(r["cpu_s"] for r in new),
            "same_epochs": {r["epochs"] for r in base} == {r["epochs"] for r in new},
            "accuracy_baseline": base[0]["accuracy"], "accuracy_new": new[0]["accuracy"],
        }
        print(case[0], json.dumps(summary[case[0]]))
    if args.out:
        doc = {"command": " ".join(sys.argv), "hidden": args.hidden, "rows": rows, "summary": summary,
               "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                           "load_average": os.getloadavg()}, "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
