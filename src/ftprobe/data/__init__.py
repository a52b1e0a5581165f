"""Stage 1: reading tasks into targets (a word, a word pair or a sentence) with string labels."""

from ftprobe.data.registry import TASKS, TaskOptions, load_task, task_names
from ftprobe.data.task import SPLIT_ORDER, Split, SplitRecords, TargetKind, Task, build_task

__all__ = [
    "SPLIT_ORDER", "TASKS", "Split", "SplitRecords", "TargetKind", "Task", "TaskOptions",
    "build_task", "load_task", "task_names",
]
