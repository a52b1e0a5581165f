"""`ftprobe study CONFIG` and `ftprobe demo`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ftprobe.cli.framework import command, opt


@command("study")
@dataclass
class StudyCommand:
    """Run a study from one config (TOML or YAML): fine-tune, extract, probe, compare, report.

    Every step is cached by content under OUTPUT/steps: a re-run recomputes nothing, a changed
    setting recomputes only what depends on it, and a killed run resumes where it stopped.
    """

    config: Path = opt(help="study config (.toml, .yaml), or a finished study's study.json", positional=True)
    dry_run: bool = opt(False, help="print the plan (and what is cached) and stop")
    workers: int | None = opt(None, help="steps run in parallel (default: the config's workers)")
    out: Path | None = opt(None, help="output folder (overrides the config's output)", aliases=("--output",))
    progress: bool = opt(True, help="show progress")
    executor: Literal["local", "ray"] = opt("local", help="where steps run: this machine (serial, or "
                                            "a process pool with --workers) or Ray")
    ray_address: str | None = opt(None, help="join the Ray cluster at HEAD:PORT (with --executor ray; "
                                  "default: start Ray on this machine)")
    gc: bool = opt(False, help="remove cached steps and store entries the config no longer reaches, "
                   "and stop (with --dry-run: only list them)")
    only: str | None = opt(None, help="run only the steps of these kinds, comma-separated, and what they "
                           "read (e.g. finetune,extract,probe on a GPU machine); the report waits for "
                           "a run without --only")
    tasks: str | None = opt(None, help="run only the steps of these tasks, comma-separated (a cross-task "
                            "step once both its tasks are named): a long study one task at a time; "
                            "the report waits for a run that covers every task")

    def run(self) -> int:
        from ftprobe.study import load_config

        cfg = load_config(self.config)
        if self.out is not None:
            cfg = cfg.model_copy(update={"output": str(self.out.resolve())})
        if self.workers is not None and self.workers < 1:
            from ftprobe.errors import UserError

            raise UserError("--workers must be at least 1")
        if self.gc:
            from ftprobe.study.gc import collect_garbage

            print(collect_garbage(cfg, dry_run=self.dry_run).describe(self.dry_run))
            return 0
        _check_executor(self.executor, self.ray_address)
        summary = _run(cfg, self.workers, self.dry_run, self.progress, self.executor, self.ray_address,
                       _names(self.only), _names(self.tasks))
        if not self.dry_run:
            _print_done(summary)
        return 0


@command("demo")
@dataclass
class DemoCommand:
    """A small study on the offline MiniLM and the excerpts shipped with ftprobe (a few minutes
    on 2 CPU cores): POS, PS-fxn and TREC-50, with the report at the end."""

    out: Path = opt(Path("ftprobe-demo"), help="output folder")
    workers: int = opt(1, help="steps run in parallel")
    dry_run: bool = opt(False, help="print the plan and stop")
    write_config: Path | None = opt(None, help="only write the demo's config (TOML) here and stop")
    progress: bool = opt(True, help="show progress")
    executor: Literal["local", "ray"] = opt("local", help="where steps run: this machine or Ray")
    ray_address: str | None = opt(None, help="join the Ray cluster at HEAD:PORT (with --executor ray)")

    def run(self) -> int:
        from ftprobe.study.demo import demo_config, demo_toml

        if self.write_config is not None:
            from ftprobe.atomic import write_text

            write_text(self.write_config, demo_toml(output=str(self.out)))
            print(f"wrote {self.write_config}")
            return 0
        _check_executor(self.executor, self.ray_address)
        cfg = demo_config(self.out.resolve())
        summary = _run(cfg, self.workers, self.dry_run, self.progress, self.executor, self.ray_address)
        if not self.dry_run:
            _print_done(summary)
        return 0


def _check_executor(executor: str, ray_address: str | None) -> None:
    if ray_address is not None and executor != "ray":
        from ftprobe.errors import UserError

        raise UserError("--ray-address needs --executor ray")


def _names(csv: str | None) -> tuple[str, ...] | None:
    return None if csv is None else tuple(k.strip() for k in csv.split(",") if k.strip())


def _run(cfg, workers, dry_run: bool, progress: bool, executor: str, ray_address: str | None,
         only: tuple[str, ...] | None = None, tasks: tuple[str, ...] | None = None):
    from ftprobe.study import run_study

    return run_study(cfg, workers=workers, dry_run=dry_run, progress=progress, executor_kind=executor,
                     ray_address=ray_address, only=only, tasks=tasks)


def _print_done(summary) -> None:
    import json

    print(f"{len(summary.executed)} steps run, {len(summary.cached)} cached, {summary.seconds:.0f}s")
    if summary.results is None:
        print("--only/--tasks: the other steps and the report wait for a run without them")
        return
    results = json.loads(summary.results.read_text())
    for f in results["findings"]:
        print(f"  finding {f['number']}: {f['verdict']:<13} {f['explanation']}")
    print(f"results: {summary.results}")
    print(f"report:  {summary.report}")
    folder = summary.report.parent
    if summary.plan.config.report.figure_files:
        print(f"figures: {folder / 'figures'} (PNG, SVG, PDF); tables: {folder / 'tables'}")
    else:  # report.figure_files = false
        print(f"tables:  {folder / 'tables'} (figures as files: ftprobe report {folder.parent})")
