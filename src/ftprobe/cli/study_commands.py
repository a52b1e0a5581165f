"""`ftprobe study CONFIG` and `ftprobe demo`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftprobe.cli.framework import command, opt


@command("study")
@dataclass
class StudyCommand:
    """Run a study from one config (TOML or YAML): fine-tune, extract, probe, compare, report.

    Every step is cached by content under OUTPUT/steps: a re-run recomputes nothing, a changed
    setting recomputes only what depends on it, and a killed run resumes where it stopped.
    """

    config: Path = opt(help="study config (.toml, .yaml)", positional=True)
    dry_run: bool = opt(False, help="print the plan (and what is cached) and stop")
    workers: int | None = opt(None, help="steps run in parallel (default: the config's workers)")
    output: Path | None = opt(None, help="override the config's output folder")
    progress: bool = opt(True, help="show progress")

    def run(self) -> int:
        from ftprobe.study import load_config, run_study

        cfg = load_config(self.config)
        if self.output is not None:
            cfg = cfg.model_copy(update={"output": str(self.output.resolve())})
        if self.workers is not None and self.workers < 1:
            from ftprobe.errors import UserError

            raise UserError("--workers must be at least 1")
        summary = run_study(cfg, workers=self.workers, dry_run=self.dry_run, progress=self.progress)
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

    def run(self) -> int:
        from ftprobe.study import run_study
        from ftprobe.study.demo import demo_config, demo_toml

        if self.write_config is not None:
            from ftprobe.atomic import write_text

            write_text(self.write_config, demo_toml(output=str(self.out)))
            print(f"wrote {self.write_config}")
            return 0
        cfg = demo_config(self.out.resolve())
        summary = run_study(cfg, workers=self.workers, dry_run=self.dry_run, progress=self.progress)
        if not self.dry_run:
            _print_done(summary)
        return 0


def _print_done(summary) -> None:
    import json

    print(f"{len(summary.executed)} steps run, {len(summary.cached)} cached, {summary.seconds:.0f}s")
    results = json.loads(summary.results.read_text())
    for f in results["findings"]:
        print(f"  finding {f['number']}: {f['verdict']:<10} {f['explanation']}")
    print(f"results: {summary.results}")
    print(f"report:  {summary.report}")
