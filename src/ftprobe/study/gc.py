"""``ftprobe study CONFIG --gc``: remove what the config no longer reaches.

Reachable: the steps of the config's plan (done or in progress), and the store entries that
those steps' results name (an extraction's entry, the checkpoints' entries of a series).
Everything else under ``OUT/steps`` and every other complete entry of ``OUT/store`` goes.
Unfinished store entries (``*.partial``) stay: a planned extraction resumes from them.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from ftprobe.study.cache import StepCache
from ftprobe.study.config import StudyConfig
from ftprobe.study.lock import FolderLock
from ftprobe.study.plan import build_plan

PARTIAL = ".partial"


@dataclass(frozen=True)
class GcReport:
    steps: tuple[str, ...]  # step folders removed (or to remove, on a dry run)
    entries: tuple[str, ...]  # store entries removed
    bytes: int

    def describe(self, dry_run: bool) -> str:
        verb = "would remove" if dry_run else "removed"
        return (f"{verb} {len(self.steps)} step folder(s) and {len(self.entries)} store entry(ies), "
                f"{self.bytes / 2**20:.1f} MiB")


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def reachable_entries(cache: StepCache, plan) -> set[str]:
    out: set[str] = set()
    for s in plan.steps.values():
        if not cache.done(s.kind, s.key):
            continue
        res = cache.load(s.kind, s.key)
        if isinstance(res.get("entry"), str):
            out.add(res["entry"])
        out.update(e for e in res.get("entries", []) if isinstance(e, str))
    return out


def collect_garbage(cfg: StudyConfig, dry_run: bool = False) -> GcReport:
    """Remove (``dry_run``: only list) the step folders and store entries ``cfg`` does not reach.
    Holds the output folder's lock, so it never runs beside a study."""
    from ftprobe.represent import Store

    out = cfg.output_dir
    plan = build_plan(cfg)
    cache = StepCache(out / "steps")
    with FolderLock(out, "ftprobe study --gc"):
        planned = set(plan.steps)
        stale = [p for p in sorted(cache.root.iterdir()) if p.is_dir()
                 and p.name.removesuffix(PARTIAL) not in planned] if cache.root.is_dir() else []
        store = Store(out / "store")
        keep = reachable_entries(cache, plan)
        unreached = [e for e in store.entries() if e.id not in keep]
        freed = sum(_size(p) for p in stale) + sum(_size(e.path) for e in unreached)
        if not dry_run:
            for p in stale:
                trash = p.with_name(p.name + ".deleting")
                p.rename(trash)  # first: a folder half deleted never reads as a step
                shutil.rmtree(trash)
            store.remove(e.id for e in unreached)
    return GcReport(tuple(p.name for p in stale), tuple(e.id for e in unreached), freed)
