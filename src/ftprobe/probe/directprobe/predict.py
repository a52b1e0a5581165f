"""Prediction by the nearest cluster hull (DirectProbe's "intra-accuracy")."""

from __future__ import annotations

import numpy as np

from ftprobe.probe.directprobe.hull import ZERO_REL, nearest_points


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
    for t0 in range(0, T, 1024):
        B = Xt[t0 : t0 + 1024]
        d2 = np.einsum("ij,ij->i", B, B)[:, None] + sqc[None, :] - 2 * B @ cent.T
        dc = np.sqrt(np.maximum(d2, 0.0))
        lb = np.maximum(dc - rad[None, :], 0.0)
        for r in range(len(B)):
            x = B[r : r + 1]
            order = np.lexsort((np.arange(len(cent)), lb[r]))
            best, arg = np.inf, -1
            for j in order:
                if lb[r, j] > best:
                    break
                if len(groups[j]) == 1:
                    d = float(np.linalg.norm(x[0] - groups[j][0]))
                else:
                    res = nearest_points(groups[j], x, rtol=1e-10, stop_above=best)
                    if res.lower > best:
                        continue
                    scale = max(float(np.abs(groups[j]).max()), float(np.abs(x).max()))
                    d = res.distance if res.distance > ZERO_REL * scale else 0.0
                if d < best or (d == best and j < arg):
                    best, arg = d, int(j)
            out[t0 + r] = arg
            dist[t0 + r] = best
    return out, dist
