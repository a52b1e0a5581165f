"""Summarise the steps a study run has committed so far (a run stopped before its end included):
per kind, the steps done and the seconds they took inside their worker (``_seconds``), and the
span from the first step's start to the last one's commit.

    python bench/study/steps_summary.py OUT_A OUT_B ...     # one JSON line per output folder
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def summarise(out: Path) -> dict:
    kinds: dict[str, list[float]] = defaultdict(list)
    commits = []
    for step in sorted((out / "steps").iterdir()):
        if not (step / "DONE").is_file():
            continue
        seconds = json.loads((step / "result.json").read_text()).get("_seconds")
        kind = step.name.rsplit("-", 1)[0]
        kinds[kind].append(float(seconds or 0.0))
        commits.append((step / "DONE").stat().st_mtime)
    running = sorted(p.name for p in (out / "steps").glob("*.partial"))
    return {"out": str(out), "done": sum(len(v) for v in kinds.values()),
            "by_kind": {k: {"n": len(v), "seconds": round(sum(v), 1)} for k, v in sorted(kinds.items())},
            "step_seconds": round(sum(sum(v) for v in kinds.values()), 1),
            "keys_done": sorted(p.name for p in (out / "steps").iterdir() if (p / "DONE").is_file()),
            "partial": running, "last_commit": max(commits) if commits else None}


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        print(json.dumps(summarise(Path(arg))))
