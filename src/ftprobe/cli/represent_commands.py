"""`ftprobe extract` and `ftprobe store ...`."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from ftprobe.cli.data_commands import TaskArgs
from ftprobe.cli.framework import command, opt, parse_layers

DEFAULT_STORE = Path("ftprobe-store")


@command("extract")
@dataclass
class Extract(TaskArgs):
    """Extract every target's vector at every layer into the store (once; re-runs reuse it)."""

    model: str | None = opt(None, help="hub name or local folder (default: the offline MiniLM)")
    splits: list[str] = opt([], help="splits to extract (default: all of the task's)")
    layers: list[str] = opt(["all"], help="layers: all, or indices such as 1,2 or 0 -1 (0 = embeddings; -1 = last)")
    store: Path = opt(DEFAULT_STORE, help="store folder")
    word_pooling: str = opt("mean", help="subwords -> word", choices=["mean", "first", "last"])
    sentence_pooling: str | None = opt(None, help="sentence targets (default: cls for encoders, last for "
                                       "decoder-only models, else mean)", choices=["cls", "mean", "last"])
    batch_size: int = opt(32, help="sentences per batch")
    device: str = opt("auto", help="auto, cpu or cuda")
    dtype: str = opt("float32", help="compute dtype", choices=["float32", "float16", "bfloat16"])
    store_dtype: str = opt("float32", help="stored dtype", choices=["float32", "float16"])
    revision: str | None = opt(None, help="model revision on the hub")
    trust_remote_code: bool = opt(False, help="allow the model's own code (off unless you trust it)")
    progress: bool = opt(True, help="show a progress bar")

    def run(self) -> int:
        from ftprobe.represent import Store, extract, load_encoder

        layers = parse_layers(self.layers)  # a bad --layers fails before anything loads
        task = self.load()
        splits = self.splits or list(task.splits)
        for s in splits:
            task.split(s)  # fail before loading the model
        encoder = load_encoder(self.model, device=self.device, dtype=self.dtype, revision=self.revision,
                               trust_remote_code=self.trust_remote_code)
        store = Store(self.store)
        for s in splits:
            entry = extract(encoder, task, s, store, layers=layers, word_pooling=self.word_pooling,
                            sentence_pooling=self.sentence_pooling, batch_size=self.batch_size,
                            store_dtype=self.store_dtype, progress=self.progress)
            print(f"{task.name}/{s}: {entry.n_targets} targets x {entry.dim} dims, layers "
                  f"{entry.layers[0]}..{entry.layers[-1]} -> {entry.path}")
        return 0


@command("store ls")
@dataclass
class StoreLs:
    """List the entries of a store."""

    store: Path = opt(DEFAULT_STORE, help="store folder")

    def run(self) -> int:
        from rich.console import Console
        from rich.table import Table

        from ftprobe.errors import UserError
        from ftprobe.represent import Store

        if not self.store.is_dir():
            raise UserError(f"store {self.store}: no such folder (ftprobe extract --store {self.store} makes one)")
        st = Store(self.store)
        entries = [e.describe() for e in st.entries()]
        header = ("model", "task", "split", "targets", "dim", "layers", "pooling", "id")
        rows = [(_model_name(d["model"]), d["task"], d["split"], str(d["n_targets"]), str(d["dim"]),
                 f"{len(d['layers'])}", ",".join(f"{k}={v}" for k, v in d["pooling"].items()), d["id"])
                for d in entries]
        console = Console()
        if not entries:
            console.print(f"store {self.store}: no entries", markup=False)
        elif not sys.stdout.isatty():  # piped: whole lines, tab-separated, nothing cut
            print("\t".join(header))
            for row in rows:
                print("\t".join(row))
        else:
            table = Table(*header)
            # ids are what `store rm` takes: never cut them, whatever the terminal's width
            table.columns[-1].no_wrap = True
            table.columns[-1].min_width = max(len(d["id"]) for d in entries)
            for row in rows:
                table.add_row(*row)
            console.print(table)
        for p in st.partials():
            console.print(f"incomplete (resumable): {p.name}", markup=False)
        return 0


def _model_name(model: str) -> str:
    """A model as store ls shows it: a local folder by its name, a fine-tuned one with its task."""
    import json

    path = Path(model)
    if not path.is_dir():
        return model
    name = path.name
    if name.startswith("step-") or name == "final":
        name = f"{path.parent.parent.name if name.startswith('step-') else path.parent.name}/{name}"
    try:
        task = json.loads((path / "head.json").read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError):
        task = None
    return f"{name} (fine-tuned on {task})" if task else name


@command("store rm")
@dataclass
class StoreRm:
    """Remove entries (by id or id prefix), or incomplete ones with --partial."""

    ids: list[str] = opt([], help="entry ids or prefixes", positional=True)
    store: Path = opt(DEFAULT_STORE, help="store folder")
    partial: bool = opt(False, help="also remove incomplete (resumable) extractions")

    def run(self) -> int:
        from ftprobe.errors import UserError
        from ftprobe.represent import Store

        st = Store(self.store)
        if not self.ids and not self.partial:
            raise UserError("store rm: name entry ids, or --partial")
        for eid in st.remove(self.ids):
            print(f"removed {eid}")
        if self.partial:
            for name in st.remove_partials():
                print(f"removed {name}")
        return 0
