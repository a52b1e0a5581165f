"""The CUDA paths: the same answers on a GPU as on the CPU.

Skipped where no GPU is visible (CI has none); run them on a GPU machine with
``pytest tests/gpu``. Each test compares the GPU result with the CPU one computed in the same test,
so it checks the device path itself rather than a stored number.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]


def _toy_word_task():
    from ftprobe.data import SplitRecords, build_task

    sentences = [["the", "cat", "sat", "on", "the", "mat"], ["the", "dogs", "runs", "quickly"],
                 ["unbelievable", "readers", "play"]] * 4
    rec = SplitRecords(sentences=[list(s) for s in sentences])
    for s, words in enumerate(sentences):
        rec.targets += [(s, i, -1, f"L{i % 3}") for i in range(len(words))]
    return build_task("toy-word", "word", {"test": rec}, {})


@pytest.mark.parametrize("model", ["tiny_bert", "tiny_roberta"])
def test_extraction_on_cuda_equals_cpu(model, request, tmp_path):
    from ftprobe.represent import Store, extract, load_encoder

    path = str(request.getfixturevalue(model))
    task = _toy_word_task()
    got = {}
    for device in ("cpu", "cuda"):
        enc = load_encoder(path, device=device)
        entry = extract(enc, task, "test", Store(tmp_path / device), batch_size=5, progress=False)
        got[device] = [np.asarray(entry.layer(i)) for i in entry.layers]
    assert len(got["cuda"]) == len(got["cpu"]) == 3
    for a, b in zip(got["cpu"], got["cuda"], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)


def test_extraction_on_cuda_in_bf16_is_close(tiny_bert, tmp_path):
    from ftprobe.represent import Store, extract, load_encoder

    task = _toy_word_task()
    ref = extract(load_encoder(str(tiny_bert), device="cpu"), task, "test", Store(tmp_path / "a"),
                  progress=False)
    low = extract(load_encoder(str(tiny_bert), device="cuda", dtype="bfloat16"), task, "test",
                  Store(tmp_path / "b"), progress=False)
    for i in ref.layers:
        a, b = np.asarray(ref.layer(i)), np.asarray(low.layer(i), dtype=np.float32)
        assert np.isfinite(b).all()
        assert np.linalg.norm(b - a) / np.linalg.norm(a) < 3e-2  # bf16 keeps ~3 digits


def _separable(n, d=16, k=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    X = np.eye(k, d)[y] * 4.0 + rng.uniform(-0.5, 0.5, (n, d))
    return X.astype(np.float32), y


def test_batched_trainer_on_cuda_matches_cpu():
    """fp32 on both: the same models reach the same validation scores and predictions."""
    from ftprobe.probe import BatchedTrainer, ModelSpec
    from ftprobe.probe.batched import predict_logits

    X0, y = _separable(600, seed=1)
    X = torch.from_numpy(np.stack([X0, X0 * 0.5]))
    yt = torch.from_numpy(y)
    specs = [ModelSpec(0, (32, 32), 1e-4, 0), ModelSpec(1, (64, 32), 1e-2, 1), ModelSpec(0, (), 1e-5, 2)]
    kw = {"max_iter": 30, "patience": 5, "batch_size": 64, "precision": "fp32"}
    cpu = BatchedTrainer(specs, 4, device="cpu", **kw).fit(X[:, :500], yt[:500], X[:, 500:], yt[500:])
    gpu = BatchedTrainer(specs, 4, device="cuda", **kw).fit(X[:, :500], yt[:500], X[:, 500:], yt[500:])
    for a, b in zip(cpu, gpu, strict=True):
        assert b.weights[0].device.type == "cpu"  # finished models come back to the host
        assert abs(a.best_score - b.best_score) <= 0.02
        for wa, wb in zip(a.weights, b.weights, strict=True):
            assert torch.linalg.norm(wa - wb) / torch.linalg.norm(wa) < 0.05
    pa = [t.argmax(1) for t in predict_logits(cpu, X)]
    pb = [t.argmax(1) for t in predict_logits(gpu, X)]
    for a, b in zip(pa, pb, strict=True):
        assert (a == b).float().mean() > 0.98


@pytest.mark.parametrize("search", ["grid", "halving"])
def test_protocol_on_cuda_in_bf16(search):
    from ftprobe.probe import ProbeProtocol, run_protocol

    tr, ytr = _separable(800, seed=2)
    te, yte = _separable(300, seed=3)
    shuffled = np.random.default_rng(0).permutation(ytr)
    proto = ProbeProtocol(probe="mlp", hidden_sizes=(32, 64), l2=(1e-4, 1e-2), seeds=3,
                          max_iter=60, patience=5, batch_size=64, search=search, device="cuda",
                          precision="auto")
    res = run_protocol({0: tr, 1: tr}, ytr, {0: te, 1: te}, yte, protocol=proto, n_labels=4,
                       progress=False)
    assert res.layers[0].accuracy_mean > 0.97
    # a second run with labels that carry no signal stays near chance
    res2 = run_protocol({0: tr}, shuffled, {0: te}, yte, protocol=proto, n_labels=4, progress=False)
    assert res2.layers[0].accuracy_mean < 0.45


@pytest.mark.parametrize("precision", ["no", "bf16", "fp16"])
def test_finetune_on_cuda(precision, tiny_bert, tmp_path):
    from ftprobe.finetune import FinetuneConfig, finetune

    from ..finetune.ft_toy import toy_task

    task = toy_task("word")
    cfg = FinetuneConfig(lr=5e-3, batch_size=8, warmup_ratio=0.1, seed=0, epochs=3,
                         checkpoint_every_epoch=False, device="cuda", mixed_precision=precision)
    result = finetune(str(tiny_bert), task, tmp_path / precision, cfg, progress=False)
    ev = [m for m in result.metrics if m["event"] == "eval"]
    assert ev[-1]["train_loss"] < 0.6 * ev[0]["train_loss"]
    assert ev[-1]["loss"] < 0.5 * math.log(task.n_labels)
    run = json.loads((tmp_path / precision / "run.json").read_text())
    assert run["resolved"]["mixed_precision"] == precision
    assert run["resolved"]["device"].startswith("cuda")
