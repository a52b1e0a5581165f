"""Check a finished merge-phase partition against the definition with independent LPs.

    python bench/directprobe/verify_partition.py s12full --n full --pairs 40 --maximal 20

Reads ``DIR/NAME_rep.npy`` (each row's cluster representative, written by ``merge_phase.py
run`` when a run finishes; -1 for the labels outside the merge phase, one cluster each) and
checks, with a plain max-margin LP (scipy linprog, HiGHS; none of ftprobe's certificates), whose
optimum t is half the L1 distance of two hulls. The definition's "disjoint" is an L2 distance
above tol, and L2 <= L1 <= sqrt(D) L2, so a disjoint pair must have t > tol / 2 and a meeting
one t <= sqrt(D) tol / 2:

- purity of every cluster;
- separability of the cross-label cluster pairs with the closest centroids (the hardest);
- maximality of the same-label pairs with the closest centroids: their union must meet some
  cluster of another label, looked for in order of centroid distance;
- identical rows of two labels (which the definition leaves as meeting singletons) are
  reported apart.

A full check of every pair is out of reach at 200k points (millions of LPs); the closest pairs
are where a wrong answer would show first. Results go to DIR/NAME_verify.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from merge_phase import DIR  # noqa: E402


def lp_margin(P: np.ndarray, Q: np.ndarray) -> float:
    """max t s.t. w.p + b >= t on P, w.q + b <= -t on Q, |w_i| <= 1: half the L1 distance of
    the two hulls (bounded and feasible, so HiGHS always gets an optimum)."""
    d = P.shape[1]
    A = np.vstack([np.hstack([-P, -np.ones((len(P), 1)), np.ones((len(P), 1))]),
                   np.hstack([Q, np.ones((len(Q), 1)), np.ones((len(Q), 1))])])
    c = np.zeros(d + 2)
    c[-1] = -1.0
    res = linprog(c, A_ub=A, b_ub=np.zeros(len(A)), bounds=[(-1, 1)] * d + [(None, None), (0, None)],
                  method="highs")
    if res.status != 0:
        raise RuntimeError(f"LP status {res.status}: {res.message}")
    return float(-res.fun)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--n", default="full")
    ap.add_argument("--pairs", type=int, default=40, help="closest cross-label pairs to separate")
    ap.add_argument("--maximal", type=int, default=20, help="closest same-label pairs to refute")
    ap.add_argument("--candidates", type=int, default=50, help="other-label clusters tried per union")
    ap.add_argument("--dir", default=str(DIR))
    a = ap.parse_args()
    from bench import _subset, load

    from ftprobe.probe.directprobe.clustering import scale_data

    out = Path(a.dir)
    X, y = _subset(*load("ewt_pos", "train", a.layer), a.n)
    Xs, unit = scale_data(X)
    tol = 1e-6 * unit  # the default tol, in the scaled units the engine decides in
    rep = np.load(out / f"{a.name}_rep.npy")
    for k in np.unique(y[rep < 0]):  # labels outside the merge phase: one cluster each
        m = (y == k) & (rep < 0)
        rep[m] = np.flatnonzero(m).min()
    ids, cl = np.unique(rep, return_inverse=True)
    order = np.argsort(cl, kind="stable")
    bounds = np.searchsorted(cl[order], np.arange(len(ids) + 1))
    groups = [order[bounds[i] : bounds[i + 1]] for i in range(len(ids))]
    lab = np.array([y[g[0]] for g in groups])
    pure = all((y[g] == y[g[0]]).all() for g in groups)
    cent = np.stack([Xs[g].mean(0) for g in groups])
    sq = (cent**2).sum(1)
    D2 = sq[:, None] + sq[None, :] - 2 * cent @ cent.T
    np.fill_diagonal(D2, np.inf)
    iu = np.triu_indices(len(groups), 1)
    same = lab[iu[0]] == lab[iu[1]]
    d2 = D2[iu]
    res = {"name": a.name, "n_points": int(len(y)), "n_clusters": len(groups),
           "n_labels": int(len(np.unique(y))), "pure": bool(pure),
           "sizes": {"max": int(max(len(g) for g in groups)),
                     "singletons": int(sum(len(g) == 1 for g in groups))}}
    t0 = time.perf_counter()
    cross = np.flatnonzero(~same)[np.argsort(d2[~same])[: a.pairs]]
    sep = []
    for k in cross:
        i, j = int(iu[0][k]), int(iu[1][k])
        t = lp_margin(Xs[groups[i]], Xs[groups[j]])
        dup = len(groups[i]) == len(groups[j]) == 1 and bool((Xs[groups[i]] == Xs[groups[j]]).all())
        sep.append({"clusters": [int(ids[i]), int(ids[j])], "sizes": [len(groups[i]), len(groups[j])],
                    "half_l1": t, "separable": t > tol / 2, "duplicate_rows": dup})
        print("cross", sep[-1], flush=True)
    res["cross_label"] = {"checked": len(sep), "separable": sum(s["separable"] for s in sep),
                          "duplicates": sum(s["duplicate_rows"] for s in sep),
                          "seconds": time.perf_counter() - t0, "pairs": sep}
    t0 = time.perf_counter()
    within = np.flatnonzero(same)[np.argsort(d2[same])[: a.maximal]]
    mx = []
    for k in within:
        i, j = int(iu[0][k]), int(iu[1][k])
        U = Xs[np.concatenate([groups[i], groups[j]])]
        cu = U.mean(0)
        others = np.flatnonzero(lab != lab[i])
        others = others[np.argsort(((cent[others] - cu) ** 2).sum(1))][: a.candidates]
        met = None
        for r, c in enumerate(others):
            if lp_margin(U, Xs[groups[c]]) <= np.sqrt(U.shape[1]) * tol / 2:
                met = (int(ids[c]), r)
                break
        mx.append({"clusters": [int(ids[i]), int(ids[j])], "sizes": [len(groups[i]), len(groups[j])],
                   "meets": None if met is None else met[0], "tried": (met[1] + 1) if met else len(others)})
        print("same", mx[-1], flush=True)
    res["maximality"] = {"checked": len(mx), "refuted": sum(m["meets"] is not None for m in mx),
                         "seconds": time.perf_counter() - t0, "pairs": mx}
    (out / f"{a.name}_verify.json").write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k not in ("cross_label", "maximality")}),
          {k: res[k]["checked"] for k in ("cross_label", "maximality")},
          "separable", res["cross_label"]["separable"], "duplicates", res["cross_label"]["duplicates"],
          "refuted", res["maximality"]["refuted"])


if __name__ == "__main__":
    main()
