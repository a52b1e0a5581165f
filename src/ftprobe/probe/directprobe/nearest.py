"""Nearest-hull prediction for many points at once: certified bounds first, exact solves last.

For each test point x the answer is ``argmin_j dist(x, conv(P_j))`` over the clusters P_j, ties
to the smaller cluster index (:mod:`.predict` defines it point by point). Most clusters cannot be
the nearest one, and proving so needs no exact distance, only bounds that hold for sure:

- upper bounds: ``|x - z|`` for any explicit z in conv(P_j) (a cluster point, or a convex
  combination of them);
- lower bounds: for any direction u = x - z, ``(<u, x> - max_p <u, p>) / |u|`` (the hyperplane
  normal to u separates x from conv(P_j) by that much), and the ball ``|x - c_j| - r_j``.

Phase 1 takes them from one Gram matrix x . p of a block of test points with all training
points (z = the nearest cluster point; u = x - centroid). Phase 2 tightens them on the pairs
that are still open with batched *pairwise Frank-Wolfe* steps on the simplex, run in kernel
space (the Gram P_j P_j^T of a cluster, in float32, turns a step into O(n_j) work per pair, not
O(n_j D)),
and recomputes the bounds from explicit points after each round (no drift enters a
certificate). A cluster is dropped for x only when its lower bound exceeds the best upper bound
by more than the exact solver's own tolerance, so the exact answer cannot be there. Phase 3
decides the points with several clusters left by the exact point-by-point procedure of
:func:`.predict.nearest_hull_exact` restricted to those clusters (same solver, same ties).

Everything runs in torch float64, on the CPU or a CUDA device; the answer does not depend on
the device (bounds only prune; every surviving decision is the exact solver's).

Ties: clusters at exactly the same distance are never separated by bounds, so the exact phase
decides them, smaller index first, in the order of the point-by-point procedure. Two hulls
whose distances differ by less than the solver's precision (~1e-10 relative; e.g. one hull
listed twice in another point order) can come out either way there too, and then this search
and the point-by-point one may differ; the tests cover both kinds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# A cluster is dropped for a point only when lower > best_upper * (1 + PRUNE_RTOL) + PRUNE_ATOL
# * scale + the rounding margin (``_slack``): the exact solver reports distances to ~1e-10
# relative, so a cluster beyond this margin can never be its answer.
PRUNE_RTOL = 1e-8
PRUNE_ATOL = 1e-9


@dataclass(frozen=True)
class NearestHullSettings:
    """How the batched search spends its effort (the answer does not depend on any of these)."""

    block_elements: int = 1 << 22  # test rows per block x training points (refinement)
    # ... and per chunk of the Gram bounds, whose two [rows, points] temporaries would
    # otherwise set the search's peak memory (2 MiB each) ...
    bound_elements: int = 1 << 18
    # ... but at least this many rows: fewer turn the product into matrix-vector work that
    # reads every training point again (15 rows cost a quarter more time on PUD POS)
    bound_rows: int = 64
    # test rows x cluster points per batch of Frank-Wolfe steps (each step holds several such
    # arrays; 1 MiB each)
    step_elements: int = 1 << 17
    rounds: int = 4  # refinement rounds of pairwise Frank-Wolfe steps
    steps: int = 16  # steps in the first round; each next round doubles them
    lead_steps: int = 16  # steps on each point's best cluster alone, before the rounds (0: none)
    kernel_max: int = 6000  # clusters up to this size keep their Gram matrix (n^2 floats)
    device: str = "cpu"  # "cpu", "cuda" or "auto" (cuda when available)


@dataclass(frozen=True)
class NearestHullResult:
    """The nearest cluster of each test point, and how it was decided."""

    cluster: np.ndarray  # [T] int64
    pairs: int  # test points x clusters
    open_after_bounds: int  # (point, cluster) pairs the Gram bounds left open
    open_after_refinement: int  # ... and the refinement rounds
    exact_points: int  # points decided by the exact solver
    exact_solves: int  # exact point-to-hull solves run for them


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'auto', got {device!r}")
    return device


class ClusterGeometry:
    """The clusters as one sorted point matrix on a device, with what every block reuses."""

    def __init__(self, groups: list[np.ndarray], settings: NearestHullSettings):
        import torch

        self.device = torch.device(resolve_device(settings.device))
        self.groups = groups  # original float64 arrays, for the exact solver
        sizes = np.array([len(g) for g in groups], np.int64)
        self.sizes = sizes
        self.offsets = np.r_[0, np.cumsum(sizes)]
        # No [points x dims] temporary beyond the point matrix itself: after a fit, the
        # prediction's working set sets the process's peak memory on small sets.
        allp = np.concatenate(groups, axis=0).astype(np.float64, copy=False)
        # Distances are translation invariant: centring keeps the Gram products well scaled.
        self.shift = allp.mean(0)
        self.scale = max(float(allp.max()), -float(allp.min())) if allp.size else 1.0
        t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float64, device=self.device)  # noqa: E731
        allp -= self.shift  # a fresh array (the concatenation): centred in place, one copy less
        self.P = t(allp)
        self.sqp = torch.einsum("nd,nd->n", self.P, self.P)
        sq_max = float(self.sqp.max()) if len(allp) else 0.0
        self.pmax = sq_max**0.5  # largest |p|, centred
        self.cluster_of = torch.as_tensor(np.repeat(np.arange(len(groups)), sizes), device=self.device)
        cent = np.stack([g.mean(0) for g in groups]) - self.shift
        self.cent = t(cent)
        self.sqc = (self.cent * self.cent).sum(1)
        # <c_j, p> for the points p of cluster j, and the radius of each cluster's ball
        self.cp = torch.cat([self.points(j) @ self.cent[j] for j in range(len(groups))])
        d2 = self.sqp - 2 * self.cp + self.sqc[self.cluster_of]
        rad2 = torch.zeros(len(groups), dtype=torch.float64, device=self.device)
        rad2.scatter_reduce_(0, self.cluster_of, d2.clamp_min(0), reduce="amax")
        self.rad = rad2.sqrt()
        self.settings = settings
        self._kernels: dict[int, object] = {}
        # Gram entries are at most max |p|^2 (Cauchy-Schwarz): float32 unless that could
        # overflow it (3.4e38), where the steps would read inf and NaN
        self.kernel_dtype = torch.float32 if sq_max < 1e30 else torch.float64

    def points(self, j: int):
        return self.P[self.offsets[j] : self.offsets[j + 1]]

    def centred(self, rows: np.ndarray):
        """Rows shifted as the points were, on the device. Centred in numpy: a new array (rows may
        be a read-only memory map, which torch warns about)."""
        import torch

        return torch.from_numpy(np.asarray(rows, dtype=np.float64) - self.shift).to(self.device)

    def kernel(self, j: int):
        """P_j P_j^T in float32 (``kernel_dtype``; None for clusters above ``kernel_max``),
        built on first use.

        Only the Frank-Wolfe steps read it, to choose their weights; every bound is computed
        again from the float64 points (``_certify``), so its rounding can make a bound less
        tight, never wrong. Half the memory of float64 (the kernels are most of the search's),
        and the steps' row gathers move half the bytes."""
        if self.sizes[j] > self.settings.kernel_max:
            return None
        K = self._kernels.get(j)
        if K is None:
            Pj = self.points(j).to(self.kernel_dtype)
            K = self._kernels[j] = Pj @ Pj.T
        return K


def nearest_hull_batched(Xt: np.ndarray, groups: list[np.ndarray],
                         settings: NearestHullSettings | None = None,
                         progress: Callable[[int], None] | None = None) -> NearestHullResult:
    """Index of the nearest cluster hull for each row of ``Xt`` (exact; see the module)."""
    from ftprobe.probe.directprobe.predict import nearest_hull_exact

    settings = settings or NearestHullSettings()
    Xt = np.ascontiguousarray(Xt, dtype=np.float64)
    T, C = len(Xt), len(groups)
    out = np.empty(T, np.int64)
    if T == 0:
        return NearestHullResult(out, 0, 0, 0, 0, 0)
    geo = ClusterGeometry(groups, settings)
    N = int(geo.offsets[-1])
    block = int(max(1, min(T, settings.block_elements // max(N, 1))))
    n_open0 = n_open1 = n_exact = n_solves = 0
    for t0 in range(0, T, block):
        rows = Xt[t0 : t0 + block]
        X = geo.centred(rows)
        lower, upper, ball = _bounds(geo, X)
        slack = _slack(geo, X)
        open_ = _open(lower, upper, slack)
        n_open0 += int(open_.sum())
        open_ = _refine(geo, X, lower, upper, open_, slack)
        n_open1 += int(open_.sum())
        open_np = open_.cpu().numpy()
        ball_np = ball.cpu().numpy()
        slack_np = slack.cpu().numpy().ravel()
        several = np.flatnonzero(open_np.sum(1) > 1)
        single = np.flatnonzero(open_np.sum(1) == 1)
        out[t0 + single] = open_np[single].argmax(1)
        if progress is not None:
            progress(len(single))
        for r in several:
            cand = np.flatnonzero(open_np[r])
            # in the order of the point-by-point procedure (ball bounds, then index), so that
            # near-ties at the solver's precision come out as there
            idx, solves = nearest_hull_exact(rows[r], groups, cand, ball_np[r, cand], slack_np[r])
            out[t0 + r] = idx
            n_exact += 1
            n_solves += solves
            if progress is not None:
                progress(1)
    return NearestHullResult(out, T * C, n_open0, n_open1, n_exact, n_solves)


def _bounds(geo: ClusterGeometry, X):
    """[b, C] certified lower and upper bounds on dist(x, conv(P_j)) from Gram products, and
    the ball bound alone (``X``: the rows, centred by ``geo.centred``), in chunks of rows of at
    most ``bound_elements`` x points, at least ``bound_rows`` (the [rows, points] temporaries
    are the search's largest)."""
    import torch

    s = geo.settings
    rows = int(max(s.bound_rows, 1, s.bound_elements // max(len(geo.P), 1)))
    if len(X) <= rows:
        return _chunk_bounds(geo, X)
    parts = [_chunk_bounds(geo, X[r : r + rows]) for r in range(0, len(X), rows)]
    return tuple(torch.cat(p) for p in zip(*parts, strict=True))


def _chunk_bounds(geo: ClusterGeometry, X):
    import torch

    b, C = len(X), len(geo.sizes)
    xx = (X * X).sum(1)
    G = X @ geo.P.T  # [b, N]
    idx = geo.cluster_of.expand(b, -1)
    # upper: the nearest cluster point (temporaries updated in place: two [b, N] arrays)
    d2 = xx[:, None] + geo.sqp[None, :]
    d2.sub_(G, alpha=2).clamp_min_(0)
    upper = torch.full((b, C), torch.inf, dtype=torch.float64, device=geo.device)
    upper.scatter_reduce_(1, idx, d2, reduce="amin")
    del d2
    upper = upper.sqrt()
    # lower: the centroid direction u = x - c, and the ball
    xc = X @ geo.cent.T  # [b, C]
    nu = (xx[:, None] - 2 * xc + geo.sqc[None, :]).clamp_min(0).sqrt()
    up_max = torch.full((b, C), -torch.inf, dtype=torch.float64, device=geo.device)
    up_max.scatter_reduce_(1, idx, G.sub_(geo.cp[None, :]), reduce="amax")  # max_p <u, p> + <c, x>...
    # <u, x> - max_p <u, p> = (xx - xc) - max_p (G_p - <c, p>)
    gap = (xx[:, None] - xc) - up_max
    lower = torch.where(nu > 0, gap / nu.clamp_min(1e-300), torch.zeros_like(gap))
    ball = (nu - geo.rad[None, :]).clamp_min(0)
    lower = torch.maximum(lower, ball).clamp_min(0)
    lower = torch.minimum(lower, upper)  # a bound is never above an explicit distance
    return lower, upper, ball


def _slack(geo: ClusterGeometry, X):
    """[b, 1] how far the bounds of each row's distances may be off by rounding
    (``predict.rounding_slack``: the bounds come from expansions such as |x|^2 + |p|^2 -
    2<x, p>), plus the exact solver's own margin. Without it two clusters that both hold the
    point itself (an exact tie at 0, common where a layer repeats vectors) could read 0 and
    3e-8 and the second be dropped, though ties go to the smaller index."""
    from ftprobe.probe.directprobe.predict import rounding_slack

    return PRUNE_ATOL * geo.scale + rounding_slack(X.shape[1], X.norm(dim=1, keepdim=True) + geo.pmax)


def _open(lower, upper, slack):
    """[b, C] clusters that may still be nearest: lower bound within the margin of the best."""
    best = upper.min(1, keepdim=True).values
    return lower <= best * (1 + PRUNE_RTOL) + slack


def _refine(geo: ClusterGeometry, X, lower, upper, open_, slack):
    """Tighten the bounds of open pairs of points with several open clusters (pairwise
    Frank-Wolfe in kernel space, bounds recomputed from explicit points each round; ``X``: the
    rows, centred by ``geo.centred``)."""
    import torch

    s = geo.settings
    state: dict[int, tuple] = {}
    for rnd in range(-1 if s.lead_steps else 0, s.rounds):
        undecided = open_.sum(1) > 1
        if not bool(undecided.any()):
            break
        work = open_ & undecided[:, None]
        if rnd < 0:  # first the best upper bound of each point: the level others must pass
            best = torch.where(work, upper, torch.full_like(upper, torch.inf)).argmin(1)
            work = work & (torch.arange(work.shape[1], device=geo.device)[None, :] == best[:, None])
        n_steps = s.lead_steps if rnd < 0 else s.steps << rnd
        for j in torch.nonzero(work.any(0)).flatten().tolist():
            if geo.sizes[j] == 1:
                continue  # the bounds are exact already
            r = torch.nonzero(work[:, j]).flatten()
            # rows in pieces: the steps hold several [rows, cluster size] arrays at once
            piece = max(1, s.step_elements // int(geo.sizes[j]))
            lams = []
            for rp in torch.split(r, piece):
                lam = _steps(geo, X, j, rp, state.get(j), n_steps)
                lo, hi = _certify(geo, X[rp], j, lam)
                lower[rp, j] = torch.maximum(lower[rp, j], torch.minimum(lo, hi))
                upper[rp, j] = torch.minimum(upper[rp, j], hi)
                lams.append(lam)
            state[j] = (r, SparseWeights.of(torch.cat(lams)))
        open_ = open_ & _open(lower, upper, slack)
    return open_


def _steps(geo: ClusterGeometry, X, j: int, r, prev, steps: int):
    """``steps`` pairwise Frank-Wolfe steps for min |P_j^T lam - x| over the simplex, for the
    rows ``r`` at once; starts from the previous round's weights (or the nearest point)."""
    import torch

    Pj = geo.points(j)
    n = len(Pj)
    Xr = X[r]
    G = Xr @ Pj.T  # [R, n] <x, p>
    sq = geo.sqp[geo.offsets[j] : geo.offsets[j + 1]]
    R = len(r)
    ar = torch.arange(R, device=geo.device)
    lam = torch.zeros((R, n), dtype=torch.float64, device=geo.device)
    fresh = torch.ones(R, dtype=torch.bool, device=geo.device)
    if prev is not None:  # go on from the weights of rows solved in an earlier round
        pr, plam = prev
        pos = torch.searchsorted(pr, r).clamp_max(len(pr) - 1)
        fresh = pr[pos] != r
        plam.put_rows(lam, ~fresh, pos[~fresh])
    s0 = (sq[None, :] - 2 * G).argmin(1)  # the nearest point
    lam[ar[fresh], s0[fresh]] = 1.0
    K = geo.kernel(j)
    gp = (lam.to(K.dtype) @ K).double() if K is not None else (lam @ Pj) @ Pj.T  # [R, n] <p, z>
    for _ in range(steps):
        grad = gp - G
        fw = grad.argmin(1)
        away = grad.masked_fill(lam <= 0, -torch.inf).argmax(1)
        g_gap = grad[ar, away] - grad[ar, fw]
        if K is not None:
            Kfw, Kaw = K[fw], K[away]
            denom = sq[fw] + sq[away] - 2 * Kfw[ar, away]
        else:
            dP = Pj[fw] - Pj[away]
            denom = (dP * dP).sum(1)
        ok = (denom > 0) & (g_gap > 0)
        gamma = torch.where(ok, g_gap / denom.clamp_min(1e-300), torch.zeros_like(g_gap))
        gamma = torch.minimum(gamma, lam[ar, away])
        lam[ar, fw] += gamma
        lam[ar, away] = (lam[ar, away] - gamma).clamp_min(0)
        if K is not None:
            gp.add_(Kfw.sub_(Kaw).mul_(gamma[:, None]))
        else:
            gp += gamma[:, None] * (dP @ Pj.T)
    return lam


@dataclass(frozen=True)
class SparseWeights:
    """Simplex weights [rows, n] kept between rounds as their nonzeros: a pairwise Frank-Wolfe
    step adds at most one vertex, so after s steps a row has at most s + 1 (dense, the weights of
    every open pair would be the search's largest array)."""

    index: object  # [rows, k] int64 (torch)
    value: object  # [rows, k] float64; 0 where a row has fewer than k nonzeros

    @classmethod
    def of(cls, lam) -> SparseWeights:
        k = max(1, int((lam > 0).sum(1).max())) if len(lam) else 1
        value, index = lam.topk(min(k, lam.shape[1]), dim=1)
        return cls(index, value)

    def put_rows(self, lam, rows, which) -> None:
        """Write rows ``which`` of these weights into the dense rows ``rows`` of ``lam``."""
        dense = lam.new_zeros((len(which), lam.shape[1]))
        lam[rows] = dense.scatter_(1, self.index[which], self.value[which])


def _certify(geo: ClusterGeometry, Xr, j: int, lam):
    """Bounds from the explicit point z = P_j^T lam (weights renormalised onto the simplex):
    upper |x - z|, lower (<u, x> - max_p <u, p>) / |u| with u = x - z."""
    Pj = geo.points(j)
    lam = lam.clamp_min(0)
    lam = lam / lam.sum(1, keepdim=True)
    Z = lam @ Pj
    U = Xr - Z
    nu = U.norm(dim=1)
    ux = (U * Xr).sum(1)
    upmax = (U @ Pj.T).max(1).values
    lo = torch_where_pos(nu, (ux - upmax) / nu.clamp_min(1e-300))
    return lo.clamp_min(0), nu


def torch_where_pos(nu, value):
    import torch

    return torch.where(nu > 0, value, torch.zeros_like(value))
