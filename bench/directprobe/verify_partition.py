"""Check a finished merge-phase partition against the definition with independent LPs.

    python bench/directprobe/verify_partition.py s12full --n full --pairs 40 --maximal 20
    python bench/directprobe/verify_partition.py s12full --pairs 0 --maximal 0 --random-pairs 100 --min-size 2

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
- separability of K cross-label pairs drawn at random (``--random-pairs K``, among pairs of
  clusters of at least ``--min-size`` points), each tried first with a plain Fisher plane
  (numpy, the two clusters' covariances; accepted only when the gap of the projections over
  the normal's length exceeds tol, a lower bound on the L2 distance), then with the LP;
- identical rows of two labels (which the definition leaves as meeting singletons) are
  reported apart.

Every pair is out of reach on 2 cores: the full set's 73 clusters make 2,368 cross-label pairs,
half of which no Fisher plane separates, and their LPs on clusters of thousands of points take
seconds to minutes each. The closest pairs are where a wrong answer would show first; the random
ones guard against a mistake elsewhere. Results go to DIR/NAME_verify.json.
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


def duplicate_rows(P: np.ndarray, Q: np.ndarray) -> bool:
    """Two singletons holding the same row (with two labels): the definition's meeting pair."""
    return len(P) == len(Q) == 1 and bool((P == Q).all())


def fisher_gap(P: np.ndarray, Q: np.ndarray) -> float:
    """A lower bound on the L2 distance of two hulls: the gap between the projections of P and
    Q on a regularised Fisher direction, over its length (-inf when they overlap on it)."""
    cov = sum(np.cov(Z.T) if len(Z) > 1 else 0.0 for Z in (P, Q))
    w = np.linalg.solve(cov + 1e-3 * np.eye(P.shape[1]), P.mean(0) - Q.mean(0))
    nw = np.linalg.norm(w)
    return float(((P @ w).min() - (Q @ w).max()) / nw) if nw > 0 else -np.inf


def random_pairs(Xs, groups, ids, cross, iu, tol, k, seed) -> dict:
    t0 = time.perf_counter()
    pick = np.random.default_rng(seed).choice(cross, size=min(k, len(cross)), replace=False)
    out = []
    for n, c in enumerate(pick):
        i, j = int(iu[0][c]), int(iu[1][c])
        P, Q = Xs[groups[i]], Xs[groups[j]]
        rec = {"clusters": [int(ids[i]), int(ids[j])], "sizes": [len(P), len(Q)]}
        if duplicate_rows(P, Q):
            rec.update(duplicate_rows=True, separable=False)
        elif fisher_gap(P, Q) > tol:
            rec.update(by="fisher", separable=True)
        else:
            t = lp_margin(P, Q)
            rec.update(by="lp", half_l1=t, separable=t > tol / 2)
        out.append(rec)
        print("random", n, rec, flush=True)
    return {"checked": len(out), "drawn_from": int(len(cross)),
            "separable": sum(r["separable"] for r in out),
            "by_fisher": sum(r.get("by") == "fisher" for r in out),
            "by_lp": sum(r.get("by") == "lp" for r in out),
            "duplicates": sum(bool(r.get("duplicate_rows")) for r in out),
            "seconds": time.perf_counter() - t0, "pairs": out}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("name")
    ap.add_argument("--layer", type=int, default=6)
    ap.add_argument("--n", default="full")
    ap.add_argument("--pairs", type=int, default=40, help="closest cross-label pairs to separate")
    ap.add_argument("--maximal", type=int, default=20, help="closest same-label pairs to refute")
    ap.add_argument("--candidates", type=int, default=50, help="other-label clusters tried per union")
    ap.add_argument("--random-pairs", type=int, default=0, help="random cross-label pairs to separate")
    ap.add_argument("--min-size", type=int, default=1, help="random pairs: both clusters this big")
    ap.add_argument("--seed", type=int, default=0)
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
        dup = duplicate_rows(Xs[groups[i]], Xs[groups[j]])
        sep.append({"clusters": [int(ids[i]), int(ids[j])], "sizes": [len(groups[i]), len(groups[j])],
                    "half_l1": t, "separable": t > tol / 2, "duplicate_rows": dup})
        print("cross", sep[-1], flush=True)
    res["cross_label"] = {"checked": len(sep), "separable": sum(s["separable"] for s in sep),
                          "duplicates": sum(s["duplicate_rows"] for s in sep),
                          "seconds": time.perf_counter() - t0, "pairs": sep}
    if a.random_pairs:
        size = np.array([len(g) for g in groups])
        pool = np.flatnonzero(~same & (np.minimum(size[iu[0]], size[iu[1]]) >= a.min_size))
        res["random_cross_label"] = random_pairs(Xs, groups, ids, pool, iu, tol, a.random_pairs,
                                                 a.seed)
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
    print(json.dumps({k: v for k, v in res.items()
                      if k not in ("cross_label", "maximality", "random_cross_label")}),
          {k: res[k]["checked"] for k in ("cross_label", "maximality")},
          "separable", res["cross_label"]["separable"], "duplicates", res["cross_label"]["duplicates"],
          "refuted", res["maximality"]["refuted"],
          {k: v for k, v in res.get("random_cross_label", {}).items() if k != "pairs"})


if __name__ == "__main__":
    main()
