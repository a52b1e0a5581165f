"""Helpers for the study tests: a tiny config, and a stand-in DirectProbe (one cluster per label)
used until / unless the real one is importable."""

from __future__ import annotations

from pathlib import Path


def tiny_config(model: Path, out: Path, **over) -> dict:
    cfg = {
        "output": str(out),
        "models": [{"name": "tiny", "path": str(model)}],
        "tasks": [
            {"name": "pos", "data": "sample:ewt", "max_sentences": 12},
            {"name": "ps-fxn", "data": "sample:streusle", "max_sentences": 30, "finetune": False},
        ],
        "finetune": {"epochs": 1, "batch_size": 4, "lr": 1e-3, "checkpoint_every_steps": 2,
                     "checkpoint_every_epoch": False},
        "probe": {"probe": "linear", "l2": [1e-3], "seeds": 1, "max_iter": 5},
        "directprobe": {"layers": [1, -1], "checkpoint_layers": "all", "min_cluster_size": 0},
        "cross_task": [{"finetune": "pos", "probe": "ps-fxn"}],
        "bootstrap": {"n": 20},
        "measures": {"max_rows": 100, "n_null": 5, "n_interval": 3},
        "label_control": {"max_rows": 40},
        "threads": 1,
        # the figures as PNG/SVG/PDF files are most of a tiny study's time: test_runner checks them
        "report": {"figure_files": False},
    }
    for k, v in over.items():
        cfg[k] = v
    return cfg


def stable_results(results: dict) -> dict:
    """results.json without what legitimately differs between two runs of one study: the
    output folder and wall-clock timings."""

    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items()
                    if not ("seconds" in k or k.endswith("per_s") or k == "config")}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o

    return strip(results)


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a parent (a container's init may never reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")



def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, theirs, ...)."""
    found, todo = set(), [pid]
    while todo:
        for c in children(todo.pop()):
            if c not in found:
                found.add(c)
                todo.append(c)
    return found
