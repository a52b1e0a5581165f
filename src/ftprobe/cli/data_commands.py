"""`ftprobe tasks ...`: list the known tasks and inspect one on its data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ftprobe.cli.framework import command, opt


@dataclass
class TaskArgs:
    """Options shared by every command that reads a task."""

    task: str = opt(help="task name: pos, dep, ps-role, ps-fxn, trec-50, trec-6, jsonl")
    data: str = opt(help="data folder, file, or split=path[,split=path]")
    tagset: str = opt("upos", help="pos: upos or xpos", choices=["upos", "xpos"])
    dep_labels: str = opt("full", help="dep: full labels (aux:pass) or base (aux)", choices=["full", "base"])
    random_split: str | None = opt(None, help="split one file's sentences at random, e.g. 0.8,0.1,0.1 (train,dev,test)")
    split_seed: int = opt(0, help="seed of --random-split")
    max_sentences: int | None = opt(None, help="keep only the first N sentences of each split")

    def load(self):
        from ftprobe.data import TaskOptions, load_task
        from ftprobe.errors import UserError

        ratios = None
        if self.random_split:
            try:
                ratios = tuple(float(x) for x in self.random_split.split(","))
            except ValueError:
                raise UserError(f"--random-split {self.random_split!r}: expected numbers like 0.8,0.1,0.1") from None
        options = TaskOptions(tagset=self.tagset, dep_labels=self.dep_labels, random_split=ratios,
                              split_seed=self.split_seed, max_sentences=self.max_sentences)
        return load_task(self.task, self.data, options)


@command("tasks list")
@dataclass
class TasksList:
    """List the tasks ftprobe can read."""

    def run(self) -> int:
        from rich.console import Console
        from rich.table import Table

        from ftprobe.data import TASKS

        table = Table("task", "targets", "files", "what")
        for name, spec in sorted(TASKS.items()):
            table.add_row(name, spec.kind, " ".join(spec.suffixes), spec.help)
        Console().print(table)
        return 0


@command("tasks inspect")
@dataclass
class TasksInspect(TaskArgs):
    """Print a task's splits, target counts, label counts and a few example targets."""

    examples: int = opt(3, help="example targets to show per split")
    json_out: Path | None = opt(None, flag="--json", help="also write the counts as JSON here")

    def run(self) -> int:
        from rich.console import Console
        from rich.table import Table

        task = self.load()
        console = Console()
        console.print(f"[bold]{task.name}[/] ({task.kind} targets, {task.n_labels} labels)")
        counts = {name: task.label_counts(name) for name in task.splits}
        summary = Table("split", "sentences", "targets", "labels")
        for name, sp in task.splits.items():
            summary.add_row(name, str(len(sp.sentences)), str(len(sp)), str(len(counts[name])))
        console.print(summary)
        table = Table("label", *task.splits)
        for label in task.labels:
            table.add_row(label, *(str(counts[s].get(label, 0)) for s in task.splits))
        console.print(table)
        for name, sp in task.splits.items():
            words = sp.target_words()
            for i in range(min(self.examples, len(sp))):
                console.print(f"  {name}[{i}] {words[i]!r} -> {task.labels[sp.labels[i]]}", markup=False)
        if self.json_out:
            from ftprobe.atomic import write_json

            write_json(self.json_out, {"task": task.name, "kind": task.kind, "labels": task.labels,
                                              "splits": {s: {"sentences": len(sp.sentences), "targets": len(sp),
                                                             "label_counts": dict(counts[s])}
                                                         for s, sp in task.splits.items()}})
        return 0
