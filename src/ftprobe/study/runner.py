"""``ftprobe study``: plan, run what is not cached (in parallel where independent), report."""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

from ftprobe.atomic import write_json
from ftprobe.study.cache import StepCache
from ftprobe.study.config import StudyConfig
from ftprobe.study.executor import Executor, make_executor
from ftprobe.study.plan import Plan, Step, build_plan
from ftprobe.study.steps import run_step, set_threads


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
    rows = []
    for s in plan.steps.values():
        rows.append((s.kind, s.label, s.key, "cached" if cache.done(s.kind, s.key) else "to run"))
    return rows


def print_plan(plan: Plan, cache: StepCache, console) -> None:
    from rich.table import Table

    table = Table("#", "step", "what", "key", "status", title=f"study plan -> {plan.config.output_dir}")
    rows = describe_plan(plan, cache)
    for i, (kind, label, key, status) in enumerate(rows, 1):
        table.add_row(str(i), kind, label, key, status)
    console.print(table)
    todo = sum(r[3] == "to run" for r in rows)
    console.print(f"{len(rows)} steps: {todo} to run, {len(rows) - todo} cached")


def run_study(
    cfg: StudyConfig,
    *,
    workers: int | None = None,
    dry_run: bool = False,
    stop_after: int | None = None,
    console=None,
    progress: bool = True,
    executor: Executor | None = None,
) -> RunSummary:
    """Run the study; ``stop_after`` stops (as if killed) after that many executed steps."""
    from rich.console import Console

    console = console or Console(stderr=True)
    t0 = time.monotonic()
    plan = build_plan(cfg)
    out = cfg.output_dir
    cache = StepCache(out / "steps")
    summary = RunSummary(plan)
    if dry_run:
        print_plan(plan, cache, console)
        return summary
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "study.json", cfg.to_json())

    workers = workers or cfg.workers
    threads = cfg.threads
    per_worker = max(1, threads // max(1, workers))
    own_executor = executor is None
    executor = executor or make_executor(workers, threads)
    if executor.workers <= 1:
        set_threads(threads)

    steps = plan.steps
    done = {sid for sid, s in steps.items() if cache.done(s.kind, s.key)}
    summary.cached = sorted(done)
    pending = [sid for sid in steps if sid not in done]
    running: dict[Future, str] = {}
    failed: list[tuple[str, BaseException]] = []

    bar = _Progress(console, len(steps), len(done), progress)
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
                        bar.start(s)
                        fut = executor.submit(run_step, _payload(s, plan, out, per_worker))
                        running[fut] = sid
            if not running:
                if stop_after is not None and len(summary.executed) >= stop_after and pending:
                    raise StudyInterrupted(f"stopped after {stop_after} steps")
                if failed or not pending:
                    break
                raise RuntimeError("study plan has steps whose inputs never finish: "
                                   + ", ".join(pending[:5]))
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
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
    finally:
        bar.close()
        if own_executor:
            executor.shutdown(cancel=bool(failed))
    if failed:
        sid, exc = failed[0]
        from ftprobe.errors import SettingError, UserError
        from ftprobe.study.config import STEP_SECTIONS, named_for_config

        if isinstance(exc, SettingError) and steps[sid].kind in STEP_SECTIONS:
            exc = named_for_config(exc, STEP_SECTIONS[steps[sid].kind])
        if isinstance(exc, UserError):
            raise UserError(f"step {steps[sid].kind} {steps[sid].label}: {exc}") from exc
        raise exc

    from ftprobe.report import write_report
    from ftprobe.study.results import collect_results

    results = collect_results(plan, cache)
    paths = write_report(results, out)
    summary.report = paths["html"]
    summary.results = paths["json"]
    summary.seconds = time.monotonic() - t0
    return summary


class _Progress:
    """One progress view: a bar over all steps, and a line per finished step."""

    def __init__(self, console, total: int, cached: int, enabled: bool):
        self.console = console
        self.enabled = enabled
        self.total = total
        self.count = cached
        self.t: dict[str, float] = {}
        self._progress = None
        if enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(TextColumn("study"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("{task.description}"),
                                      console=console, transient=True)
            self._task = self._progress.add_task("", total=total, completed=cached)
            self._progress.start()
            if cached:
                console.print(f"{cached} of {total} steps already done (cached)")

    def start(self, step: Step) -> None:
        self.t[step.id] = time.monotonic()
        if self._progress:
            self._progress.update(self._task, description=f"{step.kind} {step.label}")

    def finish(self, step: Step, seconds) -> None:
        self.count += 1
        took = time.monotonic() - self.t.get(step.id, time.monotonic())
        if self._progress:
            self._progress.update(self._task, advance=1)
            self.console.print(f"[{self.count:>{len(str(self.total))}}/{self.total}] {step.kind:<11} "
                               f"{step.label}  ({took:.1f}s)", markup=False, highlight=False)

    def fail(self, step: Step, exc: BaseException) -> None:
        if self.enabled:
            self.console.print(f"FAILED {step.kind} {step.label}: {exc}", markup=False, highlight=False)

    def close(self) -> None:
        if self._progress:
            self._progress.stop()
