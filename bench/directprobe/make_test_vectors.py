"""Make tests/probe/data/ewt_minilm_pca32.npz: real vectors small enough to commit.

    HF_HUB_OFFLINE=1 python bench/directprobe/make_test_vectors.py [--data ../shared/data]

The first 800 words of UD EWT train (POS), extracted with ftprobe's own extraction and the
offline all-MiniLM-L6-v2 at layers 0 and 6, each layer projected on its first 32 principal
axes (centred; numpy's SVD) and stored as float32: 200 KB. At 16 or 32 dimensions both layers
are far from linear (hundreds of merges, tens of rejections, identical rows across labels at
layer 0), which the full 384 dimensions are not at this size; the test of
tests/probe/test_directprobe_digests.py pins the partitions the engine finds on them.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "tests" / "probe" / "data" / "ewt_minilm_pca32.npz"
N_WORDS, N_SENTENCES, DIMS, LAYERS = 800, 80, 32, (0, 6)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    from ftprobe.data import load_task
    from ftprobe.represent import Store, extract, load_encoder

    task = load_task("pos", a.data / "ud_english_ewt", max_sentences=N_SENTENCES)
    with tempfile.TemporaryDirectory() as tmp:
        entry = extract(load_encoder(None, device="cpu"), task, "train", Store(Path(tmp)),
                        layers=list(LAYERS), progress=False)
        if entry.n_targets < N_WORDS:
            raise SystemExit(f"{N_SENTENCES} sentences gave {entry.n_targets} words, not {N_WORDS}")
        arrays = {"y": np.asarray(entry.labels)[:N_WORDS].astype(np.int64),
                  "label_names": np.array(task.labels)}
        for layer in LAYERS:
            X = np.asarray(entry.layer(layer))[:N_WORDS].astype(np.float64)
            C = X - X.mean(0)
            _, _, vt = np.linalg.svd(C, full_matrices=False)
            arrays[f"layer{layer}"] = (C @ vt[:DIMS].T).astype(np.float32)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = a.out.with_name(a.out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(a.out)
    print(f"{a.out}: {a.out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
