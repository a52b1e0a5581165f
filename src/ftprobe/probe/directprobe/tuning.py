"""Every cap, threshold and switch of the DirectProbe engine, in one typed object.

None of these changes an answer: each one only chooses how a decision is reached (which
certificate is tried, how big a working set starts, how much is kept for later), and every
decision is still certified exactly (see docs/directprobe.md). The defaults are what the
benchmarks in bench/directprobe/RESULTS.md were measured with. Tests pass another ``Tuning``
to drive the engine down paths real data reaches only at scale (a Wolfe cap of one iteration
sends every check to the LP, compaction of tiny labels, ...).

>>> DirectProbe(tuning=Tuning(wolfe_cap_min=1, wolfe_cap_per_dim=0)).fit(X, y)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tuning:
    """Caps, thresholds and switches of the DirectProbe engine (answers do not depend on them).

    - ``fold_identical``: identical points of one label are folded into one weighted point
      before the merge phase (``identical``; fewer points in every check of a contextless
      layer); off, every copy is its own row, as in the definition's plain form.

    Merge order and nearest partners:

    - ``proj_dims``: PCA axes of the projected spheres and of the partner searches' first
      lower bounds; 16 prune most candidates at a fraction of D = 384 dimensions.
    - ``nn_cache``: nearest partners cached per cluster; 16 settle ~90 % of re-searches after a
      merge without a pass over the label.
    - ``compact_min``: labels with fewer slots are never compacted (renumbering costs more than
      the dead slots it saves below ~2k).

    The decision cascade:

    - ``wolfe_cap_min``, ``wolfe_cap_per_dim``: Wolfe iterations (the larger of the two, the
      second per dimension) before an undecided pair goes to the LP decision; Wolfe crawls
      when hulls nearly touch in many dimensions, and 200 iterations decide almost all others.
    - ``plane_block``: entries of one [points x planes] product when cached planes are
      verified (bounds the memory of one product at ~32 MB).
    - ``turn_kept_planes``: turn a kept LP optimum in a 2-D pencil to take in a grown union
      (``planes.pivoted_plane``, ~15 ms) before continuing it.
    - ``subspace_planes``: ... else a max-margin LP over a few directions
      (``planes.subspace_plane``, ~10 ms).
      Both off by default since kept LPs are continued in place: on, PUD POS layer 0 took
      165.5 CPU s against 155.1, layer 6 49.1 against 45.7, EWT's first 20,000 words at
      layer 0 130.0 against 121.3 (same partitions). Against HiGHS's continued LP (~0.2 s)
      they had paid, mostly late in EWT's full set.
    - ``recall_overlaps``, ``recall_piece``: a union whose part met a cluster before is first
      tested by NNLS over that common pair's points, when the smaller part has at most
      ``recall_piece`` points (~40 ms). Off by default since kept LPs are continued in place
      and stop at the first dual pair within tol (a thawed one costs ~30 ms, not ~0.3 s):
      on, PUD POS layer 0 took 194 CPU s against 168, EWT's first 20,000 words 147 against 128.
    - ``seed_piece``: a cold LP started from a pair's support also takes the union's smaller
      part when it has at most this many points (0: never); the piece is what may break it.

    Remembered LPs:

    - ``warm_lps``, ``warm_lp_rows``: kept LPs held live (a live LP holds its rows, ~3 KB each
      at 386 columns, and its basis inverse, ~1.2 MB); beyond them the least recently kept are
      frozen (basis only, rebuilt when continued: one inverse, ~10-30 ms).
    - ``kept_lps``: LPs kept at all, live or frozen (~1 byte per row when frozen).
    - ``lp_rows_per_col``: a kept LP is pruned to at most this x its columns (its optimum rests
      on at most as many rows as columns; every pivot pays for every row).

    The LP decision (``margin_lp.decide_distance``):

    - ``lp_first_rows``, ``lp_add_rows``, ``lp_rounds``: points per side in the first working
      set, violators added per side and round, rounds before giving up (undecided: the
      uncapped nearest-point solver decides).
    - ``lp_support_rows``: points per side nearest a verified plane kept as the pair's support.
    - ``lp_iter_per_row``, ``lp_iter_base``: simplex iteration limit per re-solve,
      ``per_row`` x (rows + columns) + ``base`` (an LP whose optimum sits on shared points was
      seen to stall for minutes; hitting the limit means "undecided", never an answer).
    - ``probe_depth``, ``probe_iters``: a continued LP whose new points lie beyond its kept
      plane by more than ``probe_depth`` x its margin pauses after ``probe_iters`` iterations
      unfinished for an overlap probe (NNLS over its rows and the points nearest the kept
      plane), then goes on. Such pairs mostly meet late in EWT's full set, sometimes through
      points the LP has not taken in yet; between big clusters that nearly touch (PUD POS
      layer 0) they mostly separate, in 100-400 iterations.
    - ``probe_points``: candidates (both sides) of an NNLS overlap probe; beyond it NNLS is
      slower than the LP it would save.

    The nearest-point solver (``hull.nearest_points``):

    - ``ws_min``: above this many points (both sides), Wolfe runs on working sets checked
      against all points (below it one pass over all points per iteration is cheap).
    - ``ws_add``: points per side in the first working set and added per round (the most
      violating first).
    - ``qr_max_deletes``: a corral that loses more vertices at once is refactorised instead of
      updated by QR deletions (each deletion costs O(D k); a refactorisation O(D k^2)).
    - ``screen_queries``, ``screen_min_rows``, ``screen_after``: a nearest-point solve on at
      least ``screen_min_rows`` points (both sets) still going after ``screen_after`` support
      queries makes float32 copies of its points; its later queries read them first and take
      only the candidates again in float64 (``hull.ScreenedSupport``: the same vertices, so the
      same decisions; hull distances can differ in their last bits, within the solver's
      certified tolerance. On fewer points a float64 query is as cheap as the screen, and a
      short solve does not earn back the copies).

    Kept planes turned or repaired (``planes.pivoted_plane``, ``subspace_plane``):

    - ``pivot_turns``, ``pivot_log10_min``, ``pivot_log10_max``: the first grid of turns,
      ``pivot_turns`` tangents log-spaced from 10^min to 10^max each way (then refined
      around the best); the range covers the turns seen to fix grown unions.
    - ``pivot_near``: points per side nearest the plane whose mean a turn moves towards or
      away from.
    - ``subspace_near``: points per side nearest the current plane that form the small LP's
      rows; ``subspace_worst``: points per side whose offsets from their side's mean join the
      directions each round; ``subspace_rounds``: rounds before giving up (the LP decides).

    The last-resort solvers (``overlap.nnls_decide``, ``separability.separate``):

    - ``nnls_add_rows``: points per side that start NNLS's working set and join it per round.
    - ``soft_small``: pairs with at most this many points go to the soft-margin LP in one
      piece; ``soft_first_rows``, ``soft_add_rows``: above it, the first working set per
      side and violators added per side and round.
    """

    fold_identical: bool = True
    proj_dims: int = 16
    nn_cache: int = 16
    compact_min: int = 2048
    wolfe_cap_min: int = 200
    wolfe_cap_per_dim: int = 1
    plane_block: int = 4_000_000
    turn_kept_planes: bool = False
    subspace_planes: bool = False
    recall_overlaps: bool = False
    recall_piece: int = 128
    seed_piece: int = 64
    warm_lps: int = 64
    warm_lp_rows: int = 30_000
    kept_lps: int = 20_000
    lp_rows_per_col: int = 2
    lp_first_rows: int = 64
    lp_add_rows: int = 128
    lp_rounds: int = 60
    lp_support_rows: int = 32
    lp_iter_per_row: int = 10
    lp_iter_base: int = 2000
    probe_depth: float = 100.0
    probe_iters: int = 400
    probe_points: int = 1544
    ws_min: int = 3000
    ws_add: int = 512
    qr_max_deletes: int = 16
    screen_queries: bool = True
    screen_min_rows: int = 256
    screen_after: int = 24
    pivot_turns: int = 40
    pivot_log10_min: float = -4.0
    pivot_log10_max: float = 1.5
    pivot_near: int = 32
    subspace_near: int = 256
    subspace_worst: int = 4
    subspace_rounds: int = 8
    nnls_add_rows: int = 64
    soft_small: int = 256
    soft_first_rows: int = 24
    soft_add_rows: int = 64

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if isinstance(value, bool):
                continue
            if name.startswith("pivot_log10"):  # exponents: any number
                if not isinstance(value, int | float):
                    raise ValueError(f"Tuning.{name} must be a number, got {value!r}")
            elif not isinstance(value, int | float) or value < 0:
                raise ValueError(f"Tuning.{name} must be a non-negative number, got {value!r}")
        if self.pivot_log10_min > self.pivot_log10_max:
            raise ValueError("Tuning.pivot_log10_min must not exceed Tuning.pivot_log10_max")
        for name in ("proj_dims", "nn_cache", "lp_first_rows", "lp_add_rows", "lp_rounds",
                     "lp_support_rows", "plane_block", "ws_add", "pivot_near", "subspace_near",
                     "subspace_worst", "nnls_add_rows", "soft_first_rows", "soft_add_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"Tuning.{name} must be at least 1, got {getattr(self, name)!r}")

    def wolfe_cap(self, dim: int) -> int:
        """Wolfe iterations allowed before the LP decision, for points of ``dim`` dimensions."""
        return max(self.wolfe_cap_min, self.wolfe_cap_per_dim * dim)


DEFAULT_TUNING = Tuning()
