"""What `ftprobe probe` trains and scores on, read from a representation store or from plain
files, as one typed value: the train, dev and test splits over the same layers and one label
vocabulary (the train split's)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ftprobe.cli.inputs import layer_stack, read_lines
from ftprobe.errors import UserError

if TYPE_CHECKING:
    import numpy as np

LayerPicker = Callable[[list[int]], list[int]]  # the layers the inputs share -> the ones to probe


@dataclass(frozen=True)
class Split:
    """One split: vectors by layer, label indices into the inputs' vocabulary (-1: a label the
    train split never has), and word types for control tasks (None: not read)."""

    vectors: dict[int, np.ndarray]
    labels: np.ndarray
    types: list[str] | None = None


@dataclass(frozen=True)
class ProbeInputs:
    train: Split
    test: Split
    dev: Split | None  # None: early stopping on a slice of train
    label_names: list[str]  # the train split's vocabulary
    source: dict  # where the inputs came from, as results.json records it
    unseen_test: dict[str, int] = field(default_factory=dict)  # test labels train never has -> count

    def has_types(self) -> bool:
        """Word types for every split a control task reads."""
        return all(s.types is not None for s in (self.train, self.test, self.dev) if s is not None)


def from_store(store: Path, task: str, model: str | None, splits: dict[str, str | None], control: bool,
               pick_layers: LayerPicker) -> ProbeInputs:
    """The entries of ``task`` (one model's) for the ``splits`` {"train", "dev", "test"} -> split
    name (dev None or missing in the store: a slice of train), labels mapped by name onto train's."""
    import numpy as np

    from ftprobe.represent.store import Store

    if not store.is_dir():
        raise UserError(f"store {store}: no such folder")
    st = Store(store)
    entries = {}
    for role, split in splits.items():
        if split is None:
            continue
        hits = st.find(task=task, split=split, model=model)
        if not hits and model is not None:
            hits = [e for e in st.find(task=task, split=split) if model in e.manifest["model"]["name"]]
        if not hits:
            if role == "dev":
                continue
            raise UserError(f"store {store}: no entry for task {task!r} split {split!r}"
                            + (f" model {model!r}" if model else "") + " (see: ftprobe store ls)")
        if len(hits) > 1:
            models = ", ".join(sorted({e.manifest["model"]["name"] for e in hits}))
            raise UserError(f"store {store}: {len(hits)} entries for {task}/{split} (models: {models}); "
                            "pick one with --model")
        entries[role] = hits[0]
    layers = pick_layers(sorted(set.intersection(*(set(e.layers) for e in entries.values()))))
    names = list(entries["train"].label_names)
    index = {n: i for i, n in enumerate(names)}
    unseen: Counter[str] = Counter()
    read: dict[str, Split] = {}
    for role, e in entries.items():
        labels = np.asarray(e.labels, dtype=np.int64)
        own = list(e.label_names)
        if own != names:  # map by name onto train's vocabulary
            labels = np.array([index.get(own[v], -1) for v in labels], dtype=np.int64)
            if role == "test":
                unseen.update(own[v] for v in np.asarray(e.labels)[labels < 0])
        read[role] = Split({i: e.layer(i) for i in layers}, labels, e.target_words() if control else None)
    source = {"store": str(store), "task": task,
              "entries": {r: {"entry": e.id, "split": e.split, "model": e.manifest["model"]["name"]}
                          for r, e in entries.items()}}
    return ProbeInputs(read["train"], read["test"], read.get("dev"), names, source, dict(unseen))


@dataclass(frozen=True)
class SplitFiles:
    """A split given as files: vectors (.npy, [n, D] or [L, n, D]), labels and, optionally, word types."""

    vectors: Path
    labels: Path
    types: Path | None = None


def from_files(train: SplitFiles, test: SplitFiles, dev: SplitFiles | None,
               pick_layers: LayerPicker) -> ProbeInputs:
    """Labels are indexed by the sorted set of train's; a dev label train lacks counts as an error
    in early stopping (warned), a test label train lacks as a wrong answer (counted)."""
    import numpy as np

    roles = {"train": train, "test": test, **({"dev": dev} if dev is not None else {})}
    stacks = {r: layer_stack(f.vectors) for r, f in roles.items()}
    if len({a.shape[0] for a in stacks.values()}) > 1:
        raise UserError("train, dev and test vector files hold different numbers of layers")
    layers = pick_layers(list(range(stacks["train"].shape[0])))
    raw = {r: read_lines(f.labels) for r, f in roles.items()}
    names = sorted(set(raw["train"]))
    index = {n: i for i, n in enumerate(names)}
    read: dict[str, Split] = {}
    for r, f in roles.items():
        if len(raw[r]) != stacks[r].shape[1]:
            raise UserError(f"{f.labels}: {len(raw[r])} labels but {f.vectors} holds {stacks[r].shape[1]} vectors")
        types = None
        if f.types is not None:
            types = read_lines(f.types, "word type")
            if len(types) != len(raw[r]):
                raise UserError(f"{f.types}: {len(types)} types but {len(raw[r])} labels")
        read[r] = Split({i: stacks[r][i] for i in layers},
                        np.array([index.get(v, -1) for v in raw[r]], dtype=np.int64), types)
    if "dev" in raw and (missing := _missing(raw["dev"], index)):
        print(f"warning: dev labels never seen in training ({', '.join(sorted(missing))}): "
              "counted as errors in early stopping")
    source = {r: str(f.vectors) for r, f in roles.items()}
    return ProbeInputs(read["train"], read["test"], read.get("dev"), names, source,
                       dict(_missing(raw["test"], index)))


def _missing(labels: Sequence[str], index: dict[str, int]) -> Counter[str]:
    return Counter(v for v in labels if v not in index)
