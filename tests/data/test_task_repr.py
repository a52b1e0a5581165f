"""A task prints as one short line (a notebook's print(task) must not dump the corpus)."""

from pathlib import Path

from ftprobe.data import load_task

SAMPLE_EWT = Path(__file__).resolve().parents[2] / "src" / "ftprobe" / "resources" / "samples" / "ud_english_ewt"


def test_task_and_split_reprs_are_one_short_line():
    task = load_task("pos", SAMPLE_EWT)
    text = repr(task)
    assert "\n" not in text and len(text) < 200
    assert text.startswith("Task('pos', word, 17 labels, targets: ")
    for name, split in task.splits.items():
        assert f"{name} {len(split):,}" in text
        assert repr(split) == f"Split({name!r}, {len(split.sentences):,} sentences, {len(split):,} targets)"
