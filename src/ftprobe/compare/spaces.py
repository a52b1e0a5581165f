"""Two spaces over the same points compared by every calibrated measure at once, and one space's
geometry: what the study stores for each before-vs-after and layer-vs-layer comparison.

Each measure is reported with its permutation null (calibrated score, p-value) and a
half-sample interval, on a seeded subsample of at most ``max_rows`` rows (the same rows on both
sides). The streaming measures (CKA, Procrustes, effective rank, isotropy) also get their value
on every row, which is cheap; the k-NN based ones (mutual k-NN, TwoNN) and every null read the
subsample, since they cost O(rows^2) or one pass per permutation.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ._plain import plain
from ._threads import on_one_blas_thread
from ._validate import paired, positive_int, space
from .cka import linear_cka
from .knn import mutual_knn
from .null import half_sample_interval, permutation_null
from .procrustes import procrustes_distance
from .spectrum import covariance_spectrum, effective_rank_from_spectrum, isotropy_from_spectrum
from .twonn import intrinsic_dimension

__all__ = ["MeasureSettings", "CalibratedMeasure", "SpaceComparison", "SpaceGeometry",
           "compare_spaces", "space_geometry", "SPACE_MEASURES"]

SPACE_MEASURES = ("cka", "procrustes", "mutual_knn")


@dataclass(frozen=True)
class MeasureSettings:
    """How much work each comparison gets. The one settings type of the calibrated measures: a
    study config's ``[measures]`` builds it (its defaults are the study's)."""

    max_rows: int = 500  # rows of the subsample the nulls, intervals and k-NN measures read
    n_null: int = 25  # permutations per null (p-value resolution 1 / (n_null + 1))
    n_interval: int = 8  # half-samples per interval
    level: float = 0.95
    k: int = 10  # neighbours for mutual k-NN
    seed: int = 0
    device: str = "auto"  # k-NN on the GPU when present

    def __post_init__(self):
        positive_int("max_rows", self.max_rows, low=16)
        positive_int("n_null", self.n_null, low=2)
        positive_int("n_interval", self.n_interval, low=2)
        positive_int("k", self.k)
        if not 0 < self.level < 1:
            raise ValueError(f"level must be in (0, 1), got {self.level}")


@dataclass(frozen=True)
class CalibratedMeasure:
    """One measure of one comparison: its value on the subsample, the value on every row (the
    streaming measures), its null and its interval."""

    name: str
    value: float
    value_all_rows: float | None
    null_mean: float
    null_sd: float
    calibrated: float
    p_value: float
    interval: tuple[float, float]
    n_rows: int

    def to_json(self) -> dict:
        return {f: plain(getattr(self, f)) for f in self.__dataclass_fields__}


@dataclass(frozen=True)
class SpaceComparison:
    cka: CalibratedMeasure
    procrustes: CalibratedMeasure
    mutual_knn: CalibratedMeasure
    rows: int = field(default=0)

    def to_json(self) -> dict:
        return {"cka": self.cka.to_json(), "procrustes": self.procrustes.to_json(),
                "mutual_knn": self.mutual_knn.to_json(), "rows": self.rows}


@dataclass(frozen=True)
class SpaceGeometry:
    """One space's shape: effective rank and isotropy on every row, the TwoNN intrinsic dimension
    on its subsample without duplicate rows (None where fewer than 3 distinct rows remain)."""

    effective_rank: float
    isotropy: float
    intrinsic_dimension: float | None
    rows: int
    rows_intrinsic_dimension: int

    def to_json(self) -> dict:
        return {f: plain(getattr(self, f)) for f in self.__dataclass_fields__}


def _sample(n: int, s: MeasureSettings) -> np.ndarray:
    if n <= s.max_rows:
        return np.arange(n)
    return np.sort(np.random.default_rng(s.seed).choice(n, size=s.max_rows, replace=False))


def _calibrated(name, measure, Xs, Ys, all_rows, s: MeasureSettings) -> CalibratedMeasure:
    null = permutation_null(measure, Xs, Ys, n=s.n_null, seed=s.seed, device=s.device)
    lo, hi = half_sample_interval(measure, Xs, Ys, n=s.n_interval, seed=s.seed, level=s.level)
    return CalibratedMeasure(name, null.value, all_rows, null.null_mean, null.null_sd,
                             null.calibrated, null.p_value, (lo, hi), int(Xs.shape[0]))


@on_one_blas_thread
def compare_spaces(X, Y, settings: MeasureSettings | None = None) -> SpaceComparison:
    """Debiased CKA, Procrustes distance and mutual k-NN of X vs Y, each calibrated."""
    s = settings or MeasureSettings()
    X, Y = paired(X, Y, min_rows=16, why="a calibrated comparison needs 16 rows")
    rows = _sample(X.shape[0], s)
    Xs = np.asarray(X[rows], dtype=np.float64)
    Ys = np.asarray(Y[rows], dtype=np.float64)
    k = min(s.k, Xs.shape[0] // 2 - 1)
    knn = functools.partial(mutual_knn, k=k, device=s.device)
    return SpaceComparison(
        cka=_calibrated("cka", linear_cka, Xs, Ys, linear_cka(X, Y), s),
        procrustes=_calibrated("procrustes", procrustes_distance, Xs, Ys, procrustes_distance(X, Y), s),
        mutual_knn=_calibrated("mutual_knn", knn, Xs, Ys, None, s),
        rows=int(X.shape[0]),
    )


@on_one_blas_thread
def space_geometry(X, settings: MeasureSettings | None = None) -> SpaceGeometry:
    """Effective rank and isotropy on every row; TwoNN intrinsic dimension on the subsample
    (duplicate rows, common in embedding layers, are dropped for it)."""
    s = settings or MeasureSettings()
    X = space("X", X, min_rows=3)
    Xs = np.unique(np.asarray(X[_sample(X.shape[0], s)], dtype=np.float64), axis=0)
    ev = covariance_spectrum(X)
    return SpaceGeometry(
        effective_rank=effective_rank_from_spectrum(ev), isotropy=isotropy_from_spectrum(ev),
        intrinsic_dimension=intrinsic_dimension(Xs, device=s.device) if Xs.shape[0] >= 3 else None,
        rows=int(X.shape[0]), rows_intrinsic_dimension=int(Xs.shape[0]))
