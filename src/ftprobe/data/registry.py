"""Task names and ``load_task``: from a name, a data location and options to a Task."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from ftprobe.data.conllu_tasks import dep_records, pos_records
from ftprobe.data.files import resolve_split_files
from ftprobe.data.jsonl import jsonl_records
from ftprobe.data.streusle import supersense_records
from ftprobe.data.task import SplitRecords, TargetKind, Task, build_task, random_sentence_split
from ftprobe.data.trec import trec_records
from ftprobe.errors import UserError


@dataclass(frozen=True)
class TaskOptions:
    """Reader options. ``random_split`` splits the sentences of a single file (e.g. PUD, which
    ships one file) into train/dev/test with these ratios, seeded by ``split_seed``."""

    tagset: Literal["upos", "xpos"] = "upos"
    dep_labels: Literal["full", "base"] = "full"
    random_split: tuple[float, ...] | None = None
    split_seed: int = 0
    max_sentences: int | None = None  # keep the first N sentences of each split (quick runs)


@dataclass(frozen=True)
class TaskSpec:
    kind: TargetKind
    suffixes: tuple[str, ...]
    read: Callable[[Path, TaskOptions], SplitRecords]
    help: str


CONLLU = (".conllu", ".conllu.gz")
TASKS: dict[str, TaskSpec] = {
    "pos": TaskSpec("word", CONLLU, lambda p, o: pos_records(p, o.tagset),
                    "part of speech of every word (UPOS; XPOS with tagset=xpos), CoNLL-U"),
    "dep": TaskSpec("pair", CONLLU, lambda p, o: dep_records(p, o.dep_labels),
                    "relation of every non-root (head, dependent) pair, CoNLL-U"),
    "ps-role": TaskSpec("word", (".conllulex", ".conllulex.gz"), lambda p, o: supersense_records(p, "ss"),
                        "scene role of single-token prepositions/possessives, STREUSLE"),
    "ps-fxn": TaskSpec("word", (".conllulex", ".conllulex.gz"), lambda p, o: supersense_records(p, "ss2"),
                       "function of single-token prepositions/possessives, STREUSLE"),
    "trec-50": TaskSpec("sentence", (".label", ".label.gz"), lambda p, o: trec_records(p, "fine"),
                        "question class, 50 fine labels, TREC"),
    "trec-6": TaskSpec("sentence", (".label", ".label.gz"), lambda p, o: trec_records(p, "coarse"),
                       "question class, 6 coarse labels, TREC"),
    "jsonl": TaskSpec("word", (".jsonl", ".jsonl.gz"), lambda p, o: jsonl_records(p)[1],
                      "your own task, JSON lines (word, pair or sentence targets)"),
}


def task_names() -> list[str]:
    return sorted(TASKS)


def load_task(
    name: str, data: str | Path | dict, options: TaskOptions | None = None, **overrides: Any
) -> Task:
    """Read task ``name`` from ``data`` (a folder, a file, ``"train=a,test=b"`` or a mapping)."""
    options = options or TaskOptions()
    if overrides:
        options = TaskOptions(**{**asdict(options), **overrides})
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; known tasks: {', '.join(task_names())}")
    spec = TASKS[name]
    files = resolve_split_files(data, spec.suffixes)
    kind = spec.kind
    records: dict[str, SplitRecords] = {}
    for split, path in files.items():
        if name == "jsonl":
            file_kind, records[split] = jsonl_records(path)
            if records and file_kind != kind and len(records) > 1:
                raise UserError(f"{path}: {file_kind} targets, but other splits hold {kind} targets")
            kind = file_kind
        else:
            records[split] = spec.read(path, options)
    if options.random_split is not None:
        if len(records) != 1:
            raise UserError(f"random_split needs a single data file; {data} has splits {sorted(records)}")
        (only,) = records.values()
        records = random_sentence_split(only, options.random_split, options.split_seed)
    if options.max_sentences is not None:
        records = {k: _first_sentences(v, options.max_sentences) for k, v in records.items()}
    for split, rec in records.items():
        if not rec.targets:
            raise UserError(f"task {name!r}: split {split!r} ({files.get(split, data)}) has no targets")
    source = {"task": name, "files": {k: str(v) for k, v in files.items()}, "options": asdict(options)}
    return build_task(name, kind, records, source)


def _first_sentences(rec: SplitRecords, n: int) -> SplitRecords:
    return SplitRecords(rec.sentences[:n], [t for t in rec.targets if t[0] < n])
