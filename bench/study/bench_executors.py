"""Study executors benchmark: the same study on the serial executor, the local process pool and
Ray, each in a fresh output folder, run through the CLI as a user would (one process per run).

Reports the wall time of each run, its ratio to serial, and Ray's overhead per step, measured
two ways in this same run: (a) a study's Ray wall time minus the local pool's with the same
number of workers, over its steps (includes Ray's start and its workers' imports); (b) the
round trip of ``--noop-steps`` empty steps submitted one after another through ``RayExecutor``
on a running Ray instance (the pure dispatch cost a step pays once Ray is up). Also the bytes
each run left on disk (the demo must stay under 300 MB).

    python bench/study/bench_executors.py                       # the demo: serial, pool 2, Ray 2
    python bench/study/bench_executors.py --config bench/study/demo-small.toml   # the demo's plan
                                                                # on a quarter of its data
    python bench/study/bench_executors.py --runs ray:1,ray:8 --device cuda   # the GPU check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def disk_bytes(folder: Path) -> int:
    seen, total = set(), 0
    for p in folder.rglob("*"):
        if p.is_file() and (st := p.stat()).st_ino not in seen:
            seen.add(st.st_ino)
            total += st.st_size
    return total


def run_one(kind: str, workers: int, root: Path, config: Path | None, device: str | None) -> dict:
    out = root / f"{kind}-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    if config is None:
        cmd = [sys.executable, "-m", "ftprobe", "demo", "--out", str(out), "--workers", str(workers)]
    else:
        cmd = [sys.executable, "-m", "ftprobe", "study", str(config), "--output", str(out),
               "--workers", str(workers)]
    cmd += ["--no-progress"] + (["--executor", "ray"] if kind == "ray" else [])
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    t0 = time.monotonic()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    first = res.stdout.splitlines()[0]  # "61 steps run, 0 cached, 102s"
    steps = int(first.split()[0])
    results = json.loads((out / "results.json").read_text())
    return {"executor": kind, "workers": workers, "wall_s": round(wall, 2), "steps": steps,
            "disk_bytes": disk_bytes(out), "findings": [f["verdict"] for f in results["findings"]],
            "out": str(out)}


def _noop(payload: dict) -> dict:
    return {"i": payload["i"]}


def noop_round_trip(n: int, workers: int) -> dict:
    from ftprobe.study.executor import StepResources
    from ftprobe.study.ray_executor import RayExecutor

    t0 = time.monotonic()
    ex = RayExecutor(None, workers=workers, cpus=workers)
    started = time.monotonic() - t0
    try:
        ex.submit(_noop, {"i": -1}, StepResources()).result()  # a worker up and warm
        t1 = time.monotonic()
        for i in range(n):  # one after another, as a chain of dependent steps would be
            ex.submit(_noop, {"i": i}, StepResources()).result()
        per_step = (time.monotonic() - t1) / n
    finally:
        ex.shutdown()
    return {"ray_start_s": round(started, 2), "noop_steps": n, "dispatch_s_per_step": round(per_step, 4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", default="serial:1,pool:2,ray:2",
                    help="comma-separated EXECUTOR:WORKERS (serial, pool, ray)")
    ap.add_argument("--config", type=Path, default=None, help="a study config (default: the demo)")
    ap.add_argument("--device", default=None, help="recorded in the results (the study's own setting rules)")
    ap.add_argument("--noop-steps", type=int, default=60)
    ap.add_argument("--work", type=Path, default=None, help="folder for the runs (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the runs' output folders")
    ap.add_argument("--out", type=Path, default=HERE / "results.json")
    args = ap.parse_args()

    root = args.work or Path(tempfile.mkdtemp(prefix="ftprobe-bench-study-"))
    root.mkdir(parents=True, exist_ok=True)
    runs = []
    for item in args.runs.split(","):
        kind, _, w = item.partition(":")
        kind = {"pool": "local", "serial": "local"}.get(kind, kind)
        r = run_one(kind, int(w or 1), root, args.config, args.device)
        r["executor"] = item.split(":")[0]
        runs.append(r)
        print(json.dumps(r), flush=True)
    base = next((r for r in runs if r["executor"] == "serial"), runs[0])  # else the first run
    for r in runs:
        r[f"ratio_vs_{base['executor']}"] = round(r["wall_s"] / base["wall_s"], 3)
    overhead = {}
    for r in runs:
        if r["executor"] == "ray":
            pool = next((p for p in runs if p["executor"] in ("pool", "serial") and p["workers"] == r["workers"]), None)
            if pool is not None:
                overhead[f"ray{r['workers']}_minus_{pool['executor']}{pool['workers']}_s_per_step"] = \
                    round((r["wall_s"] - pool["wall_s"]) / r["steps"], 3)
    dispatch = noop_round_trip(args.noop_steps, 2) if args.noop_steps else {}
    import torch

    report = {"study": str(args.config or "demo"), "device": args.device, "runs": runs,
              "ray_overhead": {**overhead, **dispatch},
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                          "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
                          "load_before": os.getloadavg()},
              "note": "shared machine: read the ratios, not the seconds"}
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report["ray_overhead"]))
    print(f"wrote {args.out}")
    if not args.keep and args.work is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
