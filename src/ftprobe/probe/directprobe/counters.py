"""What decided each check of a DirectProbe fit: counters for benchmarks and profiles."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ClusterStats:
    """Counters of what decided each check (for benchmarks and profiles)."""

    merges: int = 0
    rejections: int = 0
    inherited_rejections: int = 0
    frozen_points: int = 0
    identical_folded: int = 0  # rows folded into an identical point of their label (identical.py)
    label_pair_tests: int = 0
    label_pairs_overlapping: int = 0
    slab: int = 0
    ball_proj: int = 0
    ball_full: int = 0
    cached_plane: int = 0
    pivoted_plane: int = 0  # kept LP optima turned to separate a union (planes.pivoted_plane)
    subspace_plane: int = 0  # ... else separated by an LP over a few directions (subspace_plane)
    solver_sep: int = 0
    solver_overlap: int = 0
    stall_nnls: int = 0  # pairs the nearest-point solver stalled on twice, decided by NNLS
    lp_fallback: int = 0  # ... and left to the soft-margin LP
    lp_sep: int = 0  # pairs Wolfe left undecided within its cap, settled by the LP decision
    lp_overlap: int = 0
    lp_overlap_probed: int = 0  # ... of which certified by an NNLS probe, the LP unfinished
    overlap_recalled: int = 0  # rejections certified from an earlier common pair's points
    overlap_recall_tried: int = 0  # ... attempts (the others go on to the LP)
    lp_undecided: int = 0  # ... and left to the uncapped nearest-point solver
    lp_from_support: int = 0  # re-decisions that went straight to the LP from a kept support
    lp_continued: int = 0  # ... of which continued the pair's earlier LP (warm basis)
    lp_continued_swapped: int = 0  # ... of which with the union on that LP's Q side
    lp_restored: int = 0  # continued LPs put back as they were after a rejected merge
    lp_kept_after_rejection: int = 0  # LPs built in a rejected merge's check, kept for a part
    lp_frozen: int = 0  # kept LPs frozen (rows and inverse given back) beyond the live bounds
    lp_thawed: int = 0  # ... and rebuilt to be continued
    nn_searches: int = 0  # nearest-partner searches over a whole label (pruned by lower bounds)
    nn_cached: int = 0  # new nearest partners settled by a slot's cache
    nn_exact: int = 0  # exact centroid distances computed for nearest partners
    nn_screened: int = 0  # cache lookups that screened many changed slots instead of a search
    nn_union_cached: int = 0  # unions whose partners were settled from the merged caches
    resumed_at: int = 0  # merge decisions read from a saved state (0: none); see .state
    prior_plane: int = 0  # checks settled by a plane of a series' previous fit (prior.SeriesPrior)
    prior_overlap: int = 0  # ... and overlaps certified where the previous fit's hulls met
    prior_rejected: int = 0  # ... candidates that did not hold on this fit's points
    seconds: dict = field(default_factory=dict)

    def add(self, other: ClusterStats) -> None:
        """Add another run's counters (and seconds) to these (work done in another process)."""
        for name, value in vars(other).items():
            if name == "seconds":
                for k, v in value.items():
                    self.seconds[k] = self.seconds.get(k, 0.0) + v
            else:
                setattr(self, name, getattr(self, name) + value)

