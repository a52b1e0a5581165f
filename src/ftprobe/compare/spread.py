"""Mean and spread of a quantity over replicates (fine-tuning seeds, probe seeds)."""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable


def mean_sd(values: Iterable[float | None]) -> tuple[float | None, float | None]:
    """The mean and the sample standard deviation of the finite values (missing ones skipped);
    ``(None, None)`` when there are none, and a ``None`` sd for a single value."""
    vals = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return None, None
    return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)
