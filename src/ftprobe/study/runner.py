"""``ftprobe study``: plan, run what is not cached (in parallel where independent), report."""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

from ftprobe.atomic import write_json
from ftprobe.study.cache import StepCache
from ftprobe.study.config import StudyConfig
from ftprobe.study.executor import ClusterExecutor, Executor, make_executor
from ftprobe.study.lock import FolderLock
from ftprobe.study.plan import Plan, Step, build_plan
from ftprobe.study.progress import read_progress
from ftprobe.study.steps import run_step, set_threads

POLL_S = 0.5  # seconds between two looks at the running steps' progress files


class StudyInterrupted(Exception):
    """Raised by ``stop_after`` (tests simulate a killed run with it)."""


@dataclass
class RunSummary:
    plan: Plan
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    report: Path | None = None
    results: Path | None = None
    seconds: float = 0.0


def _payload(step: Step, plan: Plan, out: Path, threads: int) -> dict:
    deps = {}
    for name, sid in step.deps.items():
        dep = plan.steps[sid]
        deps[name] = {"kind": dep.kind, "key": dep.key}
    return {"kind": step.kind, "key": step.key, "spec": step.spec, "deps": deps, "out": str(out),
            "threads": threads}


def describe_plan(plan: Plan, cache: StepCache) -> list[tuple[str, str, str, str]]:
    done = {sid for sid, s in plan.steps.items() if cache.done(s.kind, s.key)}
    done -= extractions_needed_again(plan, cache, done)
    return [(s.kind, s.label, s.key, "cached" if sid in done else "to run")
            for sid, s in plan.steps.items()]


def print_plan(plan: Plan, cache: StepCache, console, wanted: set[str] | None = None) -> None:
    from rich.table import Table

    from ftprobe.study.estimate import CPU_2_CORES, H200, calibrate, estimate_plan, format_seconds

    cpu = estimate_plan(plan, CPU_2_CORES)
    seconds = {s.step_id: s.seconds for s in cpu.steps}
    table = Table("#", "step", "what", "key", "status", "est. (2 cores)",
                  title=f"study plan -> {plan.config.output_dir}")
    rows = describe_plan(plan, cache)
    if wanted is not None:  # --only/--tasks: the other steps wait for a later run
        rows = [(k, label, key, status if f"{k}-{key}" in wanted or status == "cached" else "later")
                for k, label, key, status in rows]
    cached_kinds: dict[str, int] = {}
    for i, ((kind, label, key, status), sid) in enumerate(zip(rows, plan.steps, strict=True), 1):
        if status == "cached":  # a long study's finished steps would bury what is left
            cached_kinds[kind] = cached_kinds.get(kind, 0) + 1
            continue
        table.add_row(str(i), kind, label, key, status, format_seconds(seconds[sid]) if status == "to run" else "")
    if table.row_count:
        console.print(table)
    if cached_kinds:
        console.print("cached, not listed: " + ", ".join(f"{n} {kind}" for kind, n in cached_kinds.items()))
    todo = sum(r[3] == "to run" for r in rows)
    later = sum(r[3] == "later" for r in rows)
    console.print(f"{len(rows)} steps: {todo} to run, {len(rows) - todo - later} cached"
                  + (f", {later} left for a run without --only/--tasks" if later else ""))
    pending = {sid for sid, row in zip(plan.steps, rows, strict=True) if row[3] == "to run"}
    workers = plan.config.workers
    for rates in (CPU_2_CORES, H200):  # what is left, on this kind of machine and on a GPU one
        console.print(f"  {estimate_plan(plan, rates).only(pending).summary(workers)}")
    kinds_left = {plan.steps[sid].kind for sid in pending}
    cal = calibrate(cpu, finished_seconds(plan, cache, kinds_left))
    if pending and cal.factors:
        console.print(f"  as this study's finished steps ran (measured / projected: {cal.describe()}): "
                      f"{format_seconds(cal.apply(cpu).only(pending).total_seconds)} of step time")


def finished_seconds(plan: Plan, cache: StepCache, kinds: set[str]) -> dict[str, float]:
    """Step id -> the wall seconds each finished step of these kinds took (its ``_seconds``)."""
    out = {}
    for sid, step in plan.steps.items():
        if step.kind in kinds and cache.done(step.kind, step.key):
            seconds = cache.load(step.kind, step.key).get("_seconds")
            if isinstance(seconds, (int, float)):
                out[sid] = float(seconds)
    return out


def run_study(
    cfg: StudyConfig,
    *,
    workers: int | None = None,
    dry_run: bool = False,
    stop_after: int | None = None,
    console=None,
    progress: bool = True,
    executor: Executor | None = None,
    executor_kind: str = "local",
    ray_address: str | None = None,
    only: tuple[str, ...] | None = None,
    tasks: tuple[str, ...] | None = None,
) -> RunSummary:
    """Run the study; ``stop_after`` stops (as if killed) after that many executed steps.

    ``only``: run just the steps of these kinds (and the steps they read), e.g. the fine-tuning on
    a GPU machine before the DirectProbe fits on a CPU one; the report waits for a full run.
    ``tasks``: likewise, just the steps of these tasks (a long study one task at a time); with
    ``only``, the steps that both select.

    ``executor_kind``: ``local`` (in this process, or a process pool of ``workers``) or ``ray``
    (a Ray instance started here, or the cluster at ``ray_address``). One runner per output
    folder: a second one is refused while this one runs.
    """
    from rich.console import Console

    console = console or Console(stderr=True)
    t0 = time.monotonic()
    plan = build_plan(cfg)
    out = cfg.output_dir
    cache = StepCache(out / "steps")
    summary = RunSummary(plan)
    wanted = _wanted(plan, only, tasks)
    if dry_run:
        print_plan(plan, cache, console, wanted)
        return summary

    workers = workers or cfg.workers
    threads = cfg.threads
    per_worker = max(1, threads // max(1, workers))
    own_executor = executor is None
    if executor is None and executor_kind == "ray":
        from ftprobe.study.ray_executor import RayExecutor

        # here: a Ray of `workers` steps at once, each with its share of the threads; on a
        # cluster, as many steps in flight as it has CPUs unless --workers says otherwise
        executor = RayExecutor(ray_address, workers=workers if (ray_address is None or workers > 1) else None,
                               cpus=max(threads, workers * per_worker) if ray_address is None else None)
    lock = FolderLock(out, "ftprobe study")
    try:
        if isinstance(executor, ClusterExecutor):  # every check before any work
            from ftprobe.study.placement import check_gpus

            check_gpus(cfg, executor.has_gpus)
            lock.acquire()
            executor.check_folder_visible(out)
        else:
            lock.acquire()
        write_json(out / "study.json", cfg.to_json())
        executor = executor or make_executor(workers, threads)
        if executor.workers <= 1:
            set_threads(threads)
        on_cluster = isinstance(executor, ClusterExecutor)
        _run_steps(plan, cache, summary, executor, own_executor, stop_after, per_worker,
                   executor.has_gpus if on_cluster else False, executor.gpu_share if on_cluster else 0.0,
                   console, progress, wanted)
        paths = None
        if wanted is None or len(wanted) == len(plan.steps):
            from ftprobe.report import write_report
            from ftprobe.study.results import collect_results

            paths = write_report(collect_results(plan, cache), out, figure_files=cfg.report.figure_files)
    except BaseException:
        if own_executor and executor is not None:
            executor.shutdown(cancel=True)  # a no-op when _run_steps shut it down already
        raise
    finally:
        lock.release()
    if paths is not None:
        summary.report = paths["html"]
        summary.results = paths["json"]
    summary.seconds = time.monotonic() - t0
    return summary


def _run_steps(plan: Plan, cache: StepCache, summary: RunSummary, executor: Executor, own_executor: bool,
               stop_after: int | None, per_worker: int, has_gpus: bool, gpu_share: float,
               console, progress: bool, wanted: set[str] | None = None) -> None:
    """Submit each step as soon as its inputs are done; poll the running ones' progress."""
    from ftprobe.study.placement import step_resources

    cfg = plan.config
    out = cfg.output_dir
    steps = plan.steps
    weights = _Weights(plan, cache)
    done = {sid for sid, s in steps.items() if cache.done(s.kind, s.key)}
    done -= extractions_needed_again(plan, cache, done, forget=True)  # before the weights they read
    done -= weights.needed_again(done)
    summary.cached = sorted(done)
    pending = [sid for sid in steps if sid not in done and (wanted is None or sid in wanted)]
    running: dict[Future, str] = {}
    failed: list[tuple[str, BaseException]] = []
    interrupted = False
    weights.release(done)

    bar = _Progress(console, len(pending) + len(done), len(done), progress)
    try:
        while pending or running:
            if not failed:
                for sid in list(pending):
                    if len(running) >= executor.workers:
                        break
                    if stop_after is not None and len(summary.executed) + len(running) >= stop_after:
                        break
                    s = steps[sid]
                    if all(d in done for d in s.deps.values()):
                        pending.remove(sid)
                        res = step_resources(s, cfg, per_worker, has_gpus, gpu_share)
                        bar.start(s)
                        fut = executor.submit(run_step, _payload(s, plan, out, int(res.cpus)), res)
                        running[fut] = sid
            if not running:
                if stop_after is not None and len(summary.executed) >= stop_after and pending:
                    raise StudyInterrupted(f"stopped after {stop_after} steps")
                if failed or not pending:
                    break
                raise RuntimeError("study plan has steps whose inputs never finish: "
                                   + ", ".join(pending[:5]))
            finished, _ = wait(list(running), timeout=POLL_S, return_when=FIRST_COMPLETED)
            for fut in finished:
                sid = running.pop(fut)
                s = steps[sid]
                exc = fut.exception()
                if exc is not None:
                    failed.append((sid, exc))
                    bar.fail(s, exc)
                    continue
                done.add(sid)
                summary.executed.append(sid)
                bar.finish(s, fut.result().get("_seconds"))
                weights.release(done)
            bar.poll({sid: cache.partial(steps[sid].kind, steps[sid].key) for sid in running.values()},
                     len(pending), len(failed))
    except KeyboardInterrupt:
        interrupted = True
        if progress:
            console.print(f"interrupted: cancelling {len(running)} running step(s); "
                          "run again to resume (finished steps are kept)")
        raise
    finally:
        bar.close()
        if own_executor:
            executor.shutdown(cancel=bool(failed) or interrupted)
    if failed:
        sid, exc = failed[0]
        from ftprobe.errors import SettingError, UserError
        from ftprobe.study.config import STEP_SECTIONS, named_for_config

        if isinstance(exc, SettingError) and steps[sid].kind in STEP_SECTIONS:
            exc = named_for_config(exc, STEP_SECTIONS[steps[sid].kind])
        if isinstance(exc, UserError):
            raise UserError(f"step {steps[sid].kind} {steps[sid].label}: {exc}") from exc
        cause = getattr(exc, "cause", None)  # Ray wraps a step's exception; show the step's own
        if isinstance(cause, UserError):
            raise UserError(f"step {steps[sid].kind} {steps[sid].label}: {cause}") from exc
        raise exc


def _wanted(plan: Plan, only: tuple[str, ...] | None, tasks: tuple[str, ...] | None) -> set[str] | None:
    """The steps a run with ``--only`` and/or ``--tasks`` runs (None: all of them)."""
    from ftprobe.errors import UserError

    wanted = None if only is None else plan.with_inputs(_check_kinds(only))
    if tasks is not None:
        unknown = [t for t in tasks if t not in plan.tasks]
        if unknown or not tasks:
            raise UserError(f"--tasks: unknown task {', '.join(map(repr, unknown)) or '(none given)'}; "
                            f"the study's tasks are {', '.join(plan.tasks)}")
        of_tasks = plan.of_tasks(tasks)
        wanted = of_tasks if wanted is None else wanted & of_tasks
    return wanted


def _check_kinds(kinds) -> tuple[str, ...]:
    from ftprobe.errors import UserError
    from ftprobe.study.plan import STEP_KINDS

    unknown = [k for k in kinds if k not in STEP_KINDS]
    if unknown or not kinds:
        raise UserError(f"--only: unknown step kind {', '.join(map(repr, unknown)) or '(none given)'}; "
                        f"the kinds are {', '.join(STEP_KINDS)}")
    return tuple(kinds)


def extractions_needed_again(plan: Plan, cache: StepCache, done: set[str], forget: bool = False) -> set[str]:
    """Done extraction steps whose vectors are not in the store (a store removed or not copied
    with the steps) while a step still to run reads them: they run again (with ``forget``,
    taken out of the cache first). Extraction is deterministic, so the entry comes back the same."""
    from ftprobe.represent import Store
    from ftprobe.study.weights import forget_step

    store = Store(plan.config.output_dir / "store")
    readers = plan.dependents()
    again = set()
    for sid in sorted(done):
        s = plan.steps[sid]
        if s.kind != "extract" or all(r in done for r in readers[sid]):
            continue
        if store.get(cache.load(s.kind, s.key)["entry"]) is None:
            if forget:
                forget_step(cache, s.kind, s.key)
            again.add(sid)
    return again


NO_WEIGHTS = ("recorded",)  # kinds of steps that depend on a fine-tuning step but not on its weights


class _Weights:
    """``keep_checkpoints = false``: a fine-tuning step's weights go once all its readers are done."""

    def __init__(self, plan: Plan, cache: StepCache):
        self.keep = plan.config.finetune.keep_checkpoints
        self.cache = cache
        self.plan = plan
        # the recorded steps read the run's metrics and the store, not its weights
        self.readers = {sid: [d for d in r if plan.steps[d].kind not in NO_WEIGHTS]
                        for sid, r in plan.dependents().items() if plan.steps[sid].kind == "finetune"}
        self.released: set[str] = set()

    def needed_again(self, done: set[str]) -> set[str]:
        """Done fine-tuning steps whose weights were removed but that a step still to run reads:
        taken out of the cache, to run again."""
        from ftprobe.study.weights import forget_step, weights_removed

        again = set()
        for sid, readers in self.readers.items():
            s = self.plan.steps[sid]
            if sid in done and any(r not in done for r in readers) and weights_removed(self.cache, s.key):
                forget_step(self.cache, s.kind, s.key)
                again.add(sid)
        return again

    def release(self, done: set[str]) -> None:
        if self.keep:
            return
        from ftprobe.study.weights import remove_weights

        for sid, readers in self.readers.items():
            if sid in done and sid not in self.released and all(r in done for r in readers):
                remove_weights(self.cache, self.plan.steps[sid].key)
                self.released.add(sid)


class _Progress:
    """One progress view: a bar over all steps with the counts (done / running / failed / to
    run), a line per running step with its own progress (read from the progress file it writes
    in its work folder, wherever it runs), and a line per finished step."""

    def __init__(self, console, total: int, cached: int, enabled: bool):
        self.console = console
        self.enabled = enabled
        self.total = total
        self.count = cached
        self.t: dict[str, float] = {}
        self.labels: dict[str, str] = {}
        self._progress = None
        self._lines: dict[str, object] = {}
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(TextColumn("{task.fields[name]}"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.description}"),
                                      console=console, transient=True)
            self._task = self._progress.add_task("", total=total, completed=cached, name="study")
            self._progress.start()
            if cached:
                console.print(f"{cached} of {total} steps already done (cached)")

    def start(self, step: Step) -> None:
        self.t[step.id] = time.monotonic()
        self.labels[step.id] = f"{step.kind} {step.label}"
        if self._progress:
            self._lines[step.id] = self._progress.add_task("", total=None, name=f"  {step.kind} {step.label}")

    def poll(self, running: dict[str, Path], to_run: int, failed: int) -> None:
        """Refresh the counts and each running step's own progress."""
        if not self._progress:
            return
        self._progress.update(self._task, description=f"done {self.count}, running {len(running)}, "
                                                      f"failed {failed}, to run {to_run}")
        for sid, work in running.items():
            line = self._lines.get(sid)
            p = read_progress(work)
            if line is None or p is None:
                continue
            self._progress.update(line, description=f"{p.describe()} [{p.host}:{p.pid}]",
                                  completed=p.done or 0, total=p.total or None)

    def _drop(self, step: Step) -> None:
        line = self._lines.pop(step.id, None)
        if line is not None and self._progress:
            self._progress.remove_task(line)

    def finish(self, step: Step, seconds) -> None:
        self.count += 1
        self._drop(step)
        took = time.monotonic() - self.t.get(step.id, time.monotonic())
        if self._progress:
            self._progress.update(self._task, advance=1)
            self.console.print(f"[{self.count:>{len(str(self.total))}}/{self.total}] {step.kind:<11} "
                               f"{step.label}  ({took:.1f}s)", markup=False, highlight=False)

    def fail(self, step: Step, exc: BaseException) -> None:
        self._drop(step)
        if self.enabled:
            self.console.print(f"FAILED {step.kind} {step.label}: {exc}", markup=False, highlight=False)

    def close(self) -> None:
        if self._progress:
            self._progress.stop()
