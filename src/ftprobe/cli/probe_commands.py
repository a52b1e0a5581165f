"""`ftprobe probe`: the classifier-probe protocol on a store entry or on plain files."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ftprobe.cli.framework import command, opt
from ftprobe.errors import UserError

GRID_PARTIAL = "grid.partial"  # the probe grid's finished chunks while a run is under way


@command("probe")
@dataclass
class ProbeCommand:
    """Train classifier probes (MLP or linear) on frozen vectors: grid, seeds, control, MDL.

    From a store:   ftprobe probe --store DIR --task pos --layers all --probe mlp --out DIR
    From files:     ftprobe probe --vectors X.npy --labels y.txt --test-vectors Xt.npy
                    --test-labels yt.txt [--dev-vectors ... --dev-labels ...] --out DIR
    Vectors are [n, D] (one layer) or [L, n, D] (layers 0..L-1); labels one per line.
    """

    store: Path | None = opt(None, help="representation store folder")
    task: str | None = opt(None, help="task name in the store (e.g. pos)")
    model: str | None = opt(None, help="model name or fingerprint (when the store holds several)")
    train_split: str = opt("train", help="split to train on")
    dev_split: str | None = opt("dev", help="split for early stopping (none: a slice of train)")
    test_split: str = opt("test", help="split to score")
    vectors: Path | None = opt(None, help="train vectors, .npy [n, D] or [L, n, D]")
    labels: Path | None = opt(None, help="train labels, one per line")
    types: Path | None = opt(None, help="train word types, one per line (for --control)")
    dev_vectors: Path | None = opt(None, help="dev vectors .npy")
    dev_labels: Path | None = opt(None, help="dev labels")
    dev_types: Path | None = opt(None, help="dev word types")
    test_vectors: Path | None = opt(None, help="test vectors .npy")
    test_labels: Path | None = opt(None, help="test labels")
    test_types: Path | None = opt(None, help="test word types")
    layers: list[str] = opt(["all"], help="layers: all, or indices")
    probe: Literal["mlp", "linear"] = opt("mlp", help="probe kind")
    hidden_sizes: list[int] = opt([32, 64, 128, 256], help="hidden sizes (grid over both layers)")
    l2: list[float] = opt([1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
                          help="L2 weights (scikit-learn's alpha)")
    seeds: int = opt(5, help="seeds for the best setting")
    seed: int = opt(0, help="first seed (grid, shuffles, control labels)")
    max_iter: int = opt(1000, help="at most this many epochs")
    patience: int = opt(10, help="epochs without dev improvement before stopping")
    batch_size: int = opt(200, help="minibatch size")
    search: Literal["grid", "halving"] = opt("grid", help="grid: train every setting to the end; "
                                             "halving: successive halving (much faster)")
    control: bool = opt(False, help="also train on control labels; report selectivity")
    mdl: bool = opt(False, help="also report the online (MDL) codelength")
    device: str = opt("auto", help="auto, cpu or cuda")
    precision: Literal["fp32", "bf16", "auto"] = opt(
        "fp32", help="matmul precision; bf16/auto is several times faster on AMX CPUs and GPUs")
    threads: int | None = opt(None, help="CPU threads for torch")
    standardize: bool = opt(False, help="scale each feature to mean 0, sd 1 over the training "
                                        "rows first (not the paper's protocol)")
    out: Path | None = opt(None, help="folder for results.json (a run stopped during the grid "
                                      "resumes from OUT/grid.partial when run again)")
    progress: bool = opt(True, help="report stages on stderr")

    def run(self) -> int:
        from ftprobe.probe import ProbeProtocol, run_protocol

        if self.store is not None and self.vectors is not None:
            raise UserError("give either --store (with --task) or --vectors, not both")
        if self.store is not None:
            data = self._from_store()
        elif self.vectors is not None:
            data = self._from_files()
        else:
            raise UserError("nothing to probe: give --store DIR --task NAME, or --vectors X.npy "
                            "--labels y.txt --test-vectors ... --test-labels ...")
        proto = ProbeProtocol(
            probe=self.probe, hidden_sizes=tuple(self.hidden_sizes), l2=tuple(self.l2),
            seeds=self.seeds, seed=self.seed, max_iter=self.max_iter, patience=self.patience,
            batch_size=self.batch_size, search=self.search, device=self.device,
            precision=self.precision, threads=self.threads, standardize=self.standardize,
        )
        if self.seeds < 1 or self.max_iter < 1 or self.batch_size < 1:
            raise UserError("--seeds, --max-iter and --batch-size must be at least 1")
        if self.control and (data["types"]["train"] is None or data["types"]["test"] is None):
            raise UserError("--control needs word types: --types and --test-types (and "
                            "--dev-types with --dev-vectors), or a store entry")
        res = run_protocol(
            data["X"]["train"], data["y"]["train"], data["X"]["test"], data["y"]["test"],
            data["X"].get("dev"), data["y"].get("dev"), protocol=proto,
            n_labels=len(data["label_names"]), control=self.control,
            train_types=data["types"]["train"], test_types=data["types"]["test"],
            dev_types=data["types"].get("dev"), mdl=self.mdl, progress=self.progress,
            resume_dir=self.out / GRID_PARTIAL if self.out is not None else None,
        )
        out = res.to_json()
        names = data["label_names"]
        unseen = dict(data.get("unseen_names", {}))
        for k, c in res.unseen_test_labels.items():
            if 0 <= k < len(names):
                unseen[names[k]] = unseen.get(names[k], 0) + c
        out["unseen_test_labels"] = unseen
        out["n_unseen_test"] = int(sum(unseen.values()))
        out["labels"] = names
        out["source"] = data["source"]
        if unseen:
            print(f"warning: {out['n_unseen_test']} test targets have labels never seen in "
                  f"training ({', '.join(sorted(unseen))}); counted as errors")
        self._print(res)
        if self.out is not None:
            from ftprobe.atomic import write_json

            self.out.mkdir(parents=True, exist_ok=True)
            write_json(self.out / "results.json", out)
            shutil.rmtree(self.out / GRID_PARTIAL, ignore_errors=True)  # only for resuming
            print(f"results -> {self.out / 'results.json'}")
        return 0

    # -- inputs ----------------------------------------------------------------------------

    def _from_store(self) -> dict:
        import numpy as np

        from ftprobe.represent.store import Store

        if not self.task:
            raise UserError("--store needs --task (the task name in the store)")
        if not self.store.is_dir():
            raise UserError(f"store {self.store}: no such folder")
        st = Store(self.store)
        wanted = {"train": self.train_split, "test": self.test_split}
        if self.dev_split and self.dev_split.lower() != "none":
            wanted["dev"] = self.dev_split
        entries = {}
        for role, split in wanted.items():
            hits = st.find(task=self.task, split=split, model=self.model)
            if not hits and self.model is not None:
                hits = [e for e in st.find(task=self.task, split=split)
                        if self.model in e.manifest["model"]["name"]]
            if not hits:
                if role == "dev":
                    continue  # no dev split: a slice of train
                raise UserError(f"store {self.store}: no entry for task {self.task!r} split "
                                f"{split!r}" + (f" model {self.model!r}" if self.model else "")
                                + " (see: ftprobe store ls)")
            models = sorted({e.manifest["model"]["name"] for e in hits})
            if len(hits) > 1:
                raise UserError(f"store {self.store}: {len(hits)} entries for {self.task}/{split}"
                                f" (models: {', '.join(models)}); pick one with --model")
            entries[role] = hits[0]
        layer_sets = [set(e.layers) for e in entries.values()]
        common = sorted(set.intersection(*layer_sets))
        layers = self._pick_layers(common)
        names = list(entries["train"].label_names)
        X, y, types = {}, {}, {}
        unseen: dict[str, int] = {}
        for role, e in entries.items():
            X[role] = {i: e.layer(i) for i in layers}
            lab = np.asarray(e.labels, dtype=np.int64)
            if list(e.label_names) != names:  # map by name onto train's vocabulary
                index = {n: i for i, n in enumerate(names)}
                own = list(e.label_names)
                mapped = np.array([index.get(own[v], -1) for v in lab], dtype=np.int64)
                if role == "test":
                    for v in lab[mapped < 0]:
                        unseen[own[v]] = unseen.get(own[v], 0) + 1
                lab = mapped
            y[role] = lab
            types[role] = e.target_words() if self.control else None
        types.setdefault("dev", None)
        src = {r: {"entry": e.id, "split": e.split, "model": e.manifest["model"]["name"]}
               for r, e in entries.items()}
        return {"X": X, "y": y, "types": types, "label_names": names, "unseen_names": unseen,
                "source": {"store": str(self.store), "task": self.task, "entries": src}}

    def _from_files(self) -> dict:
        import numpy as np

        if self.labels is None or self.test_vectors is None or self.test_labels is None:
            raise UserError("--vectors needs --labels, --test-vectors and --test-labels")
        if (self.dev_vectors is None) != (self.dev_labels is None):
            raise UserError("give --dev-vectors and --dev-labels together")
        roles = {"train": (self.vectors, self.labels, self.types),
                 "test": (self.test_vectors, self.test_labels, self.test_types)}
        if self.dev_vectors is not None:
            roles["dev"] = (self.dev_vectors, self.dev_labels, self.dev_types)
        arrays = {r: _load_vectors(v) for r, (v, _, _) in roles.items()}
        n_layers = {a.shape[0] for a in arrays.values()}
        if len(n_layers) > 1:
            raise UserError("train, dev and test vector files hold different numbers of layers")
        layers = self._pick_layers(list(range(n_layers.pop())))
        raw = {r: _read_lines(lab) for r, (_, lab, _) in roles.items()}
        names = sorted(set(raw["train"]))
        index = {n: i for i, n in enumerate(names)}
        X, y, types = {}, {}, {"dev": None}
        unseen: dict[str, int] = {}
        for r, (vec, lab, typ) in roles.items():
            if len(raw[r]) != arrays[r].shape[1]:
                raise UserError(f"{lab}: {len(raw[r])} labels but {vec} holds "
                                f"{arrays[r].shape[1]} vectors")
            y[r] = np.array([index.get(v, -1) for v in raw[r]], dtype=np.int64)
            if r == "dev" and (y[r] < 0).any():
                bad = sorted({v for v in raw[r] if v not in index})
                print(f"warning: dev labels never seen in training ({', '.join(bad)}): "
                      "counted as errors in early stopping")
            if r == "test":
                for v in raw[r]:
                    if v not in index:
                        unseen[v] = unseen.get(v, 0) + 1
            X[r] = {i: arrays[r][i] for i in layers}
            if typ is not None:
                types[r] = _read_lines(typ)
                if len(types[r]) != len(raw[r]):
                    raise UserError(f"{typ}: {len(types[r])} types but {len(raw[r])} labels")
            else:
                types[r] = None
        return {"X": X, "y": y, "types": types, "label_names": names, "unseen_names": unseen,
                "source": {r: str(v) for r, (v, _, _) in roles.items()}}

    def _pick_layers(self, available: list[int]) -> list[int]:
        from ftprobe.represent import resolve_layers

        if not available:
            raise UserError("the inputs share no layers")
        if self.layers in (["all"], []):
            return available
        # negatives count back from the last layer the inputs hold
        return resolve_layers(" ".join(self.layers), max(available), available)

    def _print(self, res) -> None:
        from rich.console import Console
        from rich.table import Table

        cols = ["layer", "acc %", "± std", "95% CI", "best", "dev %"]
        if self.control:
            cols += ["control %", "selectivity"]
        if self.mdl:
            cols += ["bits", "compression"]
        table = Table(*cols, title=f"{self.probe} probe: {res.n_train} train, {res.n_dev} dev "
                                   f"({res.dev_source}), {res.n_test} test, {res.n_labels} labels")
        for k, r in res.layers.items():
            setting = ("x".join(map(str, r.best_hidden)) + " " if r.best_hidden else "") + \
                f"l2={r.best_l2:g}"
            row = [str(k), f"{100 * r.accuracy_mean:.2f}", f"{100 * r.accuracy_std:.2f}",
                   f"{100 * r.accuracy_ci95[0]:.2f}-{100 * r.accuracy_ci95[1]:.2f}", setting,
                   f"{100 * r.dev_accuracy:.2f}"]
            if self.control:
                row += [f"{100 * r.control_accuracy_mean:.2f}", f"{100 * r.selectivity:.2f}"]
            if self.mdl:
                row += [f"{r.codelength:.0f}", f"{r.compression:.2f}"]
            table.add_row(*row)
        console = Console()
        if not console.is_terminal:  # logs and pipes: do not squeeze the table to 80 columns
            console = Console(width=160)
        console.print(table)


def _load_vectors(path: Path):
    import numpy as np

    if not path.is_file():
        raise UserError(f"{path}: no such file")
    try:
        a = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise UserError(f"{path}: not a .npy array ({exc})") from None
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or not np.issubdtype(a.dtype, np.number):
        raise UserError(f"{path}: expected a numeric [n, D] or [L, n, D] array, got {a.shape} "
                        f"{a.dtype}")
    return a


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    lines = path.read_text(encoding="utf-8").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return [ln.strip() for ln in lines]
