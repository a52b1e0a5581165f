"""What the calibrated measures cost in ``ftprobe demo``: this checkout against a baseline commit.

    nice python bench/compare/bench_demo_measures.py [--baseline eb98046] [--rounds 2]

The demo's similarity step compares every layer before vs after fine-tuning with
``compare_spaces`` at the demo's settings (``n_null = 20``, ``n_interval = 4``, 500-row
subsample). Here the same work on real vectors: the offline MiniLM's layers on the demo's POS
excerpt (80 EWT sentences), each layer against the next (6 comparisons of ~1,300 x 384 spaces).
Each side runs in a fresh process with the library of its own source tree (the baseline from
``git archive``), alternating, ``--rounds`` times; the values must agree (same definition), the
times are wall seconds on whatever else the machine is running (its load average is recorded).
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

import numpy as np

REPO = Path(__file__).resolve().parents[2]
SETTINGS = {"max_rows": 500, "n_null": 20, "n_interval": 4, "level": 0.95, "k": 10, "seed": 0, "device": "cpu"}


def make_layers(folder: Path) -> int:
    """The demo's POS train vectors, every layer, as float32 .npy files; returns the layer count."""
    from ftprobe.data import TaskOptions, load_task
    from ftprobe.data.samples import sample_path
    from ftprobe.represent import Store, extract, load_encoder

    task = load_task("pos", sample_path("ewt"), TaskOptions(max_sentences=80))
    entry = extract(load_encoder(None, device="cpu"), task, "train", Store(folder / "store"), progress=False)
    for layer in entry.layers:
        np.save(folder / f"layer{layer}.npy", np.asarray(entry.layer(layer), dtype=np.float32))
    return len(entry.layers)


def measure(folder: Path, n_layers: int) -> dict:
    """(in the child) compare_spaces of each layer against the next; seconds and values."""
    from ftprobe.compare.spaces import MeasureSettings, compare_spaces

    s = MeasureSettings(**SETTINGS)
    values, t0 = [], time.perf_counter()
    for layer in range(n_layers - 1):
        X, Y = np.load(folder / f"layer{layer}.npy"), np.load(folder / f"layer{layer + 1}.npy")
        values.append(compare_spaces(X, Y, s).to_json())
    return {"seconds": time.perf_counter() - t0, "values": values, "rows": int(X.shape[0])}


def run_side(src: Path, folder: Path, n_layers: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(src), "HF_HUB_OFFLINE": "1"}
    here = str(Path(__file__).parent)
    code = (f"import json, sys; from pathlib import Path; sys.path.insert(0, {here!r}); "
            f"from bench_demo_measures import measure; print(json.dumps(measure(Path({str(folder)!r}), {n_layers})))")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def max_difference(a: list, b: list) -> float:
    worst = 0.0
    for ca, cb in zip(a, b, strict=True):
        for name in ("cka", "procrustes", "mutual_knn"):
            for key in ("value", "null_mean", "null_sd", "calibrated", "p_value"):
                worst = max(worst, abs(ca[name][key] - cb[name][key]) / max(1.0, abs(ca[name][key])))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default="eb98046")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=str(Path(__file__).with_name("results-demo.json")))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        base_src = tmp / "baseline"
        base_src.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO), "archive", args.baseline, "src"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base_src)], input=archive, check=True)
        n_layers = make_layers(tmp)
        sides = {"baseline": base_src / "src", "this checkout": REPO / "src"}
        runs: dict[str, list] = {k: [] for k in sides}
        for _ in range(args.rounds):
            for name, src in sides.items():
                res = run_side(src, tmp, n_layers)
                res["load_average"] = os.getloadavg()[0]
                runs[name].append(res)
                print(f"{name}: {res['seconds']:.1f} s (load {res['load_average']:.1f})", flush=True)
    best = {k: min(r["seconds"] for r in v) for k, v in runs.items()}
    out = {"baseline": args.baseline, "settings": SETTINGS, "comparisons": n_layers - 1,
           "rows": runs["baseline"][0]["rows"],
           "seconds": {k: [round(r["seconds"], 2) for r in v] for k, v in runs.items()},
           "load_average": {k: [round(r["load_average"], 1) for r in v] for k, v in runs.items()},
           "speed_up_best": round(best["baseline"] / best["this checkout"], 2),
           "max_relative_difference": max_difference(runs["baseline"][0]["values"], runs["this checkout"][0]["values"])}
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "settings"}, indent=1))


if __name__ == "__main__":
    main()
