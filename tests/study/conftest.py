"""Fixtures of the study tests: a one-task study small enough for the default suite, and one
real local Ray cluster shared by every Ray test of the session (Ray takes 10-20 s to start)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import tiny_config


def micro_config(model: Path, out: Path, **over) -> dict:
    """One task (POS on 5 EWT sentences), fine-tuned for 3 steps with a checkpoint at step 2,
    DirectProbe on the last layer only."""
    cfg = tiny_config(model, out, cross_task=[],
                      tasks=[{"name": "pos", "data": "sample:ewt", "max_sentences": 5}],
                      directprobe={"layers": [-1], "checkpoint_layers": [-1], "min_cluster_size": 0})
    cfg["finetune"] = dict(cfg["finetune"], batch_size=2)
    cfg.update(over)
    return cfg


def run_cli(*args: str, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
    """``ftprobe ARGS`` in a fresh interpreter (the same one the user would run)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "ftprobe", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, **popen)


def write_config(path: Path, cfg: dict) -> Path:
    path.write_text(json.dumps(cfg))
    toml = path.with_suffix(".toml")
    import tomli_w

    toml.write_text(tomli_w.dumps(cfg))
    return toml


@pytest.fixture(scope="session")
def ray_cluster():
    """A real Ray instance of 2 CPUs started in this process; yields its address, which
    subprocess drivers join with ``--ray-address``."""
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray.get_runtime_context().gcs_address
    if started:
        ray.shutdown()
