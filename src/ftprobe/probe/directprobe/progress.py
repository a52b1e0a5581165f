"""Progress bars of the measures (distances, prediction): counts and an ETA on stderr."""

from __future__ import annotations


def bar(enabled: bool, total: int, desc: str, unit: str):
    """A tqdm bar on stderr, or None when progress is off (callers test for None)."""
    if not enabled or total <= 0:
        return None
    import sys

    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, mininterval=1.0, file=sys.stderr)
