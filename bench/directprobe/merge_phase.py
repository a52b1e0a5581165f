"""The merge phase alone, instrumented: how far it gets, and where its solver time goes.

    python bench/directprobe/merge_phase.py run --layer 6 --n full --decisions 40000 --out opt40k
    python bench/directprobe/merge_phase.py windows opt40k base40k    # per-window table
    python bench/directprobe/merge_phase.py windows fin3 --step 5000  # windows of a resumed run

``run`` loads (or computes once, with --jobs processes, and caches) the label-pair phase's
conflicts, then runs the merge engine (``clustering.MergeEngine``) on the conflicting labels, one BLAS
thread, stopping after --decisions merge decisions or --seconds. Every call that reaches a solver
is logged (decision number, sizes, whether it went straight to the LP, whether a kept LP was
continued, the answer, seconds), with the wall time every 1,000 decisions; the log is written
every 5,000 decisions too, so a run stopped by hand leaves it. A run that finishes also saves
each row's cluster representative (``OUT_rep.npy``), so that two versions of the code can be
compared for identical partitions; every run records a digest of its partition and rejections
at its end (same decisions made <=> same digest). Files go to --dir (default ../dp-runs).

Late windows without the 15 minutes it takes to reach them:

    python bench/directprobe/merge_phase.py run --save-at 35000 --decisions 35000 --out s
    python bench/directprobe/merge_phase.py run --resume s_35000 --decisions 2000 --out w1

``--save-at`` writes the engine's state (``ftprobe.probe.directprobe.state``, the format a fit
saves with ``state_path``) at those decision counts; ``--resume`` starts there instead of at
the beginning. The kept HiGHS LPs are put back frozen (rows and optimal basis), so they
continue warm as in the run (states saved before session 8 resume with their LPs cold:
compare windows of two versions resumed from the same state, not a window with a continuous
run).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DIR = Path(os.environ.get("FTPROBE_DP_RUNS", HERE.parents[2] / "dp-runs"))
WINDOWS = ((0, 10000), (10000, 20000), (20000, 30000), (30000, 35000), (35000, 40000))


def _conflicts(layer: int, n: str, jobs: int, out: Path):
    import numpy as np

    sys.path.insert(0, str(HERE))
    from bench import _subset, load

    from ftprobe.probe.directprobe.clustering import ClusterStats, label_conflicts, scale_data

    data = load("ewt_pos", "train", layer)
    if data is None:
        sys.exit("no EWT vectors and no ../shared/data to make them from")
    X, y = _subset(*data, n)
    Xs, unit = scale_data(X)
    tol = 1e-6 * unit
    f = out / f"conflicts_layer{layer}_{n}.npy"
    if f.exists():
        conf = np.load(f)
    else:
        t = time.perf_counter()
        conf = label_conflicts(Xs, y, int(y.max()) + 1, tol, ClusterStats(), None, jobs)
        print(f"label pairs: {time.perf_counter() - t:.0f} s", flush=True)
        np.save(f, conf)
    return Xs, y, tol, conf


def _digest(clusters: dict, rej: dict) -> str:
    """Hash of a partition (``MergeEngine.clusters()``) and its rejection sets: equal for equal
    decisions."""
    import hashlib

    import numpy as np

    h = hashlib.sha256()
    for cid, mem in sorted(clusters.items()):
        h.update(np.int64(cid).tobytes())
        h.update(np.sort(mem).astype(np.int64).tobytes())
    for k in sorted(rej):
        h.update(np.int64(k).tobytes())
        h.update(np.array(sorted(rej[k]), np.int64).tobytes())
    return h.hexdigest()[:16]


def run(a) -> None:
    import numpy as np

    import ftprobe.probe.directprobe.cascade as cascade
    import ftprobe.probe.directprobe.clustering as cl
    from ftprobe.probe.directprobe.state import SavedState, restore_engine, save_state

    out = Path(a.dir)
    out.mkdir(parents=True, exist_ok=True)
    Xs, y, tol, conf = _conflicts(a.layer, a.n, a.jobs, out)
    frozen = cl.find_frozen(Xs, y)
    rows_by_label = {int(k): np.flatnonzero(y == k) for k in np.flatnonzero(conf.any(1))}
    stats = cl.ClusterStats()
    log, marks, state = [], [], {"dec": 0}
    decide = cascade.hulls_disjoint

    def logged(P, Q, tol, stats=None, **kw):
        t = time.perf_counter()
        r = decide(P, Q, tol, stats, **kw)
        log.append((state["dec"], len(P), len(Q), bool(kw.get("lp_first")),
                    kw.get("warm") is not None, bool(r[0]), time.perf_counter() - t))
        return r

    class Stop(Exception):
        pass

    def write(done: bool, digest: str | None) -> None:
        res = {"layer": a.layer, "n": a.n, "wall": time.perf_counter() - t0,
               "cpu": time.process_time() - c0, "done": done,
               "resumed_at": start, "dec": state["dec"], "marks": marks, "stats": vars(stats),
               "digest": digest, "log": log}
        tmp = out / f"{a.out}.json.tmp"
        tmp.write_text(json.dumps(res))
        os.replace(tmp, out / f"{a.out}.json")

    def progress(k):
        state["dec"] += k
        dec = state["dec"]
        if dec % 1000 == 0:
            marks.append((dec, time.perf_counter() - t0, stats.merges, stats.rejections))
            print(marks[-1], flush=True)
            if dec % 5000 == 0:
                write(False, None)
        if dec in a.save_at:
            save_state(eng, out / f"{a.out}_{dec}.npz", dec, conf)
            print(f"state saved at {dec}", flush=True)
        if dec - start >= a.decisions or time.perf_counter() - t0 > a.seconds:
            raise Stop

    t0, c0 = time.perf_counter(), time.process_time()
    eng = cl.MergeEngine(Xs, y, rows_by_label, conf, frozen, tol, stats, progress)
    start = 0
    if a.resume:
        start = state["dec"] = restore_engine(eng, SavedState(out / f"{a.resume}.npz"))
        print(f"resumed at {start} ({time.perf_counter() - t0:.0f} s)", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
    cascade.hulls_disjoint = logged
    done = True
    try:
        if not a.resume:
            eng.start()
        eng.loop()
    except Stop:
        done = False
    finally:
        cascade.hulls_disjoint = decide
    wall = time.perf_counter() - t0
    clusters = eng.clusters()  # slow at full size (100k+ clusters): once for both uses
    if done:
        rep = np.full(len(y), -1, np.int64)
        for cid, mem in clusters.items():
            rep[mem] = cid
        np.save(out / f"{a.out}_rep.npy", rep)
    write(done, _digest(clusters, eng.order.rej.pairs))
    print(f"wall {wall:.0f} s, CPU {time.process_time() - c0:.0f} s, finished {done}, {stats.merges} merges, "
          f"{stats.rejections} rejections")


def windows(a) -> None:
    import numpy as np

    out = Path(a.dir)
    reps = {}
    for name in a.names:
        r = json.loads((out / f"{name}.json").read_text())
        log = np.array(r["log"], dtype=float).reshape(-1, 7)
        st = r["stats"]
        marks = {m[0]: m[1] for m in r["marks"]}
        sec = {k: round(v) for k, v in st["seconds"].items()}
        print(f"{name}: wall {r['wall']:.0f} s, CPU {r.get('cpu', float('nan')):.0f} s, {r['dec']} decisions ({st['merges']} merges, "
              f"{st['rejections']} rejections), digest {r.get('digest')}, seconds {sec}")
        print("  decisions       wall  solver  Wolfe-first sep | rej  cold LP sep | rej  "
              "continued LP sep | rej  (calls/seconds)")
        start = r.get("resumed_at") or 0
        wins = WINDOWS if a.step is None else [(lo, lo + a.step) for lo in range(start, r["dec"], a.step)]
        for lo, hi in wins:
            if hi > r["dec"] or lo < start:
                continue
            L = log[(log[:, 0] >= lo) & (log[:, 0] < hi)]

            def part(m, L=L):
                return f"{int(m.sum())}/{L[m, 6].sum():.0f}"

            first, warm, sep = L[:, 3] == 1, L[:, 4] == 1, L[:, 5] == 1
            cold = first & ~warm
            print(f"  {lo:>6}-{hi:<7} {marks.get(hi, np.nan) - marks.get(lo, 0.0):6.0f} "
                  f"{L[:, 6].sum():7.0f}  {part(~first & sep):>11} | {part(~first & ~sep):<8}"
                  f"{part(cold & sep):>9} | {part(cold & ~sep):<8}"
                  f"{part(warm & sep):>12} | {part(warm & ~sep)}")
        f = out / f"{name}_rep.npy"
        if f.exists():
            reps[name] = np.load(f)
    names = list(reps)
    for other in names[1:]:
        same = np.array_equal(reps[names[0]], reps[other])
        print(f"partition {names[0]} vs {other}: {'identical' if same else 'DIFFERENT'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--layer", type=int, default=6)
    r.add_argument("--n", default="full", help="first N words of EWT POS train, or 'full'")
    r.add_argument("--decisions", type=int, default=10**9, help="stop after this many more")
    r.add_argument("--seconds", type=float, default=float("inf"), help="stop after this long")
    r.add_argument("--save-at", type=int, nargs="*", default=[],
                   help="save the engine's state at these decision counts (OUT_N.npz)")
    r.add_argument("--resume", help="start from a saved state (its file name without .npz)")
    r.add_argument("--jobs", type=int, default=2, help="processes for the label-pair phase")
    r.add_argument("--out", required=True, help="name of this run's files")
    r.add_argument("--dir", default=str(DIR))
    w = sub.add_parser("windows")
    w.add_argument("names", nargs="+")
    w.add_argument("--step", type=int, help="windows of this many decisions from the run's start "
                   "(default: the fixed early windows)")
    w.add_argument("--dir", default=str(DIR))
    a = ap.parse_args()
    if a.cmd == "run":
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            if os.environ.get(k) != "1":  # one BLAS thread, as in bench.py: re-exec with it
                env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                       "MKL_NUM_THREADS": "1"}
                os.execve(sys.executable, [sys.executable, *sys.argv], env)
        run(a)
    else:
        windows(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
