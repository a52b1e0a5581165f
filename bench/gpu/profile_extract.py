"""Where an extraction's time goes on a GPU: phases timed, then cProfile's top entries.

    python bench/gpu/profile_extract.py --model DIR --data DIR/ud_english_ewt [--device cuda]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time

import numpy as np
import torch

from ftprobe.data import load_task
from ftprobe.represent import Store, extract, load_encoder
from ftprobe.represent.align import tokenize_sentences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    enc = load_encoder(args.model, device=args.device)
    task = load_task("pos", args.data)
    sp = task.split("dev")
    t0 = time.perf_counter()
    tokenize_sentences(enc.tokenizer, sp.sentences)
    print(f"tokenize dev: {time.perf_counter() - t0:.3f}s")
    t0 = time.perf_counter()
    task.fingerprint("dev")
    print(f"fingerprint dev: {time.perf_counter() - t0:.3f}s")
    times = []
    for _ in range(3):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            extract(enc, task, "dev", Store(tmp), batch_size=args.batch_size, progress=False)
            times.append(time.perf_counter() - t0)
    print("extract dev:", " ".join(f"{t:.3f}s" for t in times), f"(median {np.median(times):.3f}s)")
    prof = cProfile.Profile()
    with tempfile.TemporaryDirectory() as tmp:
        prof.enable()
        extract(enc, task, "dev", Store(tmp), batch_size=args.batch_size, progress=False)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        prof.disable()
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(22)
        print("\n".join(line[:150] for line in buf.getvalue().splitlines()[6:]))


if __name__ == "__main__":
    main()
