"""How much a sentence vector varies across sentences, layer by layer: for every TREC-50 train
entry in the stores given, the rms distance of its vectors from their mean and the norm of that
mean (the paper-scale diagnoses' "[CLS] nearly constant below layer 4", for any encoder).

    ftprobe extract --task trec-50 --data train=$TREC/train_5500.label --store /tmp/cls-minilm
    python examples/paper-scale/models/cls_spread.py /tmp/cls-minilm examples/paper-scale/models/store
"""

from __future__ import annotations

import sys

import numpy as np

from ftprobe.represent.store import Store


def spread(X: np.ndarray) -> tuple[float, float]:
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(0)
    return float(np.sqrt(((X - mean) ** 2).sum(1).mean())), float(np.linalg.norm(mean))


def main(stores: list[str]) -> None:
    for folder in stores:
        for e in Store(folder).find(task="trec-50", split="train"):
            name = e.manifest["model"]["name"].rstrip("/").split("/")[-1]
            print(f"{name} ({e.manifest['model']['model_type']}, {e.n_targets} questions): "
                  "layer: rms distance from the mean / norm of the mean")
            print("  " + " | ".join(f"L{k} {r:.3f} / {n:.2f}" for k in e.layers for r, n in [spread(e.layer(k))]))


if __name__ == "__main__":
    main(sys.argv[1:])
