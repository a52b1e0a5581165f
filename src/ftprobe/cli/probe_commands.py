"""`ftprobe probe`: the classifier-probe protocol on a store entry or on plain files."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ftprobe.cli.framework import command, opt
from ftprobe.cli.probe_inputs import ProbeInputs, SplitFiles, from_files, from_store
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

        inputs = self._inputs()
        proto = ProbeProtocol(
            probe=self.probe, hidden_sizes=tuple(self.hidden_sizes), l2=tuple(self.l2),
            seeds=self.seeds, seed=self.seed, max_iter=self.max_iter, patience=self.patience,
            batch_size=self.batch_size, search=self.search, device=self.device,
            precision=self.precision, threads=self.threads, standardize=self.standardize,
        )
        if self.seeds < 1 or self.max_iter < 1 or self.batch_size < 1:
            raise UserError("--seeds, --max-iter and --batch-size must be at least 1")
        if self.control and not inputs.has_types():
            raise UserError("--control needs word types: --types and --test-types (and "
                            "--dev-types with --dev-vectors), or a store entry")
        train, test, dev = inputs.train, inputs.test, inputs.dev
        res = run_protocol(
            train.vectors, train.labels, test.vectors, test.labels,
            dev.vectors if dev else None, dev.labels if dev else None, protocol=proto,
            n_labels=len(inputs.label_names), control=self.control,
            train_types=train.types, test_types=test.types, dev_types=dev.types if dev else None,
            mdl=self.mdl, progress=self.progress,
            resume_dir=self.out / GRID_PARTIAL if self.out is not None else None,
        )
        out = res.to_json()
        names = inputs.label_names
        unseen = dict(inputs.unseen_test)
        for k, c in res.unseen_test_labels.items():  # in the vocabulary, but not in the train split
            if 0 <= k < len(names):
                unseen[names[k]] = unseen.get(names[k], 0) + c
        out["unseen_test_labels"] = unseen
        out["n_unseen_test"] = int(sum(unseen.values()))
        out["labels"] = names
        out["source"] = inputs.source
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

    def _inputs(self) -> ProbeInputs:
        if self.store is not None and self.vectors is not None:
            raise UserError("give either --store (with --task) or --vectors, not both")
        if self.store is not None:
            if not self.task:
                raise UserError("--store needs --task (the task name in the store)")
            dev = self.dev_split if self.dev_split and self.dev_split.lower() != "none" else None
            return from_store(self.store, self.task, self.model,
                              {"train": self.train_split, "dev": dev, "test": self.test_split},
                              self.control, self._pick_layers)
        if self.vectors is None:
            raise UserError("nothing to probe: give --store DIR --task NAME, or --vectors X.npy "
                            "--labels y.txt --test-vectors ... --test-labels ...")
        if self.labels is None or self.test_vectors is None or self.test_labels is None:
            raise UserError("--vectors needs --labels, --test-vectors and --test-labels")
        if (self.dev_vectors is None) != (self.dev_labels is None):
            raise UserError("give --dev-vectors and --dev-labels together")
        dev = SplitFiles(self.dev_vectors, self.dev_labels, self.dev_types) if self.dev_vectors else None
        return from_files(SplitFiles(self.vectors, self.labels, self.types),
                          SplitFiles(self.test_vectors, self.test_labels, self.test_types), dev,
                          self._pick_layers)

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

