"""Prediction by the nearest cluster hull (DirectProbe's "intra-accuracy").

:func:`nearest_hull` is the definition point by point (the reference the batched search of
:mod:`.nearest` is tested against); :func:`nearest_hull_exact` decides one point among given
candidate clusters the same way, and is what the batched search ends with.
"""

from __future__ import annotations

import numpy as np

from ftprobe.probe.directprobe.hull import ZERO_REL, atol_for_scale, nearest_points


def nearest_hull(Xt: np.ndarray, groups: list[np.ndarray], cent: np.ndarray,
                 rad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of Xt, the index of the cluster whose hull is nearest, and that distance.

    Exact point-to-hull distances (Wolfe's algorithm), pruned by bounds that never change the
    answer: ``max(0, |x - c| - r) <= dist(x, hull) <= |x - c|`` (c the centroid, r the radius);
    a cluster is only solved while its lower bound is below the best distance so far, and each
    solve stops early once its certified lower bound exceeds that best. Ties go to the smaller
    cluster index.
    """
    T = len(Xt)
    out = np.empty(T, np.int64)
    dist = np.empty(T)
    sqc = np.einsum("ij,ij->i", cent, cent)
    cmax = float(np.sqrt(sqc.max())) if len(sqc) else 0.0
    for t0 in range(0, T, 1024):
        B = Xt[t0 : t0 + 1024]
        xx = np.einsum("ij,ij->i", B, B)
        d2 = xx[:, None] + sqc[None, :] - 2 * B @ cent.T
        dc = np.sqrt(np.maximum(d2, 0.0))
        lb = np.maximum(dc - rad[None, :], 0.0)
        slack = rounding_slack(B.shape[1], np.sqrt(xx) + cmax)
        for r in range(len(B)):
            x = B[r : r + 1]
            out[t0 + r], dist[t0 + r], _ = _nearest_among(x, groups, np.arange(len(cent)), lb[r],
                                                          float(slack[r]))
    return out, dist


def rounding_slack(dim: int, norms):
    """How far a distance read from an expansion (|x|^2 + |c|^2 - 2<x, c>) may be off by
    rounding, for norms |x| + |c| up to ``norms``: its square is off by at most gamma (|x| +
    |c|)^2 with gamma = (D + 5) 2^-53 for any summation order, so a distance near 0 by up to
    sqrt(gamma) (|x| + |c|) (~2e-7 of the norms at D = 384); twice that, for the two bounds a
    comparison reads."""
    return 2 * (1.01 * (dim + 5) * 2.0**-53) ** 0.5 * norms


def nearest_hull_exact(x: np.ndarray, groups: list[np.ndarray], candidates: np.ndarray,
                       lower: np.ndarray, slack: float = 0.0) -> tuple[int, int]:
    """The nearest of the ``candidates`` clusters to the point ``x`` and the number of exact
    solves it took: solved in the order of their ``lower`` bounds (each within ``slack`` of a
    true lower bound: see :func:`rounding_slack`), each solve stopped once it exceeds the best so
    far; ties to the smaller cluster index."""
    idx, _, solves = _nearest_among(np.asarray(x, np.float64)[None, :], groups,
                                    np.asarray(candidates), np.asarray(lower, np.float64), slack)
    return idx, solves


def _nearest_among(x, groups, candidates, lower, slack: float = 0.0) -> tuple[int, float, int]:
    best, arg, solves = np.inf, -1, 0
    for k in np.lexsort((candidates, lower)):
        j = int(candidates[k])
        # a bound read by rounding may pass a tie's distance (a cluster that holds x itself at
        # 0 can read 3e-8): only a bound past it by more than the rounding ends the search
        if lower[k] > best + slack:
            break
        if len(groups[j]) == 1:
            d = float(np.linalg.norm(x[0] - groups[j][0]))
        else:
            solves += 1
            scale = max(float(np.abs(groups[j]).max()), float(np.abs(x).max()))
            res = nearest_points(groups[j], x, rtol=1e-10, atol=atol_for_scale(scale),
                                 stop_above=best)
            if res.lower > best:
                continue
            d = res.distance if res.distance > ZERO_REL * scale else 0.0
        if d < best or (d == best and j < arg):
            best, arg = d, j
    return arg, best, solves
