"""What a study cost: each step's wall and CPU seconds and the machine it ran on, summed by stage.

A step records them as it finishes (``_seconds``, ``_cpu_seconds``, ``_ran_on`` in its result), so
a study that ran in pieces (stopped and resumed, on several machines, over several sessions) still
adds up: the cost block of ``results.json`` is read off the steps, not timed by the last run.
Wall seconds are each step's own; steps that ran side by side overlap, so their sum is machine
time, not elapsed time.
"""

from __future__ import annotations

import os
import resource
import socket
from dataclasses import dataclass


def ran_on() -> dict:
    """The machine a step runs on: host name, CPU count, GPU (None without CUDA)."""
    gpu = None
    try:
        import torch

        if torch.cuda.is_available():
            gpu = torch.cuda.get_device_name(0)
    except Exception:  # no torch, or a broken CUDA: a CPU machine as far as this record goes
        gpu = None
    return {"host": socket.gethostname(), "cpus": os.cpu_count(), "gpu": gpu}


class CpuClock:
    """CPU seconds of this process and of the children it waited for (DirectProbe's spawned fits)."""

    def __init__(self) -> None:
        self.start = self._now()

    @staticmethod
    def _now() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def seconds(self) -> float:
        return round(self._now() - self.start, 3)


@dataclass
class StageCost:
    stage: str  # a step kind: finetune, extract, probe, directprobe, series, ...
    steps: int = 0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    steps_without_cpu: int = 0  # finished by a version that did not record CPU time

    def add(self, result: dict) -> None:
        self.steps += 1
        self.wall_seconds += float(result.get("_seconds") or 0.0)
        if result.get("_cpu_seconds") is None:
            self.steps_without_cpu += 1
        else:
            self.cpu_seconds += float(result["_cpu_seconds"])

    def to_json(self) -> dict:
        return {"stage": self.stage, "steps": self.steps, "wall_seconds": round(self.wall_seconds, 1),
                "cpu_seconds": round(self.cpu_seconds, 1), "steps_without_cpu": self.steps_without_cpu}


def study_cost(step_results: list[tuple[str, dict]]) -> dict:
    """``(kind, result)`` of every step of a study -> the cost block of results.json: by stage in
    the pipeline's order, the whole, and each machine with the stages it ran."""
    stages: dict[str, StageCost] = {}
    total = StageCost("all")
    machines: dict[tuple, dict] = {}
    for kind, result in step_results:
        stages.setdefault(kind, StageCost(kind)).add(result)
        total.add(result)
        where = result.get("_ran_on") or {}
        key = (where.get("host"), where.get("cpus"), where.get("gpu"))
        m = machines.setdefault(key, {"host": key[0], "cpus": key[1], "gpu": key[2], "steps": 0, "stages": {}})
        m["steps"] += 1
        m["stages"][kind] = m["stages"].get(kind, 0) + 1
    return {"by_stage": [s.to_json() for s in stages.values()], "total": total.to_json(),
            "machines": list(machines.values())}
