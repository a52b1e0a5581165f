"""Steps as Ray tasks: on a Ray instance started here, or on a cluster (``ray start --head`` on
one node, ``ray start --address=HEAD:6379`` on the others, then ``--ray-address HEAD:6379``).

Each step is one task with the resources it asks for (CPUs = its threads, or DirectProbe's
``jobs``; a GPU share for fine-tuning, extraction and GPU probes when the study runs on CUDA).
A worker that dies mid-step (killed, out of memory, node lost) has its task rerun by Ray
(``max_retries``); the step resumes from its work folder in the shared output folder, and only
a committed step folder reads as done, so nothing half-written is used. Results return through
that folder, never through Ray's object store (a result is small JSON).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

from ftprobe.errors import UserError
from ftprobe.study.executor import StepResources

MAX_RETRIES = 3  # reruns of a step whose worker died
CONNECT_TIMEOUT_S = 5.0
VISIBILITY_TIMEOUT_S = 120.0


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError('--executor ray needs Ray: pip install "ftprobe[ray]"') from None
    return ray


def check_reachable(address: str) -> None:
    """Fail fast, in one line, when nothing listens at ``address`` (``ray.init`` would retry
    for a minute or more)."""
    if address == "auto":  # RAY_ADDRESS or the cluster started on this machine: ray.init finds it
        return
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise UserError(f"--ray-address {address!r}: expected HOST:PORT (the head node's, e.g. 10.0.0.1:6379)")
    try:
        with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        raise UserError(f"--ray-address {address}: cannot reach a Ray head there ({exc.strerror or exc}); "
                        "start one with `ray start --head` or fix the address") from None


def _run_step_in_worker(fn: Callable[[dict], dict], payload: dict, threads: int) -> dict:
    from threadpoolctl import threadpool_limits

    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # a Ray worker has loaded numpy's BLAS before it sees a step: limit its threads now, as the
    # local pool's workers are limited at start (the same threads give the same sums)
    with threadpool_limits(limits=threads):
        return fn(payload)


def _node_sees(folder: str, token_name: str, token: str) -> tuple[str, bool]:
    path = Path(folder) / token_name
    try:
        seen = path.read_text(encoding="utf-8") == token
    except OSError:
        seen = False
    return socket.gethostname(), seen


class RayExecutor:
    """The ``Executor`` of ``--executor ray``. ``workers``: steps in flight at once (default:
    the cluster's CPUs); ``gpu_share``: the GPU fraction a GPU step asks for."""

    def __init__(self, address: str | None = None, *, workers: int | None = None, cpus: int | None = None,
                 max_retries: int = MAX_RETRIES, gpu_share: float | None = None):
        ray = _ray()
        self._ray = ray
        if address is not None:
            check_reachable(address)
        self.started_here = not ray.is_initialized()
        if self.started_here:
            kw = dict(include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                      configure_logging=True)
            if address is None:
                ray.init(num_cpus=cpus or workers or os.cpu_count(), **kw)
            else:
                try:
                    ray.init(address=address, **kw)
                except (ConnectionError, RuntimeError) as exc:
                    raise UserError(f"--ray-address {address}: cannot join the Ray cluster there "
                                    f"({str(exc).splitlines()[0]})") from None
        res = ray.cluster_resources()
        self.cluster_cpus = int(res.get("CPU", 0))
        self.cluster_gpus = float(res.get("GPU", 0))
        self.workers = max(1, int(workers or self.cluster_cpus or 1))
        self.max_retries = max_retries
        share = gpu_share if gpu_share is not None else \
            min(1.0, self.cluster_gpus / self.workers) if self.cluster_gpus else 0.0
        self.gpu_share = share
        self.has_gpus = self.cluster_gpus > 0
        self._remote = ray.remote(_run_step_in_worker)
        self._refs: dict[Future, object] = {}


    def check_folder_visible(self, folder: Path) -> None:
        """Every alive node must read what this driver writes in ``folder``: a token file is
        written here and read back by one task pinned to each node."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        name, token = f".ftprobe-visible-{uuid.uuid4().hex}", uuid.uuid4().hex
        (folder / name).write_text(token, encoding="utf-8")
        try:
            probe = self._ray.remote(_node_sees)
            nodes = [n for n in self._ray.nodes() if n.get("Alive")]
            refs = {n["NodeManagerAddress"]: probe.options(
                        num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False)
                    ).remote(str(folder.resolve()), name, token) for n in nodes}
            for addr, ref in refs.items():
                try:
                    host, seen = self._ray.get(ref, timeout=VISIBILITY_TIMEOUT_S)
                except Exception as exc:  # noqa: BLE001 - a node that cannot answer cannot see it either
                    raise UserError(f"output folder {folder}: Ray node {addr} did not answer the "
                                    f"visibility check ({type(exc).__name__})") from None
                if not seen:
                    raise UserError(f"output folder {folder} is not visible from Ray node {host} ({addr}): "
                                    "put the output on storage every node mounts at the same path")
        finally:
            (folder / name).unlink(missing_ok=True)

    def submit(self, fn: Callable[[dict], dict], payload: dict,
               resources: StepResources | None = None) -> Future:
        r = resources or StepResources()
        threads = max(1, int(round(r.cpus)))
        ref = self._remote.options(num_cpus=r.cpus, num_gpus=r.gpus, max_retries=self.max_retries,
                                   retry_exceptions=False, name=f"{payload.get('kind')}-{payload.get('key')}"
                                   ).remote(fn, payload, threads)
        fut = ref.future()
        self._refs[fut] = ref
        fut.add_done_callback(lambda f: self._refs.pop(f, None))
        return fut

    def shutdown(self, cancel: bool = False) -> None:
        if cancel:
            for ref in list(self._refs.values()):
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # noqa: BLE001 - finished meanwhile
                    pass
        self._refs.clear()
        if self.started_here and self._ray.is_initialized():
            self._ray.shutdown()
