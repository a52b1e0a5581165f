"""Copy an HF model folder with its floating-point weights cast to another dtype.

Why: the GPU machine that ran bench/gpu/ is reached through a transfer limited to 64 MiB, and
MiniLM's fp32 weights are 87 MiB. They travel rounded to fp16 (``--dtype float16``) and are cast
back to fp32 there (``--dtype float32``). The rounding (relative 2^-11) changes the vectors a
little; the numbers in bench/gpu/RESULTS.md come from that model, not the exact checkpoint.

    python bench/gpu/cast_model.py SRC DST --dtype float16
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--dtype", choices=["float16", "float32"], required=True)
    args = ap.parse_args()
    dtype = getattr(torch, args.dtype)
    args.dst.mkdir(parents=True, exist_ok=True)
    for f in args.src.iterdir():
        if f.is_file() and f.name != "model.safetensors":
            shutil.copy2(f, args.dst / f.name)
    tensors = load_file(args.src / "model.safetensors")
    cast = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}
    save_file(cast, args.dst / "model.safetensors", metadata={"format": "pt"})
    print(f"{len(cast)} tensors -> {args.dst} ({args.dtype})")


if __name__ == "__main__":
    main()
